//! The tensorseal container format, version 2: bytes only.
//!
//! This crate fixes the layout of a `.tseal` file and decodes it strictly:
//! the 64-byte [`Preamble`], the 4096-byte-aligned data region of [`Slice`]s,
//! the tag region, the postcard-encoded [`Manifest`], the [`SignatureBlock`],
//! the [`RecipientBlock`] and the 128-byte [`Footer`]. It does no I/O, no
//! hashing and no cryptography; the `tensorseal` crate builds the reader and
//! writer on it. The normative description is `formats/SPEC.md`.
//!
//! ```
//! use tensorseal_format::{Dtype, Footer, Preamble, FOOTER_LEN};
//!
//! let preamble = Preamble::CURRENT.encode();
//! assert_eq!(Preamble::decode(&preamble).unwrap().major, 2);
//! assert_eq!("BF16".parse::<Dtype>().unwrap().bits(), 16);
//! # let _ = (Footer::decode, FOOTER_LEN);
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod blocks;
mod bounded;
mod digest;
mod dtype;
mod error;
mod frame;
mod limits;
mod manifest;

pub use blocks::{
    RecipientBlock, Scope, SignatureBlock, SignatureEntry, Stanza, Statement, SIGNATURE_CONTEXT,
    SIG_MLDSA65_ED25519_SHA512, STANZA_XWING_HPKE,
};
pub use bounded::{MAX_DEPENDENCIES, MAX_ENTRIES, MAX_METADATA, MAX_SIGNATURES, MAX_STANZAS};
pub use digest::DigestAlgorithm;
pub use dtype::{Dtype, UnknownDtype};
pub use error::{ErrorKind, FormatError, Structure};
pub use frame::{
    align_up, check_versions, Footer, Preamble, DATA_OFFSET, END_MAGIC, FOOTER_LEN, LITTLE_ENDIAN,
    MAGIC, MAGIC_V1, MAJOR, MINOR, PREAMBLE_LEN, TENSOR_ALIGN,
};
pub use limits::Limits;
pub use manifest::{
    chunk_count, EncryptionHeader, Manifest, MetaValue, ModelInfo, Producer, Regions, Slice,
    SliceEncryption, Source, TensorInfo, AEAD_CHACHA20POLY1305_STREAM64K, CHUNK_SIZE, TAG_LEN,
};
