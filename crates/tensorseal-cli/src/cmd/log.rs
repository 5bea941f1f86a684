//! `tensorseal log verify FILE`: check the hash chain of an audit log.

use std::path::PathBuf;

use serde_json::json;
use tensorseal_ops::verify_log;

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
    Verify {
        /// The audit log (JSON lines).
        file: PathBuf,
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `log`.
pub fn run(a: Args) -> CmdResult {
    match a.command {
        LogCommand::Verify { file, json } => {
            let res = verify_log(&file).map_err(Failure::new)?;
            match res {
                Ok(s) => {
                    if json {
                        json_line(
                            &json!({"file": file.display().to_string(), "ok": true, "events": s.events, "head": s.head}),
                        );
                    } else {
                        println!(
                            "{}: OK: {} event(s), chain intact, head {}",
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
                        Err(Failure::new(format!(
                            "{}: chain broken at {b}",
                            file.display()
                        )))
                    }
                }
            }
        }
    }
}
