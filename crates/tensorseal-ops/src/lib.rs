//! Model-security operations for **any** model file, not only tensorseal
//! containers: detached signatures, verification with inspection, verified
//! loading for inference services, quarantine with incident reports, a
//! hash-chained audit log, a TOML policy file and a directory audit for CI.
//!
//! Nothing here unpickles or executes anything: pickle-family content is
//! inspected by the never-executing reader of `tensorseal-pickle` /
//! `tensorseal-convert`.
//!
//! | task | API |
//! |---|---|
//! | sign any file (sidecar `FILE.sig.json`) | [`sign_file`] |
//! | verify a file (every check, typed refusal) | [`Verifier`], [`verify_file`] → [`VerifyReport`] |
//! | load a model for inference | [`load_verified`] → [`Verified`] / [`Refusal`] |
//! | quarantine a refused file | [`quarantine()`], [`quarantine_refused`] |
//! | security event log | [`AuditLog`], [`append`], [`verify_log`] |
//! | policy file + flag overrides | [`OpsPolicy::load`], [`OpsPolicy::merge`], [`OpsPolicy::resolve`] |
//! | audit a directory (CI) | [`audit_dir()`] → [`AuditReport`] |
//!
//! # Example
//!
//! ```
//! use tensorseal_ops::{load_verified, sign_file, Loaded, OpsPolicy, RefusalKind, SignOptions};
//! use tensorseal_crypto::SigningKey;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let model = dir.path().join("risk_model.pkl");
//! std::fs::write(&model, b"\x80\x02}q\x00.")?; // {} pickled, protocol 2
//!
//! // Sign with a detached signature: writes risk_model.pkl.sig.json.
//! let key = SigningKey::generate_os()?;
//! let opts = SignOptions { model_id: Some("risk_model".into()), ..SignOptions::default() };
//! sign_file(&model, &key, &opts)?;
//!
//! // Load only what a trusted signer signed; refused files are quarantined.
//! let policy = OpsPolicy {
//!     quarantine_dir: Some(dir.path().join("quarantine")),
//!     audit_log: Some(dir.path().join("security.jsonl")),
//!     ..OpsPolicy::default()
//! }
//! .trust_key(key.verifying_key().clone());
//! let verified = load_verified(&model, &policy)?;
//! assert!(matches!(verified.model, Loaded::Bytes(_)));
//!
//! // One appended byte: refused as tampered and moved to quarantine.
//! let mut bytes = std::fs::read(&model)?;
//! bytes.push(b'\n');
//! std::fs::write(&model, &bytes)?;
//! let refusal = load_verified(&model, &policy).unwrap_err();
//! assert!(matches!(refusal.kind, RefusalKind::Tampered { .. }));
//! assert!(!model.exists() && refusal.quarantined.is_some());
//!
//! // The log of both events verifies.
//! let summary = tensorseal_ops::verify_log(&dir.path().join("security.jsonl"))??;
//! assert!(summary.events >= 2);
//! # Ok(())
//! # }
//! ```
//!
//! # Sidecar schema (`FILE.sig.json`)
//!
//! ```json
//! {
//!   "schema": "tensorseal/detached-signature/v1",
//!   "file_name": "risk_model.pkl",
//!   "sha256": "<64 hex, unsigned copy>",
//!   "signatures": [
//!     {
//!       "signer": "<64 hex fingerprint>",
//!       "statement": "<base64 of the statement's JSON bytes>",
//!       "public_key": "<base64, 1984-byte composite ML-DSA-65+Ed25519 key>",
//!       "signature": "<base64 composite signature>"
//!     }
//!   ]
//! }
//! ```
//!
//! The **statement** (decoded `statement`) is compact JSON with, in this
//! order: `schema` (`tensorseal/detached-statement/v2`), `file_name`,
//! `sha256`, `size`, `format` (detected from content), `model_id`,
//! `model_version`, `training_date` (strings or `null`), `dependencies`
//! (object name → version), `signer`, `signed_at` (RFC 3339 UTC). The
//! signature is the composite signature over **exactly the decoded bytes**
//! with context `tensorseal/v1/detached`; a verifier checks the signature
//! first and parses the statement only afterwards, so no canonical
//! re-encoding is needed. `signer` must equal the key's fingerprint
//! (SHA-256 of `tensorseal/v1/fingerprint/signer` ‖ 0x00 ‖ key), in the entry
//! and in the statement. Unknown fields are rejected. Several signers: one
//! entry each, all over the same `sha256` and `size`; signing again with
//! the same key replaces that signer's entry. Full text: `formats/SIDECAR.md`.
//!
//! # Verification rules
//!
//! Every signature in the sidecar must verify (a bad one refuses the file);
//! the file's SHA-256 and size must equal every statement's (a different
//! digest under another file name is [`RefusalKind::WrongFile`], under the
//! same name [`RefusalKind::Tampered`]; same content under a new name is a
//! warning); at least `threshold` distinct trusted signers must have signed;
//! with an expected model id ([`OpsPolicy::model_id`]) every trusted
//! statement must name it ([`RefusalKind::Substitution`]); pickle-family content
//! (pickle, joblib, PyTorch, NumPy) is inspected and must be `safe`
//! (`unknown` only with `allow_unknown_globals`), signed or not; last, with
//! a rollback state, the release is checked against and recorded in the one
//! [`tensorseal::RollbackStore`] shared with containers (per model id,
//! across trusted signers; see [`tensorseal::rollback`]). Containers are opened with
//! `tensorseal::Model::open` under the equivalent [`tensorseal::Policy`]
//! (which carries the expected model id), then checked against the store.
//! Only [`RefusalKind::quarantinable`] refusals move a file to quarantine;
//! [`RefusalKind::is_operational`] ones (unreadable file, keys, policy,
//! rollback state) decide nothing about the file.
//!
//! # Audit log
//!
//! See [`audit_log`]: one compact JSON object per line with `seq`, `time`,
//! `actor`, `event`, `file`, `sha256`, `outcome`, `reason`, `tool`, `prev`,
//! `hash` (checkpoints add `signer` and `signature`); `hash` = SHA-256 of
//! the line with `hash` empty and no `signature`, `prev` = the previous
//! line's `hash`. Signed checkpoints, head files and what the log does and
//! does not protect against are described there.
//!
//! # Policy file
//!
//! See [`PolicyFile`] and `examples/policy.toml`: `trusted_keys`,
//! `threshold`, `allow_unsigned`, `allow_unknown_globals`, `size_warning_mb`,
//! `model_id`, `rollback_state`, `quarantine_dir`, `audit_log`,
//! `audit_log_key`. Relative paths are relative to the policy file's
//! directory.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod actions;
pub mod audit_dir;
pub mod audit_log;
mod error;
pub mod inspection;
mod load;
mod policy;
pub mod quarantine;
mod rollback;
mod sidecar;
mod util;
mod verify;

pub use actions::{log_verification, quarantine_refused};
pub use audit_dir::{audit_dir, AuditOptions, AuditReport, AuditSummary, FileAudit, FileStatus};
pub use audit_log::{
    append, verify_log, verify_log_with, AuditLog, ChainBreak, Event, EventKind, LogCheck, LogHead,
    LogSummary, NewEvent,
};
pub use error::OpsError;
pub use inspection::Inspection;
pub use load::{load_verified, Loaded, Refusal, Verified};
pub use policy::{OpsPolicy, Overrides, PolicyFile, AUDIT_LOG_ENV, DEFAULT_SIZE_WARNING};
pub use quarantine::{quarantine, IncidentReport, QuarantineOptions, Quarantined};
pub use sidecar::{
    is_sidecar_path, sidecar_path, sign_file, Sidecar, SignOptions, SignOutcome, SignatureEntry,
    Statement, VerifiedEntry, DETACHED_CONTEXT, SIDECAR_SCHEMA, STATEMENT_SCHEMA,
};
pub use util::{now_rfc3339, resolve_model_path, sha256_hex, tool_version, write_atomic, Operator};
pub use verify::{verify_file, Check, RefusalKind, Verifier, VerifyReport};
