//! `tensorseal sign FILE --key KEY`: add a signature to a container, or a
//! detached signature (`FILE.sig.json`) to any other file.

use std::path::PathBuf;

use tensorseal::sign_file;

use super::detached::{self, StatementArgs};
use super::read_signing_key;
use crate::ops::log_event;
use crate::{CmdResult, Failure};
use tensorseal_ops::{EventKind, NewEvent};

/// Arguments of `sign`.
#[derive(clap::Args)]
pub struct Args {
    /// The container (verified first; only its tail is rewritten, atomically),
    /// or any other model file (signed in FILE.sig.json, which keeps earlier signers).
    pub file: PathBuf,
    /// The signer secret key file.
    #[arg(long, value_name = "KEY")]
    pub key: PathBuf,
    /// Statement fields of a detached signature (not for containers, whose
    /// metadata is set at `convert`).
    #[command(flatten)]
    pub statement: StatementArgs,
}

/// Runs `sign`.
pub fn run(a: Args) -> CmdResult {
    super::refuse_side_outputs(&a.file, None)?;
    if !detached::is_container(&a.file) {
        return detached::sign(&a.file, &a.key, &a.statement);
    }
    if a.statement.any() {
        return Err(Failure::new(format!(
            "{}: a container's model name, version, training date and dependencies are set by `convert`; --model-id/--model-version/--training-date/--dep apply to detached signatures only",
            a.file.display()
        )));
    }
    let key = read_signing_key(&a.key)?;
    let st = match sign_file(&a.file, &key) {
        Ok(st) => st,
        Err(e) => {
            log_event(
                NewEvent::new(EventKind::Sign, "failed")
                    .file(&a.file)
                    .reason(e.to_string()),
            )?;
            return Err(e.into());
        }
    };
    log_event(
        NewEvent::new(EventKind::Sign, "ok")
            .file(&a.file)
            .reason(format!(
                "container {:?} version {} signed by {}",
                st.model_id,
                st.version,
                key.fingerprint()
            )),
    )?;
    say!(
        "{}: signed {:?} version {} as {}",
        a.file.display(),
        st.model_id,
        st.version,
        key.fingerprint()
    );
    Ok(())
}
