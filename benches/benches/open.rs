//! Open + full manifest validation, tensorseal vs `safetensors::SafeTensors::deserialize`,
//! on the same small tensors (names, dtypes, shapes and bytes identical).
//!
//! tensorseal opens with `Verification::Lazy`, so what is measured is structure:
//! preamble and footer, SHA-256 of the manifest and of the (empty) signature
//! block, manifest decoding, name uniqueness, dtype/shape/length and layout
//! checks, zero padding between slices. Slice digests (tensor bytes) are not
//! hashed, just as safetensors never hashes tensor bytes.
//!
//! Two sources, each the same for both libraries:
//! - `mmap`: a file in the page cache, mapped per iteration (`Model::open_with`
//!   vs `File::open` + `memmap2::Mmap::map` + `SafeTensors::deserialize`);
//! - `bytes`: a `&[u8]` already in memory (`Model::from_bytes`, which copies the
//!   file once into 64-byte-aligned memory, vs `SafeTensors::deserialize`).

use std::fs::File;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use safetensors::SafeTensors;
use tensorseal::{Model, OpenOptions, Policy, SlicePolicy, Verification};
use tensorseal_benches::{bench_dir, safetensors_bytes, small_tensors, write_file, write_tseal};

fn open(c: &mut Criterion) {
    let policy = Policy::allow_unsigned();
    let lazy = || OpenOptions::new().verification(Verification::Lazy);
    let dir = bench_dir();
    let mut g = c.benchmark_group("open");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for n in [10usize, 1_000, 100_000] {
        let tensors = small_tensors(n);
        let ts_path = dir.join(format!("open-{n}.tseal"));
        let ts1_path = dir.join(format!("open-{n}-1slice.tseal"));
        let st_path = dir.join(format!("open-{n}.safetensors"));
        write_tseal(&ts_path, &tensors, SlicePolicy::PerTensor);
        write_tseal(&ts1_path, &tensors, SlicePolicy::MaxBytes(u64::MAX / 2));
        let st = safetensors_bytes(&tensors);
        write_file(&st_path, &st);
        let ts = std::fs::read(&ts_path).unwrap();
        drop(tensors);
        // Sanity: both hold n tensors.
        assert_eq!(
            Model::open_with(&ts_path, &policy, lazy()).unwrap().len(),
            n
        );
        assert_eq!(SafeTensors::deserialize(&st).unwrap().len(), n);

        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("tensorseal/mmap", n), &n, |b, _| {
            b.iter(|| black_box(Model::open_with(&ts_path, &policy, lazy()).unwrap()))
        });
        g.bench_with_input(BenchmarkId::new("tensorseal-1slice/mmap", n), &n, |b, _| {
            b.iter(|| black_box(Model::open_with(&ts1_path, &policy, lazy()).unwrap()))
        });
        g.bench_with_input(BenchmarkId::new("safetensors/mmap", n), &n, |b, _| {
            b.iter(|| {
                let f = File::open(&st_path).unwrap();
                #[allow(unsafe_code)]
                // SAFETY: bench fixture, nobody else writes it.
                let map = unsafe { memmap2::Mmap::map(&f) }.unwrap();
                let st = SafeTensors::deserialize(&map).unwrap();
                black_box(st.len());
                drop(st);
                black_box(map)
            })
        });
        g.bench_with_input(BenchmarkId::new("tensorseal/bytes", n), &n, |b, _| {
            b.iter(|| black_box(Model::from_bytes(&ts, &policy, Verification::Lazy).unwrap()))
        });
        g.bench_with_input(BenchmarkId::new("safetensors/bytes", n), &n, |b, _| {
            b.iter(|| black_box(SafeTensors::deserialize(&st).unwrap()))
        });
    }
    g.finish();
}

criterion_group!(benches, open);
criterion_main!(benches);
