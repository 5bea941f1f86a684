//! Opening and validating a container, and views of its tensors.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rayon::prelude::*;
use sha2::{Digest, Sha256};
use tensorseal_format::{
    check_versions, Dtype, ErrorKind as FmtKind, Footer, FormatError, Manifest, ModelInfo,
    Preamble, SignatureBlock, Slice, Structure, TensorInfo, DATA_OFFSET, FOOTER_LEN, PREAMBLE_LEN,
};

use crate::backing::Backing;
use crate::error::{Error, ErrorKind, Result};
use crate::policy::{Policy, Verification};

/// How to open a file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenOptions {
    verification: Verification,
    copy: bool,
}

impl OpenOptions {
    /// Map the file, verify every slice at open.
    pub fn new() -> Self {
        OpenOptions::default()
    }

    /// When slice digests are checked.
    pub fn verification(mut self, v: Verification) -> Self {
        self.verification = v;
        self
    }

    /// Read the file into owned memory instead of mapping it. Use this for files
    /// another process may change or truncate while they are open: a changed map
    /// would defeat verification, and a truncated one raises SIGBUS.
    pub fn copy(mut self, yes: bool) -> Self {
        self.copy = yes;
        self
    }
}

/// An open, validated container.
///
/// Structure, manifest and padding are checked before [`Model::open`] returns;
/// slice digests are checked at open ([`Verification::Eager`]) or on first access
/// of each slice ([`Verification::Lazy`]). No tensor bytes are handed out before
/// their slice has been verified.
pub struct Model {
    path: Option<PathBuf>,
    backing: Backing,
    preamble: Preamble,
    footer: Footer,
    manifest: Manifest,
    signatures: SignatureBlock,
    verified: Vec<OnceLock<Result<(), FormatError>>>,
    index: OnceLock<HashMap<String, usize>>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("path", &self.path)
            .field("model_id", &self.manifest.model.model_id)
            .field("tensors", &self.manifest.tensors.len())
            .finish_non_exhaustive()
    }
}

impl Model {
    /// Maps `path`, validates it under `policy` and verifies every slice.
    pub fn open(path: impl AsRef<Path>, policy: &Policy) -> Result<Model> {
        Model::open_with(path, policy, OpenOptions::new())
    }

    /// Opens `path` with explicit options.
    pub fn open_with(path: impl AsRef<Path>, policy: &Policy, opts: OpenOptions) -> Result<Model> {
        let path = path.as_ref();
        let backing = if opts.copy {
            Backing::read(path)?
        } else {
            Backing::map(path)?
        };
        Model::validate(Some(path.to_path_buf()), backing, policy, opts.verification)
            .map_err(|e| e.with_path(path))
    }

    /// Validates a container held in memory. The bytes are copied once into
    /// 64-byte-aligned memory so typed views behave as with a mapped file.
    pub fn from_bytes(bytes: &[u8], policy: &Policy, verification: Verification) -> Result<Model> {
        Model::validate(None, Backing::copy_of(bytes), policy, verification)
    }

    fn validate(
        path: Option<PathBuf>,
        backing: Backing,
        policy: &Policy,
        verification: Verification,
    ) -> Result<Model> {
        let file = backing.bytes();
        let file_len = file.len() as u64;
        let preamble = Preamble::decode(file)?;
        let tail_at = file.len().saturating_sub(FOOTER_LEN as usize);
        let footer = Footer::decode(&file[tail_at..], file_len)?;
        check_versions(&preamble, &footer, tail_at as u64)?;

        // Footer::decode proved these ranges tile the tail of the file.
        let m_at = footer.manifest_offset as usize;
        let s_at = footer.signatures_offset() as usize;
        let r_at = footer.recipients_offset() as usize;
        let manifest_bytes = &file[m_at..s_at];
        if manifest_bytes.len() as u64 > policy.limits().max_manifest_bytes {
            return Err(FormatError::new(
                Structure::Manifest,
                m_at as u64,
                FmtKind::Limit {
                    what: "manifest size",
                    found: manifest_bytes.len() as u64,
                    limit: policy.limits().max_manifest_bytes,
                },
            )
            .into());
        }
        if sha256(manifest_bytes) != footer.manifest_sha256 {
            return Err(FormatError::new(
                Structure::Manifest,
                m_at as u64,
                FmtKind::DigestMismatch,
            )
            .into());
        }
        if sha256(&file[s_at..tail_at]) != footer.blocks_sha256 {
            return Err(FormatError::new(
                Structure::SignatureBlock,
                s_at as u64,
                FmtKind::DigestMismatch,
            )
            .into());
        }
        for (what, len, limit, structure, at) in [
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
                    at as u64,
                    FmtKind::Limit {
                        what,
                        found: len,
                        limit,
                    },
                )
                .into());
            }
        }
        // Verify, then parse: the policy is settled on the signature block before
        // any manifest field is decoded.
        let signatures = SignatureBlock::decode(&file[s_at..r_at], s_at as u64)?;
        if !signatures.entries.is_empty() {
            return Err(Error::new(ErrorKind::SignaturesUnsupported(
                signatures.entries.len(),
            )));
        }
        if !policy.allows_unsigned() {
            return Err(Error::new(ErrorKind::Unsigned));
        }

        let manifest = Manifest::decode(manifest_bytes, m_at as u64, policy.limits())?;
        if let Some(expires) = manifest.model.expires {
            let now = policy.now();
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
            return Err(FormatError::new(Structure::Manifest, m_at as u64, kind).into());
        }
        if manifest.encryption.is_some() != (footer.recipients_len > 0) {
            return Err(FormatError::new(
                Structure::RecipientBlock,
                r_at as u64,
                FmtKind::Encryption("a recipient block is present exactly when the manifest has an encryption header"),
            )
            .into());
        }
        if manifest.encryption.is_some() {
            tensorseal_format::RecipientBlock::decode(&file[r_at..tail_at], r_at as u64)?;
        }
        check_zero(
            &file[PREAMBLE_LEN as usize..DATA_OFFSET as usize],
            Structure::HeaderPadding,
            PREAMBLE_LEN,
        )?;
        for (i, pair) in manifest.slices.windows(2).enumerate() {
            let end = pair[0].offset + pair[0].length;
            check_zero(
                &file[end as usize..pair[1].offset as usize],
                Structure::SlicePadding(i as u32),
                end,
            )?;
        }

        let verified = (0..manifest.slices.len())
            .map(|_| OnceLock::new())
            .collect();
        let model = Model {
            path,
            backing,
            preamble,
            footer,
            manifest,
            signatures,
            verified,
            index: OnceLock::new(),
        };
        if verification == Verification::Eager {
            model.verify()?;
        }
        Ok(model)
    }

    /// Checks every slice digest (in parallel) and the zero padding inside plaintext slices.
    /// Slices already verified are not hashed again.
    pub fn verify(&self) -> Result<()> {
        (0..self.manifest.slices.len())
            .into_par_iter()
            .try_for_each(|i| self.verify_slice(i))
    }

    fn verify_slice(&self, i: usize) -> Result<()> {
        let r = self.verified[i].get_or_init(|| {
            let s = &self.manifest.slices[i];
            check_slice(self.backing.bytes(), &self.manifest, i as u32, s)
        });
        r.clone().map_err(|e| self.err(e.into()))
    }

    fn err(&self, e: Error) -> Error {
        match &self.path {
            Some(p) => e.with_path(p),
            None => e,
        }
    }

    /// The validated manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Model metadata.
    pub fn info(&self) -> &ModelInfo {
        &self.manifest.model
    }

    /// The signatures the file carries.
    pub fn signatures(&self) -> &SignatureBlock {
        &self.signatures
    }

    /// Format version as (major, minor).
    pub fn format_version(&self) -> (u16, u16) {
        (self.preamble.major, self.preamble.minor)
    }

    /// The decoded footer.
    pub fn footer(&self) -> &Footer {
        &self.footer
    }

    /// The whole file's bytes.
    pub fn file_bytes(&self) -> &[u8] {
        self.backing.bytes()
    }

    /// The path it was opened from.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.manifest.tensors.len()
    }

    /// Whether the file holds no tensor.
    pub fn is_empty(&self) -> bool {
        self.manifest.tensors.is_empty()
    }

    /// Tensor names in file order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.manifest.tensors.iter().map(|t| t.name.as_str())
    }

    /// The tensor called `name`, after its slice has been verified.
    pub fn tensor(&self, name: &str) -> Result<TensorView<'_>> {
        let index = self.index.get_or_init(|| {
            self.manifest
                .tensors
                .iter()
                .enumerate()
                .map(|(i, t)| (t.name.clone(), i))
                .collect()
        });
        let i = *index
            .get(name)
            .ok_or_else(|| self.err(Error::new(ErrorKind::NoSuchTensor(name.into()))))?;
        self.tensor_at(i)
    }

    /// The `i`-th tensor in file order.
    pub fn tensor_at(&self, i: usize) -> Result<TensorView<'_>> {
        let info = self
            .manifest
            .tensors
            .get(i)
            .ok_or_else(|| self.err(Error::new(ErrorKind::NoSuchTensor(format!("#{i}")))))?;
        self.verify_slice(info.slice as usize)?;
        if self.manifest.encryption.is_some() {
            return Err(self.err(Error::new(ErrorKind::Encrypted(info.name.clone()))));
        }
        let data =
            &self.backing.bytes()[info.offset as usize..(info.offset + info.length) as usize];
        Ok(TensorView { info, data })
    }

    /// Every tensor in file order.
    pub fn tensors(&self) -> impl Iterator<Item = Result<TensorView<'_>>> {
        (0..self.len()).map(|i| self.tensor_at(i))
    }
}

fn check_zero(bytes: &[u8], structure: Structure, at: u64) -> Result<(), FormatError> {
    match bytes.iter().position(|&b| b != 0) {
        None => Ok(()),
        Some(p) => Err(FormatError::new(
            structure,
            at + p as u64,
            FmtKind::NonZeroPadding,
        )),
    }
}

fn check_slice(file: &[u8], m: &Manifest, index: u32, s: &Slice) -> Result<(), FormatError> {
    let stored = &file[s.offset as usize..(s.offset + s.length) as usize];
    let mut h = Sha256::new();
    h.update(stored);
    if s.encryption.is_some() {
        let tags = s.chunk_count() * tensorseal_format::TAG_LEN;
        h.update(&file[s.tags_offset as usize..(s.tags_offset + tags) as usize]);
    }
    if <[u8; 32]>::from(h.finalize()) != s.sha256 {
        return Err(FormatError::new(
            Structure::Slice(index),
            s.offset,
            FmtKind::DigestMismatch,
        ));
    }
    if s.encryption.is_none() {
        let tensors =
            &m.tensors[s.first_tensor as usize..(s.first_tensor + s.tensor_count) as usize];
        for pair in tensors.windows(2) {
            let end = pair[0].offset + pair[0].length;
            check_zero(
                &file[end as usize..pair[1].offset as usize],
                Structure::Slice(index),
                end,
            )?;
        }
    }
    Ok(())
}

/// SHA-256 of `bytes` (with the CPU's SHA extensions when it has them).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Element types with a fixed dtype, for typed views.
pub trait Element: bytemuck::Pod {
    /// The dtype whose bytes this type reads.
    const DTYPE: Dtype;
}

macro_rules! element {
    ($($t:ty => $d:ident),*) => { $(impl Element for $t { const DTYPE: Dtype = Dtype::$d; })* };
}
element!(u8 => U8, i8 => I8, u16 => U16, i16 => I16, u32 => U32, i32 => I32, u64 => U64,
    i64 => I64, f32 => F32, f64 => F64, half::f16 => F16, half::bf16 => BF16);

/// A verified tensor: metadata and bytes borrowed from the file (zero-copy).
#[derive(Debug, Clone, Copy)]
pub struct TensorView<'a> {
    info: &'a TensorInfo,
    data: &'a [u8],
}

impl<'a> TensorView<'a> {
    /// Name.
    pub fn name(&self) -> &'a str {
        &self.info.name
    }

    /// Element type.
    pub fn dtype(&self) -> Dtype {
        self.info.dtype
    }

    /// Shape.
    pub fn shape(&self) -> &'a [u64] {
        &self.info.shape
    }

    /// Absolute file offset of the first byte.
    pub fn offset(&self) -> u64 {
        self.info.offset
    }

    /// The little-endian bytes.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The manifest entry.
    pub fn info(&self) -> &'a TensorInfo {
        self.info
    }

    /// SHA-256 of the tensor's bytes.
    pub fn sha256(&self) -> [u8; 32] {
        sha256(self.data)
    }

    /// The elements as a typed slice; the dtype must match `T` exactly.
    pub fn as_slice<T: Element>(&self) -> Result<&'a [T]> {
        if T::DTYPE != self.info.dtype {
            return Err(Error::new(ErrorKind::DtypeMismatch {
                name: self.info.name.clone(),
                found: self.info.dtype,
                requested: T::DTYPE,
            }));
        }
        bytemuck::try_cast_slice(self.data)
            .map_err(|_| Error::new(ErrorKind::Misaligned(self.info.name.clone())))
    }

    /// An ndarray view of the elements, shaped like the tensor.
    #[cfg(feature = "ndarray")]
    pub fn array_view<T: Element>(&self) -> Result<ndarray::ArrayViewD<'a, T>> {
        let data = self.as_slice::<T>()?;
        let shape: Vec<usize> = self
            .info
            .shape
            .iter()
            .map(|&d| usize::try_from(d))
            .collect::<Result<_, _>>()
            .map_err(|_| Error::new(ErrorKind::Invalid("shape does not fit in usize".into())))?;
        ndarray::ArrayViewD::from_shape(shape, data)
            .map_err(|e| Error::new(ErrorKind::Invalid(format!("{}: {e}", self.info.name))))
    }
}
