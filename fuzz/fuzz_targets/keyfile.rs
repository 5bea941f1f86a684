//! Key file parsing (armored signer keys, age-style Bech32 recipient keys,
//! passphrase-protected secret keys).
//! Any outcome but a panic, a hang or an unbounded allocation is fine.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tensorseal_crypto::passphrase::{protected_key_params, unprotect_secret_key};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = tensorseal_crypto::parse_key(text);
        let _ = tensorseal_crypto::is_protected(text);
        // The armor, base64, header and parameter-bound checks run no KDF.
        if let Ok(params) = protected_key_params(text) {
            // Decrypt only when scrypt is cheap (at most 1 MiB of memory
            // traffic), so one input never costs more than a few milliseconds;
            // the library's own bounds (up to 1 GiB) are tested in
            // crates/tensorseal-crypto/tests/passphrase.rs.
            if params.memory_bytes() * u64::from(params.p()) <= 1 << 20 {
                let _ = unprotect_secret_key(text, b"fuzz");
            }
        }
    }
});
