//! Detached signatures: the `FILE.sig.json` sidecar (schema in the crate docs
//! and `formats/SIDECAR.md`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use tensorseal_crypto::{Fingerprint, Signature, SigningKey, VerifyingKey};

use crate::error::OpsError;
use crate::util::{file_name, rfc3339, sha256_hex, write_atomic};

/// Signature context string of detached statements.
pub const DETACHED_CONTEXT: &[u8] = b"tensorseal/v1/detached";
/// `schema` of the sidecar document.
pub const SIDECAR_SCHEMA: &str = "tensorseal/detached-signature/v1";
/// `schema` of a signed statement.
pub const STATEMENT_SCHEMA: &str = "tensorseal/detached-statement/v2";
/// The earlier statement schema (`model_name`, defaulting to the file stem),
/// refused with a message to re-sign.
const STATEMENT_SCHEMA_V1: &str = "tensorseal/detached-statement/v1";
/// Largest sidecar read (signatures are ~5 KiB each).
pub const MAX_SIDECAR_BYTES: u64 = 4 << 20;
/// Most signatures one sidecar may hold.
pub const MAX_SIGNATURES: usize = 64;

/// The signed statement about one file. Signed as its exact JSON bytes (see
/// [`SignatureEntry::statement`]); field order below is the order written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    /// Always [`STATEMENT_SCHEMA`].
    pub schema: String,
    /// The signed file's name (final path component) when signed.
    pub file_name: String,
    /// SHA-256 of the file's bytes, 64 lower-case hex digits.
    pub sha256: String,
    /// The file's size in bytes.
    pub size: u64,
    /// Format detected from the content (`tensorseal_convert::Format::as_str`).
    pub format: String,
    /// Model id: the name a verifier expects (`--model-id`) and the key of
    /// the rollback state. Always given explicitly when signing.
    pub model_id: String,
    /// Model version. Rollback protection needs `N`, `A.B` or `A.B.C`
    /// (optional leading `v`), compared numerically
    /// ([`tensorseal::rollback::detached_version`]); other text signs but
    /// is refused where rollback is checked.
    pub model_version: Option<String>,
    /// Training date, free text (e.g. `2025-12-11`).
    pub training_date: Option<String>,
    /// Dependencies and their versions (e.g. `sklearn` → `1.3.0`).
    pub dependencies: BTreeMap<String, String>,
    /// Signer fingerprint, 64 lower-case hex digits.
    pub signer: String,
    /// Signing time, RFC 3339 UTC with whole seconds.
    pub signed_at: String,
}

/// One signature in a sidecar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureEntry {
    /// Signer fingerprint (hex), for humans; must equal the key's fingerprint.
    pub signer: String,
    /// The [`Statement`]'s JSON bytes, base64 (standard, padded): the exact signed message.
    pub statement: String,
    /// The composite ML-DSA-65+Ed25519 public key (1984 bytes), base64.
    pub public_key: String,
    /// The composite signature over the statement bytes with context
    /// [`DETACHED_CONTEXT`], base64.
    pub signature: String,
}

/// The sidecar document `FILE.sig.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sidecar {
    /// Always [`SIDECAR_SCHEMA`].
    pub schema: String,
    /// Unsigned copy of the file name (for humans; verifiers use the statements).
    pub file_name: String,
    /// Unsigned copy of the file digest; every statement must carry the same one.
    pub sha256: String,
    /// One entry per signer.
    pub signatures: Vec<SignatureEntry>,
}

/// A signature entry whose signature verified, with its parsed statement.
#[derive(Debug, Clone)]
pub struct VerifiedEntry {
    /// The signer's key.
    pub key: VerifyingKey,
    /// Its fingerprint.
    pub fingerprint: Fingerprint,
    /// The signed statement.
    pub statement: Statement,
}

/// What to put in a statement besides what is computed from the file.
#[derive(Debug, Clone, Default)]
pub struct SignOptions {
    /// Model id (required: a default from the file name would let a
    /// rename reset rollback protection).
    pub model_id: Option<String>,
    /// Model version.
    pub model_version: Option<String>,
    /// Training date.
    pub training_date: Option<String>,
    /// Dependencies (`name` → `version`).
    pub dependencies: BTreeMap<String, String>,
    /// Signing time; default: now.
    pub signed_at: Option<SystemTime>,
}

/// The sidecar path of `file`: `FILE.sig.json` (appended to the full name).
pub fn sidecar_path(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(".sig.json");
    PathBuf::from(s)
}

/// Whether `path` looks like a sidecar (`*.sig.json`).
pub fn is_sidecar_path(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".sig.json"))
}

fn sc_err(path: &Path, reason: impl Into<String>) -> OpsError {
    OpsError::Sidecar {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

impl Sidecar {
    /// Parses a sidecar document (structure only: no signature is checked).
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Sidecar, OpsError> {
        let sc: Sidecar = serde_json::from_slice(bytes)
            .map_err(|e| sc_err(path, format!("not valid JSON of the sidecar schema: {e}")))?;
        if sc.schema != SIDECAR_SCHEMA {
            return Err(sc_err(
                path,
                format!("schema {:?}, expected {SIDECAR_SCHEMA:?}", sc.schema),
            ));
        }
        if sc.signatures.is_empty() {
            return Err(sc_err(path, "no signatures"));
        }
        if sc.signatures.len() > MAX_SIGNATURES {
            return Err(sc_err(
                path,
                format!("more than {MAX_SIGNATURES} signatures"),
            ));
        }
        Ok(sc)
    }

    /// Reads and parses the sidecar at `path`: a regular file (a FIFO or a
    /// device is refused without blocking) of at most 4 MiB.
    pub fn read(path: &Path) -> Result<Sidecar, OpsError> {
        let bytes = crate::util::read_config(path, MAX_SIDECAR_BYTES, "sidecar")
            .map_err(|e| e.into_ops(|reason| sc_err(path, reason)))?;
        Sidecar::parse(path, &bytes)
    }

    /// The JSON text written to disk (pretty, newline-terminated).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

impl SignatureEntry {
    /// Checks this entry: decodes the key, checks the fingerprint, verifies the
    /// signature over the exact statement bytes, then parses the statement and
    /// checks that it names the same signer. The error is a human reason.
    pub fn verify(&self) -> Result<VerifiedEntry, String> {
        let pk = B64
            .decode(self.public_key.trim())
            .map_err(|e| format!("public_key is not base64: {e}"))?;
        let key = VerifyingKey::from_bytes(&pk).map_err(|e| format!("public_key: {e}"))?;
        let fingerprint = key.fingerprint();
        if !self.signer.eq_ignore_ascii_case(&fingerprint.to_string()) {
            return Err(format!(
                "signer {} does not match the public key's fingerprint {fingerprint}",
                self.signer
            ));
        }
        let msg = B64
            .decode(self.statement.trim())
            .map_err(|e| format!("statement is not base64: {e}"))?;
        let sig_bytes = B64
            .decode(self.signature.trim())
            .map_err(|e| format!("signature is not base64: {e}"))?;
        let sig = Signature::from_bytes(&sig_bytes).map_err(|e| format!("signature: {e}"))?;
        key.verify(&msg, DETACHED_CONTEXT, &sig)
            .map_err(|e| format!("signature does not verify: {e}"))?;
        let schema = serde_json::from_slice::<serde_json::Value>(&msg)
            .ok()
            .and_then(|v| v["schema"].as_str().map(str::to_owned));
        if schema.as_deref() == Some(STATEMENT_SCHEMA_V1) {
            return Err(format!(
                "statement schema {STATEMENT_SCHEMA_V1:?} (model name defaulting to the file name) is no longer accepted; re-sign with --model-id"
            ));
        }
        let statement: Statement = serde_json::from_slice(&msg).map_err(|e| {
            format!("signed statement is not valid JSON of the statement schema: {e}")
        })?;
        if statement.schema != STATEMENT_SCHEMA {
            return Err(format!(
                "statement schema {:?}, expected {STATEMENT_SCHEMA:?}",
                statement.schema
            ));
        }
        if !statement
            .signer
            .eq_ignore_ascii_case(&fingerprint.to_string())
        {
            return Err(format!(
                "statement names signer {}, signed by {fingerprint}",
                statement.signer
            ));
        }
        Ok(VerifiedEntry {
            key,
            fingerprint,
            statement,
        })
    }
}

/// The result of [`sign_file`].
#[derive(Debug, Clone)]
pub struct SignOutcome {
    /// The sidecar written.
    pub sidecar_path: PathBuf,
    /// The statement signed.
    pub statement: Statement,
    /// How many signatures the sidecar now holds.
    pub signatures: usize,
    /// Whether an earlier signature by the same signer was replaced.
    pub replaced: bool,
}

/// Signs `path` with a detached signature: writes `FILE.sig.json`, or adds
/// this signer to the existing sidecar (replacing an earlier entry by the
/// same signer). Existing signatures must be over the same SHA-256 and size;
/// a sidecar for other content is refused, never overwritten. Refuses
/// tensorseal containers (they embed their signatures). The sidecar is
/// written atomically.
pub fn sign_file(
    path: &Path,
    key: &SigningKey,
    opts: &SignOptions,
) -> Result<SignOutcome, OpsError> {
    crate::util::resolve_model_path(path).map_err(|reason| OpsError::Unsupported {
        path: path.to_path_buf(),
        reason,
    })?;
    let bytes = tensorseal::FileBytes::map(path).map_err(|e| OpsError::Unsupported {
        path: path.to_path_buf(),
        reason: format!("cannot read: {e}"),
    })?;
    let format = tensorseal_convert::detect(&bytes);
    if format == tensorseal_convert::Format::Tensorseal {
        return Err(OpsError::Unsupported {
            path: path.to_path_buf(),
            reason: "a tensorseal container embeds its signatures; sign it as a container".into(),
        });
    }
    let sha256 = sha256_hex(&bytes);
    let size = bytes.len() as u64;
    drop(bytes);
    let name = file_name(path);
    let model_id = opts
        .model_id
        .clone()
        .filter(|m| !m.trim().is_empty())
        .ok_or_else(|| OpsError::Unsupported {
            path: path.to_path_buf(),
            reason: "a detached signature needs a model id (--model-id): verifiers bind to it and key rollback protection on it".into(),
        })?;
    let fingerprint = key.fingerprint();
    let statement = Statement {
        schema: STATEMENT_SCHEMA.into(),
        file_name: name.clone(),
        sha256: sha256.clone(),
        size,
        format: format.as_str().into(),
        model_id,
        model_version: opts.model_version.clone(),
        training_date: opts.training_date.clone(),
        dependencies: opts.dependencies.clone(),
        signer: fingerprint.to_string(),
        signed_at: rfc3339(opts.signed_at.unwrap_or_else(SystemTime::now)),
    };
    let msg = serde_json::to_vec(&statement).map_err(|e| sc_err(path, e.to_string()))?;
    let sig = key
        .sign(&msg, DETACHED_CONTEXT)
        .map_err(|e| OpsError::Crypto {
            path: path.to_path_buf(),
            source: e,
        })?;
    let entry = SignatureEntry {
        signer: fingerprint.to_string(),
        statement: B64.encode(&msg),
        public_key: B64.encode(key.verifying_key().as_bytes()),
        signature: B64.encode(sig.as_bytes()),
    };

    let sc_path = sidecar_path(path);
    // A sidecar path linked to the model would make the signature replace it.
    if tensorseal_fs::same_file(path, &sc_path).unwrap_or(false) {
        return Err(sc_err(
            &sc_path,
            "is the signed file itself (a link to it); refusing to write over it",
        ));
    }
    let mut sidecar = match std::fs::symlink_metadata(&sc_path) {
        Ok(_) => {
            let existing = Sidecar::read(&sc_path)?;
            for (i, e) in existing.signatures.iter().enumerate() {
                let v = e.verify().map_err(|r| {
                    sc_err(
                        &sc_path,
                        format!("existing signature {}: {r}; refusing to extend it", i + 1),
                    )
                })?;
                if v.statement.sha256 != sha256 || v.statement.size != size {
                    return Err(sc_err(
                        &sc_path,
                        format!(
                            "existing signature {} is over other content (sha256 {}, {} bytes; the file now has {sha256}, {size} bytes); remove the stale sidecar first",
                            i + 1,
                            v.statement.sha256,
                            v.statement.size
                        ),
                    ));
                }
            }
            existing
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Sidecar {
            schema: SIDECAR_SCHEMA.into(),
            file_name: name,
            sha256: sha256.clone(),
            signatures: Vec::new(),
        },
        Err(e) => return Err(OpsError::io(&sc_path, "read sidecar", e)),
    };
    let before = sidecar.signatures.len();
    sidecar
        .signatures
        .retain(|e| !e.signer.eq_ignore_ascii_case(&fingerprint.to_string()));
    let replaced = sidecar.signatures.len() != before;
    if sidecar.signatures.len() >= MAX_SIGNATURES {
        return Err(sc_err(
            &sc_path,
            format!("already holds {MAX_SIGNATURES} signatures"),
        ));
    }
    sidecar.signatures.push(entry);
    write_atomic(&sc_path, sidecar.to_json().as_bytes(), true)?;
    Ok(SignOutcome {
        sidecar_path: sc_path,
        statement,
        signatures: sidecar.signatures.len(),
        replaced,
    })
}
