//! Inspects a synthetic `data.pkl` of N tensor entries once and prints the time
//! and throughput, to see how inspection scales with the entry count:
//!
//!     inspect-once N [REPEAT]
use std::time::Instant;

use tensorseal_pickle::{inspect, Profile};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let repeat: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let entries: Vec<(String, Vec<u32>)> = (0..n)
        .map(|i| (format!("model.layers.{i}.mlp.up_proj.weight"), vec![64, 32]))
        .collect();
    let pkl = tensorseal_benches::torch_state_dict_pkl(&entries);
    for _ in 0..repeat {
        let t = Instant::now();
        let r = inspect(&pkl, Profile::Torch);
        let s = t.elapsed().as_secs_f64();
        println!(
            "{n} entries, {} bytes: {:?} in {:.3} s, {:.1} MB/s, {:.2} us/entry",
            pkl.len(),
            r.verdict,
            s,
            pkl.len() as f64 / s / 1e6,
            s * 1e6 / n as f64
        );
    }
}
