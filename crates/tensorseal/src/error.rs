//! The facade's error type: every refusal names the file, the structure and the offset.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use tensorseal_crypto::Fingerprint;
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
    #[error("unsigned file refused: the policy requires signatures by {required} trusted signer(s){trusted}; pass --allow-unsigned, or Policy::allow_unsigned(), to open it anyway", trusted = fmt_trusted(.trusted))]
    Unsigned {
        /// How many distinct trusted signers the policy requires.
        required: usize,
        /// The signers the policy trusts.
        trusted: Vec<Fingerprint>,
    },
    /// Every signature verifies, but none is by a trusted signer.
    #[error("signed only by untrusted key(s) {found}; the policy requires {required} trusted signer(s){trusted}", found = fmt_fps(.found), trusted = fmt_trusted(.trusted))]
    UntrustedSigners {
        /// Fingerprints of the signers found.
        found: Vec<Fingerprint>,
        /// How many distinct trusted signers the policy requires.
        required: usize,
        /// The signers the policy trusts.
        trusted: Vec<Fingerprint>,
    },
    /// Fewer distinct trusted signers than the policy's threshold.
    #[error("signed by {n} trusted signer(s) ({found}) and {u} untrusted; the policy requires {required}", n = .trusted_found.len(), found = fmt_fps(.trusted_found), u = .untrusted_found.len())]
    ThresholdNotMet {
        /// Trusted signers found.
        trusted_found: Vec<Fingerprint>,
        /// Untrusted signers found.
        untrusted_found: Vec<Fingerprint>,
        /// How many distinct trusted signers the policy requires.
        required: usize,
    },
    /// A signature entry does not verify, or its statement does not match the file.
    #[error("signature {index} refused: {reason}")]
    BadSignature {
        /// Position of the entry in the signature block.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// The file's expiry time has passed (freeze protection).
    #[error("expired at {expires} (seconds since the epoch); it is now {now}")]
    Expired {
        /// The file's `expires`.
        expires: i64,
        /// The time it was checked against.
        now: i64,
    },
    /// A lower version than the rollback state has seen for this model id
    /// (from any trusted signer).
    #[error("rollback refused: {model_id:?} version {version} is older than version {seen}, already accepted")]
    Rollback {
        /// Model id.
        model_id: String,
        /// The file's version.
        version: u64,
        /// The highest version accepted before.
        seen: u64,
    },
    /// The same version as already accepted for this model id, with another digest.
    #[error("equivocation refused: {model_id:?} version {version} has digest {found}, but {seen} was accepted for that version")]
    Equivocation {
        /// Model id.
        model_id: String,
        /// The version.
        version: u64,
        /// Digest of this file's release (hex).
        found: String,
        /// Digest accepted before for that version (hex).
        seen: String,
    },
    /// The rollback state tracks this model id from another kind of release
    /// (a container versus a detached signature), whose versions do not compare.
    #[error("rollback refused: {model_id:?} is tracked from {recorded} releases, this is a {found} release")]
    RollbackSource {
        /// Model id.
        model_id: String,
        /// The kind recorded (`container` or `detached`).
        recorded: &'static str,
        /// The kind of this release.
        found: &'static str,
    },
    /// A validly signed file of another model than the one the verifier expects.
    #[error("substitution refused: expected model {expected:?}, this file is model {found:?}")]
    Substitution {
        /// The model id the verifier expects.
        expected: String,
        /// The model id the file carries.
        found: String,
    },
    /// A configuration-like file (sidecar, policy, state, key) is not a
    /// regular file, is too large or is not text.
    #[error("{what}: {reason}")]
    ConfigFile {
        /// Its role, e.g. `sidecar`.
        what: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// The rollback state file cannot be used.
    #[error("rollback state {path}: {reason}")]
    State {
        /// The state file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// None of the given identities opens any recipient stanza.
    #[error("none of the {identities} identities given opens any of the file's {stanzas} recipient stanza(s) (wrong key?)")]
    NoMatchingIdentity {
        /// Identities tried.
        identities: usize,
        /// Stanzas in the file.
        stanzas: usize,
    },
    /// An identity would have to be tried on more stanzas than allowed.
    #[error("identity {identity} was tried on {limit} of the file's {stanzas} recipient stanzas without the file being unlocked; refusing to try more (at most {limit} per identity)")]
    StanzaLimit {
        /// Position of the identity among those given.
        identity: usize,
        /// Stanzas in the file.
        stanzas: usize,
        /// Stanzas tried per identity at most.
        limit: usize,
    },
    /// An unwrapped file key does not match the key commitment.
    #[error("recipient stanza {0}: the unwrapped file key does not match the key commitment")]
    KeyCommitment(usize),
    /// An unwrapped slice key does not match its slice's key commitment.
    #[error(
        "recipient stanza {stanza}: the key for slice {slice} does not match its key commitment"
    )]
    SliceKeyCommitment {
        /// The stanza.
        stanza: usize,
        /// The slice.
        slice: u32,
    },
    /// The header MAC over the manifest and stanzas does not verify.
    #[error("the header MAC does not verify (the manifest or a recipient stanza was changed)")]
    HeaderMac,
    /// A recipient stanza is malformed.
    #[error("recipient stanza {index}: {reason}")]
    BadStanza {
        /// The stanza.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// A chunk of an encrypted slice failed authentication.
    #[error("tensor {tensor:?}: chunk {chunk} of slice {slice} failed authentication")]
    Decryption {
        /// The tensor being read.
        tensor: String,
        /// Its slice.
        slice: u32,
        /// The chunk.
        chunk: u64,
    },
    /// The file is encrypted and no identity was given.
    #[error("tensor {0:?} is encrypted and no identity was given (pass --identity, or OpenOptions::identity)")]
    Encrypted(String),
    /// The identities given hold keys for other slices only (a grant).
    #[error("tensor {0:?} is not readable with the keys given: its slice was not granted to this recipient")]
    NotGranted(String),
    /// A cryptographic key or operation failed.
    #[error(transparent)]
    Crypto(#[from] tensorseal_crypto::Error),
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
    inner: Box<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: Option<PathBuf>,
    kind: ErrorKind,
}

impl Error {
    /// An error about no particular file.
    pub fn new(kind: impl Into<ErrorKind>) -> Self {
        Error {
            inner: Box::new(Inner {
                path: None,
                kind: kind.into(),
            }),
        }
    }

    /// An error about `path`.
    pub fn at(path: &Path, kind: impl Into<ErrorKind>) -> Self {
        Error {
            inner: Box::new(Inner {
                path: Some(path.to_path_buf()),
                kind: kind.into(),
            }),
        }
    }

    /// An I/O error about `path`.
    pub fn io(path: &Path, op: &'static str, source: io::Error) -> Self {
        Error::at(path, ErrorKind::Io { op, source })
    }

    /// Sets the file the error is about, if none is set yet.
    pub fn with_path(mut self, path: &Path) -> Self {
        if self.inner.path.is_none() {
            self.inner.path = Some(path.to_path_buf());
        }
        self
    }

    /// The file the error is about.
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.inner.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner.path {
            Some(p) => write!(f, "{}: {}", p.display(), self.inner.kind),
            None => write!(f, "{}", self.inner.kind),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.kind.source()
    }
}

impl From<FormatError> for Error {
    fn from(e: FormatError) -> Self {
        Error::new(e)
    }
}

impl ErrorKind {
    /// Whether this is a finding about the file itself (bad bytes, bad or
    /// missing or untrusted signature, expiry, rollback, substitution), as
    /// opposed to a problem on the verifier's side (I/O, rollback state,
    /// identities, keys, caller input) that says nothing about the file.
    /// Only findings may lead to quarantine; the CLI exits 1 for findings
    /// and 2 for everything else.
    pub fn is_finding(&self) -> bool {
        matches!(
            self,
            ErrorKind::Format(_)
                | ErrorKind::Unsigned { .. }
                | ErrorKind::UntrustedSigners { .. }
                | ErrorKind::ThresholdNotMet { .. }
                | ErrorKind::BadSignature { .. }
                | ErrorKind::Expired { .. }
                | ErrorKind::Rollback { .. }
                | ErrorKind::Equivocation { .. }
                | ErrorKind::RollbackSource { .. }
                | ErrorKind::Substitution { .. }
                | ErrorKind::KeyCommitment(_)
                | ErrorKind::SliceKeyCommitment { .. }
                | ErrorKind::HeaderMac
                | ErrorKind::BadStanza { .. }
                | ErrorKind::Decryption { .. }
        )
    }
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn fmt_fps(f: &[Fingerprint]) -> String {
    if f.is_empty() {
        return "none".into();
    }
    f.iter()
        .map(|f| f.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn fmt_trusted(t: &[Fingerprint]) -> String {
    if t.is_empty() {
        " (no signer is trusted: pass --trust)".into()
    } else {
        format!(" among {}", fmt_fps(t))
    }
}

impl From<tensorseal_crypto::Error> for Error {
    fn from(e: tensorseal_crypto::Error) -> Self {
        Error::new(ErrorKind::Crypto(e))
    }
}
