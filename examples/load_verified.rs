//! How an inference service loads a model: `load_verified` instead of reading
//! (or, worse, unpickling) the file directly.
//!
//! ```text
//! cargo run -p tensorseal-ops --example load_verified -- MODEL_FILE [POLICY.toml]
//! ```
//!
//! Without arguments it runs a self-contained demo in a temporary directory:
//! signs a small pickle, loads it, tampers with it, and shows the refusal,
//! the quarantine and the audit log.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use tensorseal_ops::{load_verified, sign_file, Loaded, OpsPolicy, SignOptions};

fn serve(path: &Path, policy: &OpsPolicy) -> bool {
    match load_verified(path, policy) {
        Ok(v) => {
            match &v.model {
                Loaded::Container(m) => println!(
                    "loaded container {} ({} tensors)",
                    path.display(),
                    m.names().count()
                ),
                // Hand the verified bytes to a never-executing reader
                // (tensorseal-convert), never to pickle.load.
                Loaded::Bytes(b) => println!(
                    "loaded {} ({}, {} bytes, signed by {})",
                    path.display(),
                    v.format,
                    b.len(),
                    v.report.trusted_signers.join(", ")
                ),
            }
            for w in &v.report.warnings {
                println!("  warning: {w}");
            }
            true
        }
        Err(refusal) => {
            // Shadow mode off, fall back to the previous model, alert...
            eprintln!("{refusal}");
            if let Some(r) = &refusal.incident_report {
                eprintln!("  incident report: {}", r.display());
            }
            false
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if let Some(model) = args.first() {
        let policy = match OpsPolicy::resolve(args.get(1).map(PathBuf::as_path), Default::default())
        {
            Ok(p) => p,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        };
        return if serve(model, &policy) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    match demo() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn demo() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let model = dir.path().join("risk_model.pkl");
    std::fs::write(&model, b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01K\x01s.")?; // {'a': 1}
    let key = tensorseal_crypto::SigningKey::generate_os()?;
    let opts = SignOptions {
        model_id: Some("risk_model".into()),
        model_version: Some("v0.2.0".into()),
        ..SignOptions::default()
    };
    sign_file(&model, &key, &opts)?;
    let policy = OpsPolicy {
        quarantine_dir: Some(dir.path().join("quarantine")),
        audit_log: Some(dir.path().join("model_security.jsonl")),
        ..OpsPolicy::default()
    }
    .trust_key(key.verifying_key().clone());
    assert!(serve(&model, &policy));
    let mut bytes = std::fs::read(&model)?;
    bytes.push(b'\n');
    std::fs::write(&model, bytes)?;
    assert!(!serve(&model, &policy));
    let log = dir.path().join("model_security.jsonl");
    print!("{}", std::fs::read_to_string(&log)?);
    let summary = tensorseal_ops::verify_log(&log)??;
    println!(
        "audit log: {} events, chain intact, head {}",
        summary.events, summary.head
    );
    Ok(())
}
