//! joblib framing: NumpyArrayWrapper arrays inline in the pickle stream.
//! Any outcome but a panic, a hang or an unbounded allocation is fine.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tensorseal_convert::joblib::fuzz_joblib(data);
});
