//! Through the binary: rollback per model id across trusted signers, one
//! store for containers and detached files, `--model-id` binding
//! (substitution), exit 2 and no quarantine for verifier-side problems,
//! announced quarantine moves, sidecars that are not regular files.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn run(args: &[&str]) -> std::process::Output {
    let mut c = Command::cargo_bin("tensorseal").unwrap();
    c.env_remove("TENSORSEAL_AUDIT_LOG");
    c.args(args).output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(
        o.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs `args`, expects exit `code` and `needle` in stdout or stderr; returns stderr.
fn exits(args: &[&str], code: i32, needle: &str) -> String {
    let o = run(args);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(code), "{args:?}: {all}");
    assert!(
        all.to_lowercase().contains(&needle.to_lowercase()),
        "{args:?}: expected {needle:?} in {all}"
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/fixtures")
        .join(rel)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn keygen(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    ok(&["keygen", "signer", "-o", s(&dir.join(name))]);
    (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.pub")),
    )
}

/// A container of `model_id` `version`, converted from a fixture and signed by `key`.
fn container(
    dir: &Path,
    out: &str,
    src: &str,
    model_id: &str,
    version: &str,
    key: &Path,
) -> PathBuf {
    let dest = dir.join(out);
    ok(&[
        "convert",
        s(&fixture(src)),
        "-o",
        s(&dest),
        "--model-id",
        model_id,
        "--version",
        version,
        "--sign",
        s(key),
    ]);
    dest
}

/// A detached release: a copy of `src` signed as `model` `version`.
fn detached(dir: &Path, name: &str, src: &str, model: &str, version: &str, key: &Path) -> PathBuf {
    let f = dir.join(name);
    std::fs::copy(fixture(src), &f).unwrap();
    ok(&[
        "sign",
        s(&f),
        "--key",
        s(key),
        "--model-id",
        model,
        "--model-version",
        version,
    ]);
    f
}

fn sidecar(p: &Path) -> PathBuf {
    PathBuf::from(format!("{}.sig.json", p.display()))
}

#[test]
fn a_container_rollback_by_another_trusted_signer_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (ka, pa) = keygen(d, "a");
    let (kb, pb) = keygen(d, "b");
    let v2 = container(
        d,
        "v2.tseal",
        "torch/mlp_state_dict.pt",
        "acme/lm",
        "2",
        &ka,
    );
    let v1 = container(
        d,
        "v1.tseal",
        "torch/mlp_state_dict.pt",
        "acme/lm",
        "1",
        &kb,
    );
    let state = d.join("state.json");
    let common = ["--trust", s(&pa), "--trust", s(&pb), "--state", s(&state)];
    let mut args = vec!["verify", s(&v2)];
    args.extend_from_slice(&common);
    ok(&args);
    let mut args = vec!["verify", s(&v1)];
    args.extend_from_slice(&common);
    exits(&args, 1, "rollback refused");
}

#[test]
fn a_signed_container_of_another_model_is_a_substitution() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (k, p) = keygen(d, "a");
    let other = container(
        d,
        "lm.tseal",
        "torch/mlp_state_dict.pt",
        "acme/other",
        "1",
        &k,
    );
    exits(
        &[
            "verify",
            s(&other),
            "--trust",
            s(&p),
            "--model-id",
            "acme/lm",
        ],
        1,
        "substitution refused",
    );
    ok(&[
        "verify",
        s(&other),
        "--trust",
        s(&p),
        "--model-id",
        "acme/other",
    ]);
}

#[test]
fn an_older_detached_release_copied_over_the_deployed_path_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (k, p) = keygen(d, "a");
    let old = detached(
        d,
        "risk_v1.pkl",
        "sklearn/risk_logreg_p4.pkl",
        "risk",
        "1.0",
        &k,
    );
    let new = detached(
        d,
        "risk_v2.pkl",
        "sklearn/risk_logreg_p5.pkl",
        "risk",
        "1.1",
        &k,
    );
    let deployed = d.join("risk.pkl");
    let state = d.join("state.json");
    let verify = [
        "verify",
        s(&deployed),
        "--trust",
        s(&p),
        "--model-id",
        "risk",
        "--state",
        s(&state),
    ];
    for (src, code) in [(&new, 0), (&old, 1)] {
        std::fs::copy(src, &deployed).unwrap();
        std::fs::copy(sidecar(src), sidecar(&deployed)).unwrap();
        exits(
            &verify,
            code,
            if code == 0 { "OK" } else { "rollback refused" },
        );
    }
    // A signed file of another model is a substitution.
    let fraud = detached(
        d,
        "fraud.pkl",
        "sklearn/risk_logreg_p4.pkl",
        "fraud",
        "9",
        &k,
    );
    exits(
        &["verify", s(&fraud), "--trust", s(&p), "--model-id", "risk"],
        1,
        "substitution",
    );
    // --model-name stays as an alias of --model-id when signing; none at all is a usage error.
    let alias = d.join("alias.pkl");
    std::fs::copy(fixture("sklearn/risk_logreg_p4.pkl"), &alias).unwrap();
    exits(&["sign", s(&alias), "--key", s(&k)], 64, "--model-id");
    ok(&["sign", s(&alias), "--key", s(&k), "--model-name", "risk"]);
    ok(&["verify", s(&alias), "--trust", s(&p), "--model-id", "risk"]);
}

#[test]
fn a_corrupt_state_exits_2_and_never_quarantines() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (k, p) = keygen(d, "a");
    let state = d.join("state.json");
    std::fs::write(&state, "{corrupt").unwrap();
    let q = d.join("q");
    let c = container(d, "m.tseal", "torch/mlp_state_dict.pt", "acme/lm", "1", &k);
    let f = detached(d, "m.pkl", "sklearn/risk_logreg_p4.pkl", "risk", "1", &k);
    for file in [&c, &f] {
        exits(
            &[
                "verify",
                s(file),
                "--trust",
                s(&p),
                "--state",
                s(&state),
                "--quarantine",
                s(&q),
            ],
            2,
            "rollback state",
        );
        assert!(file.exists(), "{file:?} was moved");
    }
    assert!(!q.exists() || std::fs::read_dir(&q).unwrap().count() == 0);
    // An old-format state file: exit 2 with a clear message, file kept as is.
    let old = r#"{"format": "tensorseal-rollback-state", "version": 1, "entries": []}"#;
    std::fs::write(&state, old).unwrap();
    exits(
        &["verify", s(&c), "--trust", s(&p), "--state", s(&state)],
        2,
        "version 1",
    );
    assert_eq!(std::fs::read_to_string(&state).unwrap(), old);
    // An unreadable key is the verifier's problem too.
    exits(
        &[
            "verify",
            s(&c),
            "--trust",
            s(&d.join("missing.pub")),
            "--quarantine",
            s(&q),
        ],
        2,
        "missing.pub",
    );
    assert!(c.exists());
}

#[test]
fn quarantine_moves_are_announced_even_in_json_and_policy_model_id_binds_audit() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (k, _) = keygen(d, "ci");
    let repo = d.join("repo");
    std::fs::create_dir(&repo).unwrap();
    detached(
        &repo,
        "risk.pkl",
        "sklearn/risk_logreg_p4.pkl",
        "risk_model",
        "1",
        &k,
    );
    detached(
        &repo,
        "fraud.pkl",
        "sklearn/risk_logreg_p5.pkl",
        "fraud_model",
        "1",
        &k,
    );
    let policy = d.join("policy.toml");
    std::fs::write(
        &policy,
        "trusted_keys = [\"ci.pub\"]\nmodel_id = \"risk_model\"\nquarantine_dir = \"quarantine\"\n",
    )
    .unwrap();
    let err = exits(
        &["audit", s(&repo), "--policy", s(&policy), "--json"],
        1,
        "substitution",
    );
    // Relative paths are relative to the policy file's directory.
    let q = d.join("quarantine");
    assert!(
        err.contains("quarantined to") && err.contains(s(&q)),
        "{err}"
    );
    assert!(!repo.join("fraud.pkl").exists() && repo.join("risk.pkl").exists());
}

#[cfg(target_os = "linux")]
#[test]
fn a_fifo_or_dev_zero_sidecar_is_refused_not_waited_on() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (_, p) = keygen(d, "a");
    let f = d.join("m.pkl");
    std::fs::copy(fixture("sklearn/risk_logreg_p4.pkl"), &f).unwrap();
    assert!(std::process::Command::new("mkfifo")
        .arg(sidecar(&f))
        .status()
        .unwrap()
        .success());
    exits(&["verify", s(&f), "--trust", s(&p)], 1, "FIFO");
    std::fs::remove_file(sidecar(&f)).unwrap();
    std::os::unix::fs::symlink("/dev/zero", sidecar(&f)).unwrap();
    exits(&["verify", s(&f), "--trust", s(&p)], 1, "character device");
}
