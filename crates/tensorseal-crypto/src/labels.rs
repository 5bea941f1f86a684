//! Every domain-separation label the crate uses. See the crate-level `LABELS` section.

/// HKDF-Expand info for the file key commitment.
pub const KEY_COMMITMENT: &str = "tensorseal/v1/key-commitment";
/// HKDF-Expand info for the header MAC key.
pub const HEADER_MAC: &str = "tensorseal/v1/header-mac";
/// HKDF-Expand info prefix for a slice secret (followed by index, slice salt, descriptor digest).
pub const SLICE_KEY: &str = "tensorseal/v1/slice-key";
/// HKDF-Expand info for a slice's ChaCha20-Poly1305 key (PRK = slice secret).
pub const SLICE_AEAD: &str = "tensorseal/v1/slice-aead";
/// HKDF-Expand info for a slice's key commitment (PRK = slice secret).
pub const SLICE_COMMITMENT: &str = "tensorseal/v1/slice-commitment";
/// HPKE `info` for tensorseal's X-Wing recipient stanzas.
pub const RECIPIENT_INFO: &str = "tensorseal/v1/x-wing";
/// Fingerprint domain for composite signer public keys.
pub const FINGERPRINT_SIGNER: &str = "tensorseal/v1/fingerprint/signer";
/// Fingerprint domain for X-Wing recipient public keys.
pub const FINGERPRINT_RECIPIENT: &str = "tensorseal/v1/fingerprint/recipient";
/// Domain for the 4-byte checksum in armored signer key files.
pub const KEYFILE_CHECKSUM: &str = "tensorseal/v1/keyfile-checksum";
/// age's HPKE `info` for `mlkem768x25519` stanzas (interoperability tests only).
pub const AGE_MLKEM768X25519_INFO: &str = "age-encryption.org/mlkem768x25519";
