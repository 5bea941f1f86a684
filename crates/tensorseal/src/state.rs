//! Rollback, equivocation and freeze protection (TUF-style): a verifier's record
//! of the highest version seen per (model id, signer).
//!
//! The state file is JSON:
//!
//! ```json
//! {"format": "tensorseal-rollback-state", "version": 1,
//!  "entries": [{"model_id": "m", "signer": "<64 hex>", "version": 3,
//!               "manifest_sha256": "<64 hex>"}]}
//! ```
//!
//! [`check_and_update`] takes an exclusive lock on `STATE.lock` beside the file
//! (so concurrent verifiers serialize), reads the state, checks every signer,
//! and replaces the file atomically (temporary file, fsync, rename, directory
//! fsync) before releasing the lock.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use fs4::fs_std::FileExt;
use serde_json::{json, Value};
use tensorseal_crypto::Fingerprint;

use crate::error::{Error, ErrorKind, Result};

const FORMAT: &str = "tensorseal-rollback-state";

/// What a verifier has seen for one (model id, signer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// Highest version seen.
    pub version: u64,
    /// The manifest digest of that version.
    pub manifest_sha256: [u8; 32],
}

/// The rollback state: highest version and its manifest digest, per (model id, signer).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RollbackState {
    entries: BTreeMap<(String, Fingerprint), Seen>,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn bad(path: &Path, reason: impl Into<String>) -> Error {
    Error::new(ErrorKind::State {
        path: path.to_path_buf(),
        reason: reason.into(),
    })
}

impl RollbackState {
    /// Reads a state file; a missing file is an empty state.
    pub fn load(path: &Path) -> Result<RollbackState> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(RollbackState::default())
            }
            Err(e) => return Err(Error::io(path, "read rollback state", e)),
        };
        let v: Value = serde_json::from_str(&text).map_err(|e| bad(path, e.to_string()))?;
        if v["format"] != FORMAT || v["version"] != 1 {
            return Err(bad(path, "not a tensorseal rollback state, version 1"));
        }
        let mut entries = BTreeMap::new();
        for e in v["entries"]
            .as_array()
            .ok_or_else(|| bad(path, "no entries list"))?
        {
            let model_id = e["model_id"]
                .as_str()
                .ok_or_else(|| bad(path, "entry without model_id"))?;
            let signer = e["signer"]
                .as_str()
                .and_then(Fingerprint::from_hex)
                .ok_or_else(|| bad(path, "entry without a valid signer fingerprint"))?;
            let version = e["version"]
                .as_u64()
                .ok_or_else(|| bad(path, "entry without version"))?;
            let digest = e["manifest_sha256"]
                .as_str()
                .and_then(Fingerprint::from_hex)
                .ok_or_else(|| bad(path, "entry without a valid manifest_sha256"))?;
            entries.insert(
                (model_id.to_owned(), signer),
                Seen {
                    version,
                    manifest_sha256: digest.0,
                },
            );
        }
        Ok(RollbackState { entries })
    }

    /// What was seen for this model and signer.
    pub fn get(&self, model_id: &str, signer: &Fingerprint) -> Option<Seen> {
        self.entries.get(&(model_id.to_owned(), *signer)).copied()
    }

    /// Refuses a lower version ([`ErrorKind::Rollback`]) or the same version with
    /// another digest ([`ErrorKind::Equivocation`]); otherwise records the version.
    pub fn check_and_record(
        &mut self,
        model_id: &str,
        signer: &Fingerprint,
        version: u64,
        manifest_sha256: [u8; 32],
    ) -> Result<()> {
        if let Some(seen) = self.get(model_id, signer) {
            if version < seen.version {
                return Err(Error::new(ErrorKind::Rollback {
                    model_id: model_id.to_owned(),
                    signer: *signer,
                    version,
                    seen: seen.version,
                }));
            }
            if version == seen.version && manifest_sha256 != seen.manifest_sha256 {
                return Err(Error::new(ErrorKind::Equivocation {
                    model_id: model_id.to_owned(),
                    signer: *signer,
                    version,
                    found: hex(&manifest_sha256),
                    seen: hex(&seen.manifest_sha256),
                }));
            }
        }
        self.entries.insert(
            (model_id.to_owned(), *signer),
            Seen {
                version,
                manifest_sha256,
            },
        );
        Ok(())
    }

    fn to_json(&self) -> String {
        let entries: Vec<Value> = self
            .entries
            .iter()
            .map(|((m, s), seen)| {
                json!({
                    "model_id": m,
                    "signer": s.to_string(),
                    "version": seen.version,
                    "manifest_sha256": hex(&seen.manifest_sha256),
                })
            })
            .collect();
        let v = json!({"format": FORMAT, "version": 1, "entries": entries});
        format!("{v:#}\n")
    }

    /// Replaces the state file atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let dir = parent(path);
        let mut tmp = tempfile::Builder::new()
            .prefix(".tensorseal-state-")
            .tempfile_in(&dir)
            .map_err(|e| Error::io(&dir, "create temporary file", e))?;
        tmp.write_all(self.to_json().as_bytes())
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|e| Error::io(tmp.path(), "write rollback state", e))?;
        tmp.persist(path)
            .map_err(|e| Error::io(path, "rename rollback state into place", e.error))?;
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(&dir, "fsync directory", e))
    }
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Under an exclusive lock on `PATH.lock`: loads the state at `path`, checks and
/// records `version`/`manifest_sha256` for every signer of `model_id`, and saves
/// it atomically. Nothing is saved when any check fails.
pub fn check_and_update(
    path: &Path,
    model_id: &str,
    signers: &[Fingerprint],
    version: u64,
    manifest_sha256: [u8; 32],
) -> Result<()> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| Error::io(&lock_path, "open lock file", e))?;
    FileExt::lock_exclusive(&lock).map_err(|e| Error::io(&lock_path, "lock", e))?;
    let mut state = RollbackState::load(path)?;
    let before = state.clone();
    for s in signers {
        state.check_and_record(model_id, s, version, manifest_sha256)?;
    }
    if state != before {
        state.save(path)?;
    }
    // Closing the file releases the lock.
    drop(lock);
    Ok(())
}
