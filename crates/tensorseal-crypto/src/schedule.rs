//! Key schedule: file key, key commitment, header MAC, per-slice keys.
//!
//! ```text
//! PRK        = HKDF-Extract(salt = file salt (32 B), ikm = file key (32 B))
//! commitment = HKDF-Expand(PRK, "tensorseal/v1/key-commitment", 32)
//! mac key    = HKDF-Expand(PRK, "tensorseal/v1/header-mac", 32)
//! slice S_i  = HKDF-Expand(PRK, "tensorseal/v1/slice-key" || u64be(i) || slice_salt || descriptor_digest, 32)
//! aead key   = HKDF-Expand(S_i, "tensorseal/v1/slice-aead", 32)
//! slice cmt  = HKDF-Expand(S_i, "tensorseal/v1/slice-commitment", 32)
//! ```

use core::fmt;

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use rand_core::CryptoRng;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result};
use crate::labels;

/// Length of a file key.
pub const FILE_KEY_LEN: usize = 32;
/// Length of the file salt and of a slice salt.
pub const SALT_LEN: usize = 32;

/// The 32-byte file key every recipient unwraps. Zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct FileKey([u8; FILE_KEY_LEN]);

impl FileKey {
    /// Draws a fresh key from `rng`.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut k = [0u8; FILE_KEY_LEN];
        rng.fill_bytes(&mut k);
        Self(k)
    }

    /// Draws a fresh key from the operating system RNG.
    pub fn generate_os() -> Result<Self> {
        let mut k = [0u8; FILE_KEY_LEN];
        getrandom::fill(&mut k).map_err(|_| Error::Rng)?;
        Ok(Self(k))
    }

    /// Wraps existing key bytes (for example unwrapped from a stanza).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let arr: [u8; FILE_KEY_LEN] = bytes.try_into().map_err(|_| Error::InvalidLength {
            what: "file key",
            expected: FILE_KEY_LEN,
            found: bytes.len(),
        })?;
        Ok(Self(arr))
    }

    /// The key bytes. Handle with care.
    pub fn as_bytes(&self) -> &[u8; FILE_KEY_LEN] {
        &self.0
    }

    fn prk(&self, salt: &[u8; SALT_LEN]) -> Hkdf<Sha256> {
        Hkdf::<Sha256>::new(Some(salt), &self.0)
    }
}

impl fmt::Debug for FileKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FileKey(<redacted>)")
    }
}

/// Draws a fresh 32-byte salt (file salt or slice salt) from `rng`.
pub fn generate_salt<R: CryptoRng + ?Sized>(rng: &mut R) -> [u8; SALT_LEN] {
    let mut s = [0u8; SALT_LEN];
    rng.fill_bytes(&mut s);
    s
}

fn expand32(hk: &Hkdf<Sha256>, info: &[&[u8]]) -> [u8; 32] {
    let mut out = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit, so this cannot fail.
    if hk.expand_multi_info(info, &mut out).is_err() {
        unreachable!("HKDF-SHA256 can always expand 32 bytes");
    }
    out
}

fn ct_check(a: &[u8; 32], b: &[u8; 32], err: Error) -> Result<()> {
    if bool::from(a.ct_eq(b)) {
        Ok(())
    } else {
        Err(err)
    }
}

/// The file key commitment stored in the manifest and checked before any decryption.
pub fn key_commitment(file_key: &FileKey, salt: &[u8; SALT_LEN]) -> [u8; 32] {
    expand32(&file_key.prk(salt), &[labels::KEY_COMMITMENT.as_bytes()])
}

/// Constant-time check of a stored key commitment.
pub fn verify_key_commitment(
    file_key: &FileKey,
    salt: &[u8; SALT_LEN],
    commitment: &[u8; 32],
) -> Result<()> {
    ct_check(
        &key_commitment(file_key, salt),
        commitment,
        Error::KeyCommitmentMismatch,
    )
}

/// HMAC-SHA256 key for the header MAC. Zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct HeaderMacKey([u8; 32]);

impl fmt::Debug for HeaderMacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HeaderMacKey(<redacted>)")
    }
}

/// Derives the header MAC key from the file key and file salt.
pub fn header_mac_key(file_key: &FileKey, salt: &[u8; SALT_LEN]) -> HeaderMacKey {
    HeaderMacKey(expand32(
        &file_key.prk(salt),
        &[labels::HEADER_MAC.as_bytes()],
    ))
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// HMAC-SHA256 of the header bytes.
pub fn header_mac(key: &HeaderMacKey, header: &[u8]) -> [u8; 32] {
    hmac_sha256(&key.0, header)
}

/// Constant-time verification of a header MAC.
pub fn verify_header_mac(key: &HeaderMacKey, header: &[u8], mac: &[u8; 32]) -> Result<()> {
    ct_check(&header_mac(key, header), mac, Error::HeaderMacMismatch)
}

/// A per-slice secret. Zeroized on drop.
///
/// It can be handed to a recipient on its own (a per-slice grant): from it the
/// holder derives the slice's ChaCha20-Poly1305 key and its key commitment, but
/// nothing about other slices or the file key.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SliceKey {
    secret: [u8; 32],
    pub(crate) aead: [u8; 32],
}

impl SliceKey {
    /// Rebuilds a slice key from its 32-byte secret (as granted to a recipient).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let secret: [u8; 32] = bytes.try_into().map_err(|_| Error::InvalidLength {
            what: "slice key",
            expected: 32,
            found: bytes.len(),
        })?;
        Ok(Self::from_secret(secret))
    }

    fn from_secret(secret: [u8; 32]) -> Self {
        let aead = match Hkdf::<Sha256>::from_prk(&secret) {
            Ok(hk) => expand32(&hk, &[labels::SLICE_AEAD.as_bytes()]),
            Err(_) => unreachable!("a 32-byte PRK is valid for HKDF-SHA256"),
        };
        Self { secret, aead }
    }

    /// The 32-byte slice secret (for wrapping into a per-slice grant).
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret)
    }
}

impl fmt::Debug for SliceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SliceKey(<redacted>)")
    }
}

/// Derives slice `slice_index`'s key, bound to its random salt and to the
/// SHA-256 digest of its descriptor (names, dtypes, shapes, offsets, length).
pub fn slice_key(
    file_key: &FileKey,
    salt: &[u8; SALT_LEN],
    slice_index: u64,
    slice_salt: &[u8; SALT_LEN],
    descriptor_digest: &[u8; 32],
) -> SliceKey {
    let secret = expand32(
        &file_key.prk(salt),
        &[
            labels::SLICE_KEY.as_bytes(),
            &slice_index.to_be_bytes(),
            slice_salt,
            descriptor_digest,
        ],
    );
    SliceKey::from_secret(secret)
}

/// Key commitment of a single slice, computable from the slice key alone.
pub fn slice_key_commitment(key: &SliceKey) -> [u8; 32] {
    match Hkdf::<Sha256>::from_prk(&key.secret) {
        Ok(hk) => expand32(&hk, &[labels::SLICE_COMMITMENT.as_bytes()]),
        Err(_) => unreachable!("a 32-byte PRK is valid for HKDF-SHA256"),
    }
}

/// Constant-time check of a slice key commitment.
pub fn verify_slice_key_commitment(key: &SliceKey, commitment: &[u8; 32]) -> Result<()> {
    ct_check(
        &slice_key_commitment(key),
        commitment,
        Error::KeyCommitmentMismatch,
    )
}
