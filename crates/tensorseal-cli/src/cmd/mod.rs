//! One module per subcommand.

pub mod audit;
pub mod convert;
pub mod demo;
pub mod detached;
pub mod export;
pub mod grant;
pub mod inspect;
pub mod keygen;
pub mod log;
pub mod ls;
pub mod sign;
pub mod verify;

use std::path::{Path, PathBuf};

use tensorseal::crypto::{
    is_protected, parse_recipient_public_key, parse_recipient_secret_key, parse_signing_key,
};
use tensorseal::{
    OpenOptions, Policy, RecipientPublicKey, RecipientSecretKey, SigningKey, TrustStore,
};

use zeroize::Zeroizing;

use crate::Failure;

/// The policy flags shared by every command that opens a container.
#[derive(clap::Args, Debug, Clone)]
pub struct PolicyArgs {
    /// Open files that carry no trusted signature: unsigned files, or files
    /// signed only by untrusted keys. Every signature present is still checked,
    /// and so is integrity.
    #[arg(long)]
    pub allow_unsigned: bool,
    /// Trust the signer public key in this .pub file, or every signer .pub file
    /// in this directory (repeatable).
    #[arg(long = "trust", value_name = "PATH")]
    pub trust: Vec<PathBuf>,
    /// How many distinct trusted signers must have signed (default 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub threshold: Option<u64>,
    /// Recipient secret key (X-Wing / age PQ identity) to decrypt with (repeatable).
    #[arg(long = "identity", value_name = "KEY")]
    pub identity: Vec<PathBuf>,
}

impl PolicyArgs {
    /// The library policy these flags describe.
    pub fn policy(&self) -> Result<Policy, Failure> {
        let mut p = if self.allow_unsigned {
            Policy::allow_unsigned()
        } else {
            Policy::require_signature()
        };
        if !self.trust.is_empty() {
            let mut store = TrustStore::new();
            // A key that cannot be used is the verifier's problem: exit 2.
            for t in &self.trust {
                let n = store.add_path(t).map_err(|e| Failure {
                    message: e.to_string(),
                    status: 2,
                })?;
                if n == 0 {
                    return Err(Failure {
                        message: format!(
                            "{}: no signer public key (.pub) in this directory",
                            t.display()
                        ),
                        status: 2,
                    });
                }
            }
            p = p.trust(store);
        }
        if let Some(n) = self.threshold {
            p = p.threshold(n as usize);
        }
        Ok(p)
    }

    /// Open options carrying the identities given.
    pub fn open_options(&self) -> Result<OpenOptions, Failure> {
        let mut o = OpenOptions::new();
        for p in &self.identity {
            o = o.identity(read_identity(p)?);
        }
        Ok(o)
    }
}

/// Refuses an output `out` (named by `flag`) that is the input itself: the
/// same path, a hard link, or a symbolic link either way. Writing it would
/// destroy the input, so not even `--force` allows it (usage error, 64).
pub fn refuse_same_file(input: &Path, out: &Path, flag: &str) -> Result<(), Failure> {
    match tensorseal_fs::same_file(input, out) {
        Ok(false) => Ok(()),
        Ok(true) => Err(Failure::usage(format!(
            "{}: {flag} {} is this input file itself (the same path, a hard link or a symbolic link); refusing to write over the input",
            input.display(),
            out.display()
        ))),
        Err(e) => Err(Failure::operational(format!(
            "{} / {}: cannot tell whether they are the same file: {e}",
            input.display(),
            out.display()
        ))),
    }
}

/// Refuses the files this process appends to or rewrites besides its output
/// (the audit log, the rollback state) when one of them is `input`.
pub fn refuse_side_outputs(input: &Path, state: Option<&Path>) -> Result<(), Failure> {
    if let Some(log) = crate::ops::audit_log()? {
        refuse_same_file(input, log.path(), "--audit-log")?;
    }
    if let Some(s) = state {
        refuse_same_file(input, s, "--state")?;
    }
    Ok(())
}

/// The flags of the checks `verify` and `audit` add on top of the policy.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct BindArgs {
    /// The model id the file must carry (container model id, or the model id
    /// of the detached signature): a validly signed file of another model is
    /// refused as a substitution.
    #[arg(long, value_name = "ID")]
    pub model_id: Option<String>,
    /// Rollback state file: per model id, across every trusted signer, refuse
    /// a version older than, or the same version with other content than,
    /// the release accepted before; updated atomically after a file passes.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
}

/// Largest key file read.
const MAX_KEY_FILE_BYTES: u64 = 1 << 20;

fn read_text(path: &Path) -> Result<String, Failure> {
    tensorseal::config_file::read_regular_string(path, MAX_KEY_FILE_BYTES, "key file").map_err(
        |e| Failure {
            message: e.to_string(),
            status: 2,
        },
    )
}

/// Reads a secret key file, unlocking it first if it is passphrase-protected
/// (passphrase from $TENSORSEAL_PASSPHRASE or the terminal).
fn read_secret_text(path: &Path) -> Result<Zeroizing<String>, Failure> {
    let text = Zeroizing::new(read_text(path)?);
    if is_protected(&text) {
        crate::passphrase::unlock(path, &text)
    } else {
        Ok(text)
    }
}

/// Warns when a secret key that loaded is accessible by group or others.
/// Like ssh, but a warning: refusing would break existing setups, and the
/// key may already have leaked anyway.
fn warn_loose_secret(path: &Path) {
    if let Ok(Some(mode)) = tensorseal_fs::group_or_other_access(path) {
        tell!(
            "tensorseal: warning: {}: secret key file is accessible by group or others (mode {mode:03o}); run chmod 600 on it",
            path.display()
        );
    }
}

/// A key file that cannot be used is the verifier's problem: exit 2.
fn key_err(path: &Path) -> impl Fn(tensorseal::crypto::Error) -> Failure + '_ {
    move |e| Failure {
        message: format!("{}: {e}", path.display()),
        status: 2,
    }
}

/// Reads a signer secret key file.
pub fn read_signing_key(path: &Path) -> Result<SigningKey, Failure> {
    let key = parse_signing_key(&read_secret_text(path)?).map_err(key_err(path))?;
    warn_loose_secret(path);
    Ok(key)
}

/// Reads a recipient public key file.
pub fn read_recipient(path: &Path) -> Result<RecipientPublicKey, Failure> {
    parse_recipient_public_key(&read_text(path)?).map_err(key_err(path))
}

/// Reads a recipient secret key file.
pub fn read_identity(path: &Path) -> Result<RecipientSecretKey, Failure> {
    let key = parse_recipient_secret_key(&read_secret_text(path)?).map_err(key_err(path))?;
    warn_loose_secret(path);
    Ok(key)
}
