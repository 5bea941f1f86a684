//! Time of check vs time of use: what was verified is what is used, whatever
//! another process does to the file after (or while) it is opened.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use tensorseal::{
    sha256, Dtype, ErrorKind, Model, ModelInfo, OpenOptions, Policy, ReadMode, RecipientSecretKey,
    Verification, WriteOptions, Writer,
};

fn data(n: usize, k: u32) -> Vec<u8> {
    (0..n as u32).map(|i| (i * k + 7) as u8).collect()
}

fn write(path: &Path, recipients: Vec<tensorseal::RecipientPublicKey>) -> Vec<u8> {
    let info = ModelInfo {
        model_id: "toctou".into(),
        version: 1,
        ..ModelInfo::default()
    };
    let opts = WriteOptions {
        recipients,
        ..WriteOptions::default()
    };
    let big = data(200_000, 13);
    let mut w = Writer::create(path, info, opts).unwrap();
    w.add("w", Dtype::U8, &[big.len() as u64], &big).unwrap();
    w.finish().unwrap();
    big
}

/// A writer with access to the file changes bytes in place (same inode, so a
/// map of the file sees the change).
fn overwrite(path: &Path, at: u64, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(bytes).unwrap();
    f.sync_all().unwrap();
}

fn setup(encrypted: bool) -> (tempfile::TempDir, PathBuf, RecipientSecretKey, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.tseal");
    let id = RecipientSecretKey::generate_os().unwrap();
    let rec = if encrypted {
        vec![id.public_key().clone()]
    } else {
        vec![]
    };
    let big = write(&path, rec);
    (dir, path, id, big)
}

#[test]
fn the_default_open_keeps_the_verified_bytes_when_the_file_changes_afterwards() {
    let (_d, path, _, big) = setup(false);
    let model = Model::open(&path, &Policy::allow_unsigned()).unwrap();
    let at = model.tensor("w").unwrap().offset();
    overwrite(&path, at, &[0xEE; 4096]);
    let t = model.tensor("w").unwrap();
    assert!(
        t.data() == &big[..],
        "tensor bytes changed after verification"
    );
    // The file did change: a fresh open refuses it.
    let e = Model::open(&path, &Policy::allow_unsigned()).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Format(_)), "{e}");
}

#[test]
fn the_default_open_of_an_encrypted_file_decrypts_the_verified_ciphertext() {
    let (_d, path, id, big) = setup(true);
    let opts = OpenOptions::new()
        .identity(id)
        .verification(Verification::Lazy);
    let model = Model::open_with(&path, &Policy::allow_unsigned(), opts).unwrap();
    let s = &model.manifest().slices[0];
    overwrite(&path, s.offset + 100, &[0xEE; 64]);
    assert!(model.tensor("w").unwrap().data() == &big[..]);
}

#[test]
fn the_manifest_is_the_private_copy_that_was_hashed_and_decoded() {
    let (_d, path, _, _) = setup(false);
    let model = Model::open_with(
        &path,
        &Policy::allow_unsigned(),
        OpenOptions::new().map_accepting_writers(),
    )
    .unwrap();
    let f = *model.footer();
    overwrite(&path, f.manifest_offset + 1, b"XX");
    assert_eq!(sha256(model.manifest_bytes()), f.manifest_sha256);
    assert_eq!(model.info().model_id, "toctou");
}

#[test]
fn mapping_writable_storage_is_refused_unless_the_caller_accepts_writers() {
    let (_d, path, _, big) = setup(false);
    // A temporary directory is writable: map() refuses with an I/O error naming the file.
    for opts in [
        OpenOptions::new().map(),
        OpenOptions::new().copy(false),
        OpenOptions::new().read_mode(ReadMode::MapReadOnlyStorage),
    ] {
        let e = Model::open_with(&path, &Policy::allow_unsigned(), opts).unwrap_err();
        match e.kind() {
            ErrorKind::Io { op, source } => {
                assert_eq!(*op, "map");
                assert!(source.to_string().contains("writable storage"), "{source}");
            }
            other => panic!("expected an I/O refusal, got {other}"),
        }
        assert_eq!(e.path(), Some(path.as_path()));
    }
    let m = Model::open_with(
        &path,
        &Policy::allow_unsigned(),
        OpenOptions::new().map_accepting_writers(),
    )
    .unwrap();
    assert!(m.tensor("w").unwrap().data() == &big[..]);
}

#[test]
fn a_lazily_verified_mapped_slice_is_hashed_and_decrypted_from_one_copy() {
    let (_d, path, id, big) = setup(true);
    let open = |id: &RecipientSecretKey| {
        let opts = OpenOptions::new()
            .identity(id.clone())
            .verification(Verification::Lazy)
            .map_accepting_writers();
        Model::open_with(&path, &Policy::allow_unsigned(), opts).unwrap()
    };
    let model = open(&id);
    assert!(model.tensor("w").unwrap().data() == &big[..]);
    assert!(model.tensor("w").unwrap().data() == &big[..]);
    // Ciphertext changed after open, before first access: the digest over the
    // copied bytes refuses it (a slice digest error, not a chunk failure).
    let model = open(&id);
    let s = model.manifest().slices[0].clone();
    overwrite(&path, s.offset + 70_000, &[0xEE; 8]);
    let e = model.tensor("w").unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Format(_)), "{e}");
    assert!(e.to_string().contains("slice 0"), "{e}");
    // And it stays refused.
    assert!(model.tensor("w").is_err());
}
