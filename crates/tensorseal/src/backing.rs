//! Where a file's bytes live: a read-only map, or owned memory aligned like the map.

use std::fs::File;
use std::io::Read;
use std::path::Path;

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
        let file = File::open(path).map_err(|e| Error::io(path, "open", e))?;
        // SAFETY: the map is read-only and private to this process. If another
        // process truncates or rewrites the file while it is mapped, reads may see
        // the new bytes or fault; that is why copy mode exists, and why the docs
        // of `OpenOptions::copy` say to use it for files that others may change.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, "mmap", e))?;
        Ok(Backing::Map(map))
    }

    pub(crate) fn read(path: &Path) -> Result<Backing> {
        let mut file = File::open(path).map_err(|e| Error::io(path, "open", e))?;
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

/// A file's bytes, mapped read-only or read into 64-byte-aligned memory.
///
/// For converters and tools that need a whole input file without holding it in
/// heap memory; the same mapping rules as [`crate::OpenOptions::copy`] apply.
pub struct FileBytes(Backing);

impl FileBytes {
    /// Maps `path` read-only.
    pub fn map(path: &Path) -> Result<FileBytes> {
        Backing::map(path).map(FileBytes)
    }

    /// Reads `path` into owned memory.
    pub fn read(path: &Path) -> Result<FileBytes> {
        Backing::read(path).map(FileBytes)
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
        let Backing::Map(map) = &self.0 else {
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

/// Owned, 64-byte-aligned memory for decrypted bytes, zeroized on drop.
pub(crate) struct SecretBuf {
    blocks: Vec<Block>,
    len: usize,
}

impl SecretBuf {
    pub(crate) fn zeroed(len: usize) -> SecretBuf {
        SecretBuf {
            blocks: vec![Block([0; 64]); len.div_ceil(64)],
            len,
        }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.blocks)[..self.len]
    }

    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.blocks)[..self.len]
    }
}

impl Drop for SecretBuf {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        bytemuck::cast_slice_mut::<Block, u8>(&mut self.blocks).zeroize();
    }
}
