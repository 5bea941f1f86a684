//! Detached files in the one rollback store ([`tensorseal::rollback`]), and
//! the mapping of the facade's errors onto [`RefusalKind`]s.
//!
//! A detached release is keyed by the signed statement's `model_id` (the
//! same namespace as container model ids), versioned by its signed
//! `model_version` read with [`tensorseal::rollback::detached_version`]
//! (`N`, `A.B` or `A.B.C`, numeric order), and identified by the file's
//! SHA-256. Every trusted statement must name the same model id and
//! version; only a file that passed every other check is recorded.

use tensorseal::rollback::{detached_version, Release, ReleaseKind};
use tensorseal::{ErrorKind, Fingerprint};

use crate::sidecar::VerifiedEntry;
use crate::verify::RefusalKind;

/// The release the trusted statements describe; `Ok(None)` when there is no
/// trusted statement (nothing to record).
pub(crate) fn detached_release(trusted: &[VerifiedEntry]) -> Result<Option<Release>, RefusalKind> {
    let Some(first) = trusted.first() else {
        return Ok(None);
    };
    let st = &first.statement;
    for v in &trusted[1..] {
        let o = &v.statement;
        if o.model_id != st.model_id || o.model_version != st.model_version {
            return Err(RefusalKind::InconsistentStatements {
                reason: format!(
                    "signer {} says model {:?} version {:?}, signer {} says model {:?} version {:?}",
                    first.fingerprint, st.model_id, st.model_version, v.fingerprint, o.model_id, o.model_version
                ),
            });
        }
    }
    let version = st
        .model_version
        .as_deref()
        .and_then(detached_version)
        .ok_or_else(|| RefusalKind::UnorderableVersion {
            model_id: st.model_id.clone(),
            version: st.model_version.clone(),
        })?;
    // The statement's digest equals the file's (checked before); as bytes.
    let digest = Fingerprint::from_hex(&st.sha256)
        .ok_or_else(|| RefusalKind::Tampered {
            reason: format!("signed sha256 {:?} is not 64 hex digits", st.sha256),
        })?
        .0;
    Ok(Some(Release {
        model_id: st.model_id.clone(),
        version,
        digest,
        kind: ReleaseKind::Detached,
    }))
}

/// The refusal for an error of the facade (opening a container, or the
/// rollback store): findings about the file keep their meaning; problems on
/// the verifier's side become [`RefusalKind::State`],
/// [`RefusalKind::Unreadable`] or [`RefusalKind::Configuration`].
pub(crate) fn refusal_of(e: &tensorseal::Error) -> RefusalKind {
    let reason = e.to_string();
    match e.kind() {
        ErrorKind::Substitution { expected, found } => RefusalKind::Substitution {
            expected: expected.clone(),
            found: found.clone(),
        },
        ErrorKind::Rollback { .. }
        | ErrorKind::Equivocation { .. }
        | ErrorKind::RollbackSource { .. } => RefusalKind::Rollback { reason },
        ErrorKind::State { .. } => RefusalKind::State { reason },
        k if k.is_finding() => RefusalKind::Container { reason },
        ErrorKind::Io { .. } => RefusalKind::Unreadable { reason },
        // A state or lock file that is not a regular file: the verifier's.
        ErrorKind::ConfigFile { .. } => RefusalKind::State { reason },
        _ => RefusalKind::Configuration { reason },
    }
}
