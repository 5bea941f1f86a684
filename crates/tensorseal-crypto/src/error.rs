//! The crate's single error type.

use std::path::PathBuf;

use crate::keyfile::KeyKind;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Every failure this crate reports.
///
/// Verification and decryption failures are deliberately coarse (they never say
/// *which* half of a composite signature or which byte of a tag was wrong), while
/// parsing failures are precise so that a person can fix a pasted key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A byte string had the wrong length for what it encodes.
    #[error("invalid length for {what}: expected {expected} bytes, found {found}")]
    InvalidLength {
        /// What was being decoded.
        what: &'static str,
        /// Required length in bytes.
        expected: usize,
        /// Length that was supplied.
        found: usize,
    },
    /// A public key was the right length but is not a valid key.
    #[error("invalid {0}")]
    InvalidKey(&'static str),
    /// The signature context string is longer than 255 bytes.
    #[error("signature context is {0} bytes; at most 255 are allowed")]
    ContextTooLong(usize),
    /// The composite signature did not verify (either component failed).
    #[error("signature verification failed")]
    BadSignature,
    /// ML-DSA signing failed (randomness unavailable or rejection sampling exhausted).
    #[error("signing failed")]
    SigningFailed,
    /// Wrapping a key to a recipient failed.
    #[error("key wrapping failed")]
    WrapFailed,
    /// A recipient stanza could not be opened with this key (wrong key or tampered stanza).
    #[error("recipient stanza could not be opened")]
    UnwrapFailed,
    /// A ChaCha20-Poly1305 chunk failed authentication.
    #[error("chunk {chunk} failed authentication")]
    ChunkAuthentication {
        /// Counter of the chunk that failed.
        chunk: u64,
    },
    /// The chunk layout is inconsistent (length, count or position).
    #[error("invalid chunk layout: {0}")]
    ChunkLayout(&'static str),
    /// The key commitment does not match the key.
    #[error("key commitment mismatch")]
    KeyCommitmentMismatch,
    /// The header MAC does not match.
    #[error("header MAC mismatch")]
    HeaderMacMismatch,
    /// The operating system random number generator failed.
    #[error("random number generator failed")]
    Rng,

    /// A key file's text is not a key this crate understands.
    #[error("not a tensorseal key: {0}")]
    KeyArmor(&'static str),
    /// A key of one kind was supplied where another kind was required.
    #[error("expected a {expected}, found a {found}")]
    WrongKeyType {
        /// What the caller asked for.
        expected: KeyKind,
        /// What the text contains.
        found: KeyKind,
    },
    /// A recognised but unsupported key (for example a classical age X25519 key).
    #[error("unsupported key: {0}")]
    UnsupportedKey(&'static str),
    /// The key text ends before the key does (missing END line or too few bytes).
    #[error("truncated {kind}: expected {expected} bytes, found {found}")]
    KeyTruncated {
        /// Kind of key being read.
        kind: KeyKind,
        /// Bytes required.
        expected: usize,
        /// Bytes present.
        found: usize,
    },
    /// The key text decodes to more bytes than the key has.
    #[error("bad length for {kind}: expected {expected} bytes, found {found}")]
    KeyLength {
        /// Kind of key being read.
        kind: KeyKind,
        /// Bytes required.
        expected: usize,
        /// Bytes present.
        found: usize,
    },
    /// The key's checksum does not match (a typo or a damaged paste).
    #[error("bad checksum in {0}")]
    KeyChecksum(KeyKind),
    /// The key's text encoding (base64 or Bech32) is invalid.
    #[error("invalid encoding in {kind}: {detail}")]
    KeyEncoding {
        /// Kind of key being read.
        kind: KeyKind,
        /// What is wrong.
        detail: &'static str,
    },
    /// A `# fingerprint:` or `# public key:` comment does not match the key.
    #[error("the comment in the {0} does not match the key it annotates")]
    KeyCommentMismatch(KeyKind),
    /// Key file text larger than any key file.
    #[error("key text is {0} bytes; a key file is never larger than {max}", max = crate::keyfile::MAX_KEY_TEXT)]
    KeyTextTooLarge(usize),

    /// The key file is passphrase-protected: unlock it with
    /// [`crate::passphrase::unprotect_secret_key`] before parsing it.
    #[error("passphrase-protected secret key (unlock it with its passphrase first)")]
    KeyProtected,
    /// A passphrase-protected key did not decrypt: the passphrase is wrong, or
    /// the file was damaged.
    #[error("wrong passphrase or corrupted key file")]
    WrongPassphrase,
    /// Refused scrypt parameters (out of bounds, checked before any work is done).
    #[error("refusing scrypt parameters log_n={log_n} r={r} p={p}: {reason}")]
    KdfParams {
        /// log2 of the scrypt cost N.
        log_n: u8,
        /// scrypt block size r.
        r: u32,
        /// scrypt parallelism p.
        p: u32,
        /// Which bound was exceeded.
        reason: &'static str,
    },
    /// A passphrase-protected key file is malformed (before decryption).
    #[error("malformed passphrase-protected key file: {0}")]
    ProtectedKeyFormat(&'static str),
    /// An empty passphrase was given to protect a key.
    #[error("empty passphrase")]
    EmptyPassphrase,

    /// Refused to overwrite an existing key file.
    #[error("refusing to overwrite existing file {0}")]
    FileExists(PathBuf),
    /// An I/O error while writing a key file.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// File being written.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
}
