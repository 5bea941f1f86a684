//! Glue used by the CLI, [`crate::audit_dir`] and [`crate::load_verified`]:
//! log a verification, quarantine a refused file and log that.

use std::path::Path;

use crate::audit_log::{AuditLog, EventKind, NewEvent};
use crate::error::OpsError;
use crate::quarantine::{quarantine, QuarantineOptions, Quarantined};
use crate::verify::VerifyReport;

/// Appends a `verify` event (`ok` or `refused`) for `report` to `log`.
pub fn log_verification(
    log: &AuditLog,
    report: &VerifyReport,
    kind: EventKind,
) -> Result<(), OpsError> {
    let mut ev = NewEvent::new(kind, if report.ok() { "ok" } else { "refused" }).file(&report.path);
    if let Some(s) = &report.sha256 {
        ev = ev.sha256(s.clone());
    }
    if let Some(r) = &report.refusal {
        ev = ev.reason(r.to_string());
    } else if !report.warnings.is_empty() {
        ev = ev.reason(format!("warnings: {}", report.warnings.join("; ")));
    }
    log.append(ev)?;
    if let Some(i) = &report.inspection {
        let mut ev = NewEvent::new(EventKind::Inspect, i.verdict.clone()).file(&report.path);
        if let Some(s) = &report.sha256 {
            ev = ev.sha256(s.clone());
        }
        if let Some(f) = i.findings.first() {
            ev = ev.reason(f.clone());
        }
        log.append(ev)?;
    }
    Ok(())
}

/// Quarantines the refused file of `report` into `dir` (reason: the refusal;
/// only a [`crate::RefusalKind::quarantinable`] refusal moves the file;
/// findings: inspection findings and every failed check) and logs a
/// `quarantine` event (`ok` or `failed`) when `log` is given.
pub fn quarantine_refused(
    report: &VerifyReport,
    dir: &Path,
    log: Option<&AuditLog>,
    opts: &QuarantineOptions,
) -> Result<Quarantined, OpsError> {
    if let Some(r) = report.refusal.as_ref().filter(|r| !r.quarantinable()) {
        // A verifier-side problem (unreadable file, broken key, policy or
        // rollback state) or an unorderable version is no finding about the
        // file: it stays where it is.
        return Err(OpsError::Quarantine {
            path: report.path.clone(),
            reason: format!("not quarantined: {r} is not a finding about the file"),
        });
    }
    let reason = report
        .refusal
        .as_ref()
        .map(|r| r.to_string())
        .unwrap_or_else(|| "quarantined on request".into());
    let mut findings: Vec<String> = report
        .inspection
        .as_ref()
        .map(|i| i.findings.clone())
        .unwrap_or_default();
    findings.extend(report.failures());
    let res = quarantine(&report.path, dir, &reason, &findings, opts);
    if let Some(log) = log {
        let ev = match &res {
            Ok(q) => NewEvent::new(EventKind::Quarantine, "ok")
                .file(&report.path)
                .sha256(q.report.sha256.clone())
                .reason(format!("{reason}; moved to {}", q.path.display())),
            Err(e) => {
                let mut ev = NewEvent::new(EventKind::Quarantine, "failed")
                    .file(&report.path)
                    .reason(e.to_string());
                if let Some(s) = &report.sha256 {
                    ev = ev.sha256(s.clone());
                }
                ev
            }
        };
        log.append(ev)?;
    }
    res
}
