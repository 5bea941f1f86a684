//! `tensorseal audit DIR`: verify every model file under a directory (CI gate).
//!
//! The rules (what is a model file, how links are followed) are
//! `tensorseal_ops::audit_dir`'s; the `--help` text below states them.

use std::path::PathBuf;
use std::sync::Arc;

use tensorseal_ops::{audit_dir, AuditOptions, FileStatus, Overrides, Verifier};

use crate::ops::{bar, ops_policy};
use crate::report::json_line;
use crate::{CmdResult, Failure};

/// Arguments of `audit`.
#[derive(clap::Args)]
#[command(after_long_help = AUDIT_RULES)]
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
    #[command(flatten)]
    pub bind: super::BindArgs,
    /// Move every refused file (and its sidecar) here, with an incident report.
    #[arg(long, value_name = "DIR")]
    pub quarantine: Option<PathBuf>,
    /// One JSON document: every file (path, format, status, reason) and a summary.
    #[arg(long)]
    pub json: bool,
    /// Deepest directory level entered.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_depth: usize,
    /// Fail when no model file is found (a mistyped DIR) and on every Git
    /// LFS pointer (models not pulled).
    #[arg(long)]
    pub require_models: bool,
}

const AUDIT_RULES: &str = "\
Model files: decided from content, never by name alone. Any file from which
pickle.load, joblib.load, torch.load or numpy.load(allow_pickle=True) could
import or call anything is one: a pickle read from its first byte, whatever
follows its STOP; a zlib/gzip/bz2 stream holding one (lz4/xz/lzma streams
count without being opened); a zip with a NumPy member; any complete pickle,
PyTorch, NumPy, joblib, safetensors or tensorseal file; and any file named
with a model extension (.pt .pkl .bin .onnx .h5 .gguf ...). Empty files,
source code and text no loader would run are not. Git LFS pointers are
listed as such.

Symbolic links: followed, and the file they name is judged wherever it is
(under .git/, in the quarantine directory, outside DIR, named *.sig.json):
a loader opening the link runs the target. Each file is judged once; a path
with its own sidecar is verified with it (Hugging Face snapshot links into
blobs/ pass with the sidecar beside the link). Links to directories are
walked once (cycles end). Dangling links, link loops and links to FIFOs,
sockets or devices FAIL, as do FIFOs, sockets and devices in the tree:
nothing is read from them, and what appears there later would be loaded
unjudged. `verify`, `sign` and `convert` follow the same rule.

Not entered: directory entries named .git and the quarantine directory.
A *.sig.json file is skipped only when it is a valid sidecar.

Exit status: 0 every model file passed; 1 a model file (or link) was
refused, or --require-models found none; 2 could not decide (unreadable
root, bad key or policy, audit log not writable); 64 usage.";

/// Runs `audit`: exit 0 only when every model file passes, 2 when a
/// verifier-side problem kept a file from being judged, 1 otherwise.
pub fn run(a: Args) -> CmdResult {
    let policy = ops_policy(Overrides {
        trust: a.trust.clone(),
        threshold: a.threshold.map(|n| n as usize),
        allow_unsigned: a.allow_unsigned.then_some(true),
        allow_unknown_globals: a.allow_unknown_globals.then_some(true),
        model_id: a.bind.model_id.clone(),
        rollback_state: a.bind.state.clone(),
        quarantine_dir: a.quarantine.clone(),
        ..Overrides::default()
    })?;
    let verifier = Verifier::new(&policy).map_err(Failure::operational)?;
    let log = crate::ops::audit_log()?.cloned();
    let pb = bar(0, "files");
    pb.set_message(crate::report::escape(&format!("auditing {}", a.dir.display())).into_owned());
    let progress_bar = pb.clone();
    let opts = AuditOptions {
        max_depth: a.max_depth,
        progress: Some(Arc::new(move |done, total, _p: &std::path::Path| {
            progress_bar.set_length(total);
            progress_bar.set_position(done);
        })),
        require_models: a.require_models,
        log,
        ..AuditOptions::default()
    };
    let report = audit_dir(&a.dir, &verifier, &opts).map_err(Failure::operational)?;
    pb.finish_and_clear();
    // Every move is announced on stderr, whatever the output mode.
    for f in &report.files {
        if let Some(q) = &f.quarantined_to {
            tell!("{}: quarantined to {}", f.path.display(), q.display());
        }
    }
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
                FileStatus::Skipped if f.format == tensorseal_ops::audit_dir::LFS_FORMAT => "LFS ",
                FileStatus::Skipped => {
                    continue;
                }
            };
            let mut line = format!("{tag}  {:<12} {}", f.format, shown(&f.path));
            if let Some(t) = &f.target {
                line.push_str(&format!(" -> {}", shown(t)));
            }
            if !f.reason.is_empty() {
                line.push_str(&format!(": {}", escaped(&f.reason)));
            }
            if let Some(q) = &f.quarantined_to {
                line.push_str(&format!(" (quarantined to {})", q.display()));
            }
            say!("{line}");
            for w in &f.warnings {
                say!("      warning: {}", escaped(w));
            }
        }
        for n in &report.notes {
            say!("NOTE  {}", escaped(n));
        }
        let s = &report.summary;
        say!(
            "{}: {} model file(s): {} passed, {} failed; {} other file(s) skipped, {} quarantined",
            if report.pass { "PASS" } else { "FAIL" },
            s.model_files,
            s.passed,
            s.failed,
            s.skipped,
            s.quarantined
        );
    }
    // A verifier-side problem (e.g. a corrupt rollback state) decides
    // nothing about the files: exit 2, not 1.
    let operational = report.files.iter().any(|f| {
        f.verification
            .as_ref()
            .and_then(|v| v.refusal.as_ref())
            .is_some_and(|r| r.is_operational())
    });
    if report.pass {
        Ok(())
    } else if operational {
        Err(Failure::silent(2))
    } else {
        Err(Failure::silent(1))
    }
}

/// A path as one unambiguous line: control characters, quotes and
/// backslashes escaped (a file name cannot forge report lines).
fn shown(p: &std::path::Path) -> String {
    let s = p.to_string_lossy();
    if matches!(s, std::borrow::Cow::Owned(_)) {
        // Not UTF-8: Debug keeps the bytes (as \xNN), and has no raw controls.
        format!("{:?}", p.as_os_str())
    } else if s.chars().any(|c| c.is_control() || c == '"' || c == '\\') {
        format!("\"{}\"", escaped(&s))
    } else {
        s.into_owned()
    }
}

/// The CLI's one escaping function (the whole line is escaped again by `say!`).
fn escaped(s: &str) -> String {
    crate::report::escape(s).into_owned()
}
