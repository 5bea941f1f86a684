//! The CI gate as shipped: the `Audit model files` step of
//! `examples/ci/model-integrity.yml` is extracted and run with bash on a
//! realistic repository built here. It passes; each way of hiding a pickle
//! from the walk makes it fail and the JSON report names the file. Then the
//! audit log: signed checkpoints, a head file, append failures (exit 2).
//! Hostile pickles are hand-written opcodes; nothing is unpickled.

use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command as Std;

use assert_cmd::Command;
use serde_json::Value;

const HOSTILE_P0: &[u8] = b"cos\nsystem\n(S'echo pwned'\ntR.";

fn ts() -> Command {
    let mut c = Command::cargo_bin("tensorseal").unwrap();
    c.env_remove("TENSORSEAL_AUDIT_LOG");
    c
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ok(args: &[&str]) -> String {
    let o = ts().args(args).output().unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn write(p: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

/// The `run: |` block of the workflow step named `name`.
fn workflow_step(name: &str) -> String {
    let yml = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/ci/model-integrity.yml"),
    )
    .unwrap();
    let lines: Vec<&str> = yml.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim() == format!("- name: {name}"))
        .unwrap();
    let run = (at..lines.len())
        .find(|&i| lines[i].trim() == "run: |")
        .unwrap();
    let indent = lines[run].len() - lines[run].trim_start().len();
    let mut script = String::new();
    for l in &lines[run + 1..] {
        let ind = l.len() - l.trim_start().len();
        if !l.trim().is_empty() && ind <= indent {
            break;
        }
        script.push_str(l.trim_start());
        script.push('\n');
    }
    assert!(script.contains("tensorseal audit"), "{script}");
    script
}

struct Gate {
    _tmp: tempfile::TempDir,
    keydir: PathBuf,
    outside: PathBuf,
}

fn gate() -> Gate {
    let tmp = tempfile::tempdir().unwrap();
    let keydir = tmp.path().join("secret");
    std::fs::create_dir_all(&keydir).unwrap();
    ok(&["keygen", "signer", "-o", s(&keydir.join("ci"))]);
    let outside = tmp.path().join("outside");
    write(&outside.join("evil.pkl"), HOSTILE_P0);
    Gate {
        keydir,
        outside,
        _tmp: tmp,
    }
}

impl Gate {
    /// A Python project with signed models, docs, `.git/` and an HF snapshot.
    fn repo(&self, name: &str) -> PathBuf {
        let r = self._tmp.path().join(name);
        for f in [
            "pkg/__init__.py",
            "pkg/py.typed",
            ".gitkeep",
            "data/.gitkeep",
        ] {
            write(&r.join(f), b"");
        }
        write(
            &r.join("pkg/train.py"),
            b"import torch\nimport numpy as np\n\ndef train():\n    return np.zeros(3)\n",
        );
        write(
            &r.join("README.md"),
            b"# Project\n\nModels live in models/.\n",
        );
        write(&r.join("docs/index.md"), b"Permission is hereby granted.\n");
        write(&r.join(".git/HEAD"), b"ref: refs/heads/main\n");
        write(
            &r.join(".git/objects/ab/cdef0123"),
            b"x\x01\x01\x00\x00\xff\xff",
        );
        write(
            &r.join("policy/model-security.toml"),
            b"threshold = 1\nquarantine_dir = \"../quarantine\"\n",
        );
        std::fs::create_dir_all(r.join("quarantine")).unwrap();
        std::fs::create_dir_all(r.join("keys")).unwrap();
        std::fs::copy(self.keydir.join("ci.pub"), r.join("keys/ci.pub")).unwrap();
        let key = self.keydir.join("ci.key");
        write(&r.join("models/clf.pkl"), b"\x80\x02}q\x00.");
        ok(&[
            "sign",
            s(&r.join("models/clf.pkl")),
            "--key",
            s(&key),
            "--model-id",
            "clf",
        ]);
        // Hugging Face cache layout: the snapshot entry links into blobs/.
        write(&r.join("hub/blobs/5e1f"), b"\x80\x02]q\x00.");
        std::fs::create_dir_all(r.join("hub/snapshots/main")).unwrap();
        symlink("../../blobs/5e1f", r.join("hub/snapshots/main/model.pkl")).unwrap();
        ok(&[
            "sign",
            s(&r.join("hub/snapshots/main/model.pkl")),
            "--key",
            s(&key),
            "--model-id",
            "hub-model",
        ]);
        r
    }

    /// Runs the workflow's audit step in `repo`: (exit status, report).
    fn run_workflow(&self, repo: &Path) -> (i32, Value) {
        let bin = PathBuf::from(env!("CARGO_BIN_EXE_tensorseal"));
        let path = format!(
            "{}:{}",
            bin.parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let o = Std::new("bash")
            .args(["--noprofile", "--norc", "-eo", "pipefail", "-c"])
            .arg(workflow_step("Audit model files"))
            .current_dir(repo)
            .env("PATH", path)
            .env("MODEL_DIR", ".")
            .env("TENSORSEAL_AUDIT_LOG", "model-audit/security.jsonl")
            .output()
            .unwrap();
        let report = std::fs::read(repo.join("model-audit/report.json")).unwrap();
        let v: Value = serde_json::from_slice(&report).unwrap_or_else(|e| {
            panic!(
                "{e}: {}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        });
        (o.status.code().unwrap(), v)
    }
}

fn failed(v: &Value) -> Vec<String> {
    v["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "fail")
        .map(|f| f["path"].as_str().unwrap().to_owned())
        .collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn shipped_workflow_passes_a_real_repository_and_fails_every_hidden_pickle() {
    let g = gate();
    let clean = g.repo("clean");
    let (code, v) = g.run_workflow(&clean);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["summary"]["model_files"], 3, "{v:#}");
    let snap = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "hub/snapshots/main/model.pkl")
        .unwrap();
    assert_eq!(snap["status"], "pass");
    assert!(snap["target"].as_str().unwrap().ends_with("hub/blobs/5e1f"));

    let mut big = b"(V".to_vec();
    big.extend(std::iter::repeat_n(b'a', 3 << 20));
    big.push(b'\n');
    big.extend_from_slice(b"lp0\n0");
    big.extend_from_slice(HOSTILE_P0);
    let mut p0_plus = HOSTILE_P0.to_vec();
    p0_plus.push(b'X');
    let mut with_newline = HOSTILE_P0.to_vec();
    with_newline.push(b'\n');
    // Each case: what to add, the path the report must name.
    type Setup = Box<dyn Fn(&Path)>;
    let outside = g.outside.join("evil.pkl");
    let cases: Vec<(&str, Setup)> = vec![
        (
            "models/cache.dat",
            Box::new(|r: &Path| {
                write(&r.join(".git/objects/ab/evil"), HOSTILE_P0);
                symlink("../.git/objects/ab/evil", r.join("models/cache.dat")).unwrap();
            }),
        ),
        (
            "models/restored.dat",
            Box::new(|r: &Path| {
                write(&r.join("quarantine/old.pkl"), HOSTILE_P0);
                symlink("../quarantine/old.pkl", r.join("models/restored.dat")).unwrap();
            }),
        ),
        (
            "models/extra.sig.json",
            Box::new(|r: &Path| write(&r.join("models/extra.sig.json"), HOSTILE_P0)),
        ),
        (
            "model-audit/security.jsonl",
            Box::new(|r: &Path| {
                // A pickle, then a valid event: appending still works.
                let log = r.join("model-audit/scratch.jsonl");
                ok(&[
                    "--audit-log",
                    s(&log),
                    "verify",
                    s(&r.join("models/clf.pkl")),
                    "--trust",
                    s(&r.join("keys")),
                ]);
                let mut b = HOSTILE_P0.to_vec();
                b.push(b'\n');
                b.extend(
                    std::fs::read(&log)
                        .unwrap()
                        .split(|&c| c == b'\n')
                        .next()
                        .unwrap(),
                );
                b.push(b'\n');
                std::fs::remove_file(&log).unwrap();
                write(&r.join("model-audit/security.jsonl"), &b);
            }),
        ),
        (
            "models/ext.dat",
            Box::new(move |r: &Path| symlink(&outside, r.join("models/ext.dat")).unwrap()),
        ),
        (
            "models/p0.dat",
            Box::new(move |r: &Path| write(&r.join("models/p0.dat"), &p0_plus)),
        ),
        (
            "data/blob.gz",
            Box::new(move |r: &Path| write(&r.join("data/blob.gz"), &gzip(&big))),
        ),
        (
            "weights.dat",
            Box::new(move |r: &Path| write(&r.join("weights.dat"), &with_newline)),
        ),
        (
            "models/model.joblib.gz",
            Box::new(|r: &Path| {
                let mut b = HOSTILE_P0.to_vec();
                b.extend_from_slice(b"\0tail");
                write(&r.join("models/model.joblib.gz"), &gzip(&b));
            }),
        ),
    ];
    for (i, (name, setup)) in cases.iter().enumerate() {
        let r = g.repo(&format!("case{i}"));
        setup(&r);
        let (code, v) = g.run_workflow(&r);
        assert_eq!(code, 1, "{name}: {v:#}");
        let f = failed(&v);
        assert!(
            f.iter().any(|p| p == name),
            "{name} not named: {f:?}\n{v:#}"
        );
    }
}

#[test]
fn require_models_fails_empty_trees_and_lfs_pointers() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(&d.join("src/__init__.py"), b"");
    let o = ts()
        .args(["audit", s(d), "--allow-unsigned"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("no model files found"));
    let o = ts()
        .args(["audit", s(d), "--allow-unsigned", "--require-models"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    write(
        &d.join("models/big.safetensors"),
        b"version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n",
    );
    let o = ts()
        .args([
            "audit",
            s(d),
            "--allow-unsigned",
            "--require-models",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let f = &v["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "models/big.safetensors")
        .unwrap();
    assert_eq!(f["format"], "lfs-pointer");
    assert!(f["reason"]
        .as_str()
        .unwrap()
        .contains("LFS pointer, not pulled"));
}

#[test]
fn dangling_links_fifos_and_control_characters_in_names() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    symlink("missing.pkl", d.join("gone")).unwrap();
    symlink("loop", d.join("loop")).unwrap();
    symlink(".", d.join("self")).unwrap();
    write(&d.join("ok\nPASS  pickle       forged.pkl"), HOSTILE_P0);
    let o = ts()
        .args(["audit", s(d), "--allow-unsigned"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(!out.lines().any(|l| l.starts_with("PASS  pickle")), "{out}");
    assert!(out.contains("FAIL  symlink      gone"), "{out}");
    assert!(out.contains("FAIL  symlink      loop"), "{out}");
    // verify follows links (as sign does) and refuses dangling ones.
    let o = ts()
        .args(["verify", s(&d.join("gone")), "--allow-unsigned"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let linked = d.join("linked.pkl");
    write(&d.join("real/clean.pkl"), b"\x80\x02}q\x00.");
    symlink("real/clean.pkl", &linked).unwrap();
    ok(&["verify", s(&linked), "--allow-unsigned"]);
}

#[test]
fn audit_log_checkpoints_head_file_and_append_failures() {
    let g = gate();
    let r = g.repo("logged");
    let log = r.join("security.jsonl");
    let key = g.keydir.join("ci.key");
    let public = g.keydir.join("ci.pub");
    let head = g._tmp.path().join("head.json");
    let audit = |extra: &[&str]| {
        let mut a = vec![
            "--audit-log",
            s(&log),
            "--log-key",
            s(&key),
            "audit",
            s(&r),
            "--trust",
            s(&public),
        ];
        a.extend_from_slice(extra);
        ts().args(&a).output().unwrap()
    };
    assert_eq!(audit(&[]).status.code(), Some(0));
    ok(&[
        "log",
        "verify",
        s(&log),
        "--trust",
        s(&public),
        "--head-file",
        s(&head),
    ]);
    let first = std::fs::read(&log).unwrap();
    assert_eq!(audit(&[]).status.code(), Some(0));
    ok(&[
        "log",
        "verify",
        s(&log),
        "--trust",
        s(&public),
        "--head-file",
        s(&head),
    ]);

    // Rewritten without the key: chain recomputed, an outcome changed.
    let text = std::fs::read_to_string(&log).unwrap();
    let mut prev = tensorseal_ops::audit_log::GENESIS.to_string();
    let mut out = String::new();
    for line in text.lines() {
        let mut e: tensorseal_ops::Event = serde_json::from_str(line).unwrap();
        e.outcome = e.outcome.replace("refused", "ok");
        e.reason = e.reason.map(|r| r.replace("passed", "passed."));
        e.prev = prev.clone();
        e.hash = e.compute_hash();
        prev = e.hash.clone();
        out.push_str(&serde_json::to_string(&e).unwrap());
        out.push('\n');
    }
    let rewritten = r.join("rewritten.jsonl");
    std::fs::write(&rewritten, &out).unwrap();
    ok(&["log", "verify", s(&rewritten)]); // the bare chain cannot tell
    let o = ts()
        .args(["log", "verify", s(&rewritten), "--trust", s(&public)])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // Truncated back to the first run's checkpoint: valid alone, refused
    // by a verifier that recorded the later head.
    let truncated = r.join("truncated.jsonl");
    std::fs::write(&truncated, &first).unwrap();
    ok(&["log", "verify", s(&truncated), "--trust", s(&public)]);
    let o = ts()
        .args([
            "log",
            "verify",
            s(&truncated),
            "--trust",
            s(&public),
            "--head-file",
            s(&head),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("truncated"));

    // Lines appended without the key after the last checkpoint.
    ok(&[
        "--audit-log",
        s(&log),
        "verify",
        s(&r.join("models/clf.pkl")),
        "--trust",
        s(&public),
    ]);
    let o = ts()
        .args(["log", "verify", s(&log), "--trust", s(&public)])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not authenticated"));

    // A log that cannot be appended to fails the audit with exit 2, one line.
    let o = ts()
        .args([
            "--audit-log",
            s(&r.join("models")),
            "audit",
            s(&r),
            "--trust",
            s(&public),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("audit log"), "{err}");
}
