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
    super::refuse_same_file(&a.file, &a.output, "-o")?;
    super::refuse_side_outputs(&a.file, None)?;
    let pb = crate::ops::spinner_for(&a.file, "exporting");
    let res = Model::open_with(&a.file, &a.policy.policy()?, a.policy.open_options()?)
        .and_then(|model| export_safetensors(&model, &a.output, a.force).map(|()| model));
    pb.finish_and_clear();
    let model = res?;
    say!("wrote {}: {} tensors", a.output.display(), model.len());
    Ok(())
}
