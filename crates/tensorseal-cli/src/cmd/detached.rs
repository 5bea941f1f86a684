//! `sign` and `verify` on files that are not containers: detached signatures
//! in `FILE.sig.json` (tensorseal-ops), inspection, quarantine, audit log.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::json;
use tensorseal_ops::{
    quarantine, quarantine_refused, EventKind, NewEvent, Overrides, QuarantineOptions, RefusalKind,
    SignOptions, Verifier,
};

use super::{BindArgs, PolicyArgs};
use crate::ops::{log_event, ops_policy, spinner_for};
use crate::report::json_line;
use crate::{CmdResult, Failure};

/// Whether `path` is to be treated as a tensorseal container: by content,
/// or by its `.tseal` name (so a damaged container gets the loader's error).
pub fn is_container(path: &Path) -> bool {
    if path.extension().is_some_and(|e| e == "tseal") {
        return true;
    }
    use std::io::Read;
    let mut head = [0u8; 64];
    let n = tensorseal_fs::open_regular(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    tensorseal_convert::detect(&head[..n]) == tensorseal_convert::Format::Tensorseal
}

/// The statement flags of `sign` for detached signatures.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct StatementArgs {
    /// Model id in the detached statement (required for detached signatures):
    /// what `verify --model-id` binds to and rollback protection is keyed on.
    #[arg(long, value_name = "ID", alias = "model-name")]
    pub model_id: Option<String>,
    /// Model version in the detached statement: N, A.B or A.B.C (optional
    /// leading v) for rollback protection, compared numerically.
    #[arg(long, value_name = "V")]
    pub model_version: Option<String>,
    /// Training date in the detached statement.
    #[arg(long, value_name = "D")]
    pub training_date: Option<String>,
    /// A dependency and its version, NAME=VERSION (repeatable).
    #[arg(long = "dep", value_name = "NAME=VERSION")]
    pub dep: Vec<String>,
}

impl StatementArgs {
    /// Whether any statement flag was given.
    pub fn any(&self) -> bool {
        self.model_id.is_some()
            || self.model_version.is_some()
            || self.training_date.is_some()
            || !self.dep.is_empty()
    }
}

/// `sign FILE --key KEY` on a non-container: writes or extends the sidecar.
pub fn sign(file: &Path, key_path: &Path, st: &StatementArgs) -> CmdResult {
    if st.model_id.as_deref().is_none_or(|m| m.trim().is_empty()) {
        return Err(Failure {
            message: format!(
                "{}: a detached signature needs --model-id ID (verifiers bind to it and rollback protection is keyed on it; the file name is not used)",
                file.display()
            ),
            status: 64,
        });
    }
    if let Some(v) = st
        .model_version
        .as_deref()
        .filter(|v| tensorseal::rollback::detached_version(v).is_none())
    {
        tell!(
            "tensorseal: warning: --model-version {v:?} is not N, A.B or A.B.C: verifiers with rollback protection will refuse this file"
        );
    }
    let key = super::read_signing_key(key_path)?;
    let mut dependencies = BTreeMap::new();
    for d in &st.dep {
        let (n, v) = d
            .split_once('=')
            .filter(|(n, v)| !n.trim().is_empty() && !v.trim().is_empty())
            .ok_or_else(|| Failure::new(format!("--dep {d:?}: expected NAME=VERSION")))?;
        dependencies.insert(n.trim().to_owned(), v.trim().to_owned());
    }
    let opts = SignOptions {
        model_id: st.model_id.clone(),
        model_version: st.model_version.clone(),
        training_date: st.training_date.clone(),
        dependencies,
        signed_at: None,
    };
    let pb = spinner_for(file, "hashing and signing");
    let res = tensorseal_ops::sign_file(file, &key, &opts);
    pb.finish_and_clear();
    let out = match res {
        Ok(o) => o,
        Err(e) => {
            log_event(
                NewEvent::new(EventKind::Sign, "failed")
                    .file(file)
                    .reason(e.to_string()),
            )?;
            return Err(Failure::new(e));
        }
    };
    log_event(
        NewEvent::new(EventKind::Sign, "ok")
            .file(file)
            .sha256(out.statement.sha256.clone())
            .reason(format!(
                "detached signature by {} ({} signature(s) in {})",
                key.fingerprint(),
                out.signatures,
                out.sidecar_path.display()
            )),
    )?;
    say!(
        "{}: signed {:?} ({}, sha256 {}) as {}; {} signature(s) in {}",
        file.display(),
        out.statement.model_id,
        out.statement.format,
        out.statement.sha256,
        key.fingerprint(),
        out.signatures,
        out.sidecar_path.display()
    );
    Ok(())
}

/// The overrides the `verify` flags describe.
pub fn overrides(
    p: &PolicyArgs,
    bind: &BindArgs,
    quarantine: Option<&PathBuf>,
    allow_unknown: bool,
) -> Overrides {
    Overrides {
        trust: p.trust.clone(),
        threshold: p.threshold.map(|n| n as usize),
        allow_unsigned: p.allow_unsigned.then_some(true),
        allow_unknown_globals: allow_unknown.then_some(true),
        model_id: bind.model_id.clone(),
        rollback_state: bind.state.clone(),
        quarantine_dir: quarantine.cloned(),
        ..Overrides::default()
    }
}

/// `verify FILE` on a non-container.
pub fn verify(
    file: &Path,
    policy_args: &PolicyArgs,
    bind: &BindArgs,
    quarantine_dir: Option<&PathBuf>,
    allow_unknown: bool,
    as_json: bool,
) -> CmdResult {
    let policy = ops_policy(overrides(policy_args, bind, quarantine_dir, allow_unknown))?;
    let verifier = Verifier::new(&policy).map_err(|e| Failure {
        message: e.to_string(),
        status: 2,
    })?;
    let pb = spinner_for(file, "verifying");
    let report = verifier.verify(file);
    pb.finish_and_clear();
    if let Some(log) = crate::ops::audit_log()? {
        tensorseal_ops::log_verification(log, &report, EventKind::Verify)
            .map_err(Failure::operational)?;
    }
    let mut quarantined = None;
    let mut quarantine_error = None;
    let quarantinable = report
        .refusal
        .as_ref()
        .is_some_and(RefusalKind::quarantinable);
    if quarantinable {
        if let Some(dir) = &policy.quarantine_dir {
            match quarantine_refused(
                &report,
                dir,
                crate::ops::audit_log()?,
                &QuarantineOptions::default(),
            ) {
                Ok(q) => {
                    // Every move is announced, whatever the output mode.
                    tell!(
                        "{}: quarantined to {} (incident report {})",
                        file.display(),
                        q.path.display(),
                        q.report_path.display()
                    );
                    quarantined = Some(q);
                }
                Err(e @ tensorseal_ops::OpsError::Log { .. }) => {
                    return Err(Failure::operational(e))
                }
                Err(e) => quarantine_error = Some(e.to_string()),
            }
        }
    }
    let status = match &report.refusal {
        Some(r) if r.is_operational() => 2,
        _ => 1,
    };
    if as_json {
        let mut v = serde_json::to_value(&report).map_err(Failure::new)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("ok".into(), json!(report.ok()));
            o.insert(
                "refusal_reason".into(),
                json!(report.refusal.as_ref().map(|r| r.to_string())),
            );
            o.insert(
                "quarantined_to".into(),
                json!(quarantined.as_ref().map(|q| q.path.display().to_string())),
            );
            o.insert(
                "incident_report".into(),
                json!(quarantined
                    .as_ref()
                    .map(|q| q.report_path.display().to_string())),
            );
            o.insert("quarantine_error".into(), json!(quarantine_error));
        }
        json_line(&v);
    } else {
        for c in &report.checks {
            say!(
                "  {} {:<13} {}",
                if c.ok { "ok  " } else { "FAIL" },
                c.name,
                c.detail
            );
        }
        for w in &report.warnings {
            say!("  warning: {w}");
        }
        if report.refusal.is_none() {
            say!(
                "{}: OK ({}, signed by {})",
                file.display(),
                report.format,
                if report.trusted_signers.is_empty() {
                    "no trusted signer; allowed by policy".to_string()
                } else {
                    report.trusted_signers.join(", ")
                }
            );
        }
        if let Some(r) = &report.refusal {
            let verb = if r.is_operational() {
                "could not verify"
            } else {
                "refused"
            };
            let mut msg = format!("{}: {verb}: {r}", file.display());
            if let Some(e) = &quarantine_error {
                msg.push_str(&format!("; {e}"));
            }
            return Err(Failure {
                message: msg,
                status,
            });
        }
    }
    if report.ok() {
        Ok(())
    } else {
        Err(Failure::silent(status))
    }
}

/// After a container verification failed: log it and quarantine when asked.
pub fn container_refused(
    file: &Path,
    reason: &str,
    quarantine_dir: Option<&PathBuf>,
) -> Result<Option<PathBuf>, Failure> {
    log_event(
        NewEvent::new(EventKind::Verify, "refused")
            .file(file)
            .reason(reason.to_owned()),
    )?;
    let Some(dir) = quarantine_dir else {
        return Ok(None);
    };
    match quarantine(file, dir, reason, &[], &QuarantineOptions::default()) {
        Ok(q) => {
            log_event(
                NewEvent::new(EventKind::Quarantine, "ok")
                    .file(file)
                    .sha256(q.report.sha256.clone())
                    .reason(format!("{reason}; moved to {}", q.path.display())),
            )?;
            Ok(Some(q.path))
        }
        Err(e) => {
            log_event(
                NewEvent::new(EventKind::Quarantine, "failed")
                    .file(file)
                    .reason(e.to_string()),
            )?;
            Err(Failure::new(e))
        }
    }
}
