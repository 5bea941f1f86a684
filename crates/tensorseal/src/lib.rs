//! tensorseal: sealed model-weight containers.
//!
//! A container holds tensors aligned for zero-copy memory mapping, a versioned
//! binary manifest covered by a digest, a digest per slice (BLAKE3 by default,
//! or SHA-256: [`WriteOptions::digest`]), and room for signatures and per-slice
//! encryption (see `formats/SPEC.md`). This crate is
//! what applications link: the [`Model`] reader, the streaming [`Writer`], the
//! verification [`Policy`] and safetensors interop.
//!
//! ```
//! use tensorseal::{Dtype, Model, ModelInfo, Policy, WriteOptions, Writer};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("tiny.tseal");
//! let info = ModelInfo { model_id: "tiny".into(), version: 1, ..ModelInfo::default() };
//! let mut w = Writer::create(&path, info, WriteOptions::default())?;
//! w.add("w", Dtype::F32, &[2], bytemuck::cast_slice(&[1.0f32, 2.0]))?;
//! w.finish()?;
//!
//! // Unsigned files open only when the policy says so explicitly.
//! let model = Model::open(&path, &Policy::allow_unsigned())?;
//! assert_eq!(model.tensor("w")?.as_slice::<f32>()?, &[1.0, 2.0]);
//! assert!(Model::open(&path, &Policy::require_signature()).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **Bytes that cannot change after verification.** [`Model::open`] reads
//! the file into private memory with ordinary reads and verifies that copy;
//! every tensor view, export and signature rewrite comes from it, so another
//! process that can write the file cannot change a verified byte (a file that
//! changes size while it is read is an I/O error, never a crash). Mapping is
//! opt-in through [`OpenOptions`]: [`OpenOptions::map`] maps only files on a
//! read-only mount; [`OpenOptions::map_accepting_writers`] maps anywhere and
//! is only for files on storage no other process can write, because a writer
//! can change mapped tensor bytes after verification, or truncate the file
//! and kill the reader with SIGBUS. In every mode the manifest and blocks are
//! hashed, verified and decoded from one private copy, and each ciphertext
//! chunk is copied once and authenticated and decrypted in that copy.
//!
//! **Integrity is not authenticity.** [`Model::checked`] says what vouches for
//! the contents: only a trusted signature does. An unsigned encrypted file
//! can be made by anyone holding a recipient's public key.
//!
//! Sealing: sign, encrypt to a recipient, open with trust and an identity.
//!
//! ```
//! use std::sync::Arc;
//! use tensorseal::*;
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("sealed.tseal");
//! let signer = SigningKey::generate_os()?;
//! let recipient = RecipientSecretKey::generate_os()?;
//! let mut trust = TrustStore::new();
//! trust.add(signer.verifying_key().clone());
//! let options = WriteOptions {
//!     signers: vec![Arc::new(signer)],
//!     recipients: vec![recipient.public_key().clone()],
//!     ..WriteOptions::default()
//! };
//! let info = ModelInfo { model_id: "tiny".into(), version: 1, ..ModelInfo::default() };
//! let mut w = Writer::create(&path, info, options)?;
//! w.add("w", Dtype::F32, &[2], bytemuck::cast_slice(&[1.0f32, 2.0]))?;
//! w.finish()?;
//!
//! let policy = Policy::require_signature().trust(trust);
//! // Keyless: signatures, structure and every slice digest verify; data stays sealed.
//! let keyless = Model::open(&path, &policy)?;
//! assert!(keyless.tensor("w").is_err());
//! // With the identity: checks commitment and header MAC, then decrypts on access.
//! let model = Model::open_with(&path, &policy, OpenOptions::new().identity(recipient))?;
//! assert_eq!(model.tensor("w")?.as_slice::<f32>()?, &[1.0, 2.0]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Rollback protection is an explicit step after a file is accepted: a
//! [`RollbackStore`] keeps, per model id across every trusted signer, the
//! highest version accepted ([`RollbackStore::check_and_record`]); a
//! [`Policy`] can also expect a model id ([`Policy::expect_model_id`]), so
//! that a validly signed file of another model is refused.
//!
//! # Cargo features
//!
//! * `ndarray` (default): `TensorView::array_view`.
//! * `test-vectors` (off): `VectorRng` and `WriteOptions::vector_seed`, which
//!   make keys, salts and signature randomness deterministic for the
//!   conformance vectors. Without the feature neither exists, so no caller of
//!   a normal build can make a file's keys predictable. Enable it only in
//!   tests and vector generators.
#![deny(unsafe_code)]
#![deny(missing_docs)]

mod backing;
pub mod config_file;
mod digest;
mod error;
mod opening;
mod policy;
mod reader;
pub mod rollback;
mod safetensors_io;
pub mod seal;
mod tail;
mod trust;
mod verify_stream;
mod writeback;
mod writer;

pub use backing::FileBytes;
pub use digest::{digest, digest_eq, SliceHasher};
pub use error::{Error, ErrorKind, Result};
pub use policy::{Authenticity, Checked, Policy, Verification};
pub use reader::{sha256, sha256_read, Element, Model, OpenOptions, ReadMode, TensorView};
pub use rollback::{Release, RollbackState, RollbackStore};
pub use safetensors_io::{export_safetensors, import_safetensors, meta_text};
#[cfg(feature = "test-vectors")]
pub use seal::VectorRng;
pub use seal::{parse_recipient_block, verify_signature_block, Signer};
pub use tail::{grant_file, sign_file, Grant};
pub use trust::TrustStore;
pub use verify_stream::{verify_file, VerifyReport};
pub use writer::{SlicePolicy, WriteOptions, Writer};

pub use tensorseal_crypto as crypto;

pub use tensorseal_crypto::{
    Fingerprint, RecipientPublicKey, RecipientSecretKey, SigningKey, VerifyingKey,
};
pub use tensorseal_format as format;
pub use tensorseal_format::{
    DigestAlgorithm, Dtype, Manifest, MetaValue, ModelInfo, Producer, Source, TensorInfo,
};
