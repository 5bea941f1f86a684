//! The output model: tensors plus typed metadata, independent of the container.

use std::borrow::Cow;

use crate::detect::Format;

/// Element types: the container format's own [`tensorseal_format::Dtype`].
pub use tensorseal_format::Dtype as DType;

/// Element widths of the whole-byte dtypes the readers produce.
pub(crate) trait ElementSize {
    /// Size of one element in bytes.
    fn size(self) -> usize;
    /// Size of the unit that a byte-order swap reverses (complex numbers swap
    /// each f32 half separately).
    fn swap_unit(self) -> usize;
}

impl ElementSize for DType {
    fn size(self) -> usize {
        (self.bits() / 8) as usize
    }

    fn swap_unit(self) -> usize {
        match self {
            DType::C64 => 4,
            d => d.size(),
        }
    }
}

/// One tensor: C-contiguous, little-endian bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedTensor<'a> {
    /// Dotted path (`model.0.weight`, `optimizer.state.0.momentum_buffer`).
    pub name: String,
    /// Element type; [`DType::name`] gives the safetensors spelling.
    pub dtype: DType,
    /// Shape (empty for a 0-dimensional tensor).
    pub shape: Vec<u64>,
    /// C-contiguous little-endian bytes; borrowed from the input when the
    /// source already had that layout.
    pub data: Cow<'a, [u8]>,
}

impl ImportedTensor<'_> {
    /// The safetensors dtype name.
    pub fn dtype_name(&self) -> &'static str {
        self.dtype.name()
    }

    /// Detach from the input buffer.
    pub fn into_owned(self) -> ImportedTensor<'static> {
        ImportedTensor {
            name: self.name,
            dtype: self.dtype,
            shape: self.shape,
            data: Cow::Owned(self.data.into_owned()),
        }
    }
}

/// A typed metadata value (non-tensor leaves of the imported object graph).
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    /// Python None.
    None,
    /// bool.
    Bool(bool),
    /// Integer (Python ints beyond i64 are kept as their decimal string in [`MetaValue::Str`]).
    Int(i64),
    /// Float.
    Float(f64),
    /// str.
    Str(String),
    /// bytes.
    Bytes(Vec<u8>),
    /// list or tuple.
    List(Vec<MetaValue>),
    /// dict with its keys rendered as strings, in order.
    Map(Vec<(String, MetaValue)>),
}

/// Result of an import.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported<'a> {
    /// The detected format.
    pub format: Format,
    /// The tensors, in the order they were found.
    pub tensors: Vec<ImportedTensor<'a>>,
    /// Non-tensor values by dotted path.
    pub metadata: Vec<(String, MetaValue)>,
}
