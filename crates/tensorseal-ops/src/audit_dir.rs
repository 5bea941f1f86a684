//! Audit of a directory tree, for CI.
//!
//! **What counts as a model file** is decided from the content the way a
//! loader sees it, never by name alone
//! ([`tensorseal_convert::loadable::judge`]): every file from which
//! `pickle.load`, `joblib.load`, `torch.load` or
//! `numpy.load(allow_pickle=True)` could import or call anything (a pickle
//! read from offset 0 whatever follows its STOP, one layer of zlib, gzip or
//! bz2 around one, a zip with a NumPy member), every complete pickle, every
//! PyTorch, NumPy, joblib, safetensors or tensorseal file, every
//! lz4/xz/lzma stream (not looked into) **and** every file whose name ends
//! in a model extension ([`MODEL_EXTENSIONS`]) whatever its content.
//! Empty files, source code and text no loader would run are not model
//! files. Git LFS pointers are reported as such (`lfs-pointer`).
//!
//! **Pass rule**: every model file must pass [`crate::Verifier::verify`]
//! under the policy (where content that is not recognised, `unknown`,
//! `zip`, `compressed` or `7z`, passes only with a trusted detached
//! signature, even when unsigned files are allowed). With
//! [`AuditOptions::require_models`], a tree without any model file, and
//! every Git LFS pointer (model not pulled), fail too.
//!
//! **Symbolic links** are followed and what they name is judged wherever it
//! is (under `.git/`, in the quarantine directory, outside the tree, named
//! `*.sig.json`, the audit log): a loader opening the link runs the target.
//! The entry keeps the link's path and shows the `target`. Each file is
//! judged once however many paths name it (an HF snapshot link and its
//! blob): every path that has its own sidecar is verified with it; when
//! none has, one path is, and the other paths share its outcome. A link to
//! a directory is walked once per real directory (cycles end there). A
//! dangling link, a link loop and a link to a FIFO, socket or device
//! **fail** (nothing is read from them; what appears there later would be
//! loaded unjudged), and so does a FIFO, socket or device in the tree.
//!
//! **Walk**: directory entries named `.git` and the quarantine directory are
//! not entered (what links into them is judged). A sidecar (`*.sig.json`)
//! is skipped only when it parses as a sidecar; any other content under
//! that name is judged like any file. Depth and file count are bounded
//! ([`AuditOptions`]); hitting a bound, or an unreadable directory or
//! entry, fails the audit.
//!
//! **Log**: with an audit log, every verification and quarantine is logged
//! and a failure to append is an error (the audit stops), as is a failure
//! to write the signed checkpoint when the log has a key.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use tensorseal_convert::loadable::{judge, Judgement};
use tensorseal_convert::Format;

use crate::actions::{log_verification, quarantine_refused};
use crate::audit_log::{AuditLog, EventKind, NewEvent};
use crate::error::OpsError;
use crate::quarantine::QuarantineOptions;
use crate::sidecar::{is_sidecar_path, sidecar_path, Sidecar};
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
    /// Fail when no model file is found, and on every Git LFS pointer.
    pub require_models: bool,
    /// The log to write (e.g. with a checkpoint key); default: the policy's.
    pub log: Option<AuditLog>,
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions {
            max_depth: 64,
            max_files: 100_000,
            progress: None,
            quarantine: QuarantineOptions::default(),
            require_models: false,
            log: None,
        }
    }
}

impl std::fmt::Debug for AuditOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditOptions")
            .field("max_depth", &self.max_depth)
            .field("max_files", &self.max_files)
            .field("require_models", &self.require_models)
            .field("log", &self.log)
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
    /// For a path reached through a symbolic link: the file judged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<PathBuf>,
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
    /// Git LFS pointer files (models not pulled).
    pub lfs_pointers: u64,
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
    /// Said about the tree as a whole ("no model files found", LFS pointers).
    pub notes: Vec<String>,
}

/// Whether `path`'s extension is in [`MODEL_EXTENSIONS`].
pub fn has_model_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| MODEL_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
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
        target: None,
        verification: None,
    }
}

/// A path a loader could open that names a regular file.
struct Found {
    /// Relative to the root, as walked (a link keeps its own name).
    rel: PathBuf,
    /// The path as walked (through links).
    path: PathBuf,
    /// The file it names.
    canon: PathBuf,
    /// Reached through a symbolic link (the file itself or a directory above).
    via_link: bool,
}

struct Walk {
    files: Vec<Found>,
    out: Vec<FileAudit>,
    truncated: bool,
}

fn walk(
    root: &Path,
    root_canon: &Path,
    quarantine_canon: Option<&Path>,
    opts: &AuditOptions,
) -> Walk {
    let mut w = Walk {
        files: Vec::new(),
        out: Vec::new(),
        truncated: false,
    };
    let mut visited: HashSet<PathBuf> = HashSet::from([root_canon.to_path_buf()]);
    // (path as walked, path relative to root, depth, reached through a link)
    let mut stack: Vec<(PathBuf, PathBuf, usize, bool)> =
        vec![(root.to_path_buf(), PathBuf::new(), 0, false)];
    let mut dir_links: Vec<(PathBuf, PathBuf, PathBuf, usize)> = Vec::new();
    loop {
        while let Some((dir, rel_dir, depth, via)) = stack.pop() {
            let rd = match std::fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) => {
                    w.out.push(entry(
                        shown(&rel_dir),
                        FileStatus::Fail,
                        false,
                        format!("cannot read directory: {e}"),
                    ));
                    continue;
                }
            };
            let mut names = Vec::new();
            for e in rd {
                match e {
                    Ok(e) => names.push(e.file_name()),
                    Err(e) => w.out.push(entry(
                        shown(&rel_dir),
                        FileStatus::Fail,
                        false,
                        format!("cannot list a directory entry: {e}"),
                    )),
                }
            }
            names.sort();
            for name in names {
                let p = dir.join(&name);
                let r = rel_dir.join(&name);
                let meta = match std::fs::symlink_metadata(&p) {
                    Ok(m) => m,
                    Err(e) => {
                        w.out.push(entry(
                            r,
                            FileStatus::Fail,
                            false,
                            format!("cannot stat: {e}"),
                        ));
                        continue;
                    }
                };
                let ft = meta.file_type();
                if ft.is_dir() {
                    if name == ".git" {
                        continue;
                    }
                    let Ok(c) = std::fs::canonicalize(&p) else {
                        w.out
                            .push(entry(r, FileStatus::Fail, false, "cannot resolve"));
                        continue;
                    };
                    if Some(c.as_path()) == quarantine_canon || !visited.insert(c) {
                        continue;
                    }
                    if depth + 1 > opts.max_depth {
                        w.truncated = true;
                        w.out.push(entry(
                            r,
                            FileStatus::Fail,
                            false,
                            format!("deeper than {} levels: not audited", opts.max_depth),
                        ));
                        continue;
                    }
                    stack.push((p, r, depth + 1, via));
                } else if ft.is_symlink() {
                    let shown_target = std::fs::read_link(&p)
                        .map(|t| t.display().to_string())
                        .unwrap_or_else(|_| "?".into());
                    let resolved = std::fs::metadata(&p)
                        .and_then(|m| std::fs::canonicalize(&p).map(|c| (m, c)));
                    match resolved {
                        Err(e) => {
                            let mut fa = entry(
                                r,
                                FileStatus::Fail,
                                false,
                                format!(
                                    "symbolic link to {shown_target} that does not resolve ({e}): refused, whatever appears there later would be loaded unjudged"
                                ),
                            );
                            fa.format = "symlink".into();
                            w.out.push(fa);
                        }
                        Ok((m, c)) if m.is_dir() => dir_links.push((p, r, c, depth)),
                        Ok((m, c)) if m.is_file() => {
                            if w.files.len() >= opts.max_files {
                                w.truncated = true;
                                continue;
                            }
                            w.files.push(Found {
                                rel: r,
                                path: p,
                                canon: c,
                                via_link: true,
                            });
                        }
                        Ok((_, c)) => {
                            let mut fa = entry(
                                r,
                                FileStatus::Fail,
                                false,
                                "symbolic link to a FIFO, socket or device: never read, refused",
                            );
                            fa.target = Some(c);
                            w.out.push(fa);
                        }
                    }
                } else if ft.is_file() {
                    if w.files.len() >= opts.max_files {
                        w.truncated = true;
                        continue;
                    }
                    let canon = std::fs::canonicalize(&p).unwrap_or_else(|_| p.clone());
                    w.files.push(Found {
                        rel: r,
                        path: p,
                        canon,
                        via_link: via,
                    });
                } else {
                    w.out.push(entry(
                        r,
                        FileStatus::Fail,
                        false,
                        "a FIFO, socket or device: never read, refused (a loader opening it reads whatever it yields)",
                    ));
                }
            }
        }
        let Some((p, r, c, depth)) = dir_links.pop() else {
            break;
        };
        let mut fa = entry(r.clone(), FileStatus::Skipped, false, "");
        fa.format = "symlink".into();
        fa.target = Some(c.clone());
        if visited.contains(&c) {
            fa.reason = "symbolic link to a directory audited under its own path".into();
        } else if depth + 1 > opts.max_depth {
            w.truncated = true;
            fa.status = FileStatus::Fail;
            fa.reason = format!("deeper than {} levels: not audited", opts.max_depth);
        } else {
            visited.insert(c);
            fa.reason =
                "symbolic link to a directory: followed, its files are listed under this path"
                    .into();
            stack.push((p, r, depth + 1, true));
        }
        w.out.push(fa);
    }
    w
}

fn shown(rel: &Path) -> PathBuf {
    if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel.to_path_buf()
    }
}

/// Walks `root` and audits every file (see the module docs). Quarantines
/// failed model files (not links) when the verifier's policy has a
/// quarantine directory, and logs every verification, quarantine and the
/// audit itself when there is an audit log. `Err` when the root cannot be
/// read at all or the log cannot be written.
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
    let log = opts
        .log
        .clone()
        .or_else(|| policy.audit_log.as_ref().map(AuditLog::new));

    let Walk {
        files,
        mut out,
        truncated,
    } = walk(root, &root_canon, quarantine_canon.as_deref(), opts);

    // Every path naming the same file is judged together.
    let mut groups: BTreeMap<&Path, Vec<&Found>> = BTreeMap::new();
    for f in &files {
        groups.entry(f.canon.as_path()).or_default().push(f);
    }
    let total = files.len() as u64;
    let mut done = 0u64;
    for (canon, members) in groups {
        let judged = judge_group(canon, &members, verifier, log.as_ref(), opts)?;
        out.extend(judged);
        done += members.len() as u64;
        if let Some(cb) = &opts.progress {
            cb(done, total, &members[0].path);
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
    let mut notes = Vec::new();
    let lfs: Vec<String> = out
        .iter()
        .filter(|f| f.format == LFS_FORMAT)
        .map(|f| f.path.display().to_string())
        .collect();
    if !lfs.is_empty() {
        notes.push(format!(
            "{} Git LFS pointer file(s), model(s) not pulled (run `git lfs pull`): {}",
            lfs.len(),
            lfs.join(", ")
        ));
    }
    if !out.iter().any(|f| f.model_file) {
        let note = format!("no model files found under {}", root.display());
        if opts.require_models {
            out.push(entry(
                PathBuf::from("."),
                FileStatus::Fail,
                false,
                format!("{note} (--require-models)"),
            ));
        }
        notes.push(note);
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    let mut s = AuditSummary::default();
    for f in &out {
        s.files += 1;
        if f.model_file {
            s.model_files += 1;
        }
        if f.format == LFS_FORMAT {
            s.lfs_pointers += 1;
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
        l.append(
            NewEvent::new(EventKind::Audit, if pass { "ok" } else { "refused" })
                .file(root)
                .reason(format!(
                    "{} model file(s): {} passed, {} failed, {} skipped, {} quarantined",
                    s.model_files, s.passed, s.failed, s.skipped, s.quarantined
                )),
        )?;
        l.checkpoint()?;
    }
    Ok(AuditReport {
        root: root.to_path_buf(),
        pass,
        summary: s,
        files: out,
        notes,
    })
}

/// The `format` of a Git LFS pointer entry.
pub const LFS_FORMAT: &str = "lfs-pointer";

fn judge_group(
    canon: &Path,
    members: &[&Found],
    verifier: &Verifier,
    log: Option<&AuditLog>,
    opts: &AuditOptions,
) -> Result<Vec<FileAudit>, OpsError> {
    let mk = |f: &Found, status, model, reason: String| {
        let mut e = entry(f.rel.clone(), status, model, reason);
        if f.via_link {
            e.target = Some(canon.to_path_buf());
        }
        e
    };
    // A sidecar is skipped only when it is one; other content under a
    // sidecar's name is judged.
    if members
        .iter()
        .all(|f| is_sidecar_path(&f.path) && Sidecar::read(&f.path).is_ok())
    {
        return Ok(members
            .iter()
            .map(|f| {
                mk(
                    f,
                    FileStatus::Skipped,
                    false,
                    "sidecar (checked with its file)".into(),
                )
            })
            .collect());
    }
    let judgement = match tensorseal::FileBytes::map(canon) {
        Ok(bytes) => judge(&bytes),
        Err(e) => {
            let model = members.iter().any(|f| has_model_extension(&f.path));
            return Ok(members
                .iter()
                .map(|f| {
                    let status = if model {
                        FileStatus::Fail
                    } else {
                        FileStatus::Skipped
                    };
                    mk(f, status, model, format!("cannot read: {e}"))
                })
                .collect());
        }
    };
    let by_name = members.iter().find(|f| has_model_extension(&f.path));
    let why = match judgement {
        Judgement::Model { why, .. } => why,
        Judgement::NotModel { why, .. } if by_name.is_some() => {
            format!("{why}; a model file by its name")
        }
        Judgement::NotModel { format, why } => {
            return Ok(members
                .iter()
                .map(|f| {
                    let mut e = mk(
                        f,
                        FileStatus::Skipped,
                        false,
                        format!("not a model file: {why}"),
                    );
                    e.format = format.as_str().into();
                    e
                })
                .collect());
        }
        Judgement::LfsPointer => {
            return Ok(members
                .iter()
                .map(|f| {
                    let (status, reason) = if opts.require_models {
                        (
                            FileStatus::Fail,
                            "Git LFS pointer, not pulled (--require-models)",
                        )
                    } else {
                        (
                            FileStatus::Skipped,
                            "Git LFS pointer, not pulled: not a model file yet",
                        )
                    };
                    let mut e = mk(f, status, false, reason.into());
                    e.format = LFS_FORMAT.into();
                    e
                })
                .collect());
        }
    };
    // Every path with its own sidecar is verified with it; without any,
    // the first path not reached through a link (else the first).
    let mut to_verify: Vec<&Found> = members
        .iter()
        .copied()
        .filter(|f| std::fs::symlink_metadata(sidecar_path(&f.path)).is_ok())
        .collect();
    if to_verify.is_empty() {
        to_verify.push(
            members
                .iter()
                .copied()
                .find(|f| !f.via_link)
                .unwrap_or(members[0]),
        );
    }
    let mut results: Vec<FileAudit> = Vec::new();
    let mut group_fail: Option<String> = None;
    for f in &to_verify {
        let report = verifier.verify(&f.path);
        if let Some(l) = log {
            log_verification(l, &report, EventKind::Verify)?;
        }
        let mut fa = mk(f, FileStatus::Pass, true, String::new());
        fa.format = report.format.clone();
        fa.sha256 = report.sha256.clone();
        fa.warnings = report.warnings.clone();
        if let Some(refusal) = &report.refusal {
            fa.status = FileStatus::Fail;
            fa.reason = format!("{refusal} (model file: {why})");
            group_fail.get_or_insert_with(|| f.rel.display().to_string());
            // Links and what lies behind them are reported, never moved.
            if !f.via_link {
                if let Some(dir) = &verifier.policy().quarantine_dir {
                    match quarantine_refused(&report, dir, log, &opts.quarantine) {
                        Ok(q) => fa.quarantined_to = Some(q.path),
                        Err(e @ OpsError::Log { .. }) => return Err(e),
                        Err(e) => fa.warnings.push(format!("quarantine failed: {e}")),
                    }
                }
            }
        }
        fa.verification = Some(report);
        results.push(fa);
    }
    let rep = results
        .iter()
        .find(|r| r.status == FileStatus::Fail)
        .unwrap_or(&results[0])
        .clone();
    for f in members {
        if to_verify.iter().any(|v| std::ptr::eq(*v, *f)) {
            continue;
        }
        let mut e = mk(f, FileStatus::Pass, true, String::new());
        e.format = rep.format.clone();
        e.sha256 = rep.sha256.clone();
        match &group_fail {
            Some(p) => {
                e.status = FileStatus::Fail;
                e.reason = format!("same file as {p}, refused there: {}", rep.reason);
            }
            None => {
                e.reason = format!("same file as {} (verified there)", rep.path.display());
            }
        }
        results.push(e);
    }
    Ok(results)
}
