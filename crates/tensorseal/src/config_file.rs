//! Reading small configuration-like files (sidecars, policies, rollback
//! state, public keys) without trusting what sits at the path.
//!
//! A path can name a FIFO (an open for reading blocks until a writer comes,
//! and a read blocks until it writes), a device such as `/dev/zero` (reads
//! forever) or a huge file. [`read_regular`] opens without blocking, checks
//! the type of what it actually opened (so a swap between a check and the
//! open does not matter), and reads at most `limit` bytes.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, ErrorKind, Result};

/// Default cap for [`read_regular`] callers that have no tighter bound.
pub const DEFAULT_LIMIT: u64 = 4 << 20;

fn refuse(path: &Path, what: &'static str, reason: impl Into<String>) -> Error {
    Error::at(
        path,
        ErrorKind::ConfigFile {
            what,
            reason: reason.into(),
        },
    )
}

/// Reads the regular file at `path` (symbolic links are followed) into
/// memory, refusing anything that is not a regular file and anything larger
/// than `limit` bytes. `what` names the file's role in errors (e.g.
/// `"sidecar"`). A missing file is an [`ErrorKind::Io`] error whose source
/// has kind [`std::io::ErrorKind::NotFound`].
pub fn read_regular(path: &Path, limit: u64, what: &'static str) -> Result<Vec<u8>> {
    // A FIFO or device is refused on the opened descriptor before any read.
    let file = match tensorseal_fs::open_regular(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
            return Err(refuse(path, what, e.to_string()))
        }
        Err(e) => return Err(Error::io(path, "open", e)),
    };
    let meta = file.metadata().map_err(|e| Error::io(path, "fstat", e))?;
    if meta.len() > limit {
        return Err(refuse(
            path,
            what,
            format!("{} bytes, larger than the {limit}-byte limit", meta.len()),
        ));
    }
    // The size can change after fstat: never read more than limit + 1.
    let mut buf = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(path, "read", e))?;
    if buf.len() as u64 > limit {
        return Err(refuse(
            path,
            what,
            format!("grew past the {limit}-byte limit while being read"),
        ));
    }
    Ok(buf)
}

/// [`read_regular`], then UTF-8.
pub fn read_regular_string(path: &Path, limit: u64, what: &'static str) -> Result<String> {
    String::from_utf8(read_regular(path, limit, what)?)
        .map_err(|e| refuse(path, what, format!("not UTF-8 text: {e}")))
}

/// Whether `e` says the file does not exist.
pub fn is_not_found(e: &Error) -> bool {
    matches!(e.kind(), ErrorKind::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
}
