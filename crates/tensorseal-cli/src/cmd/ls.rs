//! `tensorseal ls FILE`.

use std::path::PathBuf;

use serde_json::{json, Value};
use tensorseal::{Model, Verification};

use super::PolicyArgs;
use crate::meta::{fmt_time, hex, meta_json, model_json};
use crate::report::json_line;
use crate::CmdResult;

/// Arguments of `ls`.
#[derive(clap::Args)]
pub struct Args {
    /// The container.
    file: PathBuf,
    /// One JSON document instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    policy: PolicyArgs,
}

/// Runs `ls`.
pub fn run(a: Args) -> CmdResult {
    super::refuse_side_outputs(&a.file, None)?;
    let opts = a.policy.open_options()?.verification(Verification::Lazy);
    let model = Model::open_with(&a.file, &a.policy.policy()?, opts)?;
    let info = model.info();
    let mut tensors = Vec::with_capacity(model.len());
    for (i, ti) in model.manifest().tensors.iter().enumerate() {
        // Tensors the keys given cannot decrypt are listed with their metadata only.
        let sha = if model.is_readable(i) {
            json!(hex(&model.tensor_at(i)?.sha256()))
        } else {
            Value::Null
        };
        tensors.push(json!({
            "name": ti.name,
            "dtype": ti.dtype.name(),
            "shape": ti.shape,
            "offset": ti.offset,
            "length": ti.length,
            "sha256": sha,
            "readable": model.is_readable(i),
        }));
    }
    let signers: Vec<Value> = model
        .signers()
        .iter()
        .map(|s| json!({"fingerprint": s.fingerprint.to_string(), "trusted": s.trusted}))
        .collect();
    if a.json {
        let mut doc = model_json(info);
        let (major, minor) = model.format_version();
        doc.insert("format_version".into(), json!(format!("{major}.{minor}")));
        doc.insert(
            "slice_digest".into(),
            json!(model.manifest().digest_algorithm.name()),
        );
        doc.insert("signatures".into(), Value::Array(signers));
        doc.insert("encrypted".into(), json!(model.is_encrypted()));
        doc.insert(
            "recipient_stanzas".into(),
            json!(model.recipients().map_or(0, |r| r.stanzas.len())),
        );
        doc.insert("tensors".into(), Value::Array(tensors));
        json_line(&Value::Object(doc));
        return Ok(());
    }
    let (major, minor) = model.format_version();
    let trusted = model.signers().iter().filter(|s| s.trusted).count();
    let signed = match model.signers().len() {
        0 => "unsigned".to_string(),
        n => format!("{n} signature(s), {trusted} by trusted signers"),
    };
    let encrypted = match model.recipients() {
        Some(r) => format!(
            ", encrypted ({} recipient stanza(s); {} of {} tensors readable with the keys given)",
            r.stanzas.len(),
            (0..model.len()).filter(|&i| model.is_readable(i)).count(),
            model.len()
        ),
        None => String::new(),
    };
    say!("file:      {}", a.file.display());
    say!("format:    tensorseal {major}.{minor}, {signed}{encrypted}");
    say!(
        "digests:   {} per slice",
        model.manifest().digest_algorithm.name()
    );
    for s in model.signers() {
        say!(
            "signer:    {} ({})",
            s.fingerprint,
            if s.trusted { "trusted" } else { "untrusted" }
        );
    }
    say!("model:     {} version {}", info.model_id, info.version);
    say!("created:   {}", fmt_time(info.created));
    if let Some(e) = info.expires {
        say!("expires:   {}", fmt_time(e));
    }
    say!(
        "producer:  {} {}",
        info.producer.tool,
        info.producer.version
    );
    if let Some(d) = &info.training_date {
        say!("trained:   {d}");
    }
    if let Some(s) = &info.source {
        say!(
            "source:    {} {} sha256:{}",
            s.format,
            s.file_name,
            hex(&s.sha256)
        );
    }
    for (k, v) in &info.dependencies {
        say!("depends:   {k} {v}");
    }
    for (k, v) in &info.metadata {
        say!("meta:      {k} = {}", meta_json(v));
    }
    say!(
        "tensors:   {} in {} slices",
        model.len(),
        model.manifest().slices.len()
    );
    for t in &tensors {
        say!(
            "  {:<32} {:<8} {:<16} offset {:>10}  {:>10} B  sha256:{}",
            t["name"].as_str().unwrap_or_default(),
            t["dtype"].as_str().unwrap_or_default(),
            t["shape"].to_string(),
            t["offset"],
            t["length"],
            t["sha256"]
                .as_str()
                .unwrap_or("(encrypted: not readable with the keys given)"),
        );
    }
    Ok(())
}
