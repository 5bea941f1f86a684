//! Tests of the model-security operations on the shared fixtures. Nothing is
//! ever unpickled or executed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tensorseal_crypto::SigningKey;
use tensorseal_ops::*;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/fixtures")
        .join(rel)
}

/// Copies a fixture into `dir` (writable copy).
fn copy_fixture(rel: &str, dir: &Path) -> PathBuf {
    let src = fixture(rel);
    let dest = dir.join(src.file_name().unwrap());
    std::fs::write(&dest, std::fs::read(&src).unwrap()).unwrap();
    dest
}

fn key() -> SigningKey {
    SigningKey::generate_os().unwrap()
}

fn policy_for(keys: &[&SigningKey]) -> OpsPolicy {
    keys.iter().fold(OpsPolicy::default(), |p, k| {
        p.trust_key(k.verifying_key().clone())
    })
}

fn sign(path: &Path, k: &SigningKey) -> SignOutcome {
    let mut deps = std::collections::BTreeMap::new();
    deps.insert("sklearn".to_string(), "1.3.0".to_string());
    deps.insert("numpy".to_string(), "1.24.3".to_string());
    let opts = SignOptions {
        model_id: Some("risk_model".into()),
        model_version: Some("v0.2.0".into()),
        training_date: Some("2025-12-11".into()),
        dependencies: deps,
        signed_at: None,
    };
    sign_file(path, k, &opts).unwrap()
}

#[test]
fn signed_sklearn_pickle_verifies_with_every_check() {
    let dir = tempfile::tempdir().unwrap();
    let f = copy_fixture("sklearn/risk_logreg_p4.pkl", dir.path());
    let k = key();
    let out = sign(&f, &k);
    assert_eq!(
        out.sidecar_path,
        dir.path().join("risk_logreg_p4.pkl.sig.json")
    );
    assert_eq!(out.statement.format, "pickle");
    assert_eq!(out.statement.dependencies["sklearn"], "1.3.0");
    let r = verify_file(&f, &policy_for(&[&k])).unwrap();
    assert!(r.ok(), "{:?}", r.refusal);
    for name in [
        "read",
        "format",
        "sidecar",
        "signature[1]",
        "sha256",
        "size",
        "file-name",
        "trust",
        "inspection",
    ] {
        assert!(
            r.checks.iter().any(|c| c.name == name && c.ok),
            "missing check {name}: {:?}",
            r.checks
        );
    }
    assert_eq!(r.trusted_signers, vec![k.fingerprint().to_string()]);
    assert_eq!(
        r.statement.as_ref().unwrap().model_version.as_deref(),
        Some("v0.2.0")
    );
    // The sidecar follows the documented schema, statement bytes decode.
    let sc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out.sidecar_path).unwrap()).unwrap();
    assert_eq!(sc["schema"], SIDECAR_SCHEMA);
    assert_eq!(sc["signatures"].as_array().unwrap().len(), 1);
    // JSON of the report works (for --json).
    let j = serde_json::to_value(&r).unwrap();
    assert!(j["checks"].as_array().unwrap().len() >= 8);
}

#[test]
fn several_signers_and_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let f = copy_fixture("sklearn/risk_logreg_p5.pkl", dir.path());
    let (a, b) = (key(), key());
    sign(&f, &a);
    let out = sign(&f, &b);
    assert_eq!(out.signatures, 2);
    // Re-signing with the same key replaces, does not add.
    let again = sign(&f, &a);
    assert!(again.replaced);
    assert_eq!(again.signatures, 2);
    let both = policy_for(&[&a, &b]);
    let mut two = both.clone();
    two.threshold = 2;
    assert!(verify_file(&f, &two).unwrap().ok());
    let mut only_a = policy_for(&[&a]);
    only_a.threshold = 2;
    let r = verify_file(&f, &only_a).unwrap();
    assert_eq!(
        r.refusal,
        Some(RefusalKind::BelowThreshold {
            trusted: 1,
            required: 2
        })
    );
}

#[test]
fn tampered_pickle_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let f = copy_fixture("sklearn/risk_logreg_p2.pkl", dir.path());
    let k = key();
    sign(&f, &k);
    let mut bytes = std::fs::read(&f).unwrap();
    bytes.push(b'.');
    std::fs::write(&f, &bytes).unwrap();
    let r = verify_file(&f, &policy_for(&[&k])).unwrap();
    assert!(
        matches!(r.refusal, Some(RefusalKind::Tampered { .. })),
        "{:?}",
        r.refusal
    );
    assert!(r.checks.iter().any(|c| c.name == "sha256" && !c.ok));
}

#[test]
fn removed_sidecar_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let f = copy_fixture("sklearn/risk_logreg.joblib", dir.path());
    let k = key();
    let out = sign(&f, &k);
    std::fs::remove_file(&out.sidecar_path).unwrap();
    let r = verify_file(&f, &policy_for(&[&k])).unwrap();
    assert_eq!(
        r.refusal,
        Some(RefusalKind::MissingSidecar {
            sidecar: out.sidecar_path
        })
    );
}

#[test]
fn sidecar_from_untrusted_signer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let f = copy_fixture("safetensors/small.safetensors", dir.path());
    let (trusted, mallory) = (key(), key());
    sign(&f, &mallory);
    let r = verify_file(&f, &policy_for(&[&trusted])).unwrap();
    assert_eq!(
        r.refusal,
        Some(RefusalKind::UntrustedSigner {
            signers: vec![mallory.fingerprint().to_string()]
        })
    );
}

#[test]
fn sidecar_naming_another_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = copy_fixture("sklearn/risk_logreg_p4.pkl", dir.path());
    let b = copy_fixture("sklearn/risk_logreg_p5.pkl", dir.path());
    let k = key();
    let out = sign(&a, &k);
    std::fs::copy(&out.sidecar_path, sidecar_path(&b)).unwrap();
    let r = verify_file(&b, &policy_for(&[&k])).unwrap();
    match r.refusal {
        Some(RefusalKind::WrongFile { signed_name, .. }) => {
            assert_eq!(signed_name, "risk_logreg_p4.pkl")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn forged_statement_is_a_bad_signature() {
    let dir = tempfile::tempdir().unwrap();
    let f = copy_fixture("sklearn/risk_logreg_p4.pkl", dir.path());
    let k = key();
    let out = sign(&f, &k);
    let mut sc = Sidecar::read(&out.sidecar_path).unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let stmt = String::from_utf8(b64.decode(&sc.signatures[0].statement).unwrap()).unwrap();
    let forged = stmt.replace("v0.2.0", "v9.9.9");
    sc.signatures[0].statement = b64.encode(forged.as_bytes());
    std::fs::write(&out.sidecar_path, sc.to_json()).unwrap();
    let r = verify_file(&f, &policy_for(&[&k])).unwrap();
    assert!(
        matches!(r.refusal, Some(RefusalKind::BadSignature { index: 1, .. })),
        "{:?}",
        r.refusal
    );
}

#[test]
fn signed_hostile_pickles_are_still_refused() {
    let dir = tempfile::tempdir().unwrap();
    let k = key();
    for rel in [
        "hostile/os_system_p2.pkl",
        "hostile/subprocess_p5.pkl",
        "hostile/builtins_exec.pkl",
        "hostile/disguised_as_safetensors.safetensors",
        "hostile/torch_zip_malicious_data_pkl.pt",
    ] {
        let f = copy_fixture(rel, dir.path());
        sign(&f, &k);
        let r = verify_file(&f, &policy_for(&[&k])).unwrap();
        match &r.refusal {
            Some(RefusalKind::UnsafeContent { verdict, .. }) => {
                assert_eq!(verdict, "dangerous", "{rel}")
            }
            other => panic!("{rel}: {other:?}"),
        }
        // Signatures themselves were fine.
        assert!(r.checks.iter().any(|c| c.name == "trust" && c.ok));
    }
}

#[test]
fn stale_sidecar_is_not_extended() {
    let dir = tempfile::tempdir().unwrap();
    let f = copy_fixture("sklearn/risk_logreg_p4.pkl", dir.path());
    let (a, b) = (key(), key());
    sign(&f, &a);
    std::fs::write(&f, b"\x80\x02}q\x00.").unwrap();
    let opts = SignOptions {
        model_id: Some("risk_model".into()),
        ..SignOptions::default()
    };
    let e = sign_file(&f, &b, &opts).unwrap_err();
    assert!(e.to_string().contains("other content"), "{e}");
}

#[test]
fn containers_are_refused_by_sign_file_and_verified_by_the_loader() {
    use tensorseal::{Dtype, ModelInfo, WriteOptions, Writer};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.tseal");
    let info = ModelInfo {
        model_id: "tiny".into(),
        version: 1,
        ..ModelInfo::default()
    };
    let mut w = Writer::create(&path, info, WriteOptions::default()).unwrap();
    w.add("w", Dtype::F32, &[2], &[0u8; 8]).unwrap();
    w.finish().unwrap();
    assert!(matches!(
        sign_file(&path, &key(), &SignOptions::default()),
        Err(OpsError::Unsupported { .. })
    ));
    let r = verify_file(&path, &OpsPolicy::default()).unwrap();
    assert!(
        matches!(r.refusal, Some(RefusalKind::Container { .. })),
        "{:?}",
        r.refusal
    );
    let open = OpsPolicy {
        allow_unsigned: true,
        ..OpsPolicy::default()
    };
    assert!(verify_file(&path, &open).unwrap().ok());
    let v = load_verified(&path, &open).unwrap();
    assert!(matches!(v.model, Loaded::Container(_)));
}

#[test]
fn rollback_to_an_older_statement_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let f = copy_fixture("sklearn/risk_logreg_p4.pkl", dir.path());
    let k = key();
    let old_bytes = std::fs::read(&f).unwrap();
    let t0 = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    let opts = |t, v: &str| SignOptions {
        model_id: Some("risk".into()),
        model_version: Some(v.into()),
        signed_at: Some(t),
        ..SignOptions::default()
    };
    sign_file(&f, &k, &opts(t0, "1.0")).unwrap();
    let old_sidecar = std::fs::read(sidecar_path(&f)).unwrap();
    let mut policy = policy_for(&[&k]);
    policy.rollback_state = Some(dir.path().join("state.json"));
    assert!(verify_file(&f, &policy).unwrap().ok());
    // A newer model is signed and seen.
    std::fs::remove_file(sidecar_path(&f)).unwrap();
    std::fs::write(
        &f,
        std::fs::read(fixture("sklearn/risk_logreg_p5.pkl")).unwrap(),
    )
    .unwrap();
    sign_file(
        &f,
        &k,
        &opts(t0 + std::time::Duration::from_secs(60), "1.1"),
    )
    .unwrap();
    assert!(verify_file(&f, &policy).unwrap().ok());
    // Putting the old, validly signed pair back is a rollback.
    std::fs::write(&f, &old_bytes).unwrap();
    std::fs::write(sidecar_path(&f), &old_sidecar).unwrap();
    let r = verify_file(&f, &policy).unwrap();
    assert!(
        matches!(r.refusal, Some(RefusalKind::Rollback { .. })),
        "{:?}",
        r.refusal
    );
}

fn assert_quarantined(q: &Quarantined, original: &Path, bytes: &[u8], sidecar_bytes: &[u8]) {
    assert!(!original.exists());
    assert!(!sidecar_path(original).exists());
    assert_eq!(std::fs::read(&q.path).unwrap(), bytes, "byte-identical");
    assert_eq!(
        std::fs::read(q.sidecar.as_ref().unwrap()).unwrap(),
        sidecar_bytes
    );
    let rep: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&q.report_path).unwrap()).unwrap();
    for k in [
        "original_path",
        "quarantined_at",
        "reason",
        "findings",
        "sha256",
        "size",
        "operator",
        "tool_version",
    ] {
        assert!(!rep[k].is_null(), "incident report lacks {k}: {rep}");
    }
    assert!(rep["operator"]["user"].is_string() && rep["operator"]["host"].is_string());
    assert_eq!(rep["sha256"], sha256_hex(bytes));
    assert_eq!(rep["size"], bytes.len() as u64);
    assert_eq!(q.report_path.parent(), q.path.parent());
    let name = q.path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("risk_logreg_p2_") && name.ends_with(".pkl"),
        "{name}"
    );
}

#[test]
fn quarantine_moves_file_and_sidecar_byte_identical_with_report() {
    for force_copy in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let f = copy_fixture("sklearn/risk_logreg_p2.pkl", dir.path());
        let k = key();
        sign(&f, &k);
        let mut bytes = std::fs::read(&f).unwrap();
        bytes.push(0);
        std::fs::write(&f, &bytes).unwrap();
        let sc = std::fs::read(sidecar_path(&f)).unwrap();
        let r = verify_file(&f, &policy_for(&[&k])).unwrap();
        assert!(!r.ok());
        let log = AuditLog::new(dir.path().join("log.jsonl"));
        let opts = QuarantineOptions {
            force_copy,
            copy_hook: None,
        };
        let q = quarantine_refused(&r, &dir.path().join("q"), Some(&log), &opts).unwrap();
        assert_quarantined(&q, &f, &bytes, &sc);
        assert!(
            q.report.reason.contains("modified since signing"),
            "{}",
            q.report.reason
        );
        assert!(q.report.findings.iter().any(|f| f.starts_with("sha256")));
        let s = verify_log(log.path()).unwrap().unwrap();
        assert_eq!(s.events, 1);
    }
}

#[test]
fn injected_failure_leaves_the_file_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let f = copy_fixture("sklearn/risk_logreg_p2.pkl", dir.path());
    let k = key();
    sign(&f, &k);
    let bytes = std::fs::read(&f).unwrap();
    let sc = std::fs::read(sidecar_path(&f)).unwrap();
    let qdir = dir.path().join("q");
    let hook: quarantine::CopyHook = Arc::new(|tmp: &Path| {
        assert!(tmp.exists(), "the hook sees the fsynced copy");
        Err(std::io::Error::other("injected failure"))
    });
    let opts = QuarantineOptions {
        force_copy: true,
        copy_hook: Some(hook),
    };
    let e = quarantine(&f, &qdir, "test", &[], &opts).unwrap_err();
    assert!(e.to_string().contains("injected failure"), "{e}");
    assert!(e.to_string().contains("left in place"), "{e}");
    assert_eq!(std::fs::read(&f).unwrap(), bytes);
    assert_eq!(std::fs::read(sidecar_path(&f)).unwrap(), sc);
    // No copy, no temporary file and no report left behind.
    assert_eq!(std::fs::read_dir(&qdir).unwrap().count(), 0);

    // A quarantine "directory" that is a file cannot be created: same result.
    let not_dir = dir.path().join("not-a-dir");
    std::fs::write(&not_dir, b"x").unwrap();
    assert!(quarantine(&f, &not_dir, "test", &[], &QuarantineOptions::default()).is_err());
    assert_eq!(std::fs::read(&f).unwrap(), bytes);
}

fn ev(kind: EventKind, outcome: &str, n: usize) -> NewEvent {
    NewEvent::new(kind, outcome)
        .file(Path::new(&format!("model_{n}.pkl")))
        .sha256("ab".repeat(32))
}

#[test]
fn audit_log_chain_detects_edit_delete_reorder() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.jsonl");
    for i in 0..5 {
        append(&log, ev(EventKind::Verify, "ok", i)).unwrap();
    }
    let s = verify_log(&log).unwrap().unwrap();
    assert_eq!(s.events, 5);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let check = |ls: Vec<String>| {
        let mut t = ls.join("\n");
        t.push('\n');
        tensorseal_ops::audit_log::verify_log_bytes(t.as_bytes())
    };
    let owned = |ls: &[&str]| ls.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // Edit any line (including the first and the last): that line is named.
    for i in 0..5 {
        let mut ls = owned(&lines);
        ls[i] = ls[i].replace("\"outcome\":\"ok\"", "\"outcome\":\"refused\"");
        let b = check(ls).unwrap_err();
        assert_eq!(b.line, i as u64 + 1, "{b}");
    }
    // Delete a line.
    let mut ls = owned(&lines);
    ls.remove(2);
    assert_eq!(check(ls).unwrap_err().line, 3);
    // Reorder two lines.
    let mut ls = owned(&lines);
    ls.swap(1, 3);
    assert_eq!(check(ls).unwrap_err().line, 2);
    // An edit that recomputes the line's own hash breaks the next line.
    let mut events: Vec<Event> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    events[1].outcome = "refused".into();
    events[1].hash = events[1].compute_hash();
    let ls: Vec<String> = events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    let b = check(ls).unwrap_err();
    assert_eq!(b.line, 3, "{b}");
    // Appending after a torn last line is refused.
    std::fs::write(&log, &text.as_bytes()[..text.len() - 3]).unwrap();
    assert!(append(&log, ev(EventKind::Sign, "ok", 9)).is_err());
}

#[test]
fn concurrent_appends_from_threads_keep_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(dir.path().join("log.jsonl"));
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for i in 0..25 {
                    append(&log, ev(EventKind::Verify, "ok", t * 100 + i)).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(verify_log(&log).unwrap().unwrap().events, 200);
}

/// Child half of the multi-process test: does nothing unless spawned by it.
#[test]
fn child_appender() {
    if let Some(p) = std::env::var_os("TS_OPS_CHILD_LOG") {
        for i in 0..30 {
            append(Path::new(&p), ev(EventKind::Inspect, "safe", i)).unwrap();
        }
    }
}

#[test]
fn concurrent_appends_from_processes_keep_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.jsonl");
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| {
            std::process::Command::new(&exe)
                .args(["--exact", "child_appender", "--test-threads", "1"])
                .env("TS_OPS_CHILD_LOG", &log)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for i in 0..30 {
        append(&log, ev(EventKind::Sign, "ok", i)).unwrap();
    }
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    assert_eq!(verify_log(&log).unwrap().unwrap().events, 150);
}

#[test]
fn policy_file_example_parses_and_flags_override() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy.toml");
    let p = OpsPolicy::load(&example).unwrap();
    assert_eq!(p.threshold, 1);
    assert_eq!(p.size_warning_bytes, 50 * 1024 * 1024);
    assert!(!p.allow_unknown_globals);
    let base = example.parent().unwrap();
    // The example never quarantines into (or keeps its state in) the
    // repository it audits.
    let q = p.quarantine_dir.as_deref().unwrap();
    assert!(
        q.is_absolute() && !q.starts_with(base.parent().unwrap()),
        "{q:?}"
    );
    let st = p.rollback_state.as_deref().unwrap();
    assert!(
        st.is_absolute() && !st.starts_with(base.parent().unwrap()),
        "{st:?}"
    );
    assert_eq!(p.model_id.as_deref(), Some("risk_model"));
    // Relative paths are relative to the policy file's directory.
    assert!(p.trusted_keys.iter().all(|k| k.starts_with(base)));
    let merged = p.merge(Overrides {
        trust: vec![PathBuf::from("/k/ci.pub")],
        threshold: Some(2),
        quarantine_dir: Some(PathBuf::from("/q")),
        size_warning_mb: Some(1),
        ..Overrides::default()
    });
    assert_eq!(merged.trusted_keys, vec![PathBuf::from("/k/ci.pub")]);
    assert_eq!(merged.threshold, 2);
    assert_eq!(merged.quarantine_dir, Some(PathBuf::from("/q")));
    assert_eq!(merged.size_warning_bytes, 1024 * 1024);
    // Unknown keys are errors naming the file.
    let e = PolicyFile::parse(Path::new("p.toml"), "trusted_key = []").unwrap_err();
    assert!(e.to_string().contains("p.toml"), "{e}");
}

#[test]
fn size_warning_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let f = copy_fixture("sklearn/risk_logreg_p4.pkl", dir.path());
    let k = key();
    sign(&f, &k);
    let mut p = policy_for(&[&k]);
    p.size_warning_bytes = 10;
    let r = verify_file(&f, &p).unwrap();
    assert!(r.ok());
    assert!(r.warnings.iter().any(|w| w.contains("warning threshold")));
}

/// A clean model directory: signed sklearn, torch and safetensors files, a README.
fn clean_dir(k: &SigningKey) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    std::fs::create_dir(&models).unwrap();
    for rel in [
        "sklearn/risk_logreg_p4.pkl",
        "sklearn/risk_logreg.joblib",
        "sklearn/risk_logreg_compressed.joblib",
        "sklearn/anomaly_iforest_p5.pkl",
        "safetensors/small.safetensors",
        "torch/mlp_state_dict.pt",
        "torch/legacy_format.pt",
        "numpy/bundle.npz",
    ] {
        let f = copy_fixture(rel, &models);
        sign(&f, k);
    }
    std::fs::write(dir.path().join("README.md"), "# models\n").unwrap();
    dir
}

#[test]
fn audit_passes_a_clean_directory_and_fails_a_tampered_one() {
    let k = key();
    let dir = clean_dir(&k);
    let v = Verifier::new(&policy_for(&[&k])).unwrap();
    let r = audit_dir(dir.path(), &v, &AuditOptions::default()).unwrap();
    assert!(r.pass, "{:#?}", r.files);
    assert_eq!(r.summary.model_files, 8);
    assert_eq!(r.summary.passed, 8);
    assert!(r
        .files
        .iter()
        .any(|f| f.path == Path::new("README.md") && f.status == FileStatus::Skipped));

    // Tamper with one file: the audit fails and names it.
    let bad = dir.path().join("models/risk_logreg.joblib");
    let mut b = std::fs::read(&bad).unwrap();
    b[100] ^= 1;
    std::fs::write(&bad, &b).unwrap();
    let r = audit_dir(dir.path(), &v, &AuditOptions::default()).unwrap();
    assert!(!r.pass);
    let failed: Vec<_> = r
        .files
        .iter()
        .filter(|f| f.status == FileStatus::Fail)
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].path, Path::new("models/risk_logreg.joblib"));
    let j = serde_json::to_value(&r).unwrap();
    assert_eq!(j["summary"]["failed"], 1);
    assert!(j["files"].to_string().contains("models/risk_logreg.joblib"));
}

#[test]
fn audit_fails_unsigned_hostile_and_unrecognised_model_files_and_quarantines() {
    let k = key();
    let dir = clean_dir(&k);
    let hostile = copy_fixture("hostile/webbrowser.pkl", &dir.path().join("models"));
    sign(&hostile, &k);
    std::fs::write(dir.path().join("models/opaque.pt"), b"not a model at all").unwrap();
    copy_fixture("torch/views.pt", &dir.path().join("models")); // unsigned
    let qdir = dir.path().join("quarantine");
    let log = dir.path().join("security.jsonl");
    let policy = OpsPolicy {
        quarantine_dir: Some(qdir.clone()),
        audit_log: Some(log.clone()),
        ..policy_for(&[&k])
    };
    let v = Verifier::new(&policy).unwrap();
    let r = audit_dir(dir.path(), &v, &AuditOptions::default()).unwrap();
    assert!(!r.pass);
    let status = |p: &str| {
        r.files
            .iter()
            .find(|f| f.path == Path::new(p))
            .map(|f| (f.status, f.reason.clone()))
            .unwrap()
    };
    assert_eq!(status("models/webbrowser.pkl").0, FileStatus::Fail);
    assert!(status("models/webbrowser.pkl").1.contains("dangerous"));
    assert_eq!(status("models/opaque.pt").0, FileStatus::Fail);
    assert!(status("models/views.pt").1.contains("unsigned"));
    assert_eq!(r.summary.quarantined, 3);
    assert!(!hostile.exists());
    assert_eq!(std::fs::read_dir(&qdir).unwrap().count(), 3 * 2 + 1); // files, reports, one sidecar
                                                                      // A second audit skips the quarantine directory and now passes.
    let r2 = audit_dir(dir.path(), &v, &AuditOptions::default()).unwrap();
    assert!(r2.pass, "{:#?}", r2.files);
    assert!(verify_log(&log).unwrap().is_ok());
}

#[test]
fn audit_follows_symlinks_out_of_the_root_and_judges_the_target() {
    let k = key();
    let dir = clean_dir(&k);
    let outside = tempfile::tempdir().unwrap();
    let target = copy_fixture("hostile/os_system_p2.pkl", outside.path());
    std::os::unix::fs::symlink(&target, dir.path().join("models/linked.pkl")).unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("elsewhere")).unwrap();
    let v = Verifier::new(&policy_for(&[&k])).unwrap();
    let r = audit_dir(dir.path(), &v, &AuditOptions::default()).unwrap();
    assert!(!r.pass);
    let find = |p: &str| r.files.iter().find(|f| f.path == Path::new(p)).unwrap();
    let linked = find("models/linked.pkl");
    assert_eq!(linked.status, FileStatus::Fail);
    assert_eq!(
        linked.target.as_deref(),
        Some(std::fs::canonicalize(&target).unwrap().as_path())
    );
    // The directory link is walked and the same file is refused there too.
    assert_eq!(find("elsewhere/os_system_p2.pkl").status, FileStatus::Fail);
    assert!(find("elsewhere").reason.contains("followed"));
    // What lies behind a link is never moved.
    assert!(target.exists());
}

#[test]
fn load_verified_returns_bytes_or_quarantines_and_logs() {
    let dir = tempfile::tempdir().unwrap();
    let f = copy_fixture("sklearn/anomaly_iforest_p4.pkl", dir.path());
    let k = key();
    sign(&f, &k);
    let log = dir.path().join("log.jsonl");
    let policy = OpsPolicy {
        quarantine_dir: Some(dir.path().join("q")),
        audit_log: Some(log.clone()),
        ..policy_for(&[&k])
    };
    let v = load_verified(&f, &policy).unwrap();
    match &v.model {
        Loaded::Bytes(b) => assert_eq!(&b[..], &std::fs::read(&f).unwrap()[..]),
        other => panic!("{other:?}"),
    }
    // Unsigned hostile file: refused as unsigned, quarantined, logged.
    let h = copy_fixture("hostile/runpy.pkl", dir.path());
    let bytes = std::fs::read(&h).unwrap();
    let e = load_verified(&h, &policy).unwrap_err();
    assert!(
        matches!(e.kind, RefusalKind::MissingSidecar { .. }),
        "{:?}",
        e.kind
    );
    let q = e.quarantined.clone().unwrap();
    assert_eq!(std::fs::read(&q).unwrap(), bytes);
    let rep: IncidentReport =
        serde_json::from_slice(&std::fs::read(e.incident_report.as_ref().unwrap()).unwrap())
            .unwrap();
    assert!(
        rep.findings.iter().any(|f| f.contains("inspection")),
        "{:?}",
        rep.findings
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("\"event\":\"load\"") && text.contains("\"event\":\"quarantine\""));
    assert!(text.contains("\"event\":\"inspect\""));
    assert_eq!(
        verify_log(&log).unwrap().unwrap().events,
        text.lines().count() as u64
    );
}

#[test]
fn signed_container_loads_through_the_container_policy() {
    use tensorseal::{Dtype, ModelInfo, WriteOptions, Writer};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signed.tseal");
    let info = ModelInfo {
        model_id: "m".into(),
        version: 3,
        ..ModelInfo::default()
    };
    let mut w = Writer::create(&path, info, WriteOptions::default()).unwrap();
    w.add("w", Dtype::F32, &[2], &[0u8; 8]).unwrap();
    w.finish().unwrap();
    let k = key();
    tensorseal::sign_file(&path, &k).unwrap();
    let mut policy = policy_for(&[&k]);
    policy.rollback_state = Some(dir.path().join("state.json"));
    let v = load_verified(&path, &policy).unwrap();
    assert!(matches!(v.model, Loaded::Container(_)));
    assert_eq!(v.report.trusted_signers, vec![k.fingerprint().to_string()]);
    // Another signer's key: refused by the loader, quarantined when asked.
    let other = OpsPolicy {
        quarantine_dir: Some(dir.path().join("q")),
        ..policy_for(&[&key()])
    };
    let e = load_verified(&path, &other).unwrap_err();
    assert!(
        matches!(e.kind, RefusalKind::Container { .. }),
        "{:?}",
        e.kind
    );
    assert!(e.quarantined.is_some() && !path.exists());
}

#[test]
fn unrecognised_content_needs_a_trusted_signature_even_when_unsigned_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("model.onnx");
    std::fs::write(&f, b"\x08\x07\x12\x04onnx-ish bytes").unwrap();
    let open = OpsPolicy {
        allow_unsigned: true,
        ..OpsPolicy::default()
    };
    let r = verify_file(&f, &open).unwrap();
    assert!(
        matches!(r.refusal, Some(RefusalKind::UnrecognisedContent { .. })),
        "{:?}",
        r.refusal
    );
    // Signed by a trusted key, the same bytes pass (the signature vouches for them).
    let k = key();
    let opts = SignOptions {
        model_id: Some("onnx-model".into()),
        ..SignOptions::default()
    };
    sign_file(&f, &k, &opts).unwrap();
    assert!(verify_file(&f, &policy_for(&[&k])).unwrap().ok());
    // Unsigned but recognised and safe content passes when unsigned files are allowed.
    let p = copy_fixture("safetensors/small.safetensors", dir.path());
    let r = verify_file(&p, &open).unwrap();
    assert!(r.ok(), "{:?}", r.refusal);
    assert!(r.warnings.iter().any(|w| w.contains("unsigned")));
}
