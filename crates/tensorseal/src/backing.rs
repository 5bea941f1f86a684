//! Where a file's bytes live: a read-only map, or owned memory aligned like the map.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};

use bytemuck::{Pod, Zeroable};

use crate::error::{Error, Result};

/// 64-byte blocks give owned copies the same alignment guarantees as a map, so
/// typed views work identically in both modes.
#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C, align(64))]
pub(crate) struct Block([u8; 64]);

pub(crate) enum Backing {
    Map(memmap2::Mmap),
    Owned { blocks: Vec<Block>, len: usize },
}

impl Backing {
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Backing::Map(m) => m,
            Backing::Owned { blocks, len } => &bytemuck::cast_slice(blocks)[..*len],
        }
    }

    #[allow(unsafe_code)]
    pub(crate) fn map(path: &Path) -> Result<Backing> {
        let file = tensorseal_fs::open_regular(path).map_err(|e| Error::io(path, "open", e))?;
        Backing::map_file(path, &file)
    }

    /// Maps `path` only when it lies on a read-only mount (checked on the
    /// opened descriptor, so a rename between check and map cannot swap in a
    /// file from writable storage): there no other process can change or
    /// truncate the bytes after they are verified.
    pub(crate) fn map_read_only_storage(path: &Path) -> Result<Backing> {
        let file = tensorseal_fs::open_regular(path).map_err(|e| Error::io(path, "open", e))?;
        let ro = on_read_only_mount(&file).map_err(|e| Error::io(path, "statvfs", e))?;
        if !ro {
            return Err(Error::io(
                path,
                "map",
                std::io::Error::other(
                    "refusing to map a file on writable storage: another process could change \
                     tensor bytes after verification or truncate the file (SIGBUS); read it \
                     (the default), or map it with OpenOptions::map_accepting_writers",
                ),
            ));
        }
        Backing::map_file(path, &file)
    }

    #[allow(unsafe_code)]
    fn map_file(path: &Path, file: &File) -> Result<Backing> {
        // SAFETY: the map is read-only and private to this process. If another
        // process truncates or rewrites the file while it is mapped, reads may see
        // the new bytes or fault (SIGBUS); callers reach this only through the
        // read-only-mount check or the explicit `map_accepting_writers` option,
        // whose documentation states exactly that risk.
        let map = unsafe { memmap2::Mmap::map(file) }.map_err(|e| Error::io(path, "mmap", e))?;
        Ok(Backing::Map(map))
    }

    pub(crate) fn is_map(&self) -> bool {
        matches!(self, Backing::Map(_))
    }

    pub(crate) fn read(path: &Path) -> Result<Backing> {
        let mut file = tensorseal_fs::open_regular(path).map_err(|e| Error::io(path, "open", e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io(path, "stat", e))?
            .len();
        let len = usize::try_from(len)
            .map_err(|_| Error::io(path, "read", std::io::Error::other("file too large")))?;
        let mut b = Backing::zeroed(len);
        if let Backing::Owned { blocks, len } = &mut b {
            let buf = &mut bytemuck::cast_slice_mut::<Block, u8>(blocks)[..*len];
            file.read_exact(buf)
                .map_err(|e| Error::io(path, "read", e))?;
            // A file that grew while being read is not the file we measured.
            let mut probe = [0u8; 1];
            if file
                .read(&mut probe)
                .map_err(|e| Error::io(path, "read", e))?
                != 0
            {
                return Err(Error::io(
                    path,
                    "read",
                    std::io::Error::other("file changed size while being read"),
                ));
            }
        }
        Ok(b)
    }

    pub(crate) fn copy_of(bytes: &[u8]) -> Backing {
        let mut b = Backing::zeroed(bytes.len());
        if let Backing::Owned { blocks, len } = &mut b {
            bytemuck::cast_slice_mut::<Block, u8>(blocks)[..*len].copy_from_slice(bytes);
        }
        b
    }

    fn zeroed(len: usize) -> Backing {
        Backing::Owned {
            blocks: vec![Block([0; 64]); len.div_ceil(64)],
            len,
        }
    }
}

/// Whether `file` lies on a file system mounted read-only (`ST_RDONLY`).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn on_read_only_mount(file: &File) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: `statvfs` is plain old data that fstatvfs fills in completely on
    // success; the descriptor is open for the duration of the call.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::fstatvfs(file.as_raw_fd(), &mut st) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(st.f_flag & libc::ST_RDONLY != 0)
}

/// Elsewhere the mount flags are not checked: no storage counts as read-only.
#[cfg(not(target_os = "linux"))]
fn on_read_only_mount(_file: &File) -> std::io::Result<bool> {
    Ok(false)
}

/// A file's bytes, mapped read-only or read into 64-byte-aligned memory.
///
/// For converters and tools that need a whole input file without holding it in
/// heap memory; the same mapping rules as [`crate::OpenOptions::copy`] apply.
pub struct FileBytes(pub(crate) Arc<Backing>);

impl FileBytes {
    /// Maps `path` read-only.
    pub fn map(path: &Path) -> Result<FileBytes> {
        Backing::map(path).map(|b| FileBytes(Arc::new(b)))
    }

    /// Reads `path` into owned memory.
    pub fn read(path: &Path) -> Result<FileBytes> {
        Backing::read(path).map(|b| FileBytes(Arc::new(b)))
    }

    /// Says that `part` (a sub-slice of these bytes) will not be read again
    /// soon, so a mapped file can drop those pages from the process's
    /// resident set. Purely advisory: the bytes stay readable and unchanged
    /// (a later read faults them back in from the page cache). Whole pages
    /// inside `part` only; a slice that is not part of these bytes, and owned
    /// memory, are left alone.
    ///
    /// Converters call it on input they have consumed, so that converting a
    /// 1 GiB checkpoint does not count 1 GiB of mapped input in its RSS.
    #[allow(unsafe_code)]
    pub fn release(&self, part: &[u8]) {
        let Backing::Map(map) = &*self.0 else {
            return;
        };
        let base = map.as_ptr() as usize;
        let start = part.as_ptr() as usize;
        let Some(off) = start.checked_sub(base) else {
            return;
        };
        if off.saturating_add(part.len()) > map.len() {
            return;
        }
        const PAGE: usize = 4096;
        let first = off.div_ceil(PAGE) * PAGE;
        let last = (off + part.len()) / PAGE * PAGE;
        if last > first {
            // SAFETY: the mapping is a read-only private map of a file that this
            // process never writes through, so no page holds data that exists
            // nowhere else: MADV_DONTNEED only unmaps pages, and the next read
            // maps them again from the page cache. The range lies inside the map
            // (checked above). An error (e.g. a platform without the advice)
            // only means the pages stay resident.
            let _ = unsafe {
                map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, first, last - first)
            };
        }
    }
}

impl std::ops::Deref for FileBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.0.bytes()
    }
}

/// Decrypted buffers at least this large go back to their model's [`BufPool`]
/// when dropped (after being zeroized); smaller ones are simply freed.
const POOL_MIN_BYTES: usize = 1 << 20;
/// At most this many zeroized buffers wait in one pool...
const POOL_MAX_BUFFERS: usize = 4;
/// ...holding at most this many bytes in total.
const POOL_MAX_BYTES: usize = 64 << 20;
/// Buffers at least this large are zeroized by several threads.
const PAR_ZEROIZE_MIN_BYTES: usize = 1 << 20;
/// Bytes per parallel zeroize task.
const PAR_ZEROIZE_CHUNK: usize = 256 << 10;

/// Allocates `n` zeroed blocks, with the allocator's zeroed allocation
/// (fresh pages from the OS are not written twice).
fn zeroed_blocks(n: usize) -> Vec<Block> {
    bytemuck::allocation::try_zeroed_vec(n).unwrap_or_else(|()| vec![Block([0; 64]); n])
}

/// Zeroized decryption buffers of one [`crate::Model`], reused so that reading
/// tensor after tensor neither zero-fills fresh memory nor faults in new pages
/// for each one.
///
/// Every buffer in the pool is entirely zero: a [`SecretBuf`] is zeroized
/// before it is handed back, so a pooled buffer holds no plaintext and can be
/// given out again as a zeroed buffer without being written.
#[derive(Default)]
pub(crate) struct BufPool {
    free: Mutex<Vec<Vec<Block>>>,
}

impl BufPool {
    /// A pooled all-zero buffer of at least `n` blocks and at most twice that.
    fn take(&self, n: usize) -> Option<Vec<Block>> {
        let mut free = self.free.lock().ok()?;
        let (i, _) = free
            .iter()
            .enumerate()
            .filter(|(_, v)| v.len() >= n && v.len() / 2 <= n)
            .min_by_key(|(_, v)| v.len())?;
        Some(free.swap_remove(i))
    }

    /// For tests: whether each pooled buffer is entirely zero.
    #[cfg(test)]
    pub(crate) fn pooled_all_zero(&self) -> Vec<bool> {
        let free = self.free.lock().unwrap();
        free.iter()
            .map(|v| bytemuck::cast_slice::<Block, u8>(v).iter().all(|b| *b == 0))
            .collect()
    }

    /// Keeps an all-zero buffer for reuse, within the pool's limits.
    fn give(&self, blocks: Vec<Block>) {
        if let Ok(mut free) = self.free.lock() {
            let held: usize = free.iter().map(|v| v.len() * 64).sum();
            if free.len() < POOL_MAX_BUFFERS && held + blocks.len() * 64 <= POOL_MAX_BYTES {
                free.push(blocks);
            }
        }
    }
}

/// Owned, 64-byte-aligned memory for decrypted bytes, zeroized on drop.
///
/// Invariant: every byte of `blocks` past the first `len` is zero (only the
/// first `len` bytes are ever exposed), so zeroizing those restores an
/// all-zero buffer that a [`BufPool`] may hand out again.
pub(crate) struct SecretBuf<'p> {
    blocks: Vec<Block>,
    len: usize,
    pool: Option<&'p BufPool>,
}

impl SecretBuf<'static> {
    /// A zeroed buffer of `len` bytes, freed (after zeroizing) on drop.
    pub(crate) fn zeroed(len: usize) -> SecretBuf<'static> {
        SecretBuf {
            blocks: zeroed_blocks(len.div_ceil(64)),
            len,
            pool: None,
        }
    }
}

impl<'p> SecretBuf<'p> {
    /// A zeroed buffer of `len` bytes, taken from `pool` when it holds a
    /// suitable one (large buffers only) and returned to it, zeroized, on drop.
    pub(crate) fn zeroed_in(pool: &'p BufPool, len: usize) -> SecretBuf<'p> {
        if len < POOL_MIN_BYTES {
            return SecretBuf::zeroed(len);
        }
        let n = len.div_ceil(64);
        SecretBuf {
            blocks: pool.take(n).unwrap_or_else(|| zeroed_blocks(n)),
            len,
            pool: Some(pool),
        }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.blocks)[..self.len]
    }

    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.blocks)[..self.len]
    }
}

impl Drop for SecretBuf<'_> {
    fn drop(&mut self) {
        use rayon::prelude::*;
        use zeroize::Zeroize;
        let used = self.len.div_ceil(64).min(self.blocks.len());
        let bytes = bytemuck::cast_slice_mut::<Block, u8>(&mut self.blocks[..used]);
        if bytes.len() >= PAR_ZEROIZE_MIN_BYTES {
            bytes
                .par_chunks_mut(PAR_ZEROIZE_CHUNK)
                .for_each(|c| c.zeroize());
        } else {
            bytes.zeroize();
        }
        if let Some(pool) = self.pool {
            pool.give(std::mem::take(&mut self.blocks));
        }
    }
}
