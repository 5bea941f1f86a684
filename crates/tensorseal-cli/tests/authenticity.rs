//! `verify` says what it checked: decrypting an unsigned file is integrity,
//! not authenticity (anyone with a recipient's public key can make one).

use std::path::Path;

use assert_cmd::Command;

fn ok(args: &[&str]) -> String {
    let o = Command::cargo_bin("tensorseal")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A two-tensor .safetensors file (8-byte header length, JSON header, data).
fn safetensors(path: &Path) {
    let h = br#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#;
    let mut h = h.to_vec();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(&[0u8; 12]);
    std::fs::write(path, out).unwrap();
}

#[test]
fn verify_does_not_call_an_unsigned_decrypted_file_authenticated() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    for (kind, name) in [
        ("recipient", "owner"),
        ("recipient", "worker"),
        ("signer", "signer"),
    ] {
        ok(&["keygen", kind, "-o", s(&p(name))]);
    }
    safetensors(&p("src.safetensors"));
    let (src, owner_pub, owner_key) = (p("src.safetensors"), p("owner.pub"), p("owner.key"));
    let convert = |out: &str, extra: &[&str]| {
        let dest = p(out);
        let mut args = vec![
            "convert",
            s(&src),
            "-o",
            s(&dest),
            "--model-id",
            "m",
            "--version",
            "1",
            "--slices",
            "per-tensor",
            "--to",
            s(&owner_pub),
        ];
        args.extend_from_slice(extra);
        ok(&args);
    };
    convert("u.tseal", &[]);
    let owner = ["--identity", s(&owner_key)];
    let u = s(&p("u.tseal")).to_string();
    let out = ok(&["verify", &u, "--allow-unsigned", owner[0], owner[1]]);
    assert!(
        out.contains("2 of 2 tensors decrypted, integrity checked, not signed by a trusted signer"),
        "{out}"
    );
    assert!(!out.contains("authenticated"), "{out}");
    let json = ok(&[
        "verify",
        &u,
        "--allow-unsigned",
        owner[0],
        owner[1],
        "--json",
    ]);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["authenticated"], false);
    assert_eq!(doc["header_mac_checked"], true);

    // A grant holder cannot even check the header MAC.
    let (worker_pub, worker_key) = (p("worker.pub"), p("worker.key"));
    ok(&[
        "grant",
        &u,
        owner[0],
        owner[1],
        "--to",
        s(&worker_pub),
        "--tensors",
        "a",
    ]);
    let out = ok(&[
        "verify",
        &u,
        "--allow-unsigned",
        "--identity",
        s(&worker_key),
    ]);
    assert!(
        out.contains("1 of 2 tensors decrypted, integrity checked, not signed by a trusted signer; tensor names and shapes not authenticated"),
        "{out}"
    );

    // Signed by a trusted signer: authenticated.
    let (signer_key, signer_pub, signed) = (p("signer.key"), p("signer.pub"), p("s.tseal"));
    convert("s.tseal", &["--sign", s(&signer_key)]);
    let out = ok(&[
        "verify",
        s(&signed),
        "--trust",
        s(&signer_pub),
        owner[0],
        owner[1],
    ]);
    assert!(
        out.contains("2 of 2 tensors decrypted and authenticated by a trusted signature"),
        "{out}"
    );
}
