//! Recipient stanza parsing and unwrapping with a fixed identity.
//! Any outcome but a panic, a hang or an unbounded allocation is fine.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = tensorseal_crypto::Stanza::from_bytes(data) {
        let sk = tensorseal_crypto::RecipientSecretKey::from_bytes(&[7u8; 32]).expect("valid seed");
        let _ = tensorseal_crypto::unwrap_file_key(&sk, &s);
    }
});
