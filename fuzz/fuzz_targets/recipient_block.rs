//! The recipient block: stanza list, scopes and lengths.
//! Any outcome but a panic, a hang or an unbounded allocation is fine.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tensorseal::parse_recipient_block(data, 0);
});
