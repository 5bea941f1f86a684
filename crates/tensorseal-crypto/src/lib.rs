//! Cryptographic primitives for tensorseal sealed model-weight containers.
//!
//! This crate knows nothing about the container layout; it provides:
//!
//! * **Composite signatures** `id-MLDSA65-Ed25519-SHA512`, byte for byte as in
//!   draft-ietf-lamps-pq-composite-sigs (-19): [`SigningKey`], [`VerifyingKey`],
//!   [`Signature`], [`Fingerprint`].
//! * **Recipients**: HPKE base mode with KEM X-Wing (0x647a), HKDF-SHA256 and
//!   ChaCha20-Poly1305, wire-compatible with age's `mlkem768x25519` stanzas:
//!   [`RecipientSecretKey`], [`RecipientPublicKey`], [`Stanza`], [`wrap`],
//!   [`try_wrap`], [`wrap_os`], [`unwrap`], [`wrap_file_key`], [`unwrap_file_key`].
//! * **Key schedule**: [`FileKey`], [`key_commitment`], [`header_mac_key`],
//!   [`header_mac`], [`verify_header_mac`], [`slice_key`], [`slice_key_commitment`].
//! * **Slice encryption**: age's STREAM with detached tags and random access:
//!   [`seal_chunk`], [`open_chunk`], [`seal_slice`], [`open_slice`],
//!   [`open_chunk_range`], [`open_chunk_range_into`], [`open_chunk_range_from`]
//!   ([`CiphertextSource`]), [`CHUNK_SIZE`].
//! * **Key files**: [`parse_key`], the typed `parse_*` helpers, `to_text()` on
//!   every key type, [`write_secret_key_file`], [`write_public_key_file`]
//!   (formats in the [`keyfile`] module docs).
//! * **Passphrase-protected secret keys** (scrypt + ChaCha20-Poly1305):
//!   [`protect_secret_key`], [`unprotect_secret_key`], [`is_protected`],
//!   [`KdfParams`] (format in the [`passphrase`] module docs).
//!
//! # Example
//!
//! ```
//! use tensorseal_crypto as ts;
//!
//! # fn main() -> Result<(), ts::Error> {
//! // Sign and verify.
//! let signer = ts::SigningKey::generate_os()?;
//! let sig = signer.sign(b"seal statement", b"tensorseal/v1/seal")?;
//! signer.verifying_key().verify(b"seal statement", b"tensorseal/v1/seal", &sig)?;
//!
//! // Wrap a file key to a recipient and derive a slice key.
//! let mut rng = ts::os_rng();
//! let recipient = ts::RecipientSecretKey::generate(&mut rng);
//! let file_key = ts::FileKey::generate(&mut rng);
//! let stanza = ts::wrap_file_key(recipient.public_key(), &file_key, &mut rng)?;
//! let opened = ts::unwrap_file_key(&recipient, &stanza)?;
//! assert_eq!(opened.as_bytes(), file_key.as_bytes());
//!
//! let salt = ts::generate_salt(&mut rng);
//! let key = ts::slice_key(&file_key, &salt, 0, &ts::generate_salt(&mut rng), &[0u8; 32]);
//! let mut data = vec![7u8; 100_000];
//! let tags = ts::seal_slice(&key, &mut data)?;
//! ts::open_slice(&key, &mut data, &tags)?;
//! assert!(data.iter().all(|b| *b == 7));
//!
//! // Key files are typed text.
//! let text = recipient.public_key().to_text();
//! assert!(text.starts_with("age1pq1"));
//! assert!(ts::parse_signing_key(&text).is_err());
//! # Ok(())
//! # }
//! ```
//!
//! # LABELS
//!
//! Every domain-separation string, all in [`labels`]:
//!
//! | label | use |
//! |---|---|
//! | `tensorseal/v1/key-commitment` | HKDF-Expand info: file key commitment, `PRK = HKDF-Extract(salt, file_key)` |
//! | `tensorseal/v1/header-mac` | HKDF-Expand info: HMAC-SHA256 header MAC key (same PRK) |
//! | `tensorseal/v1/slice-key` | HKDF-Expand info prefix: slice secret, followed by `u64be(index) \|\| slice_salt(32) \|\| descriptor_digest(32)` (same PRK) |
//! | `tensorseal/v1/slice-aead` | HKDF-Expand info with PRK = slice secret: the slice's ChaCha20-Poly1305 key |
//! | `tensorseal/v1/slice-commitment` | HKDF-Expand info with PRK = slice secret: the slice key commitment |
//! | `tensorseal/v1/x-wing` | HPKE `info` of tensorseal recipient stanzas |
//! | `tensorseal/v1/fingerprint/signer` | fingerprint = SHA-256(label \|\| 0x00 \|\| 1984-byte signer public key) |
//! | `tensorseal/v1/fingerprint/recipient` | fingerprint = SHA-256(label \|\| 0x00 \|\| 1216-byte recipient public key) |
//! | `tensorseal/v1/keyfile-checksum` | 4-byte checksum of armored signer key files |
//! | `CompositeAlgorithmSignatures2025`, `COMPSIG-MLDSA65-Ed25519-SHA512` | composite signature prefix and label (from the draft, not ours) |
//! | `age-encryption.org/mlkem768x25519` | age's HPKE `info`, used only to prove interoperability |
//!
//! All HKDF outputs are 32 bytes. STREAM chunk nonces are
//! `u88be(counter) || last_flag` with empty AAD, as in age.
//!
//! # Randomness
//!
//! Functions take a [`rand_core::CryptoRng`] (rand_core 0.10, re-exported),
//! the same trait `ml-dsa`, `ed25519-dalek` 3 and `hpke` 0.15 use. Keys are
//! generated as seeds and expanded deterministically, so a key depends only on
//! the RNG's bytes. [`os_rng`] gives the operating system RNG but panics if
//! it fails; the `generate_os` constructors, [`wrap_os`] and [`try_wrap`]
//! (any [`rand_core::TryCryptoRng`]) report [`Error::Rng`] instead.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
pub mod keyfile;
pub mod labels;
pub mod passphrase;
mod recipient;
mod rng;
mod schedule;
mod sig;
mod stream;

#[cfg(test)]
mod kat_age;

pub use error::{Error, Result};
pub use keyfile::{
    detect_kind, parse_key, parse_recipient_public_key, parse_recipient_secret_key,
    parse_signing_key, parse_verifying_key, write_public_key_file, write_secret_key_file, AnyKey,
    KeyKind,
};
pub use passphrase::{
    is_protected, protect_secret_key, protect_secret_key_os, unprotect_secret_key, KdfParams,
};
pub use rand_core;
pub use recipient::{
    try_wrap, unwrap, unwrap_file_key, wrap, wrap_file_key, wrap_os, RecipientPublicKey,
    RecipientSecretKey, Stanza, ENC_LEN, FILE_KEY_STANZA_BODY_LEN, RECIPIENT_PUBLIC_KEY_LEN,
    RECIPIENT_SECRET_KEY_LEN,
};
pub use schedule::{
    generate_salt, header_mac, header_mac_key, key_commitment, slice_key, slice_key_commitment,
    verify_header_mac, verify_key_commitment, verify_slice_key_commitment, FileKey, HeaderMacKey,
    SliceKey, FILE_KEY_LEN, SALT_LEN,
};
pub use sig::{
    Fingerprint, Signature, SigningKey, VerifyingKey, COMPOSITE_LABEL, COMPOSITE_OID,
    COMPOSITE_PREFIX, MAX_CONTEXT_LEN, SIGNATURE_LEN, SIGNING_KEY_LEN, VERIFYING_KEY_LEN,
};
pub use stream::{
    chunk_count, open_chunk, open_chunk_range, open_chunk_range_from, open_chunk_range_into,
    open_slice, seal_chunk, seal_slice, CiphertextSource, Tag, CHUNK_SIZE, TAG_LEN,
};

/// The operating system RNG as an infallible [`rand_core::CryptoRng`].
///
/// **Panics** if the operating system cannot supply randomness (no input can
/// cause that, but it is still a panic): for tests, examples and tools only.
/// Library code should use the fallible forms, which return [`Error::Rng`]:
/// the `generate_os` constructors, [`wrap_os`], [`try_wrap`] and
/// [`SigningKey::sign`], or pass [`getrandom::SysRng`] (a
/// [`rand_core::TryCryptoRng`]) where a fallible RNG is accepted.
pub fn os_rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}
