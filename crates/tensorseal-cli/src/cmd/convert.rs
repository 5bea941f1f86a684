//! `tensorseal convert IN -o OUT`.

use std::path::PathBuf;

use tensorseal::{MetaValue, ModelInfo, SlicePolicy, WriteOptions};
use tensorseal_convert::{convert_file, ConvertOptions};

use crate::meta::{parse_meta, parse_pair, parse_time};
use crate::{CmdResult, Failure};

/// Arguments of `convert`.
#[derive(clap::Args)]
pub struct Args {
    /// The model file: safetensors, PyTorch (zip or legacy), NumPy .npy/.npz or
    /// joblib. The format is decided from content; pickles are never executed.
    input: PathBuf,
    /// Where to write the container.
    #[arg(short, long)]
    output: PathBuf,
    /// Model identifier (default: the input's file stem).
    #[arg(long)]
    model_id: Option<String>,
    /// Release number; verifiers refuse lower versions than they have seen.
    #[arg(long, default_value_t = 1)]
    version: u64,
    /// Expiry time (RFC 3339); readers refuse the file after it.
    #[arg(long, value_parser = parse_time)]
    expires: Option<i64>,
    /// When the model was trained.
    #[arg(long)]
    training_date: Option<String>,
    /// A dependency, NAME=VERSION (repeatable).
    #[arg(long = "dep", value_parser = parse_pair)]
    deps: Vec<(String, String)>,
    /// Metadata, KEY=VALUE or KEY:TYPE=VALUE with TYPE str|int|float|bool|json (repeatable).
    #[arg(long = "meta", value_parser = parse_meta)]
    meta: Vec<(String, MetaValue)>,
    /// Slicing: per-tensor, or max-bytes=N to group tensors up to N bytes.
    #[arg(long, default_value = "per-tensor", value_parser = parse_slices)]
    slices: SlicePolicy,
    /// Replace OUT if it exists.
    #[arg(long)]
    force: bool,
}

fn parse_slices(s: &str) -> Result<SlicePolicy, String> {
    if s == "per-tensor" {
        return Ok(SlicePolicy::PerTensor);
    }
    match s.strip_prefix("max-bytes=").map(str::parse::<u64>) {
        Some(Ok(n)) if n > 0 => Ok(SlicePolicy::MaxBytes(n)),
        _ => Err(format!("{s:?}: expected per-tensor or max-bytes=N (N > 0)")),
    }
}

fn sorted<V>(mut v: Vec<(String, V)>, what: &str) -> Result<Vec<(String, V)>, Failure> {
    v.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(w) = v.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(Failure::new(format!("{what} {:?} given twice", w[0].0)));
    }
    Ok(v)
}

/// Runs `convert`.
pub fn run(a: Args) -> CmdResult {
    let model_id = a.model_id.clone().unwrap_or_else(|| {
        a.input
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into())
    });
    let info = ModelInfo {
        model_id,
        version: a.version,
        expires: a.expires,
        training_date: a.training_date,
        dependencies: sorted(a.deps, "--dep")?,
        metadata: sorted(a.meta, "--meta")?,
        ..ModelInfo::default()
    };
    let options = WriteOptions {
        slicing: a.slices,
        overwrite: a.force,
    };
    let m = convert_file(
        &a.input,
        &a.output,
        info,
        options,
        &ConvertOptions::default(),
    )
    .map_err(Failure::new)?;
    let bytes: u64 = m.tensors.iter().map(|t| t.length).sum();
    println!(
        "wrote {}: {} tensors, {} bytes of tensor data, {} slices (unsigned)",
        a.output.display(),
        m.tensors.len(),
        bytes,
        m.slices.len()
    );
    Ok(())
}
