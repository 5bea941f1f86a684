//! Property tests: parsers of untrusted bytes never panic.

use proptest::prelude::*;
use tensorseal_convert::layout::View;
use tensorseal_convert::npy::{fuzz_npy_header, parse_npy_header, read_npy};
use tensorseal_convert::{import, zip::fuzz_zip, ConvertOptions};

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../tests/data/fixtures/{rel}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn small_opts() -> ConvertOptions {
    ConvertOptions {
        max_decompressed_bytes: 1 << 20,
        max_tensor_bytes: 1 << 20,
        max_zip_member_bytes: 1 << 20,
        max_graph_visits: 10_000,
        release: None,
    }
}

fn npy_with_header(header: &str, body: &[u8]) -> Vec<u8> {
    let mut v = b"\x93NUMPY\x01\x00".to_vec();
    let h = format!("{header}\n");
    v.extend_from_slice(&(h.len() as u16).to_le_bytes());
    v.extend_from_slice(h.as_bytes());
    v.extend_from_slice(body);
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn npy_header_never_panics_on_bytes(tail in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut v = b"\x93NUMPY".to_vec();
        v.extend_from_slice(&tail);
        let _ = fuzz_npy_header(&v);
    }

    #[test]
    fn npy_header_never_panics_on_dict_like_text(
        header in r"\{('[a-z_]{0,12}': ([()\[\], 0-9TrueFalsN'<|>fiub]{0,30}), ){0,4}\}[ ]{0,8}",
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let v = npy_with_header(&header, &body);
        let _ = parse_npy_header(&v);
        let _ = read_npy("", &v, 1 << 20);
    }

    #[test]
    fn npy_valid_headers_round_trip(
        dims in proptest::collection::vec(0u64..5, 0..4),
        fortran in any::<bool>(),
        code in prop::sample::select(vec!["<f4", ">f4", "<i8", ">i2", "|u1", "|b1", "<f2", "<c8"]),
    ) {
        let shape = match dims.len() {
            0 => "()".to_owned(),
            1 => format!("({},)", dims[0]),
            _ => format!("({})", dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
        };
        let header = format!(
            "{{'descr': '{code}', 'fortran_order': {}, 'shape': {shape}, }}",
            if fortran { "True" } else { "False" }
        );
        let h = parse_npy_header(&npy_with_header(&header, &[])).unwrap();
        let n: u64 = dims.iter().product();
        let body = vec![0xABu8; (n as usize) * (h.dtype.bits() / 8) as usize];
        let file = npy_with_header(&header, &body);
        let t = read_npy("x", &file, 1 << 20).unwrap();
        prop_assert_eq!(t.shape, dims);
        prop_assert_eq!(t.data.len(), body.len());
        // One byte short or long is refused.
        let mut longer = body.clone();
        longer.push(0);
        prop_assert!(read_npy("x", &npy_with_header(&header, &longer), 1 << 20).is_err());
    }

    #[test]
    fn zip_reader_never_panics_on_mutations(
        which in 0usize..4,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
    ) {
        let name = ["numpy/bundle.npz", "numpy/bundle_compressed.npz", "torch/mlp_state_dict.pt", "torch/views.pt"][which];
        let mut z = fixture(name);
        for (i, b) in edits {
            let n = z.len();
            z[i % n] = b;
        }
        let _ = fuzz_zip(&z);
        let _ = import(&z, &small_opts());
    }

    #[test]
    fn import_never_panics_on_mutated_fixtures(
        which in 0usize..8,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cut in any::<usize>(),
    ) {
        let name = [
            "torch/legacy_format.pt",
            "torch/dtypes.pt",
            "numpy/fortran_f64.npy",
            "numpy/big_endian_i32.npy",
            "sklearn/risk_logreg.joblib",
            "sklearn/anomaly_iforest.joblib",
            "sklearn/risk_logreg_compressed.joblib",
            "torch/training_checkpoint.pt",
        ][which];
        let mut d = fixture(name);
        for (i, b) in edits {
            let n = d.len();
            d[i % n] = b;
        }
        let _ = import(&d, &small_opts());
        let n = d.len();
        let _ = import(&d[..cut % (n + 1)], &small_opts());
        let _ = tensorseal_convert::joblib::fuzz_joblib(&d);
    }

    #[test]
    fn views_never_panic_and_have_the_right_size(
        shape in proptest::collection::vec(0u64..6, 0..4),
        stride_seed in proptest::collection::vec(-2i64..8, 4),
        offset in 0u64..40,
        storage in 0u64..64,
        itemsize in prop::sample::select(vec![1usize, 2, 4, 8]),
    ) {
        let stride: Vec<i64> = stride_seed[..shape.len()].to_vec();
        let bytes = vec![1u8; (storage as usize) * itemsize];
        if let Ok(v) = View::new(&shape, &stride, offset, storage) {
            let out = v.materialise(&bytes, itemsize, Some(itemsize), 1 << 20).unwrap();
            prop_assert_eq!(out.len() as u64, v.numel * itemsize as u64);
        }
    }
}
