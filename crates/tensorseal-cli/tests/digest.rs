//! `convert --digest`, and format 1 files refused with a clear message.

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

fn ls_json(file: &Path) -> Value {
    let o = ts()
        .arg("ls")
        .arg(file)
        .args(["--json", "--allow-unsigned"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn convert_records_the_digest_algorithm_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    for (flag, expected) in [
        (None, "blake3"),
        (Some("sha256"), "sha256"),
        (Some("blake3"), "blake3"),
    ] {
        let out = dir
            .path()
            .join(format!("{expected}-{}.tseal", flag.is_some()));
        let mut c = ts();
        c.arg("convert").arg(fixture()).arg("-o").arg(&out);
        if let Some(f) = flag {
            c.args(["--digest", f]);
        }
        c.assert().success();
        let v = ls_json(&out);
        assert_eq!(v["slice_digest"], expected, "{flag:?}");
        assert_eq!(v["format_version"], "2.0");
        // The source record stays SHA-256 (comparable with sha256sum).
        let source = &v["source"]["sha256"];
        let want = tensorseal::sha256(&std::fs::read(fixture()).unwrap());
        let want: String = want.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(source.as_str(), Some(want.as_str()), "{v}");
        ts().arg("verify")
            .arg(&out)
            .arg("--allow-unsigned")
            .assert()
            .success();
    }
    ts().arg("convert")
        .arg(fixture())
        .arg("-o")
        .arg(dir.path().join("x.tseal"))
        .args(["--digest", "md5"])
        .assert()
        .code(64);
}

#[test]
fn a_format_1_file_is_refused_as_format_1() {
    let v1 =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../formats/vectors/invalid/format_v1.tseal");
    let o = ts()
        .arg("verify")
        .arg(&v1)
        .arg("--allow-unsigned")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("format 1.0") && err.contains("re-convert"),
        "{err}"
    );
}
