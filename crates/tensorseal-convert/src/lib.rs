//! Never-executing readers that decide a file's format from its content and
//! turn PyTorch (zip and legacy), NumPy `.npy`/`.npz` and joblib files into
//! tensors plus typed metadata.
//!
//! Nothing is ever unpickled or evaluated: pickles go through the strict
//! `tensorseal-pickle` machine (values only, exact global allow-lists), zip
//! archives through a reader stricter than CPython's and PyTorch's, NumPy
//! headers through a tiny literal grammar.
//!
//! | content | [`Format`] | result of [`import`] |
//! |---|---|---|
//! | zip with `<root>/data.pkl` | `TorchZip` | tensors (views materialised, `byteorder` honoured) + metadata |
//! | zip with `constants.pkl` / `code/` | `TorchScript` | [`ConvertError::TorchScript`] |
//! | PyTorch file with a quantized, sparse or meta tensor | `TorchZip` / `TorchLegacy` | [`ConvertError::Unconvertible`] (`unsupported: ...`) after every storage and view was checked |
//! | legacy magic-number pickle sequence | `TorchLegacy` | tensors + metadata |
//! | `\x93NUMPY` | `Npy` | one tensor named `""` |
//! | zip of `.npy` members | `Npz` | one tensor per member |
//! | pickle with `NumpyArrayWrapper` (maybe zlib/gzip/bz2/xz/lzma) | `Joblib` | every array as a tensor, object state as metadata; an object-dtype array (a nested pickle) is [`ConvertError::Unsupported`] |
//! | pickle of a scikit-learn estimator, `safe` under the scikit-learn profile | `Pickle` | every array as a tensor + `sklearn.*` structure metadata ([`sklearn`]) |
//! | other pickle | `Pickle` | refused (inspect it with `tensorseal-pickle`) |
//! | safetensors / tensorseal / 7z / other zip / unknown | … | refused, never "safe" |
//!
//! Entry points: [`detect()`], [`import`] (collects), [`import_with`]
//! (visitor: one tensor at a time), [`zip::ZipArchive`],
//! [`npy::parse_npy_header`], [`joblib::parse_joblib`] (graph + inline
//! arrays for estimator rebuilding). Fuzz targets: [`zip::fuzz_zip`],
//! [`npy::fuzz_npy_header`], [`joblib::fuzz_joblib`], [`fuzz_import`].
//!
//! ```
//! use tensorseal_convert::{detect, import, ConvertOptions, Format};
//!
//! // A 2x2 little-endian f32 .npy, built by hand.
//! let header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
//! let mut npy = b"\x93NUMPY\x01\x00".to_vec();
//! let pad = 64 - (10 + header.len() + 1) % 64;
//! let hlen = (header.len() + pad + 1) as u16;
//! npy.extend_from_slice(&hlen.to_le_bytes());
//! npy.extend_from_slice(header);
//! npy.extend(std::iter::repeat(b' ').take(pad));
//! npy.push(b'\n');
//! for v in [1.0f32, 2.0, 3.0, 4.0] {
//!     npy.extend_from_slice(&v.to_le_bytes());
//! }
//!
//! assert_eq!(detect(&npy), Format::Npy);
//! let imported = import(&npy, &ConvertOptions::default()).unwrap();
//! assert_eq!(imported.tensors.len(), 1);
//! let t = &imported.tensors[0];
//! assert_eq!((t.dtype.name(), t.shape.as_slice()), ("F32", &[2u64, 2][..]));
//! assert_eq!(t.data.len(), 16);
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod compress;
pub mod container;
pub mod detect;
pub mod error;
pub mod graph;
pub mod inspect;
pub mod joblib;
pub mod layout;
pub mod loadable;
pub mod model;
pub mod npy;
pub mod sklearn;
pub mod stream;
pub mod torch;
pub mod zip;
mod zip_fields;

pub use compress::Compression;
pub use container::{convert_file, ConvertFileError};
pub use detect::{detect, Format};
pub use error::ConvertError;
pub use inspect::{fuzz_inspect, inspect_path, FileReport, InspectOptions};
pub use model::{DType, Imported, ImportedTensor, MetaValue};

use std::borrow::Cow;
use std::sync::Arc;

/// Told which parts of the input a reader has finished reading for now (a
/// sub-slice of the input), so a caller that maps the input can drop those
/// pages from its resident set (`tensorseal::FileBytes::release`). Advisory
/// only: the bytes must stay readable, and readers may read them again.
pub type Release = Arc<dyn Fn(&[u8]) + Send + Sync>;

/// Limits and switches for an import.
#[derive(Clone)]
pub struct ConvertOptions {
    /// Maximum bytes produced by decompressing a whole joblib stream.
    pub max_decompressed_bytes: u64,
    /// Maximum size of one materialised tensor, in bytes.
    pub max_tensor_bytes: u64,
    /// Maximum uncompressed size of one zip member.
    pub max_zip_member_bytes: u64,
    /// Maximum number of nodes visited while naming tensors in an object
    /// graph (bounds fan-out through shared references).
    pub max_graph_visits: u64,
    /// Called on input ranges the reader has consumed (today: each stretch of a
    /// zip member whose CRC-32 was checked). `None` by default.
    pub release: Option<Release>,
}

impl std::fmt::Debug for ConvertOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConvertOptions")
            .field("max_decompressed_bytes", &self.max_decompressed_bytes)
            .field("max_tensor_bytes", &self.max_tensor_bytes)
            .field("max_zip_member_bytes", &self.max_zip_member_bytes)
            .field("max_graph_visits", &self.max_graph_visits)
            .field("release", &self.release.is_some())
            .finish()
    }
}

impl ConvertOptions {
    /// Tells the release hook, if any, that `part` of the input was consumed.
    pub(crate) fn released(&self, part: &[u8]) {
        if let Some(r) = &self.release {
            r(part);
        }
    }
}

impl ConvertOptions {
    /// Small limits for fuzz targets: every input finishes fast and small.
    pub fn fuzzing() -> Self {
        ConvertOptions {
            max_decompressed_bytes: 1 << 24,
            max_tensor_bytes: 1 << 24,
            max_zip_member_bytes: 1 << 24,
            max_graph_visits: 100_000,
            release: None,
        }
    }
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            max_decompressed_bytes: 4 << 30,
            max_tensor_bytes: 16 << 30,
            max_zip_member_bytes: 16 << 30,
            max_graph_visits: 10_000_000,
            release: None,
        }
    }
}

/// Import a file held in memory (e.g. a memory map), collecting every
/// tensor. Contiguous little-endian tensors borrow from `data`.
pub fn import<'a>(data: &'a [u8], opts: &ConvertOptions) -> Result<Imported<'a>, ConvertError> {
    let mut tensors = Vec::new();
    let (format, metadata) = import_with(data, opts, &mut |t| {
        tensors.push(t);
        Ok(())
    })?;
    Ok(Imported {
        format,
        tensors,
        metadata,
    })
}

/// Import a file, handing each tensor to `visit` as soon as it is
/// materialised, so memory stays bounded by the largest tensor (plus the
/// input itself, and for compressed joblib the decompressed stream).
/// Returns the format and the metadata.
pub fn import_with<'a>(
    data: &'a [u8],
    opts: &ConvertOptions,
    visit: &mut dyn FnMut(ImportedTensor<'a>) -> Result<(), ConvertError>,
) -> Result<(Format, Vec<(String, MetaValue)>), ConvertError> {
    let format = detect(data);
    let meta = match format {
        Format::Npy => {
            let t = npy::read_npy("", data, opts.max_tensor_bytes)
                .map_err(|e| ConvertError::npy(None, e))?;
            visit(t)?;
            Vec::new()
        }
        Format::Npz => {
            import_npz(data, opts, visit)?;
            Vec::new()
        }
        Format::TorchZip => torch::import_zip(data, opts, visit)?,
        Format::TorchLegacy => torch::import_legacy(data, opts, visit)?,
        Format::TorchScript => {
            // Report the member that makes it TorchScript.
            let member = zip::ZipArchive::parse_with_limit(data, opts.max_zip_member_bytes)?
                .entries()
                .iter()
                .find(|e| e.name.ends_with("/constants.pkl") || e.name.contains("/code/"))
                .map(|e| e.name.clone())
                .unwrap_or_default();
            return Err(ConvertError::TorchScript { member });
        }
        Format::Joblib { compression } => joblib::import_joblib(data, compression, opts, visit)?,
        Format::Zip => {
            // Validate first so tampering is reported as such.
            zip::ZipArchive::parse_with_limit(data, opts.max_zip_member_bytes)?;
            return Err(ConvertError::Unsupported {
                format,
                reason: "zip archive that is neither a PyTorch checkpoint nor an .npz",
            });
        }
        Format::SevenZip => {
            return Err(ConvertError::Unsupported {
                format,
                reason: "7z archives are not read",
            })
        }
        Format::Tar => {
            return Err(ConvertError::Unsupported {
                format,
                reason:
                    "tar archives (legacy PyTorch tar checkpoints) are inspected, not converted",
            })
        }
        Format::Pickle => sklearn::import_pickle(data, opts, visit)?,
        Format::Compressed(_) => {
            return Err(ConvertError::Unsupported {
                format,
                reason: "compressed stream whose content is not a pickle",
            })
        }
        Format::Safetensors => {
            return Err(ConvertError::Unsupported {
                format,
                reason: "already safetensors: read it with a safetensors reader",
            })
        }
        Format::Tensorseal => {
            return Err(ConvertError::Unsupported {
                format,
                reason: "already a tensorseal container",
            })
        }
        Format::Unknown => {
            return Err(ConvertError::Unsupported {
                format,
                reason: "unrecognised content",
            })
        }
    };
    Ok((format, meta))
}

/// Read an `.npz`: every member must be a `.npy`; tensor names are member
/// names without `.npy`. Stored C-ordered little-endian members are borrowed.
pub fn import_npz<'a>(
    data: &'a [u8],
    opts: &ConvertOptions,
    visit: &mut dyn FnMut(ImportedTensor<'a>) -> Result<(), ConvertError>,
) -> Result<(), ConvertError> {
    let z = zip::ZipArchive::parse_releasing(data, opts.max_zip_member_bytes, &|part| {
        opts.released(part)
    })?;
    for e in z.entries() {
        let name = e
            .name
            .strip_suffix(".npy")
            .ok_or(ConvertError::Unsupported {
                format: Format::Npz,
                reason: "npz member that is not a .npy",
            })?;
        let bytes = z.read_entry(e)?;
        let t = match bytes {
            Cow::Borrowed(b) => npy::read_npy(name, b, opts.max_tensor_bytes),
            owned => {
                npy::read_npy_owned(name, owned, opts.max_tensor_bytes).map(|t| t.into_owned())
            }
        }
        .map_err(|err| ConvertError::npy(Some(&e.name), err))?;
        visit(t)?;
    }
    Ok(())
}

/// Fuzz-target entry point: detect and import with small limits, never
/// panicking. Returns the number of tensors.
pub fn fuzz_import(data: &[u8]) -> Result<usize, ConvertError> {
    let opts = ConvertOptions::fuzzing();
    let mut n = 0usize;
    import_with(data, &opts, &mut |_| {
        n += 1;
        Ok(())
    })?;
    Ok(n)
}
