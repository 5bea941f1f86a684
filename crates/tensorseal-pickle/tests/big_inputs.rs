//! Larger synthetic streams finish quickly (no quadratic paths).

use std::time::{Duration, Instant};

use tensorseal_pickle::{inspect, Profile, Verdict};

fn timed(bytes: &[u8]) -> (Verdict, Duration) {
    let t = Instant::now();
    let r = inspect(bytes, Profile::Any);
    (r.verdict, t.elapsed())
}

#[test]
fn many_opcodes_fan_out_and_wide_dicts_are_fast() {
    let mut nop = b"\x80\x02".to_vec();
    for _ in 0..1_000_000 {
        nop.extend_from_slice(b"N0");
    }
    nop.extend_from_slice(b"N.");
    let mut fan = b"\x80\x04]\x94(\x8c\x01a\x94".to_vec();
    for _ in 0..500_000 {
        fan.extend_from_slice(b"h\x01");
    }
    fan.extend_from_slice(b"e.");
    let mut dict = b"\x80\x02}(".to_vec();
    for _ in 0..200_000 {
        dict.extend_from_slice(b"K\x01K\x02\x86K\x03");
    }
    dict.extend_from_slice(b"u.");
    for (name, bytes) in [("nop", nop), ("fan", fan), ("dict", dict)] {
        let (v, d) = timed(&bytes);
        assert_eq!(v, Verdict::Safe, "{name}");
        assert!(d < Duration::from_secs(20), "{name} took {d:?}");
    }
}
