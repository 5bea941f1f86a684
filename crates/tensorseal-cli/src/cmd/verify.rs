//! `tensorseal verify FILE`: a container through the loader; any other file
//! through its detached signature, digest, trust and inspection.

use std::path::PathBuf;

use serde_json::json;
use tensorseal::rollback::Outcome;
use tensorseal::{Model, Verification, VerifyReport};

use super::{detached, BindArgs, PolicyArgs};
use crate::report::json_line;
use crate::{CmdResult, Failure};
use tensorseal_ops::{EventKind, NewEvent};

/// Arguments of `verify`.
#[derive(clap::Args)]
pub struct Args {
    /// The container, or any other model file with a detached signature (FILE.sig.json).
    file: PathBuf,
    /// One JSON document instead of text.
    #[arg(long)]
    json: bool,
    /// Map the file instead of reading it into memory; refused unless the
    /// file lies on a read-only mount (a writer could otherwise change bytes
    /// after verification, or truncate the file and crash the reader).
    #[arg(long)]
    map: bool,
    /// Read the file into memory (the default; kept for compatibility).
    #[arg(long, hide = true)]
    copy: bool,
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    bind: BindArgs,
    /// Move the file (and its sidecar) here when refused, with an incident report.
    #[arg(long, value_name = "DIR")]
    quarantine: Option<PathBuf>,
    /// Let pickles whose inspection verdict is `unknown` pass (detached only).
    #[arg(long)]
    allow_unknown_globals: bool,
}

/// Runs `verify`: structure, manifest digest, padding and every slice digest.
pub fn run(a: Args) -> CmdResult {
    super::refuse_side_outputs(&a.file, a.bind.state.as_deref())?;
    if !detached::is_container(&a.file) {
        return detached::verify(
            &a.file,
            &a.policy,
            &a.bind,
            a.quarantine.as_ref(),
            a.allow_unknown_globals,
            a.json,
        );
    }
    let ops = crate::ops::ops_policy(detached::overrides(
        &a.policy,
        &a.bind,
        a.quarantine.as_ref(),
        false,
    ))?;
    let p = container_policy(&a.policy, &a.bind, &ops)?;
    let store = ops.rollback_store();
    let opts = a.policy.open_options()?.verification(Verification::Eager);
    let pb = crate::ops::spinner_for(&a.file, "verifying");
    let opened = (|| -> tensorseal::Result<(VerifyReport, Option<Outcome>)> {
        // By default the file streams through bounded buffers, every byte
        // read once; --map opens the mapped file and checks the same things.
        // With identities every readable chunk is decrypted, its tag checked.
        let report = if a.map && !a.copy {
            Model::open_with(&a.file, &p, opts.map())?.verify_report()?
        } else {
            tensorseal::verify_file(&a.file, &p, opts)?
        };
        // Rollback is the last step: only a file that passed everything is recorded.
        let outcome = match &store {
            Some(s) => Some(s.check_and_record_report(&report)?),
            None => None,
        };
        Ok((report, outcome))
    })();
    pb.finish_and_clear();
    let opened = match opened {
        Ok(o) => {
            crate::ops::log_event(NewEvent::new(EventKind::Verify, "ok").file(&a.file))?;
            Ok(o)
        }
        Err(e) => {
            // Only a finding about the file moves it; a verifier-side problem
            // (I/O, rollback state, identity) exits 2 and leaves it alone.
            let finding = e.kind().is_finding();
            let q = detached::container_refused(
                &a.file,
                &e.to_string(),
                ops.quarantine_dir.as_ref().filter(|_| finding),
            )?;
            if let Some(q) = &q {
                tell!("{}: quarantined to {}", a.file.display(), q.display());
            }
            Err((
                Failure {
                    message: e.to_string(),
                    status: if finding { 1 } else { 2 },
                },
                q,
            ))
        }
    };
    match opened {
        Ok((model, outcome)) => {
            let checked = model.checked;
            let decrypted = model.tensors_decrypted;
            let bytes = model.bytes_verified;
            let tensors = model.manifest.tensors.len();
            let signers: Vec<_> = model
                .signers
                .iter()
                .map(|s| json!({"fingerprint": s.fingerprint.to_string(), "trusted": s.trusted}))
                .collect();
            if a.json {
                json_line(&json!({
                    "file": a.file.display().to_string(),
                    "ok": true,
                    "signed": !signers.is_empty(),
                    "signatures": signers,
                    "encrypted": model.is_encrypted(),
                    "tensors_decrypted": decrypted,
                    "authenticated": checked.authenticated(),
                    "header_mac_checked": checked.header_mac,
                    "checked": checked.summary(),
                    "model_id": model.info().model_id,
                    "version": model.info().version,
                    "tensors": tensors,
                    "slices": model.slices_verified,
                    "bytes_verified": bytes,
                    "rollback": rollback_json(outcome.as_ref()),
                }));
            } else {
                let trusted: Vec<String> = model
                    .signers
                    .iter()
                    .filter(|s| s.trusted)
                    .map(|s| s.fingerprint.short())
                    .collect();
                let signed = match (model.signers.len(), trusted.len()) {
                    (0, _) => "unsigned".to_string(),
                    (n, 0) => format!("{n} valid signature(s), none trusted"),
                    (n, _) => format!("{n} valid signature(s), trusted: {}", trusted.join(", ")),
                };
                let enc = if !model.is_encrypted() {
                    String::new()
                } else if a.policy.identity.is_empty() {
                    ", encrypted (ciphertext verified, not decrypted)".to_string()
                } else if checked.authenticated() {
                    format!(
                        ", encrypted ({decrypted} of {} tensors decrypted and authenticated by a trusted signature)",
                        tensors
                    )
                } else if checked.header_mac {
                    format!(
                        ", encrypted ({decrypted} of {} tensors decrypted, integrity checked, not signed by a trusted signer)",
                        tensors
                    )
                } else {
                    format!(
                        ", encrypted ({decrypted} of {} tensors decrypted, integrity checked, not signed by a trusted signer; tensor names and shapes not authenticated)",
                        tensors
                    )
                };
                say!(
                    "{}: OK ({signed}{enc}): structure, manifest digest and {} slice digests verified, {} tensors, {} bytes",
                    a.file.display(),
                    model.slices_verified,
                    tensors,
                    bytes
                );
            }
            if let Some(Outcome::Untracked) = outcome {
                tell!(
                    "{}: warning: rollback not tracked (no trusted signer)",
                    a.file.display()
                );
            }
            Ok(())
        }
        Err((e, q)) if a.json => {
            json_line(&json!({
                "file": a.file.display().to_string(),
                "ok": false,
                "error": e.message,
                "quarantined_to": q.map(|q| q.display().to_string()),
            }));
            Err(Failure::silent(e.status))
        }
        Err((e, _)) => Err(e),
    }
}

fn rollback_json(o: Option<&Outcome>) -> serde_json::Value {
    match o {
        None => json!(null),
        Some(Outcome::Untracked) => json!("untracked"),
        Some(Outcome::Recorded { previous }) => {
            json!({"recorded": true, "previous_version": previous.map(|p| p.version)})
        }
    }
}

/// The container policy: the flags, merged over `--policy FILE` when given,
/// with the expected model id.
fn container_policy(
    flags: &PolicyArgs,
    bind: &BindArgs,
    ops: &tensorseal_ops::OpsPolicy,
) -> Result<tensorseal::Policy, Failure> {
    if crate::ops::policy_file().is_some() {
        return ops.container_policy().map_err(|e| Failure {
            message: e.to_string(),
            status: 2,
        });
    }
    let p = flags.policy()?;
    Ok(match &bind.model_id {
        Some(m) => p.expect_model_id(m.clone()),
        None => p,
    })
}
