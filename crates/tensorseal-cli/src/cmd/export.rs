//! `tensorseal export FILE -o OUT.safetensors`.

use std::path::PathBuf;

use tensorseal::{export_safetensors, Model};

use super::PolicyArgs;
use crate::CmdResult;

/// Arguments of `export`.
#[derive(clap::Args)]
pub struct Args {
    /// The container.
    file: PathBuf,
    /// The .safetensors file to write.
    #[arg(short, long)]
    output: PathBuf,
    /// Replace OUT if it exists.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    policy: PolicyArgs,
}

/// Runs `export`.
pub fn run(a: Args) -> CmdResult {
    let model = Model::open(&a.file, &a.policy.policy())?;
    export_safetensors(&model, &a.output, a.force)?;
    println!("wrote {}: {} tensors", a.output.display(), model.len());
    Ok(())
}
