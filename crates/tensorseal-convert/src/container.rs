//! Converting any supported model file into a tensorseal container.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::Value;
use sha2::{Digest, Sha256};
use tensorseal::{
    import_safetensors, FileBytes, Manifest, MetaValue as Meta, ModelInfo, Source, WriteOptions,
    Writer,
};

use crate::model::MetaValue;
use crate::{detect, import_with, ConvertError, ConvertOptions, Format};

/// Why a conversion failed: the reader refused the input, or the container
/// could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ConvertFileError {
    /// The input was refused (unsafe, malformed or unsupported), with its path.
    #[error("{path}: {source}")]
    Input {
        /// The input file.
        path: String,
        /// What the reader found.
        source: ConvertError,
    },
    /// Reading the input or writing the container failed.
    #[error(transparent)]
    Container(#[from] tensorseal::Error),
}

/// Converts `src` (any format [`detect()`] recognises and [`import_with`] reads, or
/// safetensors) into a container at `dest`.
///
/// The format is decided from content. Tensors stream one at a time into the
/// writer; non-tensor values of a checkpoint become typed metadata (nested values
/// as JSON); the manifest records the source format, file name and SHA-256. On any
/// refusal nothing is left at `dest`.
pub fn convert_file(
    src: &Path,
    dest: &Path,
    info: ModelInfo,
    write: WriteOptions,
    opts: &ConvertOptions,
) -> Result<Manifest, ConvertFileError> {
    let bytes = Arc::new(FileBytes::map(src)?);
    let format = detect(&bytes);
    if format == Format::Safetensors {
        drop(bytes);
        return Ok(import_safetensors(src, dest, info, write)?);
    }
    let input_err = |source| ConvertFileError::Input {
        path: src.display().to_string(),
        source,
    };
    if matches!(format, Format::Tensorseal) {
        return Err(input_err(ConvertError::Unsupported {
            format,
            reason: "already a tensorseal container",
        }));
    }
    let file_name = src
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Consumed input pages leave the resident set as the reader moves on, so
    // memory stays bounded by the largest tensor rather than the file.
    let mut opts = opts.clone();
    let map = Arc::clone(&bytes);
    opts.release = Some(Arc::new(move |part: &[u8]| map.release(part)));
    let mut writer = Writer::create(dest, info, write)?;
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        // The source digest is independent of the conversion: hash the file on a
        // second core.
        let source_digest = scope.spawn(|| hash_source(&bytes, &stop));
        let imported = import_into(&bytes, format, &opts, &mut writer);
        let (_, metadata) = imported.map_err(|e| {
            // A refusal should not wait for the rest of the file to be hashed.
            stop.store(true, Ordering::Relaxed);
            match e {
                Failure::Input(e) => input_err(e),
                Failure::Write(e) => e.into(),
            }
        })?;
        let sha256 = source_digest.join().ok().flatten().ok_or_else(|| {
            tensorseal::Error::io(src, "hash", std::io::Error::other("hashing thread failed"))
        })?;
        writer.set_source(Source {
            format: format.as_str().into(),
            file_name,
            sha256,
        });
        writer.set_metadata(merge_metadata(writer.metadata(), metadata));
        Ok(writer.finish()?)
    })
}

enum Failure {
    Input(ConvertError),
    Write(tensorseal::Error),
}

/// Streams every tensor of `bytes` into `writer`, releasing each tensor's input
/// pages once written.
fn import_into(
    bytes: &FileBytes,
    format: Format,
    opts: &ConvertOptions,
    writer: &mut Writer,
) -> Result<(Format, Vec<(String, MetaValue)>), Failure> {
    let mut write_err = None;
    let result = import_with(bytes, opts, &mut |t| {
        match writer.add(&t.name, t.dtype, &t.shape, &t.data) {
            Ok(()) => {
                opts.released(&t.data);
                Ok(())
            }
            Err(e) => {
                // Stop the reader; the writer's own error is what is reported.
                write_err = Some(e);
                Err(ConvertError::Unsupported {
                    format,
                    reason: "the container could not be written",
                })
            }
        }
    });
    match (result, write_err) {
        (_, Some(e)) => Err(Failure::Write(e)),
        (Err(e), None) => Err(Failure::Input(e)),
        (Ok(v), None) => Ok(v),
    }
}

/// SHA-256 of the mapped input, releasing each stretch once hashed. Reading the
/// map costs page-table updates where `read(2)` would copy every byte, and it
/// hashes exactly the bytes that are converted. Stops early (with no digest)
/// when the conversion has failed.
fn hash_source(bytes: &FileBytes, stop: &AtomicBool) -> Option<[u8; 32]> {
    let mut h = Sha256::new();
    for part in bytes.chunks(HASH_STEP) {
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        h.update(part);
        bytes.release(part);
    }
    Some(h.finalize().into())
}

/// Input hashed between two checks of the stop flag and two releases.
const HASH_STEP: usize = 8 << 20;

/// The caller's entries win over the file's; keys end sorted and unique.
fn merge_metadata(
    theirs: &[(String, Meta)],
    found: Vec<(String, MetaValue)>,
) -> Vec<(String, Meta)> {
    let mut all: Vec<(String, Meta)> = theirs.to_vec();
    all.extend(found.into_iter().map(|(k, v)| (k, to_meta(v))));
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all.dedup_by(|later, earlier| later.0 == earlier.0);
    all
}

/// Scalars keep their type; lists, maps and None travel as JSON text.
fn to_meta(v: MetaValue) -> Meta {
    match v {
        MetaValue::Bool(b) => Meta::Bool(b),
        MetaValue::Int(i) => Meta::Int(i),
        MetaValue::Float(f) => Meta::Float(f),
        MetaValue::Str(s) => Meta::Str(s),
        MetaValue::Bytes(b) => Meta::Bytes(b),
        other => Meta::Json(to_json(&other, 0).to_string()),
    }
}

/// Nesting beyond this depth is cut (the pickle machine bounds depth already;
/// this keeps the recursion here bounded whatever it allows).
const MAX_JSON_DEPTH: usize = 64;

fn to_json(v: &MetaValue, depth: usize) -> Value {
    if depth > MAX_JSON_DEPTH {
        return Value::String("<nested too deeply>".into());
    }
    match v {
        MetaValue::None => Value::Null,
        MetaValue::Bool(b) => Value::Bool(*b),
        MetaValue::Int(i) => Value::from(*i),
        MetaValue::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(f.to_string())),
        MetaValue::Str(s) => Value::String(s.clone()),
        MetaValue::Bytes(b) => Value::String(b.iter().map(|x| format!("{x:02x}")).collect()),
        MetaValue::List(l) => Value::Array(l.iter().map(|x| to_json(x, depth + 1)).collect()),
        MetaValue::Map(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), to_json(x, depth + 1)))
                .collect(),
        ),
    }
}
