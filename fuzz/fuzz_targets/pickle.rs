//! The pickle machine and inspection on arbitrary bytes.
//! Any outcome but a panic, a hang or an unbounded allocation is fine.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tensorseal_pickle::inspect_bytes(data);
});
