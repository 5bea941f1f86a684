//! Opens the 1 GiB container with eager verification REPEAT times in one process
//! and prints each wall time (a check on the criterion figures).
//!
//!     verify-once [REPEAT]
use std::time::Instant;

use tensorseal::{Model, OpenOptions, Policy, Verification};

fn main() {
    let repeat: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let path = tensorseal_benches::verify_container();
    let policy = Policy::allow_unsigned();
    for _ in 0..repeat {
        let t = Instant::now();
        let m = Model::open_with(
            &path,
            &policy,
            OpenOptions::new().verification(Verification::Eager),
        )
        .unwrap();
        let open = t.elapsed();
        drop(m);
        println!(
            "eager open {:.3} s, with drop {:.3} s",
            open.as_secs_f64(),
            t.elapsed().as_secs_f64()
        );
    }
}
