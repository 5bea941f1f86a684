//! The conformance vectors of `formats/vectors/`: built here from code, compared
//! byte for byte with the committed files (so the spec's vectors cannot drift from
//! the writer), then decoded and checked against the JSON beside each, against
//! what was written, and (for digests, footers, fingerprints and tensor bytes)
//! against an independent implementation (`formats/vectors/check_vectors.py`).
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
    digest, DigestAlgorithm, Dtype, ErrorKind, MetaValue, Model, ModelInfo, OpenOptions, Policy,
    Producer, RecipientSecretKey, SigningKey, SlicePolicy, Source, VectorRng, Verification,
    WriteOptions, Writer,
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

/// What a vector is made of: the independent record its decoding is checked against.
#[derive(Clone)]
struct Spec {
    slicing: SlicePolicy,
    tensors: Vec<(String, Dtype, Vec<u64>)>,
    info: ModelInfo,
    digest: DigestAlgorithm,
    signed: bool,
    encrypted: bool,
}

impl Spec {
    fn new(id: &'static str, slicing: SlicePolicy, tensors: &[(&str, Dtype, &[u64])]) -> Spec {
        Spec {
            slicing,
            tensors: tensors
                .iter()
                .map(|(n, d, s)| (n.to_string(), *d, s.to_vec()))
                .collect(),
            info: info(id),
            digest: DigestAlgorithm::Blake3,
            signed: false,
            encrypted: false,
        }
    }

    fn digest(mut self, d: DigestAlgorithm) -> Spec {
        self.digest = d;
        self
    }

    fn sealed(mut self, encrypted: bool) -> Spec {
        self.signed = true;
        self.encrypted = encrypted;
        self
    }

    /// The tensors' bytes: byte `i` of tensor `k` is `i * 31 + k` (mod 256).
    fn data(&self, k: usize) -> Vec<u8> {
        let (_, dtype, shape) = &self.tensors[k];
        let n: u64 = shape.iter().product();
        pattern(dtype.byte_len(n).unwrap() as usize, k as u8)
    }

    fn build(&self) -> Vec<u8> {
        let opts = WriteOptions {
            slicing: self.slicing,
            digest: self.digest,
            signers: if self.signed {
                vec![Arc::new(vector_signer())]
            } else {
                Vec::new()
            },
            recipients: if self.encrypted {
                vec![vector_identity().public_key().clone()]
            } else {
                Vec::new()
            },
            vector_seed: (self.signed || self.encrypted)
                .then_some(*b"tensorseal vectors: writer seed."),
            ..WriteOptions::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.tseal");
        let mut w = Writer::create(&path, self.info.clone(), opts).unwrap();
        for (k, (name, dtype, shape)) in self.tensors.iter().enumerate() {
            w.add(name, *dtype, shape, &self.data(k)).unwrap();
        }
        w.finish().unwrap();
        std::fs::read(&path).unwrap()
    }
}

/// The signer of the signed vectors, from a fixed seed.
fn vector_signer() -> SigningKey {
    SigningKey::generate(&mut VectorRng::new(*b"tensorseal vectors: signer key.."))
}

/// The recipient of the encrypted vector, from a fixed seed.
fn vector_identity() -> RecipientSecretKey {
    RecipientSecretKey::generate(&mut VectorRng::new(*b"tensorseal vectors: recipient..."))
}

fn basic_spec() -> Spec {
    Spec::new(
        "vectors/basic",
        SlicePolicy::PerTensor,
        &[
            ("layer.weight", Dtype::F32, &[2, 3]),
            ("layer.bias", Dtype::BF16, &[3]),
            ("step", Dtype::I64, &[]),
            ("empty", Dtype::F16, &[0, 4]),
        ],
    )
}

fn grouped_spec() -> Spec {
    Spec::new(
        "vectors/grouped",
        SlicePolicy::MaxBytes(256),
        &[
            ("a", Dtype::U8, &[10]),
            ("b", Dtype::F32, &[5]),
            ("zz", Dtype::F64, &[40]),
            ("c", Dtype::I16, &[3]),
        ],
    )
}

fn encrypted_spec() -> Spec {
    Spec::new(
        "vectors/encrypted",
        SlicePolicy::PerTensor,
        &[
            ("embed.weight", Dtype::F32, &[4, 2]),
            ("big", Dtype::U8, &[70_000]),
            ("empty", Dtype::F16, &[0]),
        ],
    )
    .sealed(true)
}

fn all_dtypes_spec() -> Spec {
    let shapes: Vec<(String, Dtype, Vec<u64>)> = Dtype::ALL
        .iter()
        .map(|&d| {
            let n = if d.bits() % 8 == 0 { 3 } else { 4 };
            (d.name().to_lowercase(), d, vec![n])
        })
        .collect();
    let mut s = Spec::new("vectors/all-dtypes", SlicePolicy::Manual, &[]);
    s.tensors = shapes;
    s
}

fn empty_spec() -> Spec {
    let mut s = Spec::new("vectors/empty", SlicePolicy::PerTensor, &[]);
    s.info = ModelInfo {
        model_id: "vectors/empty".into(),
        created: CREATED,
        producer: Producer {
            tool: "tensorseal-vectors".into(),
            version: "1".into(),
        },
        ..ModelInfo::default()
    };
    s
}

/// The valid vectors made straight from a spec.
fn specs() -> Vec<(&'static str, Spec)> {
    vec![
        ("empty", empty_spec()),
        ("basic", basic_spec()),
        (
            "basic_sha256",
            Spec {
                info: info("vectors/basic-sha256"),
                ..basic_spec()
            }
            .digest(DigestAlgorithm::Sha256),
        ),
        ("grouped", grouped_spec()),
        ("all_dtypes", all_dtypes_spec()),
        (
            "signed",
            Spec::new(
                "vectors/signed",
                SlicePolicy::PerTensor,
                &[
                    ("layer.weight", Dtype::F32, &[2, 3]),
                    ("step", Dtype::I64, &[]),
                ],
            )
            .sealed(false),
        ),
        ("encrypted", encrypted_spec()),
        (
            "encrypted_sha256",
            Spec {
                info: info("vectors/encrypted-sha256"),
                ..encrypted_spec()
            }
            .digest(DigestAlgorithm::Sha256),
        ),
    ]
}

fn basic() -> Vec<u8> {
    basic_spec().build()
}

fn grouped() -> Vec<u8> {
    grouped_spec().build()
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
    let mut v: Vec<(&'static str, Vec<u8>)> =
        specs().into_iter().map(|(n, s)| (n, s.build())).collect();
    v.push(("newer_minor", assemble(&newer)));
    v
}

/// Format 1's `valid/basic.tseal`, as committed before format 2 (SHA-256
/// pinned): a real format 1 file, not one rebuilt by format 2 code.
fn format_1_file() -> Vec<u8> {
    let path = vectors_dir().join("invalid/format_v1.tseal");
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(
        hex(&Sha256::digest(&bytes)),
        "2df00c41dce8364ce1eb7c8ae2d2b2fc804ca0a68a69159f74dd16b74705f48c",
        "{} is not format 1's basic vector",
        path.display()
    );
    bytes
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
            x[10] = 3;
            x
        }),
        ("byte_order", {
            let mut x = b.clone();
            x[14] = 2;
            x
        }),
        ("format_v1", format_1_file()),
        (
            "unknown_digest_algorithm",
            patch_manifest(&b, |m| {
                assert_eq!(m[0], DigestAlgorithm::Blake3.code());
                m[0] = 9;
            }),
        ),
        (
            // A BLAKE3 file relabelled SHA-256 (or the reverse): the slice
            // digests are checked under the label, and fail.
            "digest_algorithm_relabelled",
            remanifest(&b, |m| m.digest_algorithm = DigestAlgorithm::Sha256),
        ),
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
            m.slices[0].digest = digest(m.digest_algorithm, &p.data[..m.slices[0].length as usize]);
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

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn meta_json(v: &MetaValue) -> Value {
    match v {
        MetaValue::Bool(b) => json!({"type": "bool", "value": b}),
        MetaValue::Int(i) => json!({"type": "int", "value": i}),
        // The bits too: the decimal form of a float need not round-trip in every reader.
        MetaValue::Float(f) => {
            json!({"type": "float", "value": f, "bits": format!("{:016x}", f.to_bits())})
        }
        MetaValue::Str(s) => json!({"type": "str", "value": s}),
        MetaValue::Bytes(b) => json!({"type": "bytes", "value": hex(b)}),
        MetaValue::Json(s) => json!({"type": "json", "value": s}),
    }
}

/// Every field of the manifest, footer, signature block and recipient block,
/// as a reader must decode it.
fn expected_valid(model: &Model) -> Value {
    let m = model.manifest();
    let i = &m.model;
    let f = model.footer();
    let (major, minor) = model.format_version();
    let enc = |salt: &[u8], commitment: &[u8]| json!({"salt": hex(salt), "key_commitment": hex(commitment)});
    let mut v = json!({
        "format_version": [major, minor],
        "footer": {
            "manifest_offset": f.manifest_offset, "manifest_len": f.manifest_len,
            "signatures_len": f.signatures_len, "recipients_len": f.recipients_len,
            "manifest_sha256": hex(&f.manifest_sha256), "blocks_sha256": hex(&f.blocks_sha256),
        },
        "digest_algorithm": m.digest_algorithm.name(),
        "model_id": i.model_id,
        "version": i.version,
        "created": i.created,
        "expires": i.expires,
        "producer": {"tool": i.producer.tool, "version": i.producer.version},
        "training_date": i.training_date,
        "dependencies": i.dependencies,
        "source": i.source.as_ref().map(|s| json!({
            "format": s.format, "file_name": s.file_name, "sha256": hex(&s.sha256),
        })),
        "metadata": i.metadata.iter().map(|(k, v)| {
            let mut e = meta_json(v);
            e["key"] = json!(k);
            e
        }).collect::<Vec<_>>(),
        "encryption": m.encryption.map(|e| {
            let mut x = enc(&e.salt, &e.key_commitment);
            x["aead"] = json!(e.aead);
            x
        }),
        "slices": m.slices.iter().map(|s| json!({
            "offset": s.offset, "length": s.length, "digest": hex(&s.digest),
            "tags_offset": s.tags_offset, "first_tensor": s.first_tensor,
            "tensor_count": s.tensor_count,
            "encryption": s.encryption.map(|e| enc(&e.salt, &e.key_commitment)),
        })).collect::<Vec<_>>(),
        "tensors": model.tensors().map(|t| {
            let t = t.unwrap();
            let ti = t.info();
            json!({
                "name": ti.name, "dtype": ti.dtype.name(), "dtype_code": ti.dtype.code(),
                "shape": ti.shape, "slice": ti.slice, "offset": ti.offset, "length": ti.length,
                "sha256": hex(&t.sha256()),
            })
        }).collect::<Vec<_>>(),
        "signatures": model.signatures().entries.iter().zip(model.signers()).map(|(e, s)| {
            let st = &s.statement;
            json!({
                "algorithm": e.algorithm,
                "public_key": hex(&e.public_key),
                "signature_len": e.signature.len(),
                "fingerprint": s.fingerprint.to_string(),
                "statement": {
                    "major": st.major, "minor": st.minor, "model_id": st.model_id,
                    "version": st.version, "created": st.created, "expires": st.expires,
                    "signer": hex(&st.signer), "manifest_sha256": hex(&st.manifest_sha256),
                },
            })
        }).collect::<Vec<_>>(),
    });
    if let Some(r) = model.recipients() {
        v["recipients"] = json!({
            "header_mac": hex(&r.header_mac),
            "stanzas": r.stanzas.iter().map(|s| json!({
                "kind": s.kind, "scope": format!("{:?}", s.scope),
                "enc_len": s.enc.len(), "body_len": s.body.len(),
            })).collect::<Vec<_>>(),
        });
        // Published so that other implementations can decrypt the vector.
        v["identity"] = json!(vector_identity().to_text().as_str());
        v["recipient"] = json!(vector_identity().public_key().to_text());
    }
    v
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

/// The decoding against what was written (not against the decoder's own output).
#[test]
fn valid_vectors_decode_to_what_was_written() {
    for (name, spec) in specs() {
        let model = open(&spec.build()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let m = model.manifest();
        assert_eq!(model.format_version(), (2, 0), "{name}");
        assert_eq!(m.digest_algorithm, spec.digest, "{name}");
        assert_eq!(m.model, spec.info, "{name}");
        assert_eq!(m.tensors.len(), spec.tensors.len(), "{name}");
        for (k, (n, dtype, shape)) in spec.tensors.iter().enumerate() {
            let t = model.tensor_at(k).unwrap();
            assert_eq!(
                (t.name(), t.dtype(), t.shape()),
                (n.as_str(), *dtype, &shape[..])
            );
            assert_eq!(t.data(), &spec.data(k)[..], "{name}: {n}");
        }
        assert_eq!(model.is_encrypted(), spec.encrypted, "{name}");
        assert_eq!(model.signers().len(), usize::from(spec.signed), "{name}");
        if spec.signed {
            let fp = vector_signer().fingerprint();
            assert_eq!(model.signers()[0].fingerprint, fp, "{name}");
        }
    }
    // basic's model block holds every metadata value type.
    let kinds: Vec<&str> = info("x")
        .metadata
        .iter()
        .map(|(_, v)| match v {
            MetaValue::Bool(_) => "bool",
            MetaValue::Int(_) => "int",
            MetaValue::Float(_) => "float",
            MetaValue::Str(_) => "str",
            MetaValue::Bytes(_) => "bytes",
            MetaValue::Json(_) => "json",
        })
        .collect();
    for k in ["bool", "int", "float", "str", "bytes", "json"] {
        assert!(kinds.contains(&k), "{k}");
    }
}

/// The committed JSON's digests, footer, fingerprints and tensor bytes,
/// recomputed by `formats/vectors/check_vectors.py` with Python's hashlib
/// (SHA-256) and `b3sum` or the `blake3` module (BLAKE3): none of it is this
/// crate's code.
#[test]
fn vectors_agree_with_an_independent_implementation() {
    let script = vectors_dir().join("check_vectors.py");
    let out = match std::process::Command::new("python3")
        .arg(&script)
        .arg(vectors_dir())
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            println!("SKIPPED: python3 not runnable ({e}); independent vector check not run");
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    assert!(
        out.status.success(),
        "{}\n{stdout}\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    // Every valid vector was checked, each of its slices with SHA-256 or BLAKE3
    // (BLAKE3 only when the script found an implementation; it says so).
    for (name, _) in valid_vectors() {
        assert!(
            stdout.contains(&format!("ok {name}\n")),
            "{name} not checked"
        );
    }
    assert!(stdout.contains("sha256 slices checked: "), "{stdout}");
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
    assert_eq!(&b[..10], b"\xabTSEAL\r\n\x1a\n");
    assert_eq!(&b[10..12], &[2, 0]);
    assert!(b[PREAMBLE_LEN as usize..DATA_OFFSET as usize]
        .iter()
        .all(|&x| x == 0));
}
