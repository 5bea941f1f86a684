//! Composite signatures `id-MLDSA65-Ed25519-SHA512` (draft-ietf-lamps-pq-composite-sigs).

use core::fmt;

use ed25519_dalek::Signer as _;
use ml_dsa::{EncodedSignature, EncodedVerifyingKey, ExpandedSigningKey, MlDsa65, B32};
use rand_core::{CryptoRng, TryCryptoRng};
use sha2::{Digest, Sha256, Sha512};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::labels;

/// Composite algorithm prefix, `"CompositeAlgorithmSignatures2025"`.
pub const COMPOSITE_PREFIX: &[u8] = b"CompositeAlgorithmSignatures2025";
/// Composite label of `id-MLDSA65-Ed25519-SHA512`, also the ML-DSA FIPS 204 context.
pub const COMPOSITE_LABEL: &[u8] = b"COMPSIG-MLDSA65-Ed25519-SHA512";
/// Dotted OID of `id-MLDSA65-Ed25519-SHA512`.
pub const COMPOSITE_OID: &str = "1.3.6.1.5.5.7.6.48";

/// ML-DSA-65 public key length.
pub const MLDSA65_PUBLIC_KEY_LEN: usize = 1952;
/// ML-DSA-65 signature length.
pub const MLDSA65_SIGNATURE_LEN: usize = 3309;
/// Composite secret key length: ML-DSA-65 seed (32) || Ed25519 seed (32).
pub const SIGNING_KEY_LEN: usize = 64;
/// Composite public key length: ML-DSA-65 public key (1952) || Ed25519 public key (32).
pub const VERIFYING_KEY_LEN: usize = MLDSA65_PUBLIC_KEY_LEN + 32;
/// Composite signature length: ML-DSA-65 signature (3309) || Ed25519 signature (64).
pub const SIGNATURE_LEN: usize = MLDSA65_SIGNATURE_LEN + 64;
/// Longest allowed application context.
pub const MAX_CONTEXT_LEN: usize = 255;

/// Builds the composite message representative
/// `M' = Prefix || Label || u8(len(ctx)) || ctx || SHA-512(msg)`.
fn message_representative(msg: &[u8], ctx: &[u8]) -> Result<Vec<u8>> {
    let ctx_len = u8::try_from(ctx.len()).map_err(|_| Error::ContextTooLong(ctx.len()))?;
    let digest = Sha512::digest(msg);
    let mut m =
        Vec::with_capacity(COMPOSITE_PREFIX.len() + COMPOSITE_LABEL.len() + 1 + ctx.len() + 64);
    m.extend_from_slice(COMPOSITE_PREFIX);
    m.extend_from_slice(COMPOSITE_LABEL);
    m.push(ctx_len);
    m.extend_from_slice(ctx);
    m.extend_from_slice(&digest);
    Ok(m)
}

fn split_array<const A: usize, const B: usize>(bytes: &[u8]) -> Option<([u8; A], [u8; B])> {
    if bytes.len() != A + B {
        return None;
    }
    let (a, b) = bytes.split_at(A);
    Some((a.try_into().ok()?, b.try_into().ok()?))
}

/// A composite ML-DSA-65 + Ed25519 signing (secret) key.
///
/// Serialized as 64 bytes: the ML-DSA-65 seed followed by the Ed25519 seed.
/// All secret material is zeroized on drop; `Debug` prints only the fingerprint.
pub struct SigningKey(Box<SigningKeyInner>);

struct SigningKeyInner {
    seed: Zeroizing<[u8; SIGNING_KEY_LEN]>,
    mldsa: ExpandedSigningKey<MlDsa65>,
    ed: ed25519_dalek::SigningKey,
    public: VerifyingKey,
}

impl SigningKey {
    /// Generates a fresh key from a cryptographic RNG.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0u8; SIGNING_KEY_LEN]);
        rng.fill_bytes(seed.as_mut());
        Self::from_seed(&seed)
    }

    /// Generates a fresh key from the operating system's RNG.
    pub fn generate_os() -> Result<Self> {
        let mut seed = Zeroizing::new([0u8; SIGNING_KEY_LEN]);
        getrandom::fill(seed.as_mut()).map_err(|_| Error::Rng)?;
        Ok(Self::from_seed(&seed))
    }

    /// Rebuilds a key from its 64-byte encoding (ML-DSA seed || Ed25519 seed).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let seed: &[u8; SIGNING_KEY_LEN] = bytes.try_into().map_err(|_| Error::InvalidLength {
            what: "composite signing key",
            expected: SIGNING_KEY_LEN,
            found: bytes.len(),
        })?;
        Ok(Self::from_seed(seed))
    }

    fn from_seed(seed: &[u8; SIGNING_KEY_LEN]) -> Self {
        let mut mldsa_seed = Zeroizing::new([0u8; 32]);
        let mut ed_seed = Zeroizing::new([0u8; 32]);
        mldsa_seed.copy_from_slice(&seed[..32]);
        ed_seed.copy_from_slice(&seed[32..]);
        let b32 = Zeroizing::new(B32::from(*mldsa_seed));
        let mldsa = ExpandedSigningKey::<MlDsa65>::from_seed(&b32);
        let ed = ed25519_dalek::SigningKey::from_bytes(&ed_seed);
        let mut pk = Box::new([0u8; VERIFYING_KEY_LEN]);
        let mldsa_vk = mldsa.verifying_key();
        pk[..MLDSA65_PUBLIC_KEY_LEN].copy_from_slice(&mldsa_vk.encode());
        let ed_vk = ed.verifying_key();
        pk[MLDSA65_PUBLIC_KEY_LEN..].copy_from_slice(ed_vk.as_bytes());
        let public = VerifyingKey {
            bytes: pk,
            mldsa: Box::new(mldsa_vk),
            ed: ed_vk,
        };
        Self(Box::new(SigningKeyInner {
            seed: Zeroizing::new(*seed),
            mldsa,
            ed,
            public,
        }))
    }

    /// The 64-byte secret encoding. Handle with care.
    pub fn to_bytes(&self) -> Zeroizing<[u8; SIGNING_KEY_LEN]> {
        self.0.seed.clone()
    }

    /// The matching public key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.0.public
    }

    /// Fingerprint of the matching public key.
    pub fn fingerprint(&self) -> Fingerprint {
        self.0.public.fingerprint()
    }

    /// Signs `msg` under application context `ctx` (at most 255 bytes), with
    /// hedged ML-DSA randomness from the operating system.
    pub fn sign(&self, msg: &[u8], ctx: &[u8]) -> Result<Signature> {
        self.sign_with_rng(msg, ctx, &mut getrandom::SysRng)
    }

    /// Signs `msg` under context `ctx`, drawing ML-DSA's hedging randomness from `rng`.
    pub fn sign_with_rng<R: TryCryptoRng + ?Sized>(
        &self,
        msg: &[u8],
        ctx: &[u8],
        rng: &mut R,
    ) -> Result<Signature> {
        let m = message_representative(msg, ctx)?;
        let mldsa_sig = self
            .0
            .mldsa
            .sign_randomized(&m, COMPOSITE_LABEL, rng)
            .map_err(|_| Error::SigningFailed)?;
        let ed_sig = self.0.ed.sign(&m);
        let mut out = Box::new([0u8; SIGNATURE_LEN]);
        out[..MLDSA65_SIGNATURE_LEN].copy_from_slice(&mldsa_sig.encode());
        out[MLDSA65_SIGNATURE_LEN..].copy_from_slice(&ed_sig.to_bytes());
        Ok(Signature(out))
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

/// A composite ML-DSA-65 + Ed25519 verifying (public) key, 1984 bytes.
#[derive(Clone)]
pub struct VerifyingKey {
    bytes: Box<[u8; VERIFYING_KEY_LEN]>,
    mldsa: Box<ml_dsa::VerifyingKey<MlDsa65>>,
    ed: ed25519_dalek::VerifyingKey,
}

impl VerifyingKey {
    /// Parses the 1984-byte encoding. Rejects an Ed25519 half that is not a
    /// valid curve point or is of small order.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (mldsa_bytes, ed_bytes) =
            split_array::<MLDSA65_PUBLIC_KEY_LEN, 32>(bytes).ok_or(Error::InvalidLength {
                what: "composite verifying key",
                expected: VERIFYING_KEY_LEN,
                found: bytes.len(),
            })?;
        let ed = ed25519_dalek::VerifyingKey::from_bytes(&ed_bytes)
            .map_err(|_| Error::InvalidKey("Ed25519 public key"))?;
        if ed.is_weak() {
            return Err(Error::InvalidKey("Ed25519 public key (small order)"));
        }
        let enc = EncodedVerifyingKey::<MlDsa65>::from(mldsa_bytes);
        let mldsa = Box::new(ml_dsa::VerifyingKey::<MlDsa65>::decode(&enc));
        let mut all = Box::new([0u8; VERIFYING_KEY_LEN]);
        all.copy_from_slice(bytes);
        Ok(Self {
            bytes: all,
            mldsa,
            ed,
        })
    }

    /// The 1984-byte encoding.
    pub fn to_bytes(&self) -> [u8; VERIFYING_KEY_LEN] {
        *self.bytes
    }

    /// Borrows the 1984-byte encoding.
    pub fn as_bytes(&self) -> &[u8; VERIFYING_KEY_LEN] {
        &self.bytes
    }

    /// Domain-separated SHA-256 fingerprint (see [`labels::FINGERPRINT_SIGNER`]).
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::compute(labels::FINGERPRINT_SIGNER, self.bytes.as_slice())
    }

    /// Verifies a composite signature over `msg` under context `ctx`.
    /// Both the ML-DSA-65 and the Ed25519 (strict) signatures must verify.
    pub fn verify(&self, msg: &[u8], ctx: &[u8], sig: &Signature) -> Result<()> {
        let m = message_representative(msg, ctx)?;
        let (mldsa_bytes, ed_bytes) = split_array::<MLDSA65_SIGNATURE_LEN, 64>(sig.0.as_slice())
            .ok_or(Error::BadSignature)?;
        let enc = EncodedSignature::<MlDsa65>::from(mldsa_bytes);
        let mldsa_sig = ml_dsa::Signature::<MlDsa65>::decode(&enc).ok_or(Error::BadSignature)?;
        let ed_sig = ed25519_dalek::Signature::from_bytes(&ed_bytes);
        let mldsa_ok = self
            .mldsa
            .verify_with_context(&m, COMPOSITE_LABEL, &mldsa_sig);
        let ed_ok = self.ed.verify_strict(&m, &ed_sig).is_ok();
        if mldsa_ok && ed_ok {
            Ok(())
        } else {
            Err(Error::BadSignature)
        }
    }
}

impl PartialEq for VerifyingKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}
impl Eq for VerifyingKey {}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

/// A composite signature: ML-DSA-65 signature (3309 B) || Ed25519 signature (64 B).
#[derive(Clone, PartialEq, Eq)]
pub struct Signature(Box<[u8; SIGNATURE_LEN]>);

impl Signature {
    /// Parses a 3373-byte signature. Only the length is checked here; the
    /// components' internal structure is checked by [`VerifyingKey::verify`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let arr: &[u8; SIGNATURE_LEN] = bytes.try_into().map_err(|_| Error::InvalidLength {
            what: "composite signature",
            expected: SIGNATURE_LEN,
            found: bytes.len(),
        })?;
        Ok(Self(Box::new(*arr)))
    }

    /// The 3373-byte encoding.
    pub fn to_bytes(&self) -> [u8; SIGNATURE_LEN] {
        *self.0
    }

    /// Borrows the 3373-byte encoding.
    pub fn as_bytes(&self) -> &[u8; SIGNATURE_LEN] {
        &self.0
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = Sha256::digest(self.0.as_slice());
        write!(f, "Signature(sha256:")?;
        for b in d.iter().take(8) {
            write!(f, "{b:02x}")?;
        }
        write!(f, "..)")
    }
}

/// A 32-byte key fingerprint: `SHA-256(domain label || 0x00 || public key)`.
///
/// Signer and recipient fingerprints use different labels, so the same bytes
/// can never be both. `Display` prints 64 lowercase hex digits; [`Fingerprint::short`]
/// prints the first 16.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    pub(crate) fn compute(label: &str, public_key: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(label.as_bytes());
        h.update([0u8]);
        h.update(public_key);
        Self(h.finalize().into())
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// First 8 bytes as 16 lowercase hex digits, for display in lists.
    pub fn short(&self) -> String {
        self.to_string().chars().take(16).collect()
    }

    /// Parses 64 hex digits (either case).
    pub fn from_hex(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
            let hi = char::from(*pair.first()?).to_digit(16)?;
            let lo = char::from(*pair.get(1)?).to_digit(16)?;
            *o = u8::try_from(hi * 16 + lo).ok()?;
        }
        Some(Self(out))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}
