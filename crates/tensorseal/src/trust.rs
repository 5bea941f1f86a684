//! The signer keys a verifier trusts.

use std::collections::BTreeMap;
use std::path::Path;

use tensorseal_crypto::{parse_key, AnyKey, Fingerprint, VerifyingKey};

use crate::error::{Error, ErrorKind, Result};

/// Trusted signer public keys, by fingerprint.
///
/// Loaded from `.pub` files written by `tensorseal keygen signer`, one file or a
/// directory of them; recipient keys in a directory are skipped (they cannot
/// sign), anything else that does not parse is an error naming the file.
#[derive(Clone, Default)]
pub struct TrustStore {
    keys: BTreeMap<Fingerprint, VerifyingKey>,
}

impl std::fmt::Debug for TrustStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.keys.keys()).finish()
    }
}

impl PartialEq for TrustStore {
    fn eq(&self, other: &Self) -> bool {
        self.keys.keys().eq(other.keys.keys())
    }
}

impl Eq for TrustStore {}

impl TrustStore {
    /// An empty store.
    pub fn new() -> Self {
        TrustStore::default()
    }

    /// Trusts `key`.
    pub fn add(&mut self, key: VerifyingKey) {
        self.keys.insert(key.fingerprint(), key);
    }

    /// Trusts the signer key in the file at `path`, or every signer `.pub` file in
    /// the directory at `path`. Returns how many keys were added.
    pub fn add_path(&mut self, path: &Path) -> Result<usize> {
        if path.is_dir() {
            let entries =
                std::fs::read_dir(path).map_err(|e| Error::io(path, "read directory", e))?;
            let mut files: Vec<_> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "pub"))
                .collect();
            files.sort();
            let mut n = 0;
            for f in files {
                if let Some(k) = read_key(&f, true)? {
                    self.add(k);
                    n += 1;
                }
            }
            Ok(n)
        } else {
            let k = read_key(path, false)?.ok_or_else(|| {
                Error::at(path, ErrorKind::Invalid("not a signer public key".into()))
            })?;
            self.add(k);
            Ok(1)
        }
    }

    /// The trusted key with this fingerprint.
    pub fn get(&self, fingerprint: &Fingerprint) -> Option<&VerifyingKey> {
        self.keys.get(fingerprint)
    }

    /// Whether a key with this fingerprint is trusted.
    pub fn contains(&self, fingerprint: &Fingerprint) -> bool {
        self.keys.contains_key(fingerprint)
    }

    /// Fingerprints of every trusted key, sorted.
    pub fn fingerprints(&self) -> impl Iterator<Item = &Fingerprint> {
        self.keys.keys()
    }

    /// Number of trusted keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Largest key file read (a signer public key file is about 2.7 KiB).
const MAX_KEY_FILE_BYTES: u64 = 64 << 10;

/// Reads a signer public key; in a directory scan (`skip_other_kinds`), a
/// recipient key is skipped rather than refused.
fn read_key(path: &Path, skip_other_kinds: bool) -> Result<Option<VerifyingKey>> {
    let text = crate::config_file::read_regular_string(path, MAX_KEY_FILE_BYTES, "key file")?;
    match parse_key(&text) {
        Ok(AnyKey::SignerPublic(k)) => Ok(Some(k)),
        Ok(AnyKey::RecipientPublic(_)) if skip_other_kinds => Ok(None),
        Ok(other) => Err(Error::at(
            path,
            ErrorKind::Invalid(format!(
                "expected a signer public key, found a {}",
                other.kind()
            )),
        )),
        Err(e) => Err(Error::at(path, ErrorKind::Invalid(e.to_string()))),
    }
}
