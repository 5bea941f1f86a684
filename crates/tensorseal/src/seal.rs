//! Signatures, recipients and keys: the glue between the container bytes
//! (`tensorseal-format`) and the primitives (`tensorseal-crypto`).
//!
//! * Signature block: every entry is checked cryptographically (its public key is
//!   in the entry, so untrusted signatures are checked too), and its statement
//!   must name the entry's own key, the file's manifest digest and the file's
//!   format version. Then the [`Policy`] decides on trust.
//! * Recipient block: [`parse_recipient_block`] checks every stanza's shape
//!   before any key is touched; `unlock` (crate-private) tries the caller's identities, checks
//!   the key commitment, then the header MAC, then derives slice keys and checks
//!   their commitments. Nothing is decrypted here.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};
use tensorseal_crypto::{
    self as crypto, FileKey, Fingerprint, RecipientPublicKey, RecipientSecretKey, SigningKey,
    SliceKey, VerifyingKey,
};
use tensorseal_format::{
    Manifest, ModelInfo, RecipientBlock, Scope, SignatureBlock, SignatureEntry, Stanza, Statement,
    TensorInfo, SIGNATURE_CONTEXT, SIG_MLDSA65_ED25519_SHA512, STANZA_XWING_HPKE,
};

use crate::error::{Error, ErrorKind, Result};
use crate::policy::Policy;

/// HPKE `info` prefix of grant stanzas (`Scope::Slices`). The full info is this
/// label followed by `u32be(count)` and `u32be(index)` for every granted slice,
/// so a stanza's scope is bound to its ciphertext.
pub const GRANT_INFO: &[u8] = b"tensorseal/v1/x-wing/slices";

/// Bytes of one slice key inside a grant stanza's plaintext.
pub const SLICE_KEY_LEN: usize = 32;
/// HPKE tag length at the end of every stanza body.
const STANZA_TAG: usize = 16;

/// A signature that verified: who signed, what, and whether the policy trusts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// Fingerprint of the signer's public key.
    pub fingerprint: Fingerprint,
    /// Whether the policy's trust store holds this key.
    pub trusted: bool,
    /// The signed statement.
    pub statement: Statement,
}

/// Checks every entry of a signature block held in `bytes` (found at absolute
/// offset `at`) against a manifest digest and a format version, and returns the
/// signers in block order. Any entry that fails refuses the whole block.
///
/// This is the verify half of verify-then-parse, usable on its own (e.g. as a
/// fuzz target): it reads nothing but `bytes`. `trusted` is left `false`.
pub fn verify_signature_block(
    bytes: &[u8],
    at: u64,
    manifest_sha256: &[u8; 32],
    version: (u16, u16),
) -> Result<Vec<Signer>> {
    let block = SignatureBlock::decode(bytes, at)?;
    block
        .entries
        .iter()
        .enumerate()
        .map(|(i, e)| verify_entry(i, e, manifest_sha256, version))
        .collect()
}

fn verify_entry(
    index: usize,
    e: &SignatureEntry,
    manifest_sha256: &[u8; 32],
    (major, minor): (u16, u16),
) -> Result<Signer> {
    let bad = |reason: String| Error::new(ErrorKind::BadSignature { index, reason });
    if e.algorithm != SIG_MLDSA65_ED25519_SHA512 {
        return Err(bad(format!("unknown signature algorithm {}", e.algorithm)));
    }
    let key = VerifyingKey::from_bytes(&e.public_key).map_err(|x| bad(x.to_string()))?;
    let sig = crypto::Signature::from_bytes(&e.signature).map_err(|x| bad(x.to_string()))?;
    key.verify(&e.statement, SIGNATURE_CONTEXT, &sig)
        .map_err(|x| bad(x.to_string()))?;
    // Only now, with the signature checked, are the statement's bytes decoded.
    let st = Statement::decode(&e.statement, 0).map_err(|x| bad(x.kind.to_string()))?;
    let fingerprint = key.fingerprint();
    if st.signer != fingerprint.0 {
        return Err(bad(
            "the statement names another signer than the entry's key".into(),
        ));
    }
    if !crate::digest::digest_eq(&st.manifest_sha256, manifest_sha256) {
        return Err(bad("the statement is about another manifest".into()));
    }
    if (st.major, st.minor) != (major, minor) {
        return Err(bad(format!(
            "the statement is for format {}.{}, the file is {major}.{minor}",
            st.major, st.minor
        )));
    }
    Ok(Signer {
        fingerprint,
        trusted: false,
        statement: st,
    })
}

/// Marks trusted signers and applies the policy's trust requirement.
pub(crate) fn apply_policy(signers: &mut [Signer], policy: &Policy) -> Result<()> {
    for s in signers.iter_mut() {
        s.trusted = policy.trusted().contains(&s.fingerprint);
    }
    if policy.allows_unsigned() {
        return Ok(());
    }
    let required = policy.required_signers();
    let trusted_keys: Vec<Fingerprint> = policy.trusted().fingerprints().copied().collect();
    let trusted: BTreeSet<Fingerprint> = signers
        .iter()
        .filter(|s| s.trusted)
        .map(|s| s.fingerprint)
        .collect();
    let untrusted: BTreeSet<Fingerprint> = signers
        .iter()
        .filter(|s| !s.trusted)
        .map(|s| s.fingerprint)
        .collect();
    if signers.is_empty() {
        return Err(Error::new(ErrorKind::Unsigned {
            required,
            trusted: trusted_keys,
        }));
    }
    if trusted.is_empty() {
        return Err(Error::new(ErrorKind::UntrustedSigners {
            found: untrusted.into_iter().collect(),
            required,
            trusted: trusted_keys,
        }));
    }
    if trusted.len() < required {
        return Err(Error::new(ErrorKind::ThresholdNotMet {
            trusted_found: trusted.into_iter().collect(),
            untrusted_found: untrusted.into_iter().collect(),
            required,
        }));
    }
    Ok(())
}

/// Checks that every statement matches the decoded manifest's model fields.
pub(crate) fn check_statements(signers: &[Signer], model: &ModelInfo) -> Result<()> {
    for (index, s) in signers.iter().enumerate() {
        let st = &s.statement;
        if st.model_id != model.model_id
            || st.version != model.version
            || st.created != model.created
            || st.expires != model.expires
        {
            return Err(Error::new(ErrorKind::BadSignature {
                index,
                reason: "the statement's model id, version, created or expires differ from the manifest's".into(),
            }));
        }
    }
    Ok(())
}

/// The statement a signer signs for a manifest.
pub fn statement_for(
    model: &ModelInfo,
    manifest_sha256: [u8; 32],
    signer: &Fingerprint,
) -> Statement {
    Statement {
        major: tensorseal_format::MAJOR,
        minor: tensorseal_format::MINOR,
        model_id: model.model_id.clone(),
        version: model.version,
        created: model.created,
        expires: model.expires,
        signer: signer.0,
        manifest_sha256,
    }
}

/// Signs a statement into a signature entry.
pub(crate) fn sign_entry(
    key: &SigningKey,
    st: &Statement,
    rng: &mut WriterRng,
) -> Result<SignatureEntry> {
    let statement = st.encode();
    let sig = key.sign_with_rng(&statement, SIGNATURE_CONTEXT, rng)?;
    Ok(SignatureEntry {
        algorithm: SIG_MLDSA65_ED25519_SHA512,
        public_key: key.verifying_key().to_bytes().to_vec(),
        statement,
        signature: sig.to_bytes().to_vec(),
    })
}

/// SHA-256 of a slice's canonical descriptor, bound into its key:
///
/// `u32be(index) || u64be(offset) || u64be(length) || u32be(tensor_count)`, then
/// per tensor `u32be(len(name)) || name || u8(dtype code) || u32be(rank) ||
/// u64be(dim)… || u64be(offset) || u64be(length)`. Offsets are absolute.
pub fn descriptor_digest(index: u32, offset: u64, length: u64, tensors: &[TensorInfo]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(index.to_be_bytes());
    h.update(offset.to_be_bytes());
    h.update(length.to_be_bytes());
    h.update((tensors.len() as u32).to_be_bytes());
    for t in tensors {
        h.update((t.name.len() as u32).to_be_bytes());
        h.update(t.name.as_bytes());
        h.update([t.dtype.code()]);
        h.update((t.shape.len() as u32).to_be_bytes());
        for d in &t.shape {
            h.update(d.to_be_bytes());
        }
        h.update(t.offset.to_be_bytes());
        h.update(t.length.to_be_bytes());
    }
    h.finalize().into()
}

/// The descriptor digest of slice `i` of a validated manifest.
pub(crate) fn slice_descriptor(m: &Manifest, i: usize) -> [u8; 32] {
    let s = &m.slices[i];
    let ts = &m.tensors[s.first_tensor as usize..(s.first_tensor + s.tensor_count) as usize];
    descriptor_digest(i as u32, s.offset, s.length, ts)
}

/// The header MAC input: the manifest bytes, then each stanza's encoding.
pub fn mac_input(manifest_bytes: &[u8], stanzas: &[Stanza]) -> Vec<u8> {
    let mut v = manifest_bytes.to_vec();
    for s in stanzas {
        v.extend_from_slice(&s.encode());
    }
    v
}

/// The HPKE `info` of a grant stanza for these slices.
pub fn grant_info(slices: &[u32]) -> Vec<u8> {
    let mut v = GRANT_INFO.to_vec();
    v.extend_from_slice(&(slices.len() as u32).to_be_bytes());
    for s in slices {
        v.extend_from_slice(&s.to_be_bytes());
    }
    v
}

/// Decodes a recipient block found at absolute offset `at` and checks every
/// stanza's shape: known type, a 1120-byte encapsulation, a body of exactly the
/// length its scope implies, grant indices strictly ascending and non-empty.
/// Usable on its own (e.g. as a fuzz target).
pub fn parse_recipient_block(bytes: &[u8], at: u64) -> Result<RecipientBlock> {
    let block = RecipientBlock::decode(bytes, at)?;
    for (index, s) in block.stanzas.iter().enumerate() {
        let bad = |reason: String| Error::new(ErrorKind::BadStanza { index, reason });
        if s.kind != STANZA_XWING_HPKE {
            return Err(bad(format!("unknown stanza type {}", s.kind)));
        }
        if s.enc.len() != crypto::ENC_LEN {
            return Err(bad(format!(
                "encapsulation is {} bytes, X-Wing's is {}",
                s.enc.len(),
                crypto::ENC_LEN
            )));
        }
        let expected = match &s.scope {
            Scope::All => crypto::FILE_KEY_STANZA_BODY_LEN,
            Scope::Slices(ix) => {
                if ix.is_empty() {
                    return Err(bad("a grant of no slice".into()));
                }
                if ix.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(bad("grant slice indices are not strictly ascending".into()));
                }
                ix.len()
                    .checked_mul(SLICE_KEY_LEN)
                    .and_then(|n| n.checked_add(STANZA_TAG))
                    .ok_or_else(|| bad("too many slices".into()))?
            }
        };
        if s.body.len() != expected {
            return Err(bad(format!(
                "body is {} bytes, its scope implies {expected}",
                s.body.len()
            )));
        }
    }
    Ok(block)
}

/// At most this many stanzas are trial-opened with one identity (one X-Wing
/// decapsulation each): a block of thousands of junk stanzas must not cost
/// every identity thousands of decapsulations. More is [`ErrorKind::StanzaLimit`].
pub const MAX_STANZAS_PER_IDENTITY: usize = 1024;

/// Keys recovered from a recipient block.
pub(crate) struct Unlocked {
    /// The file key, when a `Scope::All` stanza opened.
    pub file_key: Option<FileKey>,
    /// One entry per slice: its key when held.
    pub slices: Vec<Option<SliceKey>>,
}

/// Tries every identity on every stanza. Order of checks: unwrap, key
/// commitment, header MAC (for file-key stanzas), slice key commitments.
/// Grant recipients cannot check the header MAC (they lack the file key): the
/// authenticity of their stanza's scope rests on the signature over the
/// manifest (which holds each slice's key commitment) and on the scope being
/// bound into the HPKE `info`.
pub(crate) fn unlock(
    m: &Manifest,
    manifest_bytes: &[u8],
    block: &RecipientBlock,
    identities: &[RecipientSecretKey],
) -> Result<Unlocked> {
    let Some(enc) = &m.encryption else {
        return Ok(Unlocked {
            file_key: None,
            slices: Vec::new(),
        });
    };
    let mut keys: Vec<Option<SliceKey>> = (0..m.slices.len()).map(|_| None).collect();
    let mut file_key = None;
    let mut opened = false;
    let mut tried = vec![0usize; identities.len()];
    for (si, st) in block.stanzas.iter().enumerate() {
        let cst = crypto::Stanza::new(&st.enc, st.body.clone()).map_err(|e| {
            Error::new(ErrorKind::BadStanza {
                index: si,
                reason: e.to_string(),
            })
        })?;
        for (ii, id) in identities.iter().enumerate() {
            if matches!(st.scope, Scope::All) && file_key.is_some() {
                continue;
            }
            tried[ii] += 1;
            if tried[ii] > MAX_STANZAS_PER_IDENTITY {
                return Err(Error::new(ErrorKind::StanzaLimit {
                    identity: ii,
                    stanzas: block.stanzas.len(),
                    limit: MAX_STANZAS_PER_IDENTITY,
                }));
            }
            match &st.scope {
                Scope::All => {
                    let Ok(fk) = crypto::unwrap_file_key(id, &cst) else {
                        continue;
                    };
                    crypto::verify_key_commitment(&fk, &enc.salt, &enc.key_commitment)
                        .map_err(|_| Error::new(ErrorKind::KeyCommitment(si)))?;
                    let mac_key = crypto::header_mac_key(&fk, &enc.salt);
                    crypto::verify_header_mac(
                        &mac_key,
                        &mac_input(manifest_bytes, &block.stanzas),
                        &block.header_mac,
                    )
                    .map_err(|_| Error::new(ErrorKind::HeaderMac))?;
                    for (i, slot) in keys.iter_mut().enumerate() {
                        let se = m.slices[i].encryption.as_ref().ok_or_else(|| {
                            Error::new(ErrorKind::Invalid("slice without encryption".into()))
                        })?;
                        let k = crypto::slice_key(
                            &fk,
                            &enc.salt,
                            i as u64,
                            &se.salt,
                            &slice_descriptor(m, i),
                        );
                        crypto::verify_slice_key_commitment(&k, &se.key_commitment).map_err(
                            |_| {
                                Error::new(ErrorKind::SliceKeyCommitment {
                                    stanza: si,
                                    slice: i as u32,
                                })
                            },
                        )?;
                        *slot = Some(k);
                    }
                    file_key = Some(fk);
                    opened = true;
                }
                Scope::Slices(ix) => {
                    if let Some(&bad) = ix.iter().find(|&&i| i as usize >= m.slices.len()) {
                        return Err(Error::new(ErrorKind::BadStanza {
                            index: si,
                            reason: format!("grants slice {bad}, the file has {}", m.slices.len()),
                        }));
                    }
                    let Ok(pt) = crypto::unwrap(id, &grant_info(ix), &cst) else {
                        continue;
                    };
                    if pt.len() != ix.len() * SLICE_KEY_LEN {
                        return Err(Error::new(ErrorKind::BadStanza {
                            index: si,
                            reason: "grant plaintext of the wrong length".into(),
                        }));
                    }
                    for (k, &i) in pt.chunks_exact(SLICE_KEY_LEN).zip(ix) {
                        let key = SliceKey::from_bytes(k)?;
                        let se = m.slices[i as usize].encryption.as_ref().ok_or_else(|| {
                            Error::new(ErrorKind::Invalid("slice without encryption".into()))
                        })?;
                        crypto::verify_slice_key_commitment(&key, &se.key_commitment).map_err(
                            |_| {
                                Error::new(ErrorKind::SliceKeyCommitment {
                                    stanza: si,
                                    slice: i,
                                })
                            },
                        )?;
                        keys[i as usize] = Some(key);
                    }
                    opened = true;
                }
            }
        }
    }
    if !opened {
        return Err(Error::new(ErrorKind::NoMatchingIdentity {
            identities: identities.len(),
            stanzas: block.stanzas.len(),
        }));
    }
    Ok(Unlocked {
        file_key,
        slices: keys,
    })
}

/// Wraps the file key to a recipient as a `Scope::All` stanza.
pub(crate) fn file_key_stanza(
    to: &RecipientPublicKey,
    fk: &FileKey,
    rng: &mut WriterRng,
) -> Result<Stanza> {
    let s = crypto::wrap_file_key(to, fk, rng)?;
    Ok(Stanza {
        kind: STANZA_XWING_HPKE,
        scope: Scope::All,
        enc: s.enc.to_vec(),
        body: s.body,
    })
}

/// Wraps these slices' keys to a recipient as a grant stanza.
pub(crate) fn grant_stanza(
    to: &RecipientPublicKey,
    slices: &[u32],
    keys: &[&SliceKey],
) -> Result<Stanza> {
    let mut pt = zeroize::Zeroizing::new(Vec::with_capacity(keys.len() * SLICE_KEY_LEN));
    for k in keys {
        pt.extend_from_slice(&*k.to_bytes());
    }
    // The fallible OS RNG: no entropy is a typed error, not a panic.
    let s = crypto::wrap_os(to, &grant_info(slices), &pt)?;
    Ok(Stanza {
        kind: STANZA_XWING_HPKE,
        scope: Scope::Slices(slices.to_vec()),
        enc: s.enc.to_vec(),
        body: s.body,
    })
}

/// Matches `name` against a glob: `*` is any run of characters (including
/// none and `.`), `?` one character; everything else is literal.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0usize, 0usize);
    let (mut star, mut mark) = (None, 0usize);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        assert!(glob_match("embed.*", "embed.weight"));
        assert!(!glob_match("embed.*", "lm_head.weight"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("*.weight", "layers.0.weight"));
        assert!(!glob_match("*.weight", "layers.0.bias"));
    }
}

/// Deterministic randomness for conformance vectors only: SHA-256 in counter
/// mode over a 32-byte seed (`SHA-256("tensorseal/v1/vector-rng" || seed ||
/// u64be(block))`).
///
/// **Never use it for real files**: whoever knows the seed knows the file key,
/// every salt and the signatures' hedging randomness.
///
/// Exists only with the `test-vectors` cargo feature.
#[cfg(feature = "test-vectors")]
#[derive(Clone)]
pub struct VectorRng {
    seed: [u8; 32],
    block: u64,
    buf: [u8; 32],
    used: usize,
}

#[cfg(feature = "test-vectors")]
impl VectorRng {
    /// A generator over `seed`.
    pub fn new(seed: [u8; 32]) -> Self {
        VectorRng {
            seed,
            block: 0,
            buf: [0; 32],
            used: 32,
        }
    }
}

#[cfg(feature = "test-vectors")]
impl crypto::rand_core::TryRng for VectorRng {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        crypto::rand_core::utils::next_word_via_fill(self)
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        crypto::rand_core::utils::next_word_via_fill(self)
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for d in dst {
            if self.used == 32 {
                let mut h = Sha256::new();
                h.update(b"tensorseal/v1/vector-rng");
                h.update(self.seed);
                h.update(self.block.to_be_bytes());
                self.buf = h.finalize().into();
                self.block += 1;
                self.used = 0;
            }
            *d = self.buf[self.used];
            self.used += 1;
        }
        Ok(())
    }
}

#[cfg(feature = "test-vectors")]
impl crypto::rand_core::TryCryptoRng for VectorRng {}

/// The writer's randomness: the operating system's, or (with the
/// `test-vectors` feature) a `VectorRng`.
pub(crate) enum WriterRng {
    Os,
    #[cfg(feature = "test-vectors")]
    Vector(VectorRng),
}

impl crypto::rand_core::TryRng for WriterRng {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        crypto::rand_core::utils::next_word_via_fill(self)
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        crypto::rand_core::utils::next_word_via_fill(self)
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        match self {
            WriterRng::Os => crypto::rand_core::Rng::fill_bytes(&mut crypto::os_rng(), dst),
            #[cfg(feature = "test-vectors")]
            WriterRng::Vector(v) => v.try_fill_bytes(dst)?,
        }
        Ok(())
    }
}

impl crypto::rand_core::TryCryptoRng for WriterRng {}
