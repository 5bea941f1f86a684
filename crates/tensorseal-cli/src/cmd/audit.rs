//! `tensorseal audit DIR`: verify every model file under a directory (CI gate).

use std::path::PathBuf;
use std::sync::Arc;

use tensorseal_ops::{audit_dir, AuditOptions, FileStatus, Overrides, Verifier};

use crate::ops::{bar, ops_policy};
use crate::report::json_line;
use crate::{CmdResult, Failure};

/// Arguments of `audit`.
#[derive(clap::Args)]
pub struct Args {
    /// The directory to audit.
    pub dir: PathBuf,
    /// Trust the signer public key in this .pub file, or every .pub file in
    /// this directory (repeatable; replaces the policy's `trusted_keys`).
    #[arg(long = "trust", value_name = "PATH")]
    pub trust: Vec<PathBuf>,
    /// Distinct trusted signers required (default: the policy's, else 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub threshold: Option<u64>,
    /// Accept model files with no signature (integrity and inspection still apply).
    #[arg(long)]
    pub allow_unsigned: bool,
    /// Let pickles with `unknown` globals pass.
    #[arg(long)]
    pub allow_unknown_globals: bool,
    /// Rollback state file.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Move every refused file (and its sidecar) here, with an incident report.
    #[arg(long, value_name = "DIR")]
    pub quarantine: Option<PathBuf>,
    /// One JSON document: every file (path, format, status, reason) and a summary.
    #[arg(long)]
    pub json: bool,
    /// Deepest directory level entered.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_depth: usize,
}

/// Runs `audit`: exit 0 only when every model file passes, 1 otherwise.
pub fn run(a: Args) -> CmdResult {
    let policy = ops_policy(Overrides {
        trust: a.trust.clone(),
        threshold: a.threshold.map(|n| n as usize),
        allow_unsigned: a.allow_unsigned.then_some(true),
        allow_unknown_globals: a.allow_unknown_globals.then_some(true),
        rollback_state: a.state.clone(),
        quarantine_dir: a.quarantine.clone(),
        ..Overrides::default()
    })?;
    let verifier = Verifier::new(&policy).map_err(Failure::new)?;
    let pb = bar(0, "files");
    pb.set_message(format!("auditing {}", a.dir.display()));
    let progress_bar = pb.clone();
    let opts = AuditOptions {
        max_depth: a.max_depth,
        progress: Some(Arc::new(move |done, total, _p: &std::path::Path| {
            progress_bar.set_length(total);
            progress_bar.set_position(done);
        })),
        ..AuditOptions::default()
    };
    let report = audit_dir(&a.dir, &verifier, &opts).map_err(Failure::new)?;
    pb.finish_and_clear();
    if a.json {
        let mut v = serde_json::to_value(&report).map_err(Failure::new)?;
        // Keep the per-file verification details but make the top level easy to read.
        if let Some(files) = v.get_mut("files").and_then(|f| f.as_array_mut()) {
            for f in files {
                if let Some(o) = f.as_object_mut() {
                    if let Some(ver) = o.remove("verification") {
                        o.insert("checks".into(), ver["checks"].clone());
                    }
                }
            }
        }
        json_line(&v);
    } else {
        for f in &report.files {
            let tag = match f.status {
                FileStatus::Pass => "PASS",
                FileStatus::Fail => "FAIL",
                FileStatus::Skipped => {
                    continue;
                }
            };
            let mut line = format!("{tag}  {:<12} {}", f.format, f.path.display());
            if !f.reason.is_empty() {
                line.push_str(&format!(": {}", f.reason));
            }
            if let Some(q) = &f.quarantined_to {
                line.push_str(&format!(" (quarantined to {})", q.display()));
            }
            println!("{line}");
            for w in &f.warnings {
                println!("      warning: {w}");
            }
        }
        let s = &report.summary;
        println!(
            "{}: {} model file(s): {} passed, {} failed; {} other file(s) skipped, {} quarantined",
            if report.pass { "PASS" } else { "FAIL" },
            s.model_files,
            s.passed,
            s.failed,
            s.skipped,
            s.quarantined
        );
    }
    if report.pass {
        Ok(())
    } else {
        Err(Failure::silent(1))
    }
}
