//! Global flags of the model-security operations (`--audit-log`, `--policy`,
//! `--quiet`), the audit log, and progress display.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tensorseal_ops::{AuditLog, NewEvent, OpsPolicy, Overrides};

use crate::Failure;

/// Flags accepted before or after any subcommand.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct GlobalArgs {
    /// Append one hash-chained JSON line per security event to this file
    /// (default: the policy's `audit_log`, else $TENSORSEAL_AUDIT_LOG).
    #[arg(long, global = true, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    /// Signer secret key that signs a checkpoint of the audit log at the end of
    /// every command that logged (default: the policy's `audit_log_key`).
    #[arg(long, global = true, value_name = "FILE")]
    pub log_key: Option<PathBuf>,
    /// Model-security policy file (TOML, see examples/policy.toml); flags override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// No progress bars.
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
}

static GLOBALS: OnceLock<GlobalArgs> = OnceLock::new();

/// Records the global flags (once, from `main`).
pub fn init(g: GlobalArgs) {
    let _ = GLOBALS.set(g);
}

fn globals() -> &'static GlobalArgs {
    GLOBALS.get_or_init(GlobalArgs::default)
}

/// The policy file given with `--policy`, if any.
pub fn policy_file() -> Option<&'static Path> {
    globals().policy.as_deref()
}

/// The effective operations policy: `--policy` file, then `o` (flags, with
/// `--audit-log`), then the environment.
pub fn ops_policy(mut o: Overrides) -> Result<OpsPolicy, Failure> {
    if o.audit_log.is_none() {
        o.audit_log = globals().audit_log.clone();
    }
    if o.audit_log_key.is_none() {
        o.audit_log_key = globals().log_key.clone();
    }
    OpsPolicy::resolve(policy_file(), o).map_err(Failure::operational)
}

static LOG: OnceLock<Result<Option<AuditLog>, String>> = OnceLock::new();

/// The audit log in force: `--audit-log`, else the policy file's, else
/// $TENSORSEAL_AUDIT_LOG; with its checkpoint key (`--log-key`, else the
/// policy's `audit_log_key`). A key that cannot be read is an error (exit 2).
pub fn audit_log() -> Result<Option<&'static AuditLog>, Failure> {
    LOG.get_or_init(|| {
        let p = ops_policy(Overrides::default()).map_err(|f| f.message)?;
        let Some(path) = p.audit_log else {
            return Ok(None);
        };
        let mut log = AuditLog::new(path);
        if let Some(k) = &p.audit_log_key {
            log = log.with_key(crate::cmd::read_signing_key(k).map_err(|f| f.message)?);
        }
        Ok(Some(log))
    })
    .as_ref()
    .map(Option::as_ref)
    .map_err(|m| Failure::operational(format!("audit log: {m}")))
}

/// Appends an event when a log is in force. A log that cannot be written is
/// an error (exit 2): the event must not go unrecorded silently.
pub fn log_event(ev: NewEvent) -> Result<(), Failure> {
    match audit_log()? {
        Some(l) => l.append(ev).map(|_| ()).map_err(Failure::operational),
        None => Ok(()),
    }
}

/// Writes the signed checkpoint when this process logged and has a key.
pub fn finish_log() -> Result<(), Failure> {
    if let Some(Ok(Some(l))) = LOG.get() {
        l.checkpoint().map_err(Failure::operational)?;
    }
    Ok(())
}

/// Whether progress may be drawn (stderr is a terminal and no `--quiet`).
pub fn progress_enabled() -> bool {
    !globals().quiet && std::io::stderr().is_terminal()
}

/// Files at least this large get a progress display.
pub const LARGE_FILE: u64 = 64 << 20;

/// A bar counting `len` units (files or bytes); hidden when quiet.
pub fn bar(len: u64, what: &str) -> ProgressBar {
    if !progress_enabled() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    let template = if what == "bytes" {
        "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} ({eta})"
    } else {
        "{spinner} {msg} [{bar:30}] {pos}/{len} files ({eta})"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

/// A spinner for one long operation on `path`, shown only when the file is
/// large and progress is enabled; finish it with `finish_and_clear`.
pub fn spinner_for(path: &Path, msg: &str) -> ProgressBar {
    let large = std::fs::metadata(path).is_ok_and(|m| m.len() >= LARGE_FILE);
    if !large || !progress_enabled() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        pb.set_style(style);
    }
    pb.set_message(crate::report::escape(&format!("{msg} {}", path.display())).into_owned());
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}
