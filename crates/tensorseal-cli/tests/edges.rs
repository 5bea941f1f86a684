//! Edges of the CLI's promises: control characters in names never reach the
//! terminal raw, files get the umask's mode (replacements keep theirs, secret
//! keys stay 0600), and no command writes its output over its own input.
//! Every command runs under an explicit umask (`sh -c 'umask …; exec …'`).

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const UMASK: &str = "022";

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/fixtures")
        .join(rel)
}

/// Runs the binary under `umask`, with no audit log from the environment.
fn run_umask<I, S>(umask: &str, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let bin = assert_cmd::cargo::cargo_bin("tensorseal");
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
        .arg(bin)
        .args(args)
        .env_remove("TENSORSEAL_AUDIT_LOG")
        .env_remove("TENSORSEAL_PASSPHRASE");
    c.output().unwrap()
}

fn run<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_umask(UMASK, args)
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn ok<I, S>(args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let o = run(args);
    let (out, err) = text(&o);
    assert!(o.status.success(), "failed: {out}{err}");
    out
}

/// Characters a terminal acts on or hides (an independent list, not the CLI's).
fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}'
        )
}

fn assert_clean(what: &str, s: &str) {
    let bad: Vec<char> = s.chars().filter(|&c| c != '\n' && hidden(c)).collect();
    assert!(bad.is_empty(), "{what}: raw {bad:?} in {s:?}");
}

fn os(parts: &[&OsStr]) -> Vec<OsString> {
    parts.iter().map(|p| p.to_os_string()).collect()
}

#[cfg(unix)]
fn mode_of(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

const EVIL: &str = "evil\r\x1b[32mPASS\x1b[0m.pkl";
const BIDI: &str = "report\u{202e}lkp.txt\u{2066}x\u{2069}\u{200b}.pkl";

// ---------------------------------------------------------------------------
// 1. Control characters are escaped in every human-readable line.

#[test]
fn hostile_file_names_cannot_fake_a_pass_in_inspect_verify_and_audit() {
    let d = tempfile::tempdir().unwrap();
    let hostile = std::fs::read(fixture("hostile/os_system_p4.pkl")).unwrap();
    for name in [EVIL, BIDI] {
        let f = d.path().join(name);
        std::fs::write(&f, &hostile).unwrap();

        let o = run(os(&[OsStr::new("inspect"), f.as_os_str()]));
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{out}{err}");
        assert_clean("inspect stdout", &out);
        assert_clean("inspect stderr", &err);
        assert!(out.contains("dangerous"), "{out}");

        let o = run(os(&[
            OsStr::new("inspect"),
            OsStr::new("--json"),
            f.as_os_str(),
        ]));
        let (out, _) = text(&o);
        assert_clean("inspect --json", &out);
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["file"], f.to_str().unwrap(), "JSON keeps the exact name");
        assert_eq!(v["verdict"], "dangerous");

        let o = run(os(&[
            OsStr::new("verify"),
            OsStr::new("--allow-unsigned"),
            f.as_os_str(),
        ]));
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{out}{err}");
        assert_clean("verify stdout", &out);
        assert_clean("verify stderr", &err);
        assert!(err.contains("refused"), "{err}");
    }
    let o = run(os(&[
        OsStr::new("audit"),
        OsStr::new("--allow-unsigned"),
        d.path().as_os_str(),
    ]));
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert_clean("audit stdout", &out);
    assert_clean("audit stderr", &err);
    assert!(out.contains("\\r\\x1b[32mPASS"), "{out}");
    assert!(out.contains("\\u{202e}"), "{out}");
    for line in out.lines().filter(|l| l.contains("evil")) {
        assert!(line.starts_with("FAIL"), "{line}");
    }
}

#[test]
fn model_id_metadata_and_container_name_are_escaped_in_ls_verify_convert() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("small.safetensors");
    std::fs::copy(fixture("safetensors/small.safetensors"), &input).unwrap();
    let out_path = d.path().join("c\x1b[2K\r.tseal");
    let o = run(os(&[
        OsStr::new("convert"),
        input.as_os_str(),
        OsStr::new("-o"),
        out_path.as_os_str(),
        OsStr::new("--model-id"),
        OsStr::new("id\x1b]0;pwned\x07\u{202e}"),
        OsStr::new("--meta"),
        OsStr::new("note=fine\rOK\u{9b}31m"),
        OsStr::new("--meta"),
        OsStr::new("k\x1b=v"),
    ]));
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert_clean("convert", &out);

    let ls = ok(os(&[
        OsStr::new("ls"),
        OsStr::new("--allow-unsigned"),
        out_path.as_os_str(),
    ]));
    assert_clean("ls", &ls);
    assert!(ls.contains("id\\x1b]0;pwned\\x07\\u{202e}"), "{ls}");
    assert!(ls.contains("fine\\rOK\\x9b31m"), "{ls}");
    assert!(ls.contains("k\\x1b"), "{ls}");

    let ls_json = ok(os(&[
        OsStr::new("ls"),
        OsStr::new("--json"),
        OsStr::new("--allow-unsigned"),
        out_path.as_os_str(),
    ]));
    assert_clean("ls --json", &ls_json);
    let v: serde_json::Value = serde_json::from_str(ls_json.trim()).unwrap();
    assert_eq!(v["model_id"], "id\x1b]0;pwned\x07\u{202e}");
    assert_eq!(v["metadata"]["note"], "fine\rOK\u{9b}31m");

    let ver = ok(os(&[
        OsStr::new("verify"),
        OsStr::new("--allow-unsigned"),
        out_path.as_os_str(),
    ]));
    assert_clean("verify", &ver);
    assert!(ver.contains("c\\x1b[2K\\r.tseal: OK"), "{ver}");

    // Refusals on stderr too: an unsigned container under the default policy.
    let o = run(os(&[OsStr::new("verify"), out_path.as_os_str()]));
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert_clean("verify refusal", &err);
    assert!(err.contains("c\\x1b[2K\\r.tseal"), "{err}");
}

#[test]
fn usage_errors_quoting_arguments_are_escaped() {
    let o = run(["--no-such-flag\x1b[2J\u{202e}"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(64), "{err}");
    assert_clean("clap error", &err);
    // clap strips escape sequences itself; what it keeps is escaped by us.
    assert!(err.contains("--no-such-flag"), "{err}");
    assert!(err.contains("\\u{202e}"), "{err}");
}

// ---------------------------------------------------------------------------
// 2. File modes.

#[cfg(unix)]
fn keygen(d: &Path, kind: &str, name: &str) -> (PathBuf, PathBuf) {
    let prefix = d.join(name);
    ok(os(&[
        OsStr::new("keygen"),
        OsStr::new(kind),
        OsStr::new("-o"),
        prefix.as_os_str(),
    ]));
    (d.join(format!("{name}.key")), d.join(format!("{name}.pub")))
}

#[cfg(unix)]
#[test]
fn new_files_follow_the_umask_and_replacements_keep_their_mode() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("small.safetensors");
    std::fs::copy(fixture("safetensors/small.safetensors"), &input).unwrap();
    let (key, public) = keygen(d.path(), "signer", "signer");
    assert_eq!(mode_of(&key), 0o600);
    assert_eq!(mode_of(&public), 0o644);

    // convert and export: 0666 under the umask.
    let c = d.path().join("m.tseal");
    ok(os(&[
        OsStr::new("convert"),
        input.as_os_str(),
        OsStr::new("-o"),
        c.as_os_str(),
    ]));
    assert_eq!(mode_of(&c), 0o644);
    let c027 = d.path().join("m027.tseal");
    let o = run_umask(
        "027",
        os(&[
            OsStr::new("convert"),
            input.as_os_str(),
            OsStr::new("-o"),
            c027.as_os_str(),
        ]),
    );
    assert!(o.status.success());
    assert_eq!(mode_of(&c027), 0o640);
    let st = d.path().join("out.safetensors");
    ok(os(&[
        OsStr::new("export"),
        OsStr::new("--allow-unsigned"),
        c.as_os_str(),
        OsStr::new("-o"),
        st.as_os_str(),
    ]));
    assert_eq!(mode_of(&st), 0o644);

    // --force over an existing file keeps that file's mode.
    chmod(&c, 0o640);
    ok(os(&[
        OsStr::new("convert"),
        input.as_os_str(),
        OsStr::new("-o"),
        c.as_os_str(),
        OsStr::new("--force"),
    ]));
    assert_eq!(mode_of(&c), 0o640);

    // sign rewrites the tail in place: mode kept.
    chmod(&c, 0o604);
    ok(os(&[
        OsStr::new("sign"),
        c.as_os_str(),
        OsStr::new("--key"),
        key.as_os_str(),
    ]));
    assert_eq!(mode_of(&c), 0o604);

    // Detached signatures: a new sidecar follows the umask, a re-signed one keeps its mode.
    let pkl = d.path().join("model.pkl");
    std::fs::copy(fixture("sklearn/risk_logreg_p4.pkl"), &pkl).unwrap();
    ok(os(&[
        OsStr::new("sign"),
        pkl.as_os_str(),
        OsStr::new("--model-id"),
        OsStr::new("risk"),
        OsStr::new("--key"),
        key.as_os_str(),
    ]));
    let sidecar = d.path().join("model.pkl.sig.json");
    assert_eq!(mode_of(&sidecar), 0o644);
    chmod(&sidecar, 0o640);
    ok(os(&[
        OsStr::new("sign"),
        pkl.as_os_str(),
        OsStr::new("--model-id"),
        OsStr::new("risk"),
        OsStr::new("--key"),
        key.as_os_str(),
    ]));
    assert_eq!(mode_of(&sidecar), 0o640);
}

#[cfg(unix)]
#[test]
fn grant_keeps_the_mode_of_the_container() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("small.safetensors");
    std::fs::copy(fixture("safetensors/small.safetensors"), &input).unwrap();
    let (owner, owner_pub) = keygen(d.path(), "recipient", "owner");
    let (_, other_pub) = keygen(d.path(), "recipient", "other");
    let c = d.path().join("enc.tseal");
    ok(os(&[
        OsStr::new("convert"),
        input.as_os_str(),
        OsStr::new("-o"),
        c.as_os_str(),
        OsStr::new("--to"),
        owner_pub.as_os_str(),
    ]));
    chmod(&c, 0o640);
    ok(os(&[
        OsStr::new("grant"),
        c.as_os_str(),
        OsStr::new("--identity"),
        owner.as_os_str(),
        OsStr::new("--to"),
        other_pub.as_os_str(),
        OsStr::new("--tensors"),
        OsStr::new("*"),
    ]));
    assert_eq!(mode_of(&c), 0o640);
}

#[cfg(unix)]
#[test]
fn loading_a_group_readable_secret_key_warns() {
    let d = tempfile::tempdir().unwrap();
    let (key, _) = keygen(d.path(), "signer", "k");
    let pkl = d.path().join("model.pkl");
    std::fs::copy(fixture("sklearn/risk_logreg_p4.pkl"), &pkl).unwrap();
    let sign = || {
        run(os(&[
            OsStr::new("sign"),
            pkl.as_os_str(),
            OsStr::new("--model-id"),
            OsStr::new("risk"),
            OsStr::new("--key"),
            key.as_os_str(),
        ]))
    };
    let o = sign();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(!err.contains("warning"), "{err}");

    chmod(&key, 0o640);
    let o = sign();
    let (out, err) = text(&o);
    assert!(o.status.success(), "a warning, not a refusal: {out}{err}");
    assert!(err.contains("warning"), "{err}");
    assert!(err.contains("640"), "{err}");
    assert!(err.contains(key.to_str().unwrap()), "{err}");
}

// ---------------------------------------------------------------------------
// 4. No command writes its output over its own input.

/// Runs `args` and asserts a usage error (64) that leaves `input` byte-identical.
fn refused_same(input: &Path, args: Vec<OsString>) {
    let before = std::fs::read(input).unwrap();
    let o = run(&args);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(64), "{args:?}: {out}{err}");
    assert!(err.contains("input"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(
        std::fs::read(input).unwrap(),
        before,
        "{args:?}: input changed"
    );
}

/// The four ways an output can be the input: `(input, output)` pairs in a
/// fresh directory, the input holding `bytes`.
#[cfg(unix)]
fn aliases(d: &Path, name: &str, bytes: &[u8]) -> Vec<(PathBuf, PathBuf)> {
    let mut v = Vec::new();
    // The same path.
    let a = d.join(format!("same-{name}"));
    std::fs::write(&a, bytes).unwrap();
    v.push((a.clone(), a));
    // A hard link.
    let a = d.join(format!("hard-{name}"));
    std::fs::write(&a, bytes).unwrap();
    let b = d.join(format!("hard-link-{name}"));
    std::fs::hard_link(&a, &b).unwrap();
    v.push((a, b));
    // The output is a symlink to the input.
    let a = d.join(format!("target-{name}"));
    std::fs::write(&a, bytes).unwrap();
    let b = d.join(format!("out-link-{name}"));
    std::os::unix::fs::symlink(&a, &b).unwrap();
    v.push((a, b));
    // The input is a symlink to the output.
    let b = d.join(format!("real-{name}"));
    std::fs::write(&b, bytes).unwrap();
    let a = d.join(format!("in-link-{name}"));
    std::os::unix::fs::symlink(&b, &a).unwrap();
    v.push((a, b));
    v
}

#[cfg(unix)]
#[test]
fn convert_refuses_to_write_over_its_input_even_with_force() {
    let d = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture("safetensors/small.safetensors")).unwrap();
    for (input, output) in aliases(d.path(), "m.safetensors", &bytes) {
        for force in [false, true] {
            let mut args = os(&[
                OsStr::new("convert"),
                input.as_os_str(),
                OsStr::new("-o"),
                output.as_os_str(),
            ]);
            if force {
                args.push("--force".into());
            }
            refused_same(&input, args);
            assert_eq!(std::fs::read(&output).unwrap(), bytes);
        }
    }
}

#[cfg(unix)]
#[test]
fn export_refuses_to_write_over_its_input_even_with_force() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("small.safetensors");
    std::fs::copy(fixture("safetensors/small.safetensors"), &input).unwrap();
    let c = d.path().join("m.tseal");
    ok(os(&[
        OsStr::new("convert"),
        input.as_os_str(),
        OsStr::new("-o"),
        c.as_os_str(),
    ]));
    let bytes = std::fs::read(&c).unwrap();
    let sub = d.path().join("aliases");
    std::fs::create_dir(&sub).unwrap();
    for (input, output) in aliases(&sub, "m.tseal", &bytes) {
        refused_same(
            &input,
            os(&[
                OsStr::new("export"),
                OsStr::new("--allow-unsigned"),
                OsStr::new("--force"),
                input.as_os_str(),
                OsStr::new("-o"),
                output.as_os_str(),
            ]),
        );
        assert_eq!(std::fs::read(&output).unwrap(), bytes);
    }
}

#[cfg(unix)]
#[test]
fn the_audit_log_and_the_state_file_may_not_be_the_input() {
    let d = tempfile::tempdir().unwrap();
    let pkl = d.path().join("model.pkl");
    std::fs::copy(fixture("sklearn/risk_logreg_p4.pkl"), &pkl).unwrap();
    refused_same(
        &pkl,
        os(&[
            OsStr::new("--audit-log"),
            pkl.as_os_str(),
            OsStr::new("inspect"),
            pkl.as_os_str(),
        ]),
    );
    let input = d.path().join("small.safetensors");
    std::fs::copy(fixture("safetensors/small.safetensors"), &input).unwrap();
    let c = d.path().join("m.tseal");
    ok(os(&[
        OsStr::new("convert"),
        input.as_os_str(),
        OsStr::new("-o"),
        c.as_os_str(),
    ]));
    refused_same(
        &c,
        os(&[
            OsStr::new("verify"),
            OsStr::new("--allow-unsigned"),
            OsStr::new("--state"),
            c.as_os_str(),
            c.as_os_str(),
        ]),
    );
}
