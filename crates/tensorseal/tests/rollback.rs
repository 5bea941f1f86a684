//! The rollback store (per model id across every trusted signer), the
//! expected model id (substitution), and the bounded reader of config files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tensorseal::rollback::{Outcome, Release, ReleaseKind};
use tensorseal::{
    Dtype, ErrorKind, Model, ModelInfo, Policy, RollbackStore, SigningKey, TrustStore,
    WriteOptions, Writer,
};

fn key() -> Arc<SigningKey> {
    Arc::new(SigningKey::generate_os().unwrap())
}

fn write(
    dir: &Path,
    name: &str,
    model_id: &str,
    version: u64,
    signer: &Arc<SigningKey>,
    salt: u8,
) -> PathBuf {
    let path = dir.join(name);
    let info = ModelInfo {
        model_id: model_id.into(),
        version,
        ..ModelInfo::default()
    };
    let opts = WriteOptions {
        signers: vec![signer.clone()],
        ..WriteOptions::default()
    };
    let mut w = Writer::create(&path, info, opts).unwrap();
    w.add("w", Dtype::U8, &[4], &[1, 2, 3, salt]).unwrap();
    w.finish().unwrap();
    path
}

fn trust(keys: &[&Arc<SigningKey>]) -> Policy {
    let mut t = TrustStore::new();
    for k in keys {
        t.add(k.verifying_key().clone());
    }
    Policy::require_signature().trust(t)
}

fn record(store: &RollbackStore, path: &Path, policy: &Policy) -> tensorseal::Result<Outcome> {
    let m = Model::open(path, policy)?;
    store.check_and_record(&m)
}

#[test]
fn rollback_and_equivocation_are_per_model_id() {
    let a = key();
    let dir = tempfile::tempdir().unwrap();
    let store = RollbackStore::new(dir.path().join("state.json"));
    let p = trust(&[&a]);
    let v2 = write(dir.path(), "v2.tseal", "m", 2, &a, 0);
    let v1 = write(dir.path(), "v1.tseal", "m", 1, &a, 0);
    let v2b = write(dir.path(), "v2b.tseal", "m", 2, &a, 9);
    let v3 = write(dir.path(), "v3.tseal", "m", 3, &a, 0);
    assert_eq!(
        record(&store, &v2, &p).unwrap(),
        Outcome::Recorded { previous: None }
    );
    assert!(
        matches!(record(&store, &v2, &p).unwrap(), Outcome::Recorded { previous: Some(s) } if s.version == 2)
    );
    let e = record(&store, &v1, &p).unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::Rollback {
                version: 1,
                seen: 2,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.kind().is_finding());
    let e = record(&store, &v2b, &p).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Equivocation { version: 2, .. }),
        "{e}"
    );
    record(&store, &v3, &p).unwrap();
    let st = store.load().unwrap();
    assert_eq!(st.get("m").unwrap().version, 3);
    assert_eq!(st.get("m").unwrap().kind, ReleaseKind::Container);
    // Opening never touches the store: the old version opens, the state is the verifier's.
    Model::open(&v1, &p).unwrap();
    assert_eq!(store.load().unwrap().get("m").unwrap().version, 3);
    // The file on disk is format version 2.
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(store.path()).unwrap()).unwrap();
    assert_eq!(v["version"], 2);
    assert_eq!(v["entries"][0]["model_id"], "m");
}

#[test]
fn another_trusted_signer_cannot_roll_back_and_rotation_keeps_the_counter() {
    let (a, b, rotated) = (key(), key(), key());
    let dir = tempfile::tempdir().unwrap();
    let store = RollbackStore::new(dir.path().join("state.json"));
    let both = trust(&[&a, &b]);
    let v2_by_a = write(dir.path(), "a2.tseal", "m", 2, &a, 0);
    let v1_by_b = write(dir.path(), "b1.tseal", "m", 1, &b, 0);
    let v2_by_b = write(dir.path(), "b2.tseal", "m", 2, &b, 7);
    record(&store, &v2_by_a, &both).unwrap();
    let e = record(&store, &v1_by_b, &both).unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::Rollback {
                version: 1,
                seen: 2,
                ..
            }
        ),
        "{e}"
    );
    // Same version, other content, other signer: equivocation.
    let e = record(&store, &v2_by_b, &both).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Equivocation { version: 2, .. }),
        "{e}"
    );
    // Key A is rotated out for a new key: the counter stays.
    let after_rotation = trust(&[&rotated]);
    let v1_rotated = write(dir.path(), "r1.tseal", "m", 1, &rotated, 0);
    let e = record(&store, &v1_rotated, &after_rotation).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Rollback { seen: 2, .. }),
        "{e}"
    );
}

#[test]
fn untrusted_signers_never_write_state() {
    let (a, stranger) = (key(), key());
    let dir = tempfile::tempdir().unwrap();
    let store = RollbackStore::new(dir.path().join("state.json"));
    let v9 = write(dir.path(), "v9.tseal", "m", 9, &stranger, 0);
    // Opened because unsigned files are allowed, but nothing is recorded.
    let lax = Policy::allow_unsigned().trust({
        let mut t = TrustStore::new();
        t.add(a.verifying_key().clone());
        t
    });
    assert_eq!(record(&store, &v9, &lax).unwrap(), Outcome::Untracked);
    assert!(!store.path().exists());
    // The trusted signer's version 1 is still accepted.
    let v1 = write(dir.path(), "v1.tseal", "m", 1, &a, 0);
    record(&store, &v1, &trust(&[&a])).unwrap();
}

#[test]
fn old_format_and_corrupt_state_are_state_errors_not_findings() {
    let a = key();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let v1 = write(dir.path(), "v1.tseal", "m", 1, &a, 0);
    let old = r#"{"format": "tensorseal-rollback-state", "version": 1, "entries": []}"#;
    std::fs::write(&path, old).unwrap();
    let store = RollbackStore::new(&path);
    let e = record(&store, &v1, &trust(&[&a])).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::State { .. }), "{e}");
    assert!(e.to_string().contains("version 1"), "{e}");
    assert!(!e.kind().is_finding());
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        old,
        "the old file is left alone"
    );
    std::fs::write(&path, "{not json").unwrap();
    let e = record(&store, &v1, &trust(&[&a])).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::State { .. }), "{e}");
    assert!(!e.kind().is_finding());
}

#[test]
fn container_and_detached_releases_of_one_model_id_do_not_mix() {
    let a = key();
    let dir = tempfile::tempdir().unwrap();
    let store = RollbackStore::new(dir.path().join("state.json"));
    store
        .check_and_record_release(&Release {
            model_id: "risk".into(),
            version: tensorseal::rollback::detached_version("2").unwrap(),
            digest: [1; 32],
            kind: ReleaseKind::Detached,
        })
        .unwrap();
    let c = write(dir.path(), "c.tseal", "risk", u64::MAX, &a, 0);
    let e = record(&store, &c, &trust(&[&a])).unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::RollbackSource {
                recorded: "detached",
                found: "container",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn a_signed_file_of_another_model_is_a_substitution() {
    let a = key();
    let dir = tempfile::tempdir().unwrap();
    let other = write(dir.path(), "fraud.tseal", "fraud-model", 5, &a, 0);
    let e = Model::open(&other, &trust(&[&a]).expect_model_id("risk")).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Substitution { expected, found } if expected == "risk" && found == "fraud-model"),
        "{e}"
    );
    assert!(e.kind().is_finding());
    let right = write(dir.path(), "risk.tseal", "risk", 5, &a, 0);
    Model::open(&right, &trust(&[&a]).expect_model_id("risk")).unwrap();
}

#[cfg(target_os = "linux")]
#[test]
fn config_files_that_are_not_regular_are_refused_without_blocking() {
    use tensorseal::config_file::read_regular;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("state.json");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let e = read_regular(&fifo, 1024, "rollback state").unwrap_err();
    assert!(e.to_string().contains("FIFO"), "{e}");
    // The store refuses a FIFO state file (and does not hang on it).
    let a = key();
    let v1 = write(dir.path(), "v1.tseal", "m", 1, &a, 0);
    let e = record(&RollbackStore::new(&fifo), &v1, &trust(&[&a])).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::ConfigFile { .. }), "{e}");
    let e = read_regular(Path::new("/dev/zero"), 1024, "sidecar").unwrap_err();
    assert!(e.to_string().contains("character device"), "{e}");
    let big = dir.path().join("big.json");
    std::fs::write(&big, vec![b' '; 1025]).unwrap();
    let e = read_regular(&big, 1024, "policy").unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::ConfigFile { what: "policy", .. }),
        "{e}"
    );
    assert_eq!(read_regular(&big, 1025, "policy").unwrap().len(), 1025);
    // A trust directory holding a FIFO named like a key is refused, not waited on.
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    std::process::Command::new("mkfifo")
        .arg(keys.join("k.pub"))
        .status()
        .unwrap();
    let e = TrustStore::new().add_path(&keys).unwrap_err();
    assert!(e.to_string().contains("FIFO"), "{e}");
}
