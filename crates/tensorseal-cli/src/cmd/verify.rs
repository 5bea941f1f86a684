//! `tensorseal verify FILE`.

use std::path::PathBuf;

use serde_json::json;
use tensorseal::{Model, OpenOptions, Verification};

use super::PolicyArgs;
use crate::report::json_line;
use crate::{CmdResult, Failure};

/// Arguments of `verify`.
#[derive(clap::Args)]
pub struct Args {
    /// The container.
    file: PathBuf,
    /// One JSON document instead of text.
    #[arg(long)]
    json: bool,
    /// Read the file into memory instead of mapping it.
    #[arg(long)]
    copy: bool,
    #[command(flatten)]
    policy: PolicyArgs,
}

/// Runs `verify`: structure, manifest digest, padding and every slice digest.
pub fn run(a: Args) -> CmdResult {
    let opts = OpenOptions::new()
        .verification(Verification::Eager)
        .copy(a.copy);
    match Model::open_with(&a.file, &a.policy.policy(), opts) {
        Ok(model) => {
            let bytes: u64 = model.manifest().slices.iter().map(|s| s.length).sum();
            if a.json {
                json_line(&json!({
                    "file": a.file.display().to_string(),
                    "ok": true,
                    "signed": false,
                    "model_id": model.info().model_id,
                    "version": model.info().version,
                    "tensors": model.len(),
                    "slices": model.manifest().slices.len(),
                    "bytes_verified": bytes,
                }));
            } else {
                println!(
                    "{}: OK (unsigned): structure, manifest digest and {} slice digests verified, {} tensors, {} bytes",
                    a.file.display(),
                    model.manifest().slices.len(),
                    model.len(),
                    bytes
                );
            }
            Ok(())
        }
        Err(e) if a.json => {
            json_line(&json!({
                "file": a.file.display().to_string(),
                "ok": false,
                "error": e.to_string(),
            }));
            Err(Failure::silent(1))
        }
        Err(e) => Err(e.into()),
    }
}
