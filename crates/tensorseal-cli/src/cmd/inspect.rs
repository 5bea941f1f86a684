//! `tensorseal inspect FILE... [--json] [--strict]`: report each file's
//! format, every global with its class, structural findings and a verdict,
//! without executing, importing or unpickling anything.
//!
//! Exit status: 0 when every file is `safe` or `unknown` (`--strict` makes
//! `unknown` a failure, status 1), 1 when any file is `dangerous`, 2 when
//! any file could not be inspected (`malformed`, `unsupported`, I/O error)
//! and none is dangerous; usage errors exit 64 (clap, in `main`).

use std::path::PathBuf;

use serde_json::{json, Value};
use tensorseal_convert::inspect::{inspect_path, FileReport, InspectOptions, Verdict};

use crate::report::json_line;
use crate::{CmdResult, Failure};

/// Arguments of `inspect`.
#[derive(clap::Args)]
pub struct Args {
    /// Files to inspect (any format: the format is decided from content).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// One JSON object per file per line instead of text.
    #[arg(long)]
    json: bool,
    /// Treat `unknown` (globals neither allowed nor known dangerous) as a
    /// failure (exit status 1).
    #[arg(long)]
    strict: bool,
}

/// Exit status when a file is dangerous (or unknown under `--strict`).
const EXIT_DANGEROUS: u8 = 1;
/// Exit status when a file could not be inspected.
const EXIT_UNINSPECTABLE: u8 = 2;

/// Runs `inspect` over every file, then sets the exit status.
pub fn run(a: Args) -> CmdResult {
    let opts = InspectOptions::default();
    let mut dangerous = false;
    let mut uninspectable = false;
    let mut unknown = false;
    for file in &a.files {
        super::refuse_side_outputs(file, None)?;
    }
    for file in &a.files {
        let shown = file.display().to_string();
        match inspect_path(file, &opts) {
            Ok(r) => {
                crate::ops::log_event({
                    let ev = tensorseal_ops::NewEvent::new(
                        tensorseal_ops::EventKind::Inspect,
                        r.verdict.as_str(),
                    )
                    .file(file);
                    match r.dangerous_globals().first() {
                        Some(g) => ev.reason(format!("dangerous global {g}")),
                        None => ev,
                    }
                })?;
                match r.verdict {
                    Verdict::Dangerous => dangerous = true,
                    Verdict::Malformed | Verdict::Unsupported => uninspectable = true,
                    Verdict::Unknown => unknown = true,
                    Verdict::Safe => {}
                }
                if a.json {
                    json_line(&report_json(&shown, &r));
                } else {
                    print_human(&shown, &r);
                }
            }
            Err(e) => {
                uninspectable = true;
                if a.json {
                    json_line(&json!({
                        "file": shown,
                        "format": Value::Null,
                        "verdict": "error",
                        "globals": [],
                        "findings": [],
                        "error": e.to_string(),
                    }));
                } else {
                    say!("{shown}: error: {e}");
                }
            }
        }
    }
    let status = if dangerous {
        EXIT_DANGEROUS
    } else if uninspectable {
        EXIT_UNINSPECTABLE
    } else if unknown && a.strict {
        EXIT_DANGEROUS
    } else {
        0
    };
    if status == 0 {
        Ok(())
    } else {
        // Every file was reported on stdout already.
        Err(Failure::silent(status))
    }
}

/// The `--json` object of one file.
fn report_json(file: &str, r: &FileReport) -> Value {
    let globals: Vec<Value> = r
        .globals
        .iter()
        .map(|g| {
            json!({
                "module": g.module,
                "name": g.name,
                "class": g.class,
                "reason": g.reason,
                "member": g.member,
                "offset": g.offset,
                "profile": g.profile,
            })
        })
        .collect();
    let findings: Vec<Value> = r
        .findings
        .iter()
        .map(|f| {
            json!({
                "kind": f.kind,
                "verdict": f.verdict.as_str(),
                "member": f.member,
                "offset": f.offset,
                "message": f.message,
            })
        })
        .collect();
    json!({
        "file": file,
        "format": r.format.as_str(),
        "verdict": r.verdict.as_str(),
        "globals": globals,
        "findings": findings,
        "error": r.error,
    })
}

fn location(member: &Option<String>, offset: u64) -> String {
    match member {
        Some(m) => format!("{m} @ {offset}"),
        None => format!("@ {offset}"),
    }
}

fn print_human(file: &str, r: &FileReport) {
    say!("{file}: {} ({})", r.verdict, r.format);
    for g in &r.globals {
        let class = match &g.reason {
            Some(reason) => format!("{} ({reason})", g.class),
            None => g.class.clone(),
        };
        say!(
            "  global {}: {class} [{}]",
            g.dotted(),
            location(&g.member, g.offset)
        );
    }
    for f in &r.findings {
        let label = match (f.verdict, f.kind.as_str()) {
            (Verdict::Safe, "note") => "note".to_owned(),
            (Verdict::Safe, kind) => format!("note {kind}"),
            (v, kind) => format!("{v} {kind}"),
        };
        say!(
            "  {label}: {} [{}]",
            one_line(&f.message),
            location(&f.member, f.offset)
        );
    }
    if let Some(e) = &r.error {
        say!("  error: {}", one_line(e));
    }
}

/// Escaped first, so a `\r` in a member name shows as `\r`, not a space.
fn one_line(s: &str) -> String {
    crate::report::escape(s)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
