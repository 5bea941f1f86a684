//! Slice encryption: age's STREAM construction with detached tags.
//!
//! A slice of `len` plaintext bytes is cut into [`CHUNK_SIZE`] chunks; the last
//! chunk may be shorter, and is empty only when the whole slice is empty (an
//! empty slice is exactly one empty last chunk). Chunk `c` is sealed with
//! ChaCha20-Poly1305 under the slice's AEAD key, nonce
//! `u88be(c) || (0x01 if last else 0x00)`, empty AAD. Ciphertext replaces the
//! plaintext in place, and the 16-byte tags are returned separately, so
//! ciphertext keeps the plaintext's offsets and alignment.

use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce};

use zeroize::Zeroize;

use crate::error::{Error, Result};
use crate::schedule::SliceKey;

/// Plaintext bytes per chunk (64 KiB).
pub const CHUNK_SIZE: usize = 65536;
/// Length of a chunk's Poly1305 tag.
pub const TAG_LEN: usize = 16;
/// A detached chunk tag.
pub type Tag = [u8; TAG_LEN];

const CHUNK_SIZE_U64: u64 = CHUNK_SIZE as u64;

/// Number of chunks (and tags) of a slice of `len` plaintext bytes: at least one.
pub fn chunk_count(len: u64) -> u64 {
    len.div_ceil(CHUNK_SIZE_U64).max(1)
}

/// The STREAM nonce: 11-byte big-endian counter || last-chunk flag.
pub(crate) fn stream_nonce(counter: u64, last: bool) -> Nonce {
    let mut n = [0u8; 12];
    n[3..11].copy_from_slice(&counter.to_be_bytes());
    n[11] = u8::from(last);
    Nonce::from(n)
}

fn check_chunk_shape(counter: u64, last: bool, len: usize) -> Result<()> {
    if len > CHUNK_SIZE {
        return Err(Error::ChunkLayout("chunk longer than CHUNK_SIZE"));
    }
    if !last && len != CHUNK_SIZE {
        return Err(Error::ChunkLayout(
            "a non-final chunk must be exactly CHUNK_SIZE",
        ));
    }
    if last && len == 0 && counter != 0 {
        return Err(Error::ChunkLayout(
            "only an empty slice may have an empty final chunk",
        ));
    }
    Ok(())
}

/// Raw STREAM chunk seal under a 32-byte ChaCha20-Poly1305 key (no shape checks).
pub(crate) fn seal_chunk_raw(
    key: &[u8; 32],
    counter: u64,
    last: bool,
    buf: &mut [u8],
) -> Result<Tag> {
    let cipher = ChaCha20Poly1305::new(key.into());
    let tag = cipher
        .encrypt_inout_detached(&stream_nonce(counter, last), b"", buf.into())
        .map_err(|_| Error::ChunkLayout("chunk too long for ChaCha20-Poly1305"))?;
    Ok(tag.into())
}

/// Raw STREAM chunk open under a 32-byte ChaCha20-Poly1305 key (no shape checks).
/// On failure `buf` is left unchanged.
pub(crate) fn open_chunk_raw(
    key: &[u8; 32],
    counter: u64,
    last: bool,
    buf: &mut [u8],
    tag: &Tag,
) -> Result<()> {
    let cipher = ChaCha20Poly1305::new(key.into());
    cipher
        .decrypt_inout_detached(&stream_nonce(counter, last), b"", buf.into(), tag.into())
        .map_err(|_| Error::ChunkAuthentication { chunk: counter })
}

/// Encrypts one chunk in place and returns its detached tag.
///
/// Refuses a chunk longer than [`CHUNK_SIZE`], a non-final chunk shorter than
/// it, and an empty final chunk other than chunk 0.
pub fn seal_chunk(key: &SliceKey, counter: u64, last: bool, buf: &mut [u8]) -> Result<Tag> {
    check_chunk_shape(counter, last, buf.len())?;
    seal_chunk_raw(&key.aead, counter, last, buf)
}

/// Authenticates and decrypts one chunk in place. On failure `buf` is unchanged.
pub fn open_chunk(
    key: &SliceKey,
    counter: u64,
    last: bool,
    buf: &mut [u8],
    tag: &Tag,
) -> Result<()> {
    check_chunk_shape(counter, last, buf.len())?;
    open_chunk_raw(&key.aead, counter, last, buf, tag)
}

/// Encrypts a whole slice in place and returns one tag per chunk
/// ([`chunk_count`]`(buf.len())` tags). Parallel with the `rayon` feature.
pub fn seal_slice(key: &SliceKey, buf: &mut [u8]) -> Result<Vec<Tag>> {
    let n = usize::try_from(chunk_count(buf.len() as u64))
        .map_err(|_| Error::ChunkLayout("slice too large"))?;
    let mut tags = vec![[0u8; TAG_LEN]; n];
    if buf.is_empty() {
        if let Some(t) = tags.first_mut() {
            *t = seal_chunk_raw(&key.aead, 0, true, buf)?;
        }
        return Ok(tags);
    }
    let body = |(i, (chunk, tag)): (usize, (&mut [u8], &mut Tag))| -> Result<()> {
        let last = i + 1 == n;
        *tag = seal_chunk_raw(&key.aead, i as u64, last, chunk)?;
        Ok(())
    };
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        buf.par_chunks_mut(CHUNK_SIZE)
            .zip(tags.par_iter_mut())
            .enumerate()
            .try_for_each(body)?;
    }
    #[cfg(not(feature = "rayon"))]
    {
        buf.chunks_mut(CHUNK_SIZE)
            .zip(tags.iter_mut())
            .enumerate()
            .try_for_each(body)?;
    }
    Ok(tags)
}

/// Authenticates and decrypts a whole slice in place; `tags` must hold exactly
/// [`chunk_count`]`(buf.len())` tags. On error the contents of `buf` are
/// unspecified (some chunks may be decrypted) and must be discarded.
pub fn open_slice(key: &SliceKey, buf: &mut [u8], tags: &[Tag]) -> Result<()> {
    open_chunk_range(key, buf.len() as u64, 0, buf, tags)
}

/// Checks a chunk range request and returns the plaintext length it covers
/// (the chunks `first_chunk .. first_chunk + count` of a slice of `slice_len`
/// bytes: all full chunks, except that the slice's final chunk may be short).
fn chunk_range_len(slice_len: u64, first_chunk: u64, count: usize) -> Result<u64> {
    let total = chunk_count(slice_len);
    let k = count as u64;
    if k == 0 {
        return Err(Error::ChunkLayout("no chunks requested"));
    }
    let end_chunk = first_chunk
        .checked_add(k)
        .filter(|e| *e <= total)
        .ok_or(Error::ChunkLayout("chunk range past the end of the slice"))?;
    let start = first_chunk
        .checked_mul(CHUNK_SIZE_U64)
        .ok_or(Error::ChunkLayout("chunk offset overflow"))?;
    let end = end_chunk
        .checked_mul(CHUNK_SIZE_U64)
        .ok_or(Error::ChunkLayout("chunk offset overflow"))?
        .min(slice_len);
    Ok(end.saturating_sub(start))
}

/// Random access: authenticates and decrypts, in place, the consecutive chunks
/// `first_chunk .. first_chunk + tags.len()` of a slice whose authenticated
/// plaintext length is `slice_len`.
///
/// `buf` must hold exactly those chunks' ciphertext (all full chunks, except
/// that the slice's final chunk may be short). The last-chunk flag is applied
/// to chunk `chunk_count(slice_len) - 1` only, so a truncated or extended
/// slice fails. Chunks are opened in parallel with the `rayon` feature. On
/// error the contents of `buf` are unspecified and must be discarded.
///
/// [`open_chunk_range_into`] does the same from a read-only source into a
/// separate destination, reading the source once.
pub fn open_chunk_range(
    key: &SliceKey,
    slice_len: u64,
    first_chunk: u64,
    buf: &mut [u8],
    tags: &[Tag],
) -> Result<()> {
    let expected = chunk_range_len(slice_len, first_chunk, tags.len())?;
    if buf.len() as u64 != expected {
        return Err(Error::ChunkLayout(
            "buffer length does not match the chunk range",
        ));
    }
    if buf.is_empty() {
        // Only possible for the single empty final chunk of an empty slice.
        return match tags.first() {
            Some(tag) => open_chunk_raw(&key.aead, 0, true, buf, tag),
            None => Err(Error::ChunkLayout("no chunks requested")),
        };
    }
    let last_counter = chunk_count(slice_len) - 1;
    let body = |(i, (chunk, tag)): (usize, (&mut [u8], &Tag))| -> Result<()> {
        let counter = first_chunk + i as u64;
        open_chunk_raw(&key.aead, counter, counter == last_counter, chunk, tag)
    };
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        buf.par_chunks_mut(CHUNK_SIZE)
            .zip(tags.par_iter())
            .enumerate()
            .try_for_each(body)
    }
    #[cfg(not(feature = "rayon"))]
    {
        buf.chunks_mut(CHUNK_SIZE)
            .zip(tags.iter())
            .enumerate()
            .try_for_each(body)
    }
}

/// Where the ciphertext of a chunk range comes from.
///
/// The reader of a container hands its file bytes over through this trait so
/// that decryption can promise to read each source byte exactly once: every
/// chunk is copied into private memory first, and only that copy is
/// authenticated and decrypted. A source that another process can write (a
/// memory map of a shared file) therefore cannot make a chunk pass its tag
/// check with one set of bytes and be decrypted from another.
pub trait CiphertextSource: Sync {
    /// Number of bytes the source holds.
    fn len(&self) -> usize;

    /// Whether the source holds no byte.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies `dst.len()` bytes starting at `offset` into `dst`. Called at most
    /// once per chunk, with ranges inside `0..len()`.
    fn copy_to(&self, offset: usize, dst: &mut [u8]);
}

impl CiphertextSource for [u8] {
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }

    fn copy_to(&self, offset: usize, dst: &mut [u8]) {
        dst.copy_from_slice(&self[offset..offset + dst.len()]);
    }
}

/// Random access from a read-only source: authenticates the consecutive
/// chunks `first_chunk .. first_chunk + tags.len()` of a slice whose
/// authenticated plaintext length is `slice_len`, reading their ciphertext
/// from `src`, and writes the plaintext to `dst`.
///
/// The same request as [`open_chunk_range`]: `src` must hold exactly those
/// chunks' ciphertext (all full chunks, except that the slice's final chunk
/// may be short), and `dst` must be exactly as long as `src`; anything else is
/// an [`Error::ChunkLayout`] and nothing is written. The last-chunk flag is
/// applied to chunk `chunk_count(slice_len) - 1` only. Chunks are opened in
/// parallel with the `rayon` feature.
///
/// **One read.** Each chunk's ciphertext is copied from `src` into its place
/// in `dst` exactly once, then authenticated and decrypted there, in place.
/// The tag check and the decryption see the same private bytes, so a source
/// that changes while it is read (a map of a file someone else writes) can
/// make a chunk fail, never make it decrypt to bytes that were not
/// authenticated. See [`open_chunk_range_from`] for other sources.
///
/// On an authentication failure the error is
/// [`Error::ChunkAuthentication`] with the failing chunk's counter (if several
/// fail in parallel, one of them), and **`dst` is zeroized** before returning,
/// so no plaintext of the other chunks survives in it; the caller should
/// still discard it.
pub fn open_chunk_range_into(
    key: &SliceKey,
    slice_len: u64,
    first_chunk: u64,
    src: &[u8],
    dst: &mut [u8],
    tags: &[Tag],
) -> Result<()> {
    open_chunk_range_from(key, slice_len, first_chunk, src, dst, tags)
}

/// [`open_chunk_range_into`] from any [`CiphertextSource`]: each chunk is
/// copied out of `src` once (one [`CiphertextSource::copy_to`] call per chunk),
/// then authenticated and decrypted in place in `dst`. The same layout rules,
/// and on failure `dst` is zeroized.
pub fn open_chunk_range_from<S: CiphertextSource + ?Sized>(
    key: &SliceKey,
    slice_len: u64,
    first_chunk: u64,
    src: &S,
    dst: &mut [u8],
    tags: &[Tag],
) -> Result<()> {
    let expected = chunk_range_len(slice_len, first_chunk, tags.len())?;
    if src.len() as u64 != expected {
        return Err(Error::ChunkLayout(
            "source length does not match the chunk range",
        ));
    }
    if dst.len() != src.len() {
        return Err(Error::ChunkLayout(
            "destination length does not match the source length",
        ));
    }
    if dst.is_empty() {
        // Only possible for the single empty final chunk of an empty slice.
        return match tags.first() {
            Some(tag) => open_chunk_raw(&key.aead, 0, true, dst, tag),
            None => Err(Error::ChunkLayout("no chunks requested")),
        };
    }
    let last_counter = chunk_count(slice_len) - 1;
    // Copy, then open in place while the chunk is still in cache: no extra
    // pass over memory compared with decrypting straight from `src`.
    let body = |(i, (d, tag)): (usize, (&mut [u8], &Tag))| -> Result<()> {
        src.copy_to(i * CHUNK_SIZE, d);
        let counter = first_chunk + i as u64;
        open_chunk_raw(&key.aead, counter, counter == last_counter, d, tag)
    };
    #[cfg(feature = "rayon")]
    let r = {
        use rayon::prelude::*;
        dst.par_chunks_mut(CHUNK_SIZE)
            .zip(tags.par_iter())
            .enumerate()
            .try_for_each(body)
    };
    #[cfg(not(feature = "rayon"))]
    let r = dst
        .chunks_mut(CHUNK_SIZE)
        .zip(tags.iter())
        .enumerate()
        .try_for_each(body);
    if r.is_err() {
        dst.zeroize();
    }
    r
}
