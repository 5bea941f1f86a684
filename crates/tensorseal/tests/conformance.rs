//! The conformance vectors of `formats/vectors/`: built here from code, compared
//! byte for byte with the committed files (so the spec's vectors cannot drift from
//! the writer), then decoded and checked against the JSON beside each.
//!
//! Regenerate after an intended format change with
//! `TENSORSEAL_WRITE_VECTORS=1 cargo test -p tensorseal --test conformance`.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tensorseal::format::{
    Footer, Manifest, Preamble, DATA_OFFSET, FOOTER_LEN, MAJOR, PREAMBLE_LEN,
};

use tensorseal::{
    Dtype, ErrorKind, MetaValue, Model, ModelInfo, OpenOptions, Policy, Producer,
    RecipientSecretKey, SigningKey, SlicePolicy, Source, VectorRng, Verification, WriteOptions,
    Writer,
};

/// 2026-01-01T00:00:00Z: vectors are deterministic.
const CREATED: i64 = 1_767_225_600;
/// Judged "now" for the vectors (before every `expires` they carry).
const NOW: i64 = 1_780_000_000;

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../formats/vectors")
}

fn info(id: &str) -> ModelInfo {
    ModelInfo {
        model_id: id.into(),
        version: 7,
        created: CREATED,
        expires: Some(4_102_444_800),
        producer: Producer {
            tool: "tensorseal-vectors".into(),
            version: "1".into(),
        },
        training_date: Some("2025-12-24".into()),
        dependencies: vec![
            ("numpy".into(), "2.1.0".into()),
            ("torch".into(), "2.5.1".into()),
        ],
        source: Some(Source {
            format: "safetensors".into(),
            file_name: "model.safetensors".into(),
            sha256: [0xab; 32],
        }),
        metadata: vec![
            ("bytes".into(), MetaValue::Bytes(vec![0, 1, 2])),
            (
                "config".into(),
                MetaValue::Json(r#"{"layers":[4,8,2]}"#.into()),
            ),
            ("epochs".into(), MetaValue::Int(12)),
            ("lr".into(), MetaValue::Float(0.001)),
            ("name".into(), MetaValue::Str("vectors".into())),
            ("quantized".into(), MetaValue::Bool(false)),
        ],
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn write_with(
    id: &str,
    slicing: SlicePolicy,
    tensors: &[(&str, Dtype, &[u64])],
    meta: ModelInfo,
) -> Vec<u8> {
    let opts = WriteOptions {
        slicing,
        overwrite: false,
        ..WriteOptions::default()
    };
    write_opts(id, tensors, meta, opts)
}

/// The signer of the signed vectors, from a fixed seed.
fn vector_signer() -> SigningKey {
    SigningKey::generate(&mut VectorRng::new(*b"tensorseal vectors: signer key.."))
}

/// The recipient of the encrypted vector, from a fixed seed.
fn vector_identity() -> RecipientSecretKey {
    RecipientSecretKey::generate(&mut VectorRng::new(*b"tensorseal vectors: recipient..."))
}

fn sealed(id: &str, tensors: &[(&str, Dtype, &[u64])], encrypt: bool) -> Vec<u8> {
    let opts = WriteOptions {
        slicing: SlicePolicy::PerTensor,
        signers: vec![Arc::new(vector_signer())],
        recipients: if encrypt {
            vec![vector_identity().public_key().clone()]
        } else {
            Vec::new()
        },
        vector_seed: Some(*b"tensorseal vectors: writer seed."),
        ..WriteOptions::default()
    };
    write_opts(id, tensors, info(""), opts)
}

fn signed() -> Vec<u8> {
    sealed(
        "vectors/signed",
        &[
            ("layer.weight", Dtype::F32, &[2, 3]),
            ("step", Dtype::I64, &[]),
        ],
        false,
    )
}

fn encrypted() -> Vec<u8> {
    sealed(
        "vectors/encrypted",
        &[
            ("embed.weight", Dtype::F32, &[4, 2]),
            ("big", Dtype::U8, &[70_000]),
            ("empty", Dtype::F16, &[0]),
        ],
        true,
    )
}

fn write_opts(
    id: &str,
    tensors: &[(&str, Dtype, &[u64])],
    mut meta: ModelInfo,
    opts: WriteOptions,
) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.tseal");
    meta.model_id = id.into();
    let mut w = Writer::create(&path, meta, opts).unwrap();
    for (i, (name, dtype, shape)) in tensors.iter().enumerate() {
        let n: u64 = shape.iter().product();
        let len = dtype.byte_len(n).unwrap() as usize;
        w.add(name, *dtype, shape, &pattern(len, i as u8)).unwrap();
    }
    w.finish().unwrap();
    std::fs::read(&path).unwrap()
}

fn basic() -> Vec<u8> {
    write_with(
        "vectors/basic",
        SlicePolicy::PerTensor,
        &[
            ("layer.weight", Dtype::F32, &[2, 3]),
            ("layer.bias", Dtype::BF16, &[3]),
            ("step", Dtype::I64, &[]),
            ("empty", Dtype::F16, &[0, 4]),
        ],
        info(""),
    )
}

fn grouped() -> Vec<u8> {
    write_with(
        "vectors/grouped",
        SlicePolicy::MaxBytes(256),
        &[
            ("a", Dtype::U8, &[10]),
            ("b", Dtype::F32, &[5]),
            ("zz", Dtype::F64, &[40]),
            ("c", Dtype::I16, &[3]),
        ],
        info(""),
    )
}

fn all_dtypes() -> Vec<u8> {
    let shapes: Vec<(String, Dtype, Vec<u64>)> = Dtype::ALL
        .iter()
        .map(|&d| {
            let n = if d.bits() % 8 == 0 { 3 } else { 4 };
            (d.name().to_lowercase(), d, vec![n])
        })
        .collect();
    let refs: Vec<(&str, Dtype, &[u64])> = shapes
        .iter()
        .map(|(n, d, s)| (n.as_str(), *d, s.as_slice()))
        .collect();
    write_with("vectors/all-dtypes", SlicePolicy::Manual, &refs, info(""))
}

fn empty() -> Vec<u8> {
    write_with(
        "vectors/empty",
        SlicePolicy::PerTensor,
        &[],
        ModelInfo {
            created: CREATED,
            producer: Producer {
                tool: "tensorseal-vectors".into(),
                version: "1".into(),
            },
            ..ModelInfo::default()
        },
    )
}

/// The pieces of a file, to rebuild it after changing one of them.
struct Parts {
    data: Vec<u8>,
    manifest: Vec<u8>,
    minor: (u16, u16),
}

fn split(file: &[u8]) -> Parts {
    let tail = &file[file.len() - FOOTER_LEN as usize..];
    let f = Footer::decode(tail, file.len() as u64).unwrap();
    Parts {
        data: file[DATA_OFFSET as usize..f.manifest_offset as usize].to_vec(),
        manifest: file[f.manifest_offset as usize..f.signatures_offset() as usize].to_vec(),
        minor: (0, 0),
    }
}

/// Reassembles a file with correct digests, so a mutation reaches the check it targets.
fn assemble(p: &Parts) -> Vec<u8> {
    let mut out = Preamble {
        major: MAJOR,
        minor: p.minor.0,
    }
    .encode()
    .to_vec();
    out.resize(DATA_OFFSET as usize, 0);
    out.extend_from_slice(&p.data);
    let footer = Footer {
        manifest_offset: out.len() as u64,
        manifest_len: p.manifest.len() as u64,
        signatures_len: 0,
        recipients_len: 0,
        manifest_sha256: Sha256::digest(&p.manifest).into(),
        blocks_sha256: Sha256::digest([]).into(),
        major: MAJOR,
        minor: p.minor.1,
    };
    out.extend_from_slice(&p.manifest);
    out.extend_from_slice(&footer.encode());
    out
}

fn manifest_of(file: &[u8]) -> Manifest {
    let p = split(file);
    Manifest::decode(&p.manifest, 0, &Default::default()).unwrap()
}

/// Re-encodes `file` with its manifest changed by `f`.
fn remanifest(file: &[u8], f: impl FnOnce(&mut Manifest)) -> Vec<u8> {
    let mut p = split(file);
    let mut m = manifest_of(file);
    f(&mut m);
    p.manifest = m.encode();
    assemble(&p)
}

/// Re-encodes `file` with its manifest bytes changed by `f`.
fn patch_manifest(file: &[u8], f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut p = split(file);
    f(&mut p.manifest);
    assemble(&p)
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).position(|w| w == needle).unwrap()
}

fn flip(mut file: Vec<u8>, at: usize) -> Vec<u8> {
    file[at] ^= 0x01;
    file
}

fn valid_vectors() -> Vec<(&'static str, Vec<u8>)> {
    let mut newer = split(&basic());
    newer.minor = (1, 1);
    vec![
        ("empty", empty()),
        ("basic", basic()),
        ("grouped", grouped()),
        ("all_dtypes", all_dtypes()),
        ("newer_minor", assemble(&newer)),
        ("signed", signed()),
        ("encrypted", encrypted()),
    ]
}

fn invalid_vectors() -> Vec<(&'static str, Vec<u8>)> {
    let b = basic();
    let g = grouped();
    let m_at = split(&b).data.len() + DATA_OFFSET as usize;
    let mut v = vec![
        ("truncated", b[..2000].to_vec()),
        ("truncated_footer", b[..b.len() - 1].to_vec()),
        ("text_mode_transfer", {
            let mut x = b.clone();
            x.remove(6);
            x
        }),
        ("unknown_major", {
            let mut x = b.clone();
            x[8] = 2;
            x
        }),
        ("byte_order", {
            let mut x = b.clone();
            x[12] = 2;
            x
        }),
        ("version_mismatch", {
            let mut p = split(&b);
            p.minor = (1, 0);
            assemble(&p)
        }),
        ("header_padding", flip(b.clone(), 100)),
        ("bytes_after_end", {
            let mut x = b.clone();
            x.extend_from_slice(b"PK\x05\x06 hidden payload");
            x
        }),
        ("footer_reserved", flip(b.clone(), b.len() - 20)),
        ("manifest_digest", flip(b.clone(), m_at + 3)),
        ("slice_digest", flip(b.clone(), DATA_OFFSET as usize + 5)),
        // basic's first tensor is 24 bytes: its slice is followed by 40 padding bytes.
        ("slice_padding", flip(b.clone(), DATA_OFFSET as usize + 30)),
        ("inner_padding", {
            // grouped's slice 0 holds a (10 B) then b: bytes 10..64 are padding inside it.
            let mut p = split(&g);
            p.data[20] = 7;
            let mut m = manifest_of(&g);
            m.slices[0].sha256 = Sha256::digest(&p.data[..m.slices[0].length as usize]).into();
            p.manifest = m.encode();
            assemble(&p)
        }),
        ("misaligned", remanifest(&g, |m| m.tensors[1].offset += 4)),
        ("overlap", remanifest(&g, |m| m.tensors[1].offset -= 64)),
        ("gap", remanifest(&g, |m| m.tensors[1].offset += 64)),
        ("out_of_slice", remanifest(&g, |m| m.slices[0].length = 50)),
        (
            "duplicate_name",
            remanifest(&g, |m| m.tensors[1].name = "a".into()),
        ),
        (
            "empty_name",
            remanifest(&g, |m| m.tensors[0].name = String::new()),
        ),
        (
            "non_utf8_name",
            patch_manifest(&g, |m| {
                let at = find(m, b"\x02zz");
                m[at + 1] = 0xff;
                m[at + 2] = 0xfe;
            }),
        ),
        (
            "unknown_dtype",
            patch_manifest(&g, |m| {
                let at = find(m, b"\x02zz");
                m[at + 3] = 200;
            }),
        ),
        (
            "shape_overflow",
            remanifest(&g, |m| m.tensors[2].shape = vec![u64::MAX, 3]),
        ),
        (
            "length_mismatch",
            remanifest(&g, |m| m.tensors[2].length -= 8),
        ),
        (
            "rank_limit",
            remanifest(&g, |m| m.tensors[2].shape = vec![1; 33]),
        ),
        (
            "name_limit",
            remanifest(&g, |m| m.tensors[0].name = "n".repeat(1025)),
        ),
        (
            "unsorted_metadata",
            remanifest(&g, |m| m.model.metadata.swap(0, 1)),
        ),
        (
            "undecodable_manifest",
            patch_manifest(&g, |m| *m = vec![0xff; 12]),
        ),
        ("manifest_trailing_bytes", patch_manifest(&g, |m| m.push(0))),
        ("manifest_gap", {
            let mut p = split(&g);
            p.data.extend_from_slice(&[0; 64]);
            assemble(&p)
        }),
        (
            "empty_slice",
            remanifest(&g, |m| {
                let mut s = m.slices[1].clone();
                s.length = 0;
                m.slices.push(s);
            }),
        ),
    ];
    v.sort_by_key(|(n, _)| *n);
    v
}

fn tensor_json(model: &Model) -> Value {
    Value::Array(
        model
            .tensors()
            .map(|t| {
                let t = t.unwrap();
                json!({
                    "name": t.name(), "dtype": t.dtype().name(), "shape": t.shape(),
                    "offset": t.offset(), "length": t.info().length,
                    "sha256": hex(&t.sha256()),
                })
            })
            .collect(),
    )
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn expected_valid(model: &Model) -> Value {
    let i = model.info();
    let (major, minor) = model.format_version();
    let mut v = expected_plain(model);
    if !model.signers().is_empty() {
        v["signers"] = json!(model
            .signers()
            .iter()
            .map(|s| s.fingerprint.to_string())
            .collect::<Vec<_>>());
        v["signer_public_key"] = json!(vector_signer().verifying_key().to_text());
    }
    if model.is_encrypted() {
        // Published so that other implementations can decrypt the vector.
        v["identity"] = json!(vector_identity().to_text().as_str());
        v["recipient"] = json!(vector_identity().public_key().to_text());
    }
    let _ = (i, major, minor);
    v
}

fn expected_plain(model: &Model) -> Value {
    let i = model.info();
    let (major, minor) = model.format_version();
    json!({
        "format_version": [major, minor],
        "model_id": i.model_id,
        "version": i.version,
        "created": i.created,
        "expires": i.expires,
        "slices": model.manifest().slices.iter().map(|s| json!({
            "offset": s.offset, "length": s.length, "sha256": hex(&s.sha256),
        })).collect::<Vec<_>>(),
        "tensors": tensor_json(model),
    })
}

fn open(bytes: &[u8]) -> tensorseal::Result<Model> {
    Model::from_bytes_with(
        bytes,
        &Policy::allow_unsigned().at_time(NOW),
        OpenOptions::new()
            .verification(Verification::Eager)
            .identity(vector_identity()),
    )
}

fn error_json(e: &tensorseal::Error) -> Value {
    match e.kind() {
        ErrorKind::Format(f) => json!({
            "error": f.kind.code(), "structure": f.structure.to_string(), "offset": f.offset,
            "message": f.to_string(),
        }),
        other => panic!("expected a format error, got {other}"),
    }
}

fn sync(sub: &str, name: &str, bytes: &[u8], expected: &Value) {
    let dir = vectors_dir().join(sub);
    let file = dir.join(format!("{name}.tseal"));
    let json_path = dir.join(format!("{name}.json"));
    if std::env::var_os("TENSORSEAL_WRITE_VECTORS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&file, bytes).unwrap();
        std::fs::write(
            &json_path,
            serde_json::to_string_pretty(expected).unwrap() + "\n",
        )
        .unwrap();
    }
    let committed = std::fs::read(&file).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; regenerate with TENSORSEAL_WRITE_VECTORS=1",
            file.display()
        )
    });
    assert!(
        committed == bytes,
        "{} differs from what the code writes; regenerate with TENSORSEAL_WRITE_VECTORS=1",
        file.display()
    );
    let committed_json: Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(&committed_json, expected, "{}", json_path.display());
}

#[test]
fn valid_vectors_decode_as_recorded() {
    for (name, bytes) in valid_vectors() {
        let model = open(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected = expected_valid(&model);
        sync("valid", name, &bytes, &expected);
        for t in &model.manifest().tensors {
            assert_eq!(t.offset % 64, 0, "{name}: {} misaligned", t.name);
        }
    }
}

#[test]
fn invalid_vectors_raise_their_error() {
    let mut seen = std::collections::HashSet::new();
    for (name, bytes) in invalid_vectors() {
        let e = match open(&bytes) {
            Ok(_) => panic!("{name}: opened"),
            Err(e) => e,
        };
        let expected = error_json(&e);
        sync("invalid", name, &bytes, &expected);
        seen.insert(expected["error"].as_str().unwrap().to_owned());
    }
    // Each class of bad input has its own error, not one catch-all.
    assert!(
        seen.len() >= 20,
        "only {} distinct errors: {seen:?}",
        seen.len()
    );
}

#[test]
fn every_vector_on_disk_is_checked() {
    for sub in ["valid", "invalid"] {
        let known: Vec<&str> = if sub == "valid" {
            valid_vectors().iter().map(|v| v.0).collect()
        } else {
            invalid_vectors().iter().map(|v| v.0).collect()
        };
        for entry in std::fs::read_dir(vectors_dir().join(sub)).unwrap() {
            let p = entry.unwrap().path();
            let stem = p.file_stem().unwrap().to_str().unwrap().to_owned();
            assert!(
                known.contains(&stem.as_str()),
                "stray vector {}",
                p.display()
            );
        }
    }
}

#[test]
fn preamble_and_padding_sizes() {
    let b = basic();
    assert_eq!(&b[..8], b"\x89TSEAL\r\n");
    assert!(b[PREAMBLE_LEN as usize..DATA_OFFSET as usize]
        .iter()
        .all(|&x| x == 0));
}
