//! The output model: tensors plus typed metadata, independent of the container.

use std::borrow::Cow;

use crate::detect::Format;

/// Element types, named as safetensors names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DType {
    /// bool, one byte (0 or 1).
    Bool,
    /// u8.
    U8,
    /// i8.
    I8,
    /// u16.
    U16,
    /// i16.
    I16,
    /// u32.
    U32,
    /// i32.
    I32,
    /// u64.
    U64,
    /// i64.
    I64,
    /// IEEE half.
    F16,
    /// bfloat16.
    BF16,
    /// f32.
    F32,
    /// f64.
    F64,
    /// float8 e4m3 (fn).
    F8E4M3,
    /// float8 e5m2.
    F8E5M2,
    /// complex64 (two f32).
    C64,
}

impl DType {
    /// The safetensors spelling (`F32`, `BF16`, `F8_E4M3`, `BOOL`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "BOOL",
            DType::U8 => "U8",
            DType::I8 => "I8",
            DType::U16 => "U16",
            DType::I16 => "I16",
            DType::U32 => "U32",
            DType::I32 => "I32",
            DType::U64 => "U64",
            DType::I64 => "I64",
            DType::F16 => "F16",
            DType::BF16 => "BF16",
            DType::F32 => "F32",
            DType::F64 => "F64",
            DType::F8E4M3 => "F8_E4M3",
            DType::F8E5M2 => "F8_E5M2",
            DType::C64 => "C64",
        }
    }

    /// Size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            DType::Bool | DType::U8 | DType::I8 | DType::F8E4M3 | DType::F8E5M2 => 1,
            DType::U16 | DType::I16 | DType::F16 | DType::BF16 => 2,
            DType::U32 | DType::I32 | DType::F32 => 4,
            DType::U64 | DType::I64 | DType::F64 | DType::C64 => 8,
        }
    }

    /// Size of the unit that a byte-order swap reverses (complex numbers
    /// swap each f32 half separately).
    pub fn swap_unit(self) -> usize {
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
