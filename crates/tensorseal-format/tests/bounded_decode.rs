//! Bounded work on hostile bytes: decoding a crafted manifest or recipient
//! block costs memory within a small multiple of its size, measured with a
//! counting allocator (peak live bytes), not with time.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use tensorseal_format::{ErrorKind, Limits, Manifest, RecipientBlock, Structure};

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = LIVE.fetch_add(l.size(), Ordering::SeqCst) + l.size();
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Ordering::SeqCst);
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Tests in this file run one at a time, so peaks are not mixed up.
static SERIAL: Mutex<()> = Mutex::new(());

/// Peak bytes allocated (beyond what was live before) while `f` runs.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let r = f();
    (r, PEAK.load(Ordering::SeqCst) - base)
}

fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// The manifest fields before `dependencies`: digest algorithm (2, BLAKE3),
/// empty model id, version 0, created 0, no expiry, empty producer, no
/// training date.
fn head() -> Vec<u8> {
    vec![2, 0, 0, 0, 0, 0, 0, 0]
}

fn limit_what(e: &tensorseal_format::FormatError) -> &'static str {
    match &e.kind {
        ErrorKind::Limit { what, .. } => what,
        other => panic!("expected a limit error, got {other}"),
    }
}

#[test]
fn a_64_mib_manifest_of_tiny_metadata_entries_costs_little_memory() {
    let _g = SERIAL.lock().unwrap();
    for mib in [16usize, 64] {
        let size = mib << 20;
        let n = (size - 16) / 3;
        let mut m = head();
        m.push(0); // no dependencies
        m.push(0); // no source
        varint(n as u64, &mut m);
        m.resize(m.len() + 3 * n, 0); // ("", Bool(false)) x n
        let (r, peak) = peak_during(|| Manifest::decode(&m, 4096, &Limits::V1));
        let e = r.unwrap_err();
        assert!(
            peak < 8 * m.len(),
            "{mib} MiB manifest: peak {peak} bytes, more than 8x its size"
        );
        assert_eq!(limit_what(&e), "metadata entry count");
        assert_eq!(e.structure, Structure::Manifest);
    }
}

/// `count` tensors with distinct 3-byte names and the smallest encoding, in
/// one slice.
fn tensors_manifest(count: u64) -> Vec<u8> {
    let mut m = head();
    m.push(0); // dependencies
    m.push(0); // source
    m.push(0); // metadata
    m.push(0); // no encryption
    varint(1, &mut m); // one slice: length 0, zero digest, no encryption
    m.push(0);
    m.extend_from_slice(&[0; 32]);
    m.push(0);
    varint(count, &mut m);
    for i in 0..count {
        m.push(3);
        m.extend_from_slice(&[(i >> 16) as u8 | 0x40, (i >> 8) as u8, i as u8]);
        m.extend_from_slice(&[0, 0, 0]); // dtype 0, rank 0, slice 0
        varint(4096, &mut m);
        m.push(0);
    }
    m
}

#[test]
fn a_manifest_at_the_tensor_limit_stays_within_8x_the_largest_manifest() {
    let _g = SERIAL.lock().unwrap();
    // Everything is decoded and checked (names, shapes) until the layout fails.
    let n = 1u64 << 20;
    let m = tensors_manifest(n);
    let (r, peak) = peak_during(|| Manifest::decode(&m, 4096, &Limits::V1));
    assert!(r.is_err());
    let max = Limits::V1.max_manifest_bytes as usize;
    assert!(peak < 8 * max, "peak {peak} bytes");

    // One tensor more is refused while decoding, before names are checked.
    let over = tensors_manifest(n + 1);
    let (r, peak) = peak_during(|| Manifest::decode(&over, 4096, &Limits::V1));
    assert_eq!(limit_what(&r.unwrap_err()), "tensor count");
    assert!(peak < 8 * max, "peak {peak} bytes");
}

#[test]
fn a_16_mib_recipient_block_of_tiny_stanzas_costs_little_memory() {
    let _g = SERIAL.lock().unwrap();
    let size = 16usize << 20;
    let n = (size - 40) / 4;
    let mut b = Vec::new();
    varint(n as u64, &mut b);
    for _ in 0..n {
        b.extend_from_slice(&[1, 0, 0, 0]); // kind 1, Scope::All, empty enc, empty body
    }
    b.extend_from_slice(&[0; 32]);
    let (r, peak) = peak_during(|| RecipientBlock::decode(&b, 1 << 20));
    assert!(peak < 4 << 20, "peak {peak} bytes");
    let e = r.unwrap_err();
    assert_eq!(limit_what(&e), "stanza count");
    assert_eq!(e.structure, Structure::RecipientBlock);
}
