//! Rollback and equivocation protection (TUF-style): one verifier-side
//! store of the highest release accepted per model id, shared by tensorseal
//! containers and detached signatures.
//!
//! The store is keyed by **model id alone**, across every trusted signer: a
//! release signed by key B cannot take a model below what key A released, and
//! rotating a key does not reset the counter. Per model id it keeps the
//! highest version accepted, the digest of that release and its kind:
//!
//! * a container's version is its manifest `version` (a `u64`) and its digest
//!   the manifest SHA-256;
//! * a detached file's version is its signed `model_version`, which must be
//!   an integer `N` or dotted numbers `A.B` / `A.B.C` (an optional leading
//!   `v` is ignored), ordered numerically (see [`detached_version`]), and its
//!   digest the file's SHA-256.
//!
//! The two scales do not compare, so a model id is tracked from one kind of
//! release: a release of the other kind is refused
//! ([`ErrorKind::RollbackSource`]). A lower version is a rollback
//! ([`ErrorKind::Rollback`]); the same version with another digest is
//! equivocation ([`ErrorKind::Equivocation`]). A problem with the state file
//! itself is [`ErrorKind::State`] (or I/O): a verifier-side problem, never a
//! finding about the model.
//!
//! Checking is an explicit step after a file is fully accepted
//! ([`RollbackStore::check_and_record`] for an opened [`Model`],
//! [`RollbackStore::check_and_record_release`] for a detached file); opening
//! a file never touches the store, and a file without a trusted signer is
//! never recorded.
//!
//! The state file is JSON, format version 2 (version 1 files, kept per
//! (model id, signer), are refused: move the old file aside):
//!
//! ```json
//! {"format": "tensorseal-rollback-state", "version": 2,
//!  "entries": [{"model_id": "m", "kind": "container", "version": 3,
//!               "digest": "<64 hex>"}]}
//! ```
//!
//! An update takes an exclusive lock on `STATE.lock` beside the file (so
//! concurrent verifiers serialize), reads the state, checks, and replaces the
//! file atomically (temporary file, fsync, rename, directory fsync) before
//! releasing the lock. Nothing is written when the check fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fs4::fs_std::FileExt;
use serde_json::{json, Value};
use tensorseal_crypto::Fingerprint;

use crate::config_file::{is_not_found, read_regular};
use crate::error::{Error, ErrorKind, Result};
use crate::reader::Model;

/// `format` of the state file.
pub const STATE_FORMAT: &str = "tensorseal-rollback-state";
/// `version` of the state file this code reads and writes.
pub const STATE_VERSION: u64 = 2;
/// Largest state file read.
pub const MAX_STATE_BYTES: u64 = 64 << 20;

/// What kind of release a model id is tracked from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseKind {
    /// A tensorseal container: version = manifest version, digest = manifest SHA-256.
    Container,
    /// A file with a detached signature: version from [`detached_version`],
    /// digest = file SHA-256.
    Detached,
}

impl ReleaseKind {
    /// `container` or `detached`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseKind::Container => "container",
            ReleaseKind::Detached => "detached",
        }
    }

    fn parse(s: &str) -> Option<ReleaseKind> {
        match s {
            "container" => Some(ReleaseKind::Container),
            "detached" => Some(ReleaseKind::Detached),
            _ => None,
        }
    }
}

/// One release to check against the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// The model id (one namespace for containers and detached files).
    pub model_id: String,
    /// The version, on the scale of `kind`.
    pub version: u64,
    /// The release's digest (manifest or file SHA-256).
    pub digest: [u8; 32],
    /// The kind of release.
    pub kind: ReleaseKind,
}

impl Release {
    /// The release of an opened container, or `None` when no trusted signer
    /// signed it (such a file is never recorded: anyone can make one).
    pub fn of_model(model: &Model) -> Option<Release> {
        Release::of_container(model.signers(), model.info(), model.footer())
    }

    /// The release of a container verified by [`crate::verify_file`], or
    /// `None` when no trusted signer signed it.
    pub fn of_report(report: &crate::VerifyReport) -> Option<Release> {
        Release::of_container(&report.signers, report.info(), &report.footer)
    }

    fn of_container(
        signers: &[crate::Signer],
        info: &crate::ModelInfo,
        footer: &tensorseal_format::Footer,
    ) -> Option<Release> {
        if !signers.iter().any(|s| s.trusted) {
            return None;
        }
        Some(Release {
            model_id: info.model_id.clone(),
            version: info.version,
            digest: footer.manifest_sha256,
            kind: ReleaseKind::Container,
        })
    }
}

/// What the store holds for one model id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// Highest version accepted.
    pub version: u64,
    /// The digest of that release.
    pub digest: [u8; 32],
    /// The kind of release the model id is tracked from.
    pub kind: ReleaseKind,
}

/// The result of a successful check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The release passed and is now the one recorded (`previous` was the
    /// one before, if any).
    Recorded {
        /// What was recorded before.
        previous: Option<Seen>,
    },
    /// No trusted signer: not checked, not recorded.
    Untracked,
}

/// The contents of a state file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RollbackState {
    entries: BTreeMap<String, Seen>,
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
    /// Parses state file bytes (`path` names the file in errors).
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<RollbackState> {
        let v: Value = serde_json::from_slice(bytes).map_err(|e| bad(path, e.to_string()))?;
        if v["format"] != STATE_FORMAT {
            return Err(bad(path, "not a tensorseal rollback state file"));
        }
        match v["version"].as_u64() {
            Some(STATE_VERSION) => {}
            Some(1) => {
                return Err(bad(
                    path,
                    "format version 1 (kept per model id and signer); this verifier keeps version 2 (per model id across signers) and does not convert: move the old file aside to start a new state",
                ))
            }
            _ => return Err(bad(path, format!("unsupported format version {}", v["version"]))),
        }
        let mut entries = BTreeMap::new();
        for e in v["entries"]
            .as_array()
            .ok_or_else(|| bad(path, "no entries list"))?
        {
            let model_id = e["model_id"]
                .as_str()
                .ok_or_else(|| bad(path, "entry without model_id"))?;
            let kind = e["kind"]
                .as_str()
                .and_then(ReleaseKind::parse)
                .ok_or_else(|| {
                    bad(
                        path,
                        format!("entry {model_id:?}: kind is not container or detached"),
                    )
                })?;
            let version = e["version"]
                .as_u64()
                .ok_or_else(|| bad(path, format!("entry {model_id:?}: no version")))?;
            let digest = e["digest"]
                .as_str()
                .and_then(Fingerprint::from_hex)
                .ok_or_else(|| {
                    bad(
                        path,
                        format!("entry {model_id:?}: digest is not 64 hex digits"),
                    )
                })?;
            let seen = Seen {
                version,
                digest: digest.0,
                kind,
            };
            if entries.insert(model_id.to_owned(), seen).is_some() {
                return Err(bad(path, format!("model id {model_id:?} appears twice")));
            }
        }
        Ok(RollbackState { entries })
    }

    /// What was accepted for this model id.
    pub fn get(&self, model_id: &str) -> Option<Seen> {
        self.entries.get(model_id).copied()
    }

    /// Number of model ids tracked.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no model id is tracked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Refuses a release of another kind than recorded, a lower version, or
    /// the same version with another digest; otherwise records it.
    pub fn check_and_record(&mut self, r: &Release) -> Result<Option<Seen>> {
        let previous = self.get(&r.model_id);
        if let Some(seen) = previous {
            if seen.kind != r.kind {
                return Err(Error::new(ErrorKind::RollbackSource {
                    model_id: r.model_id.clone(),
                    recorded: seen.kind.as_str(),
                    found: r.kind.as_str(),
                }));
            }
            if r.version < seen.version {
                return Err(Error::new(ErrorKind::Rollback {
                    model_id: r.model_id.clone(),
                    version: r.version,
                    seen: seen.version,
                }));
            }
            if r.version == seen.version && r.digest != seen.digest {
                return Err(Error::new(ErrorKind::Equivocation {
                    model_id: r.model_id.clone(),
                    version: r.version,
                    found: hex(&r.digest),
                    seen: hex(&seen.digest),
                }));
            }
        }
        self.entries.insert(
            r.model_id.clone(),
            Seen {
                version: r.version,
                digest: r.digest,
                kind: r.kind,
            },
        );
        Ok(previous)
    }

    fn to_json(&self) -> String {
        let entries: Vec<Value> = self
            .entries
            .iter()
            .map(|(m, seen)| {
                json!({
                    "model_id": m,
                    "kind": seen.kind.as_str(),
                    "version": seen.version,
                    "digest": hex(&seen.digest),
                })
            })
            .collect();
        let v = json!({"format": STATE_FORMAT, "version": STATE_VERSION, "entries": entries});
        format!("{v:#}\n")
    }
}

/// The rollback store: a state file and its lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackStore {
    path: PathBuf,
}

impl RollbackStore {
    /// The store kept in the state file at `path` (created on first record).
    pub fn new(path: impl Into<PathBuf>) -> RollbackStore {
        RollbackStore { path: path.into() }
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the state; a missing file is an empty state. The file must be a
    /// regular file of at most [`MAX_STATE_BYTES`].
    pub fn load(&self) -> Result<RollbackState> {
        match read_regular(&self.path, MAX_STATE_BYTES, "rollback state") {
            Ok(b) => RollbackState::parse(&self.path, &b),
            Err(e) if is_not_found(&e) => Ok(RollbackState::default()),
            Err(e) => Err(e),
        }
    }

    /// Checks an opened container against the store and records it. A
    /// container without a trusted signer is [`Outcome::Untracked`]. Every
    /// slice digest is checked first (a no-op after an eager open), so only
    /// a fully verified file is recorded.
    pub fn check_and_record(&self, model: &Model) -> Result<Outcome> {
        let Some(release) = Release::of_model(model) else {
            return Ok(Outcome::Untracked);
        };
        model.verify()?;
        self.check_and_record_release(&release)
    }

    /// Checks a container that [`crate::verify_file`] verified completely
    /// against the store and records it; [`Outcome::Untracked`] without a
    /// trusted signer.
    pub fn check_and_record_report(&self, report: &crate::VerifyReport) -> Result<Outcome> {
        match Release::of_report(report) {
            Some(release) => self.check_and_record_release(&release),
            None => Ok(Outcome::Untracked),
        }
    }

    /// Under the lock: loads the state, checks `release`, records it and
    /// replaces the file atomically. Nothing is written when the check fails.
    pub fn check_and_record_release(&self, release: &Release) -> Result<Outcome> {
        let lock = self.lock()?;
        let mut state = self.load()?;
        let previous = state.check_and_record(release)?;
        if previous.map(|p| (p.version, p.digest)) != Some((release.version, release.digest)) {
            save(&self.path, &state)?;
        }
        // Closing the file releases the lock.
        drop(lock);
        Ok(Outcome::Recorded { previous })
    }

    fn lock(&self) -> Result<std::fs::File> {
        let mut lock_path = self.path.as_os_str().to_owned();
        lock_path.push(".lock");
        let lock_path = PathBuf::from(lock_path);
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).truncate(false).write(true);
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::fs::OpenOptionsExt;
            // A FIFO planted as the lock file must not block the verifier.
            opts.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
        }
        let lock = opts
            .open(&lock_path)
            .map_err(|e| Error::io(&lock_path, "open lock file", e))?;
        let meta = lock
            .metadata()
            .map_err(|e| Error::io(&lock_path, "fstat lock file", e))?;
        if !meta.is_file() {
            return Err(bad(&lock_path, "the lock file is not a regular file"));
        }
        FileExt::lock_exclusive(&lock).map_err(|e| Error::io(&lock_path, "lock", e))?;
        Ok(lock)
    }
}

fn save(path: &Path, state: &RollbackState) -> Result<()> {
    tensorseal_fs::write_atomic(
        path,
        state.to_json().as_bytes(),
        tensorseal_fs::Mode::Replace,
    )
    .map_err(|e| {
        let op = e.op();
        let at = e.path().to_path_buf();
        Error::io(&at, op, e.into_source())
    })
}

/// Bits per component of a dotted detached version: `A.B.C` is
/// `A << 40 | B << 20 | C` with `A < 2^24` and `B, C < 2^20`.
const COMPONENT_BITS: u32 = 20;

/// The version of a detached release on the store's scale, from its signed
/// `model_version`: `N`, `A.B` or `A.B.C` (decimal digits only; an optional
/// leading `v`), missing components being 0, so `4` = `4.0` = `4.0.0` and
/// `1.10.0` > `1.9.7`. `None` for anything else (free text, pre-release
/// tags, components out of range): such a version cannot be ordered.
pub fn detached_version(text: &str) -> Option<u64> {
    let t = text.strip_prefix('v').unwrap_or(text);
    let parts: Vec<&str> = t.split('.').collect();
    if parts.is_empty() || parts.len() > 3 {
        return None;
    }
    let mut v = 0u64;
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || p.len() > 8 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: u64 = p.parse().ok()?;
        let bits = if i == 0 { 24 } else { COMPONENT_BITS };
        if n >> bits != 0 {
            return None;
        }
        v |= n << (COMPONENT_BITS * (2 - i as u32));
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::detached_version;

    #[test]
    fn detached_versions_order_numerically() {
        let v = |s| detached_version(s).unwrap();
        assert_eq!(v("4"), v("4.0.0"));
        assert_eq!(v("v0.2"), v("0.2.0"));
        assert!(v("1.10.0") > v("1.9.7"));
        assert!(v("2") > v("1.1048575.1048575"));
        assert!(v("0.0.1") > v("0"));
        for bad in [
            "",
            "v",
            "1.",
            ".1",
            "1.2.3.4",
            "1.2.3-rc1",
            "+1",
            "-1",
            "one",
            "1 ",
            "1.1048576",
            "16777216",
            "v1.x",
        ] {
            assert_eq!(detached_version(bad), None, "{bad:?}");
        }
    }
}
