//! Early writeback: start flushing a file's dirty pages without waiting for them.

use std::fs::File;

/// Starts asynchronous writeback of `file` from `offset` to its end
/// (`sync_file_range` with `SYNC_FILE_RANGE_WRITE`). A hint only: the caller
/// still fsyncs, which is what makes the data durable and reports I/O errors.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub(crate) fn start(file: &File, offset: u64) {
    use std::os::fd::AsRawFd;
    let Ok(offset) = libc::off64_t::try_from(offset) else {
        return;
    };
    // SAFETY: plain syscall on a descriptor we own for the duration of the call;
    // no memory is passed. Length 0 means "to the end of the file".
    let _ =
        unsafe { libc::sync_file_range(file.as_raw_fd(), offset, 0, libc::SYNC_FILE_RANGE_WRITE) };
}

/// Elsewhere the final fsync does all the work.
#[cfg(not(target_os = "linux"))]
pub(crate) fn start(_file: &File, _offset: u64) {}
