//! `tensorseal ls FILE`.

use std::path::PathBuf;

use serde_json::{json, Value};
use tensorseal::{Model, OpenOptions, Verification};

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
    let opts = OpenOptions::new().verification(Verification::Lazy);
    let model = Model::open_with(&a.file, &a.policy.policy(), opts)?;
    let info = model.info();
    let mut tensors = Vec::with_capacity(model.len());
    for t in model.tensors() {
        let t = t?;
        tensors.push(json!({
            "name": t.name(),
            "dtype": t.dtype().name(),
            "shape": t.shape(),
            "offset": t.offset(),
            "length": t.info().length,
            "sha256": hex(&t.sha256()),
        }));
    }
    if a.json {
        let mut doc = model_json(info);
        let (major, minor) = model.format_version();
        doc.insert("format_version".into(), json!(format!("{major}.{minor}")));
        doc.insert("signatures".into(), json!([]));
        doc.insert("tensors".into(), Value::Array(tensors));
        json_line(&Value::Object(doc));
        return Ok(());
    }
    let (major, minor) = model.format_version();
    println!("file:      {}", a.file.display());
    println!("format:    tensorseal {major}.{minor}, unsigned");
    println!("model:     {} version {}", info.model_id, info.version);
    println!("created:   {}", fmt_time(info.created));
    if let Some(e) = info.expires {
        println!("expires:   {}", fmt_time(e));
    }
    println!(
        "producer:  {} {}",
        info.producer.tool, info.producer.version
    );
    if let Some(d) = &info.training_date {
        println!("trained:   {d}");
    }
    if let Some(s) = &info.source {
        println!(
            "source:    {} {} sha256:{}",
            s.format,
            s.file_name,
            hex(&s.sha256)
        );
    }
    for (k, v) in &info.dependencies {
        println!("depends:   {k} {v}");
    }
    for (k, v) in &info.metadata {
        println!("meta:      {k} = {}", meta_json(v));
    }
    println!(
        "tensors:   {} in {} slices",
        model.len(),
        model.manifest().slices.len()
    );
    for t in &tensors {
        println!(
            "  {:<32} {:<8} {:<16} offset {:>10}  {:>10} B  sha256:{}",
            t["name"].as_str().unwrap_or_default(),
            t["dtype"].as_str().unwrap_or_default(),
            t["shape"].to_string(),
            t["offset"],
            t["length"],
            t["sha256"].as_str().unwrap_or_default(),
        );
    }
    Ok(())
}
