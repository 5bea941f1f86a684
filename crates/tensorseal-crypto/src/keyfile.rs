//! Key files: text a person can paste, typed so one kind of key can never be
//! read as another.
//!
//! * Recipient keys use age's post-quantum (`mlkem768x25519`) encoding:
//!   classic Bech32 (BIP 173 checksum) without the 90-character limit, HRP
//!   `age1pq` for the 1216-byte public key (written lowercase) and
//!   `AGE-SECRET-KEY-PQ-` for the 32-byte seed (written uppercase). Keys made
//!   by `age-keygen -pq` can be used as they are. Blank lines and `#` comment
//!   lines around the key are ignored, except that a `# public key: age1pq1…`
//!   comment (as age-keygen writes) must match the secret key.
//! * Signer keys are an armored block:
//!
//!   ```text
//!   -----BEGIN TENSORSEAL SIGNER SECRET KEY-----
//!   # algorithm: id-MLDSA65-Ed25519-SHA512
//!   # fingerprint: 0f1e…(64 hex digits)
//!   <standard base64 with padding, any line wrapping>
//!   -----END TENSORSEAL SIGNER SECRET KEY-----
//!   ```
//!
//!   (`SIGNER PUBLIC KEY` for the public half). The base64 decodes to
//!   `version (0x01) || algorithm (0x01 = id-MLDSA65-Ed25519-SHA512) || key ||
//!   checksum`, where the key is the 64-byte secret or 1984-byte public
//!   encoding and `checksum = SHA-256("tensorseal/v1/keyfile-checksum" || 0x00
//!   || armor label || 0x00 || version || algorithm || key)[..4]`. Comment
//!   lines start with `#`; a `# fingerprint:` comment must match the key.
//! * Either kind of secret key may be passphrase-protected: wrapped in a
//!   `TENSORSEAL ENCRYPTED SECRET KEY` armor block (scrypt +
//!   ChaCha20-Poly1305, see [`crate::passphrase`]). The parsers here never
//!   decrypt: for that block [`parse_key`], [`detect_kind`] and the typed
//!   `parse_*` helpers return [`Error::KeyProtected`]; unlock the text with
//!   [`crate::passphrase::unprotect_secret_key`] and parse the result.

use core::fmt;
use std::path::Path;

use base64::Engine as _;
use bech32::primitives::checksum::Checksum;
use bech32::primitives::decode::{CheckedHrpstring, CheckedHrpstringError, ChecksumError};
use bech32::Hrp;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::labels;
use crate::recipient::{
    RecipientPublicKey, RecipientSecretKey, RECIPIENT_PUBLIC_KEY_LEN, RECIPIENT_SECRET_KEY_LEN,
};
use crate::sig::{Fingerprint, SigningKey, VerifyingKey, SIGNING_KEY_LEN, VERIFYING_KEY_LEN};

/// Largest key text accepted by the parsers (64 KiB).
pub const MAX_KEY_TEXT: usize = 64 * 1024;

/// Bech32 HRP of age post-quantum recipients (public keys).
pub const RECIPIENT_PUBLIC_HRP: &str = "age1pq";
/// Bech32 HRP of age post-quantum identities (secret keys).
pub const RECIPIENT_SECRET_HRP: &str = "AGE-SECRET-KEY-PQ-";

const SIGNER_SECRET_LABEL: &str = "TENSORSEAL SIGNER SECRET KEY";
const SIGNER_PUBLIC_LABEL: &str = "TENSORSEAL SIGNER PUBLIC KEY";
const KEYFILE_VERSION: u8 = 1;
const ALG_MLDSA65_ED25519: u8 = 1;
const CHECKSUM_LEN: usize = 4;
const BASE64_LINE: usize = 64;

/// The four kinds of key file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// Composite signing key ([`SigningKey`]).
    SignerSecret,
    /// Composite verifying key ([`VerifyingKey`]).
    SignerPublic,
    /// X-Wing identity ([`RecipientSecretKey`]).
    RecipientSecret,
    /// X-Wing recipient ([`RecipientPublicKey`]).
    RecipientPublic,
}

impl KeyKind {
    fn raw_len(self) -> usize {
        match self {
            KeyKind::SignerSecret => SIGNING_KEY_LEN,
            KeyKind::SignerPublic => VERIFYING_KEY_LEN,
            KeyKind::RecipientSecret => RECIPIENT_SECRET_KEY_LEN,
            KeyKind::RecipientPublic => RECIPIENT_PUBLIC_KEY_LEN,
        }
    }

    /// Whether this kind holds secret material.
    pub fn is_secret(self) -> bool {
        matches!(self, KeyKind::SignerSecret | KeyKind::RecipientSecret)
    }

    fn public_counterpart(self) -> Self {
        match self {
            KeyKind::SignerSecret | KeyKind::SignerPublic => KeyKind::SignerPublic,
            KeyKind::RecipientSecret | KeyKind::RecipientPublic => KeyKind::RecipientPublic,
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyKind::SignerSecret => "signer secret key",
            KeyKind::SignerPublic => "signer public key",
            KeyKind::RecipientSecret => "recipient secret key",
            KeyKind::RecipientPublic => "recipient public key",
        })
    }
}

/// Any parsed key.
#[derive(Debug)]
pub enum AnyKey {
    /// A composite signing key.
    SignerSecret(SigningKey),
    /// A composite verifying key.
    SignerPublic(VerifyingKey),
    /// An X-Wing identity.
    RecipientSecret(RecipientSecretKey),
    /// An X-Wing recipient.
    RecipientPublic(RecipientPublicKey),
}

impl AnyKey {
    /// Which kind of key this is.
    pub fn kind(&self) -> KeyKind {
        match self {
            AnyKey::SignerSecret(_) => KeyKind::SignerSecret,
            AnyKey::SignerPublic(_) => KeyKind::SignerPublic,
            AnyKey::RecipientSecret(_) => KeyKind::RecipientSecret,
            AnyKey::RecipientPublic(_) => KeyKind::RecipientPublic,
        }
    }

    /// Fingerprint of the key (of the public half for secret keys).
    pub fn fingerprint(&self) -> Fingerprint {
        match self {
            AnyKey::SignerSecret(k) => k.fingerprint(),
            AnyKey::SignerPublic(k) => k.fingerprint(),
            AnyKey::RecipientSecret(k) => k.fingerprint(),
            AnyKey::RecipientPublic(k) => k.fingerprint(),
        }
    }

    /// The key's text form (see the module docs).
    pub fn to_text(&self) -> Zeroizing<String> {
        match self {
            AnyKey::SignerSecret(k) => k.to_text(),
            AnyKey::SignerPublic(k) => Zeroizing::new(k.to_text()),
            AnyKey::RecipientSecret(k) => k.to_text(),
            AnyKey::RecipientPublic(k) => Zeroizing::new(k.to_text()),
        }
    }
}

/// Parses any key file's text.
pub fn parse_key(text: &str) -> Result<AnyKey> {
    match locate(text)? {
        Located::Armor(a) => decode_armor(&a),
        Located::Bech32(b) => decode_bech32(&b),
    }
}

/// Tells which kind of key a text holds, without fully decoding it.
pub fn detect_kind(text: &str) -> Result<KeyKind> {
    Ok(match locate(text)? {
        Located::Armor(a) => a.kind,
        Located::Bech32(b) => b.kind,
    })
}

fn expect_kind(text: &str, expected: KeyKind) -> Result<AnyKey> {
    let found = detect_kind(text)?;
    if found != expected {
        return Err(Error::WrongKeyType { expected, found });
    }
    parse_key(text)
}

fn mismatch(expected: KeyKind, key: &AnyKey) -> Error {
    Error::WrongKeyType {
        expected,
        found: key.kind(),
    }
}

/// Parses a signer secret key file; any other kind is a [`Error::WrongKeyType`].
pub fn parse_signing_key(text: &str) -> Result<SigningKey> {
    match expect_kind(text, KeyKind::SignerSecret)? {
        AnyKey::SignerSecret(k) => Ok(k),
        other => Err(mismatch(KeyKind::SignerSecret, &other)),
    }
}

/// Parses a signer public key file; any other kind is a [`Error::WrongKeyType`].
pub fn parse_verifying_key(text: &str) -> Result<VerifyingKey> {
    match expect_kind(text, KeyKind::SignerPublic)? {
        AnyKey::SignerPublic(k) => Ok(k),
        other => Err(mismatch(KeyKind::SignerPublic, &other)),
    }
}

/// Parses a recipient secret key (age PQ identity); any other kind is a [`Error::WrongKeyType`].
pub fn parse_recipient_secret_key(text: &str) -> Result<RecipientSecretKey> {
    match expect_kind(text, KeyKind::RecipientSecret)? {
        AnyKey::RecipientSecret(k) => Ok(k),
        other => Err(mismatch(KeyKind::RecipientSecret, &other)),
    }
}

/// Parses a recipient public key (age PQ recipient); any other kind is a [`Error::WrongKeyType`].
pub fn parse_recipient_public_key(text: &str) -> Result<RecipientPublicKey> {
    match expect_kind(text, KeyKind::RecipientPublic)? {
        AnyKey::RecipientPublic(k) => Ok(k),
        other => Err(mismatch(KeyKind::RecipientPublic, &other)),
    }
}

// ---------------------------------------------------------------------------
// Locating the key in the text.

struct ArmorBlock<'a> {
    kind: KeyKind,
    label: &'static str,
    body: Vec<&'a str>,
    comments: Vec<&'a str>,
    has_end: bool,
}

struct Bech32Line<'a> {
    kind: KeyKind,
    line: &'a str,
    comments: Vec<&'a str>,
}

enum Located<'a> {
    Armor(ArmorBlock<'a>),
    Bech32(Bech32Line<'a>),
}

fn armor_label(line: &str, what: &str) -> Option<String> {
    line.strip_prefix("-----")
        .and_then(|l| l.strip_prefix(what))
        .and_then(|l| l.strip_prefix(' '))
        .and_then(|l| l.strip_suffix("-----"))
        .map(str::to_owned)
}

fn locate(text: &str) -> Result<Located<'_>> {
    if text.len() > MAX_KEY_TEXT {
        return Err(Error::KeyTextTooLarge(text.len()));
    }
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    if lines.iter().any(|l| l.starts_with("-----BEGIN")) {
        locate_armor(&lines)
    } else {
        locate_bech32(&lines)
    }
}

fn is_ignorable(line: &str) -> bool {
    line.is_empty() || line.starts_with('#')
}

fn locate_armor<'a>(lines: &[&'a str]) -> Result<Located<'a>> {
    let mut iter = lines.iter().copied();
    // Before BEGIN: only blank and comment lines.
    let label = loop {
        match iter.next() {
            Some(l) if l.starts_with("-----BEGIN") => {
                break armor_label(l, "BEGIN").ok_or(Error::KeyArmor("malformed BEGIN line"))?
            }
            Some(l) if is_ignorable(l) => continue,
            Some(_) => return Err(Error::KeyArmor("unexpected text before the BEGIN line")),
            None => return Err(Error::KeyArmor("no BEGIN line")),
        }
    };
    let (kind, label) = match label.as_str() {
        SIGNER_SECRET_LABEL => (KeyKind::SignerSecret, SIGNER_SECRET_LABEL),
        SIGNER_PUBLIC_LABEL => (KeyKind::SignerPublic, SIGNER_PUBLIC_LABEL),
        crate::passphrase::ENCRYPTED_SECRET_KEY_LABEL => return Err(Error::KeyProtected),
        l if l.starts_with("TENSORSEAL ") => {
            return Err(Error::KeyArmor("unknown TENSORSEAL key block type"))
        }
        _ => return Err(Error::KeyArmor("not a TENSORSEAL key block")),
    };
    let mut body = Vec::new();
    let mut comments = Vec::new();
    let mut has_end = false;
    for l in iter.by_ref() {
        if l.starts_with("-----END") {
            match armor_label(l, "END") {
                Some(end) if end == label => {
                    has_end = true;
                    break;
                }
                _ => return Err(Error::KeyArmor("END line does not match the BEGIN line")),
            }
        } else if l.starts_with("-----") {
            return Err(Error::KeyArmor(
                "unexpected armor line inside the key block",
            ));
        } else if l.starts_with('#') {
            comments.push(l);
        } else if !l.is_empty() {
            body.push(l);
        }
    }
    if iter.any(|l| !is_ignorable(l)) {
        return Err(Error::KeyArmor("unexpected text after the END line"));
    }
    Ok(Located::Armor(ArmorBlock {
        kind,
        label,
        body,
        comments,
        has_end,
    }))
}

fn locate_bech32<'a>(lines: &[&'a str]) -> Result<Located<'a>> {
    let mut keys = lines.iter().copied().filter(|l| !is_ignorable(l));
    let line = keys.next().ok_or(Error::KeyArmor("no key found"))?;
    if keys.next().is_some() {
        return Err(Error::KeyArmor("more than one key line"));
    }
    let comments = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with('#'))
        .collect();
    let hrp = line
        .rsplit_once('1')
        .map(|(h, _)| h.to_ascii_lowercase())
        .ok_or(Error::KeyArmor("not a tensorseal or age key"))?;
    let kind = match hrp.as_str() {
        "age-secret-key-pq-" => KeyKind::RecipientSecret,
        "age1pq" => KeyKind::RecipientPublic,
        "age-secret-key-" => return Err(Error::UnsupportedKey(
            "classical age X25519 identity; tensorseal needs a post-quantum key (age-keygen -pq)",
        )),
        "age" => {
            return Err(Error::UnsupportedKey(
                "classical age X25519 recipient; tensorseal needs a post-quantum key (age1pq1...)",
            ))
        }
        h if h.starts_with("age1tag") => {
            return Err(Error::UnsupportedKey("age tagged (hardware) recipient"))
        }
        h if h.starts_with("age-plugin-") || h.starts_with("age1") => {
            return Err(Error::UnsupportedKey("age plugin key"))
        }
        _ => return Err(Error::KeyArmor("not a tensorseal or age key")),
    };
    Ok(Located::Bech32(Bech32Line {
        kind,
        line,
        comments,
    }))
}

// ---------------------------------------------------------------------------
// Armored signer keys.

fn keyfile_checksum(label: &str, payload: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut h = Sha256::new();
    h.update(labels::KEYFILE_CHECKSUM.as_bytes());
    h.update([0u8]);
    h.update(label.as_bytes());
    h.update([0u8]);
    h.update(payload);
    let d = h.finalize();
    let mut out = [0u8; CHECKSUM_LEN];
    out.copy_from_slice(&d[..CHECKSUM_LEN]);
    out
}

fn decode_armor(a: &ArmorBlock<'_>) -> Result<AnyKey> {
    let kind = a.kind;
    let expected = 2 + kind.raw_len() + CHECKSUM_LEN;
    let joined = Zeroizing::new(a.body.concat());
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(joined.as_bytes())
        .map(Zeroizing::new);
    if !a.has_end {
        return Err(Error::KeyTruncated {
            kind,
            expected,
            found: decoded.as_ref().map(|d| d.len()).unwrap_or(0),
        });
    }
    let data = decoded.map_err(|_| Error::KeyEncoding {
        kind,
        detail: "invalid base64",
    })?;
    if data.len() < expected {
        return Err(Error::KeyTruncated {
            kind,
            expected,
            found: data.len(),
        });
    }
    if data.len() > expected {
        return Err(Error::KeyLength {
            kind,
            expected,
            found: data.len(),
        });
    }
    let (payload, checksum) = data.split_at(expected - CHECKSUM_LEN);
    if keyfile_checksum(a.label, payload) != checksum {
        return Err(Error::KeyChecksum(kind));
    }
    match payload {
        [KEYFILE_VERSION, ALG_MLDSA65_ED25519, key @ ..] => {
            let any = match kind {
                KeyKind::SignerSecret => AnyKey::SignerSecret(SigningKey::from_bytes(key)?),
                _ => AnyKey::SignerPublic(VerifyingKey::from_bytes(key)?),
            };
            check_fingerprint_comments(&a.comments, &any)?;
            Ok(any)
        }
        [KEYFILE_VERSION, ..] => Err(Error::UnsupportedKey("unknown signature algorithm")),
        _ => Err(Error::UnsupportedKey("unknown signer key file version")),
    }
}

fn check_fingerprint_comments(comments: &[&str], key: &AnyKey) -> Result<()> {
    for c in comments {
        let body = c.trim_start_matches('#').trim();
        if let Some(fp) = body.strip_prefix("fingerprint:") {
            match Fingerprint::from_hex(fp.trim()) {
                Some(fp) if fp == key.fingerprint() => {}
                _ => return Err(Error::KeyCommentMismatch(key.kind())),
            }
        }
    }
    Ok(())
}

fn armor(label: &str, comments: &[String], raw: &[u8]) -> Zeroizing<String> {
    let mut payload = Zeroizing::new(Vec::with_capacity(raw.len() + 2 + CHECKSUM_LEN));
    payload.push(KEYFILE_VERSION);
    payload.push(ALG_MLDSA65_ED25519);
    payload.extend_from_slice(raw);
    let sum = keyfile_checksum(label, &payload);
    payload.extend_from_slice(&sum);
    let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(payload.as_slice()));
    let mut out = Zeroizing::new(String::with_capacity(b64.len() + 256));
    out.push_str(&format!("-----BEGIN {label}-----\n"));
    for c in comments {
        out.push_str("# ");
        out.push_str(c);
        out.push('\n');
    }
    for line in b64.as_bytes().chunks(BASE64_LINE) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(core::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

impl SigningKey {
    /// The armored `TENSORSEAL SIGNER SECRET KEY` text.
    pub fn to_text(&self) -> Zeroizing<String> {
        armor(
            SIGNER_SECRET_LABEL,
            &[
                "algorithm: id-MLDSA65-Ed25519-SHA512".to_owned(),
                format!("fingerprint: {}", self.fingerprint()),
            ],
            self.to_bytes().as_slice(),
        )
    }
}

impl VerifyingKey {
    /// The armored `TENSORSEAL SIGNER PUBLIC KEY` text.
    pub fn to_text(&self) -> String {
        let t = armor(
            SIGNER_PUBLIC_LABEL,
            &[
                "algorithm: id-MLDSA65-Ed25519-SHA512".to_owned(),
                format!("fingerprint: {}", self.fingerprint()),
            ],
            self.as_bytes(),
        );
        t.as_str().to_owned()
    }
}

// ---------------------------------------------------------------------------
// Bech32 recipient keys (age's encoding: BIP 173 checksum, no length limit).

/// Classic Bech32 (BIP 173) checksum without the 90/1023-character limit, as age uses.
enum AgeBech32 {}

impl Checksum for AgeBech32 {
    type MidstateRepr = u32;
    const CODE_LENGTH: usize = usize::MAX;
    const CHECKSUM_LENGTH: usize = 6;
    const GENERATOR_SH: [u32; 5] = [
        0x3b6a_57b2,
        0x2650_8e6d,
        0x1ea1_19fa,
        0x3d42_33dd,
        0x2a14_62b3,
    ];
    const TARGET_RESIDUE: u32 = 1;
}

fn bech32_encode(hrp: &str, data: &[u8], upper: bool) -> Zeroizing<String> {
    let hrp = match Hrp::parse(hrp) {
        Ok(h) => h,
        Err(_) => unreachable!("the HRP constants are valid"),
    };
    let r = if upper {
        bech32::encode_upper::<AgeBech32>(hrp, data)
    } else {
        bech32::encode_lower::<AgeBech32>(hrp, data)
    };
    match r {
        Ok(s) => Zeroizing::new(s),
        Err(_) => unreachable!("AgeBech32 has no length limit"),
    }
}

fn decode_bech32(b: &Bech32Line<'_>) -> Result<AnyKey> {
    let kind = b.kind;
    let enc_err = |detail| Error::KeyEncoding { kind, detail };
    let line = b.line;
    let has_upper = line.bytes().any(|c| c.is_ascii_uppercase());
    let has_lower = line.bytes().any(|c| c.is_ascii_lowercase());
    if has_upper && has_lower {
        return Err(enc_err("mixed-case Bech32"));
    }
    let lower = Zeroizing::new(line.to_ascii_lowercase());
    let checked = CheckedHrpstring::new::<AgeBech32>(&lower).map_err(|e| match e {
        CheckedHrpstringError::Checksum(ChecksumError::InvalidResidue) => Error::KeyChecksum(kind),
        CheckedHrpstringError::Checksum(ChecksumError::InvalidLength) => Error::KeyTruncated {
            kind,
            expected: kind.raw_len(),
            found: 0,
        },
        _ => enc_err("invalid Bech32"),
    })?;
    let data: Zeroizing<Vec<u8>> = Zeroizing::new(checked.byte_iter().collect());
    let expected = kind.raw_len();
    if data.len() < expected {
        return Err(Error::KeyTruncated {
            kind,
            expected,
            found: data.len(),
        });
    }
    if data.len() > expected {
        return Err(Error::KeyLength {
            kind,
            expected,
            found: data.len(),
        });
    }
    // Strictness: the text must be the canonical encoding (zero padding bits).
    let hrp = checked.hrp().to_string();
    let canonical = bech32_encode(&hrp, &data, false);
    if canonical.as_str() != lower.as_str() {
        return Err(enc_err("non-canonical Bech32 padding"));
    }
    match kind {
        KeyKind::RecipientSecret => {
            let sk = RecipientSecretKey::from_bytes(&data)?;
            for c in &b.comments {
                let body = c.trim_start_matches('#').trim();
                if let Some(pk) = body.strip_prefix("public key:") {
                    let pk = pk.trim();
                    if pk.to_ascii_lowercase() != sk.public_key().to_string() {
                        return Err(Error::KeyCommentMismatch(kind));
                    }
                }
            }
            Ok(AnyKey::RecipientSecret(sk))
        }
        _ => Ok(AnyKey::RecipientPublic(RecipientPublicKey::from_bytes(
            &data,
        )?)),
    }
}

impl RecipientSecretKey {
    /// age-keygen style identity text:
    /// `# public key: age1pq1…` then `AGE-SECRET-KEY-PQ-1…`.
    pub fn to_text(&self) -> Zeroizing<String> {
        let id = bech32_encode(RECIPIENT_SECRET_HRP, self.to_bytes().as_slice(), true);
        let mut out = Zeroizing::new(String::with_capacity(id.len() + 2048));
        out.push_str("# tensorseal recipient secret key (age post-quantum identity)\n");
        out.push_str("# public key: ");
        out.push_str(&self.public_key().to_string());
        out.push('\n');
        out.push_str(&id);
        out.push('\n');
        out
    }
}

impl RecipientPublicKey {
    /// The `age1pq1…` line followed by a newline.
    pub fn to_text(&self) -> String {
        format!("{self}\n")
    }
}

impl fmt::Display for RecipientPublicKey {
    /// The `age1pq1…` Bech32 string.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bech32_encode(RECIPIENT_PUBLIC_HRP, self.as_bytes(), false))
    }
}

// ---------------------------------------------------------------------------
// Writing key files.

/// Writes a key file that must not exist yet, atomically (a crash leaves no
/// half-written key): secret keys `0600`, public keys as the umask allows.
fn write_new(path: &Path, text: &str, secret: bool) -> Result<()> {
    use tensorseal_fs::Mode;
    let written = if secret {
        tensorseal_fs::write_secret(path, text.as_bytes(), Mode::New)
    } else {
        tensorseal_fs::write_atomic(path, text.as_bytes(), Mode::New)
    };
    written.map_err(|e| {
        if e.is_exists() {
            Error::FileExists(path.to_path_buf())
        } else {
            Error::Io {
                path: e.path().to_path_buf(),
                source: e.into_source(),
            }
        }
    })
}

/// Writes a secret key file: refuses to overwrite, mode 0600 on unix, fsynced.
/// Refuses text that is not a secret key. Passphrase-protected text
/// ([`crate::passphrase`]) is accepted once its armor and parameters check out.
pub fn write_secret_key_file(path: impl AsRef<Path>, text: &str) -> Result<()> {
    if crate::passphrase::is_protected(text) {
        crate::passphrase::protected_key_params(text)?;
        return write_new(path.as_ref(), text, true);
    }
    let kind = detect_kind(text)?;
    if !kind.is_secret() {
        let expected = match kind {
            KeyKind::SignerPublic => KeyKind::SignerSecret,
            _ => KeyKind::RecipientSecret,
        };
        return Err(Error::WrongKeyType {
            expected,
            found: kind,
        });
    }
    write_new(path.as_ref(), text, true)
}

/// Writes a public key file: refuses to overwrite, fsynced. Refuses secret
/// keys, so a secret can never land in a world-readable file by mistake.
pub fn write_public_key_file(path: impl AsRef<Path>, text: &str) -> Result<()> {
    let kind = detect_kind(text)?;
    if kind.is_secret() {
        return Err(Error::WrongKeyType {
            expected: kind.public_counterpart(),
            found: kind,
        });
    }
    write_new(path.as_ref(), text, false)
}
