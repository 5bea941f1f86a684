//! The security event log: JSON lines, hash-chained, with signed checkpoints.
//!
//! Each line is one [`Event`] serialized as compact JSON (field order as in
//! the struct), terminated by `\n`. `seq` counts from 1. `hash` is the
//! SHA-256 (hex) of the line's compact JSON with `hash` set to the empty
//! string and `signature` left out; `prev` is the previous line's `hash`
//! (64 zeros on the first line), so each line commits to every line before
//! it. [`verify_log`] recomputes every `hash` and the chain and names the
//! first bad line: an edited line fails its own `hash` (or, if the editor
//! recomputed it, the next line's `prev`); a removed, inserted or reordered
//! line breaks `seq` and `prev`.
//!
//! **Checkpoints.** A log opened with a key ([`AuditLog::with_key`], the
//! CLI's `--log-key` / the policy's `audit_log_key`) ends every command
//! that logged with a `checkpoint` line: `signer` is the key's fingerprint
//! and `signature` the composite ML-DSA-65 + Ed25519 signature (context
//! [`CHECKPOINT_CONTEXT`]) over the line's `hash`, which commits to its
//! `seq` and to every line before it. [`verify_log_with`] given trusted
//! keys refuses a checkpoint that is not validly signed by one of them, a
//! log with no checkpoint, and any line after the last checkpoint.
//! Given the `(events, head)` recorded at an earlier verification
//! ([`LogHead`], `tensorseal log verify --head-file`) it refuses a log that
//! is now shorter, or whose line at the recorded position differs.
//!
//! **What this protects against**: without the key, nobody can edit,
//! remove, insert or reorder a line covered by a checkpoint, nor add lines
//! that pass for authenticated, without the verifier noticing.
//! **What it does not protect against**: whoever holds the checkpoint key
//! can rewrite everything (keep it out of reach of what is audited);
//! removing the tail back to an earlier checkpoint (or the whole file) is
//! only detected by a verifier that recorded a later head; lines written by
//! a run that died before its checkpoint are unauthenticated (reported,
//! refused by a verifier with trusted keys); the log is not encrypted and
//! its time stamps are the writer's claim.
//!
//! [`append`] takes an exclusive lock on the log file (`flock` through
//! `fs4`), reads the last line, and writes the new line with one `write` on
//! a file opened for append, then fsyncs, so concurrent writers, threads or
//! processes, serialize and never interleave. Every failure to append is an
//! [`OpsError::Log`]; callers fail the operation on it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use fs4::fs_std::FileExt;
use serde::{Deserialize, Serialize};
use tensorseal::TrustStore;
use tensorseal_crypto::{Fingerprint, Signature, SigningKey};

use crate::error::OpsError;
use crate::util::{now_rfc3339, sha256_hex, tool_version, Operator};

/// `prev` of the first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Signature context of checkpoint lines.
pub const CHECKPOINT_CONTEXT: &[u8] = b"tensorseal/v1/audit-log-checkpoint";

/// The kind of security event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A file was signed.
    Sign,
    /// A file was verified (outcome `ok` or `refused`).
    Verify,
    /// A file was inspected (outcome = verdict).
    Inspect,
    /// A file was converted.
    Convert,
    /// A recipient was granted access.
    Grant,
    /// A file was quarantined (or the attempt failed).
    Quarantine,
    /// A key was generated.
    Keygen,
    /// A directory was audited.
    Audit,
    /// A model was loaded through `load_verified`.
    Load,
    /// A signed checkpoint over the chain so far.
    Checkpoint,
}

/// What a caller supplies for one event; time, actor, seq and prev are filled in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewEvent {
    /// The kind (required).
    pub kind: Option<EventKind>,
    /// The file concerned.
    pub file: Option<String>,
    /// Its SHA-256 (hex).
    pub sha256: Option<String>,
    /// `ok`, `refused`, `failed`, an inspection verdict...
    pub outcome: String,
    /// Why (for refusals and failures).
    pub reason: Option<String>,
}

impl NewEvent {
    /// An event of `kind` with `outcome`.
    pub fn new(kind: EventKind, outcome: impl Into<String>) -> NewEvent {
        NewEvent {
            kind: Some(kind),
            outcome: outcome.into(),
            ..NewEvent::default()
        }
    }

    /// Sets the file.
    pub fn file(mut self, path: &Path) -> NewEvent {
        self.file = Some(path.display().to_string());
        self
    }

    /// Sets the digest.
    pub fn sha256(mut self, hex: impl Into<String>) -> NewEvent {
        self.sha256 = Some(hex.into());
        self
    }

    /// Sets the reason.
    pub fn reason(mut self, reason: impl Into<String>) -> NewEvent {
        self.reason = Some(reason.into());
        self
    }
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Position in the log, from 1.
    pub seq: u64,
    /// RFC 3339 UTC.
    pub time: String,
    /// `user@host`.
    pub actor: String,
    /// The event kind.
    pub event: EventKind,
    /// The file concerned.
    pub file: Option<String>,
    /// Its SHA-256.
    pub sha256: Option<String>,
    /// The outcome.
    pub outcome: String,
    /// Why.
    pub reason: Option<String>,
    /// The tool that wrote the line.
    pub tool: String,
    /// The previous line's `hash`, [`GENESIS`] for the first.
    pub prev: String,
    /// SHA-256 (hex) of this line's compact JSON with `hash` empty and
    /// `signature` left out.
    pub hash: String,
    /// Checkpoints: the signer's fingerprint (hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    /// Checkpoints: base64 composite signature over `hash`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl Event {
    /// The `hash` this event should carry.
    pub fn compute_hash(&self) -> String {
        let mut e = self.clone();
        e.hash = String::new();
        e.signature = None;
        sha256_hex(&serde_json::to_vec(&e).unwrap_or_default())
    }
}

fn lerr(path: &Path, reason: impl Into<String>) -> OpsError {
    OpsError::Log {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// An audit log: its path and, when given, the key that signs checkpoints.
#[derive(Clone)]
pub struct AuditLog {
    path: PathBuf,
    key: Option<Arc<SigningKey>>,
    /// Lines appended since the last checkpoint (shared by clones).
    dirty: Arc<AtomicBool>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("path", &self.path)
            .field(
                "checkpoint_key",
                &self.key.as_ref().map(|k| k.fingerprint()),
            )
            .finish()
    }
}

impl PartialEq for AuditLog {
    fn eq(&self, o: &AuditLog) -> bool {
        self.path == o.path
            && self.key.as_ref().map(|k| k.fingerprint()) == o.key.as_ref().map(|k| k.fingerprint())
    }
}

impl Eq for AuditLog {}

impl AuditLog {
    /// The log at `path` (created on first append), without checkpoints.
    pub fn new(path: impl Into<PathBuf>) -> AuditLog {
        AuditLog {
            path: path.into(),
            key: None,
            dirty: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Signs a checkpoint with `key` at every [`AuditLog::checkpoint`].
    pub fn with_key(mut self, key: SigningKey) -> AuditLog {
        self.key = Some(Arc::new(key));
        self
    }

    /// The log named by `$TENSORSEAL_AUDIT_LOG`, if set.
    pub fn from_env() -> Option<AuditLog> {
        std::env::var_os(crate::policy::AUDIT_LOG_ENV)
            .filter(|v| !v.is_empty())
            .map(AuditLog::new)
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one event (see the module docs).
    pub fn append(&self, ev: NewEvent) -> Result<Event, OpsError> {
        let e = append(&self.path, ev)?;
        self.dirty.store(true, Ordering::SeqCst);
        Ok(e)
    }

    /// Appends a signed checkpoint when this log has a key and lines were
    /// appended through it since the last one; `Ok(None)` otherwise.
    pub fn checkpoint(&self) -> Result<Option<Event>, OpsError> {
        let Some(key) = &self.key else {
            return Ok(None);
        };
        if !self.dirty.swap(false, Ordering::SeqCst) {
            return Ok(None);
        }
        let ev = NewEvent::new(EventKind::Checkpoint, "signed")
            .reason("covers this line and every line before it");
        append_inner(&self.path, ev, Some(key))
            .inspect_err(|_| self.dirty.store(true, Ordering::SeqCst))
            .map(Some)
    }
}

/// Reads the last line (without `\n`) of `f`, or `None` for an empty file.
fn last_line(path: &Path, f: &mut File) -> Result<Option<Vec<u8>>, OpsError> {
    let len = f
        .seek(SeekFrom::End(0))
        .map_err(|e| OpsError::io(path, "seek", e))?;
    if len == 0 {
        return Ok(None);
    }
    let mut tail: Vec<u8> = Vec::new();
    let mut pos = len;
    const CHUNK: u64 = 8192;
    loop {
        let start = pos.saturating_sub(CHUNK);
        let mut buf = vec![0u8; (pos - start) as usize];
        f.seek(SeekFrom::Start(start))
            .and_then(|_| f.read_exact(&mut buf))
            .map_err(|e| OpsError::io(path, "read", e))?;
        buf.extend_from_slice(&tail);
        tail = buf;
        pos = start;
        if tail.last() != Some(&b'\n') {
            return Err(lerr(
                path,
                "the last line is incomplete (no trailing newline); run `tensorseal log verify` and repair the log before appending",
            ));
        }
        let body = &tail[..tail.len() - 1];
        if let Some(i) = body.iter().rposition(|&b| b == b'\n') {
            return Ok(Some(body[i + 1..].to_vec()));
        }
        if pos == 0 {
            return Ok(Some(body.to_vec()));
        }
        if tail.len() > 16 << 20 {
            return Err(lerr(path, "last line longer than 16 MiB"));
        }
    }
}

/// Appends one event to the log at `path` under an exclusive file lock.
/// Every failure is an [`OpsError::Log`].
pub fn append(path: &Path, ev: NewEvent) -> Result<Event, OpsError> {
    if ev.kind == Some(EventKind::Checkpoint) {
        return Err(lerr(
            path,
            "checkpoints are written by AuditLog::checkpoint",
        ));
    }
    append_inner(path, ev, None)
}

fn append_inner(path: &Path, ev: NewEvent, key: Option<&SigningKey>) -> Result<Event, OpsError> {
    append_locked(path, ev, key).map_err(|e| match e {
        OpsError::Log { .. } => e,
        other => lerr(path, other.to_string()),
    })
}

fn append_locked(path: &Path, ev: NewEvent, key: Option<&SigningKey>) -> Result<Event, OpsError> {
    let kind = ev.kind.ok_or_else(|| lerr(path, "event without a kind"))?;
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| OpsError::io(dir, "create log directory", e))?;
    }
    let mut f = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| OpsError::io(path, "open audit log", e))?;
    FileExt::lock_exclusive(&f).map_err(|e| OpsError::io(path, "lock audit log", e))?;
    let (seq, prev) = match last_line(path, &mut f)? {
        None => (1, GENESIS.to_owned()),
        Some(line) => {
            let last: Event = serde_json::from_slice(&line)
                .map_err(|e| lerr(path, format!("the last line is not an event: {e}")))?;
            (last.seq + 1, last.hash)
        }
    };
    let event = Event {
        seq,
        time: now_rfc3339(),
        actor: Operator::current().actor(),
        event: kind,
        file: ev.file,
        sha256: ev.sha256,
        outcome: ev.outcome,
        reason: ev.reason,
        tool: tool_version(),
        prev,
        hash: String::new(),
        signer: key.map(|k| k.fingerprint().to_string()),
        signature: None,
    };
    let mut event = event;
    event.hash = event.compute_hash();
    if let Some(k) = key {
        let sig = k
            .sign(event.hash.as_bytes(), CHECKPOINT_CONTEXT)
            .map_err(|e| lerr(path, format!("sign checkpoint: {e}")))?;
        event.signature = Some(B64.encode(sig.as_bytes()));
    }
    let mut line = serde_json::to_vec(&event).map_err(|e| lerr(path, e.to_string()))?;
    line.push(b'\n');
    f.write_all(&line)
        .and_then(|()| f.sync_data())
        .map_err(|e| OpsError::io(path, "append to audit log", e))?;
    drop(f); // releases the lock
    Ok(event)
}

/// Where the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ChainBreak {
    /// 1-based line number.
    pub line: u64,
    /// What is wrong.
    pub reason: String,
}

/// A log whose chain verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogSummary {
    /// Number of events.
    pub events: u64,
    /// The last line's `hash` ([`GENESIS`] for an empty log): keep it
    /// elsewhere to detect truncation later.
    pub head: String,
    /// Checkpoint lines.
    pub checkpoints: u64,
    /// Lines covered by the last checkpoint (its `seq`; 0 without one).
    /// With trusted keys, every checkpoint's signature was verified.
    pub authenticated: u64,
}

/// The `(events, head)` a verifier recorded (`--head-file`, JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogHead {
    /// How many events the log had.
    pub events: u64,
    /// The `hash` of line `events`.
    pub head: String,
}

/// What [`verify_log_with`] checks besides the chain.
#[derive(Debug, Clone, Default)]
pub struct LogCheck<'a> {
    /// Checkpoints must be signed by one of these keys, the log must have
    /// one, and no line may follow the last one.
    pub trust: Option<&'a TrustStore>,
    /// The log must still hold this line at this position.
    pub recorded: Option<LogHead>,
}

/// Verifies the chain of the log at `path`. `Err` is an I/O error;
/// `Ok(Err(break))` names the first bad line.
pub fn verify_log(path: &Path) -> Result<Result<LogSummary, ChainBreak>, OpsError> {
    verify_log_with(path, &LogCheck::default())
}

/// [`verify_log`] with checkpoint signatures and a recorded head.
pub fn verify_log_with(
    path: &Path,
    check: &LogCheck<'_>,
) -> Result<Result<LogSummary, ChainBreak>, OpsError> {
    let bytes = tensorseal_fs::open_regular(path)
        .and_then(|mut f| {
            let mut b = Vec::new();
            std::io::Read::read_to_end(&mut f, &mut b).map(|_| b)
        })
        .map_err(|e| OpsError::io(path, "read audit log", e))?;
    Ok(verify_log_bytes_with(&bytes, check))
}

/// [`verify_log`] over bytes.
pub fn verify_log_bytes(bytes: &[u8]) -> Result<LogSummary, ChainBreak> {
    verify_log_bytes_with(bytes, &LogCheck::default())
}

fn brk(line: u64, reason: impl Into<String>) -> ChainBreak {
    ChainBreak {
        line,
        reason: reason.into(),
    }
}

fn check_checkpoint(ev: &Event, trust: &TrustStore, n: u64) -> Result<(), ChainBreak> {
    let signer = ev
        .signer
        .as_deref()
        .and_then(Fingerprint::from_hex)
        .ok_or_else(|| brk(n, "checkpoint without a valid signer fingerprint"))?;
    let key = trust.get(&signer).ok_or_else(|| {
        brk(
            n,
            format!("checkpoint signed by {signer}, which is not a trusted key"),
        )
    })?;
    let sig = ev
        .signature
        .as_deref()
        .and_then(|s| B64.decode(s).ok())
        .and_then(|b| Signature::from_bytes(&b).ok())
        .ok_or_else(|| brk(n, "checkpoint without a well-formed signature"))?;
    key.verify(ev.hash.as_bytes(), CHECKPOINT_CONTEXT, &sig)
        .map_err(|_| {
            brk(
                n,
                "checkpoint signature does not verify (the log was rewritten)",
            )
        })
}

/// [`verify_log_with`] over bytes.
pub fn verify_log_bytes_with(bytes: &[u8], check: &LogCheck<'_>) -> Result<LogSummary, ChainBreak> {
    let mut prev = GENESIS.to_owned();
    let mut n = 0u64;
    let mut checkpoints = 0u64;
    let mut authenticated = 0u64;
    if !bytes.is_empty() && bytes.last() != Some(&b'\n') {
        let line = bytes.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        return Err(brk(line, "incomplete last line (no trailing newline)"));
    }
    let body = if bytes.is_empty() {
        &bytes[..0]
    } else {
        &bytes[..bytes.len() - 1]
    };
    for line in body.split(|&b| b == b'\n').filter(|_| !bytes.is_empty()) {
        n += 1;
        let ev: Event =
            serde_json::from_slice(line).map_err(|e| brk(n, format!("not a valid event: {e}")))?;
        if ev.seq != n {
            return Err(brk(
                n,
                format!(
                    "seq is {}, expected {n} (a line was removed, inserted or moved)",
                    ev.seq
                ),
            ));
        }
        if ev.hash != ev.compute_hash() {
            return Err(brk(
                n,
                "hash does not match the line's content (the line was edited)",
            ));
        }
        if ev.prev != prev {
            return Err(brk(
                n,
                format!(
                    "prev is {}, but the previous line's hash is {prev} (a line before this one was edited, removed or moved)",
                    ev.prev
                ),
            ));
        }
        if ev.event == EventKind::Checkpoint {
            if let Some(t) = check.trust {
                check_checkpoint(&ev, t, n)?;
            }
            checkpoints += 1;
            authenticated = n;
        }
        if let Some(r) = &check.recorded {
            if r.events == n && r.head != ev.hash {
                return Err(brk(
                    n,
                    format!(
                        "line {n} differs from the one recorded in the head file (hash {}, recorded {}): history was rewritten",
                        ev.hash, r.head
                    ),
                ));
            }
        }
        prev = ev.hash;
    }
    if let Some(r) = &check.recorded {
        if r.events > n {
            return Err(brk(
                n + 1,
                format!(
                    "the log has {n} event(s), fewer than the {} recorded in the head file: it was truncated",
                    r.events
                ),
            ));
        }
    }
    if check.trust.is_some() {
        if checkpoints == 0 {
            return Err(brk(
                n.min(1),
                "no signed checkpoint: nothing in this log is authenticated",
            ));
        }
        if authenticated < n {
            return Err(brk(
                authenticated + 1,
                format!(
                    "{} line(s) after the last signed checkpoint (line {authenticated}) are not authenticated",
                    n - authenticated
                ),
            ));
        }
    }
    Ok(LogSummary {
        events: n,
        head: prev,
        checkpoints,
        authenticated,
    })
}
