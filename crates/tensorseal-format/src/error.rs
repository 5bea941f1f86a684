//! Typed decoding errors: what is wrong, in which structure, at which offset.

use core::fmt;

/// The part of a container an error is about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Structure {
    /// The whole file (its length).
    File,
    /// The fixed 64-byte preamble at offset 0.
    Preamble,
    /// The zero padding between the preamble and the data region.
    HeaderPadding,
    /// A slice of the data region, by index.
    Slice(u32),
    /// Zero padding between two slices.
    SlicePadding(u32),
    /// The detached AEAD tags of encrypted slices.
    TagRegion,
    /// The binary manifest.
    Manifest,
    /// One tensor entry of the manifest, by name (lossy if the name is not UTF-8).
    Tensor(String),
    /// The signature block.
    SignatureBlock,
    /// The recipient block.
    RecipientBlock,
    /// The fixed footer at the end of the file.
    Footer,
}

impl fmt::Display for Structure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Structure::File => f.write_str("file"),
            Structure::Preamble => f.write_str("preamble"),
            Structure::HeaderPadding => f.write_str("header padding"),
            Structure::Slice(i) => write!(f, "slice {i}"),
            Structure::SlicePadding(i) => write!(f, "padding after slice {i}"),
            Structure::TagRegion => f.write_str("tag region"),
            Structure::Manifest => f.write_str("manifest"),
            Structure::Tensor(n) if n.chars().count() > 80 => {
                let head: String = n.chars().take(80).collect();
                write!(f, "tensor {head:?}… ({} bytes)", n.len())
            }
            Structure::Tensor(n) => write!(f, "tensor {n:?}"),
            Structure::SignatureBlock => f.write_str("signature block"),
            Structure::RecipientBlock => f.write_str("recipient block"),
            Structure::Footer => f.write_str("footer"),
        }
    }
}

/// What is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input ends before the structure does.
    #[error("truncated: needs {needed} bytes, {available} available")]
    Truncated {
        /// Bytes the structure needs.
        needed: u64,
        /// Bytes present.
        available: u64,
    },
    /// The magic bytes are wrong (not a container, or damaged by a text-mode transfer).
    #[error("bad magic bytes (not a tensorseal container, or damaged in transfer)")]
    BadMagic,
    /// The file is a format 1 container (magic `\x89TSEAL\r\n`), which this reader
    /// no longer opens: it must be converted again from its source.
    #[error("this is a tensorseal format {major}.{minor} file; this reader implements format 2 only: re-convert the model from its source file with this version of tensorseal")]
    FormatV1 {
        /// Major version in the format 1 preamble.
        major: u16,
        /// Minor version in the format 1 preamble.
        minor: u16,
    },
    /// The slice digest algorithm code is not one this reader knows.
    #[error("unknown slice digest algorithm code {0} in field digest_algorithm (known: 1 = sha256, 2 = blake3)")]
    UnknownDigestAlgorithm(u8),
    /// The major version is not one this reader implements.
    #[error("unsupported format major version {found} (this reader implements {supported})")]
    UnsupportedMajor {
        /// Version in the file.
        found: u16,
        /// Version this reader implements.
        supported: u16,
    },
    /// Preamble and footer disagree on the version.
    #[error("version {preamble_major}.{preamble_minor} in the preamble but {footer_major}.{footer_minor} in the footer")]
    VersionMismatch {
        /// Preamble major.
        preamble_major: u16,
        /// Preamble minor.
        preamble_minor: u16,
        /// Footer major.
        footer_major: u16,
        /// Footer minor.
        footer_minor: u16,
    },
    /// The byte-order marker is not little-endian.
    #[error("unsupported byte order marker {0:#04x} (only little-endian, 0x01, is defined)")]
    ByteOrder(u8),
    /// A field this version defines as fixed has another value.
    #[error("field {field} must be {expected}, found {found}")]
    FixedField {
        /// Field name.
        field: &'static str,
        /// Required value.
        expected: u64,
        /// Value found.
        found: u64,
    },
    /// Reserved or padding bytes are not zero.
    #[error("non-zero padding or reserved byte")]
    NonZeroPadding,
    /// The file length does not match what the footer describes (bytes added or removed).
    #[error("file is {found} bytes but its structures account for {expected}")]
    FileLength {
        /// Length the structures describe.
        expected: u64,
        /// Actual length.
        found: u64,
    },
    /// A structure is larger than the limit.
    #[error("{what} is {found}, over the limit of {limit}")]
    Limit {
        /// What is counted.
        what: &'static str,
        /// Count found.
        found: u64,
        /// The limit.
        limit: u64,
    },
    /// A digest (SHA-256, or the manifest's slice digest algorithm) does not match
    /// the bytes it covers.
    #[error("digest mismatch (the bytes were modified or corrupted)")]
    DigestMismatch,
    /// The manifest bytes are not a valid encoding.
    #[error("undecodable: {0}")]
    Decode(String),
    /// Bytes remain after the manifest's last field.
    #[error("{0} unexpected bytes after the last field")]
    TrailingBytes(u64),
    /// A dtype code this reader does not know.
    #[error("unknown dtype code {0}")]
    UnknownDtype(u8),
    /// A name is not UTF-8.
    #[error("name is not valid UTF-8")]
    NonUtf8Name,
    /// A name is empty.
    #[error("name is empty")]
    EmptyName,
    /// Two tensors share a name.
    #[error("duplicate tensor name")]
    DuplicateName,
    /// Keys of a map are not strictly ascending (duplicates or unsorted).
    #[error("keys of {0} are not strictly ascending (duplicate or unsorted key {1:?})")]
    KeyOrder(&'static str, String),
    /// The product of the shape overflows, or its byte size is not whole.
    #[error("shape {0:?} overflows or is not a whole number of bytes")]
    ShapeOverflow(Vec<u64>),
    /// The stored length does not match dtype and shape.
    #[error("length {found} does not match dtype and shape ({expected} bytes)")]
    LengthMismatch {
        /// Length implied by dtype and shape.
        expected: u64,
        /// Length stored.
        found: u64,
    },
    /// An offset is not on the required boundary.
    #[error("offset {offset} is not a multiple of {align}")]
    Misaligned {
        /// Offset found.
        offset: u64,
        /// Required alignment.
        align: u64,
    },
    /// A range starts before the end of the previous one.
    #[error(
        "range at {offset} overlaps or precedes the previous one, which ends at {previous_end}"
    )]
    Overlap {
        /// Start of this range.
        offset: u64,
        /// End of the previous range.
        previous_end: u64,
    },
    /// A range leaves more than alignment padding after the previous one (hidden bytes).
    #[error("range at {offset} leaves a gap after the previous one (expected {expected})")]
    Gap {
        /// Start of this range.
        offset: u64,
        /// Where it must start.
        expected: u64,
    },
    /// A range ends past the region that must contain it.
    #[error("range {offset}+{length} ends past {limit}")]
    OutOfBounds {
        /// Start.
        offset: u64,
        /// Length.
        length: u64,
        /// End of the containing region.
        limit: u64,
    },
    /// A tensor names a slice that does not exist or that it does not lie in.
    #[error("tensor is not inside slice {0}")]
    NotInSlice(u32),
    /// A slice holds no tensor.
    #[error("slice holds no tensor")]
    EmptySlice,
    /// The file uses a value that a later minor version defines.
    #[error("uses {0}, not defined in the format version this reader implements")]
    Unsupported(String),
    /// Encryption fields are inconsistent (some slices encrypted, header missing, ...).
    #[error("inconsistent encryption fields: {0}")]
    Encryption(&'static str),
}

impl ErrorKind {
    /// A stable machine-readable name for the kind (used in JSON output and the
    /// conformance vectors).
    pub fn code(&self) -> &'static str {
        match self {
            ErrorKind::Truncated { .. } => "truncated",
            ErrorKind::BadMagic => "bad_magic",
            ErrorKind::FormatV1 { .. } => "format_v1",
            ErrorKind::UnknownDigestAlgorithm(_) => "unknown_digest_algorithm",
            ErrorKind::UnsupportedMajor { .. } => "unsupported_major",
            ErrorKind::VersionMismatch { .. } => "version_mismatch",
            ErrorKind::ByteOrder(_) => "byte_order",
            ErrorKind::FixedField { .. } => "fixed_field",
            ErrorKind::NonZeroPadding => "non_zero_padding",
            ErrorKind::FileLength { .. } => "file_length",
            ErrorKind::Limit { .. } => "limit",
            ErrorKind::DigestMismatch => "digest_mismatch",
            ErrorKind::Decode(_) => "decode",
            ErrorKind::TrailingBytes(_) => "trailing_bytes",
            ErrorKind::UnknownDtype(_) => "unknown_dtype",
            ErrorKind::NonUtf8Name => "non_utf8_name",
            ErrorKind::EmptyName => "empty_name",
            ErrorKind::DuplicateName => "duplicate_name",
            ErrorKind::KeyOrder(..) => "key_order",
            ErrorKind::ShapeOverflow(_) => "shape_overflow",
            ErrorKind::LengthMismatch { .. } => "length_mismatch",
            ErrorKind::Misaligned { .. } => "misaligned",
            ErrorKind::Overlap { .. } => "overlap",
            ErrorKind::Gap { .. } => "gap",
            ErrorKind::OutOfBounds { .. } => "out_of_bounds",
            ErrorKind::NotInSlice(_) => "not_in_slice",
            ErrorKind::EmptySlice => "empty_slice",
            ErrorKind::Unsupported(_) => "unsupported",
            ErrorKind::Encryption(_) => "encryption",
        }
    }
}

/// A refusal to decode: the structure, the absolute file offset, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{structure} at offset {offset}: {kind}")]
pub struct FormatError {
    /// Which structure.
    pub structure: Structure,
    /// Absolute offset in the file where the structure (or the fault) starts.
    pub offset: u64,
    /// What is wrong.
    pub kind: ErrorKind,
}

impl FormatError {
    /// Builds an error.
    pub fn new(structure: Structure, offset: u64, kind: ErrorKind) -> Self {
        FormatError {
            structure,
            offset,
            kind,
        }
    }
}
