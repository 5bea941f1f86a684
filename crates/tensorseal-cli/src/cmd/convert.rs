//! `tensorseal convert IN -o OUT`.

use std::path::PathBuf;

use tensorseal::{DigestAlgorithm, MetaValue, ModelInfo, SlicePolicy, WriteOptions};
use tensorseal_convert::{convert_file, ConvertOptions};

use super::{read_recipient, read_signing_key};
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
    /// Slice digest algorithm recorded in the manifest: blake3 or sha256. The
    /// source file's digest is SHA-256 either way.
    #[arg(long, default_value = "blake3", value_parser = parse_digest)]
    digest: DigestAlgorithm,
    /// Sign with this signer secret key (repeatable: one signature each).
    #[arg(long = "sign", value_name = "KEY")]
    sign: Vec<PathBuf>,
    /// Encrypt to this recipient public key (repeatable). Without --to the
    /// tensor data is stored in the clear.
    #[arg(long = "to", value_name = "PUB")]
    to: Vec<PathBuf>,
    /// Replace OUT if it exists.
    #[arg(long)]
    force: bool,
}

fn parse_digest(s: &str) -> Result<DigestAlgorithm, String> {
    s.parse()
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
    super::refuse_same_file(&a.input, &a.output, "-o")?;
    super::refuse_side_outputs(&a.input, None)?;
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
    let signers = a
        .sign
        .iter()
        .map(|p| read_signing_key(p).map(std::sync::Arc::new))
        .collect::<Result<Vec<_>, Failure>>()?;
    let recipients =
        a.to.iter()
            .map(|p| read_recipient(p))
            .collect::<Result<Vec<_>, Failure>>()?;
    let fps: Vec<String> = signers.iter().map(|k| k.fingerprint().short()).collect();
    let options = WriteOptions {
        slicing: a.slices,
        overwrite: a.force,
        signers,
        recipients,
        digest: a.digest,
        ..WriteOptions::default()
    };
    // The same link rule as verify/sign/audit: follow, refuse non-files.
    tensorseal_ops::resolve_model_path(&a.input)
        .map_err(|r| Failure::operational(format!("{}: {r}", a.input.display())))?;
    let pb = crate::ops::spinner_for(&a.input, "converting");
    let converted = convert_file(
        &a.input,
        &a.output,
        info,
        options,
        &ConvertOptions::default(),
    );
    pb.finish_and_clear();
    let ev = |outcome: &str| {
        tensorseal_ops::NewEvent::new(tensorseal_ops::EventKind::Convert, outcome).file(&a.input)
    };
    let m = match converted {
        Ok(m) => {
            crate::ops::log_event(ev("ok").reason(format!("wrote {}", a.output.display())))?;
            m
        }
        Err(e) => {
            crate::ops::log_event(ev("refused").reason(e.to_string()))?;
            return Err(Failure::new(e));
        }
    };
    let bytes: u64 = m.tensors.iter().map(|t| t.length).sum();
    let signed = if fps.is_empty() {
        "unsigned".to_string()
    } else {
        format!("signed by {}", fps.join(", "))
    };
    let encrypted = if a.to.is_empty() {
        String::new()
    } else {
        format!(", encrypted to {} recipient(s)", a.to.len())
    };
    say!(
        "wrote {}: {} tensors, {} bytes of tensor data, {} slices ({signed}{encrypted})",
        a.output.display(),
        m.tensors.len(),
        bytes,
        m.slices.len()
    );
    Ok(())
}
