//! Key file parsing (armored signer keys, age-style Bech32 recipient keys).
//! Any outcome but a panic, a hang or an unbounded allocation is fine.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = tensorseal_crypto::parse_key(text);
    }
});
