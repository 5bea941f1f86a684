//! Whole-file verification in bounded memory: [`verify_file`].

use std::path::Path;
use std::sync::mpsc;

use tensorseal_crypto::{SliceKey, Tag};
use tensorseal_format::{
    ErrorKind as FmtKind, Footer, FormatError, Manifest, ModelInfo, Structure, CHUNK_SIZE, TAG_LEN,
};
use zeroize::Zeroize;

use crate::digest::{digest_eq, SliceHasher};
use crate::error::{Error, ErrorKind, Result};
use crate::opening::{check_zero, FileAt, ReadAt, Sealed};
use crate::policy::{Authenticity, Checked, Policy};
use crate::reader::OpenOptions;
use crate::seal::Signer;

/// Bytes of one read window: a multiple of the chunk size, so every window of
/// an encrypted slice holds whole chunks.
pub(crate) const WINDOW: usize = 16 << 20;
const _: () = assert!((WINDOW as u64).is_multiple_of(CHUNK_SIZE));

/// What [`verify_file`] checked.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    /// Signatures, trust and header MAC, as [`crate::Model::checked`] says them.
    pub checked: Checked,
    /// The signers whose signatures verified, marked trusted or not.
    pub signers: Vec<Signer>,
    /// The verified manifest.
    pub manifest: Manifest,
    /// The verified footer (its `manifest_sha256` names the release).
    pub footer: Footer,
    /// Slices whose digest (and padding) verified: all of them.
    pub slices_verified: usize,
    /// Tensors in slices that were decrypted, every chunk's tag checked.
    pub tensors_decrypted: usize,
    /// Stored bytes of all slices, hashed.
    pub bytes_verified: u64,
    /// Ciphertext bytes authenticated and decrypted (then wiped).
    pub bytes_decrypted: u64,
}

impl VerifyReport {
    /// Model metadata.
    pub fn info(&self) -> &ModelInfo {
        &self.manifest.model
    }

    /// Whether the file is encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.manifest.encryption.is_some()
    }
}

/// Verifies the container at `path` as [`crate::Model::open_with`] with
/// eager verification would, and with identities in `opts` also authenticates
/// and decrypts every chunk of every slice they unlock, holding only a few
/// windows of the data region in memory at a time. The read mode and
/// verification setting of `opts` are ignored.
///
/// The checks and their order are those of the full open (shared code):
/// preamble, footer, tail read once, manifest and block digests, signatures
/// and policy, manifest and layout, recipient block, header padding, and
/// unlocking, all before a byte of the data region is read. Then the tag
/// region is read once (1/4096 of the data), and the data region streams in
/// file order: each window is read once into private memory, padding in it
/// checked, hashed, and when its slice's key is held, authenticated and
/// decrypted in place from that same buffer and wiped. When several findings
/// exist the one reported is the full open's: slice padding, then unlocking,
/// then slice digests and inner padding (first slice first), then chunk tags.
///
/// **Memory.** Besides the tail (bounded by the policy's limits) and the tag
/// region, two buffers of one window (16 MiB) each are live: a reader thread
/// fills one while the other is hashed and decrypted, and each is handed back
/// before the next is taken, so peak memory does not grow with the file
/// (about 32 MiB plus 1/4096 of the file for a 1 GiB file). Hashing uses
/// BLAKE3's rayon path and decryption is parallel across the chunks of a
/// window.
///
/// A file that shrinks or grows while it is read is an I/O error.
pub fn verify_file(
    path: impl AsRef<Path>,
    policy: &Policy,
    opts: OpenOptions,
) -> Result<VerifyReport> {
    let path = path.as_ref();
    verify(path, policy, &opts).map_err(|e| e.with_path(path))
}

fn verify(path: &Path, policy: &Policy, opts: &OpenOptions) -> Result<VerifyReport> {
    let file = tensorseal_fs::open_regular(path).map_err(|e| Error::io(path, "open", e))?;
    let len = file
        .metadata()
        .map_err(|e| Error::io(path, "stat", e))?
        .len();
    let src = FileAt {
        file: &file,
        path,
        len,
    };
    let sealed = Sealed::check(&src, policy)?;
    // An unlocking failure is reported after any slice padding finding, as
    // the full open does; meanwhile the data is only hashed.
    let (file_key, keys, unlock_err) = match sealed.unlock(opts.identities_slice()) {
        Ok(u) => (u.file_key, u.slices, None),
        Err(e) => (None, Vec::new(), Some(e)),
    };
    let m = &sealed.manifest;
    let regions = m.regions();
    let tag_bytes = src.read_at(
        regions.data_end,
        (regions.tags_end - regions.data_end) as usize,
    )?;
    let tags: &[Tag] = bytemuck::cast_slice(&tag_bytes);

    let mut run = Run {
        m,
        keys: &keys,
        tags,
        data_end: regions.data_end,
        padding: None,
        slice: None,
        decryption: None,
        hasher: None,
        slice_err: None,
        dec_err: None,
        tensors_decrypted: 0,
        bytes_decrypted: 0,
    };
    stream(&src, &plan(m), |unit, buf| run.take(unit, buf))?;
    src.check_end()?;
    if let Some(e) = run.padding {
        return Err(e.into());
    }
    if let Some(e) = unlock_err {
        return Err(e);
    }
    if let Some(e) = run.slice {
        return Err(e.into());
    }
    if let Some(e) = run.decryption {
        return Err(e);
    }
    let (tensors_decrypted, bytes_decrypted) = (run.tensors_decrypted, run.bytes_decrypted);
    let trusted = sealed.signers.iter().filter(|s| s.trusted).count();
    let authenticity = match (trusted, sealed.signers.len()) {
        (0, 0) => Authenticity::Unsigned,
        (0, _) => Authenticity::UntrustedSignatures,
        (n, _) => Authenticity::Signed { trusted: n },
    };
    let checked = Checked {
        authenticity,
        encrypted: sealed.manifest.encryption.is_some(),
        header_mac: file_key.is_some(),
    };
    Ok(VerifyReport {
        checked,
        slices_verified: sealed.manifest.slices.len(),
        bytes_verified: sealed.manifest.slices.iter().map(|s| s.length).sum(),
        tensors_decrypted,
        bytes_decrypted,
        signers: sealed.signers,
        manifest: sealed.manifest,
        footer: sealed.footer,
    })
}

/// One read of the data region.
#[derive(Debug, Clone, Copy)]
struct Unit {
    at: u64,
    len: usize,
    what: What,
}

#[derive(Debug, Clone, Copy)]
enum What {
    /// Padding after slice `i`, before slice `i + 1`.
    Padding(u32),
    /// Bytes of slice `i` from `rel`; `last` closes the slice.
    Slice { i: u32, rel: u64, last: bool },
}

/// The data region in file order, in windows of at most [`WINDOW`] bytes.
/// An empty slice gets one empty unit (its single empty chunk has a tag).
fn plan(m: &Manifest) -> Vec<Unit> {
    let mut out = Vec::new();
    let w = WINDOW as u64;
    for (i, s) in m.slices.iter().enumerate() {
        if i > 0 {
            let prev = &m.slices[i - 1];
            let mut at = prev.offset + prev.length;
            while at < s.offset {
                let len = (s.offset - at).min(w);
                out.push(Unit {
                    at,
                    len: len as usize,
                    what: What::Padding(i as u32 - 1),
                });
                at += len;
            }
        }
        let mut rel = 0;
        loop {
            let len = (s.length - rel).min(w);
            out.push(Unit {
                at: s.offset + rel,
                len: len as usize,
                what: What::Slice {
                    i: i as u32,
                    rel,
                    last: rel + len == s.length,
                },
            });
            rel += len;
            if rel == s.length {
                break;
            }
        }
    }
    out
}

/// Reads `units` in order on a second thread through two reused buffers and
/// hands each to `take`, which works on one while the other is being filled.
fn stream(src: &FileAt<'_>, units: &[Unit], mut take: impl FnMut(Unit, &mut [u8])) -> Result<()> {
    let biggest = units.iter().map(|u| u.len).max().unwrap_or(0);
    let (free_tx, free_rx) = mpsc::channel::<Vec<u8>>();
    let (full_tx, full_rx) = mpsc::sync_channel::<Result<(Unit, Vec<u8>)>>(1);
    for _ in 0..2 {
        // Cannot fail: the receiver is alive.
        let _ = free_tx.send(vec![0u8; biggest]);
    }
    std::thread::scope(|scope| {
        scope.spawn(move || {
            for &u in units {
                let Ok(mut buf) = free_rx.recv() else { return };
                let r = src.fill(u.at, &mut buf[..u.len]).map(|()| (u, buf));
                let failed = r.is_err();
                if full_tx.send(r).is_err() || failed {
                    return;
                }
            }
        });
        for _ in units {
            let (u, mut buf) = full_rx
                .recv()
                .map_err(|_| Error::new(ErrorKind::Invalid("verify reader stopped".into())))??;
            take(u, &mut buf[..u.len]);
            // Plaintext never outlives its window.
            buf[..u.len].zeroize();
            let _ = free_tx.send(buf);
        }
        Ok(())
    })
}

/// The state of one pass over the data region.
struct Run<'a> {
    m: &'a Manifest,
    keys: &'a [Option<SliceKey>],
    tags: &'a [Tag],
    data_end: u64,
    /// First non-zero slice padding.
    padding: Option<FormatError>,
    /// First slice whose digest or inner padding failed.
    slice: Option<FormatError>,
    /// First chunk that failed authentication in a slice whose digest held.
    decryption: Option<Error>,
    hasher: Option<SliceHasher>,
    /// Inner padding or decryption failures of the current slice.
    slice_err: Option<FormatError>,
    dec_err: Option<Error>,
    tensors_decrypted: usize,
    bytes_decrypted: u64,
}

impl Run<'_> {
    fn take(&mut self, u: Unit, buf: &mut [u8]) {
        match u.what {
            What::Padding(i) => {
                if self.padding.is_none() {
                    self.padding = check_zero(buf, Structure::SlicePadding(i), u.at).err();
                }
            }
            What::Slice { i, rel, last } => self.slice_part(i, rel, last, u.at, buf),
        }
    }

    fn slice_part(&mut self, i: u32, rel: u64, last: bool, at: u64, buf: &mut [u8]) {
        let m = self.m;
        let s = &m.slices[i as usize];
        let mut h = self
            .hasher
            .take()
            .unwrap_or_else(|| SliceHasher::new(m.digest_algorithm));
        h.update(buf);
        let end = at + buf.len() as u64;
        // Slice-relative chunk tags of this slice, from the one copy of the tag region.
        let slice_tags = s.encryption.as_ref().map(|_| {
            let first = ((s.tags_offset - self.data_end) / TAG_LEN) as usize;
            &self.tags[first..first + s.chunk_count() as usize]
        });
        match (slice_tags, self.keys.get(i as usize)) {
            (None, _) => {
                // Zero padding between the tensors of a plaintext slice.
                let ts =
                    &m.tensors[s.first_tensor as usize..(s.first_tensor + s.tensor_count) as usize];
                for pair in ts.windows(2) {
                    let (g0, g1) = (pair[0].offset + pair[0].length, pair[1].offset);
                    let (a, b) = (g0.max(at), g1.min(end));
                    if a < b && self.slice_err.is_none() {
                        self.slice_err = check_zero(
                            &buf[(a - at) as usize..(b - at) as usize],
                            Structure::Slice(i),
                            a,
                        )
                        .err();
                    }
                }
            }
            (Some(tags), Some(Some(key))) if self.dec_err.is_none() => {
                let c0 = rel / CHUNK_SIZE;
                let n = (buf.len() as u64).div_ceil(CHUNK_SIZE).max(1);
                let r = tensorseal_crypto::open_chunk_range(
                    key,
                    s.length,
                    c0,
                    buf,
                    &tags[c0 as usize..(c0 + n) as usize],
                );
                self.dec_err = r.err().map(|e| match e {
                    tensorseal_crypto::Error::ChunkAuthentication { chunk } => {
                        // The tensor the failing chunk starts in (or the slice's first).
                        let chunk_at = s.offset + chunk * CHUNK_SIZE;
                        let ts = &m.tensors
                            [s.first_tensor as usize..(s.first_tensor + s.tensor_count) as usize];
                        let name = ts
                            .iter()
                            .rev()
                            .find(|t| t.offset <= chunk_at)
                            .or(ts.first())
                            .map_or_else(String::new, |t| t.name.clone());
                        Error::new(ErrorKind::Decryption {
                            tensor: name,
                            slice: i,
                            chunk,
                        })
                    }
                    other => Error::new(ErrorKind::Crypto(other)),
                });
                self.bytes_decrypted += buf.len() as u64;
            }
            _ => {}
        }
        if !last {
            self.hasher = Some(h);
            return;
        }
        if let Some(tags) = slice_tags {
            h.update(bytemuck::cast_slice(tags));
        }
        let digest_ok = digest_eq(&h.finalize(), &s.digest);
        let slice_err = self.slice_err.take();
        let dec_err = self.dec_err.take();
        if self.slice.is_none() {
            if !digest_ok {
                self.slice = Some(FormatError::new(
                    Structure::Slice(i),
                    s.offset,
                    FmtKind::DigestMismatch,
                ));
            } else if slice_err.is_some() {
                self.slice = slice_err;
            }
        }
        if digest_ok && self.decryption.is_none() {
            self.decryption = dec_err;
        }
        if slice_tags.is_some() && matches!(self.keys.get(i as usize), Some(Some(_))) {
            self.tensors_decrypted += s.tensor_count as usize;
        }
    }
}

impl crate::Model {
    /// The same report as [`verify_file`], for a model already open (for a
    /// mapped file, say): every slice digest is checked (a no-op after an
    /// eager open) and every readable tensor decrypted, each chunk's tag
    /// checked, the plaintext dropped (and so zeroized) at once.
    pub fn verify_report(&self) -> Result<VerifyReport> {
        self.verify()?;
        let mut tensors_decrypted = 0;
        let mut bytes_decrypted = 0;
        if self.is_encrypted() {
            for i in 0..self.len() {
                if self.is_readable(i) {
                    let t = self.tensor_at(i)?;
                    bytes_decrypted += t.data().len() as u64;
                    tensors_decrypted += 1;
                }
            }
        }
        let m = self.manifest();
        Ok(VerifyReport {
            checked: self.checked(),
            signers: self.signers().to_vec(),
            manifest: m.clone(),
            footer: *self.footer(),
            slices_verified: m.slices.len(),
            tensors_decrypted,
            bytes_verified: m.slices.iter().map(|s| s.length).sum(),
            bytes_decrypted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Dtype, WriteOptions, Writer};
    use tensorseal_crypto::RecipientSecretKey;

    /// One encrypted 200 KiB tensor (4 chunks) in one slice.
    fn encrypted(dir: &Path) -> (std::path::PathBuf, RecipientSecretKey) {
        let id = RecipientSecretKey::generate_os().unwrap();
        let path = dir.join("e.tseal");
        let info = ModelInfo {
            model_id: "e".into(),
            version: 1,
            ..ModelInfo::default()
        };
        let opts = WriteOptions {
            recipients: vec![id.public_key().clone()],
            ..WriteOptions::default()
        };
        let mut w = Writer::create(&path, info, opts).unwrap();
        let d: Vec<u8> = (0..200u32 << 10).map(|i| (i * 7) as u8).collect();
        w.add("t", Dtype::U8, &[d.len() as u64], &d).unwrap();
        w.finish().unwrap();
        (path, id)
    }

    /// Streams `path` with `keys` in place of the unwrapped ones.
    fn run_with(path: &Path, keys: &[Option<SliceKey>]) -> (Option<FormatError>, Option<Error>) {
        let file = std::fs::File::open(path).unwrap();
        let len = file.metadata().unwrap().len();
        let src = FileAt {
            file: &file,
            path,
            len,
        };
        let sealed = Sealed::check(&src, &Policy::allow_unsigned()).unwrap();
        let m = &sealed.manifest;
        let regions = m.regions();
        let tag_bytes = src
            .read_at(
                regions.data_end,
                (regions.tags_end - regions.data_end) as usize,
            )
            .unwrap();
        let mut run = Run {
            m,
            keys,
            tags: bytemuck::cast_slice(&tag_bytes),
            data_end: regions.data_end,
            padding: None,
            slice: None,
            decryption: None,
            hasher: None,
            slice_err: None,
            dec_err: None,
            tensors_decrypted: 0,
            bytes_decrypted: 0,
        };
        stream(&src, &plan(m), |u, b| run.take(u, b)).unwrap();
        (run.slice, run.decryption)
    }

    #[test]
    fn a_chunk_failing_authentication_is_named_unless_the_digest_already_failed() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = encrypted(dir.path());
        // Under a wrong key every tag fails, as for forged chunks whose
        // digest was recomputed; the first window reports one of them.
        let wrong = SliceKey::from_bytes(&[9; 32]).unwrap();
        let (slice, dec) = run_with(&path, &[Some(wrong.clone())]);
        assert!(slice.is_none());
        let e = dec.expect("a decryption failure");
        assert!(
            matches!(e.kind(), ErrorKind::Decryption { slice: 0, tensor, chunk } if tensor == "t" && *chunk < 4),
            "{e}"
        );
        // A digest failure in the same slice is what is reported (as the full
        // open checks the digest before decrypting).
        let mut b = std::fs::read(&path).unwrap();
        b[4096 + 10] ^= 1;
        std::fs::write(&path, b).unwrap();
        let (slice, dec) = run_with(&path, &[Some(wrong)]);
        assert!(matches!(
            slice,
            Some(FormatError {
                kind: FmtKind::DigestMismatch,
                ..
            })
        ));
        assert!(dec.is_none());
    }

    #[test]
    fn a_file_that_changes_size_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, [1u8; 100]).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        // Measured longer than it is (it shrank): a short read is refused.
        let shrunk = FileAt {
            file: &file,
            path: &path,
            len: 200,
        };
        let e = shrunk.read_at(50, 100).unwrap_err();
        assert!(e.to_string().contains("changed size"), "{e}");
        assert!(shrunk.check_end().is_ok());
        // Measured shorter than it is (it grew).
        let grown = FileAt {
            file: &file,
            path: &path,
            len: 99,
        };
        let e = grown.check_end().unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Io { .. }), "{e}");
        assert!(e.to_string().contains("changed size"), "{e}");
    }
}
