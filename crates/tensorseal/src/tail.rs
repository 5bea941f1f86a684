//! Changing a container's tail without touching its data: adding a signature
//! (counter-signing) or a recipient (a slice grant). The data region, the tag
//! region and the manifest are copied unchanged, the signature and recipient
//! blocks and the footer are rewritten, and the new file replaces the old one
//! atomically (temporary file, fsync, rename, directory fsync).

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};
use tensorseal_crypto::{RecipientPublicKey, RecipientSecretKey, SigningKey};
use tensorseal_format::{Footer, RecipientBlock, SignatureBlock, Statement};

use crate::error::{Error, ErrorKind, Result};
use crate::policy::Policy;
use crate::reader::{Model, OpenOptions};
use crate::seal;
use crate::writer::fs_error;
use tensorseal_fs::{AtomicFile, Mode};

/// Adds `key`'s signature to the container at `path`.
///
/// The file is fully verified first (structure, every signature present, every
/// slice digest; trust is not required: the signer vouches for what it signs).
/// Refused when this key has already signed. Returns the signed statement.
pub fn sign_file(path: &Path, key: &SigningKey) -> Result<Statement> {
    let model = Model::open_with(path, &Policy::allow_unsigned(), OpenOptions::new())?;
    let fp = key.fingerprint();
    if model.signers().iter().any(|s| s.fingerprint == fp) {
        return Err(Error::at(
            path,
            ErrorKind::Invalid(format!("already signed by {fp}")),
        ));
    }
    let st = seal::statement_for(model.info(), model.footer().manifest_sha256, &fp);
    let mut sigs = model.signatures().clone();
    sigs.entries
        .push(seal::sign_entry(key, &st, &mut seal::WriterRng::Os)?);
    let rec = model
        .recipients()
        .map(RecipientBlock::encode)
        .unwrap_or_default();
    rewrite_tail(&model, path, &sigs.encode(), &rec)?;
    Ok(st)
}

/// What [`grant_file`] granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The slices whose keys were wrapped.
    pub slices: Vec<u32>,
    /// The tensors in them.
    pub tensors: Vec<String>,
}

/// Adds a recipient who receives only the keys of the slices holding the
/// tensors whose names match `pattern` (a glob: `*`, `?`).
///
/// `identities` must open a whole-file stanza (the file key is needed to derive
/// slice keys and to recompute the header MAC). Refused when a slice mixes
/// matching and non-matching tensors, or when nothing matches. Signatures stay
/// valid: the manifest is unchanged.
pub fn grant_file(
    path: &Path,
    identities: &[RecipientSecretKey],
    to: &RecipientPublicKey,
    pattern: &str,
) -> Result<Grant> {
    let opts = OpenOptions::new().identities(identities.iter().cloned());
    let model = Model::open_with(path, &Policy::allow_unsigned(), opts)?;
    let m = model.manifest();
    let (Some(enc), Some(block), Some(fk)) = (&m.encryption, model.recipients(), model.file_key())
    else {
        let why = if m.encryption.is_none() {
            "the file is not encrypted: there is nothing to grant"
        } else {
            "a grant needs an identity that holds the file key (a whole-file recipient)"
        };
        return Err(Error::at(path, ErrorKind::Invalid(why.into())));
    };
    let mut slices = Vec::new();
    let mut tensors = Vec::new();
    for (i, s) in m.slices.iter().enumerate() {
        let ts = &m.tensors[s.first_tensor as usize..(s.first_tensor + s.tensor_count) as usize];
        let hits: Vec<&str> = ts
            .iter()
            .filter(|t| seal::glob_match(pattern, &t.name))
            .map(|t| t.name.as_str())
            .collect();
        if hits.is_empty() {
            continue;
        }
        if hits.len() != ts.len() {
            let others: Vec<&str> = ts
                .iter()
                .map(|t| t.name.as_str())
                .filter(|n| !hits.contains(n))
                .collect();
            return Err(Error::at(
                path,
                ErrorKind::Invalid(format!(
                    "slice {i} holds tensors matching {pattern:?} ({}) and others ({}); a grant gives whole slices: convert with --slices per-tensor",
                    hits.join(", "),
                    others.join(", ")
                )),
            ));
        }
        slices.push(i as u32);
        tensors.extend(hits.iter().map(|s| s.to_string()));
    }
    if slices.is_empty() {
        return Err(Error::at(
            path,
            ErrorKind::Invalid(format!("no tensor matches {pattern:?}")),
        ));
    }
    let keys: Vec<_> = slices
        .iter()
        .map(|&i| {
            let se = m.slices[i as usize]
                .encryption
                .as_ref()
                .ok_or_else(|| Error::new(ErrorKind::Invalid("slice without encryption".into())))?;
            Ok(tensorseal_crypto::slice_key(
                fk,
                &enc.salt,
                u64::from(i),
                &se.salt,
                &seal::slice_descriptor(m, i as usize),
            ))
        })
        .collect::<Result<_>>()?;
    let key_refs: Vec<_> = keys.iter().collect();
    let mut stanzas = block.stanzas.clone();
    stanzas.push(seal::grant_stanza(to, &slices, &key_refs)?);
    let mac_key = tensorseal_crypto::header_mac_key(fk, &enc.salt);
    let header_mac =
        tensorseal_crypto::header_mac(&mac_key, &seal::mac_input(model.manifest_bytes(), &stanzas));
    let rec = RecipientBlock {
        stanzas,
        header_mac,
    }
    .encode();
    let sigs: &SignatureBlock = model.signatures();
    rewrite_tail(&model, path, &sigs.encode(), &rec)?;
    Ok(Grant { slices, tensors })
}

fn rewrite_tail(model: &Model, dest: &Path, sigs: &[u8], rec: &[u8]) -> Result<()> {
    let old = model.footer();
    // Rewriting in place keeps the file's permissions (tensorseal-fs).
    let mut file = AtomicFile::create(dest, Mode::Replace).map_err(fs_error)?;
    let mut h = Sha256::new();
    h.update(sigs);
    h.update(rec);
    let footer = Footer {
        signatures_len: sigs.len() as u64,
        recipients_len: rec.len() as u64,
        blocks_sha256: h.finalize().into(),
        ..*old
    };
    // The data and tag regions from the opened (by default private) copy,
    // and the manifest from the bytes that were hashed and verified.
    let mut head = &model.file_bytes()[..old.manifest_offset as usize];
    std::io::copy(&mut head, &mut file)
        .and_then(|_| file.write_all(model.manifest_bytes()))
        .and_then(|()| file.write_all(sigs))
        .and_then(|()| file.write_all(rec))
        .and_then(|()| file.write_all(&footer.encode()))
        .map_err(|e| Error::io(file.path(), "write", e))?;
    file.commit().map_err(fs_error)
}
