//! joblib framing, compression variants and bounds.

use std::io::Write;

use tensorseal_convert::compress::DecompressError;
use tensorseal_convert::{
    detect, import, Compression, ConvertError, ConvertOptions, Format, MetaValue,
};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../tests/data/fixtures/sklearn/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn summary(data: &[u8]) -> Vec<(String, &'static str, Vec<u64>, Vec<u8>)> {
    import(data, &ConvertOptions::default())
        .unwrap()
        .tensors
        .into_iter()
        .map(|t| (t.name, t.dtype.name(), t.shape, t.data.into_owned()))
        .collect()
}

fn contains(h: &[u8], n: &[u8]) -> bool {
    n.is_empty() || h.windows(n.len()).any(|w| w == n)
}

#[test]
fn logistic_regression_arrays_come_out_named() {
    let data = fixture("risk_logreg.joblib");
    let imp = import(&data, &ConvertOptions::default()).unwrap();
    assert_eq!(imp.format, Format::Joblib { compression: None });
    let got: Vec<(&str, &str, &[u64])> = imp
        .tensors
        .iter()
        .map(|t| (t.name.as_str(), t.dtype.name(), t.shape.as_slice()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("classes_", "I64", &[2u64][..]),
            ("n_iter_", "I32", &[1][..]),
            ("coef_", "F64", &[1, 4][..]),
            ("intercept_", "F64", &[1][..]),
        ]
    );
    assert!(imp.metadata.contains(&(
        "__class__".to_owned(),
        MetaValue::Str("sklearn.linear_model._logistic.LogisticRegression".into())
    )));
    assert!(imp
        .metadata
        .contains(&("solver".to_owned(), MetaValue::Str("lbfgs".into()))));
    // Zero-copy out of the uncompressed stream.
    assert!(imp
        .tensors
        .iter()
        .all(|t| matches!(t.data, std::borrow::Cow::Borrowed(_))));
    // The same array bytes appear verbatim in the protocol-5 pickle of the
    // same model (out-of-band-free raw buffers): an independent cross-check.
    let p5 = fixture("risk_logreg_p5.pkl");
    for t in &imp.tensors {
        assert!(contains(&p5, &t.data), "{}", t.name);
    }
}

#[test]
fn isolation_forest_trees_are_split_per_field() {
    let data = fixture("anomaly_iforest.joblib");
    let tensors = summary(&data);
    let names: Vec<&str> = tensors.iter().map(|t| t.0.as_str()).collect();
    for field in [
        "left_child",
        "right_child",
        "feature",
        "threshold",
        "impurity",
        "n_node_samples",
        "weighted_n_node_samples",
        "missing_go_to_left",
    ] {
        assert!(
            names.contains(&format!("estimators_.0.tree_.nodes.{field}").as_str()),
            "{field}"
        );
    }
    assert!(names.contains(&"estimators_.2.tree_.values"));
    assert!(names.contains(&"_seeds"));
    let p5 = fixture("anomaly_iforest_p5.pkl");
    for (name, _, _, bytes) in &tensors {
        if !name.contains(".nodes.") {
            assert!(contains(&p5, bytes), "{name}");
        }
    }
    // Node thresholds are finite floats, children are -1 or valid indices.
    let (_, _, shape, left) = tensors
        .iter()
        .find(|t| t.0 == "estimators_.0.tree_.nodes.left_child")
        .unwrap();
    let n = shape[0] as i64;
    for c in left.chunks_exact(8) {
        let v = i64::from_le_bytes(c.try_into().unwrap());
        assert!(v == -1 || (0..n).contains(&v), "{v}");
    }
}

#[test]
fn compressed_joblib_matches_uncompressed() {
    let plain = summary(&fixture("risk_logreg.joblib"));
    let z = fixture("risk_logreg_compressed.joblib");
    assert_eq!(
        detect(&z),
        Format::Joblib {
            compression: Some(Compression::Zlib)
        }
    );
    assert_eq!(summary(&z), plain);
}

fn compress_all(raw: &[u8]) -> Vec<(Compression, Vec<u8>)> {
    let mut out = Vec::new();
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(raw).unwrap();
    out.push((Compression::Zlib, e.finish().unwrap()));
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(raw).unwrap();
    out.push((Compression::Gzip, e.finish().unwrap()));
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    e.write_all(raw).unwrap();
    out.push((Compression::Bz2, e.finish().unwrap()));
    let mut xz = Vec::new();
    lzma_rs::xz_compress(&mut std::io::Cursor::new(raw), &mut xz).unwrap();
    out.push((Compression::Xz, xz));
    let mut lz = Vec::new();
    lzma_rs::lzma_compress(&mut std::io::Cursor::new(raw), &mut lz).unwrap();
    out.push((Compression::Lzma, lz));
    out
}

#[test]
fn every_codec_is_detected_and_decompressed() {
    let raw = fixture("anomaly_iforest.joblib");
    let plain = summary(&raw);
    for (codec, bytes) in compress_all(&raw) {
        assert_eq!(
            detect(&bytes),
            Format::Joblib {
                compression: Some(codec)
            },
            "{codec:?}"
        );
        assert_eq!(summary(&bytes), plain, "{codec:?}");
    }
}

#[test]
fn decompression_limit_is_enforced() {
    let raw = fixture("anomaly_iforest.joblib");
    let opts = ConvertOptions {
        max_decompressed_bytes: 1000,
        ..ConvertOptions::default()
    };
    for (codec, bytes) in compress_all(&raw) {
        assert!(
            matches!(
                import(&bytes, &opts),
                Err(ConvertError::Decompress(
                    DecompressError::LimitExceeded { .. }
                ))
            ),
            "{codec:?}"
        );
    }
}

#[test]
fn trailing_bytes_after_compressed_stream_are_refused() {
    let mut z = fixture("risk_logreg_compressed.joblib");
    z.extend_from_slice(b"\x80\x04extra");
    assert!(matches!(
        import(&z, &ConvertOptions::default()),
        Err(ConvertError::Decompress(DecompressError::Trailing { .. }))
    ));
}

#[test]
fn tampered_padding_and_trailing_data_are_refused() {
    let data = fixture("risk_logreg.joblib");
    let jg = tensorseal_convert::joblib::parse_joblib(&data, &ConvertOptions::default()).unwrap();
    assert_eq!(jg.arrays.len(), 4);
    for arr in jg.arrays.values() {
        // Data is 16-byte aligned and preceded by 0xFF padding.
        assert_eq!(arr.data_offset % 16, 0);
        assert_eq!(data[arr.data_offset - 1], 0xFF);
        // joblib skips padding whatever its bytes; a writer only writes
        // 0xFF, so conversion refuses, naming the padding.
        let mut t = data.clone();
        t[arr.data_offset - 1] = 0xFE;
        match import(&t, &ConvertOptions::default()) {
            Err(ConvertError::Unsafe { message, .. }) => {
                assert!(message.contains("padding"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }
    let mut t = data.clone();
    t.push(b'.');
    assert!(matches!(
        import(&t, &ConvertOptions::default()),
        Err(ConvertError::Pickle { .. })
    ));
}

#[test]
fn array_limit_is_enforced_inside_the_hook() {
    let data = fixture("risk_logreg.joblib");
    let opts = ConvertOptions {
        max_tensor_bytes: 16,
        ..ConvertOptions::default()
    };
    assert!(matches!(
        import(&data, &opts),
        Err(ConvertError::Pickle { .. })
    ));
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let data = fixture("risk_logreg.joblib");
    for n in 0..data.len() {
        let _ = import(&data[..n], &ConvertOptions::default());
        assert!(
            tensorseal_convert::joblib::fuzz_joblib(&data[..n]).is_err(),
            "len {n}"
        );
    }
}

#[test]
fn trailing_bytes_after_any_codec_are_refused() {
    let raw = fixture("risk_logreg.joblib");
    for (codec, mut bytes) in compress_all(&raw) {
        // A second compressed member/stream appended.
        let again = bytes.clone();
        bytes.extend_from_slice(&again);
        assert!(
            matches!(
                import(&bytes, &ConvertOptions::default()),
                Err(ConvertError::Decompress(
                    DecompressError::Trailing { .. } | DecompressError::Invalid { .. }
                ))
            ),
            "{codec:?}"
        );
    }
}

#[test]
fn large_xz_stream_is_still_detected_as_joblib() {
    // More than the 1 MiB detection window once decompressed.
    let raw = fixture("anomaly_iforest.joblib");
    let mut big = raw.clone();
    big.extend(std::iter::repeat_n(b'.', 2 << 20));
    let mut xz = Vec::new();
    lzma_rs::xz_compress(&mut std::io::Cursor::new(&big), &mut xz).unwrap();
    assert_eq!(
        detect(&xz),
        Format::Joblib {
            compression: Some(Compression::Xz)
        }
    );
    // The trailing bytes after the pickle are then refused by the reader.
    assert!(matches!(
        import(&xz, &ConvertOptions::default()),
        Err(ConvertError::Pickle { .. })
    ));
}
