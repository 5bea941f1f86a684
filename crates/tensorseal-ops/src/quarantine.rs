//! Quarantine: move a refused file (and its sidecar) into a quarantine
//! directory, atomically, with an incident report beside it.
//!
//! Order of operations, so that a failure at any step leaves the file at its
//! original place, byte for byte:
//!
//! 1. hash the file; create the quarantine directory;
//! 2. pick a free timestamped name `STEM_YYYYMMDD_HHMMSS[_N].EXT`;
//! 3. write the incident report `STEM_YYYYMMDD_HHMMSS[_N].quarantine.json`
//!    atomically (temporary file, fsync, no-clobber rename, directory fsync);
//! 4. move the file: on the same file system a hard link to the new name
//!    (atomic, fails if the name exists) then unlink of the old one; across
//!    file systems (or where hard links are refused) copy to
//!    a temporary file in the quarantine directory, fsync, compare its SHA-256
//!    with the original's, rename it into place without clobbering, fsync the
//!    directory, then unlink the original and fsync its directory;
//! 5. move the sidecar the same way (to `QUARANTINED_NAME.sig.json`).
//!
//! If step 4 fails, the temporary copy and the report are removed and the
//! original is untouched. If the unlink of the original fails, the copy is
//! removed again. A sidecar that cannot be moved stays where it was and is
//! named in [`Quarantined::sidecar_error`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::error::OpsError;
use crate::sidecar::sidecar_path;
use crate::util::{compact_stamp, now_rfc3339, parent_dir, sync_dir, tool_version, Operator};

/// A hook called with the path of the fully written and fsynced temporary
/// copy, before it is renamed into place (cross-file-system path only). An
/// error aborts the quarantine; used to inject failures in tests.
pub type CopyHook = Arc<dyn Fn(&Path) -> std::io::Result<()> + Send + Sync>;

/// How to quarantine.
#[derive(Clone, Default)]
pub struct QuarantineOptions {
    /// Always copy + fsync + rename + unlink, even on the same file system.
    pub force_copy: bool,
    /// Called before the copy is renamed into place (see [`CopyHook`]).
    pub copy_hook: Option<CopyHook>,
}

impl std::fmt::Debug for QuarantineOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuarantineOptions")
            .field("force_copy", &self.force_copy)
            .field("copy_hook", &self.copy_hook.is_some())
            .finish()
    }
}

/// The incident report written beside a quarantined file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct IncidentReport {
    /// Where the file was (absolute when it could be resolved).
    pub original_path: String,
    /// Where it is now.
    pub quarantined_path: String,
    /// Where its sidecar is now, if it had one and it moved.
    pub quarantined_sidecar: Option<String>,
    /// When (RFC 3339 UTC).
    pub quarantined_at: String,
    /// Why.
    pub reason: String,
    /// Inspection findings and failed checks.
    pub findings: Vec<String>,
    /// SHA-256 of the file (hex).
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Who.
    pub operator: Operator,
    /// `tensorseal-ops VERSION`.
    pub tool_version: String,
}

/// A completed quarantine.
#[derive(Debug, Clone)]
pub struct Quarantined {
    /// The file's new path.
    pub path: PathBuf,
    /// The incident report's path.
    pub report_path: PathBuf,
    /// The sidecar's new path, if it moved.
    pub sidecar: Option<PathBuf>,
    /// Why the sidecar did not move, if it exists and did not.
    pub sidecar_error: Option<String>,
    /// The report written.
    pub report: IncidentReport,
}

fn qerr(path: &Path, reason: impl Into<String>) -> OpsError {
    OpsError::Quarantine {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Moves `path` (and `PATH.sig.json`) into `dir` with an incident report.
/// Never loses or alters the file: on error it is still at `path`.
pub fn quarantine(
    path: &Path,
    dir: &Path,
    reason: &str,
    findings: &[String],
    opts: &QuarantineOptions,
) -> Result<Quarantined, OpsError> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| qerr(path, format!("stat: {e}")))?;
    if !meta.is_file() {
        return Err(qerr(path, "not a regular file"));
    }
    let (sha256, size) = hash_file(path).map_err(|e| qerr(path, format!("read: {e}")))?;
    std::fs::create_dir_all(dir).map_err(|e| {
        qerr(
            path,
            format!("create quarantine directory {}: {e}", dir.display()),
        )
    })?;
    let at = now_rfc3339();
    let stamp = compact_stamp(&at);
    let name = crate::util::file_name(path);
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name.as_str(), ""),
    };
    let mut n = 0u32;
    let (dest, report_path) = loop {
        let suffix = if n == 0 {
            String::new()
        } else {
            format!("_{n}")
        };
        let d = dir.join(format!("{stem}_{stamp}{suffix}{ext}"));
        let rp = dir.join(format!("{stem}_{stamp}{suffix}.quarantine.json"));
        if !exists(&d) && !exists(&rp) && !exists(&sidecar_path(&d)) {
            break (d, rp);
        }
        n += 1;
        if n > 10_000 {
            return Err(qerr(path, "no free name in the quarantine directory"));
        }
    };
    let original = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let sc_src = sidecar_path(path);
    let has_sidecar = std::fs::symlink_metadata(&sc_src).is_ok_and(|m| m.is_file());
    let sc_dest = sidecar_path(&dest);
    let dir_abs = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut report = IncidentReport {
        original_path: original.display().to_string(),
        quarantined_path: dir_abs
            .join(dest.file_name().unwrap_or_default())
            .display()
            .to_string(),
        quarantined_sidecar: has_sidecar.then(|| {
            dir_abs
                .join(sc_dest.file_name().unwrap_or_default())
                .display()
                .to_string()
        }),
        quarantined_at: at,
        reason: reason.to_owned(),
        findings: findings.to_vec(),
        sha256: sha256.clone(),
        size,
        operator: Operator::current(),
        tool_version: tool_version(),
    };
    write_report(&report_path, &report).map_err(|e| qerr(path, e.to_string()))?;
    if let Err(e) = move_file(path, &dest, &sha256, opts) {
        let _ = std::fs::remove_file(&report_path);
        let _ = sync_dir(dir);
        return Err(qerr(path, e));
    }
    let mut sidecar = None;
    let mut sidecar_error = None;
    if has_sidecar {
        let sc_sha = hash_file(&sc_src).map(|(h, _)| h);
        match sc_sha
            .map_err(|e| e.to_string())
            .and_then(|h| move_file(&sc_src, &sc_dest, &h, opts))
        {
            Ok(()) => sidecar = Some(sc_dest),
            Err(e) => {
                sidecar_error = Some(format!("{}: {e}", sc_src.display()));
                report.quarantined_sidecar = None;
                let _ = write_report_overwrite(&report_path, &report);
            }
        }
    }
    Ok(Quarantined {
        path: dest,
        report_path,
        sidecar,
        sidecar_error,
        report,
    })
}

fn exists(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}

/// SHA-256 (hex) and size of a file, streamed.
pub(crate) fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    let (digest, len) = tensorseal::sha256_read(tensorseal_fs::open_regular(path)?)?;
    Ok((crate::util::hex(&digest), len))
}

fn write_report(path: &Path, report: &IncidentReport) -> Result<(), OpsError> {
    let mut text = serde_json::to_string_pretty(report).unwrap_or_default();
    text.push('\n');
    crate::util::write_atomic(path, text.as_bytes(), false)
}

fn write_report_overwrite(path: &Path, report: &IncidentReport) -> Result<(), OpsError> {
    let mut text = serde_json::to_string_pretty(report).unwrap_or_default();
    text.push('\n');
    crate::util::write_atomic(path, text.as_bytes(), true)
}

/// Moves `src` to `dest` (which must not exist) without ever losing it.
fn move_file(
    src: &Path,
    dest: &Path,
    sha256: &str,
    opts: &QuarantineOptions,
) -> Result<(), String> {
    let dest_dir = parent_dir(dest);
    if !opts.force_copy {
        // Same file system: a hard link is an atomic no-clobber rename's
        // first half (fails if `dest` exists); then the old name goes.
        match std::fs::hard_link(src, dest) {
            Ok(()) => {
                sync_dir(&dest_dir).map_err(|e| e.to_string())?;
                if let Err(e) = std::fs::remove_file(src) {
                    let _ = std::fs::remove_file(dest);
                    let _ = sync_dir(&dest_dir);
                    return Err(format!("unlink original: {e}"));
                }
                let _ = sync_dir(&parent_dir(src));
                return Ok(());
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(format!("{} exists", dest.display()))
            }
            // EXDEV (other file system), or no hard links here: copy.
            Err(_) => {}
        }
    }
    // Copy, check, then commit (fsync, rename without clobbering, directory
    // fsync), then unlink.
    let mut tmp = tensorseal_fs::AtomicFile::create(dest, tensorseal_fs::Mode::New)
        .map_err(|e| format!("create temporary file in {}: {e}", dest_dir.display()))?;
    {
        let mut input = tensorseal_fs::open_regular(src).map_err(|e| format!("open: {e}"))?;
        std::io::copy(&mut input, &mut tmp).map_err(|e| format!("copy: {e}"))?;
        tmp.flush().map_err(|e| format!("flush copy: {e}"))?;
    }
    let (copy_sha, _) = hash_file(tmp.path()).map_err(|e| format!("re-read copy: {e}"))?;
    if copy_sha != sha256 {
        return Err(
            "the copy's SHA-256 differs from the original's (file changed while quarantining?)"
                .into(),
        );
    }
    if let Some(hook) = &opts.copy_hook {
        hook(tmp.path()).map_err(|e| format!("before rename: {e}"))?;
    }
    tmp.commit()
        .map_err(|e| format!("move copy to {}: {e}", dest.display()))?;
    if let Err(e) = std::fs::remove_file(src) {
        // Keep exactly one copy: the original.
        let _ = std::fs::remove_file(dest);
        let _ = sync_dir(&dest_dir);
        return Err(format!("unlink original: {e}"));
    }
    let _ = sync_dir(&parent_dir(src));
    Ok(())
}
