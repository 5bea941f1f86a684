//! `tensorseal demo`: the whole pipeline on a bundled model, offline.

use std::path::Path;

use ndarray::{Array1, Ix1, Ix2};
use tensorseal::{import_safetensors, MetaValue, Model, ModelInfo, Policy, WriteOptions};

use crate::meta::hex;
use crate::{CmdResult, Failure};

/// The MLP of `shared/fixtures/torch/mlp_state_dict.pt` (Linear(4,8), ReLU,
/// Linear(8,2)), its storages repacked as safetensors, byte for byte.
const MLP: &[u8] = include_bytes!("../../assets/mlp.safetensors");
/// The fixed input of the forward pass.
const INPUT: [f32; 4] = [0.5, -1.0, 2.0, 0.25];

/// Arguments of `demo`.
#[derive(clap::Args)]
pub struct Args {
    /// Keep the files in this directory instead of a temporary one.
    #[arg(long)]
    keep: Option<std::path::PathBuf>,
}

fn step(n: u32, what: &str) {
    println!("\n[{n}] {what}");
}

/// Runs the demo.
pub fn run(a: Args) -> CmdResult {
    let tmp = tempfile::tempdir().map_err(|e| Failure::new(format!("temporary directory: {e}")))?;
    let dir = a.keep.as_deref().unwrap_or(tmp.path());
    std::fs::create_dir_all(dir).map_err(|e| Failure::new(format!("{}: {e}", dir.display())))?;
    let src = dir.join("mlp.safetensors");
    let sealed = dir.join("mlp.tseal");
    std::fs::write(&src, MLP).map_err(|e| Failure::new(format!("{}: {e}", src.display())))?;

    step(1, "Convert the bundled MLP (safetensors) into a container");
    let info = ModelInfo {
        model_id: "demo/mlp".into(),
        version: 1,
        metadata: vec![("task".into(), MetaValue::Str("demo".into()))],
        ..ModelInfo::default()
    };
    let options = WriteOptions {
        overwrite: true,
        ..WriteOptions::default()
    };
    let m = import_safetensors(&src, &sealed, info, options)?;
    println!(
        "    wrote {} ({} tensors, {} slices)",
        sealed.display(),
        m.tensors.len(),
        m.slices.len()
    );

    step(
        2,
        "Open it: validate the structure, verify every slice digest, map zero-copy",
    );
    let model = Model::open(&sealed, &Policy::allow_unsigned())?;
    for t in model.tensors() {
        let t = t?;
        println!(
            "    {:<9} {:<4} {:<7} offset {:>5} (64-aligned: {})  sha256:{}…",
            t.name(),
            t.dtype(),
            format!("{:?}", t.shape()),
            t.offset(),
            t.offset() % 64 == 0,
            &hex(&t.sha256())[..16]
        );
    }

    step(3, "Run one forward pass with ndarray on the mapped weights");
    let x = Array1::from(INPUT.to_vec());
    println!("    input  = {x}");
    let w1 = model.tensor("0.weight")?.array_view::<f32>()?;
    let b1 = model.tensor("0.bias")?.array_view::<f32>()?;
    let w2 = model.tensor("2.weight")?.array_view::<f32>()?;
    let b2 = model.tensor("2.bias")?.array_view::<f32>()?;
    let dims = |e: ndarray::ShapeError| Failure::new(format!("unexpected tensor shape: {e}"));
    let (w1, b1) = (
        w1.into_dimensionality::<Ix2>().map_err(dims)?,
        b1.into_dimensionality::<Ix1>().map_err(dims)?,
    );
    let (w2, b2) = (
        w2.into_dimensionality::<Ix2>().map_err(dims)?,
        b2.into_dimensionality::<Ix1>().map_err(dims)?,
    );
    let h = (w1.dot(&x) + b1).mapv(|v| v.max(0.0));
    println!("    hidden = relu(0.weight · input + 0.bias) = {h:.4}");
    let y = w2.dot(&h) + b2;
    println!("    output = 2.weight · hidden + 2.bias = {y:.6}");

    step(4, "Flip one bit of a weight and verify again");
    let mut bytes =
        std::fs::read(&sealed).map_err(|e| Failure::new(format!("{}: {e}", sealed.display())))?;
    let target = model.tensor("2.weight")?.offset() as usize + 5;
    bytes[target] ^= 0x01;
    let tampered = dir.join("mlp-tampered.tseal");
    write(&tampered, &bytes)?;
    match Model::open(&tampered, &Policy::allow_unsigned()) {
        Err(e) => println!("    refused, as it must be: {e}"),
        Ok(_) => return Err(Failure::new("a tampered file opened: this is a bug")),
    }

    step(5, "Open without --allow-unsigned");
    match Model::open(&sealed, &Policy::require_signature()) {
        Err(e) => println!("    refused, as it must be: {e}"),
        Ok(_) => {
            return Err(Failure::new(
                "an unsigned file opened under a signature policy: this is a bug",
            ))
        }
    }
    println!("\ndemo complete: convert, verify, zero-copy load and inference, tamper detection");
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) -> CmdResult {
    std::fs::write(path, bytes).map_err(|e| Failure::new(format!("{}: {e}", path.display())))
}
