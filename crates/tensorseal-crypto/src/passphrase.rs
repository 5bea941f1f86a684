//! Passphrase protection of secret key files (scrypt + ChaCha20-Poly1305).
//!
//! Any secret key text ([`crate::SigningKey::to_text`],
//! [`crate::RecipientSecretKey::to_text`]) can be wrapped in an encrypted
//! armor block:
//!
//! ```text
//! -----BEGIN TENSORSEAL ENCRYPTED SECRET KEY-----
//! # kdf: scrypt log_n=17 r=8 p=1
//! <standard base64 with padding, 64-character lines>
//! -----END TENSORSEAL ENCRYPTED SECRET KEY-----
//! ```
//!
//! The base64 decodes to
//!
//! ```text
//! version (0x01) || kdf (0x01 = scrypt) || log_n (u8) || r (u32 BE) || p (u32 BE)
//!   || salt (16 bytes) || nonce (12 bytes) || ciphertext || tag (16 bytes)
//! ```
//!
//! where `key = scrypt(passphrase, salt, N = 2^log_n, r, p)` (32 bytes) and
//! `ciphertext || tag = ChaCha20-Poly1305(key, nonce, aad = every byte before
//! the ciphertext, plaintext = the inner key text)`. Binding the header as AAD
//! means the parameters, salt and nonce cannot be changed without the
//! passphrase. The passphrase is used as given (its bytes; no normalisation).
//!
//! The `# kdf:` comment is informative only, but when present it must state
//! exactly the parameters of the binary header; other `#` comment lines and
//! blank lines are ignored, and the base64 may be wrapped anywhere.
//!
//! A key file is untrusted input, and the scrypt parameters come from it: the
//! reader checks them against [`KdfParams`]'s bounds **before** running
//! scrypt (log_n 10..=20, r·p ≤ 64, at most 1 GiB of memory and 4 GiB of
//! memory traffic), so no file can make it allocate or run without bound.
//!
//! The key parsers in [`crate::keyfile`] do not decrypt: they answer
//! [`Error::KeyProtected`] for this armor. Unlock first, then parse the inner
//! text.
//!
//! # Example
//!
//! ```
//! use tensorseal_crypto as ts;
//! use ts::passphrase::{is_protected, protect_secret_key_with, unprotect_secret_key, KdfParams};
//!
//! # fn main() -> Result<(), ts::Error> {
//! let key = ts::SigningKey::generate_os()?;
//! // `protect_secret_key` uses the default (stronger, slower) parameters.
//! let params = KdfParams::new(10, 8, 1)?;
//! let locked = protect_secret_key_with(&key.to_text(), b"correct horse", params, &mut ts::os_rng())?;
//! assert!(is_protected(&locked));
//! assert!(matches!(ts::parse_key(&locked), Err(ts::Error::KeyProtected)));
//!
//! let inner = unprotect_secret_key(&locked, b"correct horse")?;
//! assert_eq!(ts::parse_signing_key(&inner)?.to_bytes(), key.to_bytes());
//! assert!(matches!(
//!     unprotect_secret_key(&locked, b"wrong"),
//!     Err(ts::Error::WrongPassphrase)
//! ));
//! # Ok(())
//! # }
//! ```

use base64::Engine as _;
use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keyfile::{parse_key, MAX_KEY_TEXT};

/// Armor label of passphrase-protected secret keys.
pub const ENCRYPTED_SECRET_KEY_LABEL: &str = "TENSORSEAL ENCRYPTED SECRET KEY";
const BEGIN_LINE: &str = "-----BEGIN TENSORSEAL ENCRYPTED SECRET KEY-----";
const END_LINE: &str = "-----END TENSORSEAL ENCRYPTED SECRET KEY-----";

const VERSION: u8 = 1;
const KDF_SCRYPT: u8 = 1;
/// Length of the random scrypt salt.
pub const SALT_LEN: usize = 16;
/// Length of the random ChaCha20-Poly1305 nonce.
pub const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// version, kdf, log_n, r, p, salt, nonce.
const HEADER_LEN: usize = 1 + 1 + 1 + 4 + 4 + SALT_LEN + NONCE_LEN;
const BASE64_LINE: usize = 64;

/// Smallest accepted scrypt log2(N).
pub const MIN_LOG_N: u8 = 10;
/// Largest accepted scrypt log2(N).
pub const MAX_LOG_N: u8 = 20;
/// Largest accepted r·p.
pub const MAX_R_TIMES_P: u64 = 64;
/// Largest scrypt working memory accepted (128·r·N bytes): 1 GiB.
pub const MAX_KDF_MEMORY: u64 = 1 << 30;
/// Largest scrypt memory traffic accepted (128·r·N·p bytes): 4 GiB, which
/// bounds the running time (about 32 times the default parameters).
pub const MAX_KDF_WORK: u64 = 1 << 32;

/// Validated scrypt parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KdfParams {
    log_n: u8,
    r: u32,
    p: u32,
}

impl KdfParams {
    /// The parameters [`protect_secret_key`] uses: log_n = 17, r = 8, p = 1
    /// (128 MiB of memory).
    pub const DEFAULT: KdfParams = KdfParams {
        log_n: 17,
        r: 8,
        p: 1,
    };

    /// Checks the bounds: `MIN_LOG_N <= log_n <= MAX_LOG_N`, `r >= 1`,
    /// `p >= 1`, `r * p <= MAX_R_TIMES_P`, `128 * r * 2^log_n <= MAX_KDF_MEMORY`
    /// and `128 * r * 2^log_n * p <= MAX_KDF_WORK`; anything else is
    /// [`Error::KdfParams`]. Does no scrypt work.
    pub fn new(log_n: u8, r: u32, p: u32) -> Result<Self> {
        let refuse = |reason| Error::KdfParams {
            log_n,
            r,
            p,
            reason,
        };
        if log_n < MIN_LOG_N {
            return Err(refuse("log_n is below 10"));
        }
        if log_n > MAX_LOG_N {
            return Err(refuse("log_n is above 20"));
        }
        if r == 0 || p == 0 {
            return Err(refuse("r and p must be at least 1"));
        }
        let (r64, p64) = (u64::from(r), u64::from(p));
        if r64 * p64 > MAX_R_TIMES_P {
            return Err(refuse("r * p is above 64"));
        }
        // All factors are bounded above, so none of these products overflow.
        let memory = 128 * r64 * (1u64 << log_n);
        if memory > MAX_KDF_MEMORY {
            return Err(refuse("would need more than 1 GiB of memory"));
        }
        if memory * p64 > MAX_KDF_WORK {
            return Err(refuse(
                "would take too long (more than 4 GiB of memory traffic)",
            ));
        }
        Ok(KdfParams { log_n, r, p })
    }

    /// log2 of the scrypt cost N.
    pub fn log_n(&self) -> u8 {
        self.log_n
    }

    /// The scrypt block size r.
    pub fn r(&self) -> u32 {
        self.r
    }

    /// The scrypt parallelism p.
    pub fn p(&self) -> u32 {
        self.p
    }

    /// scrypt's working memory for these parameters, in bytes (128·r·N).
    pub fn memory_bytes(&self) -> u64 {
        128 * u64::from(self.r) * (1u64 << self.log_n)
    }

    fn comment(&self) -> String {
        format!("kdf: scrypt log_n={} r={} p={}", self.log_n, self.r, self.p)
    }

    fn derive(&self, passphrase: &[u8], salt: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
        let refuse = |reason| Error::KdfParams {
            log_n: self.log_n,
            r: self.r,
            p: self.p,
            reason,
        };
        let params = scrypt::Params::new(self.log_n, self.r, self.p)
            .map_err(|_| refuse("not accepted by scrypt"))?;
        let mut key = Zeroizing::new([0u8; 32]);
        scrypt::scrypt(passphrase, salt, &params, key.as_mut())
            .map_err(|_| refuse("not accepted by scrypt"))?;
        Ok(key)
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        KdfParams::DEFAULT
    }
}

/// Whether `text` is a passphrase-protected key: its first line that is
/// neither blank nor a `#` comment is the `TENSORSEAL ENCRYPTED SECRET KEY`
/// BEGIN line. Says nothing about whether the rest is well formed.
pub fn is_protected(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        == Some(BEGIN_LINE)
}

/// Encrypts secret key `text` under `passphrase` with the default parameters
/// ([`KdfParams::DEFAULT`]), drawing the salt and nonce from `rng`.
///
/// `text` must be a valid secret key (signer or recipient); public keys and
/// already-protected keys are refused, and so is an empty passphrase
/// ([`Error::EmptyPassphrase`]).
pub fn protect_secret_key<R: CryptoRng + ?Sized>(
    text: &str,
    passphrase: &[u8],
    rng: &mut R,
) -> Result<Zeroizing<String>> {
    protect_secret_key_with(text, passphrase, KdfParams::DEFAULT, rng)
}

/// [`protect_secret_key`] with the operating system RNG; a failing RNG is
/// [`Error::Rng`], not a panic.
pub fn protect_secret_key_os(text: &str, passphrase: &[u8]) -> Result<Zeroizing<String>> {
    let mut random = [0u8; SALT_LEN + NONCE_LEN];
    getrandom::fill(&mut random).map_err(|_| Error::Rng)?;
    let (salt, nonce) = random.split_at(SALT_LEN);
    let salt: [u8; SALT_LEN] = salt.try_into().map_err(|_| Error::Rng)?;
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| Error::Rng)?;
    protect_raw(text, passphrase, KdfParams::DEFAULT, &salt, &nonce)
}

/// [`protect_secret_key`] with explicit scrypt parameters (for example smaller
/// ones in tests, or stronger ones for long-term storage).
pub fn protect_secret_key_with<R: CryptoRng + ?Sized>(
    text: &str,
    passphrase: &[u8],
    params: KdfParams,
    rng: &mut R,
) -> Result<Zeroizing<String>> {
    let mut salt = [0u8; SALT_LEN];
    rng.fill_bytes(&mut salt);
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    protect_raw(text, passphrase, params, &salt, &nonce)
}

fn protect_raw(
    text: &str,
    passphrase: &[u8],
    params: KdfParams,
    salt: &[u8; SALT_LEN],
    nonce: &[u8; NONCE_LEN],
) -> Result<Zeroizing<String>> {
    if passphrase.is_empty() {
        return Err(Error::EmptyPassphrase);
    }
    if is_protected(text) {
        return Err(Error::KeyProtected);
    }
    let kind = parse_key(text)?.kind();
    if !kind.is_secret() {
        return Err(Error::UnsupportedKey(
            "only secret keys are passphrase-protected",
        ));
    }
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.push(VERSION);
    header.push(KDF_SCRYPT);
    header.push(params.log_n);
    header.extend_from_slice(&params.r.to_be_bytes());
    header.extend_from_slice(&params.p.to_be_bytes());
    header.extend_from_slice(salt);
    header.extend_from_slice(nonce);

    let key = params.derive(passphrase, salt)?;
    let mut payload = Zeroizing::new(Vec::with_capacity(HEADER_LEN + text.len() + TAG_LEN));
    payload.extend_from_slice(&header);
    payload.extend_from_slice(text.as_bytes());
    let cipher = ChaCha20Poly1305::new((&*key).into());
    let nonce = Nonce::from(*nonce);
    let tag = cipher
        .encrypt_inout_detached(&nonce, &header, payload[HEADER_LEN..].as_mut().into())
        .map_err(|_| Error::ProtectedKeyFormat("key text too long"))?;
    payload.extend_from_slice(&tag);

    let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(payload.as_slice()));
    let mut out = Zeroizing::new(String::with_capacity(b64.len() + 200));
    out.push_str(BEGIN_LINE);
    out.push_str("\n# ");
    out.push_str(&params.comment());
    out.push('\n');
    for line in b64.as_bytes().chunks(BASE64_LINE) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(core::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(END_LINE);
    out.push('\n');
    if out.len() > MAX_KEY_TEXT {
        return Err(Error::KeyTextTooLarge(out.len()));
    }
    Ok(out)
}

/// A parsed (still encrypted) protected key.
struct Parsed {
    params: KdfParams,
    /// The whole decoded payload: header, ciphertext, tag.
    data: Vec<u8>,
}

fn parse(text: &str) -> Result<Parsed> {
    if text.len() > MAX_KEY_TEXT {
        return Err(Error::KeyTextTooLarge(text.len()));
    }
    let mut lines = text.lines().map(str::trim);
    loop {
        match lines.next() {
            Some(BEGIN_LINE) => break,
            Some(l) if l.is_empty() || l.starts_with('#') => continue,
            Some(_) | None => {
                return Err(Error::KeyArmor(
                    "not a passphrase-protected key (no ENCRYPTED SECRET KEY BEGIN line)",
                ))
            }
        }
    }
    let mut body = String::new();
    let mut comments = Vec::new();
    let mut has_end = false;
    for l in lines.by_ref() {
        if l == END_LINE {
            has_end = true;
            break;
        } else if l.starts_with("-----") {
            return Err(Error::KeyArmor(
                "unexpected armor line inside the encrypted key block",
            ));
        } else if let Some(c) = l.strip_prefix('#') {
            comments.push(c.trim());
        } else if !l.is_empty() {
            body.push_str(l);
        }
    }
    if !has_end {
        return Err(Error::ProtectedKeyFormat("truncated (no END line)"));
    }
    if lines.any(|l| !l.is_empty() && !l.starts_with('#')) {
        return Err(Error::KeyArmor("unexpected text after the END line"));
    }
    let data = base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .map_err(|_| Error::ProtectedKeyFormat("invalid base64"))?;
    if data.len() < HEADER_LEN + TAG_LEN {
        return Err(Error::ProtectedKeyFormat("truncated"));
    }
    match (data[0], data[1]) {
        (VERSION, KDF_SCRYPT) => {}
        (VERSION, _) => return Err(Error::UnsupportedKey("unknown key derivation function")),
        _ => {
            return Err(Error::UnsupportedKey(
                "unknown passphrase-protected key version",
            ))
        }
    }
    let be32 = |at: usize| u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
    let params = KdfParams::new(data[2], be32(3), be32(7))?;
    for c in comments {
        if c.starts_with("kdf:") && c != params.comment() {
            return Err(Error::ProtectedKeyFormat(
                "the # kdf: comment does not match the key's parameters",
            ));
        }
    }
    Ok(Parsed { params, data })
}

/// The scrypt parameters of a protected key, after the same checks as
/// [`unprotect_secret_key`] makes before running scrypt (armor, base64,
/// length, version, parameter bounds, `# kdf:` comment). Runs no KDF.
pub fn protected_key_params(text: &str) -> Result<KdfParams> {
    parse(text).map(|p| p.params)
}

/// Decrypts a protected key and returns the inner key text, for the parsers
/// in [`crate::keyfile`].
///
/// Malformed text is [`Error::KeyArmor`], [`Error::ProtectedKeyFormat`],
/// [`Error::UnsupportedKey`] or [`Error::KeyTextTooLarge`]; out-of-bounds
/// parameters are [`Error::KdfParams`] (refused before scrypt runs); a wrong
/// passphrase or any change to the encrypted payload is
/// [`Error::WrongPassphrase`].
pub fn unprotect_secret_key(text: &str, passphrase: &[u8]) -> Result<Zeroizing<String>> {
    let Parsed { params, data } = parse(text)?;
    let (header, rest) = data.split_at(HEADER_LEN);
    let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
    let salt = &header[11..11 + SALT_LEN];
    let nonce_bytes: [u8; NONCE_LEN] = header[11 + SALT_LEN..]
        .try_into()
        .map_err(|_| Error::ProtectedKeyFormat("truncated"))?;
    let tag: [u8; TAG_LEN] = tag
        .try_into()
        .map_err(|_| Error::ProtectedKeyFormat("truncated"))?;
    let key = params.derive(passphrase, salt)?;
    let mut plain = Zeroizing::new(ciphertext.to_vec());
    ChaCha20Poly1305::new((&*key).into())
        .decrypt_inout_detached(
            &Nonce::from(nonce_bytes),
            header,
            plain.as_mut_slice().into(),
            (&tag).into(),
        )
        .map_err(|_| Error::WrongPassphrase)?;
    let text = core::str::from_utf8(&plain)
        .map_err(|_| Error::ProtectedKeyFormat("the decrypted key is not UTF-8 text"))?;
    Ok(Zeroizing::new(text.to_owned()))
}
