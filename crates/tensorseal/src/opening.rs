//! The checks every way of reading a container shares, in the order the spec
//! fixes: preamble, footer, limits, one read of the tail, manifest and block
//! digests, signatures and policy, then manifest decoding and layout, the
//! recipient block and the header padding; unlocking comes after. Both
//! [`crate::Model`] (whole file in memory or mapped) and
//! [`crate::verify_file`] (streaming) go through here, so they cannot drift.

use std::fs::File;
use std::path::Path;

use tensorseal_crypto::RecipientSecretKey;
use tensorseal_format::{
    check_versions, ErrorKind as FmtKind, Footer, FormatError, Manifest, Preamble, RecipientBlock,
    SignatureBlock, Structure, DATA_OFFSET, FOOTER_LEN, PREAMBLE_LEN,
};

use crate::digest::digest_eq;
use crate::error::{Error, ErrorKind, Result};
use crate::policy::Policy;
use crate::reader::sha256;
use crate::seal::{self, Signer, Unlocked};

/// Positioned reads of a container's bytes.
pub(crate) trait ReadAt {
    /// The file's length, as measured once before any check.
    fn len(&self) -> u64;
    /// Exactly `len` bytes at `at`, into fresh private memory.
    fn read_at(&self, at: u64, len: usize) -> Result<Vec<u8>>;
}

impl ReadAt for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }
    fn read_at(&self, at: u64, len: usize) -> Result<Vec<u8>> {
        Ok(self[at as usize..at as usize + len].to_vec())
    }
}

/// An open file read with `pread` on one descriptor: a file that shrinks
/// under the reader is a typed I/O error (never a short, silently accepted
/// read).
pub(crate) struct FileAt<'a> {
    pub(crate) file: &'a File,
    pub(crate) path: &'a Path,
    pub(crate) len: u64,
}

impl FileAt<'_> {
    /// Fills `buf` from `at`.
    pub(crate) fn fill(&self, at: u64, buf: &mut [u8]) -> Result<()> {
        use std::os::unix::fs::FileExt;
        self.file.read_exact_at(buf, at).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                changed(self.path)
            } else {
                Error::io(self.path, "read", e)
            }
        })
    }

    /// Refuses a file that grew since its length was measured.
    pub(crate) fn check_end(&self) -> Result<()> {
        use std::os::unix::fs::FileExt;
        let mut probe = [0u8; 1];
        match self.file.read_at(&mut probe, self.len) {
            Ok(0) => Ok(()),
            Ok(_) => Err(changed(self.path)),
            Err(e) => Err(Error::io(self.path, "read", e)),
        }
    }
}

fn changed(path: &Path) -> Error {
    Error::io(
        path,
        "read",
        std::io::Error::other("file changed size while being read"),
    )
}

impl ReadAt for FileAt<'_> {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_at(&self, at: u64, len: usize) -> Result<Vec<u8>> {
        let mut v = vec![0u8; len];
        self.fill(at, &mut v)?;
        Ok(v)
    }
}

/// A container whose tail has passed every check (signatures, policy,
/// manifest, layout, header padding); its data region is still unchecked.
pub(crate) struct Sealed {
    pub(crate) preamble: Preamble,
    pub(crate) footer: Footer,
    pub(crate) manifest: Manifest,
    pub(crate) signatures: SignatureBlock,
    pub(crate) signers: Vec<Signer>,
    pub(crate) recipients: Option<RecipientBlock>,
    /// The manifest and both blocks, as read once and verified.
    pub(crate) tail: Vec<u8>,
}

impl Sealed {
    /// Checks everything outside the data and tag regions.
    pub(crate) fn check<S: ReadAt + ?Sized>(src: &S, policy: &Policy) -> Result<Sealed> {
        let file_len = src.len();
        // The preamble and the header padding after it, read once.
        let head = src.read_at(0, file_len.min(DATA_OFFSET) as usize)?;
        let preamble = Preamble::decode(&head)?;
        let tail_at = file_len.saturating_sub(FOOTER_LEN);
        let footer_bytes = src.read_at(tail_at, (file_len - tail_at) as usize)?;
        let footer = Footer::decode(&footer_bytes, file_len)?;
        check_versions(&preamble, &footer, tail_at)?;

        // Footer::decode proved these ranges tile the tail of the file.
        let m_at = footer.manifest_offset;
        let s_at = footer.signatures_offset();
        let r_at = footer.recipients_offset();
        for (what, len, limit, structure, at) in [
            (
                "manifest size",
                footer.manifest_len,
                policy.limits().max_manifest_bytes,
                Structure::Manifest,
                m_at,
            ),
            (
                "signature block size",
                footer.signatures_len,
                policy.limits().max_signature_block_bytes,
                Structure::SignatureBlock,
                s_at,
            ),
            (
                "recipient block size",
                footer.recipients_len,
                policy.limits().max_recipient_block_bytes,
                Structure::RecipientBlock,
                r_at,
            ),
        ] {
            if len > limit {
                return Err(FormatError::new(
                    structure,
                    at,
                    FmtKind::Limit {
                        what,
                        found: len,
                        limit,
                    },
                )
                .into());
            }
        }
        // One read of everything after the tag region into private memory
        // (bounded by the limits just checked): the digests are computed, the
        // signatures verified and the manifest and blocks decoded from these
        // same bytes, so a writer changing the file meanwhile cannot make the
        // reader decode bytes other than those it hashed.
        let tail = src.read_at(m_at, (tail_at - m_at) as usize)?;
        let (ms, ss) = ((s_at - m_at) as usize, (r_at - m_at) as usize);
        let manifest_bytes = &tail[..ms];
        if !digest_eq(&sha256(manifest_bytes), &footer.manifest_sha256) {
            return Err(
                FormatError::new(Structure::Manifest, m_at, FmtKind::DigestMismatch).into(),
            );
        }
        if !digest_eq(&sha256(&tail[ms..]), &footer.blocks_sha256) {
            return Err(
                FormatError::new(Structure::SignatureBlock, s_at, FmtKind::DigestMismatch).into(),
            );
        }
        // Verify, then parse: every signature is checked, and the policy settled,
        // before any manifest field is decoded.
        let mut signers = seal::verify_signature_block(
            &tail[ms..ss],
            s_at,
            &footer.manifest_sha256,
            (preamble.major, preamble.minor),
        )?;
        let signatures = SignatureBlock::decode(&tail[ms..ss], s_at)?;
        seal::apply_policy(&mut signers, policy)?;
        let now = policy.now();
        for s in &signers {
            if let Some(expires) = s.statement.expires {
                if now >= expires {
                    return Err(Error::new(ErrorKind::Expired { expires, now }));
                }
            }
        }

        let manifest = Manifest::decode(manifest_bytes, m_at, policy.limits())?;
        seal::check_statements(&signers, &manifest.model)?;
        if let Some(expected) = policy.expected_model_id() {
            if manifest.model.model_id != expected {
                return Err(Error::new(ErrorKind::Substitution {
                    expected: expected.to_owned(),
                    found: manifest.model.model_id.clone(),
                }));
            }
        }
        if let Some(expires) = manifest.model.expires {
            if now >= expires {
                return Err(Error::new(ErrorKind::Expired { expires, now }));
            }
        }
        let regions = manifest.regions();
        if regions.tags_end != footer.manifest_offset {
            let kind = if regions.tags_end > footer.manifest_offset {
                FmtKind::Overlap {
                    offset: footer.manifest_offset,
                    previous_end: regions.tags_end,
                }
            } else {
                FmtKind::Gap {
                    offset: footer.manifest_offset,
                    expected: regions.tags_end,
                }
            };
            return Err(FormatError::new(Structure::Manifest, m_at, kind).into());
        }
        if manifest.encryption.is_some() != (footer.recipients_len > 0) {
            return Err(FormatError::new(
                Structure::RecipientBlock,
                r_at,
                FmtKind::Encryption("a recipient block is present exactly when the manifest has an encryption header"),
            )
            .into());
        }
        let recipients = if manifest.encryption.is_some() {
            Some(seal::parse_recipient_block(&tail[ss..], r_at)?)
        } else {
            None
        };
        check_zero(
            &head[PREAMBLE_LEN as usize..],
            Structure::HeaderPadding,
            PREAMBLE_LEN,
        )?;
        Ok(Sealed {
            preamble,
            footer,
            manifest,
            signatures,
            signers,
            recipients,
            tail,
        })
    }

    /// The raw manifest bytes (the verified private copy).
    pub(crate) fn manifest_bytes(&self) -> &[u8] {
        &self.tail[..self.footer.manifest_len as usize]
    }

    /// Unwrap, key commitment, header MAC: all before any decryption. No
    /// keys without identities or for a plaintext file.
    pub(crate) fn unlock(&self, identities: &[RecipientSecretKey]) -> Result<Unlocked> {
        match &self.recipients {
            Some(block) if !identities.is_empty() => {
                seal::unlock(&self.manifest, self.manifest_bytes(), block, identities)
            }
            _ => Ok(Unlocked {
                file_key: None,
                slices: Vec::new(),
            }),
        }
    }
}

/// Refuses a non-zero byte in padding, naming the first one's offset.
pub(crate) fn check_zero(bytes: &[u8], structure: Structure, at: u64) -> Result<(), FormatError> {
    match bytes.iter().position(|&b| b != 0) {
        None => Ok(()),
        Some(p) => Err(FormatError::new(
            structure,
            at + p as u64,
            FmtKind::NonZeroPadding,
        )),
    }
}
