//! One rollback store for detached files and containers (per model id,
//! across trusted signers), binding to the expected model id, quarantine
//! only for findings, and sidecars/policies that are not regular files.
//! Nothing is ever unpickled or executed.

use std::path::{Path, PathBuf};

use tensorseal_crypto::SigningKey;
use tensorseal_ops::*;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/fixtures")
        .join(rel)
}

fn key() -> SigningKey {
    SigningKey::generate_os().unwrap()
}

fn policy_for(keys: &[&SigningKey], state: Option<&Path>) -> OpsPolicy {
    let p = OpsPolicy {
        rollback_state: state.map(Path::to_path_buf),
        ..OpsPolicy::default()
    };
    keys.iter()
        .fold(p, |p, k| p.trust_key(k.verifying_key().clone()))
}

/// Writes `fixture` to `dir/name` and signs it as `model` `version`.
fn release(
    dir: &Path,
    name: &str,
    fixture_rel: &str,
    k: &SigningKey,
    model: &str,
    version: &str,
) -> PathBuf {
    let f = dir.join(name);
    std::fs::write(&f, std::fs::read(fixture(fixture_rel)).unwrap()).unwrap();
    let opts = SignOptions {
        model_id: Some(model.into()),
        model_version: Some(version.into()),
        ..SignOptions::default()
    };
    sign_file(&f, k, &opts).unwrap();
    f
}

/// Copies `src` and its sidecar over `dest` (a deployment).
fn deploy(src: &Path, dest: &Path) {
    std::fs::copy(src, dest).unwrap();
    std::fs::copy(sidecar_path(src), sidecar_path(dest)).unwrap();
}

const P4: &str = "sklearn/risk_logreg_p4.pkl";
const P5: &str = "sklearn/risk_logreg_p5.pkl";

#[test]
fn an_older_release_by_another_trusted_signer_is_a_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (key(), key());
    let state = dir.path().join("state.json");
    let policy = policy_for(&[&a, &b], Some(&state));
    let v2 = release(dir.path(), "v2.pkl", P5, &a, "risk", "2");
    let v1 = release(dir.path(), "v1.pkl", P4, &b, "risk", "1");
    assert!(verify_file(&v2, &policy).unwrap().ok());
    let r = verify_file(&v1, &policy).unwrap();
    assert!(
        matches!(r.refusal, Some(RefusalKind::Rollback { .. })),
        "{:?}",
        r.refusal
    );
    assert!(r.refusal.as_ref().unwrap().quarantinable());
    // Same version, other content, other signer: equivocation.
    let v2b = release(dir.path(), "v2b.pkl", P4, &b, "risk", "2.0.0");
    let r = verify_file(&v2b, &policy).unwrap();
    match &r.refusal {
        Some(RefusalKind::Rollback { reason }) => {
            assert!(reason.contains("equivocation"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_older_release_copied_over_the_deployed_path_is_refused_whatever_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let k = key();
    let state = dir.path().join("state.json");
    let policy = OpsPolicy {
        model_id: Some("risk".into()),
        ..policy_for(&[&k], Some(&state))
    };
    let old = release(dir.path(), "risk_v1.pkl", P4, &k, "risk", "v1.0.0");
    let new = release(dir.path(), "risk_v2.pkl", P5, &k, "risk", "v1.2.0");
    let deployed = dir.path().join("serving.pkl");
    deploy(&new, &deployed);
    assert!(verify_file(&deployed, &policy).unwrap().ok());
    deploy(&old, &deployed);
    let r = verify_file(&deployed, &policy).unwrap();
    assert!(
        matches!(r.refusal, Some(RefusalKind::Rollback { .. })),
        "{:?}",
        r.refusal
    );
    // Renamed to the new release's name does not help either.
    let renamed = dir.path().join("risk_v3.pkl");
    deploy(&old, &renamed);
    let r = verify_file(&renamed, &policy).unwrap();
    assert!(
        matches!(r.refusal, Some(RefusalKind::Rollback { .. })),
        "{:?}",
        r.refusal
    );
}

#[test]
fn a_signed_file_of_another_model_is_a_substitution_and_is_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let k = key();
    let fraud = release(dir.path(), "risk.pkl", P4, &k, "fraud", "9");
    let policy = OpsPolicy {
        model_id: Some("risk".into()),
        quarantine_dir: Some(dir.path().join("q")),
        ..policy_for(&[&k], None)
    };
    let e = load_verified(&fraud, &policy).unwrap_err();
    assert_eq!(
        e.kind,
        RefusalKind::Substitution {
            expected: "risk".into(),
            found: "fraud".into()
        }
    );
    assert!(e.quarantined.is_some() && !fraud.exists());
    // Without an expected model id it verifies (the sidecar is valid).
    let other = release(dir.path(), "other.pkl", P4, &k, "fraud", "9");
    assert!(verify_file(&other, &policy_for(&[&k], None)).unwrap().ok());
}

#[test]
fn container_and_detached_model_ids_share_one_namespace() {
    use tensorseal::{Dtype, ModelInfo, WriteOptions, Writer};
    let dir = tempfile::tempdir().unwrap();
    let k = key();
    let state = dir.path().join("state.json");
    let policy = policy_for(&[&k], Some(&state));
    let c = dir.path().join("risk.tseal");
    let info = ModelInfo {
        model_id: "risk".into(),
        version: 7,
        ..ModelInfo::default()
    };
    let mut w = Writer::create(&c, info, WriteOptions::default()).unwrap();
    w.add("w", Dtype::F32, &[2], &[0u8; 8]).unwrap();
    w.finish().unwrap();
    tensorseal::sign_file(&c, &k).unwrap();
    assert!(load_verified(&c, &policy).is_ok());
    // A detached release of the same model id does not slip past (nor
    // overwrite) the container's entry.
    let d = release(dir.path(), "risk.pkl", P4, &k, "risk", "100");
    let r = verify_file(&d, &policy).unwrap();
    match &r.refusal {
        Some(RefusalKind::Rollback { reason }) => assert!(reason.contains("container"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let st = tensorseal::RollbackStore::new(&state).load().unwrap();
    assert_eq!(st.get("risk").unwrap().version, 7);
    assert_eq!(st.len(), 1);
}

#[test]
fn unorderable_versions_are_refused_only_under_rollback_and_never_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let k = key();
    let f = release(dir.path(), "m.pkl", P4, &k, "risk", "spring release");
    assert!(verify_file(&f, &policy_for(&[&k], None)).unwrap().ok());
    let policy = OpsPolicy {
        quarantine_dir: Some(dir.path().join("q")),
        ..policy_for(&[&k], Some(&dir.path().join("state.json")))
    };
    let e = load_verified(&f, &policy).unwrap_err();
    assert!(
        matches!(e.kind, RefusalKind::UnorderableVersion { .. }),
        "{:?}",
        e.kind
    );
    assert!(e.quarantined.is_none() && f.exists());
}

#[test]
fn a_corrupt_state_is_operational_and_never_quarantines() {
    let dir = tempfile::tempdir().unwrap();
    let k = key();
    let f = release(dir.path(), "m.pkl", P4, &k, "risk", "1");
    let state = dir.path().join("state.json");
    std::fs::write(&state, "{broken").unwrap();
    let policy = OpsPolicy {
        quarantine_dir: Some(dir.path().join("q")),
        ..policy_for(&[&k], Some(&state))
    };
    let e = load_verified(&f, &policy).unwrap_err();
    assert!(matches!(e.kind, RefusalKind::State { .. }), "{:?}", e.kind);
    assert!(e.kind.is_operational());
    assert!(e.quarantined.is_none() && f.exists());
    // quarantine_refused itself refuses to move it.
    let r = verify_file(&f, &policy).unwrap();
    let q = quarantine_refused(
        &r,
        &dir.path().join("q"),
        None,
        &QuarantineOptions::default(),
    );
    assert!(q.is_err() && f.exists());
    // An old (version 1) state file is refused the same way, and kept.
    let old = r#"{"format": "tensorseal-rollback-state", "version": 1, "entries": []}"#;
    std::fs::write(&state, old).unwrap();
    let r = verify_file(&f, &policy).unwrap();
    assert!(
        matches!(r.refusal, Some(RefusalKind::State { .. })),
        "{:?}",
        r.refusal
    );
    assert_eq!(std::fs::read_to_string(&state).unwrap(), old);
}

#[test]
fn untrusted_signers_never_write_state() {
    let dir = tempfile::tempdir().unwrap();
    let (trusted, stranger) = (key(), key());
    let state = dir.path().join("state.json");
    let policy = OpsPolicy {
        allow_unsigned: true,
        ..policy_for(&[&trusted], Some(&state))
    };
    let high = release(dir.path(), "high.pkl", P5, &stranger, "risk", "999");
    assert!(verify_file(&high, &policy).unwrap().ok());
    assert!(!state.exists(), "an untrusted signature recorded a version");
    let low = release(dir.path(), "low.pkl", P4, &trusted, "risk", "1");
    assert!(verify_file(&low, &policy).unwrap().ok());
    // A refused file is not recorded either: a hostile pickle signed as v5.
    let hostile = release(
        dir.path(),
        "h.pkl",
        "hostile/os_system_p2.pkl",
        &trusted,
        "risk",
        "5",
    );
    assert!(!verify_file(&hostile, &policy).unwrap().ok());
    let st = tensorseal::RollbackStore::new(&state).load().unwrap();
    assert_eq!(
        st.get("risk").unwrap().version,
        tensorseal::rollback::detached_version("1").unwrap()
    );
}

#[test]
fn signing_needs_an_explicit_model_id() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("risk_model.pkl");
    std::fs::write(&f, std::fs::read(fixture(P4)).unwrap()).unwrap();
    let e = sign_file(&f, &key(), &SignOptions::default()).unwrap_err();
    assert!(e.to_string().contains("model id"), "{e}");
    assert!(!sidecar_path(&f).exists());
}

#[cfg(target_os = "linux")]
#[test]
fn sidecars_and_policies_that_are_not_regular_files_are_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let k = key();
    let f = dir.path().join("m.pkl");
    std::fs::write(&f, std::fs::read(fixture(P4)).unwrap()).unwrap();
    let mkfifo = |p: &Path| {
        assert!(std::process::Command::new("mkfifo")
            .arg(p)
            .status()
            .unwrap()
            .success())
    };
    mkfifo(&sidecar_path(&f));
    let r = verify_file(&f, &policy_for(&[&k], None)).unwrap();
    match &r.refusal {
        Some(RefusalKind::MalformedSidecar { reason }) => {
            assert!(reason.contains("FIFO"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    std::fs::remove_file(sidecar_path(&f)).unwrap();
    std::os::unix::fs::symlink("/dev/zero", sidecar_path(&f)).unwrap();
    let r = verify_file(&f, &policy_for(&[&k], None)).unwrap();
    match &r.refusal {
        Some(RefusalKind::MalformedSidecar { reason }) => {
            assert!(reason.contains("character device"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    // sign_file does not extend (or hang on) such a sidecar either.
    let opts = SignOptions {
        model_id: Some("m".into()),
        ..SignOptions::default()
    };
    assert!(sign_file(&f, &k, &opts).is_err());
    let policy = dir.path().join("policy.toml");
    mkfifo(&policy);
    let e = OpsPolicy::load(&policy).unwrap_err();
    assert!(
        matches!(e, OpsError::Policy { .. }) && e.to_string().contains("FIFO"),
        "{e}"
    );
}
