//! Rollback protection for detached signatures.
//!
//! The state file has the layout of the container rollback state in
//! `tensorseal` (`{"format": "tensorseal-rollback-state", "version": 1,
//! "entries": [{"model_id", "signer", "version", "manifest_sha256"}]}`), so one
//! file can serve both. Detached entries use `model_id = "detached:" +
//! model_name`, `version` = the statement's signing time in seconds since the
//! epoch and `manifest_sha256` = the file's SHA-256. A statement signed
//! earlier than the newest one seen from the same signer for the same model
//! is a rollback; the same signing time with another digest is equivocation.
//! Updates take an exclusive lock on `STATE.lock` and replace the file
//! atomically; nothing is written when a check fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fs4::fs_std::FileExt;
use serde::{Deserialize, Serialize};

use crate::error::OpsError;
use crate::util::write_atomic;

const FORMAT: &str = "tensorseal-rollback-state";

#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    format: String,
    version: u32,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    model_id: String,
    signer: String,
    version: u64,
    manifest_sha256: String,
}

fn bad(path: &Path, reason: impl Into<String>) -> OpsError {
    OpsError::State {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// One signer's claim to check: fingerprint (hex), signing time (seconds), file digest (hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Signer fingerprint, hex.
    pub signer: String,
    /// Signing time, seconds since the epoch.
    pub signed_at: u64,
    /// The file's SHA-256, hex.
    pub sha256: String,
}

/// Checks every claim for `model_name` against the state at `path` and
/// records them; `Ok(Err(reason))` is a refusal (nothing recorded).
pub fn check_and_update(
    path: &Path,
    model_name: &str,
    claims: &[Claim],
) -> Result<Result<(), String>, OpsError> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| OpsError::io(&lock_path, "open lock file", e))?;
    FileExt::lock_exclusive(&lock).map_err(|e| OpsError::io(&lock_path, "lock", e))?;
    let mut state = match std::fs::read(path) {
        Ok(b) => {
            let s: StateFile = serde_json::from_slice(&b).map_err(|e| bad(path, e.to_string()))?;
            if s.format != FORMAT || s.version != 1 {
                return Err(bad(path, "not a tensorseal rollback state, version 1"));
            }
            s
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => StateFile {
            format: FORMAT.into(),
            version: 1,
            entries: Vec::new(),
        },
        Err(e) => return Err(OpsError::io(path, "read rollback state", e)),
    };
    let model_id = format!("detached:{model_name}");
    let mut index: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (i, e) in state.entries.iter().enumerate() {
        index.insert((e.model_id.clone(), e.signer.to_ascii_lowercase()), i);
    }
    for c in claims {
        let key = (model_id.clone(), c.signer.to_ascii_lowercase());
        if let Some(&i) = index.get(&key) {
            let seen = &state.entries[i];
            if c.signed_at < seen.version {
                return Ok(Err(format!(
                    "rollback: model {model_name:?} signed by {} at {} is older than the statement already seen (signed at {})",
                    c.signer, c.signed_at, seen.version
                )));
            }
            if c.signed_at == seen.version && !c.sha256.eq_ignore_ascii_case(&seen.manifest_sha256)
            {
                return Ok(Err(format!(
                    "equivocation: model {model_name:?} signed by {} at {} with digest {}, already seen with digest {}",
                    c.signer, c.signed_at, c.sha256, seen.manifest_sha256
                )));
            }
        }
    }
    for c in claims {
        let key = (model_id.clone(), c.signer.to_ascii_lowercase());
        let entry = Entry {
            model_id: model_id.clone(),
            signer: c.signer.to_ascii_lowercase(),
            version: c.signed_at,
            manifest_sha256: c.sha256.to_ascii_lowercase(),
        };
        match index.get(&key) {
            Some(&i) => state.entries[i] = entry,
            None => {
                index.insert(key, state.entries.len());
                state.entries.push(entry);
            }
        }
    }
    let mut text = serde_json::to_string_pretty(&state).map_err(|e| bad(path, e.to_string()))?;
    text.push('\n');
    write_atomic(path, text.as_bytes(), true)?;
    drop(lock);
    Ok(Ok(()))
}
