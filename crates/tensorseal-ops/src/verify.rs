//! Verification of any model file: detached signatures, digest, size, trust
//! threshold, rollback, inspection; containers through `tensorseal::Model`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;
use tensorseal::TrustStore;
use tensorseal_convert::Format;

use crate::error::OpsError;
use crate::inspection::{self, Inspection};
use crate::policy::OpsPolicy;
use crate::rollback::{detached_release, refusal_of};
use crate::sidecar::{sidecar_path, Sidecar, Statement, VerifiedEntry};
use crate::util::{file_name, sha256_hex};

/// One check and its result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable name: `read`, `format`, `size-warning`, `container`, `sidecar`,
    /// `signature[N]`, `file-name`, `sha256`, `size`, `trust`, `model-id`,
    /// `rollback`, `inspection`.
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// What was found.
    pub detail: String,
}

/// Why a file was refused. Each case is its own variant so callers can match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RefusalKind {
    /// The path names something that is not a regular file (a dangling
    /// link, a link loop, a directory, a FIFO, a device): refused, never
    /// read, and not quarantined (there is no file to move).
    #[error("not a regular file: {reason}")]
    NotAFile {
        /// Why.
        reason: String,
    },
    /// The file could not be read.
    #[error("cannot read the file: {reason}")]
    Unreadable {
        /// Why.
        reason: String,
    },
    /// No sidecar and the policy requires a signature.
    #[error("unsigned: no detached signature {sidecar} and the policy requires one")]
    MissingSidecar {
        /// The sidecar path looked for.
        sidecar: PathBuf,
    },
    /// The sidecar is not a valid sidecar document.
    #[error("malformed sidecar: {reason}")]
    MalformedSidecar {
        /// Why.
        reason: String,
    },
    /// A signature in the sidecar does not verify.
    #[error("invalid signature {index}: {reason}")]
    BadSignature {
        /// 1-based index in the sidecar.
        index: usize,
        /// Why.
        reason: String,
    },
    /// The sidecar's digest names another file.
    #[error("the sidecar is for another file: signed {signed_name:?} with sha256 {signed_sha256}, this file has sha256 {actual_sha256}")]
    WrongFile {
        /// The file name in the statement.
        signed_name: String,
        /// The digest in the statement.
        signed_sha256: String,
        /// This file's digest.
        actual_sha256: String,
    },
    /// The file's digest or size differ from what was signed.
    #[error("modified since signing: {reason}")]
    Tampered {
        /// What differs.
        reason: String,
    },
    /// Valid signatures, none by a trusted signer.
    #[error("no trusted signer: signed only by {}", signers.join(", "))]
    UntrustedSigner {
        /// The signers' fingerprints.
        signers: Vec<String>,
    },
    /// Fewer distinct trusted signers than the policy's threshold.
    #[error("{trusted} trusted signer(s), the policy requires {required}")]
    BelowThreshold {
        /// Distinct trusted signers found.
        trusted: usize,
        /// Required.
        required: usize,
    },
    /// An older release of the model than one already accepted, the same
    /// version with other content (equivocation), or a release of another
    /// kind than the model id is tracked from.
    #[error("{reason}")]
    Rollback {
        /// Why.
        reason: String,
    },
    /// A validly signed file of another model than the one expected.
    #[error("substitution: expected model {expected:?}, the file is signed as model {found:?}")]
    Substitution {
        /// The model id the verifier expects.
        expected: String,
        /// The model id the file carries.
        found: String,
    },
    /// Trusted signers disagree about the model id or version of the file.
    #[error("inconsistent signed statements: {reason}")]
    InconsistentStatements {
        /// What differs.
        reason: String,
    },
    /// Rollback protection is on and the signed version cannot be ordered
    /// (missing, or not `N`, `A.B` or `A.B.C`). Not quarantined: the file
    /// is not suspect, the verifier cannot protect it.
    #[error("model {model_id:?}: version {} cannot be ordered for rollback protection (expected N, A.B or A.B.C)", version.as_deref().map(|v| format!("{v:?}")).unwrap_or_else(|| "missing".into()))]
    UnorderableVersion {
        /// The model id.
        model_id: String,
        /// The signed version text, if any.
        version: Option<String>,
    },
    /// The rollback state could not be read, parsed, locked or written: the
    /// verifier's problem, not a verdict about the file.
    #[error("rollback state: {reason}")]
    State {
        /// Why.
        reason: String,
    },
    /// Inspection found the content unsafe (signing does not make a pickle safe).
    #[error("inspection verdict {verdict}: {}", findings.first().map(String::as_str).unwrap_or("no detail"))]
    UnsafeContent {
        /// The verdict.
        verdict: String,
        /// The findings.
        findings: Vec<String>,
    },
    /// Content that is not recognised (`unknown`, `zip`, `compressed`, `7z`)
    /// and that no trusted signer signed, even where unsigned files are allowed.
    #[error("content not recognised ({format}) and not signed by a trusted signer")]
    UnrecognisedContent {
        /// The detected format.
        format: String,
    },
    /// The verifier could not be set up (e.g. a trusted key file is unreadable).
    #[error("verifier configuration: {reason}")]
    Configuration {
        /// Why.
        reason: String,
    },
    /// A tensorseal container was refused by `tensorseal::Model::open`.
    #[error("container refused: {reason}")]
    Container {
        /// The loader's error.
        reason: String,
    },
}

impl RefusalKind {
    /// Whether this is a problem on the verifier's side (the file could not
    /// be read, the keys or policy are unusable, the rollback state is
    /// broken): no verdict about the file; the CLI exits 2.
    pub fn is_operational(&self) -> bool {
        matches!(
            self,
            RefusalKind::Unreadable { .. }
                | RefusalKind::Configuration { .. }
                | RefusalKind::State { .. }
        )
    }

    /// Whether the refusal is a finding about the file itself (digest,
    /// signature, trust, content, rollback, substitution), the only
    /// refusals that move a file into quarantine.
    pub fn quarantinable(&self) -> bool {
        !self.is_operational()
            && !matches!(
                self,
                RefusalKind::UnorderableVersion { .. } | RefusalKind::NotAFile { .. }
            )
    }
}

/// The result of verifying one file: every check, and the refusal if any.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The file.
    pub path: PathBuf,
    /// Format detected from the content.
    pub format: String,
    /// Size in bytes, when read.
    pub size: Option<u64>,
    /// SHA-256 (hex), when read.
    pub sha256: Option<String>,
    /// Every check, in order.
    pub checks: Vec<Check>,
    /// Warnings (size threshold, untrusted extra signers, renamed file...).
    pub warnings: Vec<String>,
    /// Fingerprints of the trusted signers whose signatures verified.
    pub trusted_signers: Vec<String>,
    /// The statement of the first trusted signature, if any.
    pub statement: Option<Statement>,
    /// The inspection, for pickle-family formats.
    pub inspection: Option<Inspection>,
    /// Why the file was refused; `None` means it passed.
    pub refusal: Option<RefusalKind>,
}

impl VerifyReport {
    /// Whether the file passed.
    pub fn ok(&self) -> bool {
        self.refusal.is_none()
    }

    /// Every failed check as `name: detail`.
    pub fn failures(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect()
    }

    fn check(&mut self, name: impl Into<String>, ok: bool, detail: impl Into<String>) {
        self.checks.push(Check {
            name: name.into(),
            ok,
            detail: detail.into(),
        });
    }

    fn refuse(&mut self, r: RefusalKind) {
        if self.refusal.is_none() {
            self.refusal = Some(r);
        }
    }
}

/// A verifier with its trust store loaded once (for many files).
#[derive(Debug, Clone)]
pub struct Verifier {
    policy: OpsPolicy,
    trust: TrustStore,
    container: tensorseal::Policy,
    store: Option<tensorseal::RollbackStore>,
}

impl Verifier {
    /// Loads the policy's trusted keys.
    pub fn new(policy: &OpsPolicy) -> Result<Verifier, OpsError> {
        let trust = policy.trust_store()?;
        let container = policy.container_policy()?;
        Ok(Verifier {
            policy: policy.clone(),
            trust,
            container,
            store: policy.rollback_store(),
        })
    }

    /// The policy.
    pub fn policy(&self) -> &OpsPolicy {
        &self.policy
    }

    /// Verifies the file at `path` (mapped read-only).
    pub fn verify(&self, path: &Path) -> VerifyReport {
        let mut report = empty_report(path);
        // Links are followed (the sidecar stays beside the path given).
        if let Err(reason) = crate::util::resolve_model_path(path) {
            report.check("read", false, reason.clone());
            // Something is there (a dangling link, a FIFO, a device): a
            // finding about the path. Nothing there: nothing to judge.
            report.refuse(if std::fs::symlink_metadata(path).is_ok() {
                RefusalKind::NotAFile { reason }
            } else {
                RefusalKind::Unreadable { reason }
            });
            return report;
        }
        match tensorseal::FileBytes::map(path) {
            Ok(bytes) => {
                self.verify_bytes_into(path, &bytes, None, &mut report);
                report
            }
            Err(e) => {
                report.check("read", false, e.to_string());
                report.refuse(RefusalKind::Unreadable {
                    reason: e.to_string(),
                });
                report
            }
        }
    }

    /// Verifies `bytes` as the content of `path` (the sidecar is read from
    /// beside `path`; a container is opened from `path`).
    pub fn verify_bytes(&self, path: &Path, bytes: &[u8]) -> VerifyReport {
        let mut report = empty_report(path);
        self.verify_bytes_into(path, bytes, None, &mut report);
        report
    }

    /// [`Verifier::verify_bytes`] over bytes already read, keeping the opened
    /// container: a container is validated from these same bytes (not
    /// re-read from `path`), so the model returned is what was verified.
    pub(crate) fn verify_bytes_with_model(
        &self,
        path: &Path,
        bytes: &tensorseal::FileBytes,
    ) -> (VerifyReport, Option<tensorseal::Model>) {
        let mut report = empty_report(path);
        let model = self.verify_bytes_into(path, bytes, Some(bytes), &mut report);
        (report, model)
    }

    fn verify_bytes_into(
        &self,
        path: &Path,
        bytes: &[u8],
        owned: Option<&tensorseal::FileBytes>,
        r: &mut VerifyReport,
    ) -> Option<tensorseal::Model> {
        let size = bytes.len() as u64;
        let sha = sha256_hex(bytes);
        r.size = Some(size);
        r.sha256 = Some(sha.clone());
        r.check("read", true, format!("{size} bytes, sha256 {sha}"));
        let format = tensorseal_convert::detect(bytes);
        r.format = format.as_str().into();
        r.check("format", true, format.as_str());
        if size > self.policy.size_warning_bytes {
            let w = format!(
                "size {size} bytes exceeds the warning threshold of {} bytes",
                self.policy.size_warning_bytes
            );
            r.check("size-warning", true, w.clone());
            r.warnings.push(w);
        }
        if format == Format::Tensorseal {
            let opened = match owned {
                Some(b) => tensorseal::Model::from_file_bytes(
                    b,
                    Some(path),
                    &self.container,
                    tensorseal::OpenOptions::new(),
                ),
                None => tensorseal::Model::open(path, &self.container),
            };
            return match opened {
                Ok(m) => {
                    let trusted: Vec<String> = m
                        .signers()
                        .iter()
                        .filter(|s| s.trusted)
                        .map(|s| s.fingerprint.to_string())
                        .collect();
                    r.check(
                        "container",
                        true,
                        format!(
                            "opened under the policy: structure, manifest and slice digests verified, {} trusted signer(s)",
                            trusted.len()
                        ),
                    );
                    if let Some(expected) = &self.policy.model_id {
                        r.check("model-id", true, format!("{expected:?}, as expected"));
                    }
                    r.trusted_signers = trusted;
                    if let Some(store) = &self.store {
                        let res = store.check_and_record(&m);
                        self.rollback_result(res, &m.info().model_id, r);
                    }
                    r.refusal.is_none().then_some(m)
                }
                Err(e) => {
                    let kind = refusal_of(&e);
                    let name = if matches!(kind, RefusalKind::Substitution { .. }) {
                        "model-id"
                    } else {
                        "container"
                    };
                    r.check(name, false, e.to_string());
                    r.refuse(kind);
                    None
                }
            };
        }
        let entries = self.check_signatures(path, bytes.len() as u64, &sha, r);
        self.check_model_id(&entries, r);
        let insp = {
            let i = inspection::inspect(bytes, format);
            let pickle_family = inspection::is_pickle_family(format);
            let ok = if pickle_family {
                i.passes(self.policy.allow_unknown_globals)
            } else {
                // Other formats are not pickles: only what the inspector
                // proves bad (a hidden dangerous pickle, a malformed
                // header) refuses them; the signature vouches for the rest.
                !matches!(i.verdict.as_str(), "dangerous" | "malformed")
            };
            let mut detail = format!("verdict {}", i.verdict);
            if let Some(f) = i.findings.first() {
                detail.push_str(&format!("; {f}"));
            }
            if ok && i.verdict != "safe" {
                r.warnings.push(if pickle_family {
                    "inspection verdict unknown, allowed by policy".to_string()
                } else {
                    format!("content not inspectable (verdict {})", i.verdict)
                });
            }
            r.check("inspection", ok, detail);
            r.inspection = Some(i.clone());
            (!ok).then_some(i)
        };
        let recognised = !matches!(
            format,
            Format::Unknown | Format::Zip | Format::Tar | Format::Compressed(_) | Format::SevenZip
        );
        if !recognised && r.trusted_signers.is_empty() && r.refusal.is_none() {
            // Unsigned files may be allowed, but only content that can be
            // checked: an unrecognised file is vouched for by nothing.
            r.check(
                "content",
                false,
                format!("{} content without a trusted signature", format.as_str()),
            );
            r.refuse(RefusalKind::UnrecognisedContent {
                format: format.as_str().into(),
            });
        }
        if r.refusal.is_none() && insp.is_none() {
            self.check_rollback(&entries, r);
        }
        if let Some(i) = insp {
            r.refuse(RefusalKind::UnsafeContent {
                verdict: i.verdict,
                findings: i.findings,
            });
        }
        None
    }

    /// Sidecar, signatures, name, digest, size, trust. Returns the trusted
    /// verified entries.
    fn check_signatures(
        &self,
        path: &Path,
        size: u64,
        sha: &str,
        r: &mut VerifyReport,
    ) -> Vec<VerifiedEntry> {
        let sc_path = sidecar_path(path);
        let sidecar = match std::fs::symlink_metadata(&sc_path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if self.policy.allow_unsigned {
                    r.check(
                        "sidecar",
                        true,
                        "absent; unsigned files allowed by the policy",
                    );
                    r.warnings.push("unsigned file".into());
                } else {
                    r.check("sidecar", false, format!("{} not found", sc_path.display()));
                    r.refuse(RefusalKind::MissingSidecar { sidecar: sc_path });
                }
                return Vec::new();
            }
            _ => match Sidecar::read(&sc_path) {
                Ok(s) => {
                    r.check(
                        "sidecar",
                        true,
                        format!(
                            "{} signature(s) in {}",
                            s.signatures.len(),
                            sc_path.display()
                        ),
                    );
                    s
                }
                Err(e) => {
                    r.check("sidecar", false, e.to_string());
                    // An I/O error says nothing about the file; a FIFO, a
                    // device or an oversized or malformed sidecar does.
                    r.refuse(match e {
                        OpsError::Io { .. } => RefusalKind::Unreadable {
                            reason: e.to_string(),
                        },
                        _ => RefusalKind::MalformedSidecar {
                            reason: e.to_string(),
                        },
                    });
                    return Vec::new();
                }
            },
        };
        let mut verified = Vec::new();
        for (i, e) in sidecar.signatures.iter().enumerate() {
            let name = format!("signature[{}]", i + 1);
            match e.verify() {
                Ok(v) => {
                    let trusted = self.trust.contains(&v.fingerprint);
                    r.check(
                        name,
                        true,
                        format!(
                            "valid, signer {} ({}), signed at {}",
                            v.fingerprint,
                            if trusted { "trusted" } else { "not trusted" },
                            v.statement.signed_at
                        ),
                    );
                    verified.push((v, trusted));
                }
                Err(reason) => {
                    r.check(name, false, reason.clone());
                    r.refuse(RefusalKind::BadSignature {
                        index: i + 1,
                        reason,
                    });
                }
            }
        }
        let actual_name = file_name(path);
        let mut digest_ok = true;
        for (v, _) in &verified {
            let st = &v.statement;
            if !st.sha256.eq_ignore_ascii_case(sha) {
                digest_ok = false;
                if st.file_name != actual_name {
                    r.check(
                        "file-name",
                        false,
                        format!("signed as {:?}, this file is {actual_name:?}", st.file_name),
                    );
                    r.check(
                        "sha256",
                        false,
                        format!("signed {}, file has {sha}", st.sha256),
                    );
                    r.refuse(RefusalKind::WrongFile {
                        signed_name: st.file_name.clone(),
                        signed_sha256: st.sha256.clone(),
                        actual_sha256: sha.into(),
                    });
                } else {
                    r.check(
                        "sha256",
                        false,
                        format!("signed {}, file has {sha}", st.sha256),
                    );
                    let mut reason = format!("sha256 {sha}, signed {}", st.sha256);
                    if st.size != size {
                        reason.push_str(&format!("; size {size}, signed {}", st.size));
                    }
                    r.refuse(RefusalKind::Tampered { reason });
                }
                break;
            }
            if st.size != size {
                digest_ok = false;
                r.check(
                    "size",
                    false,
                    format!("signed {}, file has {size}", st.size),
                );
                r.refuse(RefusalKind::Tampered {
                    reason: format!("size {size}, signed {}", st.size),
                });
                break;
            }
        }
        if digest_ok && !verified.is_empty() {
            r.check("sha256", true, sha);
            r.check("size", true, size.to_string());
            let names: BTreeSet<&str> = verified
                .iter()
                .map(|(v, _)| v.statement.file_name.as_str())
                .collect();
            if names.iter().any(|n| *n != actual_name) {
                let w = format!(
                    "file was signed under the name {:?}, now {actual_name:?} (same content)",
                    names.iter().next().copied().unwrap_or_default()
                );
                r.check("file-name", true, w.clone());
                r.warnings.push(w);
            } else {
                r.check("file-name", true, actual_name.clone());
            }
        }
        let trusted: Vec<VerifiedEntry> = verified
            .iter()
            .filter(|(_, t)| *t)
            .map(|(v, _)| v.clone())
            .collect();
        let distinct: BTreeSet<String> =
            trusted.iter().map(|v| v.fingerprint.to_string()).collect();
        r.trusted_signers = distinct.iter().cloned().collect();
        r.statement = trusted.first().map(|v| v.statement.clone());
        let required = self.policy.threshold.max(1);
        if verified.is_empty() {
            return trusted;
        }
        if distinct.len() >= required {
            r.check(
                "trust",
                true,
                format!("{} trusted signer(s), {required} required", distinct.len()),
            );
        } else if self.policy.allow_unsigned {
            r.check(
                "trust",
                true,
                format!(
                    "{} trusted signer(s), {required} required; accepted because unsigned files are allowed",
                    distinct.len()
                ),
            );
            r.warnings.push("signature not trusted".into());
        } else if distinct.is_empty() {
            let signers: Vec<String> = verified
                .iter()
                .map(|(v, _)| v.fingerprint.to_string())
                .collect();
            r.check(
                "trust",
                false,
                format!("no trusted signer among {}", signers.join(", ")),
            );
            r.refuse(RefusalKind::UntrustedSigner { signers });
        } else {
            r.check(
                "trust",
                false,
                format!("{} trusted signer(s), {required} required", distinct.len()),
            );
            r.refuse(RefusalKind::BelowThreshold {
                trusted: distinct.len(),
                required,
            });
        }
        trusted
    }

    /// Every trusted statement must name the expected model (when one is
    /// expected); a file without a trusted statement cannot be bound.
    fn check_model_id(&self, trusted: &[VerifiedEntry], r: &mut VerifyReport) {
        let Some(expected) = &self.policy.model_id else {
            return;
        };
        if trusted.is_empty() {
            if r.refusal.is_none() {
                let w = format!("model id {expected:?} not confirmed: no trusted signed statement");
                r.check("model-id", true, w.clone());
                r.warnings.push(w);
            }
            return;
        }
        match trusted.iter().find(|v| &v.statement.model_id != expected) {
            Some(v) => {
                r.check(
                    "model-id",
                    false,
                    format!(
                        "expected {expected:?}, signer {} signed model {:?}",
                        v.fingerprint, v.statement.model_id
                    ),
                );
                r.refuse(RefusalKind::Substitution {
                    expected: expected.clone(),
                    found: v.statement.model_id.clone(),
                });
            }
            None => r.check("model-id", true, format!("{expected:?}, as expected")),
        }
    }

    /// The explicit rollback step for a detached file that passed every
    /// other check: one store, keyed by model id across trusted signers.
    fn check_rollback(&self, trusted: &[VerifiedEntry], r: &mut VerifyReport) {
        let Some(store) = &self.store else {
            return;
        };
        match detached_release(trusted) {
            Ok(None) => r.check("rollback", true, "not tracked: no trusted signed statement"),
            Ok(Some(release)) => {
                let res = store.check_and_record_release(&release);
                self.rollback_result(res, &release.model_id, r);
            }
            Err(kind) => {
                r.check("rollback", false, kind.to_string());
                r.refuse(kind);
            }
        }
    }

    fn rollback_result(
        &self,
        res: tensorseal::Result<tensorseal::rollback::Outcome>,
        model_id: &str,
        r: &mut VerifyReport,
    ) {
        use tensorseal::rollback::Outcome;
        match res {
            Ok(Outcome::Recorded { previous }) => r.check(
                "rollback",
                true,
                match previous {
                    Some(p) => format!(
                        "model {model_id:?}: not older than the release accepted before (version {})",
                        p.version
                    ),
                    None => format!("model {model_id:?}: first release seen, recorded"),
                },
            ),
            Ok(Outcome::Untracked) => r.check(
                "rollback",
                true,
                "not tracked: no trusted signer",
            ),
            Err(e) => {
                let kind = if e.kind().is_finding() {
                    refusal_of(&e)
                } else {
                    RefusalKind::State {
                        reason: e.to_string(),
                    }
                };
                r.check("rollback", false, e.to_string());
                r.refuse(kind);
            }
        }
    }
}

fn empty_report(path: &Path) -> VerifyReport {
    VerifyReport {
        path: path.to_path_buf(),
        format: Format::Unknown.as_str().into(),
        size: None,
        sha256: None,
        checks: Vec::new(),
        warnings: Vec::new(),
        trusted_signers: Vec::new(),
        statement: None,
        inspection: None,
        refusal: None,
    }
}

/// Verifies one file under `policy` (loads the trusted keys each call; use a
/// [`Verifier`] for many files). Errors are configuration problems (a key
/// file that cannot be read); a refused model is `Ok` with `refusal` set.
pub fn verify_file(path: &Path, policy: &OpsPolicy) -> Result<VerifyReport, OpsError> {
    Ok(Verifier::new(policy)?.verify(path))
}
