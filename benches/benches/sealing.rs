//! Issue 3's benchmarks.
//!
//! - `signed-open`: open + validation of a 1 000-tensor container, unsigned vs
//!   signed by one trusted signer (the difference is the cost of checking one
//!   composite ML-DSA-65 + Ed25519 signature before the manifest is parsed).
//! - `decrypt-1GiB`: eager open (every slice digest over ciphertext and tags) of a
//!   1 GiB container encrypted per slice (64 tensors of 16 MiB, one slice each),
//!   then reading every tensor with the identity (decryption of every 64 KiB
//!   chunk), against one thread of the `chacha20poly1305` crate decrypting the
//!   same number of 64 KiB chunks with detached tags.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce, Tag};
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use tensorseal::{
    Dtype, Model, ModelInfo, OpenOptions, Policy, RecipientSecretKey, SigningKey, SlicePolicy,
    TrustStore, Verification, WriteOptions, Writer,
};
use tensorseal_benches::{bench_dir, fill_pseudo_random, small_tensors};

fn write(path: &std::path::Path, tensors: &[tensorseal_benches::Tensor], opts: WriteOptions) {
    let info = ModelInfo {
        model_id: "bench".into(),
        version: 1,
        created: 1_795_000_000,
        ..ModelInfo::default()
    };
    let mut w = Writer::create(path, info, opts).expect("create");
    for t in tensors {
        w.add(&t.name, t.dtype, &t.shape, &t.data).expect("add");
    }
    w.finish().expect("finish");
}

fn signed_open(c: &mut Criterion) {
    let dir = bench_dir();
    let tensors = small_tensors(1000);
    let signer = SigningKey::generate_os().expect("signer");
    let mut trust = TrustStore::new();
    trust.add(signer.verifying_key().clone());
    let unsigned = dir.join("sealing-unsigned-1000.tseal");
    let signed = dir.join("sealing-signed-1000.tseal");
    let base = WriteOptions {
        slicing: SlicePolicy::PerTensor,
        overwrite: true,
        ..WriteOptions::default()
    };
    write(&unsigned, &tensors, base.clone());
    write(
        &signed,
        &tensors,
        WriteOptions {
            signers: vec![Arc::new(signer)],
            ..base
        },
    );
    let lazy = || OpenOptions::new().verification(Verification::Lazy);
    let allow = Policy::allow_unsigned();
    let trusted = Policy::require_signature().trust(trust);

    let mut g = c.benchmark_group("signed-open-1000");
    g.sample_size(50).measurement_time(Duration::from_secs(5));
    g.bench_function("unsigned", |b| {
        b.iter(|| black_box(Model::open_with(&unsigned, &allow, lazy()).unwrap()))
    });
    g.bench_function("signed+trusted", |b| {
        b.iter(|| black_box(Model::open_with(&signed, &trusted, lazy()).unwrap()))
    });
    g.finish();
}

const TENSORS: usize = 64;
const TENSOR_BYTES: usize = 16 << 20;
const CHUNK: usize = 64 << 10;

fn decrypt(c: &mut Criterion) {
    let dir = bench_dir();
    let path = dir.join("sealing-encrypted-1gib.tseal");
    let identity = RecipientSecretKey::generate_os().expect("recipient");
    let mut data = vec![0u8; TENSOR_BYTES];
    let info = ModelInfo {
        model_id: "bench".into(),
        version: 1,
        created: 1_795_000_000,
        ..ModelInfo::default()
    };
    let opts = WriteOptions {
        slicing: SlicePolicy::PerTensor,
        overwrite: true,
        recipients: vec![identity.public_key().clone()],
        ..WriteOptions::default()
    };
    let mut w = Writer::create(&path, info, opts).expect("create");
    for i in 0..TENSORS {
        fill_pseudo_random(&mut data, i as u64 + 1);
        let shape = [2048u64, 2048];
        w.add(&format!("layer.{i}.weight"), Dtype::F32, &shape, &data)
            .expect("add");
    }
    w.finish().expect("finish");
    drop(data);
    let len = std::fs::metadata(&path).expect("stat").len();
    let policy = Policy::allow_unsigned();
    let eager = || {
        OpenOptions::new()
            .verification(Verification::Eager)
            .identity(identity.clone())
    };

    // Baseline input: the same byte count as 64 KiB chunks, sealed once with
    // detached tags.
    let cipher = ChaCha20Poly1305::new(&[7u8; 32].into());
    let mut buf = vec![0u8; TENSORS * TENSOR_BYTES];
    fill_pseudo_random(&mut buf, 99);
    let tags: Vec<Tag> = buf
        .chunks_mut(CHUNK)
        .enumerate()
        .map(|(i, chunk)| {
            cipher
                .encrypt_inout_detached(&nonce(i), b"", chunk.into())
                .expect("seal")
        })
        .collect();

    let mut g = c.benchmark_group("decrypt-1GiB");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(15))
        .throughput(Throughput::Bytes(len));
    g.bench_function("tensorseal/verify+decrypt", |b| {
        b.iter(|| {
            let model = Model::open_with(&path, &policy, eager()).unwrap();
            for i in 0..model.len() {
                let t = model.tensor_at(i).unwrap();
                black_box(t.data()[0]);
            }
        })
    });
    g.bench_function("chacha20poly1305/1-thread", |b| {
        b.iter_batched_ref(
            || buf.clone(),
            |work| {
                for (i, (chunk, tag)) in work.chunks_mut(CHUNK).zip(&tags).enumerate() {
                    cipher
                        .decrypt_inout_detached(&nonce(i), b"", chunk.into(), tag)
                        .unwrap();
                }
                black_box(work[0]);
            },
            criterion::BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn nonce(i: usize) -> Nonce {
    let mut n = [0u8; 12];
    n[3..11].copy_from_slice(&(i as u64).to_be_bytes());
    n.into()
}

criterion_group!(benches, signed_open, decrypt);
criterion_main!(benches);
