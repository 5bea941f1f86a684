//! Atomic, mode-preserving file replacement and safe opening of files named by users.
//!
//! Every file tensorseal writes goes through [`AtomicFile`]: the bytes go to a
//! temporary file in the destination's directory, which is fsynced, given its
//! final permissions, renamed into place (or linked without clobbering, for
//! [`Mode::New`]) and followed by an fsync of the directory. After a crash the
//! destination holds either its old content or the complete new file, never a
//! mix; an [`AtomicFile`] dropped without [`AtomicFile::commit`] leaves nothing
//! behind.
//!
//! Permissions (unix):
//! - a new file gets `0666` filtered by the process umask (`0644` under the usual
//!   `022`), as `open(2)` with `O_CREAT` would give it;
//! - replacing an existing regular file keeps that file's permission bits
//!   (`rwx` for user, group and other; set-id and sticky bits are dropped);
//! - secret files ([`AtomicFile::create_secret`]) are always `0600`.
//!
//! The temporary file is `0600` while it is being written, whatever the final
//! mode, so a half-written file is never readable by others.
//!
//! Replacing renames over the destination path itself: when that path is a
//! symbolic link, the link is replaced by the new regular file and the link's
//! target is left untouched (what `rename(2)` does). Commands that must not
//! write over their own input check [`same_file`] first.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::fmt;
use std::fs::{File, Permissions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// What to do when the destination exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Refuse: the destination must not exist, neither when the file is created
    /// nor when it is committed (checked atomically at commit).
    New,
    /// Replace the destination atomically, keeping its permission bits.
    Replace,
}

/// A failed file operation: the step, the path it was applied to and the cause.
#[derive(Debug)]
pub struct Error {
    op: &'static str,
    path: PathBuf,
    source: io::Error,
}

impl Error {
    fn new(op: &'static str, path: &Path, source: io::Error) -> Error {
        Error {
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    /// The step that failed, e.g. `"create temporary file"`, `"rename into place"`.
    pub fn op(&self) -> &'static str {
        self.op
    }

    /// The path the step was applied to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The kind of the underlying I/O error.
    pub fn kind(&self) -> io::ErrorKind {
        self.source.kind()
    }

    /// Whether a [`Mode::New`] destination turned out to exist already.
    pub fn is_exists(&self) -> bool {
        self.source.kind() == io::ErrorKind::AlreadyExists
    }

    /// The underlying I/O error.
    pub fn into_source(self) -> io::Error {
        self.source
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.path.display(), self.op, self.source)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// The directory a file named `path` lives in (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Fsyncs the directory `dir`, so a rename or creation in it survives a crash.
pub fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::new("fsync directory", dir, e))
}

/// A file being written that replaces (or creates) its destination only when
/// [`AtomicFile::commit`] succeeds.
///
/// ```
/// use std::io::Write;
/// use tensorseal_fs::{AtomicFile, Mode};
/// let dir = tempfile::tempdir()?;
/// let dest = dir.path().join("out.bin");
/// let mut f = AtomicFile::create(&dest, Mode::New)?;
/// f.write_all(b"hello")?;
/// f.commit()?;
/// assert_eq!(std::fs::read(&dest)?, b"hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct AtomicFile {
    tmp: tempfile::NamedTempFile,
    dest: PathBuf,
    dir: PathBuf,
    mode: Mode,
    /// Applied before the rename.
    final_perms: Option<Permissions>,
}

impl AtomicFile {
    /// Starts a file that will appear at `dest`, with the permissions of the
    /// crate rules (umask for a new file, the replaced file's for a replacement).
    pub fn create(dest: impl AsRef<Path>, mode: Mode) -> Result<AtomicFile, Error> {
        Self::open(dest.as_ref(), mode, false)
    }

    /// Starts a secret file (a secret key): mode `0600` whatever the umask and
    /// whatever the mode of a file it replaces.
    pub fn create_secret(dest: impl AsRef<Path>, mode: Mode) -> Result<AtomicFile, Error> {
        Self::open(dest.as_ref(), mode, true)
    }

    fn open(dest: &Path, mode: Mode, secret: bool) -> Result<AtomicFile, Error> {
        // Checked early so no work is done for nothing; commit checks again atomically.
        if mode == Mode::New && std::fs::symlink_metadata(dest).is_ok() {
            return Err(Error::new(
                "create",
                dest,
                io::Error::new(io::ErrorKind::AlreadyExists, "file exists"),
            ));
        }
        let dir = parent_dir(dest);
        let mut builder = tempfile::Builder::new();
        builder.prefix(".tensorseal-").suffix(".tmp");
        let final_perms = if secret {
            owner_only()
        } else {
            match existing_perms(dest, mode) {
                Some(p) => Some(p),
                None => {
                    // The open mode is filtered by the umask, exactly like a
                    // file created by open(2); there is no race-free way to
                    // read the umask and chmod afterwards.
                    if let Some(p) = default_perms() {
                        builder.permissions(p);
                    }
                    None
                }
            }
        };
        let tmp = builder
            .tempfile_in(&dir)
            .map_err(|e| Error::new("create temporary file", &dir, e))?;
        // The umask's verdict, remembered so that [`AtomicFile::reopen`] can
        // give it to a file another writer put at our path.
        // Then private again until commit, like every temporary file here.
        let final_perms = match final_perms {
            Some(p) => Some(p),
            None => {
                let p = tmp
                    .as_file()
                    .metadata()
                    .map_err(|e| Error::new("stat temporary file", tmp.path(), e))?
                    .permissions();
                if let Some(private) = owner_only() {
                    tmp.as_file()
                        .set_permissions(private)
                        .map_err(|e| Error::new("set permissions", tmp.path(), e))?;
                }
                Some(p)
            }
        };
        Ok(AtomicFile {
            tmp,
            dest: dest.to_path_buf(),
            dir,
            mode,
            final_perms,
        })
    }

    /// The open temporary file (e.g. for writeback hints or positioned I/O).
    pub fn as_file(&self) -> &File {
        self.tmp.as_file()
    }

    /// The path of the temporary file.
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// The destination.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Opens the file now at [`AtomicFile::path`] again, for writers that
    /// replace it (write their own temporary file and rename it there, as
    /// `safetensors::serialize_to_file` does): the final permissions and the
    /// fsync of [`AtomicFile::commit`] then apply to the file that is moved
    /// into place, not to the unlinked one this handle held.
    pub fn reopen(self) -> Result<AtomicFile, Error> {
        let AtomicFile {
            tmp,
            dest,
            dir,
            mode,
            final_perms,
        } = self;
        let (old, path) = tmp.into_parts();
        drop(old);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::new("reopen", &path, e))?;
        Ok(AtomicFile {
            tmp: tempfile::NamedTempFile::from_parts(file, path),
            dest,
            dir,
            mode,
            final_perms,
        })
    }

    /// Sets the final permissions, fsyncs, moves the file into place and
    /// fsyncs the directory. On failure the destination is untouched and the
    /// temporary file is removed.
    pub fn commit(self) -> Result<(), Error> {
        let AtomicFile {
            tmp,
            dest,
            dir,
            mode,
            final_perms,
        } = self;
        if let Some(p) = final_perms {
            tmp.as_file()
                .set_permissions(p)
                .map_err(|e| Error::new("set permissions", tmp.path(), e))?;
        }
        tmp.as_file()
            .sync_all()
            .map_err(|e| Error::new("fsync", tmp.path(), e))?;
        let persisted = match mode {
            Mode::Replace => tmp.persist(&dest),
            Mode::New => tmp.persist_noclobber(&dest),
        };
        // The temporary file is removed when the error (which owns it) drops.
        persisted.map_err(|e| Error::new("rename into place", &dest, e.error))?;
        sync_dir(&dir)
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tmp.as_file().write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.tmp.as_file().write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tmp.as_file().flush()
    }
}

/// Writes `bytes` to `dest` atomically (see [`AtomicFile`]).
pub fn write_atomic(dest: impl AsRef<Path>, bytes: &[u8], mode: Mode) -> Result<(), Error> {
    let mut f = AtomicFile::create(dest, mode)?;
    f.write_all(bytes)
        .map_err(|e| Error::new("write", f.path(), e))?;
    f.commit()
}

/// Writes a secret file atomically with mode `0600` (see [`AtomicFile::create_secret`]).
pub fn write_secret(dest: impl AsRef<Path>, bytes: &[u8], mode: Mode) -> Result<(), Error> {
    let mut f = AtomicFile::create_secret(dest, mode)?;
    f.write_all(bytes)
        .map_err(|e| Error::new("write", f.path(), e))?;
    f.commit()
}

/// Opens a file named by a user for reading, refusing anything that is not a
/// regular file (symbolic links are followed) before a byte is read.
///
/// Opening a FIFO for reading blocks until a writer appears, and a device such
/// as `/dev/zero` yields bytes forever: a verifier handed either would hang.
/// On Linux the file is opened with `O_NONBLOCK | O_NOCTTY`, so the open
/// returns at once, and the type is checked on the opened descriptor (no race
/// between check and use). `O_NONBLOCK` has no effect on reads of a regular
/// file. A refusal is an [`io::Error`] of kind [`io::ErrorKind::InvalidInput`].
pub fn open_regular(path: impl AsRef<Path>) -> io::Result<File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = opts.open(path)?;
    let kind = file.metadata()?.file_type();
    if kind.is_file() {
        return Ok(file);
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("not a regular file ({}): never read", kind_of(&kind)),
    ))
}

/// What a file type that is not a regular file is, for error messages.
fn kind_of(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
}

/// Whether `a` and `b` name the same file after following symbolic links
/// (same device and inode, so hard links count too). A path that does not
/// exist is the same as nothing: `Ok(false)`.
pub fn same_file(a: impl AsRef<Path>, b: impl AsRef<Path>) -> io::Result<bool> {
    let (a, b) = (a.as_ref(), b.as_ref());
    let Some(ma) = metadata_if_exists(a)? else {
        return Ok(false);
    };
    let Some(mb) = metadata_if_exists(b)? else {
        return Ok(false);
    };
    Ok(same_inode(a, &ma, b, &mb))
}

fn metadata_if_exists(p: &Path) -> io::Result<Option<std::fs::Metadata>> {
    match std::fs::metadata(p) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(unix)]
fn same_inode(_: &Path, ma: &std::fs::Metadata, _: &Path, mb: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    ma.dev() == mb.dev() && ma.ino() == mb.ino()
}

#[cfg(not(unix))]
fn same_inode(a: &Path, _: &std::fs::Metadata, b: &Path, _: &std::fs::Metadata) -> bool {
    matches!(
        (std::fs::canonicalize(a), std::fs::canonicalize(b)),
        (Ok(x), Ok(y)) if x == y
    )
}

/// The permission bits of the secret file at `path` when its group or others
/// may access it (anything in `0o077`), `None` when only its owner may (or on
/// platforms without unix modes). Symbolic links are followed.
pub fn group_or_other_access(path: impl AsRef<Path>) -> io::Result<Option<u32>> {
    let m = std::fs::metadata(path)?;
    Ok(loose_bits(&m))
}

#[cfg(unix)]
fn loose_bits(m: &std::fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = m.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

#[cfg(not(unix))]
fn loose_bits(_: &std::fs::Metadata) -> Option<u32> {
    None
}

#[cfg(unix)]
fn owner_only() -> Option<Permissions> {
    use std::os::unix::fs::PermissionsExt as _;
    Some(Permissions::from_mode(0o600))
}

#[cfg(unix)]
fn default_perms() -> Option<Permissions> {
    use std::os::unix::fs::PermissionsExt as _;
    Some(Permissions::from_mode(0o666))
}

/// The permissions a replacement keeps: those of the regular file at `dest`.
#[cfg(unix)]
fn existing_perms(dest: &Path, mode: Mode) -> Option<Permissions> {
    use std::os::unix::fs::PermissionsExt as _;
    if mode != Mode::Replace {
        return None;
    }
    let m = std::fs::metadata(dest).ok().filter(|m| m.is_file())?;
    Some(Permissions::from_mode(m.permissions().mode() & 0o777))
}

// Without unix modes only the read-only flag exists; a fresh temporary file
// is writable and private enough.
#[cfg(not(unix))]
fn owner_only() -> Option<Permissions> {
    None
}

#[cfg(not(unix))]
fn default_perms() -> Option<Permissions> {
    None
}

#[cfg(not(unix))]
fn existing_perms(dest: &Path, mode: Mode) -> Option<Permissions> {
    if mode != Mode::Replace {
        return None;
    }
    std::fs::metadata(dest)
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.permissions())
}
