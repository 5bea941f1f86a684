//! `tensorseal log verify FILE`: check the hash chain of an audit log, its
//! signed checkpoints (`--trust`) and that it still holds what was seen last
//! time (`--head-file`).

use std::path::{Path, PathBuf};

use serde_json::json;
use tensorseal::TrustStore;
use tensorseal_ops::{verify_log_with, LogCheck, LogHead};

use crate::report::json_line;
use crate::{CmdResult, Failure};

/// Arguments of `log`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: LogCommand,
}

/// Subcommands of `log`.
#[derive(clap::Subcommand)]
pub enum LogCommand {
    /// Check every line's hash and the chain; names the first bad line.
    /// Exit 0 intact, 1 broken/unauthenticated/truncated, 2 could not read.
    Verify {
        /// The audit log (JSON lines).
        file: PathBuf,
        /// Signer public key (.pub) or directory of them whose signed
        /// checkpoints authenticate the log (repeatable). With it, the log must
        /// end with a checkpoint by one of these keys and every checkpoint must
        /// verify: rewriting history then needs the key.
        #[arg(long = "trust", value_name = "PATH")]
        trust: Vec<PathBuf>,
        /// State file holding the event count and head hash seen last time:
        /// a log now shorter, or whose line at that position differs, is
        /// refused; updated (atomically) after a successful check.
        #[arg(long, value_name = "STATE")]
        head_file: Option<PathBuf>,
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn read_head(path: &Path) -> Result<Option<LogHead>, Failure> {
    let read = tensorseal_fs::open_regular(path).and_then(|mut f| {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut b).map(|_| b)
    });
    match read {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| Failure::operational(format!("{}: head file: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::operational(format!("{}: {e}", path.display()))),
    }
}

/// Runs `log`.
pub fn run(a: Args) -> CmdResult {
    let LogCommand::Verify {
        file,
        trust,
        head_file,
        json,
    } = a.command;
    let store = if trust.is_empty() {
        None
    } else {
        let mut s = TrustStore::new();
        for t in &trust {
            s.add_path(t)
                .map_err(|e| Failure::operational(format!("{}: {e}", t.display())))?;
        }
        Some(s)
    };
    let recorded = match &head_file {
        Some(h) => read_head(h)?,
        None => None,
    };
    let check = LogCheck {
        trust: store.as_ref(),
        recorded,
    };
    let res = verify_log_with(&file, &check).map_err(Failure::operational)?;
    match res {
        Ok(s) => {
            if let Some(h) = &head_file {
                let head = LogHead {
                    events: s.events,
                    head: s.head.clone(),
                };
                let bytes = serde_json::to_vec(&head).map_err(Failure::operational)?;
                tensorseal_ops::write_atomic(h, &bytes, true).map_err(Failure::operational)?;
            }
            if json {
                json_line(&json!({
                    "file": file.display().to_string(),
                    "ok": true,
                    "events": s.events,
                    "head": s.head,
                    "checkpoints": s.checkpoints,
                    "authenticated": s.authenticated,
                    "signatures_checked": store.is_some(),
                }));
            } else {
                let auth = if store.is_some() {
                    format!(
                        "{} signed checkpoint(s) verified, every line authenticated",
                        s.checkpoints
                    )
                } else {
                    format!(
                        "{} checkpoint(s), signatures NOT checked (no --trust)",
                        s.checkpoints
                    )
                };
                say!(
                    "{}: OK: {} event(s), chain intact, {auth}, head {}",
                    file.display(),
                    s.events,
                    s.head
                );
            }
            Ok(())
        }
        Err(b) => {
            if json {
                json_line(
                    &json!({"file": file.display().to_string(), "ok": false, "line": b.line, "reason": b.reason}),
                );
                Err(Failure::silent(1))
            } else {
                Err(Failure::new(format!("{}: refused at {b}", file.display())))
            }
        }
    }
}
