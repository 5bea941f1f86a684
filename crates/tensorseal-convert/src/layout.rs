//! Strided-view geometry checks and C-contiguous materialisation.

use std::borrow::Cow;

/// Why a view does not fit its storage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LayoutError {
    /// Arithmetic on sizes overflowed.
    #[error("size arithmetic overflows (shape {shape:?}, stride {stride:?}, offset {offset})")]
    Overflow {
        /// Shape.
        shape: Vec<u64>,
        /// Strides in elements.
        stride: Vec<i64>,
        /// Offset in elements.
        offset: u64,
    },
    /// Shape and stride lengths differ.
    #[error("shape has {shape} dimensions but stride has {stride}")]
    RankMismatch {
        /// Shape rank.
        shape: usize,
        /// Stride rank.
        stride: usize,
    },
    /// Negative strides are refused.
    #[error("negative stride {stride} in dimension {dim}")]
    NegativeStride {
        /// Dimension.
        dim: usize,
        /// Stride.
        stride: i64,
    },
    /// The view reads past the end of its storage.
    #[error("view needs elements up to index {needed} but the storage holds {available}")]
    OutOfBounds {
        /// One past the highest element index read.
        needed: u64,
        /// Elements in the storage.
        available: u64,
    },
    /// The materialised tensor would exceed the configured limit.
    #[error("tensor of {bytes} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Bytes needed.
        bytes: u64,
        /// Limit.
        limit: u64,
    },
}

/// Number of elements of a shape (checked).
pub fn numel(shape: &[u64]) -> Option<u64> {
    shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d))
}

/// C-contiguous strides (in elements) for a shape, or `None` on overflow.
pub fn contiguous_strides(shape: &[u64]) -> Option<Vec<i64>> {
    let mut out = vec![0i64; shape.len()];
    let mut acc: u64 = 1;
    for i in (0..shape.len()).rev() {
        out[i] = i64::try_from(acc).ok()?;
        acc = acc.checked_mul(shape[i])?;
    }
    i64::try_from(acc).ok()?;
    Some(out)
}

/// Fortran-order strides (in elements).
pub fn fortran_strides(shape: &[u64]) -> Option<Vec<i64>> {
    let mut out = vec![0i64; shape.len()];
    let mut acc: u64 = 1;
    for (i, &d) in shape.iter().enumerate() {
        out[i] = i64::try_from(acc).ok()?;
        acc = acc.checked_mul(d)?;
    }
    i64::try_from(acc).ok()?;
    Some(out)
}

/// A checked strided view over a storage of `storage_elems` elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// Shape.
    pub shape: Vec<u64>,
    /// Strides in elements (non-negative).
    pub stride: Vec<u64>,
    /// Offset in elements.
    pub offset: u64,
    /// Number of elements of the view.
    pub numel: u64,
}

impl View {
    /// Check a view's geometry: `offset + Σ (size_i - 1) * stride_i < storage_elems`
    /// (or an empty view), with checked arithmetic throughout.
    pub fn new(
        shape: &[u64],
        stride: &[i64],
        offset: u64,
        storage_elems: u64,
    ) -> Result<View, LayoutError> {
        let overflow = || LayoutError::Overflow {
            shape: shape.to_vec(),
            stride: stride.to_vec(),
            offset,
        };
        if shape.len() != stride.len() {
            return Err(LayoutError::RankMismatch {
                shape: shape.len(),
                stride: stride.len(),
            });
        }
        let mut ustride = Vec::with_capacity(stride.len());
        for (dim, &s) in stride.iter().enumerate() {
            let u = u64::try_from(s).map_err(|_| LayoutError::NegativeStride { dim, stride: s })?;
            ustride.push(u);
        }
        let n = numel(shape).ok_or_else(overflow)?;
        if n > 0 {
            let mut last = offset;
            for (&d, &s) in shape.iter().zip(&ustride) {
                let step = (d - 1).checked_mul(s).ok_or_else(overflow)?;
                last = last.checked_add(step).ok_or_else(overflow)?;
            }
            let needed = last.checked_add(1).ok_or_else(overflow)?;
            if needed > storage_elems {
                return Err(LayoutError::OutOfBounds {
                    needed,
                    available: storage_elems,
                });
            }
        }
        Ok(View {
            shape: shape.to_vec(),
            stride: ustride,
            offset,
            numel: n,
        })
    }

    /// True when the view is C-contiguous (ignoring strides of size-1 dims).
    pub fn is_contiguous(&self) -> bool {
        let mut expect: u64 = 1;
        for (&d, &s) in self.shape.iter().zip(&self.stride).rev() {
            if d != 1 && s != expect {
                return false;
            }
            expect = expect.saturating_mul(d);
        }
        true
    }

    /// Materialise the view as C-contiguous bytes. `storage` holds elements
    /// of `itemsize` bytes; when `swap_unit > 1` every unit of that many bytes
    /// is byte-reversed (big-endian sources). The result is borrowed when no
    /// copy is needed.
    pub fn materialise<'s>(
        &self,
        storage: &'s [u8],
        itemsize: usize,
        swap_unit: Option<usize>,
        limit: u64,
    ) -> Result<Cow<'s, [u8]>, LayoutError> {
        let isz = itemsize as u64;
        let overflow = || LayoutError::Overflow {
            shape: self.shape.clone(),
            stride: self.stride.iter().map(|&s| s as i64).collect(),
            offset: self.offset,
        };
        let bytes = self.numel.checked_mul(isz).ok_or_else(overflow)?;
        if bytes > limit {
            return Err(LayoutError::TooLarge { bytes, limit });
        }
        let storage_elems = storage.len() as u64 / isz.max(1);
        if self.numel == 0 {
            return Ok(Cow::Borrowed(&[]));
        }
        // Re-check bounds against the actual slice (defence in depth).
        View::new(
            &self.shape,
            &self.stride.iter().map(|&s| s as i64).collect::<Vec<_>>(),
            self.offset,
            storage_elems,
        )?;
        let nbytes = usize::try_from(bytes).map_err(|_| overflow())?;
        let start = usize::try_from(self.offset.checked_mul(isz).ok_or_else(overflow)?)
            .map_err(|_| overflow())?;
        let swap = swap_unit.filter(|&u| u > 1);
        if self.is_contiguous() {
            let src = &storage[start..start + nbytes];
            return Ok(match swap {
                None => Cow::Borrowed(src),
                Some(u) => {
                    let mut v = src.to_vec();
                    swap_in_place(&mut v, u);
                    Cow::Owned(v)
                }
            });
        }
        let mut out = Vec::with_capacity(nbytes);
        let rank = self.shape.len();
        // Innermost run: copy whole rows when the last stride is 1.
        let (outer_rank, run) = if rank > 0 && self.stride[rank - 1] == 1 {
            (rank - 1, self.shape[rank - 1] as usize * itemsize)
        } else {
            (rank, itemsize)
        };
        let mut idx = vec![0u64; outer_rank];
        loop {
            let mut elem = self.offset;
            for (&i, &st) in idx.iter().zip(&self.stride) {
                elem += i * st;
            }
            let s = elem as usize * itemsize;
            out.extend_from_slice(&storage[s..s + run]);
            // Odometer increment.
            let mut d = outer_rank;
            loop {
                if d == 0 {
                    if let Some(u) = swap {
                        swap_in_place(&mut out, u);
                    }
                    return Ok(Cow::Owned(out));
                }
                d -= 1;
                idx[d] += 1;
                if idx[d] < self.shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
    }
}

/// Reverse every `unit`-byte group in place.
pub fn swap_in_place(buf: &mut [u8], unit: usize) {
    if unit > 1 {
        for c in buf.chunks_exact_mut(unit) {
            c.reverse();
        }
    }
}
