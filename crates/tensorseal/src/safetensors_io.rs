//! Import from and export to `.safetensors`.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype as StDtype, SafeTensors, TensorView as StView};
use tensorseal_format::{Dtype, Manifest, MetaValue, ModelInfo, Source};

use crate::backing::Backing;
use crate::error::{Error, ErrorKind, Result};
use crate::reader::{sha256, Model};
use crate::writer::{fs_error, WriteOptions, Writer};
use tensorseal_fs::{AtomicFile, Mode};

/// Converts a `.safetensors` file into a container at `dest`. Tensors keep their
/// names, dtypes, shapes and bytes; `__metadata__` entries become string metadata;
/// the source file's name and SHA-256 are recorded in the manifest.
pub fn import_safetensors(
    src: &Path,
    dest: &Path,
    mut info: ModelInfo,
    options: WriteOptions,
) -> Result<Manifest> {
    let backing = Backing::map(src)?;
    let bytes = backing.bytes();
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| Error::at(src, ErrorKind::Safetensors(e.to_string())))?;
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|e| Error::at(src, ErrorKind::Safetensors(e.to_string())))?;
    if let Some(meta) = header.metadata() {
        // The caller's entries come first so that, after the stable sort, they win
        // over the file's own entries of the same name.
        let mut pairs = std::mem::take(&mut info.metadata);
        pairs.extend(
            meta.iter()
                .map(|(k, v)| (k.clone(), MetaValue::Str(v.clone()))),
        );
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs.dedup_by(|later, earlier| later.0 == earlier.0);
        info.metadata = pairs;
    }
    info.source = Some(Source {
        format: "safetensors".into(),
        file_name: src
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        sha256: sha256(bytes),
    });
    let mut w = Writer::create(dest, info, options)?;
    for name in header.offset_keys() {
        let t = st
            .tensor(&name)
            .map_err(|e| Error::at(src, ErrorKind::Safetensors(e.to_string())))?;
        let dtype: Dtype = t.dtype().to_string().parse().map_err(|_| {
            Error::at(
                src,
                ErrorKind::Safetensors(format!("unsupported dtype {}", t.dtype())),
            )
        })?;
        let shape: Vec<u64> = t.shape().iter().map(|&d| d as u64).collect();
        w.add(&name, dtype, &shape, t.data())
            .map_err(|e| e.with_path(src))?;
    }
    w.finish()
}

/// Writes every tensor of `model` to a `.safetensors` file at `dest` (atomically),
/// with its metadata as `__metadata__` (non-string values rendered as text).
pub fn export_safetensors(model: &Model, dest: &Path, overwrite: bool) -> Result<()> {
    if !overwrite && dest.exists() {
        return Err(Error::at(dest, ErrorKind::Exists));
    }
    // Every tensor is read first, so an unreadable one (encrypted without a key,
    // or not granted) fails the export before anything is written.
    let tensors = model.tensors().collect::<Result<Vec<_>>>()?;
    let mut views = Vec::with_capacity(model.len());
    for t in &tensors {
        let shape = t
            .shape()
            .iter()
            .map(|&d| usize::try_from(d))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| Error::new(ErrorKind::Invalid("shape does not fit in usize".into())))?;
        let view = StView::new(to_st(t.dtype()), shape, t.data())
            .map_err(|e| Error::new(ErrorKind::Safetensors(e.to_string())))?;
        views.push((t.name().to_owned(), view));
    }
    let meta: HashMap<String, String> = model
        .info()
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), meta_text(v)))
        .collect();
    let mode = if overwrite { Mode::Replace } else { Mode::New };
    let tmp = AtomicFile::create(dest, mode).map_err(fs_error)?;
    safetensors::serialize_to_file(views, (!meta.is_empty()).then_some(meta), tmp.path())
        .map_err(|e| Error::at(dest, ErrorKind::Safetensors(e.to_string())))?;
    // safetensors renames its own temporary file over ours: sync and chmod that one.
    tmp.reopen().and_then(|t| t.commit()).map_err(fs_error)
}

/// Renders a metadata value as the text safetensors' string-only metadata can hold.
pub fn meta_text(v: &MetaValue) -> String {
    match v {
        MetaValue::Bool(b) => b.to_string(),
        MetaValue::Int(i) => i.to_string(),
        MetaValue::Float(f) => f.to_string(),
        MetaValue::Str(s) | MetaValue::Json(s) => s.clone(),
        MetaValue::Bytes(b) => b.iter().map(|x| format!("{x:02x}")).collect(),
    }
}

fn to_st(d: Dtype) -> StDtype {
    match d {
        Dtype::BOOL => StDtype::BOOL,
        Dtype::F4 => StDtype::F4,
        Dtype::F6_E2M3 => StDtype::F6_E2M3,
        Dtype::F6_E3M2 => StDtype::F6_E3M2,
        Dtype::U8 => StDtype::U8,
        Dtype::I8 => StDtype::I8,
        Dtype::F8_E5M2 => StDtype::F8_E5M2,
        Dtype::F8_E4M3 => StDtype::F8_E4M3,
        Dtype::F8_E8M0 => StDtype::F8_E8M0,
        Dtype::F8_E4M3FNUZ => StDtype::F8_E4M3FNUZ,
        Dtype::F8_E5M2FNUZ => StDtype::F8_E5M2FNUZ,
        Dtype::I16 => StDtype::I16,
        Dtype::U16 => StDtype::U16,
        Dtype::F16 => StDtype::F16,
        Dtype::BF16 => StDtype::BF16,
        Dtype::I32 => StDtype::I32,
        Dtype::U32 => StDtype::U32,
        Dtype::F32 => StDtype::F32,
        Dtype::C64 => StDtype::C64,
        Dtype::F64 => StDtype::F64,
        Dtype::I64 => StDtype::I64,
        Dtype::U64 => StDtype::U64,
        _ => StDtype::U8,
    }
}
