//! Opens one of the `open` bench fixtures once, for profiling under callgrind
//! (instruction counts do not depend on the machine's load):
//!
//!     open-once tensorseal|tensorseal-1slice|safetensors N [REPEAT]
//!
//! Reads the files `benches/open.rs` wrote in the bench directory.
use std::hint::black_box;

use safetensors::SafeTensors;
use tensorseal::{Model, OpenOptions, Policy, Verification};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map(String::as_str).unwrap_or("tensorseal");
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let repeat: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
    let dir = tensorseal_benches::bench_dir();
    let policy = Policy::allow_unsigned();
    let lazy = || OpenOptions::new().verification(Verification::Lazy);
    for _ in 0..repeat {
        match which {
            "tensorseal" => {
                let p = dir.join(format!("open-{n}.tseal"));
                black_box(Model::open_with(&p, &policy, lazy()).unwrap());
            }
            "tensorseal-1slice" => {
                let p = dir.join(format!("open-{n}-1slice.tseal"));
                black_box(Model::open_with(&p, &policy, lazy()).unwrap());
            }
            "safetensors" => {
                let p = dir.join(format!("open-{n}.safetensors"));
                let f = std::fs::File::open(&p).unwrap();
                #[allow(unsafe_code)]
                // SAFETY: bench fixture, nobody else writes it.
                let map = unsafe { memmap2::Mmap::map(&f) }.unwrap();
                black_box(SafeTensors::deserialize(&map).unwrap().len());
            }
            other => panic!("unknown {other}"),
        }
    }
}
