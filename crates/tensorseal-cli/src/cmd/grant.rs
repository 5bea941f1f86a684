//! `tensorseal grant FILE --identity KEY --to PUB --tensors GLOB`.

use std::path::PathBuf;

use tensorseal::grant_file;

use super::{read_identity, read_recipient};
use crate::{CmdResult, Failure};

/// Arguments of `grant`.
#[derive(clap::Args)]
pub struct Args {
    /// The encrypted container (only its tail is rewritten, atomically;
    /// signatures stay valid).
    file: PathBuf,
    /// A recipient secret key that opens the file (holds the file key; repeatable).
    #[arg(long = "identity", value_name = "KEY", required = true)]
    identity: Vec<PathBuf>,
    /// The recipient public key to grant to.
    #[arg(long, value_name = "PUB")]
    to: PathBuf,
    /// Tensor names to grant (a glob: `*` any run of characters, `?` one).
    /// Whole slices are granted; a slice mixing matching and other tensors is refused.
    #[arg(long, value_name = "GLOB")]
    tensors: String,
}

/// Runs `grant`.
pub fn run(a: Args) -> CmdResult {
    super::refuse_side_outputs(&a.file, None)?;
    let ids = a
        .identity
        .iter()
        .map(|p| read_identity(p))
        .collect::<Result<Vec<_>, Failure>>()?;
    let to = read_recipient(&a.to)?;
    let g = grant_file(&a.file, &ids, &to, &a.tensors)?;
    crate::ops::log_event(
        tensorseal_ops::NewEvent::new(tensorseal_ops::EventKind::Grant, "ok")
            .file(&a.file)
            .reason(format!(
                "{} slice(s) ({}) granted to {}",
                g.slices.len(),
                g.tensors.join(", "),
                to.fingerprint()
            )),
    )?;
    say!(
        "{}: granted {} slice(s) ({} tensor(s): {}) to {}",
        a.file.display(),
        g.slices.len(),
        g.tensors.len(),
        g.tensors.join(", "),
        to.fingerprint()
    );
    Ok(())
}
