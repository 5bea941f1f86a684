//! The signature block: decoding, statement decoding and composite signature verification of every entry (the manifest digest is taken from the input's first 32 bytes).
//! Any outcome but a panic, a hang or an unbounded allocation is fine.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() >= 32 {
        let mut digest = [0u8; 32];
        digest.copy_from_slice(&data[..32]);
        let _ = tensorseal::verify_signature_block(&data[32..], 0, &digest, (1, 0));
    }
});
