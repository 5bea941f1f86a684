//! `verify_file` (streaming, bounded memory) against the full open: the same
//! verdicts on every conformance vector, tampering named by slice, every
//! chunk of an encrypted file decrypted.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tensorseal::format::{ErrorKind as FmtKind, Structure};
use tensorseal::{
    verify_file, DigestAlgorithm, Dtype, ErrorKind, Model, ModelInfo, OpenOptions, Policy,
    RecipientSecretKey, SlicePolicy, VerifyReport, WriteOptions, Writer,
};

/// The conformance vectors' judged "now" (see tests/conformance.rs).
const NOW: i64 = 1_780_000_000;

fn vectors(sub: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../formats/vectors")
        .join(sub);
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tseal"))
        .collect();
    v.sort();
    v
}

/// The identity a vector's JSON names, if any.
fn identity_of(tseal: &Path) -> Option<RecipientSecretKey> {
    let json: Value =
        serde_json::from_slice(&std::fs::read(tseal.with_extension("json")).unwrap()).unwrap();
    let text = json.get("identity")?.as_str()?;
    Some(tensorseal::crypto::keyfile::parse_recipient_secret_key(text).unwrap())
}

/// What matters of a report, for comparing the two paths.
fn summary(r: &VerifyReport) -> (String, usize, usize, u64, u64, usize) {
    (
        r.checked.summary(),
        r.slices_verified,
        r.tensors_decrypted,
        r.bytes_verified,
        r.bytes_decrypted,
        r.signers.len(),
    )
}

/// The full open (whole file in memory) and its report, as `verify` did before.
fn full(path: &Path, opts: OpenOptions) -> tensorseal::Result<VerifyReport> {
    Model::open_with(path, &Policy::allow_unsigned().at_time(NOW), opts)?.verify_report()
}

fn stream(path: &Path, opts: OpenOptions) -> tensorseal::Result<VerifyReport> {
    verify_file(path, &Policy::allow_unsigned().at_time(NOW), opts)
}

#[test]
fn streaming_agrees_with_the_full_open_on_every_conformance_vector() {
    let valid = vectors("valid");
    let invalid = vectors("invalid");
    assert!(
        valid.len() >= 9 && invalid.len() >= 30,
        "{valid:?} {invalid:?}"
    );
    let mut decrypted = 0;
    for path in &valid {
        let mut runs = vec![OpenOptions::new()];
        if let Some(id) = identity_of(path) {
            runs.push(OpenOptions::new().identity(id));
        }
        for opts in runs {
            let (a, b) = (full(path, opts.clone()), stream(path, opts));
            let (a, b) = match (a, b) {
                (Ok(a), Ok(b)) => (a, b),
                other => panic!("{}: {other:?}", path.display()),
            };
            assert_eq!(summary(&a), summary(&b), "{}", path.display());
            assert_eq!(a.manifest, b.manifest);
            decrypted += b.tensors_decrypted;
        }
    }
    assert!(decrypted > 0, "the encrypted vectors were decrypted");
    for path in &invalid {
        let a = full(path, OpenOptions::new()).err();
        let b = stream(path, OpenOptions::new()).err();
        let (Some(a), Some(b)) = (a, b) else {
            panic!("{}: an invalid vector verified", path.display());
        };
        // Same kind, structure, offset and file: the same message.
        assert_eq!(a.to_string(), b.to_string(), "{}", path.display());
    }
}

fn info() -> ModelInfo {
    ModelInfo {
        model_id: "stream".into(),
        version: 1,
        ..ModelInfo::default()
    }
}

fn bytes(n: usize, seed: u32) -> Vec<u8> {
    (0..n as u32)
        .map(|i| (i.wrapping_mul(31).wrapping_add(seed) >> 3) as u8)
        .collect()
}

/// Three tensors of 100 KiB, 70 B and 200 KiB in three slices.
fn write(dir: &Path, name: &str, opts: WriteOptions) -> (PathBuf, Vec<Vec<u8>>) {
    let path = dir.join(name);
    let data = vec![bytes(100 << 10, 1), bytes(70, 2), bytes(200 << 10, 3)];
    let mut w = Writer::create(&path, info(), opts).unwrap();
    for (i, d) in data.iter().enumerate() {
        w.add(&format!("t{i}"), Dtype::U8, &[d.len() as u64], d)
            .unwrap();
    }
    w.finish().unwrap();
    (path, data)
}

fn flip(path: &Path, at: u64) {
    let mut b = std::fs::read(path).unwrap();
    b[at as usize] ^= 0x20;
    std::fs::write(path, b).unwrap();
}

fn format_error(e: &tensorseal::Error) -> (Structure, u64, String) {
    match e.kind() {
        ErrorKind::Format(f) => (f.structure.clone(), f.offset, format!("{:?}", f.kind)),
        other => panic!("not a format error: {other:?}"),
    }
}

#[test]
fn tampering_any_slice_byte_is_refused_naming_the_slice() {
    let dir = tempfile::tempdir().unwrap();
    for digest in [DigestAlgorithm::Blake3, DigestAlgorithm::Sha256] {
        let opts = WriteOptions {
            digest,
            ..WriteOptions::default()
        };
        let (path, _) = write(dir.path(), &format!("plain-{digest:?}.tseal"), opts.clone());
        let model = Model::open(&path, &Policy::allow_unsigned()).unwrap();
        let slices = model.manifest().slices.clone();
        drop(model);
        assert_eq!(slices.len(), 3);
        let pristine = std::fs::read(&path).unwrap();
        for (i, s) in slices.iter().enumerate() {
            for at in [s.offset, s.offset + s.length / 2, s.offset + s.length - 1] {
                std::fs::write(&path, &pristine).unwrap();
                flip(&path, at);
                let e =
                    verify_file(&path, &Policy::allow_unsigned(), OpenOptions::new()).unwrap_err();
                assert_eq!(
                    format_error(&e),
                    (
                        Structure::Slice(i as u32),
                        s.offset,
                        format!("{:?}", FmtKind::DigestMismatch)
                    ),
                    "{digest:?} slice {i} byte {at}: {e}"
                );
                assert!(e.to_string().contains(&format!("slice {i}")), "{e}");
                assert!(e.kind().is_finding());
            }
        }
        // Padding between slices (after the 70-byte tensor) is checked too.
        std::fs::write(&path, &pristine).unwrap();
        let pad = slices[1].offset + slices[1].length;
        assert!(pad < slices[2].offset);
        flip(&path, pad + 3);
        let e = verify_file(&path, &Policy::allow_unsigned(), OpenOptions::new()).unwrap_err();
        assert_eq!(
            format_error(&e),
            (
                Structure::SlicePadding(1),
                pad + 3,
                format!("{:?}", FmtKind::NonZeroPadding)
            )
        );
        std::fs::write(&path, &pristine).unwrap();
        let r = verify_file(&path, &Policy::allow_unsigned(), OpenOptions::new()).unwrap();
        assert_eq!(r.bytes_verified, (300 << 10) + 70);
    }
}

#[test]
fn encrypted_file_with_an_identity_decrypts_every_chunk_and_a_flipped_tag_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let id = RecipientSecretKey::generate_os().unwrap();
    let opts = WriteOptions {
        recipients: vec![id.public_key().clone()],
        slicing: SlicePolicy::PerTensor,
        ..WriteOptions::default()
    };
    let (path, data) = write(dir.path(), "enc.tseal", opts);
    let with_id = || OpenOptions::new().identity(id.clone());
    let r = verify_file(&path, &Policy::allow_unsigned(), with_id()).unwrap();
    assert_eq!(r.tensors_decrypted, 3);
    let total: usize = data.iter().map(Vec::len).sum();
    assert_eq!(r.bytes_decrypted, total as u64);
    assert!(r.checked.header_mac && r.checked.encrypted);
    // Keyless: every digest checked, nothing decrypted.
    let r = verify_file(&path, &Policy::allow_unsigned(), OpenOptions::new()).unwrap();
    assert_eq!((r.tensors_decrypted, r.bytes_decrypted), (0, 0));
    assert!(!r.checked.header_mac);

    let model = Model::open(&path, &Policy::allow_unsigned()).unwrap();
    let s = model.manifest().slices[2].clone();
    drop(model);
    // Chunk 3 (the last) of the 200 KiB slice: its tag, then its ciphertext.
    for at in [s.tags_offset + 3 * 16 + 5, s.offset + 3 * 65536 + 1] {
        let pristine = std::fs::read(&path).unwrap();
        flip(&path, at);
        for opts in [with_id(), OpenOptions::new()] {
            let e = verify_file(&path, &Policy::allow_unsigned(), opts).unwrap_err();
            assert_eq!(
                format_error(&e),
                (
                    Structure::Slice(2),
                    s.offset,
                    format!("{:?}", FmtKind::DigestMismatch)
                ),
                "{e}"
            );
        }
        std::fs::write(&path, pristine).unwrap();
    }
}

#[test]
fn missing_file_and_wrong_identity_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let e = verify_file(
        dir.path().join("absent.tseal"),
        &Policy::allow_unsigned(),
        OpenOptions::new(),
    )
    .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Io { .. }), "{e}");
    assert!(!e.kind().is_finding());
    let id = RecipientSecretKey::generate_os().unwrap();
    let other = RecipientSecretKey::generate_os().unwrap();
    let opts = WriteOptions {
        recipients: vec![id.public_key().clone()],
        ..WriteOptions::default()
    };
    let (path, _) = write(dir.path(), "enc.tseal", opts);
    let a = Model::open_with(
        &path,
        &Policy::allow_unsigned(),
        OpenOptions::new().identity(other.clone()),
    )
    .err()
    .map(|e| e.to_string());
    let b = verify_file(
        &path,
        &Policy::allow_unsigned(),
        OpenOptions::new().identity(other),
    )
    .err()
    .map(|e| e.to_string());
    assert_eq!(a, b);
}
