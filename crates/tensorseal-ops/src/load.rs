//! `load_verified`: what an inference service calls instead of loading a
//! model file directly.

use std::path::{Path, PathBuf};

use tensorseal_convert::Format;

use crate::actions::{log_verification, quarantine_refused};
use crate::audit_log::{AuditLog, EventKind, NewEvent};
use crate::policy::OpsPolicy;
use crate::quarantine::QuarantineOptions;
use crate::verify::{Check, RefusalKind, Verifier, VerifyReport};

/// The verified model.
pub enum Loaded {
    /// A tensorseal container, opened under the policy from the one private
    /// copy of the file that was verified.
    Container(Box<tensorseal::Model>),
    /// Any other format: exactly the bytes that were verified (read into
    /// memory once, so a later change of the file cannot slip in).
    Bytes(tensorseal::FileBytes),
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Loaded::Container(_) => f.write_str("Loaded::Container(..)"),
            Loaded::Bytes(b) => write!(f, "Loaded::Bytes({} bytes)", b.len()),
        }
    }
}

/// A model that passed every check of the policy.
#[derive(Debug)]
pub struct Verified {
    /// The file.
    pub path: PathBuf,
    /// Format detected from the content.
    pub format: String,
    /// The verification report (checks, signers, statement, warnings).
    pub report: VerifyReport,
    /// The model.
    pub model: Loaded,
}

/// A refused model: why, what was checked, and what happened to the file.
#[derive(Debug, thiserror::Error)]
#[error("{}: refused: {kind}{}", path.display(), match quarantined { Some(q) => format!(" (quarantined to {})", q.display()), None => String::new() })]
pub struct Refusal {
    /// The file.
    pub path: PathBuf,
    /// Why it was refused.
    pub kind: RefusalKind,
    /// Every check made.
    pub checks: Vec<Check>,
    /// Where it was moved, when the policy has a quarantine directory.
    pub quarantined: Option<PathBuf>,
    /// The incident report, when quarantined.
    pub incident_report: Option<PathBuf>,
    /// Why quarantining failed (the file is then still at `path`).
    pub quarantine_error: Option<String>,
    /// Why logging failed, if it did.
    pub log_error: Option<String>,
}

/// Verifies `path` per `policy` (signatures, trust threshold, digest, size,
/// the expected model id of [`OpsPolicy::model_id`], inspection of
/// pickle-family content, then rollback against the policy's state), and
/// returns the model or a typed refusal. On a refusal that is a finding about
/// the file ([`RefusalKind::quarantinable`]) the file is quarantined when the
/// policy has a `quarantine_dir`; a verifier-side problem (unreadable file,
/// keys, rollback state) leaves it in place. Every outcome is logged when the
/// policy has an `audit_log`.
// The refusal carries everything an operator needs (checks, quarantine
// outcome); it is the rare path, so its size does not matter.
#[allow(clippy::result_large_err)]
pub fn load_verified(path: &Path, policy: &OpsPolicy) -> Result<Verified, Refusal> {
    let log = policy.audit_log.as_ref().map(AuditLog::new);
    let mut log_error: Option<String> = None;
    let mut note = |r: Result<(), crate::OpsError>| {
        if let Err(e) = r {
            log_error.get_or_insert(e.to_string());
        }
    };
    let verifier = match Verifier::new(policy) {
        Ok(v) => v,
        Err(e) => {
            let kind = RefusalKind::Configuration {
                reason: e.to_string(),
            };
            if let Some(l) = &log {
                note(
                    l.append(
                        NewEvent::new(EventKind::Load, "refused")
                            .file(path)
                            .reason(kind.to_string()),
                    )
                    .map(|_| ()),
                );
            }
            return Err(Refusal {
                path: path.to_path_buf(),
                kind,
                checks: Vec::new(),
                quarantined: None,
                incident_report: None,
                quarantine_error: None,
                log_error,
            });
        }
    };
    // One ordinary read into private memory: the format is detected, the
    // bytes hashed and inspected, and a container validated from that copy,
    // and it is exactly what is returned. A writer changing the file later
    // changes nothing the caller holds.
    let bytes = tensorseal::FileBytes::read(path).ok();
    let (report, container) = match &bytes {
        Some(b) => verifier.verify_bytes_with_model(path, b),
        None => (verifier.verify(path), None),
    };
    if let Some(l) = &log {
        note(log_verification(l, &report, EventKind::Load));
    }
    if report.ok() {
        let model = match (container, bytes) {
            (Some(m), _) => Loaded::Container(Box::new(m)),
            (None, Some(b)) if report.format != Format::Tensorseal.as_str() => Loaded::Bytes(b),
            _ => return Err(unread(path, report, log_error)),
        };
        return Ok(Verified {
            path: path.to_path_buf(),
            format: report.format.clone(),
            report,
            model,
        });
    }
    let kind = report.refusal.clone().unwrap_or(RefusalKind::Unreadable {
        reason: "refused".into(),
    });
    let mut refusal = Refusal {
        path: path.to_path_buf(),
        kind,
        checks: report.checks.clone(),
        quarantined: None,
        incident_report: None,
        quarantine_error: None,
        log_error: None,
    };
    if let Some(dir) = &policy.quarantine_dir {
        if refusal.kind.quarantinable() {
            match quarantine_refused(&report, dir, log.as_ref(), &QuarantineOptions::default()) {
                Ok(q) => {
                    refusal.quarantined = Some(q.path);
                    refusal.incident_report = Some(q.report_path);
                }
                Err(e) => refusal.quarantine_error = Some(e.to_string()),
            }
        }
    }
    refusal.log_error = log_error;
    Err(refusal)
}

/// A file that verified through the mapped path but could not be read into
/// memory: refuse rather than return unverified bytes.
fn unread(path: &Path, report: VerifyReport, log_error: Option<String>) -> Refusal {
    Refusal {
        path: path.to_path_buf(),
        kind: RefusalKind::Unreadable {
            reason: "could not read the file into memory".into(),
        },
        checks: report.checks,
        quarantined: None,
        incident_report: None,
        quarantine_error: None,
        log_error,
    }
}
