//! Inspection throughput (MB/s):
//! - `pickle-inspect`: `tensorseal_pickle::inspect` (Torch profile) over a
//!   `data.pkl` of a 100 000-tensor state dict, throughput over pickle bytes;
//! - `torch-zip-import`: `tensorseal_convert::import` of a 256 MiB PyTorch zip
//!   (1 024 float32 tensors of 256 KiB): zip parsing with CRC-32 of every member,
//!   pickle inspection, storage geometry, tensors borrowed; throughput over the file;
//! - `file-import` (only with `TENSORSEAL_BENCH_TORCH=/path/to/checkpoint`): the
//!   same over a real `torch.save` file, e.g. the one `scripts/make_checkpoint.py` writes.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use tensorseal_convert::{import, ConvertOptions, Format};
use tensorseal_pickle::{inspect, Profile, Verdict};

fn inspect_bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("inspect");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));

    let entries: Vec<(String, Vec<u32>)> = (0..100_000)
        .map(|i| {
            (
                format!("model.layers.{}.mlp.up_proj.weight", i),
                vec![64, 32],
            )
        })
        .collect();
    let pkl = tensorseal_benches::torch_state_dict_pkl(&entries);
    let r = inspect(&pkl, Profile::Torch);
    assert_eq!(r.verdict, Verdict::Safe, "{r:?}");
    g.throughput(Throughput::Bytes(pkl.len() as u64));
    g.bench_function("pickle-inspect/100k-tensors", |b| {
        b.iter(|| black_box(inspect(&pkl, Profile::Torch)))
    });

    let opts = ConvertOptions::default();
    let zip = tensorseal_benches::torch_zip(1024, 256, 256);
    let imported = import(&zip, &opts).expect("synthetic torch zip imports");
    assert_eq!(imported.format, Format::TorchZip);
    assert_eq!(imported.tensors.len(), 1024);
    drop(imported);
    g.throughput(Throughput::Bytes(zip.len() as u64));
    g.bench_function("torch-zip-import/256MiB", |b| {
        b.iter(|| black_box(import(&zip, &opts).unwrap().tensors.len()))
    });
    drop(zip);

    if let Some(p) = std::env::var_os("TENSORSEAL_BENCH_TORCH") {
        let bytes = std::fs::read(&p).expect("read TENSORSEAL_BENCH_TORCH");
        let n = import(&bytes, &opts)
            .expect("checkpoint imports")
            .tensors
            .len();
        eprintln!(
            "{}: {} bytes, {n} tensors",
            p.to_string_lossy(),
            bytes.len()
        );
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function("file-import", |b| {
            b.iter(|| black_box(import(&bytes, &opts).unwrap().tensors.len()))
        });
    }
    g.finish();
}

criterion_group!(benches, inspect_bench);
criterion_main!(benches);
