//! The security event log: JSON lines, hash-chained.
//!
//! Each line is one [`Event`] serialized as compact JSON (field order as in
//! the struct), terminated by `\n`. `seq` counts from 1. `hash` is the
//! SHA-256 (hex) of the line's compact JSON with `hash` set to the empty
//! string; `prev` is the previous line's `hash` (64 zeros on the first line),
//! so each line commits to every line before it. [`verify_log`] recomputes
//! every `hash` and the chain and names the first bad line: an edited line
//! fails its own `hash` (or, if the editor recomputed it, the next line's
//! `prev`); a removed, inserted or reordered line breaks `seq` and `prev`.
//! Whoever can rewrite the whole file can recompute the whole chain, and
//! removing lines at the very end leaves a valid shorter chain: keep the
//! `head` that [`verify_log`] returns somewhere else (a CI artifact, a
//! ticket) to detect that.
//!
//! [`append`] takes an exclusive lock on the log file (`flock` through
//! `fs4`), reads the last line, and writes the new line with one `write` on
//! a file opened for append, then fsyncs, so concurrent writers, threads or
//! processes, serialize and never interleave.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use fs4::fs_std::FileExt;
use serde::{Deserialize, Serialize};

use crate::error::OpsError;
use crate::util::{now_rfc3339, sha256_hex, tool_version, Operator};

/// `prev` of the first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

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
    /// SHA-256 (hex) of this line's compact JSON with `hash` empty.
    pub hash: String,
}

impl Event {
    /// The `hash` this event should carry.
    pub fn compute_hash(&self) -> String {
        let mut e = self.clone();
        e.hash = String::new();
        sha256_hex(&serde_json::to_vec(&e).unwrap_or_default())
    }
}

fn lerr(path: &Path, reason: impl Into<String>) -> OpsError {
    OpsError::Log {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// An open audit log path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditLog {
    path: PathBuf,
}

impl AuditLog {
    /// The log at `path` (created on first append).
    pub fn new(path: impl Into<PathBuf>) -> AuditLog {
        AuditLog { path: path.into() }
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
        append(&self.path, ev)
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
pub fn append(path: &Path, ev: NewEvent) -> Result<Event, OpsError> {
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
    };
    let mut event = event;
    event.hash = event.compute_hash();
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
}

/// Verifies the chain of the log at `path`. `Err` is an I/O error;
/// `Ok(Err(break))` names the first bad line.
pub fn verify_log(path: &Path) -> Result<Result<LogSummary, ChainBreak>, OpsError> {
    let bytes = std::fs::read(path).map_err(|e| OpsError::io(path, "read audit log", e))?;
    Ok(verify_log_bytes(&bytes))
}

/// [`verify_log`] over bytes.
pub fn verify_log_bytes(bytes: &[u8]) -> Result<LogSummary, ChainBreak> {
    let mut prev = GENESIS.to_owned();
    let mut n = 0u64;
    if bytes.is_empty() {
        return Ok(LogSummary {
            events: 0,
            head: prev,
        });
    }
    if bytes.last() != Some(&b'\n') {
        let line = bytes.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        return Err(ChainBreak {
            line,
            reason: "incomplete last line (no trailing newline)".into(),
        });
    }
    for line in bytes[..bytes.len() - 1].split(|&b| b == b'\n') {
        n += 1;
        let ev: Event = serde_json::from_slice(line).map_err(|e| ChainBreak {
            line: n,
            reason: format!("not a valid event: {e}"),
        })?;
        if ev.seq != n {
            return Err(ChainBreak {
                line: n,
                reason: format!(
                    "seq is {}, expected {n} (a line was removed, inserted or moved)",
                    ev.seq
                ),
            });
        }
        if ev.hash != ev.compute_hash() {
            return Err(ChainBreak {
                line: n,
                reason: "hash does not match the line's content (the line was edited)".into(),
            });
        }
        if ev.prev != prev {
            return Err(ChainBreak {
                line: n,
                reason: format!(
                    "prev is {}, but the previous line's hash is {prev} (a line before this one was edited, removed or moved)",
                    ev.prev
                ),
            });
        }
        prev = ev.hash;
    }
    Ok(LogSummary {
        events: n,
        head: prev,
    })
}
