//! Recipients: HPKE (RFC 9180) base mode with KEM X-Wing (MLKEM768-X25519,
//! 0x647a), KDF HKDF-SHA256 and AEAD ChaCha20-Poly1305, as age's
//! `mlkem768x25519` recipient type but with tensorseal's own `info` label.

use core::fmt;

use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::XWing;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use rand_core::{CryptoRng, TryCryptoRng};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::labels;
use crate::schedule::{FileKey, FILE_KEY_LEN};
use crate::sig::Fingerprint;

type XWingSecret = <XWing as hpke::Kem>::PrivateKey;
type XWingPublic = <XWing as hpke::Kem>::PublicKey;
type XWingEnc = <XWing as hpke::Kem>::EncappedKey;

/// X-Wing secret key (seed) length.
pub const RECIPIENT_SECRET_KEY_LEN: usize = 32;
/// X-Wing public key length: ML-KEM-768 encapsulation key (1184) || X25519 (32).
pub const RECIPIENT_PUBLIC_KEY_LEN: usize = 1216;
/// X-Wing encapsulation length.
pub const ENC_LEN: usize = 1120;
/// ChaCha20-Poly1305 tag length inside a stanza body.
pub const STANZA_TAG_LEN: usize = 16;
/// Body length of a stanza that wraps a 32-byte [`FileKey`].
pub const FILE_KEY_STANZA_BODY_LEN: usize = FILE_KEY_LEN + STANZA_TAG_LEN;

/// An X-Wing recipient secret key (the 32-byte seed). Zeroized on drop.
#[derive(Clone)]
pub struct RecipientSecretKey {
    seed: Zeroizing<[u8; RECIPIENT_SECRET_KEY_LEN]>,
    sk: XWingSecret,
    public: RecipientPublicKey,
}

impl RecipientSecretKey {
    /// Generates a fresh key from a cryptographic RNG.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0u8; RECIPIENT_SECRET_KEY_LEN]);
        rng.fill_bytes(seed.as_mut());
        Self::from_seed(&seed)
    }

    /// Generates a fresh key from the operating system RNG.
    pub fn generate_os() -> Result<Self> {
        let mut seed = Zeroizing::new([0u8; RECIPIENT_SECRET_KEY_LEN]);
        getrandom::fill(seed.as_mut()).map_err(|_| Error::Rng)?;
        Ok(Self::from_seed(&seed))
    }

    /// Rebuilds a key from its 32-byte seed (the same bytes as an age
    /// `AGE-SECRET-KEY-PQ-1…` identity).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let seed: &[u8; RECIPIENT_SECRET_KEY_LEN] =
            bytes.try_into().map_err(|_| Error::InvalidLength {
                what: "recipient secret key",
                expected: RECIPIENT_SECRET_KEY_LEN,
                found: bytes.len(),
            })?;
        Ok(Self::from_seed(seed))
    }

    fn from_seed(seed: &[u8; RECIPIENT_SECRET_KEY_LEN]) -> Self {
        let sk = match XWingSecret::from_bytes(seed) {
            Ok(sk) => sk,
            Err(_) => unreachable!("any 32 bytes are an X-Wing seed"),
        };
        let pk = XWing::sk_to_pk(&sk);
        let mut bytes = Box::new([0u8; RECIPIENT_PUBLIC_KEY_LEN]);
        bytes.copy_from_slice(&pk.to_bytes());
        Self {
            seed: Zeroizing::new(*seed),
            sk,
            public: RecipientPublicKey { bytes, pk },
        }
    }

    /// The 32-byte seed. Handle with care.
    pub fn to_bytes(&self) -> Zeroizing<[u8; RECIPIENT_SECRET_KEY_LEN]> {
        self.seed.clone()
    }

    /// The matching public key.
    pub fn public_key(&self) -> &RecipientPublicKey {
        &self.public
    }

    /// Fingerprint of the matching public key.
    pub fn fingerprint(&self) -> Fingerprint {
        self.public.fingerprint()
    }
}

impl fmt::Debug for RecipientSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecipientSecretKey")
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

/// An X-Wing recipient public key (1216 bytes).
#[derive(Clone)]
pub struct RecipientPublicKey {
    bytes: Box<[u8; RECIPIENT_PUBLIC_KEY_LEN]>,
    pk: XWingPublic,
}

impl RecipientPublicKey {
    /// Parses and validates the 1216-byte encoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let arr: &[u8; RECIPIENT_PUBLIC_KEY_LEN] =
            bytes.try_into().map_err(|_| Error::InvalidLength {
                what: "recipient public key",
                expected: RECIPIENT_PUBLIC_KEY_LEN,
                found: bytes.len(),
            })?;
        let pk = XWingPublic::from_bytes(arr)
            .map_err(|_| Error::InvalidKey("X-Wing recipient public key"))?;
        Ok(Self {
            bytes: Box::new(*arr),
            pk,
        })
    }

    /// The 1216-byte encoding.
    pub fn to_bytes(&self) -> [u8; RECIPIENT_PUBLIC_KEY_LEN] {
        *self.bytes
    }

    /// Borrows the 1216-byte encoding.
    pub fn as_bytes(&self) -> &[u8; RECIPIENT_PUBLIC_KEY_LEN] {
        &self.bytes
    }

    /// Domain-separated SHA-256 fingerprint (see [`labels::FINGERPRINT_RECIPIENT`]).
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::compute(labels::FINGERPRINT_RECIPIENT, self.bytes.as_slice())
    }
}

impl PartialEq for RecipientPublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}
impl Eq for RecipientPublicKey {}

impl fmt::Debug for RecipientPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecipientPublicKey")
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

/// One wrapped key: the X-Wing encapsulation and the HPKE ciphertext.
///
/// Byte encoding ([`Stanza::to_bytes`]): `enc (1120 B) || body`.
#[derive(Clone, PartialEq, Eq)]
pub struct Stanza {
    /// The 1120-byte X-Wing encapsulated key.
    pub enc: [u8; ENC_LEN],
    /// The HPKE ciphertext: sealed plaintext followed by the 16-byte tag.
    pub body: Vec<u8>,
}

impl Stanza {
    /// Builds a stanza from separately stored parts; `enc` must be exactly 1120 bytes.
    pub fn new(enc: &[u8], body: Vec<u8>) -> Result<Self> {
        let enc: [u8; ENC_LEN] = enc.try_into().map_err(|_| Error::InvalidLength {
            what: "X-Wing encapsulated key",
            expected: ENC_LEN,
            found: enc.len(),
        })?;
        Ok(Self { enc, body })
    }

    /// Parses `enc || body`; the body must at least hold a tag.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() < ENC_LEN + STANZA_TAG_LEN {
            return Err(Error::InvalidLength {
                what: "recipient stanza (minimum)",
                expected: ENC_LEN + STANZA_TAG_LEN,
                found: bytes.len(),
            });
        }
        let (enc, body) = bytes.split_at(ENC_LEN);
        Self::new(enc, body.to_vec())
    }

    /// Serializes as `enc || body`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(ENC_LEN + self.body.len());
        v.extend_from_slice(&self.enc);
        v.extend_from_slice(&self.body);
        v
    }
}

impl fmt::Debug for Stanza {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stanza")
            .field("enc_len", &self.enc.len())
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// Seals `plaintext` to `recipient` (HPKE SealBase, empty AAD) under `info`.
///
/// tensorseal uses [`labels::RECIPIENT_INFO`] (`"tensorseal/v1/x-wing"`);
/// age uses [`labels::AGE_MLKEM768X25519_INFO`].
pub fn wrap<R: CryptoRng + ?Sized>(
    recipient: &RecipientPublicKey,
    info: &[u8],
    plaintext: &[u8],
    rng: &mut R,
) -> Result<Stanza> {
    // `&mut R` is itself a sized `CryptoRng` (rand_core's DerefMut blanket impl).
    let mut rng = rng;
    let (enc, body) = hpke::single_shot_seal_with_rng::<ChaCha20Poly1305, HkdfSha256, XWing>(
        &OpModeS::Base,
        &recipient.pk,
        info,
        plaintext,
        b"",
        &mut rng,
    )
    .map_err(|_| Error::WrapFailed)?;
    Stanza::new(&enc.to_bytes(), body)
}

/// Like [`wrap`], from a fallible RNG (for example [`getrandom::SysRng`]):
/// if any draw fails, the stanza computed so far is discarded and
/// [`Error::Rng`] is returned, never a panic.
pub fn try_wrap<R: TryCryptoRng + ?Sized>(
    recipient: &RecipientPublicKey,
    info: &[u8],
    plaintext: &[u8],
    rng: &mut R,
) -> Result<Stanza> {
    let mut latch = crate::rng::Latch::new(rng);
    let stanza = wrap(recipient, info, plaintext, &mut latch);
    latch.check()?;
    stanza
}

/// Like [`wrap`], with the operating system RNG; [`Error::Rng`] if it fails.
pub fn wrap_os(recipient: &RecipientPublicKey, info: &[u8], plaintext: &[u8]) -> Result<Stanza> {
    try_wrap(recipient, info, plaintext, &mut getrandom::SysRng)
}

/// Opens a stanza (HPKE OpenBase, empty AAD) under `info`.
///
/// A body shorter than a tag is refused before decapsulation. Callers that
/// expect a fixed plaintext length should check `stanza.body.len()` first, or
/// use [`unwrap_file_key`], to avoid partitioning oracles.
pub fn unwrap(
    identity: &RecipientSecretKey,
    info: &[u8],
    stanza: &Stanza,
) -> Result<Zeroizing<Vec<u8>>> {
    if stanza.body.len() < STANZA_TAG_LEN {
        return Err(Error::InvalidLength {
            what: "recipient stanza body (minimum)",
            expected: STANZA_TAG_LEN,
            found: stanza.body.len(),
        });
    }
    let enc = XWingEnc::from_bytes(&stanza.enc).map_err(|_| Error::UnwrapFailed)?;
    hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, XWing>(
        &OpModeR::Base,
        &identity.sk,
        &enc,
        info,
        &stanza.body,
        b"",
    )
    .map(Zeroizing::new)
    .map_err(|_| Error::UnwrapFailed)
}

/// Wraps a [`FileKey`] under tensorseal's label; the body is always 48 bytes.
pub fn wrap_file_key<R: CryptoRng + ?Sized>(
    recipient: &RecipientPublicKey,
    file_key: &FileKey,
    rng: &mut R,
) -> Result<Stanza> {
    wrap(
        recipient,
        labels::RECIPIENT_INFO.as_bytes(),
        file_key.as_bytes(),
        rng,
    )
}

/// Unwraps a [`FileKey`] under tensorseal's label. Any body length other than
/// 48 bytes is refused before decapsulation.
pub fn unwrap_file_key(identity: &RecipientSecretKey, stanza: &Stanza) -> Result<FileKey> {
    if stanza.body.len() != FILE_KEY_STANZA_BODY_LEN {
        return Err(Error::InvalidLength {
            what: "file key stanza body",
            expected: FILE_KEY_STANZA_BODY_LEN,
            found: stanza.body.len(),
        });
    }
    let pt = unwrap(identity, labels::RECIPIENT_INFO.as_bytes(), stanza)?;
    FileKey::from_bytes(&pt)
}
