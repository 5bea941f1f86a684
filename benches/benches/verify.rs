//! Eager verification of a 1 GiB container (64 F32 tensors of 16 MiB, one slice
//! each) against one thread of `sha2::Sha256` over the same file.
//!
//! Both sides map the file per iteration (it stays in the page cache) and read
//! every byte: `Model::open_with(.., Verification::Eager)` hashes the slices in
//! parallel on rayon's global pool (one thread per core) and also checks the
//! manifest and padding; the baseline is `Sha256::digest` of the whole map.

use std::fs::File;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use sha2::{Digest, Sha256};
use tensorseal::{Model, OpenOptions, Policy, Verification};

fn verify(c: &mut Criterion) {
    let path = tensorseal_benches::verify_container();
    let len = std::fs::metadata(&path).unwrap().len();
    eprintln!("verify fixture: {} ({len} bytes)", path.display());
    let policy = Policy::allow_unsigned();
    let eager = || OpenOptions::new().verification(Verification::Eager);

    let mut g = c.benchmark_group("verify-1GiB");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Bytes(len));
    g.bench_function("tensorseal/eager", |b| {
        b.iter(|| black_box(Model::open_with(&path, &policy, eager()).unwrap()))
    });
    g.bench_function("sha2/1-thread", |b| {
        b.iter(|| {
            let f = File::open(&path).unwrap();
            #[allow(unsafe_code)]
            // SAFETY: bench fixture, nobody else writes it.
            let map = unsafe { memmap2::Mmap::map(&f) }.unwrap();
            black_box(Sha256::digest(&map[..]))
        })
    });
    g.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
