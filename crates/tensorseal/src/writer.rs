//! The streaming writer: tensors go to disk one at a time, each byte written once,
//! and the file appears at its destination only when complete (atomic commit).

use std::collections::HashSet;
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use tensorseal_crypto::{self as crypto, FileKey, RecipientPublicKey, SigningKey};
use tensorseal_format::{
    align_up, DigestAlgorithm, Dtype, EncryptionHeader, Footer, Limits, Manifest, MetaValue,
    ModelInfo, Preamble, Producer, RecipientBlock, SignatureBlock, Slice, SliceEncryption, Source,
    TensorInfo, AEAD_CHACHA20POLY1305_STREAM64K, DATA_OFFSET, MAJOR, MINOR, PREAMBLE_LEN,
};
use zeroize::{Zeroize, Zeroizing};

use crate::digest::SliceHasher;
use crate::error::{Error, ErrorKind, Result};
use crate::{seal, writeback};
use tensorseal_fs::{AtomicFile, Mode};

/// Bytes hashed and written per step by [`Writer::add`]: large enough to amortise
/// a thread hand-off, small enough to stay in cache between hashing and copying.
const HASH_STEP: usize = 1 << 20;

/// Writeback of the temporary file is started every this many bytes.
const WRITEBACK_STEP: u64 = 32 << 20;

/// Where a tensor's bytes come from.
enum Body<'a, R> {
    Bytes(&'a [u8]),
    Reader(R),
}

/// How tensors are grouped into slices (the unit of verification, encryption and grants).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SlicePolicy {
    /// One slice per tensor: finest lazy verification and grants.
    #[default]
    PerTensor,
    /// Consecutive tensors share a slice while it stays within this many bytes
    /// (a larger tensor gets a slice of its own).
    MaxBytes(u64),
    /// One slice until the caller calls [`Writer::break_slice`].
    Manual,
}

/// Options for [`Writer::create`].
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Slicing policy.
    pub slicing: SlicePolicy,
    /// Replace an existing destination. Off by default.
    pub overwrite: bool,
    /// Sign the manifest with each of these keys (one signature each).
    pub signers: Vec<Arc<SigningKey>>,
    /// Encrypt to these recipients (each gets the file key). Empty: plaintext.
    ///
    /// Encryption buffers one slice in memory (a zeroizing buffer) because a
    /// slice's key is bound to its descriptor, known only when the slice ends:
    /// one tensor with [`SlicePolicy::PerTensor`], at most the group size with
    /// [`SlicePolicy::MaxBytes`] (or one larger tensor), unbounded with
    /// [`SlicePolicy::Manual`]. The tags (16 bytes per 64 KiB) are kept until
    /// the end and written after the data.
    pub recipients: Vec<RecipientPublicKey>,
    /// The slice digest algorithm the manifest records: BLAKE3 (the default)
    /// or SHA-256. It covers the stored bytes (ciphertext and tags for
    /// encrypted slices); the manifest and footer digests are SHA-256 either way.
    pub digest: DigestAlgorithm,
    /// Conformance vectors only: draw every random value (file key, salts,
    /// HPKE encapsulations, signature hedging) from [`crate::seal::VectorRng`]
    /// over this seed, so the output is reproducible. **Never set it for real
    /// files**: whoever knows the seed can decrypt them. Exists only with the
    /// `test-vectors` cargo feature.
    #[cfg(feature = "test-vectors")]
    pub vector_seed: Option<[u8; 32]>,
}

struct SealState {
    file_key: FileKey,
    salt: [u8; 32],
    /// Plaintext of the open slice.
    buf: Zeroizing<Vec<u8>>,
    /// Tags of every closed slice, in slice order.
    tags: Vec<u8>,
}

impl SealState {
    /// Makes room for `extra` bytes without leaving plaintext behind in freed memory.
    fn reserve(&mut self, extra: usize) {
        let need = self.buf.len() + extra;
        if need > self.buf.capacity() {
            let mut bigger = Zeroizing::new(Vec::with_capacity(need.max(self.buf.capacity() * 2)));
            bigger.extend_from_slice(&self.buf);
            self.buf = bigger;
        }
    }
}

struct OpenSlice {
    offset: u64,
    first_tensor: u32,
    hasher: SliceHasher,
}

/// Writes a container tensor by tensor.
///
/// ```no_run
/// use tensorseal::{Writer, WriteOptions, ModelInfo, Dtype};
/// let info = ModelInfo { model_id: "demo".into(), version: 1, ..ModelInfo::default() };
/// let mut w = Writer::create("model.tseal", info, WriteOptions::default())?;
/// w.add("bias", Dtype::F32, &[2], &[0u8; 8])?;
/// w.finish()?;
/// # Ok::<(), tensorseal::Error>(())
/// ```
pub struct Writer {
    out: BufWriter<AtomicFile>,
    pos: u64,
    info: ModelInfo,
    options: WriteOptions,
    slices: Vec<Slice>,
    tensors: Vec<TensorInfo>,
    names: HashSet<String>,
    current: Option<OpenSlice>,
    limits: Limits,
    poisoned: bool,
    /// File offset from which writeback has not been started yet.
    writeback_from: u64,
    seal: Option<SealState>,
    rng: seal::WriterRng,
}

impl Writer {
    /// Starts a container that will appear at `dest` when [`Writer::finish`] succeeds.
    /// Until then `dest` is untouched; the bytes go to a temporary file beside it.
    pub fn create(
        dest: impl AsRef<Path>,
        mut info: ModelInfo,
        options: WriteOptions,
    ) -> Result<Writer> {
        let dest = dest.as_ref().to_path_buf();
        if !options.overwrite && dest.exists() {
            return Err(Error::at(&dest, ErrorKind::Exists));
        }
        let mode = if options.overwrite {
            Mode::Replace
        } else {
            Mode::New
        };
        let tmp = AtomicFile::create(&dest, mode).map_err(fs_error)?;
        let mut out = BufWriter::with_capacity(1 << 20, tmp);
        let mut head = vec![0u8; DATA_OFFSET as usize];
        head[..PREAMBLE_LEN as usize].copy_from_slice(&Preamble::CURRENT.encode());
        out.write_all(&head)
            .map_err(|e| Error::io(out.get_ref().path(), "write", e))?;
        if info.producer.tool.is_empty() {
            info.producer = Producer {
                tool: "tensorseal".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            };
        }
        if info.created == 0 {
            info.created = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
        }
        #[cfg(feature = "test-vectors")]
        let mut rng = match options.vector_seed {
            Some(s) => seal::WriterRng::Vector(seal::VectorRng::new(s)),
            None => seal::WriterRng::Os,
        };
        #[cfg(not(feature = "test-vectors"))]
        let mut rng = seal::WriterRng::Os;
        let seal = if options.recipients.is_empty() {
            None
        } else {
            Some(SealState {
                file_key: FileKey::generate(&mut rng),
                salt: crypto::generate_salt(&mut rng),
                buf: Zeroizing::new(Vec::new()),
                tags: Vec::new(),
            })
        };
        Ok(Writer {
            seal,
            rng,
            out,
            pos: DATA_OFFSET,
            info,
            options,
            slices: Vec::new(),
            tensors: Vec::new(),
            names: HashSet::new(),
            current: None,
            limits: Limits::V1,
            poisoned: false,
            writeback_from: 0,
        })
    }

    /// Appends a tensor from memory.
    pub fn add(&mut self, name: &str, dtype: Dtype, shape: &[u64], data: &[u8]) -> Result<()> {
        self.append(name, dtype, shape, Body::<&[u8]>::Bytes(data))
    }

    /// Appends a tensor whose bytes (little-endian, C order) come from `reader`, which
    /// must yield exactly the byte length that dtype and shape imply. Memory stays
    /// bounded by one 64 KiB buffer.
    pub fn add_from_reader(
        &mut self,
        name: &str,
        dtype: Dtype,
        shape: &[u64],
        reader: impl Read,
    ) -> Result<()> {
        self.append(name, dtype, shape, Body::Reader(reader))
    }

    fn append<R: Read>(
        &mut self,
        name: &str,
        dtype: Dtype,
        shape: &[u64],
        body: Body<'_, R>,
    ) -> Result<()> {
        if self.poisoned {
            return Err(invalid(
                "an earlier write failed; this writer can only be dropped",
            ));
        }
        let length = self.check_entry(name, dtype, shape)?;
        let r = self.stream(name, dtype, shape, length, body);
        self.poisoned = r.is_err();
        r
    }

    fn stream<R: Read>(
        &mut self,
        name: &str,
        dtype: Dtype,
        shape: &[u64],
        length: u64,
        body: Body<'_, R>,
    ) -> Result<()> {
        let split = match (self.options.slicing, &self.current) {
            (_, None) => false,
            (SlicePolicy::PerTensor, Some(_)) => true,
            (SlicePolicy::MaxBytes(max), Some(s)) => {
                let start = align_up(self.pos).unwrap_or(u64::MAX);
                start.saturating_add(length) - s.offset > max
            }
            (SlicePolicy::Manual, Some(_)) => false,
        };
        if split {
            self.break_slice()?;
        }
        let aligned = align_up(self.pos).ok_or_else(|| invalid("file too large"))?;
        let pad = vec![0u8; (aligned - self.pos) as usize];
        self.write(&pad)?;
        if let Some(seal) = &mut self.seal {
            let extra = usize::try_from(length).map_err(|_| invalid("tensor too large"))?;
            seal.reserve(extra);
        }
        let slice = match &mut self.current {
            Some(s) => {
                s.hasher.update(&pad);
                s
            }
            None => self.current.insert(OpenSlice {
                offset: aligned,
                first_tensor: self.tensors.len() as u32,
                hasher: SliceHasher::new(self.options.digest),
            }),
        };
        let mut hasher =
            std::mem::replace(&mut slice.hasher, SliceHasher::new(self.options.digest));
        // Encrypted slices are hashed as ciphertext when they close.
        let hash = self.seal.is_none();
        let too_long = || {
            invalid(format!(
                "tensor {name:?}: data is longer than the {length} bytes its dtype and shape imply"
            ))
        };
        let copied = match body {
            Body::Bytes(data) => {
                if data.len() as u64 > length {
                    return Err(too_long());
                }
                for part in data.chunks(HASH_STEP) {
                    if hash {
                        // SHA-256 costs about three times the copy into the page
                        // cache (BLAKE3 about as much as the copy); overlap the
                        // two on the thread pool. BLAKE3 splits large parts
                        // further across the pool (update_rayon).
                        let (_, written) = rayon::join(|| hasher.update(part), || self.write(part));
                        written?;
                    } else {
                        self.write(part)?;
                    }
                }
                data.len() as u64
            }
            Body::Reader(mut reader) => {
                let mut buf = vec![0u8; 1 << 16];
                let mut copied = 0u64;
                loop {
                    let n = reader.read(&mut buf).map_err(|e| {
                        Error::new(ErrorKind::Io {
                            op: "read tensor data",
                            source: e,
                        })
                    })?;
                    if n == 0 {
                        break;
                    }
                    copied += n as u64;
                    if copied > length {
                        return Err(too_long());
                    }
                    if hash {
                        hasher.update(&buf[..n]);
                    }
                    self.write(&buf[..n])?;
                }
                copied
            }
        };
        if copied != length {
            return Err(invalid(format!(
                "tensor {name:?}: {copied} bytes of data, dtype and shape imply {length}"
            )));
        }
        if let Some(s) = &mut self.current {
            s.hasher = hasher;
        }
        let slice = self.slices.len() as u32;
        self.tensors.push(TensorInfo {
            name: name.to_owned(),
            dtype,
            shape: shape.to_vec(),
            slice,
            offset: aligned,
            length,
        });
        self.names.insert(name.to_owned());
        Ok(())
    }

    fn check_entry(&self, name: &str, dtype: Dtype, shape: &[u64]) -> Result<u64> {
        if name.is_empty() {
            return Err(invalid("tensor name is empty"));
        }
        if name.len() as u64 > self.limits.max_name_bytes {
            return Err(invalid(format!(
                "tensor name longer than {} bytes",
                self.limits.max_name_bytes
            )));
        }
        if self.names.contains(name) {
            return Err(invalid(format!("duplicate tensor name {name:?}")));
        }
        if shape.len() as u64 > self.limits.max_rank {
            return Err(invalid(format!(
                "tensor {name:?}: rank over {}",
                self.limits.max_rank
            )));
        }
        if self.tensors.len() as u64 >= self.limits.max_tensors {
            return Err(invalid("too many tensors"));
        }
        shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .and_then(|n| dtype.byte_len(n))
            .ok_or_else(|| {
                invalid(format!(
                    "tensor {name:?}: shape {shape:?} overflows or is not whole bytes for {dtype}"
                ))
            })
    }

    /// The metadata key-values the manifest will carry.
    pub fn metadata(&self) -> &[(String, MetaValue)] {
        &self.info.metadata
    }

    /// Replaces the metadata key-values (sorted by key, unique), e.g. with values
    /// that are only known once every tensor has been read.
    pub fn set_metadata(&mut self, metadata: Vec<(String, MetaValue)>) {
        self.info.metadata = metadata;
    }

    /// Sets the manifest's record of the file this container was converted from.
    /// Converters that hash their input while writing call it before
    /// [`Writer::finish`]; it replaces `ModelInfo::source` given to [`Writer::create`].
    pub fn set_source(&mut self, source: Source) {
        self.info.source = Some(source);
    }

    /// Ends the current slice; the next tensor starts a new one.
    pub fn break_slice(&mut self) -> Result<()> {
        let r = self.close_slice();
        if r.is_err() {
            self.poisoned = true;
        }
        r
    }

    fn close_slice(&mut self) -> Result<()> {
        let Some(s) = self.current.take() else {
            return Ok(());
        };
        let index = self.slices.len() as u32;
        let length = self.pos - s.offset;
        let first = s.first_tensor;
        let (digest, encryption) = match &mut self.seal {
            None => (s.hasher.finalize(), None),
            Some(seal) => {
                let desc = seal::descriptor_digest(
                    index,
                    s.offset,
                    length,
                    &self.tensors[first as usize..],
                );
                let slice_salt = crypto::generate_salt(&mut self.rng);
                let key = crypto::slice_key(
                    &seal.file_key,
                    &seal.salt,
                    u64::from(index),
                    &slice_salt,
                    &desc,
                );
                let tags = crypto::seal_slice(&key, &mut seal.buf)?;
                let mut h = SliceHasher::new(self.options.digest);
                h.update(&seal.buf[..]);
                for t in &tags {
                    h.update(t);
                    seal.tags.extend_from_slice(t);
                }
                self.out
                    .write_all(&seal.buf)
                    .map_err(|e| Error::io(self.out.get_ref().path(), "write", e))?;
                seal.buf.zeroize();
                (
                    h.finalize(),
                    Some(SliceEncryption {
                        salt: slice_salt,
                        key_commitment: crypto::slice_key_commitment(&key),
                    }),
                )
            }
        };
        self.slices.push(Slice {
            offset: s.offset,
            length,
            digest,
            encryption,
            tags_offset: 0,
            first_tensor: first,
            tensor_count: self.tensors.len() as u32 - first,
        });
        if self.seal.is_some() && self.pos - self.writeback_from >= WRITEBACK_STEP {
            self.start_writeback()?;
        }
        Ok(())
    }

    /// Appends bytes at the current position: into the open slice's buffer when
    /// encrypting, straight to the file otherwise.
    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        match (&mut self.seal, &self.current) {
            (Some(seal), Some(_)) => {
                seal.reserve(bytes.len());
                seal.buf.extend_from_slice(bytes);
            }
            _ => self
                .out
                .write_all(bytes)
                .map_err(|e| Error::io(self.out.get_ref().path(), "write", e))?,
        }
        self.pos += bytes.len() as u64;
        if self.pos - self.writeback_from >= WRITEBACK_STEP {
            self.start_writeback()?;
        }
        Ok(())
    }

    /// Asks the kernel to start writing what we wrote so far to disk, so that
    /// the fsync of [`Writer::finish`] finds little left to do and the disk
    /// works while we hash and copy. Advisory: where it is unavailable the
    /// fsync does all the work, as before.
    fn start_writeback(&mut self) -> Result<()> {
        self.out
            .flush()
            .map_err(|e| Error::io(self.out.get_ref().path(), "write", e))?;
        writeback::start(self.out.get_ref().as_file(), self.writeback_from);
        self.writeback_from = self.pos;
        Ok(())
    }

    /// Writes the manifest and footer, syncs, and renames the file into place
    /// (then syncs the directory). Returns the manifest written.
    pub fn finish(mut self) -> Result<Manifest> {
        if self.poisoned {
            return Err(invalid(
                "an earlier write failed; nothing was written to the destination",
            ));
        }
        self.break_slice()?;
        let seal = self.seal.take();
        let encryption = match &seal {
            Some(seal) => {
                self.write(&seal.tags)?;
                Some(EncryptionHeader {
                    aead: AEAD_CHACHA20POLY1305_STREAM64K,
                    salt: seal.salt,
                    key_commitment: crypto::key_commitment(&seal.file_key, &seal.salt),
                })
            }
            None => None,
        };
        let manifest = Manifest {
            digest_algorithm: self.options.digest,
            model: std::mem::take(&mut self.info),
            encryption,
            slices: std::mem::take(&mut self.slices),
            tensors: std::mem::take(&mut self.tensors),
        };
        let bytes = manifest.encode();
        // Decoding what we wrote catches a writer bug before it reaches a user.
        let decoded = Manifest::decode(&bytes, self.pos, &self.limits)
            .map_err(|e| invalid(format!("internal error, manifest does not validate: {e}")))?;
        let manifest_sha256: [u8; 32] = Sha256::digest(&bytes).into();
        let mut entries = Vec::with_capacity(self.options.signers.len());
        for k in &self.options.signers {
            let st = seal::statement_for(&manifest.model, manifest_sha256, &k.fingerprint());
            entries.push(seal::sign_entry(k, &st, &mut self.rng)?);
        }
        let sig_bytes = SignatureBlock { entries }.encode();
        let rec_bytes = match &seal {
            Some(seal) => {
                let stanzas = self
                    .options
                    .recipients
                    .iter()
                    .map(|r| seal::file_key_stanza(r, &seal.file_key, &mut self.rng))
                    .collect::<Result<Vec<_>>>()?;
                let mac_key = crypto::header_mac_key(&seal.file_key, &seal.salt);
                let header_mac = crypto::header_mac(&mac_key, &seal::mac_input(&bytes, &stanzas));
                RecipientBlock {
                    stanzas,
                    header_mac,
                }
                .encode()
            }
            None => Vec::new(),
        };
        let mut h = Sha256::new();
        h.update(&sig_bytes);
        h.update(&rec_bytes);
        let footer = Footer {
            manifest_offset: self.pos,
            manifest_len: bytes.len() as u64,
            signatures_len: sig_bytes.len() as u64,
            recipients_len: rec_bytes.len() as u64,
            manifest_sha256,
            blocks_sha256: h.finalize().into(),
            major: MAJOR,
            minor: MINOR,
        };
        self.write(&bytes)?;
        self.write(&sig_bytes)?;
        self.write(&rec_bytes)?;
        self.write(&footer.encode())?;
        let tmp_path = self.out.get_ref().path().to_path_buf();
        let file = self
            .out
            .into_inner()
            .map_err(|e| Error::io(&tmp_path, "write", e.into_error()))?;
        file.commit().map_err(fs_error)?;
        Ok(decoded)
    }
}

/// The facade's error for a failed step of an atomic write; a destination
/// that must be new but exists is [`ErrorKind::Exists`].
pub(crate) fn fs_error(e: tensorseal_fs::Error) -> Error {
    if e.is_exists() {
        return Error::at(e.path(), ErrorKind::Exists);
    }
    let (path, op) = (e.path().to_path_buf(), e.op());
    Error::io(&path, op, e.into_source())
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Invalid(msg.into()))
}
