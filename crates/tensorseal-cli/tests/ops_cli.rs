//! Issue 5 "Done when", through the binary: a scikit-learn pickle signed with
//! a detached signature verifies; one appended byte makes `verify` refuse it
//! and `--quarantine` move it, byte-identical, next to an incident report; a
//! signed hostile pickle is still refused; `audit` passes a clean directory
//! and fails one with a tampered file, naming it in `--json`; the audit log
//! verifies, and editing any line breaks the chain. Nothing is unpickled.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn ts() -> Command {
    let mut c = Command::cargo_bin("tensorseal").unwrap();
    c.env_remove("TENSORSEAL_AUDIT_LOG");
    c
}

fn run(args: &[&str]) -> std::process::Output {
    ts().args(args).output().unwrap()
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

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/fixtures")
        .join(rel)
}

fn copy(rel: &str, dir: &Path) -> PathBuf {
    let src = fixture(rel);
    let dest = dir.join(src.file_name().unwrap());
    std::fs::write(&dest, std::fs::read(&src).unwrap()).unwrap();
    dest
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn keygen(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let prefix = dir.join(name);
    ok(&["keygen", "signer", "-o", s(&prefix)]);
    (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.pub")),
    )
}

fn json(out: &str) -> Value {
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn done_when_scenario() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let log = d.join("security.jsonl");
    let log_s = s(&log).to_owned();
    let (key, public) = keygen(d, "release");
    let models = d.join("models");
    std::fs::create_dir(&models).unwrap();
    let model = copy("sklearn/risk_logreg_p4.pkl", &models);

    // Sign with a detached signature and statement metadata.
    let out = ok(&[
        "--audit-log",
        &log_s,
        "sign",
        s(&model),
        "--key",
        s(&key),
        "--model-name",
        "risk_model",
        "--model-version",
        "v0.2.0",
        "--training-date",
        "2025-12-11",
        "--dep",
        "sklearn=1.3.0",
        "--dep",
        "numpy=1.24.3",
    ]);
    assert!(out.contains("risk_logreg_p4.pkl.sig.json"), "{out}");
    let sidecar = models.join("risk_logreg_p4.pkl.sig.json");
    assert!(sidecar.exists());

    // It verifies; --json lists every check.
    let out = ok(&[
        "verify",
        s(&model),
        "--trust",
        s(&public),
        "--json",
        "--audit-log",
        &log_s,
    ]);
    let v = json(&out);
    assert_eq!(v["ok"], true);
    assert!(v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["ok"] == true));
    assert_eq!(v["statement"]["model_version"], "v0.2.0");
    assert_eq!(v["statement"]["dependencies"]["sklearn"], "1.3.0");

    // A clean directory passes the audit.
    let out = ok(&["audit", s(&models), "--trust", s(&public), "--json"]);
    let a = json(&out);
    assert_eq!(a["pass"], true);
    assert_eq!(a["summary"]["model_files"], 1);

    // One appended byte: verify refuses and quarantines, byte-identical.
    let mut bytes = std::fs::read(&model).unwrap();
    bytes.push(b'.');
    std::fs::write(&model, &bytes).unwrap();

    // ...audit fails and names the file in --json (no quarantine here).
    let o = run(&["audit", s(&models), "--trust", s(&public), "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let a = json(&String::from_utf8_lossy(&o.stdout));
    assert_eq!(a["pass"], false);
    let failed: Vec<&Value> = a["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "fail")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["path"], "risk_logreg_p4.pkl");
    assert!(
        failed[0]["reason"].as_str().unwrap().contains("modified"),
        "{}",
        failed[0]
    );

    let q = d.join("quarantine");
    let o = run(&[
        "verify",
        s(&model),
        "--trust",
        s(&public),
        "--json",
        "--quarantine",
        s(&q),
        "--audit-log",
        &log_s,
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v = json(&String::from_utf8_lossy(&o.stdout));
    assert_eq!(v["ok"], false);
    assert_eq!(v["refusal"]["kind"], "tampered");
    assert!(!model.exists() && !sidecar.exists());
    let moved = PathBuf::from(v["quarantined_to"].as_str().unwrap());
    assert_eq!(std::fs::read(&moved).unwrap(), bytes, "byte-identical");
    assert!(PathBuf::from(format!("{}.sig.json", moved.display())).exists());
    let report: Value =
        serde_json::from_slice(&std::fs::read(v["incident_report"].as_str().unwrap()).unwrap())
            .unwrap();
    assert_eq!(report["size"], bytes.len() as u64);
    assert!(report["reason"]
        .as_str()
        .unwrap()
        .contains("modified since signing"));
    assert!(report["original_path"]
        .as_str()
        .unwrap()
        .ends_with("risk_logreg_p4.pkl"));
    assert!(report["operator"]["user"].is_string());
    assert!(report["tool_version"].is_string());
    assert_eq!(
        moved.parent(),
        Path::new(v["incident_report"].as_str().unwrap()).parent()
    );

    // A signed hostile pickle is still refused.
    let evil = copy("hostile/os_system_p4.pkl", &models);
    ok(&[
        "sign",
        s(&evil),
        "--key",
        s(&key),
        "--model-id",
        "evil",
        "--audit-log",
        &log_s,
    ]);
    let o = run(&[
        "verify",
        s(&evil),
        "--trust",
        s(&public),
        "--json",
        "--audit-log",
        &log_s,
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v = json(&String::from_utf8_lossy(&o.stdout));
    assert_eq!(v["refusal"]["kind"], "unsafe_content");
    assert_eq!(v["refusal"]["verdict"], "dangerous");

    // The log verifies; editing any line breaks the chain at that line.
    let out = ok(&["log", "verify", &log_s]);
    assert!(out.contains("chain intact"), "{out}");
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 6, "{text}");
    for i in 0..lines.len() {
        let mut edited: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        edited[i] = edited[i].replacen("\"outcome\":\"", "\"outcome\":\"x", 1);
        let bad = d.join(format!("edited{i}.jsonl"));
        std::fs::write(&bad, edited.join("\n") + "\n").unwrap();
        let o = run(&["log", "verify", s(&bad), "--json"]);
        assert_eq!(
            o.status.code(),
            Some(1),
            "edit of line {} not detected",
            i + 1
        );
        let v = json(&String::from_utf8_lossy(&o.stdout));
        assert_eq!(v["line"], i as u64 + 1);
    }
}

#[test]
fn policy_file_and_environment_audit_log() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (key, _public) = keygen(d, "ci");
    let models = d.join("models");
    std::fs::create_dir(&models).unwrap();
    let model = copy("sklearn/risk_logreg.joblib", &models);
    ok(&[
        "sign",
        s(&model),
        "--key",
        s(&key),
        "--model-id",
        "risk_model",
    ]);
    std::fs::write(
        d.join("policy.toml"),
        "trusted_keys = [\"ci.pub\"]\nthreshold = 1\nquarantine_dir = \"quarantine\"\naudit_log = \"policy-log.jsonl\"\n",
    )
    .unwrap();
    let policy = d.join("policy.toml");
    ok(&["audit", s(&models), "--policy", s(&policy)]);
    assert!(d.join("policy-log.jsonl").exists());
    // $TENSORSEAL_AUDIT_LOG is the default log when no flag or policy names one.
    let env_log = d.join("env.jsonl");
    let o = ts()
        .env("TENSORSEAL_AUDIT_LOG", &env_log)
        .args(["verify", s(&model), "--trust", s(&d.join("ci.pub"))])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::read_to_string(&env_log)
        .unwrap()
        .contains("\"event\":\"verify\""));
    // An unsigned model fails the policy's audit and is quarantined.
    let unsigned = copy("sklearn/risk_logreg_p2.pkl", &models);
    let o = run(&["audit", s(&models), "--policy", s(&policy), "--quiet"]);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("risk_logreg_p2.pkl") && out.contains("unsigned"),
        "{out}"
    );
    assert!(!unsigned.exists());
    assert!(std::fs::read_dir(d.join("quarantine")).unwrap().count() >= 2);
    ok(&["log", "verify", s(&d.join("policy-log.jsonl"))]);
}

#[test]
fn text_refusals_are_one_error_line() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (_key, public) = keygen(d, "k");
    let model = copy("sklearn/risk_logreg_p5.pkl", d);
    // No sidecar: refused, one line on stderr naming the file; checks on stdout.
    let o = run(&["verify", s(&model), "--trust", s(&public), "--quiet"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("risk_logreg_p5.pkl") && err.contains("unsigned"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("sidecar"));
    // A log that does not verify is an error naming the line.
    let log = d.join("log.jsonl");
    std::fs::write(&log, "{\"seq\":1}\n").unwrap();
    let o = run(&["log", "verify", s(&log)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("line 1"));
}
