//! `tensorseal keygen signer|recipient -o PREFIX [--passphrase]`.

use std::path::PathBuf;

use tensorseal::crypto::passphrase::protect_secret_key_os;
use tensorseal::crypto::{write_public_key_file, write_secret_key_file};
use tensorseal::{RecipientSecretKey, SigningKey};

use crate::{CmdResult, Failure};

/// Arguments of `keygen`.
#[derive(clap::Args)]
pub struct Args {
    /// What kind of key pair to make.
    #[arg(value_enum)]
    kind: Kind,
    /// Writes PREFIX.key (secret, mode 0600, never overwritten) and PREFIX.pub.
    #[arg(short, long, value_name = "PREFIX")]
    output: PathBuf,
    /// Protect PREFIX.key with a passphrase (scrypt + ChaCha20-Poly1305), taken
    /// from $TENSORSEAL_PASSPHRASE or typed twice at the terminal. Commands
    /// that load the key ask for it the same way.
    #[arg(long)]
    passphrase: bool,
}

/// Key pair kinds.
#[derive(clap::ValueEnum, Clone, Copy)]
enum Kind {
    /// A composite ML-DSA-65 + Ed25519 signing key (sign, --sign; trust with --trust).
    Signer,
    /// An X-Wing (ML-KEM-768 + X25519) recipient key, in age's post-quantum
    /// encoding (encrypt with --to, decrypt with --identity).
    Recipient,
}

fn with_ext(prefix: &std::path::Path, ext: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(ext);
    PathBuf::from(s)
}

/// Runs `keygen`.
pub fn run(a: Args) -> CmdResult {
    let key = with_ext(&a.output, ".key");
    let public = with_ext(&a.output, ".pub");
    if public.exists() {
        return Err(Failure::new(format!(
            "{}: exists; refusing to overwrite",
            public.display()
        )));
    }
    // Ask before doing any work, so a refused passphrase leaves nothing behind.
    let passphrase = if a.passphrase {
        if key.exists() {
            return Err(Failure::new(format!(
                "{}: exists; refusing to overwrite",
                key.display()
            )));
        }
        Some(crate::passphrase::new_passphrase(&key)?)
    } else {
        None
    };
    let (secret_text, public_text, fp, what) = match a.kind {
        Kind::Signer => {
            let k = SigningKey::generate_os().map_err(Failure::new)?;
            (
                k.to_text(),
                k.verifying_key().to_text(),
                k.fingerprint(),
                "signer",
            )
        }
        Kind::Recipient => {
            let k = RecipientSecretKey::generate_os().map_err(Failure::new)?;
            (
                k.to_text(),
                k.public_key().to_text(),
                k.fingerprint(),
                "recipient",
            )
        }
    };
    let secret_text = match &passphrase {
        Some(p) => protect_secret_key_os(&secret_text, p.as_bytes()).map_err(Failure::new)?,
        None => secret_text,
    };
    write_secret_key_file(&key, &secret_text).map_err(Failure::new)?;
    if let Err(e) = write_public_key_file(&public, &public_text) {
        let _ = std::fs::remove_file(&key);
        return Err(Failure::new(e));
    }
    let protection = if passphrase.is_some() {
        ", passphrase-protected"
    } else {
        ""
    };
    crate::ops::log_event(
        tensorseal_ops::NewEvent::new(tensorseal_ops::EventKind::Keygen, "ok")
            .file(&public)
            .reason(format!("{what} key pair, fingerprint {fp}{protection}")),
    )?;
    say!(
        "wrote {} (secret{}) and {}",
        key.display(),
        protection,
        public.display()
    );
    say!("{what} fingerprint: {fp}");
    Ok(())
}
