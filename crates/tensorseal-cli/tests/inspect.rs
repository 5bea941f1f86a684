//! `tensorseal inspect`: output shape (text and JSON lines) and every exit
//! status (0, 1, 2, 64, `--strict`), on the shared fixtures. Nothing is
//! executed: the binary only reads the files through the strict parsers.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/fixtures")
        .join(rel)
}

fn ts() -> Command {
    Command::cargo_bin("tensorseal").unwrap()
}

fn run(args: &[&str], files: &[PathBuf]) -> std::process::Output {
    ts().arg("inspect").args(args).args(files).output().unwrap()
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json_lines(o: &std::process::Output) -> Vec<Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

/// A scratch file holding `bytes`.
fn scratch(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A pickle whose only global is neither allowed nor denied.
const UNKNOWN_P2: &[u8] = b"\x80\x02cmylib\nThing\n)Rq\x00.";

#[test]
fn safe_files_exit_0_with_one_json_object_each() {
    let files = [
        fixture("torch/mlp_state_dict.pt"),
        fixture("numpy/bundle.npz"),
        fixture("sklearn/risk_logreg.joblib"),
        fixture("safetensors/small.safetensors"),
    ];
    let o = run(&["--json"], &files);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let lines = json_lines(&o);
    assert_eq!(lines.len(), files.len());
    let formats: Vec<&str> = lines
        .iter()
        .map(|v| v["format"].as_str().unwrap())
        .collect();
    assert_eq!(formats, ["torch-zip", "npz", "joblib", "safetensors"]);
    for (v, f) in lines.iter().zip(&files) {
        assert_eq!(v["file"].as_str().unwrap(), f.display().to_string());
        assert_eq!(v["verdict"], "safe");
        assert!(v["findings"].is_array());
        for g in v["globals"].as_array().unwrap() {
            for key in ["module", "name", "class", "reason"] {
                assert!(g.get(key).is_some(), "{g}: no {key}");
            }
            assert_eq!(g["class"], "allowed");
            assert!(g["reason"].is_null());
        }
    }
    let torch = &lines[0]["globals"];
    assert!(torch
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["module"] == "torch._utils" && g["name"] == "_rebuild_tensor_v2"));
}

#[test]
fn dangerous_exits_1_and_names_the_global_and_reason() {
    let o = run(
        &["--json"],
        &[
            fixture("torch/mlp_state_dict.pt"),
            fixture("hostile/os_system_p2.pkl"),
            fixture("malformed/truncated.pkl"),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let lines = json_lines(&o);
    assert_eq!(lines.len(), 3);
    let evil = &lines[1];
    assert_eq!(evil["verdict"], "dangerous");
    assert_eq!(evil["format"], "pickle");
    let g = &evil["globals"][0];
    assert_eq!(
        (g["module"].as_str(), g["name"].as_str()),
        (Some("posix"), Some("system"))
    );
    assert_eq!(g["class"], "dangerous");
    assert_eq!(g["reason"], "process");
    assert!(g["offset"].is_u64());
    assert_eq!(lines[2]["verdict"], "malformed");

    // Text output: path, format, verdict, global with class and reason.
    let o = run(&[], &[fixture("hostile/torch_zip_malicious_data_pkl.pt")]);
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    assert!(
        text.contains("torch_zip_malicious_data_pkl.pt: dangerous (torch-zip)"),
        "{text}"
    );
    assert!(
        text.contains("global posix.system: dangerous (process) [archive/data.pkl @"),
        "{text}"
    );
}

#[test]
fn uninspectable_exits_2_unless_something_is_dangerous() {
    let dir = tempfile::tempdir().unwrap();
    let unknown_format = scratch(dir.path(), "x.bin", b"GIF89a not a model at all");
    let o = run(
        &[],
        &[
            fixture("torch/views.pt"),
            fixture("malformed/zip_bad_central_dir.pt"),
            unknown_format.clone(),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let text = stdout(&o);
    assert!(
        text.contains("zip_bad_central_dir.pt: malformed (torch-zip)"),
        "{text}"
    );
    assert!(text.contains("x.bin: unsupported (unknown)"), "{text}");
    // Findings carry their offsets.
    assert!(
        text.contains("malformed zip_malformed: zip: inconsistent"),
        "{text}"
    );
    assert!(text.contains("@ 137]"), "{text}");

    // An I/O error counts as "could not be inspected".
    let missing = dir.path().join("missing.pt");
    let o = run(&["--json"], &[fixture("numpy/c_f32.npy"), missing.clone()]);
    assert_eq!(o.status.code(), Some(2));
    let lines = json_lines(&o);
    assert_eq!(lines[1]["verdict"], "error");
    assert!(lines[1]["error"].as_str().unwrap().len() > 3);

    // Dangerous wins over malformed.
    let o = run(
        &[],
        &[
            fixture("malformed/empty.pkl"),
            fixture("hostile/webbrowser.pkl"),
        ],
    );
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn unknown_is_0_and_strict_makes_it_1() {
    let dir = tempfile::tempdir().unwrap();
    let p = scratch(dir.path(), "custom.pkl", UNKNOWN_P2);
    let o = run(&["--json"], &[p.clone(), fixture("numpy/c_f32.npy")]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let lines = json_lines(&o);
    assert_eq!(lines[0]["verdict"], "unknown");
    assert_eq!(lines[0]["globals"][0]["class"], "unknown");
    assert!(lines[0]["globals"][0]["reason"].is_null());

    let o = run(&["--strict"], &[p.clone(), fixture("numpy/c_f32.npy")]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("custom.pkl: unknown (pickle)"));
    // --strict with only safe files still exits 0.
    let o = run(&["--strict"], &[fixture("numpy/c_f32.npy")]);
    assert_eq!(o.status.code(), Some(0));
    // Under --strict an uninspectable file still gives 2 (nothing dangerous).
    let o = run(&["--strict"], &[p, fixture("malformed/no_stop.pkl")]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn usage_errors_exit_64() {
    // No file.
    let o = ts().arg("inspect").output().unwrap();
    assert_eq!(o.status.code(), Some(64));
    // Unknown flag.
    let o = ts()
        .args(["inspect", "--bogus"])
        .arg(fixture("numpy/c_f32.npy"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(64));
    assert!(o.stdout.is_empty());
}

#[test]
fn every_fixture_json_verdict_matches_the_manifest() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/fixtures");
    let manifest: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let files: Vec<PathBuf> = manifest
        .iter()
        .map(|e| dir.join(e["file"].as_str().unwrap()))
        .collect();
    let o = run(&["--json"], &files);
    // Hostile fixtures are present: status 1.
    assert_eq!(o.status.code(), Some(1));
    let lines = json_lines(&o);
    assert_eq!(lines.len(), manifest.len());
    for (e, v) in manifest.iter().zip(&lines) {
        assert_eq!(v["verdict"], e["verdict"], "{}", e["file"]);
        assert_eq!(v["format"], e["format"], "{}", e["file"]);
    }
}

/// A joblib stream `{'w': <NumpyArrayWrapper>}` whose array is `raw` (the
/// wrapper's dtype descr `descr`, shape `(n,)`, alignment 16), then `tail`
/// opcodes before the final SETITEM. Assembled from opcodes.
fn joblib_stream(descr: &str, n: u8, raw: &[u8], tail: &[u8]) -> Vec<u8> {
    fn u(s: &str) -> Vec<u8> {
        let mut v = vec![b'X'];
        v.extend_from_slice(&(s.len() as u32).to_le_bytes());
        v.extend_from_slice(s.as_bytes());
        v
    }
    let mut v = b"\x80\x02}".to_vec();
    v.extend(u("w"));
    v.extend(b"cjoblib.numpy_pickle\nNumpyArrayWrapper\n)\x81}(");
    v.extend(u("subclass"));
    v.extend(b"cnumpy\nndarray\n");
    v.extend(u("shape"));
    v.extend([b'K', n, 0x85]);
    v.extend(u("order"));
    v.extend(u("C"));
    v.extend(u("dtype"));
    v.extend(b"cnumpy\ndtype\n");
    v.extend(u(descr));
    v.extend(b"\x89\x88\x87R(K\x03");
    v.extend(u(if descr.starts_with('O') { "|" } else { "<" }));
    v.extend(b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb");
    v.extend(u("numpy_array_alignment_bytes"));
    v.extend(b"K\x10ub");
    v.extend_from_slice(raw);
    v.extend_from_slice(tail);
    v.extend(b"s.");
    v
}

#[test]
fn joblib_object_array_is_inspected_and_refused_as_unsupported() {
    // The object array is a nested protocol-2 pickle of ['a', 'b'] (no
    // padding byte: joblib goes straight to pickle.load).
    let nested = b"\x80\x02]q\x00(X\x01\x00\x00\x00aX\x01\x00\x00\x00be.";
    let dir = tempfile::tempdir().unwrap();
    let f = scratch(
        dir.path(),
        "objects.joblib",
        &joblib_stream("O8", 2, nested, b""),
    );
    let o = run(&["--json"], std::slice::from_ref(&f));
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(json_lines(&o)[0]["verdict"], "safe");
    let out = dir.path().join("objects.tseal");
    let c = ts()
        .arg("convert")
        .arg(&f)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(c.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&c.stderr).contains("object arrays"),
        "{}",
        String::from_utf8_lossy(&c.stderr)
    );
    assert!(!out.exists());
}

#[test]
fn joblib_zero_padding_desync_is_dangerous() {
    // Padding-length byte 0: joblib reads the 8 array bytes at once and then
    // runs posix.system; the file is refused with exit 1, naming it.
    let mut raw = vec![0u8];
    raw.extend(1.5f64.to_le_bytes());
    let tail = b"X\x01\x00\x00\x00xcposix\nsystem\nX\x02\x00\x00\x00id\x85Rs";
    let dir = tempfile::tempdir().unwrap();
    let f = scratch(
        dir.path(),
        "desync.joblib",
        &joblib_stream("f8", 1, &raw, tail),
    );
    let o = run(&["--json"], &[f]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let line = &json_lines(&o)[0];
    assert_eq!(line["verdict"], "dangerous");
    assert!(stdout(&o).contains("posix"), "{}", stdout(&o));
}
