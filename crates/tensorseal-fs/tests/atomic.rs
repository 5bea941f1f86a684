//! Atomic writes, permissions and same-file detection, on real files.

use std::io::Write;
use std::path::Path;

use tensorseal_fs::{
    group_or_other_access, same_file, write_atomic, write_secret, AtomicFile, Mode,
};

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[cfg(unix)]
fn mode_of(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[cfg(unix)]
fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn new_file_appears_only_on_commit() {
    let d = tempfile::tempdir().unwrap();
    let dest = d.path().join("out.bin");
    let mut f = AtomicFile::create(&dest, Mode::New).unwrap();
    f.write_all(b"abc").unwrap();
    assert!(!dest.exists(), "visible before commit");
    f.commit().unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"abc");
    assert_eq!(entries(d.path()), ["out.bin"]);
}

#[test]
fn dropped_without_commit_leaves_nothing() {
    let d = tempfile::tempdir().unwrap();
    let dest = d.path().join("out.bin");
    std::fs::write(&dest, b"old").unwrap();
    {
        let mut f = AtomicFile::create(&dest, Mode::Replace).unwrap();
        f.write_all(b"new new new").unwrap();
    }
    assert_eq!(std::fs::read(&dest).unwrap(), b"old");
    assert_eq!(entries(d.path()), ["out.bin"]);
}

#[test]
fn new_refuses_an_existing_file_early_and_at_commit() {
    let d = tempfile::tempdir().unwrap();
    let dest = d.path().join("out.bin");
    std::fs::write(&dest, b"old").unwrap();
    let e = AtomicFile::create(&dest, Mode::New).unwrap_err();
    assert!(e.is_exists(), "{e}");

    // A file that appears between create and commit is not clobbered either.
    let late = d.path().join("late.bin");
    let mut f = AtomicFile::create(&late, Mode::New).unwrap();
    f.write_all(b"mine").unwrap();
    std::fs::write(&late, b"theirs").unwrap();
    let e = f.commit().unwrap_err();
    assert!(e.is_exists(), "{e}");
    assert_eq!(e.op(), "rename into place");
    assert_eq!(std::fs::read(&late).unwrap(), b"theirs");
    assert_eq!(entries(d.path()), ["late.bin", "out.bin"]);
}

#[test]
fn new_refuses_a_dangling_symlink() {
    let d = tempfile::tempdir().unwrap();
    let dest = d.path().join("link");
    #[cfg(unix)]
    std::os::unix::fs::symlink(d.path().join("nowhere"), &dest).unwrap();
    #[cfg(unix)]
    {
        assert!(AtomicFile::create(&dest, Mode::New)
            .unwrap_err()
            .is_exists());
        assert!(!d.path().join("nowhere").exists());
    }
}

#[test]
fn replace_writes_the_new_content() {
    let d = tempfile::tempdir().unwrap();
    let dest = d.path().join("out.bin");
    std::fs::write(&dest, b"old content").unwrap();
    write_atomic(&dest, b"new", Mode::Replace).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"new");
    assert_eq!(entries(d.path()), ["out.bin"]);
}

/// A new file gets the same mode `File::create` (open(2) with 0666 under the
/// process umask) gives a file in the same directory, not tempfile's 0600.
#[cfg(unix)]
#[test]
fn new_file_mode_follows_the_umask() {
    let d = tempfile::tempdir().unwrap();
    let reference = d.path().join("reference");
    std::fs::File::create(&reference).unwrap();
    let expected = mode_of(&reference);
    let dest = d.path().join("out.bin");
    write_atomic(&dest, b"x", Mode::New).unwrap();
    assert_eq!(mode_of(&dest), expected);
    let replaced_new = d.path().join("replace-new.bin");
    write_atomic(&replaced_new, b"x", Mode::Replace).unwrap();
    assert_eq!(mode_of(&replaced_new), expected);
}

#[cfg(unix)]
#[test]
fn replace_keeps_the_mode_of_the_replaced_file() {
    let d = tempfile::tempdir().unwrap();
    for mode in [0o640, 0o604, 0o600, 0o444, 0o755] {
        let dest = d.path().join(format!("f{mode:o}"));
        std::fs::write(&dest, b"old").unwrap();
        chmod(&dest, mode);
        write_atomic(&dest, b"new", Mode::Replace).unwrap();
        assert_eq!(mode_of(&dest), mode, "mode {mode:o}");
        assert_eq!(std::fs::read(&dest).unwrap(), b"new");
    }
}

#[cfg(unix)]
#[test]
fn set_id_bits_are_not_carried_over() {
    let d = tempfile::tempdir().unwrap();
    let dest = d.path().join("f");
    std::fs::write(&dest, b"old").unwrap();
    chmod(&dest, 0o4755);
    write_atomic(&dest, b"new", Mode::Replace).unwrap();
    assert_eq!(mode_of(&dest), 0o755);
}

#[cfg(unix)]
#[test]
fn secrets_are_0600_even_over_a_readable_file() {
    let d = tempfile::tempdir().unwrap();
    let fresh = d.path().join("fresh.key");
    write_secret(&fresh, b"s", Mode::New).unwrap();
    assert_eq!(mode_of(&fresh), 0o600);
    let old = d.path().join("old.key");
    std::fs::write(&old, b"old").unwrap();
    chmod(&old, 0o644);
    write_secret(&old, b"s", Mode::Replace).unwrap();
    assert_eq!(mode_of(&old), 0o600);
}

/// The temporary file is private while it is written, whatever the final mode.
#[cfg(unix)]
#[test]
fn temporary_file_is_private_until_commit() {
    let d = tempfile::tempdir().unwrap();
    let dest = d.path().join("out.bin");
    std::fs::write(&dest, b"old").unwrap();
    chmod(&dest, 0o644);
    let f = AtomicFile::create(&dest, Mode::Replace).unwrap();
    assert_eq!(mode_of(f.path()), 0o600);
    f.commit().unwrap();
    assert_eq!(mode_of(&dest), 0o644);

    let reference = d.path().join("reference");
    std::fs::File::create(&reference).unwrap();
    let fresh = d.path().join("fresh.bin");
    let f = AtomicFile::create(&fresh, Mode::New).unwrap();
    assert_eq!(mode_of(f.path()), 0o600);
    f.commit().unwrap();
    assert_eq!(mode_of(&fresh), mode_of(&reference));
}

#[cfg(unix)]
#[test]
fn replace_over_a_symlink_replaces_the_link_not_its_target() {
    let d = tempfile::tempdir().unwrap();
    let target = d.path().join("target");
    let link = d.path().join("link");
    std::fs::write(&target, b"target").unwrap();
    std::os::unix::fs::symlink(&target, &link).unwrap();
    write_atomic(&link, b"new", Mode::Replace).unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"target");
    assert!(!std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read(&link).unwrap(), b"new");
}

#[test]
fn same_file_sees_paths_hard_links_and_symlinks() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("a");
    let b = d.path().join("b");
    std::fs::write(&a, b"same bytes").unwrap();
    std::fs::write(&b, b"same bytes").unwrap();
    assert!(same_file(&a, &a).unwrap());
    assert!(same_file(&a, d.path().join(".").join("a")).unwrap());
    assert!(
        !same_file(&a, &b).unwrap(),
        "equal content is not the same file"
    );
    assert!(!same_file(&a, d.path().join("missing")).unwrap());
    assert!(!same_file(d.path().join("missing"), &a).unwrap());
    let hard = d.path().join("hard");
    std::fs::hard_link(&a, &hard).unwrap();
    assert!(same_file(&a, &hard).unwrap());
    #[cfg(unix)]
    {
        let sym = d.path().join("sym");
        std::os::unix::fs::symlink(&a, &sym).unwrap();
        assert!(same_file(&a, &sym).unwrap());
        assert!(same_file(&sym, &a).unwrap());
        assert!(same_file(&sym, &hard).unwrap());
        let dangling = d.path().join("dangling");
        std::os::unix::fs::symlink(d.path().join("missing"), &dangling).unwrap();
        assert!(!same_file(&a, &dangling).unwrap());
    }
}

#[cfg(unix)]
#[test]
fn group_or_other_access_reports_loose_modes() {
    let d = tempfile::tempdir().unwrap();
    let k = d.path().join("k");
    std::fs::write(&k, b"secret").unwrap();
    chmod(&k, 0o600);
    assert_eq!(group_or_other_access(&k).unwrap(), None);
    chmod(&k, 0o400);
    assert_eq!(group_or_other_access(&k).unwrap(), None);
    chmod(&k, 0o640);
    assert_eq!(group_or_other_access(&k).unwrap(), Some(0o640));
    chmod(&k, 0o604);
    assert_eq!(group_or_other_access(&k).unwrap(), Some(0o604));
    assert!(group_or_other_access(d.path().join("missing")).is_err());
}

#[test]
fn errors_name_the_step_and_the_path() {
    let d = tempfile::tempdir().unwrap();
    let dest = d.path().join("no-such-dir").join("out.bin");
    let e = write_atomic(&dest, b"x", Mode::New).unwrap_err();
    assert_eq!(e.op(), "create temporary file");
    assert_eq!(e.path(), d.path().join("no-such-dir"));
    assert!(e.to_string().contains("no-such-dir"), "{e}");
}

/// A writer that renames its own private file over `path()` (as safetensors
/// does): after `reopen`, the committed file has the final mode and content.
#[cfg(unix)]
#[test]
fn reopen_adopts_a_file_renamed_over_the_temporary_path() {
    let d = tempfile::tempdir().unwrap();
    let reference = d.path().join("reference");
    std::fs::File::create(&reference).unwrap();
    let dest = d.path().join("out.bin");
    let f = AtomicFile::create(&dest, Mode::New).unwrap();
    let theirs = d.path().join("theirs");
    std::fs::write(&theirs, b"written elsewhere").unwrap();
    chmod(&theirs, 0o600);
    std::fs::rename(&theirs, f.path()).unwrap();
    f.reopen().unwrap().commit().unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"written elsewhere");
    assert_eq!(mode_of(&dest), mode_of(&reference));
    assert_eq!(entries(d.path()), ["out.bin", "reference"]);
}
