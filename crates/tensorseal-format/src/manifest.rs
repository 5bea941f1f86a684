//! The manifest: model metadata, slices and tensors, encoded with postcard and
//! validated against the layout rules of SPEC.md before anything trusts it.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::bounded;
use crate::digest::DigestAlgorithm;
use crate::dtype::Dtype;
use crate::error::{ErrorKind, FormatError, Structure};
use crate::frame::{align_up, DATA_OFFSET, TENSOR_ALIGN};
use crate::limits::Limits;

/// AEAD identifier for ChaCha20-Poly1305 in 64 KiB STREAM chunks with detached tags.
pub const AEAD_CHACHA20POLY1305_STREAM64K: u16 = 1;
/// Plaintext bytes per encrypted chunk.
pub const CHUNK_SIZE: u64 = 65536;
/// Bytes of one detached AEAD tag.
pub const TAG_LEN: u64 = 16;

/// A typed free-form metadata value. Deliberately flat: nested structure travels as
/// JSON text, so decoding never recurses on untrusted input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MetaValue {
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// UTF-8 text.
    Str(String),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// A JSON document (objects, lists), stored as text.
    Json(String),
}

/// The tool that wrote the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Producer {
    /// Tool name, e.g. `tensorseal`.
    pub tool: String,
    /// Tool version.
    pub version: String,
}

/// Where a converted model came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// Source format, e.g. `safetensors`, `torch-zip`.
    pub format: String,
    /// Source file name (no directories).
    pub file_name: String,
    /// SHA-256 of the whole source file.
    pub sha256: [u8; 32],
}

/// Model-level metadata.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelInfo {
    /// Model identifier (rollback state is kept per model id and signer).
    pub model_id: String,
    /// Strictly increasing release number.
    pub version: u64,
    /// Creation time, seconds since the Unix epoch (UTC).
    pub created: i64,
    /// Expiry time, seconds since the Unix epoch; readers refuse the file after it.
    pub expires: Option<i64>,
    /// Writing tool.
    pub producer: Producer,
    /// When the model was trained (free text, RFC 3339 recommended).
    pub training_date: Option<String>,
    /// Dependencies, name to version, sorted by name.
    pub dependencies: Vec<(String, String)>,
    /// The source file, for converted models.
    pub source: Option<Source>,
    /// Free-form typed key-values, sorted by key.
    pub metadata: Vec<(String, MetaValue)>,
}

/// File-level encryption parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptionHeader {
    /// AEAD identifier; only [`AEAD_CHACHA20POLY1305_STREAM64K`] is defined.
    pub aead: u16,
    /// HKDF salt for every key derived from the file key.
    pub salt: [u8; 32],
    /// Commitment to the file key, checked before any decryption.
    pub key_commitment: [u8; 32],
}

/// Per-slice encryption parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SliceEncryption {
    /// Per-slice random salt mixed into the slice key.
    pub salt: [u8; 32],
    /// Commitment to the slice key.
    pub key_commitment: [u8; 32],
}

/// A contiguous run of tensors, the unit of verification and encryption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slice {
    /// Absolute offset (a multiple of 64).
    pub offset: u64,
    /// Stored length.
    pub length: u64,
    /// Digest (the manifest's [`DigestAlgorithm`]) of the stored bytes, followed
    /// by the slice's tags when encrypted.
    pub digest: [u8; 32],
    /// Encryption parameters, when the file is encrypted.
    pub encryption: Option<SliceEncryption>,
    /// Absolute offset of this slice's tags in the tag region (0 when not encrypted).
    pub tags_offset: u64,
    /// Index of this slice's first tensor.
    pub first_tensor: u32,
    /// Number of tensors in this slice.
    pub tensor_count: u32,
}

impl Slice {
    /// Number of AEAD chunks (and tags) of an encrypted slice of this length.
    pub fn chunk_count(&self) -> u64 {
        chunk_count(self.length)
    }
}

/// Chunks of a slice of `length` bytes: at least one, even when empty.
pub fn chunk_count(length: u64) -> u64 {
    length.div_ceil(CHUNK_SIZE).max(1)
}

/// A tensor's entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// Unique UTF-8 name.
    pub name: String,
    /// Element type.
    pub dtype: Dtype,
    /// Shape; empty for a scalar.
    pub shape: Vec<u64>,
    /// Index of the slice holding it.
    pub slice: u32,
    /// Absolute file offset of its first byte (a multiple of 64).
    pub offset: u64,
    /// Byte length (dtype size times element count).
    pub length: u64,
}

/// A validated manifest.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Manifest {
    /// The algorithm of every slice digest.
    pub digest_algorithm: DigestAlgorithm,
    /// Model metadata.
    pub model: ModelInfo,
    /// Encryption header, when encrypted.
    pub encryption: Option<EncryptionHeader>,
    /// Slices in file order.
    pub slices: Vec<Slice>,
    /// Tensors in file order.
    pub tensors: Vec<TensorInfo>,
}

#[derive(Serialize, Deserialize)]
struct WireSlice {
    length: u64,
    digest: [u8; 32],
    encryption: Option<SliceEncryption>,
}

#[derive(Serialize, Deserialize)]
struct WireTensor<'a> {
    #[serde(borrow)]
    name: &'a [u8],
    dtype: u8,
    // Not capped while decoding: a dimension costs at most 8 bytes per byte
    // of input, and the rank error names the tensor (conformance vector).
    shape: Vec<u64>,
    slice: u32,
    offset: u64,
    length: u64,
}

#[derive(Serialize, Deserialize)]
struct WireManifest<'a> {
    // First, so that it sits at the manifest's first byte (one raw byte in
    // postcard): a refusal of an unknown code names an exact offset.
    digest_algorithm: u8,
    model_id: String,
    version: u64,
    created: i64,
    expires: Option<i64>,
    producer: Producer,
    training_date: Option<String>,
    #[serde(deserialize_with = "bounded::vec::<_, _, bounded::Dependencies>")]
    dependencies: Vec<(String, String)>,
    source: Option<Source>,
    #[serde(deserialize_with = "bounded::vec::<_, _, bounded::Metadata>")]
    metadata: Vec<(String, MetaValue)>,
    encryption: Option<EncryptionHeader>,
    #[serde(deserialize_with = "bounded::vec::<_, _, bounded::Slices>")]
    slices: Vec<WireSlice>,
    #[serde(borrow, deserialize_with = "bounded::vec::<_, _, bounded::Tensors>")]
    tensors: Vec<WireTensor<'a>>,
}

/// Where the data region ends and the manifest must start, given a slice table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Regions {
    /// End of the last slice (start of the tag region).
    pub data_end: u64,
    /// End of the tag region (start of the manifest).
    pub tags_end: u64,
}

impl Manifest {
    /// Encodes the manifest (deterministic: same manifest, same bytes).
    pub fn encode(&self) -> Vec<u8> {
        let m = &self.model;
        let wire = WireManifest {
            digest_algorithm: self.digest_algorithm.code(),
            model_id: m.model_id.clone(),
            version: m.version,
            created: m.created,
            expires: m.expires,
            producer: m.producer.clone(),
            training_date: m.training_date.clone(),
            dependencies: m.dependencies.clone(),
            source: m.source.clone(),
            metadata: m.metadata.clone(),
            encryption: self.encryption,
            slices: self
                .slices
                .iter()
                .map(|s| WireSlice {
                    length: s.length,
                    digest: s.digest,
                    encryption: s.encryption,
                })
                .collect(),
            tensors: self
                .tensors
                .iter()
                .map(|t| WireTensor {
                    name: t.name.as_bytes(),
                    dtype: t.dtype.code(),
                    shape: t.shape.clone(),
                    slice: t.slice,
                    offset: t.offset,
                    length: t.length,
                })
                .collect(),
        };
        // Serializing plain structs into a Vec cannot fail.
        postcard::to_allocvec(&wire).unwrap_or_default()
    }

    /// Decodes and validates manifest bytes found at absolute offset `at`.
    ///
    /// Validation covers every rule of SPEC.md section "Manifest": limits, names,
    /// dtypes, shapes, lengths, the canonical layout of slices and tensors, and
    /// the consistency of encryption fields. It does not read tensor data.
    pub fn decode(bytes: &[u8], at: u64, limits: &Limits) -> Result<Manifest, FormatError> {
        let merr = |kind| FormatError::new(Structure::Manifest, at, kind);
        if bytes.len() as u64 > limits.max_manifest_bytes {
            return Err(merr(ErrorKind::Limit {
                what: "manifest size",
                found: bytes.len() as u64,
                limit: limits.max_manifest_bytes,
            }));
        }
        bounded::reset();
        let (mut wire, rest): (WireManifest, _) =
            postcard::take_from_bytes(bytes).map_err(|e| match bounded::take() {
                Some((what, found, limit)) => merr(ErrorKind::Limit { what, found, limit }),
                None => merr(ErrorKind::Decode(e.to_string())),
            })?;
        if !rest.is_empty() {
            return Err(FormatError::new(
                Structure::Manifest,
                at + (bytes.len() - rest.len()) as u64,
                ErrorKind::TrailingBytes(rest.len() as u64),
            ));
        }
        let digest_algorithm = DigestAlgorithm::from_code(wire.digest_algorithm)
            .ok_or_else(|| merr(ErrorKind::UnknownDigestAlgorithm(wire.digest_algorithm)))?;
        for (what, found, limit) in [
            ("tensor count", wire.tensors.len(), limits.max_tensors),
            ("slice count", wire.slices.len(), limits.max_slices),
        ] {
            if found as u64 > limit {
                return Err(merr(ErrorKind::Limit {
                    what,
                    found: found as u64,
                    limit,
                }));
            }
        }
        check_keys("dependencies", &wire.dependencies, limits, at)?;
        check_keys("metadata", &wire.metadata, limits, at)?;
        if let Some(e) = &wire.encryption {
            if e.aead != AEAD_CHACHA20POLY1305_STREAM64K {
                return Err(merr(ErrorKind::Unsupported(format!("AEAD id {}", e.aead))));
            }
        }
        let encrypted = wire.encryption.is_some();
        if wire
            .slices
            .iter()
            .any(|s| s.encryption.is_some() != encrypted)
        {
            return Err(merr(ErrorKind::Encryption(
                "every slice is encrypted exactly when the file has an encryption header",
            )));
        }

        let tensors = decode_tensors(std::mem::take(&mut wire.tensors), limits)?;
        let slices = layout_slices(&wire.slices, &tensors, at)?;
        Ok(Manifest {
            digest_algorithm,
            model: ModelInfo {
                model_id: wire.model_id,
                version: wire.version,
                created: wire.created,
                expires: wire.expires,
                producer: wire.producer,
                training_date: wire.training_date,
                dependencies: wire.dependencies,
                source: wire.source,
                metadata: wire.metadata,
            },
            encryption: wire.encryption,
            slices,
            tensors,
        })
    }

    /// The data and tag region boundaries implied by the slice table.
    pub fn regions(&self) -> Regions {
        let data_end = self
            .slices
            .last()
            .map_or(DATA_OFFSET, |s| s.offset + s.length);
        let tags: u64 = self
            .slices
            .iter()
            .filter(|s| s.encryption.is_some())
            .map(|s| s.chunk_count() * TAG_LEN)
            .sum();
        Regions {
            data_end,
            tags_end: data_end + tags,
        }
    }

    /// Index of the tensor called `name`.
    pub fn tensor_index(&self, name: &str) -> Option<usize> {
        self.tensors.iter().position(|t| t.name == name)
    }
}

fn check_keys<V>(
    what: &'static str,
    pairs: &[(String, V)],
    limits: &Limits,
    at: u64,
) -> Result<(), FormatError> {
    let mut prev: Option<&str> = None;
    for (k, _) in pairs {
        if k.len() as u64 > limits.max_name_bytes {
            return Err(FormatError::new(
                Structure::Manifest,
                at,
                ErrorKind::Limit {
                    what: "key length",
                    found: k.len() as u64,
                    limit: limits.max_name_bytes,
                },
            ));
        }
        if prev.is_some_and(|p| p >= k.as_str()) {
            return Err(FormatError::new(
                Structure::Manifest,
                at,
                ErrorKind::KeyOrder(what, k.clone()),
            ));
        }
        prev = Some(k);
    }
    Ok(())
}

fn decode_tensors(
    wire: Vec<WireTensor<'_>>,
    limits: &Limits,
) -> Result<Vec<TensorInfo>, FormatError> {
    let mut names: HashSet<&str> = HashSet::with_capacity(wire.len());
    let mut out = Vec::with_capacity(wire.len());
    for t in wire {
        let lossy = || String::from_utf8_lossy(t.name).into_owned();
        let terr = |kind| FormatError::new(Structure::Tensor(lossy()), t.offset, kind);
        let name = core::str::from_utf8(t.name).map_err(|_| terr(ErrorKind::NonUtf8Name))?;
        if name.is_empty() {
            return Err(terr(ErrorKind::EmptyName));
        }
        if name.len() as u64 > limits.max_name_bytes {
            return Err(terr(ErrorKind::Limit {
                what: "name length",
                found: name.len() as u64,
                limit: limits.max_name_bytes,
            }));
        }
        if !names.insert(name) {
            return Err(terr(ErrorKind::DuplicateName));
        }
        let dtype =
            Dtype::from_code(t.dtype).ok_or_else(|| terr(ErrorKind::UnknownDtype(t.dtype)))?;
        if t.shape.len() as u64 > limits.max_rank {
            return Err(terr(ErrorKind::Limit {
                what: "rank",
                found: t.shape.len() as u64,
                limit: limits.max_rank,
            }));
        }
        let expected = t
            .shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .and_then(|n| dtype.byte_len(n))
            .ok_or_else(|| terr(ErrorKind::ShapeOverflow(t.shape.clone())))?;
        if expected != t.length {
            return Err(terr(ErrorKind::LengthMismatch {
                expected,
                found: t.length,
            }));
        }
        out.push(TensorInfo {
            name: name.to_owned(),
            dtype,
            shape: t.shape,
            slice: t.slice,
            offset: t.offset,
            length: t.length,
        });
    }
    Ok(out)
}

/// Checks the canonical layout: slices back to back from [`DATA_OFFSET`], each
/// starting on a 64-byte boundary; tensors in order inside their slice, each at the
/// first 64-byte boundary after the previous one; nothing overlaps, nothing is hidden.
fn layout_slices(
    wire: &[WireSlice],
    tensors: &[TensorInfo],
    at: u64,
) -> Result<Vec<Slice>, FormatError> {
    let mut slices = Vec::with_capacity(wire.len());
    let mut ti = 0usize;
    let mut next_slice_at = DATA_OFFSET;
    let mut tags_at = 0u64; // relative to the tag region; made absolute below
    for (si, ws) in wire.iter().enumerate() {
        let si32 = si as u32;
        let serr = |kind| FormatError::new(Structure::Slice(si32), next_slice_at, kind);
        let first = ti;
        let slice_end =
            next_slice_at
                .checked_add(ws.length)
                .ok_or(serr(ErrorKind::OutOfBounds {
                    offset: next_slice_at,
                    length: ws.length,
                    limit: u64::MAX,
                }))?;
        let mut cursor = next_slice_at;
        while let Some(t) = tensors.get(ti) {
            if t.slice != si32 {
                break;
            }
            let terr = |kind| FormatError::new(Structure::Tensor(t.name.clone()), t.offset, kind);
            if t.offset % TENSOR_ALIGN != 0 {
                return Err(terr(ErrorKind::Misaligned {
                    offset: t.offset,
                    align: TENSOR_ALIGN,
                }));
            }
            let expected = if ti == first {
                next_slice_at
            } else {
                align_up(cursor).ok_or_else(|| terr(ErrorKind::ShapeOverflow(t.shape.clone())))?
            };
            if t.offset < expected {
                return Err(terr(ErrorKind::Overlap {
                    offset: t.offset,
                    previous_end: cursor,
                }));
            }
            if t.offset > expected {
                return Err(terr(ErrorKind::Gap {
                    offset: t.offset,
                    expected,
                }));
            }
            let end = t.offset.checked_add(t.length).filter(|&e| e <= slice_end);
            cursor = end.ok_or_else(|| {
                terr(ErrorKind::OutOfBounds {
                    offset: t.offset,
                    length: t.length,
                    limit: slice_end,
                })
            })?;
            ti += 1;
        }
        if ti == first {
            return Err(serr(ErrorKind::EmptySlice));
        }
        if cursor != slice_end {
            return Err(serr(ErrorKind::LengthMismatch {
                expected: cursor - next_slice_at,
                found: ws.length,
            }));
        }
        let tags_offset = tags_at;
        if ws.encryption.is_some() {
            tags_at = chunk_count(ws.length)
                .checked_mul(TAG_LEN)
                .and_then(|n| n.checked_add(tags_at))
                .ok_or(serr(ErrorKind::OutOfBounds {
                    offset: next_slice_at,
                    length: ws.length,
                    limit: u64::MAX,
                }))?;
        }
        slices.push(Slice {
            offset: next_slice_at,
            length: ws.length,
            digest: ws.digest,
            encryption: ws.encryption,
            tags_offset,
            first_tensor: first as u32,
            tensor_count: (ti - first) as u32,
        });
        next_slice_at = align_up(slice_end).ok_or(serr(ErrorKind::OutOfBounds {
            offset: next_slice_at,
            length: ws.length,
            limit: u64::MAX,
        }))?;
    }
    if let Some(t) = tensors.get(ti) {
        return Err(FormatError::new(
            Structure::Tensor(t.name.clone()),
            at,
            ErrorKind::NotInSlice(t.slice),
        ));
    }
    let data_end = slices.last().map_or(DATA_OFFSET, |s| s.offset + s.length);
    if data_end.checked_add(tags_at).is_none() {
        return Err(FormatError::new(
            Structure::TagRegion,
            data_end,
            ErrorKind::OutOfBounds {
                offset: data_end,
                length: tags_at,
                limit: u64::MAX,
            },
        ));
    }
    for s in &mut slices {
        if s.encryption.is_some() {
            s.tags_offset += data_end;
        }
    }
    Ok(slices)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_algorithm_is_the_first_byte_and_unknown_codes_are_refused() {
        for &a in DigestAlgorithm::ALL {
            let m = Manifest {
                digest_algorithm: a,
                ..Manifest::default()
            };
            let bytes = m.encode();
            assert_eq!(bytes[0], a.code());
            let back = Manifest::decode(&bytes, 5000, &Limits::default()).unwrap();
            assert_eq!(back.digest_algorithm, a);
        }
        let mut bytes = Manifest::default().encode();
        bytes[0] = 9;
        let e = Manifest::decode(&bytes, 5000, &Limits::default()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::UnknownDigestAlgorithm(9));
        assert_eq!((e.structure.clone(), e.offset), (Structure::Manifest, 5000));
        assert!(e.to_string().contains("digest_algorithm"), "{e}");
    }
}
