//! The facade's error type: every refusal names the file, the structure and the offset.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use tensorseal_format::{Dtype, FormatError};

/// Why an operation was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The bytes break a rule of the format.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// An I/O operation failed.
    #[error("{op}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// The file carries no signature and the policy did not allow unsigned files.
    #[error("unsigned file refused: the policy requires a signature (pass --allow-unsigned, or Policy::allow_unsigned(), to open it anyway)")]
    Unsigned,
    /// The file's expiry time has passed (freeze protection).
    #[error("expired at {expires} (seconds since the epoch); it is now {now}")]
    Expired {
        /// The file's `expires`.
        expires: i64,
        /// The time it was checked against.
        now: i64,
    },
    /// The file is signed, and this build cannot check signatures yet.
    #[error("the file carries {0} signature(s) and this build cannot verify signatures")]
    SignaturesUnsupported(usize),
    /// The file is encrypted, and this build cannot decrypt.
    #[error("tensor {0:?} is encrypted and no key was given")]
    Encrypted(String),
    /// No tensor of that name.
    #[error("no tensor named {0:?}")]
    NoSuchTensor(String),
    /// Typed access with the wrong element type.
    #[error("tensor {name:?} is {found}, not {requested}")]
    DtypeMismatch {
        /// Tensor name.
        name: String,
        /// Its dtype.
        found: Dtype,
        /// The dtype the caller asked for.
        requested: Dtype,
    },
    /// Typed access to bytes that are not aligned for the element type.
    #[error("tensor {0:?} is not aligned for its element type")]
    Misaligned(String),
    /// The caller's input to a writer or converter is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// The destination exists and overwriting was not allowed.
    #[error("destination exists (use --force, or WriteOptions::overwrite, to replace it)")]
    Exists,
    /// A safetensors file was refused by the safetensors parser.
    #[error("safetensors: {0}")]
    Safetensors(String),
}

/// An error, with the file it is about when there is one.
#[derive(Debug)]
pub struct Error {
    path: Option<PathBuf>,
    kind: ErrorKind,
}

impl Error {
    /// An error about no particular file.
    pub fn new(kind: impl Into<ErrorKind>) -> Self {
        Error {
            path: None,
            kind: kind.into(),
        }
    }

    /// An error about `path`.
    pub fn at(path: &Path, kind: impl Into<ErrorKind>) -> Self {
        Error {
            path: Some(path.to_path_buf()),
            kind: kind.into(),
        }
    }

    /// An I/O error about `path`.
    pub fn io(path: &Path, op: &'static str, source: io::Error) -> Self {
        Error::at(path, ErrorKind::Io { op, source })
    }

    /// Sets the file the error is about, if none is set yet.
    pub fn with_path(mut self, path: &Path) -> Self {
        if self.path.is_none() {
            self.path = Some(path.to_path_buf());
        }
        self
    }

    /// The file the error is about.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) => write!(f, "{}: {}", p.display(), self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.kind.source()
    }
}

impl From<FormatError> for Error {
    fn from(e: FormatError) -> Self {
        Error::new(e)
    }
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
