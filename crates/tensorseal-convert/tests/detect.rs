//! Content-based detection, polyglots and refusals.

mod common;

use common::{zip, Member};
use tensorseal_convert::npy::NpyError;
use tensorseal_convert::{detect, import, Compression, ConvertError, ConvertOptions, Format};

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../tests/data/fixtures/{rel}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn safetensors_with_header_len(n: usize) -> Vec<u8> {
    let mut header = b"{\"__metadata__\":{}}".to_vec();
    header.resize(n, b' ');
    let mut v = (n as u64).to_le_bytes().to_vec();
    v.extend_from_slice(&header);
    v
}

#[test]
fn safetensors_whose_length_starts_like_proto_is_still_safetensors() {
    // 0x280 = 640: the first bytes are 80 02 00 ..., PROTO 2 then no opcode.
    for n in [128usize, 384, 640, 896, 1152, 1408] {
        assert_eq!(
            detect(&safetensors_with_header_len(n)),
            Format::Safetensors,
            "{n}"
        );
    }
}

#[test]
fn pickle_with_appended_zip_is_a_pickle() {
    let mut v = b"\x80\x02N.".to_vec();
    v.extend_from_slice(&zip(&[Member::stored("a.npy", b"x")]));
    assert_eq!(detect(&v), Format::Pickle);
    assert!(matches!(
        import(&v, &ConvertOptions::default()),
        Err(ConvertError::Unsupported {
            format: Format::Pickle,
            ..
        })
    ));
}

#[test]
fn zip_with_prepended_pickle_is_not_a_zip() {
    let mut v = b"\x80\x04\x95".to_vec();
    v.extend_from_slice(&fixture("torch/mlp_state_dict.pt"));
    assert_ne!(detect(&v), Format::TorchZip);
    assert!(import(&v, &ConvertOptions::default()).is_err());
}

#[test]
fn other_containers_are_recognised_and_refused() {
    let seven = b"7z\xbc\xaf\x27\x1c\x00\x04rest".to_vec();
    assert_eq!(detect(&seven), Format::SevenZip);
    assert!(import(&seven, &ConvertOptions::default()).is_err());
    let ts = b"\xabTSEAL\r\n\x1a\n\x02\x00".to_vec();
    assert_eq!(detect(&ts), Format::Tensorseal);
    assert!(import(&ts, &ConvertOptions::default()).is_err());
    // Format 1 containers too: the container reader refuses them by version.
    let v1 = b"\x89TSEAL\r\n\x01\x00".to_vec();
    assert_eq!(detect(&v1), Format::Tensorseal);
    assert!(import(&v1, &ConvertOptions::default()).is_err());
    let lz4 = b"\x04\x22\x4d\x18\x64\x40\xa7".to_vec();
    assert_eq!(detect(&lz4), Format::Compressed(Compression::Lz4));
    assert!(import(&lz4, &ConvertOptions::default()).is_err());
    // Empty input is reported as a (malformed) pickle, never as something benign.
    assert_eq!(detect(b""), Format::Pickle);
    assert_eq!(detect(b"hello"), Format::Unknown);
    assert!(import(b"", &ConvertOptions::default()).is_err());
}

#[test]
fn legacy_magic_must_be_the_literal_long() {
    let orig = fixture("torch/legacy_format.pt");
    assert_eq!(detect(&orig), Format::TorchLegacy);
    // Same value spelled as a protocol-0 LONG line: not accepted as legacy.
    let mut v = b"L119547037146038801333356L\n.".to_vec();
    v.extend_from_slice(&orig[15..]);
    assert_ne!(detect(&v), Format::TorchLegacy);
    assert!(import(&v, &ConvertOptions::default()).is_err());
}

#[test]
fn npy_with_trailing_bytes_is_refused() {
    let mut v = fixture("numpy/c_f32.npy");
    v.push(0);
    assert!(matches!(
        import(&v, &ConvertOptions::default()),
        Err(ConvertError::Npy {
            source: NpyError::DataLength { .. },
            ..
        })
    ));
}

#[test]
fn npz_with_a_non_npy_member_is_not_an_npz() {
    let z = zip(&[
        Member::stored("a.npy", &fixture("numpy/c_f32.npy")),
        Member::stored("payload.pkl", b"\x80\x02N."),
    ]);
    assert_eq!(detect(&z), Format::Zip);
    assert!(import(&z, &ConvertOptions::default()).is_err());
}

#[test]
fn npz_member_errors_name_the_member() {
    let z = zip(&[Member::stored("s.npy", &fixture("numpy/structured.npy"))]);
    assert_eq!(detect(&z), Format::Npz);
    match import(&z, &ConvertOptions::default()) {
        Err(ConvertError::Npy {
            member: Some(m),
            source: NpyError::StructuredDtype { .. },
        }) => assert_eq!(m, "s.npy"),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn import_with_visits_one_tensor_at_a_time() {
    let data = fixture("torch/views.pt");
    let mut seen = Vec::new();
    let (format, meta) =
        tensorseal_convert::import_with(&data, &ConvertOptions::default(), &mut |t| {
            seen.push((t.name, t.data.len()));
            Ok(())
        })
        .unwrap();
    assert_eq!(format, Format::TorchZip);
    assert!(meta.is_empty());
    assert_eq!(seen.len(), 7);
    // A visitor error stops the import.
    let err = tensorseal_convert::import_with(&data, &ConvertOptions::default(), &mut |_| {
        Err(ConvertError::Limit {
            what: "test",
            value: 1,
            limit: 0,
        })
    });
    assert!(err.is_err());
}
