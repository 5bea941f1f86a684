//! The "Done when" scenario, end to end through the binary: keygen,
//! convert --sign --to, keyless and keyed verification, every refusal, grants,
//! counter-signing, key file errors.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn ts() -> Command {
    Command::cargo_bin("tensorseal").unwrap()
}

fn run(args: &[&str]) -> std::process::Output {
    ts().args(args).output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(
        o.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs a command that must be refused with exit 1 and one error line containing `needle`.
fn refused(args: &[&str], needle: &str) {
    fails(args, 1, needle)
}

/// Runs a command that must fail on the verifier's side (a bad key or
/// identity: exit 2) with one error line containing `needle`.
fn undecided(args: &[&str], needle: &str) {
    fails(args, 2, needle)
}

fn fails(args: &[&str], code: i32, needle: &str) {
    let o = run(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(code),
        "{args:?} was not refused: {err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.to_lowercase().contains(&needle.to_lowercase()),
        "{args:?}: expected {needle:?} in {err}"
    );
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

type Tensors = Vec<(&'static str, &'static str, Vec<u64>, Vec<u8>)>;

fn model(seed: u8) -> Tensors {
    let f = |n: usize, k: f32| -> Vec<u8> {
        (0..n)
            .flat_map(|i| (i as f32 * k + seed as f32).to_le_bytes())
            .collect()
    };
    vec![
        ("embed.weight", "F32", vec![8, 4], f(32, 0.25)),
        ("layers.0.weight", "F32", vec![4, 4], f(16, -1.5)),
        ("layers.0.bias", "F32", vec![4], f(4, 2.0)),
        ("lm_head.weight", "F32", vec![4, 8], f(32, 0.125)),
    ]
}

/// Writes a .safetensors file by hand (8-byte header length, JSON header, data).
fn safetensors(path: &Path, tensors: &Tensors) {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, dtype, shape, bytes) in tensors {
        header.insert(
            name.to_string(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [data.len(), data.len() + bytes.len()]}),
        );
        data.extend_from_slice(bytes);
    }
    let mut h = serde_json::to_vec(&Value::Object(header)).unwrap();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(&data);
    std::fs::write(path, out).unwrap();
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

struct Env {
    _dir: tempfile::TempDir,
    d: PathBuf,
}

impl Env {
    fn p(&self, name: &str) -> PathBuf {
        self.d.join(name)
    }

    fn convert(&self, out: &str, seed: u8, version: &str, extra: &[&str]) -> PathBuf {
        let src = self.p(&format!("src-{out}.safetensors"));
        safetensors(&src, &model(seed));
        let dest = self.p(out);
        let mut args = vec![
            "convert",
            s(&src),
            "-o",
            s(&dest),
            "--model-id",
            "acme/lm",
            "--version",
            version,
        ];
        if !extra.contains(&"--slices") {
            args.extend_from_slice(&["--slices", "per-tensor"]);
        }
        args.extend_from_slice(extra);
        ok(&args);
        dest
    }
}

#[test]
fn done_when_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let e = Env {
        d: dir.path().to_path_buf(),
        _dir: dir,
    };
    for (kind, name) in [
        ("signer", "signer"),
        ("signer", "reviewer"),
        ("signer", "mallory"),
        ("recipient", "owner"),
        ("recipient", "worker"),
        ("recipient", "stranger"),
    ] {
        let out = ok(&["keygen", kind, "-o", s(&e.p(name))]);
        assert!(out.contains("fingerprint: "), "{out}");
    }
    // Secret keys are 0600 and never overwritten.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(e.p("owner.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    refused(&["keygen", "signer", "-o", s(&e.p("signer"))], "overwrite");

    let (signer_key, signer_pub) = (e.p("signer.key"), e.p("signer.pub"));
    let (owner_key, owner_pub) = (e.p("owner.key"), e.p("owner.pub"));
    let sealed_args = ["--sign", s(&signer_key), "--to", s(&owner_pub)];
    let m = e.convert("m.tseal", 1, "2", &sealed_args);
    let m = s(&m);
    let trust = ["--trust", s(&signer_pub)];

    // Keyless verification with --trust alone, and with --identity.
    let out = ok(&["verify", m, trust[0], trust[1]]);
    assert!(out.contains("OK") && out.contains("trusted"), "{out}");
    let out = ok(&["verify", m, trust[0], trust[1], "--identity", s(&owner_key)]);
    assert!(out.contains("4 of 4 tensors decrypted"), "{out}");

    // The tensors come back exact.
    let ls = ok(&[
        "ls",
        m,
        "--json",
        trust[0],
        trust[1],
        "--identity",
        s(&owner_key),
    ]);
    let doc: Value = serde_json::from_str(&ls).unwrap();
    assert_eq!(doc["encrypted"], true);
    assert_eq!(doc["signatures"][0]["trusted"], true);
    for (t, (name, _, _, bytes)) in doc["tensors"].as_array().unwrap().iter().zip(model(1)) {
        assert_eq!(t["name"], name);
        assert_eq!(t["readable"], true);
        assert_eq!(t["sha256"], hex(&Sha256::digest(&bytes)));
    }
    let exported = e.p("out.safetensors");
    ok(&[
        "export",
        m,
        "-o",
        s(&exported),
        trust[0],
        trust[1],
        "--identity",
        s(&owner_key),
    ]);
    let raw = std::fs::read(&exported).unwrap();
    for (_, _, _, bytes) in model(1) {
        assert!(raw.windows(bytes.len()).any(|w| w == &bytes[..]));
    }
    // Keyless ls shows metadata, no digests of plaintext.
    let doc: Value = serde_json::from_str(&ok(&["ls", m, "--json", trust[0], trust[1]])).unwrap();
    assert!(doc["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["sha256"].is_null() && t["readable"] == false));

    // Refusals: untrusted signer, unsigned under a trust policy, wrong key, wrong key type.
    refused(
        &["verify", m, "--trust", s(&e.p("mallory.pub"))],
        "signed only by untrusted",
    );
    let unsigned = e.convert("u.tseal", 1, "2", &[]);
    refused(
        &["verify", s(&unsigned), trust[0], trust[1]],
        "unsigned file refused",
    );
    undecided(
        &[
            "verify",
            m,
            trust[0],
            trust[1],
            "--identity",
            s(&e.p("stranger.key")),
        ],
        "wrong key",
    );
    undecided(
        &[
            "verify",
            m,
            trust[0],
            trust[1],
            "--identity",
            s(&signer_key),
        ],
        "expected a recipient secret key, found a signer secret key",
    );
    undecided(
        &["verify", m, "--trust", s(&owner_pub)],
        "signer public key",
    );
    refused(
        &["verify", m, trust[0], trust[1], "--threshold", "2"],
        "requires 2",
    );

    // Bit flips and truncations (the library tests try every one).
    let bytes = std::fs::read(m).unwrap();
    let bad = e.p("bad.tseal");
    for at in [
        10,
        4096 + 3,
        bytes.len() / 2,
        bytes.len() - 200,
        bytes.len() - 1,
    ] {
        let mut b = bytes.clone();
        b[at] ^= 0x04;
        std::fs::write(&bad, &b).unwrap();
        let o = run(&["verify", s(&bad), trust[0], trust[1]]);
        assert_eq!(o.status.code(), Some(1), "flip at {at} accepted");
    }
    for len in [0, 100, 5000, bytes.len() - 129, bytes.len() - 1] {
        std::fs::write(&bad, &bytes[..len]).unwrap();
        let o = run(&["verify", s(&bad), trust[0], trust[1]]);
        assert_eq!(o.status.code(), Some(1), "truncation to {len} accepted");
    }

    // Rollback, equivocation, expiry.
    let state = e.p("state.json");
    let st = ["--state", s(&state)];
    ok(&["verify", m, trust[0], trust[1], st[0], st[1]]);
    let v1 = e.convert("v1.tseal", 1, "1", &sealed_args);
    refused(
        &["verify", s(&v1), trust[0], trust[1], st[0], st[1]],
        "rollback refused",
    );
    let v2b = e.convert("v2b.tseal", 9, "2", &sealed_args);
    refused(
        &["verify", s(&v2b), trust[0], trust[1], st[0], st[1]],
        "equivocation refused",
    );
    // Opening (ls, export) never touches the rollback state.
    ok(&["ls", s(&v1), trust[0], trust[1]]);
    let expired = e.convert(
        "x.tseal",
        1,
        "3",
        &[
            "--sign",
            s(&signer_key),
            "--expires",
            "2001-01-01T00:00:00Z",
        ],
    );
    refused(&["verify", s(&expired), trust[0], trust[1]], "expired");
    let v3 = e.convert("v3.tseal", 1, "3", &sealed_args);
    ok(&["verify", s(&v3), trust[0], trust[1], st[0], st[1]]);
    refused(
        &[
            "verify",
            m,
            trust[0],
            trust[1],
            st[0],
            st[1],
            "--identity",
            s(&owner_key),
        ],
        "rollback refused",
    );

    // A worker granted embed.* reads embed.weight and nothing else.
    let out = ok(&[
        "grant",
        m,
        "--identity",
        s(&owner_key),
        "--to",
        s(&e.p("worker.pub")),
        "--tensors",
        "embed.*",
    ]);
    assert!(out.contains("embed.weight"), "{out}");
    ok(&["verify", m, trust[0], trust[1]]); // the signature still verifies
    let worker_key = e.p("worker.key");
    let worker = ["--identity", s(&worker_key)];
    let doc: Value = serde_json::from_str(&ok(&[
        "ls", m, "--json", trust[0], trust[1], worker[0], worker[1],
    ]))
    .unwrap();
    for t in doc["tensors"].as_array().unwrap() {
        if t["name"] == "embed.weight" {
            assert_eq!(t["readable"], true);
            assert_eq!(t["sha256"], hex(&Sha256::digest(&model(1)[0].3)));
        } else {
            assert_eq!(t["readable"], false, "{t}");
            assert!(t["sha256"].is_null());
        }
    }
    refused(
        &[
            "export",
            m,
            "-o",
            s(&e.p("w.safetensors")),
            trust[0],
            trust[1],
            worker[0],
            worker[1],
        ],
        "not granted",
    );
    // The owner still reads everything.
    ok(&["verify", m, trust[0], trust[1], "--identity", s(&owner_key)]);

    // Counter-signing: a second signer, then a threshold of two, trust from a directory.
    ok(&["sign", m, "--key", s(&e.p("reviewer.key"))]);
    let tdir = e.p("trusted");
    std::fs::create_dir(&tdir).unwrap();
    for k in ["signer", "reviewer"] {
        std::fs::copy(e.p(&format!("{k}.pub")), tdir.join(format!("{k}.pub"))).unwrap();
    }
    std::fs::copy(&owner_pub, tdir.join("owner.pub")).unwrap(); // recipient keys are skipped
    let out = ok(&[
        "verify",
        m,
        "--trust",
        s(&tdir),
        "--threshold",
        "2",
        worker[0],
        worker[1],
    ]);
    assert!(out.contains("2 valid signature(s)"), "{out}");
    refused(
        &["sign", m, "--key", s(&e.p("reviewer.key"))],
        "already signed",
    );

    // Key files: wrong type, truncated, bad armor (the operator's problem: exit 2).
    undecided(
        &["sign", m, "--key", s(&owner_key)],
        "expected a signer secret key",
    );
    let text = std::fs::read_to_string(&signer_key).unwrap();
    let cut = e.p("cut.key");
    std::fs::write(&cut, &text[..text.len() / 2]).unwrap();
    undecided(&["sign", m, "--key", s(&cut)], "cut.key");
    let armor = e.p("armor.key");
    std::fs::write(&armor, text.replace("BEGIN", "BEGUN")).unwrap();
    undecided(&["sign", m, "--key", s(&armor)], "armor.key");
    undecided(
        &[
            "grant",
            m,
            "--identity",
            s(&owner_key),
            "--to",
            s(&signer_pub),
            "--tensors",
            "*",
        ],
        "expected a recipient public key",
    );
}

#[test]
fn grant_refuses_mixed_slices() {
    let dir = tempfile::tempdir().unwrap();
    let e = Env {
        d: dir.path().to_path_buf(),
        _dir: dir,
    };
    ok(&["keygen", "recipient", "-o", s(&e.p("owner"))]);
    ok(&["keygen", "recipient", "-o", s(&e.p("worker"))]);
    let m = e.convert(
        "g.tseal",
        1,
        "1",
        &[
            "--to",
            s(&e.p("owner.pub")),
            "--slices",
            "max-bytes=1000000",
        ],
    );
    refused(
        &[
            "grant",
            s(&m),
            "--identity",
            s(&e.p("owner.key")),
            "--to",
            s(&e.p("worker.pub")),
            "--tensors",
            "embed.*",
        ],
        "holds tensors matching",
    );
}
