//! Opening and validating a container, and views of its tensors.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::backing::FileBytes;

use rayon::prelude::*;
use sha2::{Digest, Sha256};
use tensorseal_crypto::{FileKey, RecipientSecretKey, SliceKey};
use tensorseal_format::{
    Dtype, ErrorKind as FmtKind, Footer, FormatError, Manifest, ModelInfo, Preamble,
    RecipientBlock, SignatureBlock, Slice, Structure, TensorInfo, CHUNK_SIZE, TAG_LEN,
};

use crate::backing::{Backing, BufPool, SecretBuf};
use crate::digest::{digest_eq, SliceHasher};
use crate::error::{Error, ErrorKind, Result};
use crate::opening::{check_zero, Sealed};
use crate::policy::{Authenticity, Checked, Policy, Verification};
use crate::seal::Signer;

/// Where an opened file's bytes live. See [`OpenOptions::read_mode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadMode {
    /// Read the whole file into private memory with ordinary reads, and verify
    /// that copy (the default). Nothing another process does to the file
    /// afterwards can change a verified byte; a file that shrinks or grows
    /// while it is read is a typed I/O error.
    #[default]
    Copy,
    /// Map the file, but only when it lies on a read-only mount (Linux
    /// `statvfs` `ST_RDONLY`, checked on the opened descriptor); otherwise
    /// refuse with an I/O error (`map`). Elsewhere than Linux it always refuses.
    MapReadOnlyStorage,
    /// Map the file wherever it lies. **Only for files that no other process
    /// can write**: a writer can change tensor bytes after they were verified,
    /// and a writer that truncates the file makes reads of the missing pages
    /// kill the process with SIGBUS. The caller accepts both by choosing this.
    MapAcceptingWriters,
}

/// How to open a file.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    verification: Verification,
    mode: ReadMode,
    identities: Vec<RecipientSecretKey>,
}

impl OpenOptions {
    /// Read the file into memory ([`ReadMode::Copy`]), verify every slice at open.
    pub fn new() -> Self {
        OpenOptions::default()
    }

    /// When slice digests are checked.
    pub fn verification(mut self, v: Verification) -> Self {
        self.verification = v;
        self
    }

    /// Where the file's bytes live (default [`ReadMode::Copy`]).
    pub fn read_mode(mut self, mode: ReadMode) -> Self {
        self.mode = mode;
        self
    }

    /// `true`: [`ReadMode::Copy`] (the default); `false`:
    /// [`ReadMode::MapReadOnlyStorage`].
    pub fn copy(self, yes: bool) -> Self {
        self.read_mode(if yes {
            ReadMode::Copy
        } else {
            ReadMode::MapReadOnlyStorage
        })
    }

    /// Map the file, only if it is on read-only storage
    /// ([`ReadMode::MapReadOnlyStorage`]).
    pub fn map(self) -> Self {
        self.read_mode(ReadMode::MapReadOnlyStorage)
    }

    /// Map the file wherever it lies ([`ReadMode::MapAcceptingWriters`]):
    /// **only for files on storage no other process can write**, since another
    /// process that can write the file can change tensor bytes after
    /// verification, or truncate it and crash this one with SIGBUS.
    pub fn map_accepting_writers(self) -> Self {
        self.read_mode(ReadMode::MapAcceptingWriters)
    }

    /// Adds an identity (X-Wing secret key) to decrypt an encrypted file with;
    /// several may be given. Without one, an encrypted file still opens and
    /// verifies (structure, signatures, every slice digest), but its tensors
    /// cannot be read.
    pub fn identity(mut self, key: RecipientSecretKey) -> Self {
        self.identities.push(key);
        self
    }

    pub(crate) fn identities_slice(&self) -> &[RecipientSecretKey] {
        &self.identities
    }

    /// Adds several identities.
    pub fn identities(mut self, keys: impl IntoIterator<Item = RecipientSecretKey>) -> Self {
        self.identities.extend(keys);
        self
    }
}

/// An open, validated container.
///
/// Structure, manifest and padding are checked before [`Model::open`] returns;
/// slice digests are checked at open ([`Verification::Eager`]) or on first access
/// of each slice ([`Verification::Lazy`]). No tensor bytes are handed out before
/// their slice has been verified.
///
/// Tensors of an encrypted file are decrypted into owned buffers that are
/// zeroized when their last view is dropped. To avoid fresh allocations, a
/// model then keeps a few of those (already zeroized) buffers for reuse: at
/// most 4 buffers and 64 MiB, only buffers of 1 MiB or more, freed with the
/// model.
pub struct Model {
    path: Option<PathBuf>,
    backing: Arc<Backing>,
    preamble: Preamble,
    footer: Footer,
    manifest: Manifest,
    signatures: SignatureBlock,
    signers: Vec<Signer>,
    recipients: Option<RecipientBlock>,
    file_key: Option<FileKey>,
    keys: Vec<Option<SliceKey>>,
    verified: Vec<OnceLock<Result<(), FormatError>>>,
    index: OnceLock<HashMap<String, usize>>,
    /// The manifest and both blocks, as read once and verified.
    tail: Vec<u8>,
    /// Zeroized decryption buffers for reuse.
    pool: BufPool,
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
    /// Reads `path` into memory, validates it under `policy` and verifies every
    /// slice (see [`OpenOptions`] to map it instead).
    pub fn open(path: impl AsRef<Path>, policy: &Policy) -> Result<Model> {
        Model::open_with(path, policy, OpenOptions::new())
    }

    /// Opens `path` with explicit options.
    pub fn open_with(path: impl AsRef<Path>, policy: &Policy, opts: OpenOptions) -> Result<Model> {
        let path = path.as_ref();
        let backing = match opts.mode {
            ReadMode::Copy => Backing::read(path)?,
            ReadMode::MapReadOnlyStorage => Backing::map_read_only_storage(path)?,
            ReadMode::MapAcceptingWriters => Backing::map(path)?,
        };
        Model::validate(Some(path.to_path_buf()), Arc::new(backing), policy, &opts)
            .map_err(|e| e.with_path(path))
    }

    /// Validates a file already read (or mapped) into `bytes`, without reading
    /// it again: the model shares those bytes, so what a caller hashed or
    /// inspected in `bytes` is exactly what the model verified and serves.
    /// The read mode of `opts` is ignored (the bytes are already where they live);
    /// `path` only names the file in errors.
    pub fn from_file_bytes(
        bytes: &FileBytes,
        path: Option<&Path>,
        policy: &Policy,
        opts: OpenOptions,
    ) -> Result<Model> {
        let r = Model::validate(
            path.map(Path::to_path_buf),
            Arc::clone(&bytes.0),
            policy,
            &opts,
        );
        match path {
            Some(p) => r.map_err(|e| e.with_path(p)),
            None => r,
        }
    }

    /// Validates a container held in memory. The bytes are copied once into
    /// 64-byte-aligned memory so typed views behave as with a mapped file.
    pub fn from_bytes(bytes: &[u8], policy: &Policy, verification: Verification) -> Result<Model> {
        Model::validate(
            None,
            Arc::new(Backing::copy_of(bytes)),
            policy,
            &OpenOptions::new().verification(verification),
        )
    }

    /// Like [`Model::from_bytes`], with options (identities; `copy` is implied).
    pub fn from_bytes_with(bytes: &[u8], policy: &Policy, opts: OpenOptions) -> Result<Model> {
        Model::validate(None, Arc::new(Backing::copy_of(bytes)), policy, &opts)
    }

    fn validate(
        path: Option<PathBuf>,
        backing: Arc<Backing>,
        policy: &Policy,
        opts: &OpenOptions,
    ) -> Result<Model> {
        let verification = opts.verification;
        let file = backing.bytes();
        let sealed = Sealed::check(file, policy)?;
        for (i, pair) in sealed.manifest.slices.windows(2).enumerate() {
            let end = pair[0].offset + pair[0].length;
            check_zero(
                &file[end as usize..pair[1].offset as usize],
                Structure::SlicePadding(i as u32),
                end,
            )?;
        }
        let unlocked = sealed.unlock(&opts.identities)?;
        let Sealed {
            preamble,
            footer,
            manifest,
            signatures,
            signers,
            recipients,
            tail,
        } = sealed;
        let (file_key, keys) = (unlocked.file_key, unlocked.slices);

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
            signers,
            recipients,
            file_key,
            keys,
            verified,
            index: OnceLock::new(),
            tail,
            pool: BufPool::default(),
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

    /// The signers whose signatures verified, in block order, each marked
    /// trusted or not under the policy the file was opened with.
    pub fn signers(&self) -> &[Signer] {
        &self.signers
    }

    /// What was checked: whether a trusted signature authenticates the
    /// contents, and for an encrypted file whether the header MAC was
    /// verified. Only [`Checked::authenticated`] files may be presented as
    /// authentic; decrypting an unsigned file proves integrity, not origin.
    pub fn checked(&self) -> Checked {
        let trusted: std::collections::BTreeSet<_> = self
            .signers
            .iter()
            .filter(|s| s.trusted)
            .map(|s| s.fingerprint)
            .collect();
        let authenticity = match (trusted.len(), self.signers.len()) {
            (0, 0) => Authenticity::Unsigned,
            (0, _) => Authenticity::UntrustedSignatures,
            (n, _) => Authenticity::Signed { trusted: n },
        };
        Checked {
            authenticity,
            encrypted: self.is_encrypted(),
            header_mac: self.file_key.is_some(),
        }
    }

    /// Whether the file is encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.manifest.encryption.is_some()
    }

    /// The recipient block of an encrypted file.
    pub fn recipients(&self) -> Option<&RecipientBlock> {
        self.recipients.as_ref()
    }

    /// Whether the `i`-th tensor's bytes can be read: always for plaintext
    /// files; for encrypted files, when the identities given hold its slice key.
    pub fn is_readable(&self, i: usize) -> bool {
        let Some(t) = self.manifest.tensors.get(i) else {
            return false;
        };
        !self.is_encrypted() || self.keys.get(t.slice as usize).is_some_and(|k| k.is_some())
    }

    /// The unwrapped file key (held only with an identity of a whole-file recipient).
    pub(crate) fn file_key(&self) -> Option<&FileKey> {
        self.file_key.as_ref()
    }

    /// The raw manifest bytes: the private copy that was hashed, checked
    /// against the signatures and decoded (never re-read from the file).
    pub fn manifest_bytes(&self) -> &[u8] {
        &self.tail[..self.footer.manifest_len as usize]
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
        if self.manifest.encryption.is_some() {
            let key = match self.keys.get(info.slice as usize) {
                Some(Some(k)) => k,
                Some(None) => {
                    self.verify_slice(info.slice as usize)?;
                    return Err(self.err(Error::new(ErrorKind::NotGranted(info.name.clone()))));
                }
                None => {
                    // Keyless: the digest is still checked before refusing.
                    self.verify_slice(info.slice as usize)?;
                    return Err(self.err(Error::new(ErrorKind::Encrypted(info.name.clone()))));
                }
            };
            let (buf, start) = self.decrypt(info, key).map_err(|e| self.err(e))?;
            return Ok(TensorView {
                info,
                data: ViewData::Decrypted {
                    buf: Arc::new(buf),
                    start,
                },
            });
        }
        self.verify_slice(info.slice as usize)?;
        let data =
            &self.backing.bytes()[info.offset as usize..(info.offset + info.length) as usize];
        Ok(TensorView {
            info,
            data: ViewData::Mapped(data),
        })
    }

    /// Decrypts only the chunks covering `info`, in parallel, into an aligned
    /// zeroizing buffer (from the model's pool when one fits); returns it and
    /// where the tensor starts in it.
    ///
    /// Every ciphertext byte and tag is read from the file once: chunks are
    /// copied into the output and authenticated and decrypted there. When the
    /// slice's digest is still unchecked (lazy verification of a mapped file)
    /// and the tensor spans its whole slice, the digest is computed over that
    /// same copy before decryption, so digest, tags and plaintext all come
    /// from one read.
    fn decrypt(&self, info: &TensorInfo, key: &SliceKey) -> Result<(SecretBuf<'_>, usize)> {
        let si = info.slice as usize;
        if info.length == 0 {
            self.verify_slice(si)?;
            return Ok((SecretBuf::zeroed(0), 0));
        }
        let s = &self.manifest.slices[si];
        let rel = info.offset - s.offset;
        let end = rel + info.length;
        let c0 = rel / CHUNK_SIZE;
        let c1 = (end - 1) / CHUNK_SIZE;
        let start = c0 * CHUNK_SIZE;
        let stop = ((c1 + 1) * CHUNK_SIZE).min(s.length);
        let whole = start == 0 && stop == s.length;
        let file = self.backing.bytes();
        let src = &file[(s.offset + start) as usize..(s.offset + stop) as usize];
        let mut buf = SecretBuf::zeroed_in(&self.pool, src.len());
        let tags_at = (s.tags_offset + c0 * TAG_LEN) as usize;
        let tags_end = (s.tags_offset + (c1 + 1) * TAG_LEN) as usize;
        let tags: Vec<[u8; 16]> = bytemuck::cast_slice(&file[tags_at..tags_end]).to_vec();
        let crypt_err = |e| match e {
            tensorseal_crypto::Error::ChunkAuthentication { chunk } => {
                Error::new(ErrorKind::Decryption {
                    tensor: info.name.clone(),
                    slice: info.slice,
                    chunk,
                })
            }
            other => Error::new(ErrorKind::Crypto(other)),
        };
        // If any chunk fails, the error path drops `buf`, which zeroizes it.
        if whole && self.backing.is_map() && self.verified[si].get().is_none() {
            buf.bytes_mut().copy_from_slice(src);
            let mut h = SliceHasher::new(self.manifest.digest_algorithm);
            h.update(buf.bytes());
            h.update(bytemuck::cast_slice::<[u8; 16], u8>(&tags));
            let mine = if digest_eq(&h.finalize(), &s.digest) {
                Ok(())
            } else {
                Err(FormatError::new(
                    Structure::Slice(info.slice),
                    s.offset,
                    FmtKind::DigestMismatch,
                ))
            };
            self.verified[si].get_or_init(|| mine.clone());
            // Our own read decides for our bytes, whatever another thread saw.
            mine.map_err(|e| self.err(e.into()))?;
            tensorseal_crypto::open_chunk_range(key, s.length, c0, buf.bytes_mut(), &tags)
                .map_err(crypt_err)?;
        } else {
            self.verify_slice(si)?;
            tensorseal_crypto::open_chunk_range_into(
                key,
                s.length,
                c0,
                src,
                buf.bytes_mut(),
                &tags,
            )
            .map_err(crypt_err)?;
        }
        Ok((buf, (rel - start) as usize))
    }

    /// Every tensor in file order.
    pub fn tensors(&self) -> impl Iterator<Item = Result<TensorView<'_>>> {
        (0..self.len()).map(|i| self.tensor_at(i))
    }
}

fn check_slice(file: &[u8], m: &Manifest, index: u32, s: &Slice) -> Result<(), FormatError> {
    let stored = &file[s.offset as usize..(s.offset + s.length) as usize];
    let mut h = SliceHasher::new(m.digest_algorithm);
    h.update(stored);
    if s.encryption.is_some() {
        let tags = s.chunk_count() * tensorseal_format::TAG_LEN;
        h.update(&file[s.tags_offset as usize..(s.tags_offset + tags) as usize]);
    }
    if !digest_eq(&h.finalize(), &s.digest) {
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

/// SHA-256 and length of everything `reader` yields, read through a 1 MiB
/// buffer (a file hashed this way never enters the process's resident set).
pub fn sha256_read(mut reader: impl std::io::Read) -> std::io::Result<([u8; 32], u64)> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
        total += n as u64;
    }
    Ok((h.finalize().into(), total))
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

/// A verified tensor: metadata, and bytes either borrowed from the file
/// (plaintext: zero-copy) or decrypted into an owned, 64-byte-aligned buffer
/// that is zeroized when the last view of it is dropped.
#[derive(Clone)]
pub struct TensorView<'a> {
    info: &'a TensorInfo,
    data: ViewData<'a>,
}

#[derive(Clone)]
enum ViewData<'a> {
    Mapped(&'a [u8]),
    Decrypted {
        buf: Arc<SecretBuf<'a>>,
        start: usize,
    },
}

impl std::fmt::Debug for TensorView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TensorView")
            .field("name", &self.info.name)
            .field("dtype", &self.info.dtype)
            .field("shape", &self.info.shape)
            .field(
                "decrypted",
                &matches!(self.data, ViewData::Decrypted { .. }),
            )
            .finish()
    }
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
    pub fn data(&self) -> &[u8] {
        match &self.data {
            ViewData::Mapped(d) => d,
            ViewData::Decrypted { buf, start } => {
                &buf.bytes()[*start..*start + self.info.length as usize]
            }
        }
    }

    /// Whether the bytes were decrypted (owned) rather than borrowed from the file.
    pub fn is_decrypted(&self) -> bool {
        matches!(self.data, ViewData::Decrypted { .. })
    }

    /// The manifest entry.
    pub fn info(&self) -> &'a TensorInfo {
        self.info
    }

    /// SHA-256 of the tensor's bytes.
    pub fn sha256(&self) -> [u8; 32] {
        sha256(self.data())
    }

    /// The elements as a typed slice; the dtype must match `T` exactly.
    pub fn as_slice<T: Element>(&self) -> Result<&[T]> {
        if T::DTYPE != self.info.dtype {
            return Err(Error::new(ErrorKind::DtypeMismatch {
                name: self.info.name.clone(),
                found: self.info.dtype,
                requested: T::DTYPE,
            }));
        }
        bytemuck::try_cast_slice(self.data())
            .map_err(|_| Error::new(ErrorKind::Misaligned(self.info.name.clone())))
    }

    /// An ndarray view of the elements, shaped like the tensor.
    #[cfg(feature = "ndarray")]
    pub fn array_view<T: Element>(&self) -> Result<ndarray::ArrayViewD<'_, T>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{WriteOptions, Writer};

    /// One encrypted 2 MiB tensor (large enough for the buffer pool) and a small one.
    fn encrypted(dir: &Path) -> (PathBuf, RecipientSecretKey, Vec<u8>) {
        let id = RecipientSecretKey::generate_os().unwrap();
        let big: Vec<u8> = (0..(2u32 << 20) + 5).map(|i| (i * 13 + 1) as u8).collect();
        let path = dir.join("pool.tseal");
        let info = ModelInfo {
            model_id: "pool".into(),
            version: 1,
            ..ModelInfo::default()
        };
        let opts = WriteOptions {
            recipients: vec![id.public_key().clone()],
            ..WriteOptions::default()
        };
        let mut w = Writer::create(&path, info, opts).unwrap();
        w.add("big", Dtype::U8, &[big.len() as u64], &big).unwrap();
        w.add("small", Dtype::U8, &[3], &[1, 2, 3]).unwrap();
        w.finish().unwrap();
        (path, id, big)
    }

    #[test]
    fn decrypted_buffers_are_reused_zeroized_and_wiped_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let (path, id, big) = encrypted(dir.path());
        let model = Model::open_with(
            &path,
            &Policy::allow_unsigned(),
            OpenOptions::new().identity(id),
        )
        .unwrap();
        for _ in 0..3 {
            // The second and third reads reuse the first one's buffer.
            assert_eq!(model.tensor("big").unwrap().data(), &big[..]);
            assert_eq!(model.tensor("small").unwrap().data(), &[1, 2, 3]);
            assert_eq!(
                model.pool.pooled_all_zero(),
                [true],
                "one large buffer kept, zeroized; small ones freed"
            );
        }
        // Two live views need two buffers; both come back zeroized.
        let (a, b) = (model.tensor("big").unwrap(), model.tensor("big").unwrap());
        assert_eq!(a.data(), b.data());
        drop((a, b));
        assert_eq!(model.pool.pooled_all_zero(), [true, true]);

        // A chunk that fails authentication (here: under the wrong key, as for a
        // forged chunk) is reported with its index, and no buffer is returned.
        let info = &model.manifest.tensors[0];
        let wrong = SliceKey::from_bytes(&[9; 32]).unwrap();
        let e = model.decrypt(info, &wrong).err().unwrap();
        assert!(
            matches!(e.kind(), ErrorKind::Decryption { slice: 0, .. }),
            "{e}"
        );
        assert_eq!(model.pool.pooled_all_zero(), [true, true]);
        assert_eq!(model.tensor("big").unwrap().data(), &big[..]);
    }
}
