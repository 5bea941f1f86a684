//! Passphrase-protected secret keys through the binary: `keygen --passphrase`,
//! then `convert --sign --to`, `sign --key` and `ls --identity` with
//! $TENSORSEAL_PASSPHRASE, without it (standard input is not a terminal here)
//! and with a wrong one.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

const ENV: &str = "TENSORSEAL_PASSPHRASE";
const PASS: &str = "hunter2 but longer";

/// The binary, with no passphrase in its environment unless `pass` is given.
fn run(args: &[&str], pass: Option<&str>) -> std::process::Output {
    let mut c = Command::cargo_bin("tensorseal").unwrap();
    c.env_remove(ENV).env_remove("TENSORSEAL_AUDIT_LOG");
    if let Some(p) = pass {
        c.env(ENV, p);
    }
    c.args(args).output().unwrap()
}

fn ok(args: &[&str], pass: Option<&str>) -> String {
    let o = run(args, pass);
    assert!(
        o.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Must fail with exit 1 and exactly `tensorseal: error: {expected}` on stderr.
fn refused_exactly(args: &[&str], pass: Option<&str>, expected: &str) {
    let o = run(args, pass);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{args:?} was not refused: {err}");
    assert_eq!(err, format!("tensorseal: error: {expected}\n"), "{args:?}");
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A small .safetensors file (8-byte header length, JSON header, data).
fn safetensors(path: &Path) {
    let data: Vec<u8> = (0..16u32).flat_map(|i| (i as f32).to_le_bytes()).collect();
    let mut h = serde_json::to_vec(&serde_json::json!({
        "w": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, data.len()]}
    }))
    .unwrap();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(&data);
    std::fs::write(path, out).unwrap();
}

fn protected_msg(key: &Path) -> String {
    format!(
        "{}: passphrase-protected secret key; set TENSORSEAL_PASSPHRASE or run interactively",
        key.display()
    )
}

fn wrong_msg(key: &Path) -> String {
    format!("{}: wrong passphrase or corrupted key file", key.display())
}

#[test]
fn protected_keys_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| -> PathBuf { dir.path().join(n) };

    // keygen --passphrase with the variable set.
    for (kind, name) in [
        ("signer", "signer"),
        ("signer", "cosigner"),
        ("recipient", "owner"),
    ] {
        let out = ok(
            &["keygen", kind, "-o", s(&p(name)), "--passphrase"],
            Some(PASS),
        );
        assert!(out.contains("passphrase-protected"), "{out}");
        let key = p(&format!("{name}.key"));
        let text = std::fs::read_to_string(&key).unwrap();
        assert!(
            text.starts_with(
                "-----BEGIN TENSORSEAL ENCRYPTED SECRET KEY-----\n# kdf: scrypt log_n=17 r=8 p=1\n"
            ),
            "{text}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // The public half is an ordinary public key file.
        let public = std::fs::read_to_string(p(&format!("{name}.pub"))).unwrap();
        assert!(
            public.starts_with("-----BEGIN TENSORSEAL SIGNER PUBLIC KEY-----")
                || public.starts_with("age1pq1"),
            "{public}"
        );
    }
    let (signer, signer_pub) = (p("signer.key"), p("signer.pub"));
    let (cosigner, cosigner_pub) = (p("cosigner.key"), p("cosigner.pub"));
    let (owner, owner_pub) = (p("owner.key"), p("owner.pub"));

    // keygen --passphrase without a passphrase, or with an empty one: refused,
    // nothing written.
    refused_exactly(
        &["keygen", "signer", "-o", s(&p("nokey")), "--passphrase"],
        None,
        &format!(
            "{}: --passphrase needs a passphrase; set TENSORSEAL_PASSPHRASE or run interactively",
            p("nokey.key").display()
        ),
    );
    refused_exactly(
        &["keygen", "signer", "-o", s(&p("nokey")), "--passphrase"],
        Some(""),
        "TENSORSEAL_PASSPHRASE is empty; refusing an empty passphrase",
    );
    assert!(!p("nokey.key").exists() && !p("nokey.pub").exists());

    // convert --sign --to with a protected signer key.
    let src = p("m.safetensors");
    safetensors(&src);
    let m = p("m.tseal");
    let convert = [
        "convert",
        s(&src),
        "-o",
        s(&m),
        "--model-id",
        "acme/lm",
        "--version",
        "1",
        "--sign",
        s(&signer),
        "--to",
        s(&owner_pub),
    ];
    refused_exactly(&convert, None, &protected_msg(&signer));
    refused_exactly(&convert, Some("wrong"), &wrong_msg(&signer));
    assert!(!m.exists());
    ok(&convert, Some(PASS));

    // ls --identity with a protected recipient key.
    let ls = [
        "ls",
        s(&m),
        "--json",
        "--trust",
        s(&signer_pub),
        "--identity",
        s(&owner),
    ];
    let doc: Value = serde_json::from_str(&ok(&ls, Some(PASS))).unwrap();
    assert_eq!(doc["encrypted"], true);
    assert_eq!(doc["signatures"][0]["trusted"], true);
    assert_eq!(doc["tensors"][0]["readable"], true);
    refused_exactly(&ls, None, &protected_msg(&owner));
    refused_exactly(&ls, Some("wrong"), &wrong_msg(&owner));

    // sign --key with a protected key.
    let sign = ["sign", s(&m), "--key", s(&cosigner)];
    refused_exactly(&sign, None, &protected_msg(&cosigner));
    refused_exactly(&sign, Some("wrong"), &wrong_msg(&cosigner));
    ok(&sign, Some(PASS));
    let doc: Value = serde_json::from_str(&ok(
        &[
            "ls",
            s(&m),
            "--json",
            "--trust",
            s(&signer_pub),
            "--trust",
            s(&cosigner_pub),
        ],
        None,
    ))
    .unwrap();
    assert_eq!(doc["signatures"].as_array().unwrap().len(), 2, "{doc}");

    // A protected key given where a public key belongs is named as such.
    // A bad key is the verifier's problem, not a finding: exit 2.
    let o = run(&["ls", s(&m), "--trust", s(&signer)], None);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("passphrase-protected"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}
