//! The signature block and the recipient block that follow the manifest, and the
//! signed statement. Their cryptography lives in `tensorseal-crypto`; this module
//! only fixes their bytes.

use serde::{Deserialize, Serialize};

use crate::bounded;
use crate::error::{ErrorKind, FormatError, Structure};

/// Signature algorithm: composite ML-DSA-65 + Ed25519 with SHA-512 (IETF LAMPS).
pub const SIG_MLDSA65_ED25519_SHA512: u16 = 1;
/// Recipient stanza type: X-Wing through HPKE.
pub const STANZA_XWING_HPKE: u16 = 1;
/// The composite-signature context string for container statements.
pub const SIGNATURE_CONTEXT: &[u8] = b"tensorseal/v1/statement";

/// What a signer signs: enough to check rollback, freeze and trust before the
/// manifest is parsed, and a digest binding everything else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    /// Format major version.
    pub major: u16,
    /// Format minor version.
    pub minor: u16,
    /// The manifest's model id.
    pub model_id: String,
    /// The manifest's version.
    pub version: u64,
    /// The manifest's creation time.
    pub created: i64,
    /// The manifest's expiry time.
    pub expires: Option<i64>,
    /// SHA-256 fingerprint of the signer's public key.
    pub signer: [u8; 32],
    /// SHA-256 of the manifest bytes.
    pub manifest_sha256: [u8; 32],
}

impl Statement {
    /// Encodes the statement (these bytes are what is signed).
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Decodes a statement strictly.
    pub fn decode(bytes: &[u8], at: u64) -> Result<Statement, FormatError> {
        decode_exact(bytes, Structure::SignatureBlock, at)
    }
}

/// One signature over a [`Statement`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureEntry {
    /// Algorithm identifier.
    pub algorithm: u16,
    /// The signer's public key (so every signature can be checked, trusted or not).
    pub public_key: Vec<u8>,
    /// The encoded statement.
    pub statement: Vec<u8>,
    /// The signature over `statement`.
    pub signature: Vec<u8>,
}

/// All signatures of a file. An absent block (length 0) means unsigned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SignatureBlock {
    /// Signatures in the order they were added.
    #[serde(deserialize_with = "bounded::vec::<_, _, bounded::Signatures>")]
    pub entries: Vec<SignatureEntry>,
}

/// Which slice keys a stanza carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    /// The file key: every slice.
    All,
    /// Only these slices' keys (a grant).
    Slices(#[serde(deserialize_with = "bounded::vec::<_, _, bounded::GrantSlices>")] Vec<u32>),
}

/// A key wrapped to one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stanza {
    /// Stanza type.
    pub kind: u16,
    /// What the sealed body holds.
    pub scope: Scope,
    /// KEM encapsulation (1120 bytes for X-Wing).
    pub enc: Vec<u8>,
    /// The sealed key material.
    pub body: Vec<u8>,
}

/// Wrapped keys and the header MAC. Absent (length 0) exactly when unencrypted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientBlock {
    /// One stanza per recipient.
    #[serde(deserialize_with = "bounded::vec::<_, _, bounded::Stanzas>")]
    pub stanzas: Vec<Stanza>,
    /// HMAC-SHA256 over the manifest and every stanza, keyed from the file key.
    pub header_mac: [u8; 32],
}

impl SignatureBlock {
    /// Encodes the block; an empty block encodes to no bytes.
    pub fn encode(&self) -> Vec<u8> {
        if self.entries.is_empty() {
            return Vec::new();
        }
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Decodes a block found at absolute offset `at`; zero bytes decode to no signatures.
    pub fn decode(bytes: &[u8], at: u64) -> Result<SignatureBlock, FormatError> {
        if bytes.is_empty() {
            return Ok(SignatureBlock::default());
        }
        let b: SignatureBlock = decode_exact(bytes, Structure::SignatureBlock, at)?;
        if b.entries.is_empty() {
            return Err(FormatError::new(
                Structure::SignatureBlock,
                at,
                ErrorKind::Decode("an empty block must be stored as zero bytes".into()),
            ));
        }
        Ok(b)
    }
}

impl Stanza {
    /// Encodes one stanza (postcard), as the header MAC input takes it.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }
}

impl RecipientBlock {
    /// Encodes the block.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Decodes a block found at absolute offset `at`.
    pub fn decode(bytes: &[u8], at: u64) -> Result<RecipientBlock, FormatError> {
        decode_exact(bytes, Structure::RecipientBlock, at)
    }
}

fn decode_exact<'a, T: Deserialize<'a>>(
    bytes: &'a [u8],
    structure: Structure,
    at: u64,
) -> Result<T, FormatError> {
    bounded::reset();
    let (v, rest) = postcard::take_from_bytes(bytes).map_err(|e| {
        let kind = match bounded::take() {
            Some((what, found, limit)) => ErrorKind::Limit { what, found, limit },
            None => ErrorKind::Decode(e.to_string()),
        };
        FormatError::new(structure.clone(), at, kind)
    })?;
    if !rest.is_empty() {
        return Err(FormatError::new(
            structure,
            at + (bytes.len() - rest.len()) as u64,
            ErrorKind::TrailingBytes(rest.len() as u64),
        ));
    }
    Ok(v)
}
