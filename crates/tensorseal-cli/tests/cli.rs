//! The `tensorseal` binary end to end: outputs, exit statuses, one-line errors.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/fixtures/safetensors/small.safetensors")
}

fn ts() -> Command {
    Command::cargo_bin("tensorseal").unwrap()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn convert(dir: &Path) -> PathBuf {
    let out = dir.join("small.tseal");
    ts().args(["convert"])
        .arg(fixture())
        .arg("-o")
        .arg(&out)
        .args([
            "--model-id",
            "risk",
            "--version",
            "4",
            "--meta",
            "owner=ml-team",
        ])
        .args([
            "--meta",
            "epochs:int=12",
            "--dep",
            "torch=2.5.1",
            "--training-date",
            "2026-10-01",
        ])
        .assert()
        .success();
    out
}

#[test]
fn convert_ls_verify_export() {
    let dir = tempfile::tempdir().unwrap();
    let out = convert(dir.path());

    let o = ts()
        .arg("ls")
        .arg(&out)
        .args(["--json", "--allow-unsigned"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["model_id"], "risk");
    assert_eq!(v["version"], 4);
    assert_eq!(v["metadata"]["owner"], "ml-team");
    assert_eq!(v["metadata"]["epochs"], 12);
    assert_eq!(v["metadata"]["model_name"], "risk_model");
    assert_eq!(v["dependencies"]["torch"], "2.5.1");
    let tensors = v["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), 3);
    let embed = tensors
        .iter()
        .find(|t| t["name"] == "embed.weight")
        .unwrap();
    assert_eq!(embed["dtype"], "F32");
    assert_eq!(embed["shape"], serde_json::json!([10, 4]));
    assert_eq!(embed["length"], 160);
    assert_eq!(embed["offset"].as_u64().unwrap() % 64, 0);
    assert_eq!(embed["sha256"].as_str().unwrap().len(), 64);

    let o = ts()
        .arg("verify")
        .arg(&out)
        .args(["--allow-unsigned", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], true);

    let st = dir.path().join("back.safetensors");
    ts().arg("export")
        .arg(&out)
        .arg("-o")
        .arg(&st)
        .arg("--allow-unsigned")
        .assert()
        .success();
    assert!(st.exists());
}

#[test]
fn unsigned_is_refused_without_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = convert(dir.path());
    for cmd in ["verify", "ls"] {
        let o = ts().arg(cmd).arg(&out).output().unwrap();
        assert_eq!(o.status.code(), Some(1));
        let e = stderr(&o);
        assert!(e.contains("unsigned file refused"), "{e}");
        assert_eq!(e.trim_end().lines().count(), 1, "one line: {e}");
    }
}

#[test]
fn tampered_file_fails_verify_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = convert(dir.path());
    let mut bytes = std::fs::read(&out).unwrap();
    bytes[4096 + 3] ^= 0x40;
    std::fs::write(&out, &bytes).unwrap();
    let o = ts()
        .arg("verify")
        .arg(&out)
        .arg("--allow-unsigned")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.starts_with("tensorseal: error: "), "{e}");
    assert!(
        e.contains("small.tseal") && e.contains("slice 0") && e.contains("offset 4096"),
        "{e}"
    );
    assert_eq!(e.trim_end().lines().count(), 1);
    assert!(!e.contains("panicked"));

    let o = ts()
        .arg("verify")
        .arg(&out)
        .args(["--allow-unsigned", "--json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert!(v["error"].as_str().unwrap().contains("digest mismatch"));
}

#[test]
fn convert_refuses_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.tseal");
    std::fs::write(&out, b"keep me").unwrap();
    let o = ts()
        .arg("convert")
        .arg(fixture())
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    ts().arg("convert")
        .arg(fixture())
        .arg("-o")
        .arg(&out)
        .arg("--force")
        .assert()
        .success();
}

#[test]
fn garbage_and_missing_files_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.tseal");
    std::fs::write(&junk, vec![0x42u8; 10_000]).unwrap();
    // Garbage is a finding about the file (1); a missing file decides
    // nothing about any model (2).
    for (f, code) in [(junk, 1), (dir.path().join("missing.tseal"), 2)] {
        let o = ts()
            .arg("verify")
            .arg(&f)
            .arg("--allow-unsigned")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(code));
        let e = stderr(&o);
        assert_eq!(e.trim_end().lines().count(), 1, "{e}");
        assert!(e.contains(f.file_name().unwrap().to_str().unwrap()), "{e}");
    }
}

#[test]
fn usage_errors_exit_64() {
    let o = ts().args(["convert"]).output().unwrap();
    assert_eq!(o.status.code(), Some(64));
    let o = ts()
        .arg("convert")
        .arg(fixture())
        .args(["-o", "x", "--meta", "novalue"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(64));
}

#[test]
fn demo_runs() {
    let o = ts().arg("demo").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("output = "), "{out}");
    assert!(out.contains("refused, as it must be"), "{out}");
    assert!(out.contains("demo complete"));
}
