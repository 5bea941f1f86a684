//! Inspection of any file: detection, archives, every pickle, salvage scans.
//! Any outcome but a panic, a hang or an unbounded allocation is fine.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tensorseal_convert::fuzz_inspect(data);
});
