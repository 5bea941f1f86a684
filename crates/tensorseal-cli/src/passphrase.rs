//! Passphrases for protected secret key files: `$TENSORSEAL_PASSPHRASE` if
//! set, otherwise a prompt on the terminal (no echo), otherwise a clear error.

use std::env::VarError;
use std::io::IsTerminal as _;
use std::path::Path;

use tensorseal::crypto::passphrase::unprotect_secret_key;
use tensorseal::crypto::Error as CryptoError;
use zeroize::Zeroizing;

use crate::Failure;

/// The environment variable holding the passphrase.
pub const ENV: &str = "TENSORSEAL_PASSPHRASE";

/// Interactive attempts at unlocking before giving up.
const ATTEMPTS: usize = 3;

fn from_env() -> Result<Option<Zeroizing<String>>, Failure> {
    match std::env::var(ENV) {
        Ok(v) => Ok(Some(Zeroizing::new(v))),
        Err(VarError::NotPresent) => Ok(None),
        Err(VarError::NotUnicode(_)) => Err(Failure::new(format!("{ENV} is not valid UTF-8"))),
    }
}

/// Prompting needs a person at a terminal: standard input must be one (so a
/// pipeline or CI job never blocks waiting on /dev/tty).
fn interactive() -> bool {
    std::io::stdin().is_terminal()
}

fn prompt(text: &str) -> Result<Zeroizing<String>, Failure> {
    rpassword::prompt_password(crate::report::escape(text))
        .map(Zeroizing::new)
        .map_err(|e| Failure::new(format!("cannot read a passphrase from the terminal: {e}")))
}

/// Decrypts the protected key `text` read from `path`, returning the inner key text.
pub fn unlock(path: &Path, text: &str) -> Result<Zeroizing<String>, Failure> {
    let fail = |e: CryptoError| Failure::new(format!("{}: {e}", path.display()));
    if let Some(pass) = from_env()? {
        return unprotect_secret_key(text, pass.as_bytes()).map_err(fail);
    }
    if !interactive() {
        return Err(Failure::new(format!(
            "{}: passphrase-protected secret key; set {ENV} or run interactively",
            path.display()
        )));
    }
    let mut attempt = 1;
    loop {
        let pass = prompt(&format!("Passphrase for {}: ", path.display()))?;
        match unprotect_secret_key(text, pass.as_bytes()) {
            Err(CryptoError::WrongPassphrase) if attempt < ATTEMPTS => {
                tell!("wrong passphrase, try again");
                attempt += 1;
            }
            r => return r.map_err(fail),
        }
    }
}

/// A new passphrase for the key file at `path`: `$TENSORSEAL_PASSPHRASE`, or
/// typed twice at the terminal. Empty passphrases are refused.
pub fn new_passphrase(path: &Path) -> Result<Zeroizing<String>, Failure> {
    if let Some(pass) = from_env()? {
        if pass.is_empty() {
            return Err(Failure::new(format!(
                "{ENV} is empty; refusing an empty passphrase"
            )));
        }
        return Ok(pass);
    }
    if !interactive() {
        return Err(Failure::new(format!(
            "{}: --passphrase needs a passphrase; set {ENV} or run interactively",
            path.display()
        )));
    }
    let pass = prompt(&format!("New passphrase for {}: ", path.display()))?;
    if pass.is_empty() {
        return Err(Failure::new("refusing an empty passphrase"));
    }
    let again = prompt("Repeat the passphrase: ")?;
    if pass.as_bytes() != again.as_bytes() {
        return Err(Failure::new("the passphrases do not match"));
    }
    Ok(pass)
}
