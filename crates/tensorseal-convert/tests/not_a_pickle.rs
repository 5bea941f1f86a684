//! A tensorseal container is none of the formats an unsafe loader would try:
//! not a pickle (so `pickle.load`, `torch.load` and `joblib.load` stop at its
//! first byte), not a zip, not a NumPy file, not a compressed stream.

use std::path::{Path, PathBuf};

use tensorseal::format::MAGIC;
use tensorseal::{Dtype, ModelInfo, WriteOptions, Writer};
use tensorseal_convert::npy::parse_npy_header;
use tensorseal_convert::zip::ZipArchive;
use tensorseal_convert::{detect, Compression, Format};
use tensorseal_pickle::{Options, PickleError};

/// Every committed valid conformance vector, plus a file written here.
fn containers() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../formats/vectors/valid");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tseal"))
        .map(|p: PathBuf| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    assert!(out.len() >= 7, "vectors missing in {}", dir.display());
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("m.tseal");
    let info = ModelInfo {
        model_id: "m".into(),
        version: 1,
        ..ModelInfo::default()
    };
    let mut w = Writer::create(&path, info, WriteOptions::default()).unwrap();
    w.add("w", Dtype::F32, &[2], &[0; 8]).unwrap();
    w.finish().unwrap();
    out.push(("written".into(), std::fs::read(&path).unwrap()));
    out
}

/// The opcode bytes CPython's unpickler dispatches on, from the standard
/// library's own table (`pickletools.opcodes`); `None` without python3.
fn cpython_opcodes() -> Option<Vec<u8>> {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import pickletools; print(' '.join(str(ord(o.code)) for o in pickletools.opcodes))",
        ])
        .output()
        .ok()?;
    assert!(out.status.success(), "python3 failed: {out:?}");
    let codes: Vec<u8> = String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .map(|s| s.parse().unwrap())
        .collect();
    Some(codes)
}

#[test]
fn first_byte_is_not_a_cpython_pickle_opcode() {
    let Some(codes) = cpython_opcodes() else {
        println!("SKIPPED: python3 not found; pickletools cross-check not run");
        return;
    };
    // Sanity of the independent table: protocol 5 has 68 opcodes, NEWFALSE among them.
    assert!(codes.len() >= 68, "{codes:?}");
    assert!(codes.contains(&0x89), "format 1's first byte was NEWFALSE");
    assert!(!codes.contains(&MAGIC[0]), "{:#04x} is an opcode", MAGIC[0]);
    for (name, bytes) in containers() {
        assert!(!codes.contains(&bytes[0]), "{name}");
    }
}

#[test]
fn our_pickle_machine_refuses_a_container_at_offset_0() {
    for (name, bytes) in containers() {
        match tensorseal_pickle::parse(&bytes, &Options::default()) {
            Err(PickleError::UnknownOpcode { byte, offset: 0 }) => assert_eq!(byte, 0xab),
            other => panic!("{name}: {other:?}"),
        }
        // The lenient loader model (what any unpickler could do) stops there too.
        match tensorseal_convert::loadable::scan(&bytes) {
            tensorseal_convert::loadable::Scan::NotPickle { offset: 0, .. } => {}
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn not_a_zip_npy_or_compressed_stream() {
    for (name, bytes) in containers() {
        assert!(ZipArchive::parse(&bytes).is_err(), "{name}: zip");
        assert!(parse_npy_header(&bytes).is_err(), "{name}: npy");
        assert_eq!(Compression::sniff(&bytes), None, "{name}");
        assert_eq!(detect(&bytes), Format::Tensorseal, "{name}");
        for sig in [
            &b"PK"[..],
            b"\x93NUMPY",
            b"\x1f\x8b",
            b"BZh",
            b"\xfd7zXZ\x00",
            b"\x04\x22\x4d\x18",
            b"\x28\xb5\x2f\xfd",
            b"7z\xbc\xaf\x27\x1c",
            b"ZF",
            b"\x78",
            b"\xef\xbb\xbf",
        ] {
            assert!(!bytes.starts_with(sig), "{name} starts with {sig:?}");
        }
    }
}
