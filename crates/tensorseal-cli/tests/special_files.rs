//! A model path that names a FIFO, a device or a link to either is refused
//! before a byte is read, by every command that reads a model: opening a FIFO
//! for reading blocks until a writer appears, and `/dev/zero` never ends, so a
//! verifier handed one would hang (the bug this pins: `verify`, `sign` and
//! `ls` on a FIFO waited forever).

#![cfg(target_os = "linux")]

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;

/// Runs the binary; a command still running after a minute is killed and
/// reported as a hang (a guard against waiting forever, not a timing check).
fn refused(args: &[&str]) {
    let mut c = Command::cargo_bin("tensorseal").unwrap();
    c.env_remove("TENSORSEAL_AUDIT_LOG")
        .env_remove("TENSORSEAL_PASSPHRASE")
        .timeout(Duration::from_secs(60))
        .args(args);
    let o = c
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: did not finish (hung on a special file?): {e}"));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
    .to_lowercase();
    let code = o.status.code();
    assert!(
        matches!(code, Some(1) | Some(2)),
        "{args:?}: exit {code:?} (None: killed after 60 s, hung), expected a refusal (1) or could-not-decide (2): {all}"
    );
    assert!(
        ["regular file", "fifo", "character device"]
            .iter()
            .any(|n| all.contains(n)),
        "{args:?}: the error does not say what the path is: {all}"
    );
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn fifos_devices_and_links_to_them_are_refused_not_waited_on() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let fifo = d.join("model.pkl");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let fifo_link = d.join("weights.tseal");
    std::os::unix::fs::symlink(&fifo, &fifo_link).unwrap();
    let fifo_link_other = d.join("weights.bin");
    std::os::unix::fs::symlink(&fifo, &fifo_link_other).unwrap();
    let zero = d.join("zero.tseal");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let key = d.join("k");
    let o = Command::cargo_bin("tensorseal")
        .unwrap()
        .args(["keygen", "signer", "-o", s(&key)])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let key = d.join("k.key");
    let out = d.join("out.tseal");
    let st = d.join("out.safetensors");
    for p in [&fifo, &fifo_link, &fifo_link_other, &zero] {
        let p = s(p);
        refused(&["verify", p, "--allow-unsigned"]);
        if p.ends_with(".tseal") {
            refused(&["sign", p, "--key", s(&key)]);
        } else {
            refused(&["sign", p, "--key", s(&key), "--model-id", "m"]);
        }
        refused(&["ls", p, "--allow-unsigned"]);
        refused(&["inspect", p]);
        refused(&["convert", p, "-o", s(&out)]);
        refused(&["export", p, "-o", s(&st), "--allow-unsigned"]);
        refused(&["log", "verify", p]);
        assert!(!out.exists() && !st.exists(), "{p}: an output was written");
    }
}
