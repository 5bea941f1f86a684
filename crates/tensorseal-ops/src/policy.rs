//! The operations policy: a TOML file, merged with command-line overrides.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use tensorseal::TrustStore;
use tensorseal_crypto::VerifyingKey;

use crate::error::OpsError;

/// Environment variable naming the default audit log.
pub const AUDIT_LOG_ENV: &str = "TENSORSEAL_AUDIT_LOG";
/// Default size warning threshold: 50 MB (50 × 1024 × 1024 bytes).
pub const DEFAULT_SIZE_WARNING: u64 = 50 * 1024 * 1024;

/// The policy file as written (TOML). Unknown keys are errors. Relative
/// paths are relative to **the policy file's directory** (not the current
/// directory, not the audited directory).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// Trusted signer public key files (or directories of `.pub` files).
    #[serde(default)]
    pub trusted_keys: Vec<PathBuf>,
    /// Distinct trusted signers required (default 1).
    pub threshold: Option<usize>,
    /// Accept files without any signature (integrity and inspection still apply).
    pub allow_unsigned: Option<bool>,
    /// Let pickles whose inspection verdict is `unknown` pass.
    pub allow_unknown_globals: Option<bool>,
    /// Size warning threshold in MB (MiB); default 50.
    pub size_warning_mb: Option<u64>,
    /// The model id every verified file must carry (substitution check).
    pub model_id: Option<String>,
    /// Rollback state file.
    pub rollback_state: Option<PathBuf>,
    /// Quarantine directory for refused files.
    pub quarantine_dir: Option<PathBuf>,
    /// Audit log (JSON lines, hash-chained).
    pub audit_log: Option<PathBuf>,
    /// Signer secret key that signs the audit log's checkpoints.
    pub audit_log_key: Option<PathBuf>,
}

/// Largest policy file read.
pub const MAX_POLICY_BYTES: u64 = 1 << 20;

/// The effective policy for verification, audit and [`crate::load_verified`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpsPolicy {
    /// Trusted signer key files or directories.
    pub trusted_keys: Vec<PathBuf>,
    /// Keys trusted in memory besides `trusted_keys`.
    pub trust: TrustStore,
    /// Distinct trusted signers required (at least 1).
    pub threshold: usize,
    /// Accept unsigned files (still hashed and inspected).
    pub allow_unsigned: bool,
    /// Let `unknown` inspection verdicts pass.
    pub allow_unknown_globals: bool,
    /// Files larger than this get a warning.
    pub size_warning_bytes: u64,
    /// The model id expected: a validly signed file of another model is
    /// refused as a substitution.
    pub model_id: Option<String>,
    /// Rollback state file, if rollback is checked.
    pub rollback_state: Option<PathBuf>,
    /// Where refused files are moved, if anywhere.
    pub quarantine_dir: Option<PathBuf>,
    /// Where events are logged, if anywhere.
    pub audit_log: Option<PathBuf>,
    /// Signer secret key file that signs the log's checkpoints, if any.
    pub audit_log_key: Option<PathBuf>,
}

impl Default for OpsPolicy {
    fn default() -> Self {
        OpsPolicy {
            trusted_keys: Vec::new(),
            trust: TrustStore::new(),
            threshold: 1,
            allow_unsigned: false,
            allow_unknown_globals: false,
            size_warning_bytes: DEFAULT_SIZE_WARNING,
            model_id: None,
            rollback_state: None,
            quarantine_dir: None,
            audit_log: None,
            audit_log_key: None,
        }
    }
}

/// Command-line values that override the policy file. `None` / empty keeps
/// the policy's value; a non-empty `trust` replaces the policy's key list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--trust PATH` (repeatable).
    pub trust: Vec<PathBuf>,
    /// `--threshold N`.
    pub threshold: Option<usize>,
    /// `--allow-unsigned`.
    pub allow_unsigned: Option<bool>,
    /// `--allow-unknown-globals`.
    pub allow_unknown_globals: Option<bool>,
    /// `--size-warning-mb N`.
    pub size_warning_mb: Option<u64>,
    /// `--model-id ID`.
    pub model_id: Option<String>,
    /// `--state FILE`.
    pub rollback_state: Option<PathBuf>,
    /// `--quarantine DIR`.
    pub quarantine_dir: Option<PathBuf>,
    /// `--audit-log FILE`.
    pub audit_log: Option<PathBuf>,
    /// `--log-key FILE`.
    pub audit_log_key: Option<PathBuf>,
}

fn perr(path: &Path, reason: impl Into<String>) -> OpsError {
    OpsError::Policy {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

impl PolicyFile {
    /// Parses TOML text (`path` only names the file in errors).
    pub fn parse(path: &Path, text: &str) -> Result<PolicyFile, OpsError> {
        toml::from_str(text).map_err(|e| perr(path, e.to_string()))
    }
}

impl OpsPolicy {
    /// Reads the TOML policy at `path`; relative paths in it are resolved
    /// against its directory.
    pub fn load(path: &Path) -> Result<OpsPolicy, OpsError> {
        let bytes = crate::util::read_config(path, MAX_POLICY_BYTES, "policy")
            .map_err(|e| e.into_ops(|reason| perr(path, reason)))?;
        let text = String::from_utf8(bytes).map_err(|_| perr(path, "not UTF-8 text"))?;
        let file = PolicyFile::parse(path, &text)?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        OpsPolicy::from_file(file, &base).map_err(|r| perr(path, r))
    }

    /// Builds a policy from a parsed file, resolving relative paths against `base`.
    pub fn from_file(file: PolicyFile, base: &Path) -> Result<OpsPolicy, String> {
        let abs = |p: PathBuf| if p.is_relative() { base.join(p) } else { p };
        let threshold = file.threshold.unwrap_or(1);
        if threshold == 0 {
            return Err("threshold must be at least 1".into());
        }
        let size_warning_bytes = file
            .size_warning_mb
            .map(|mb| mb.saturating_mul(1024 * 1024))
            .unwrap_or(DEFAULT_SIZE_WARNING);
        Ok(OpsPolicy {
            trusted_keys: file.trusted_keys.into_iter().map(abs).collect(),
            trust: TrustStore::new(),
            threshold,
            allow_unsigned: file.allow_unsigned.unwrap_or(false),
            allow_unknown_globals: file.allow_unknown_globals.unwrap_or(false),
            size_warning_bytes,
            model_id: file.model_id,
            rollback_state: file.rollback_state.map(abs),
            quarantine_dir: file.quarantine_dir.map(abs),
            audit_log: file.audit_log.map(abs),
            audit_log_key: file.audit_log_key.map(abs),
        })
    }

    /// Applies command-line overrides (flags win over the file).
    pub fn merge(mut self, o: Overrides) -> OpsPolicy {
        if !o.trust.is_empty() {
            self.trusted_keys = o.trust;
        }
        if let Some(t) = o.threshold {
            self.threshold = t.max(1);
        }
        if let Some(b) = o.allow_unsigned {
            self.allow_unsigned = b;
        }
        if let Some(b) = o.allow_unknown_globals {
            self.allow_unknown_globals = b;
        }
        if let Some(mb) = o.size_warning_mb {
            self.size_warning_bytes = mb.saturating_mul(1024 * 1024);
        }
        if o.model_id.is_some() {
            self.model_id = o.model_id;
        }
        if o.rollback_state.is_some() {
            self.rollback_state = o.rollback_state;
        }
        if o.quarantine_dir.is_some() {
            self.quarantine_dir = o.quarantine_dir;
        }
        if o.audit_log.is_some() {
            self.audit_log = o.audit_log;
        }
        if o.audit_log_key.is_some() {
            self.audit_log_key = o.audit_log_key;
        }
        self
    }

    /// Fills `audit_log` from `$TENSORSEAL_AUDIT_LOG` when neither the file
    /// nor a flag set it.
    pub fn with_env_defaults(mut self) -> OpsPolicy {
        if self.audit_log.is_none() {
            self.audit_log = std::env::var_os(AUDIT_LOG_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from);
        }
        self
    }

    /// The policy file (optional), then the overrides, then the environment:
    /// what the CLI calls.
    pub fn resolve(policy_file: Option<&Path>, o: Overrides) -> Result<OpsPolicy, OpsError> {
        let base = match policy_file {
            Some(p) => OpsPolicy::load(p)?,
            None => OpsPolicy::default(),
        };
        Ok(base.merge(o).with_env_defaults())
    }

    /// Trusts `key` in memory.
    pub fn trust_key(mut self, key: VerifyingKey) -> OpsPolicy {
        self.trust.add(key);
        self
    }

    /// The trusted keys: `trust` plus every file in `trusted_keys`.
    pub fn trust_store(&self) -> Result<TrustStore, OpsError> {
        let mut store = self.trust.clone();
        for p in &self.trusted_keys {
            store.add_path(p).map_err(|e| OpsError::Key {
                path: p.clone(),
                reason: e.to_string(),
            })?;
        }
        Ok(store)
    }

    /// The container policy equivalent to this one (same trust, threshold,
    /// unsigned switch and expected model id). Rollback is checked after
    /// open, with [`OpsPolicy::rollback_store`].
    pub fn container_policy(&self) -> Result<tensorseal::Policy, OpsError> {
        let base = if self.allow_unsigned {
            tensorseal::Policy::allow_unsigned()
        } else {
            tensorseal::Policy::require_signature()
        };
        let p = base.trust(self.trust_store()?).threshold(self.threshold);
        Ok(match &self.model_id {
            Some(m) => p.expect_model_id(m.clone()),
            None => p,
        })
    }

    /// The rollback store, when the policy has a state file.
    pub fn rollback_store(&self) -> Option<tensorseal::RollbackStore> {
        self.rollback_state
            .as_ref()
            .map(tensorseal::RollbackStore::new)
    }
}
