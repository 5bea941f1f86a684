//! Peak memory of inspecting a compressed joblib whose array is 1 GiB of
//! non-zero bytes (so zero-page tricks alone would not help): the array is
//! streamed through, never held. Alone in its test binary so that the
//! process's peak RSS is this test's.

mod common;

use common::joblib_gen::Jb;
use tensorseal_convert::inspect::{inspect_bytes, InspectOptions, Verdict};

fn peak_rss_bytes() -> u64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) }, 0);
    u.ru_maxrss as u64 * 1024
}

#[test]
fn gzip_joblib_with_a_1gib_array_is_inspected_in_bounded_memory() {
    let mut b = Jb::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    b.start().array(&[1 << 30], 0xAB).evil().finish();
    let data = b.w.finish().unwrap();
    assert!(data.len() < 64 << 20, "{}", data.len());
    let r = inspect_bytes(&data, &InspectOptions::default());
    assert_eq!(r.verdict, Verdict::Dangerous, "{:?}", r.findings);
    assert_eq!(r.dangerous_globals(), vec!["posix.system".to_owned()]);
    let peak = peak_rss_bytes();
    assert!(peak < 256 << 20, "peak RSS {} MiB", peak >> 20);
}
