//! Audit of a directory tree, for CI.
//!
//! **What counts as a model file**: a regular file whose content is detected
//! as `torch-zip`, `torchscript`, `torch-legacy`, `npy`, `npz`, `joblib`,
//! `pickle`, `safetensors` or `tensorseal`, **or** any file whose name ends
//! in a model extension ([`MODEL_EXTENSIONS`]) whatever its content (so an
//! unrecognised `*.pt` or an ONNX file cannot pass silently). Other files
//! (including generic zip/gzip archives without a model extension) are
//! listed as `skipped`. Sidecars (`*.sig.json`) are checked with their file.
//!
//! **Pass rule**: every model file must pass [`crate::Verifier::verify`]
//! under the policy (where content that is not recognised, `unknown`,
//! `zip`, `compressed` or `7z`, passes only with a trusted detached
//! signature, even when unsigned files are allowed).
//!
//! **Walk**: symbolic links are never followed: a link to a file inside the
//! root is skipped (the target is audited where it is), a link leaving the
//! root, a dangling link or a link to a directory is a failure when its name
//! has a model extension and skipped otherwise. Directories named `.git` and
//! the quarantine directory are not entered. Depth and file count are
//! bounded ([`AuditOptions`]); hitting a bound fails the audit.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use tensorseal_convert::Format;

use crate::actions::{log_verification, quarantine_refused};
use crate::audit_log::{AuditLog, EventKind, NewEvent};
use crate::error::OpsError;
use crate::quarantine::QuarantineOptions;
use crate::sidecar::is_sidecar_path;
use crate::verify::{Verifier, VerifyReport};

/// Extensions (lower case, without the dot) that make a file a model file
/// whatever its content.
pub const MODEL_EXTENSIONS: &[&str] = &[
    "pt",
    "pth",
    "bin",
    "ckpt",
    "pkl",
    "pickle",
    "joblib",
    "sav",
    "safetensors",
    "onnx",
    "h5",
    "hdf5",
    "keras",
    "pb",
    "tflite",
    "gguf",
    "ggml",
    "npy",
    "npz",
    "tseal",
    "mar",
    "msgpack",
    "model",
    "mlmodel",
    "pdparams",
    "ot",
    "torchscript",
    "ptl",
];

/// Progress callback: (files done, files total, current file).
pub type Progress = Arc<dyn Fn(u64, u64, &Path) + Send + Sync>;

/// Bounds and switches of an audit.
#[derive(Clone)]
pub struct AuditOptions {
    /// Deepest directory level entered (the root is 0).
    pub max_depth: usize,
    /// Most files examined.
    pub max_files: usize,
    /// Called after each file.
    pub progress: Option<Progress>,
    /// Quarantine options (used when the policy has a quarantine directory).
    pub quarantine: QuarantineOptions,
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions {
            max_depth: 64,
            max_files: 100_000,
            progress: None,
            quarantine: QuarantineOptions::default(),
        }
    }
}

impl std::fmt::Debug for AuditOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditOptions")
            .field("max_depth", &self.max_depth)
            .field("max_files", &self.max_files)
            .finish_non_exhaustive()
    }
}

/// The outcome for one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    /// A model file that passed.
    Pass,
    /// A model file that failed (or a walk problem).
    Fail,
    /// Not a model file, a sidecar, or a link audited elsewhere.
    Skipped,
}

/// One file's line in the report.
#[derive(Debug, Clone, Serialize)]
pub struct FileAudit {
    /// Path relative to the root.
    pub path: PathBuf,
    /// Detected format.
    pub format: String,
    /// Whether it counts as a model file.
    pub model_file: bool,
    /// Pass, fail or skipped.
    pub status: FileStatus,
    /// Why (the refusal, or why skipped); empty for a clean pass.
    pub reason: String,
    /// SHA-256, when read.
    pub sha256: Option<String>,
    /// Warnings.
    pub warnings: Vec<String>,
    /// Where it was quarantined.
    pub quarantined_to: Option<PathBuf>,
    /// The full verification, for model files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<VerifyReport>,
}

/// Counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AuditSummary {
    /// Files examined.
    pub files: u64,
    /// Model files among them.
    pub model_files: u64,
    /// Model files that passed.
    pub passed: u64,
    /// Entries that failed.
    pub failed: u64,
    /// Entries skipped.
    pub skipped: u64,
    /// Files quarantined.
    pub quarantined: u64,
}

/// The audit of a directory.
#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    /// The root audited.
    pub root: PathBuf,
    /// Whether every model file passed (and the walk completed).
    pub pass: bool,
    /// Counts.
    pub summary: AuditSummary,
    /// One entry per file, sorted by path.
    pub files: Vec<FileAudit>,
}

/// Whether `path`'s extension is in [`MODEL_EXTENSIONS`].
pub fn has_model_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| MODEL_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Whether a detected format makes a file a model file by itself.
pub fn is_model_format(format: Format) -> bool {
    matches!(
        format,
        Format::TorchZip
            | Format::TorchScript
            | Format::TorchLegacy
            | Format::Npy
            | Format::Npz
            | Format::Joblib { .. }
            | Format::Pickle
            | Format::Safetensors
            | Format::Tensorseal
    )
}

fn entry(
    rel: PathBuf,
    status: FileStatus,
    model_file: bool,
    reason: impl Into<String>,
) -> FileAudit {
    FileAudit {
        path: rel,
        format: Format::Unknown.as_str().into(),
        model_file,
        status,
        reason: reason.into(),
        sha256: None,
        warnings: Vec::new(),
        quarantined_to: None,
        verification: None,
    }
}

/// Walks `root` and audits every file (see the module docs). Quarantines
/// failed model files when the verifier's policy has a quarantine directory,
/// and logs every verification, quarantine and the audit itself when it has
/// an audit log. `Err` only when the root cannot be read at all.
pub fn audit_dir(
    root: &Path,
    verifier: &Verifier,
    opts: &AuditOptions,
) -> Result<AuditReport, OpsError> {
    let policy = verifier.policy();
    let root_canon =
        std::fs::canonicalize(root).map_err(|e| OpsError::io(root, "open audit root", e))?;
    let quarantine_canon = policy
        .quarantine_dir
        .as_ref()
        .and_then(|q| std::fs::canonicalize(q).ok());
    let log = policy.audit_log.as_ref().map(AuditLog::new);
    let log_canon = policy
        .audit_log
        .as_ref()
        .and_then(|p| std::fs::canonicalize(p).ok());

    // 1. Walk.
    let mut files: Vec<PathBuf> = Vec::new();
    let mut out: Vec<FileAudit> = Vec::new();
    let mut stack: Vec<(PathBuf, usize)> = vec![(root.to_path_buf(), 0)];
    let mut truncated = false;
    while let Some((dir, depth)) = stack.pop() {
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) => {
                out.push(entry(
                    rel(root, &dir),
                    FileStatus::Fail,
                    false,
                    format!("cannot read directory: {e}"),
                ));
                continue;
            }
        };
        let mut names: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        names.sort();
        for p in names {
            let Ok(meta) = std::fs::symlink_metadata(&p) else {
                out.push(entry(rel(root, &p), FileStatus::Fail, false, "cannot stat"));
                continue;
            };
            let ft = meta.file_type();
            if ft.is_dir() {
                if p.file_name().is_some_and(|n| n == ".git") {
                    continue;
                }
                if let (Some(q), Ok(c)) = (&quarantine_canon, std::fs::canonicalize(&p)) {
                    if *q == c {
                        continue;
                    }
                }
                if depth + 1 > opts.max_depth {
                    truncated = true;
                    out.push(entry(
                        rel(root, &p),
                        FileStatus::Fail,
                        false,
                        format!("deeper than {} levels: not audited", opts.max_depth),
                    ));
                    continue;
                }
                stack.push((p, depth + 1));
            } else if ft.is_symlink() {
                let model = has_model_extension(&p);
                let target = std::fs::canonicalize(&p);
                let (status, reason) = match target {
                    Ok(t) if t.starts_with(&root_canon) && t.is_file() => (
                        FileStatus::Skipped,
                        format!(
                            "symbolic link to {} (audited there)",
                            rel(&root_canon, &t).display()
                        ),
                    ),
                    Ok(t) if t.is_dir() => (
                        if model {
                            FileStatus::Fail
                        } else {
                            FileStatus::Skipped
                        },
                        "symbolic link to a directory: not followed".to_string(),
                    ),
                    Ok(t) => (
                        if model {
                            FileStatus::Fail
                        } else {
                            FileStatus::Skipped
                        },
                        format!(
                            "symbolic link leaving the audited directory ({}): not followed",
                            t.display()
                        ),
                    ),
                    Err(_) => (
                        if model {
                            FileStatus::Fail
                        } else {
                            FileStatus::Skipped
                        },
                        "dangling symbolic link".to_string(),
                    ),
                };
                out.push(entry(rel(root, &p), status, model, reason));
            } else if ft.is_file() {
                if files.len() >= opts.max_files {
                    truncated = true;
                    continue;
                }
                files.push(p);
            } else {
                out.push(entry(
                    rel(root, &p),
                    FileStatus::Skipped,
                    false,
                    "not a regular file",
                ));
            }
        }
    }

    // 2. Audit every file.
    let total = files.len() as u64;
    for (i, p) in files.iter().enumerate() {
        let r = rel(root, p);
        let fa = audit_one(p, r, verifier, log.as_ref(), log_canon.as_deref(), opts);
        out.push(fa);
        if let Some(cb) = &opts.progress {
            cb(i as u64 + 1, total, p);
        }
    }
    if truncated {
        out.push(entry(
            PathBuf::from("."),
            FileStatus::Fail,
            false,
            format!(
                "walk bounded (max {} files, depth {}): not every file was audited",
                opts.max_files, opts.max_depth
            ),
        ));
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    let mut s = AuditSummary::default();
    for f in &out {
        s.files += 1;
        if f.model_file {
            s.model_files += 1;
        }
        match f.status {
            FileStatus::Pass => s.passed += 1,
            FileStatus::Fail => s.failed += 1,
            FileStatus::Skipped => s.skipped += 1,
        }
        if f.quarantined_to.is_some() {
            s.quarantined += 1;
        }
    }
    let pass = s.failed == 0;
    if let Some(l) = &log {
        let _ = l.append(
            NewEvent::new(EventKind::Audit, if pass { "ok" } else { "refused" })
                .file(root)
                .reason(format!(
                    "{} model file(s): {} passed, {} failed, {} skipped, {} quarantined",
                    s.model_files, s.passed, s.failed, s.skipped, s.quarantined
                )),
        );
    }
    Ok(AuditReport {
        root: root.to_path_buf(),
        pass,
        summary: s,
        files: out,
    })
}

fn rel(root: &Path, p: &Path) -> PathBuf {
    p.strip_prefix(root)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| p.to_path_buf())
}

fn audit_one(
    p: &Path,
    r: PathBuf,
    verifier: &Verifier,
    log: Option<&AuditLog>,
    log_canon: Option<&Path>,
    opts: &AuditOptions,
) -> FileAudit {
    if is_sidecar_path(p) {
        return entry(
            r,
            FileStatus::Skipped,
            false,
            "sidecar (checked with its file)",
        );
    }
    if log_canon.is_some_and(|l| std::fs::canonicalize(p).is_ok_and(|c| c == l)) {
        return entry(r, FileStatus::Skipped, false, "the audit log");
    }
    // Classify from a bounded prefix first, so non-model files are not hashed.
    let format = match sniff(p) {
        Ok(f) => f,
        Err(e) => {
            let model = has_model_extension(p);
            return entry(
                r,
                if model {
                    FileStatus::Fail
                } else {
                    FileStatus::Skipped
                },
                model,
                format!("cannot read: {e}"),
            );
        }
    };
    let model = is_model_format(format) || has_model_extension(p);
    if !model {
        let mut e = entry(
            r,
            FileStatus::Skipped,
            false,
            format!("not a model file ({})", format.as_str()),
        );
        e.format = format.as_str().into();
        return e;
    }
    let report = verifier.verify(p);
    let mut fa = entry(r, FileStatus::Pass, true, "");
    fa.format = report.format.clone();
    fa.sha256 = report.sha256.clone();
    fa.warnings = report.warnings.clone();
    if let Some(refusal) = &report.refusal {
        fa.status = FileStatus::Fail;
        fa.reason = refusal.to_string();
    }
    if let Some(l) = log {
        let _ = log_verification(l, &report, EventKind::Verify);
    }
    if fa.status == FileStatus::Fail {
        if let Some(dir) = &verifier.policy().quarantine_dir {
            match quarantine_refused(&report, dir, log, &opts.quarantine) {
                Ok(q) => fa.quarantined_to = Some(q.path),
                Err(e) => fa.warnings.push(format!("quarantine failed: {e}")),
            }
        }
    }
    fa.verification = Some(report);
    fa
}

/// Detects the format from the content (mapped read-only).
fn sniff(p: &Path) -> std::io::Result<Format> {
    let bytes = tensorseal::FileBytes::map(p).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(tensorseal_convert::detect(&bytes))
}
