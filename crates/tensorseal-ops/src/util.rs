//! Small helpers: hex, time stamps, operator identity, atomic writes.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::error::OpsError;

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of `bytes` as 64 lower-case hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&tensorseal::sha256(bytes))
}

/// RFC 3339 UTC time with whole seconds, e.g. `2025-12-11T14:32:00Z`.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The current time as RFC 3339 text (UTC).
pub fn now_rfc3339() -> String {
    rfc3339(SystemTime::now())
}

/// `20251211_143200` from `2025-12-11T14:32:00Z`.
pub(crate) fn compact_stamp(rfc: &str) -> String {
    let digits: String = rfc.chars().filter(|c| c.is_ascii_digit()).collect();
    if digits.len() >= 14 {
        format!("{}_{}", &digits[..8], &digits[8..14])
    } else {
        digits
    }
}

/// Who performed an operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    /// Login name (`$USER`, `$LOGNAME`, `$USERNAME`, else `unknown`).
    pub user: String,
    /// Host name (`$HOSTNAME`, `/proc/sys/kernel/hostname`, `/etc/hostname`, else `unknown`).
    pub host: String,
}

impl Operator {
    /// The operator of this process.
    pub fn current() -> Operator {
        let user = ["USER", "LOGNAME", "USERNAME"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()))
            .unwrap_or_else(|| "unknown".into());
        let host = std::env::var("HOSTNAME")
            .ok()
            .filter(|s| !s.trim().is_empty())
            .or_else(|| {
                ["/proc/sys/kernel/hostname", "/etc/hostname"]
                    .iter()
                    .find_map(|p| std::fs::read_to_string(p).ok())
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
            })
            .unwrap_or_else(|| "unknown".into());
        Operator { user, host }
    }

    /// `user@host`.
    pub fn actor(&self) -> String {
        format!("{}@{}", self.user, self.host)
    }
}

/// `tensorseal-ops 0.1.0`.
pub fn tool_version() -> String {
    format!("tensorseal-ops {}", env!("CARGO_PKG_VERSION"))
}

pub(crate) fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Fsyncs the directory `dir`.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), OpsError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| OpsError::io(dir, "fsync directory", e))
}

/// Writes `bytes` to `dest` atomically: a temporary file in the same
/// directory, fsync, rename over `dest` (or refuse when it exists and
/// `overwrite` is false), fsync of the directory. A replaced file keeps its
/// permissions; a new one gets the umask's (tensorseal-fs).
pub fn write_atomic(dest: &Path, bytes: &[u8], overwrite: bool) -> Result<(), OpsError> {
    let mode = if overwrite {
        tensorseal_fs::Mode::Replace
    } else {
        tensorseal_fs::Mode::New
    };
    tensorseal_fs::write_atomic(dest, bytes, mode).map_err(|e| {
        let (path, op) = (e.path().to_path_buf(), e.op());
        OpsError::io(&path, op, e.into_source())
    })
}

/// The file name of `path` as a string (lossy), or the whole path.
pub(crate) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// The one rule for a path a command reads a model from (`verify`, `sign`,
/// `convert`, `audit`): symbolic links are followed, as every loader
/// follows them, and the file they name is what is judged; the path must
/// end at a regular file. A dangling link, a link loop, a directory, a
/// FIFO, socket or device is refused before anything is opened (opening a
/// FIFO would block, a device yields endless or changing bytes). Returns
/// the file the path names.
pub fn resolve_model_path(path: &Path) -> Result<PathBuf, String> {
    let meta = std::fs::metadata(path).map_err(|e| match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            format!("symbolic link that does not resolve to a file: {e}")
        }
        _ => e.to_string(),
    })?;
    if !meta.is_file() {
        return Err(if meta.is_dir() {
            "a directory, not a file".into()
        } else {
            "not a regular file (a FIFO, socket or device): never read".into()
        });
    }
    std::fs::canonicalize(path).map_err(|e| e.to_string())
}

/// A failed [`read_config`]: the file is missing or unreadable (operational),
/// or it is not a regular file / too large / not text (a finding, reported
/// by the caller in its own terms).
#[derive(Debug)]
pub(crate) enum ConfigReadError {
    /// I/O failed (including "not found").
    Io(OpsError),
    /// The file was refused; the reason.
    Refused(String),
}

impl ConfigReadError {
    /// The error as an [`OpsError`], refusals built by `refused`.
    pub(crate) fn into_ops(self, refused: impl FnOnce(String) -> OpsError) -> OpsError {
        match self {
            ConfigReadError::Io(e) => e,
            ConfigReadError::Refused(r) => refused(r),
        }
    }
}

/// Reads a sidecar, policy or other small config file through the one
/// bounded, non-blocking reader ([`tensorseal::config_file::read_regular`]).
pub(crate) fn read_config(
    path: &Path,
    limit: u64,
    what: &'static str,
) -> Result<Vec<u8>, ConfigReadError> {
    tensorseal::config_file::read_regular(path, limit, what).map_err(|e| match e.kind() {
        tensorseal::ErrorKind::Io { op, source } => {
            let kind = source.kind();
            ConfigReadError::Io(OpsError::io(
                path,
                op,
                std::io::Error::new(kind, source.to_string()),
            ))
        }
        tensorseal::ErrorKind::ConfigFile { reason, .. } => {
            ConfigReadError::Refused(reason.clone())
        }
        other => ConfigReadError::Refused(other.to_string()),
    })
}
