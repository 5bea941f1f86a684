//! The container reader on arbitrary bytes: any outcome but a panic, hang or
//! unbounded allocation is fine. Seeds: formats/vectors.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tensorseal::{Model, Policy, Verification};

fuzz_target!(|data: &[u8]| {
    let policy = Policy::allow_unsigned();
    for mode in [Verification::Eager, Verification::Lazy] {
        if let Ok(model) = Model::from_bytes(data, &policy, mode) {
            for t in model.tensors() {
                if let Ok(t) = t {
                    let _ = t.as_slice::<f32>();
                    let _ = t.array_view::<u8>();
                }
            }
            let _ = model.verify();
        }
    }
});
