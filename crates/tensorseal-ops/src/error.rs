//! Errors of the operations themselves (I/O, malformed inputs); refusals of a
//! model are [`crate::Refusal`]s, not errors.

use std::io;
use std::path::{Path, PathBuf};

/// An operation could not be carried out. Every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpsError {
    /// An I/O operation failed.
    #[error("{}: {op}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// A sidecar could not be read, parsed or extended.
    #[error("{}: sidecar: {reason}", path.display())]
    Sidecar {
        /// The sidecar file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A key file could not be used.
    #[error("{}: key: {reason}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The policy file is invalid.
    #[error("{}: policy: {reason}", path.display())]
    Policy {
        /// The policy file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The audit log cannot be appended to.
    #[error("{}: audit log: {reason}", path.display())]
    Log {
        /// The log file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The rollback state file is invalid.
    #[error("{}: rollback state: {reason}", path.display())]
    State {
        /// The state file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The operation does not apply to this file.
    #[error("{}: {reason}", path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Signing failed.
    #[error("{}: signing: {source}", path.display())]
    Crypto {
        /// The file being signed.
        path: PathBuf,
        /// The crypto error.
        source: tensorseal_crypto::Error,
    },
    /// The quarantine step failed; the file was left at its original place.
    #[error("{}: quarantine failed, file left in place: {reason}", path.display())]
    Quarantine {
        /// The file that was to be quarantined.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl OpsError {
    pub(crate) fn io(path: &Path, op: &'static str, source: io::Error) -> Self {
        OpsError::Io {
            path: path.to_path_buf(),
            op,
            source,
        }
    }
}
