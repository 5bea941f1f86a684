//! The crate's error type.

use crate::compress::DecompressError;
use crate::detect::Format;
use crate::layout::LayoutError;
use crate::npy::NpyError;
use crate::zip::ZipError;

/// Everything that can go wrong while importing a file. Each variant names
/// the file structure and, where meaningful, the byte offset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConvertError {
    /// The format is recognised but this crate does not convert it.
    #[error("format {format} is not convertible: {reason}")]
    Unsupported {
        /// Detected format.
        format: Format,
        /// Why.
        reason: &'static str,
    },
    /// A well-formed file that holds something this converter does not turn
    /// into tensors (a quantized or sparse tensor): refused as unsupported,
    /// after everything else in it was checked.
    #[error("unsupported: {reason} (at '{path}' in {structure})")]
    Unconvertible {
        /// Which pickle.
        structure: String,
        /// Dotted path of the first such value.
        path: String,
        /// Why it is not converted.
        reason: String,
    },
    /// A TorchScript archive (executable code): always refused.
    #[error("TorchScript archive refused: member '{member}' holds TorchScript code or constants")]
    TorchScript {
        /// The offending member.
        member: String,
    },
    /// Strict zip reader error.
    #[error(transparent)]
    Zip(#[from] ZipError),
    /// `.npy` error, with the `.npz` member name when there is one.
    #[error("{}{source}", member.as_deref().map(|m| format!("npz member '{m}': ")).unwrap_or_default())]
    Npy {
        /// The `.npz` member, if any.
        member: Option<String>,
        /// The error.
        source: NpyError,
    },
    /// Bounded decompression failed.
    #[error(transparent)]
    Decompress(#[from] DecompressError),
    /// A tensor's geometry does not fit its storage.
    #[error("tensor '{tensor}': {source}")]
    Layout {
        /// Tensor path.
        tensor: String,
        /// The error.
        source: LayoutError,
    },
    /// The pickle machine refused the stream (structure, limits, globals).
    #[error("pickle in {structure}: {source}")]
    Pickle {
        /// Which pickle (e.g. `data.pkl`, `legacy object pickle`).
        structure: String,
        /// The error.
        source: tensorseal_pickle::PickleError,
    },
    /// The pickle parsed but inspection found something that forbids
    /// conversion (side-effect-only call, frame violation, ...).
    #[error("pickle in {structure}: refused at offset {offset}: {message}")]
    Unsafe {
        /// Which pickle.
        structure: String,
        /// Offset of the finding.
        offset: usize,
        /// The finding's message.
        message: String,
    },
    /// A global outside the allow-list for this format.
    #[error("pickle in {structure}: global {global} is not allowed ({class}); refused")]
    Global {
        /// Which pickle.
        structure: String,
        /// `module.name`.
        global: String,
        /// Classification (`dangerous: ...` / `unknown`).
        class: String,
    },
    /// The object graph has a shape this reader does not accept.
    #[error("{structure}: {reason} (at '{path}', pickle offset {offset})")]
    Graph {
        /// Which pickle / format.
        structure: String,
        /// Dotted path inside the object.
        path: String,
        /// Byte offset of the offending opcode in its pickle.
        offset: usize,
        /// Why.
        reason: String,
    },
    /// A PyTorch storage record problem.
    #[error("torch storage '{key}': {reason}")]
    Storage {
        /// Storage key.
        key: String,
        /// Why.
        reason: String,
    },
    /// A structural problem of a PyTorch or joblib file outside the pickles.
    #[error("{structure} at offset {offset}: {reason}")]
    Framing {
        /// Structure.
        structure: &'static str,
        /// Offset in the input.
        offset: u64,
        /// Why.
        reason: String,
    },
    /// A configured limit was exceeded.
    #[error("limit exceeded: {what} ({value} > {limit})")]
    Limit {
        /// Which limit.
        what: &'static str,
        /// Value found.
        value: u64,
        /// The limit.
        limit: u64,
    },
}

impl ConvertError {
    pub(crate) fn npy(member: Option<&str>, source: NpyError) -> Self {
        ConvertError::Npy {
            member: member.map(str::to_owned),
            source,
        }
    }
}
