//! Compressed joblib streams and deflated zip members are inspected by
//! streaming: the verdict equals the one of the same content inspected
//! uncompressed (the unchanged in-memory path is the oracle), and the
//! total, ratio and resident bounds end in typed, located findings.

mod common;

use std::io::Write;

use common::joblib_gen::Jb;
use tensorseal_convert::inspect::{inspect_bytes, FileReport, InspectOptions, Verdict};
use tensorseal_convert::{detect, Compression, Format};

fn summary(r: &FileReport) -> (Verdict, Vec<String>, Vec<String>) {
    let mut kinds: Vec<String> = r
        .findings
        .iter()
        .filter(|f| f.kind != "note")
        .map(|f| format!("{}@{}", f.kind, f.offset))
        .collect();
    kinds.sort();
    let globals = r
        .globals
        .iter()
        .map(|g| format!("{}@{}", g.dotted(), g.offset))
        .collect();
    (r.verdict, globals, kinds)
}

fn compress(codec: Compression, plain: &[u8]) -> Vec<u8> {
    match codec {
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(plain).unwrap();
            e.finish().unwrap()
        }
        Compression::Zlib => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(plain).unwrap();
            e.finish().unwrap()
        }
        Compression::Bz2 => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            e.write_all(plain).unwrap();
            e.finish().unwrap()
        }
        Compression::Xz => {
            let mut out = Vec::new();
            lzma_rs::xz_compress(&mut &plain[..], &mut out).unwrap();
            out
        }
        Compression::Lz4 => {
            let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
            e.write_all(plain).unwrap();
            e.finish().unwrap()
        }
        Compression::ZFile => zfile(plain),
        other => panic!("{other:?}"),
    }
}

/// joblib's `write_zfile`: `ZF`, `hex(len)` left-justified to 19, zlib.
fn zfile(plain: &[u8]) -> Vec<u8> {
    let mut out = b"ZF".to_vec();
    out.extend_from_slice(format!("{:<19}", format!("{:#x}", plain.len())).as_bytes());
    out.extend_from_slice(&compress(Compression::Zlib, plain));
    out
}

const CODECS: [Compression; 6] = [
    Compression::Gzip,
    Compression::Zlib,
    Compression::Bz2,
    Compression::Xz,
    Compression::Lz4,
    Compression::ZFile,
];

fn streams() -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    let mut b = Jb::new(Vec::new());
    b.start().array(&[8], 1).array(&[3, 5], 2).finish();
    out.push(("small arrays", b.w));
    // Arrays larger than the streaming window, one of them non-zero.
    let mut b = Jb::new(Vec::new());
    b.start()
        .array(&[300_000], 0xAB)
        .array(&[10], 3)
        .array(&[2, 200_000], 0)
        .finish();
    out.push(("window-crossing arrays", b.w));
    let mut b = Jb::new(Vec::new());
    b.start().array(&[500_000], 0x5A).evil().finish();
    out.push(("dangerous call after a large array", b.w));
    let mut b = Jb::new(Vec::new());
    b.start().array(&[500_000], 7);
    let mut t = b.w;
    t.truncate(t.len() - 1000);
    out.push(("array runs past the end", t));
    let mut b = Jb::new(Vec::new());
    b.start().array(&[200_000], 9).finish();
    b.raw(&[0x80, 4]).evil().raw(b".");
    out.push(("concatenated pickle after STOP", b.w));
    let mut b = Jb::new(Vec::new());
    b.start().array(&[100_000], 9).finish().fill(300_000, 0);
    out.push(("trailing zeros", b.w));
    // inspect's joblib semantics hold when streamed: an object array is a
    // nested pickle (kept, not skipped, even across the window), crafted
    // padding is a framing finding.
    let mut b = Jb::new(Vec::new());
    b.start()
        .array(&[100_000], 4)
        .object_array(200_000, true)
        .array(&[10], 5)
        .finish();
    out.push(("object array crossing the window, dangerous inside", b.w));
    let mut b = Jb::new(Vec::new());
    b.start()
        .array(&[100_000], 4)
        .object_array(300_000, false)
        .array(&[200_000], 6)
        .finish();
    out.push(("benign object array crossing the window", b.w));
    let mut b = Jb::new(Vec::new());
    b.start()
        .array(&[300_000], 4)
        .array_pad(&[10], 5, 0)
        .array(&[100_000], 6)
        .finish();
    out.push(("zero padding byte after a large array", b.w));
    out
}

#[test]
fn streamed_verdicts_equal_in_memory_verdicts() {
    let opts = InspectOptions::default();
    for (what, plain) in streams() {
        let oracle = inspect_bytes(&plain, &opts);
        assert_eq!(
            oracle.format,
            Format::Joblib { compression: None },
            "{what}"
        );
        for codec in CODECS {
            let data = compress(codec, &plain);
            assert_eq!(
                detect(&data),
                Format::Joblib {
                    compression: Some(codec)
                },
                "{what} {codec:?}"
            );
            let r = inspect_bytes(&data, &opts);
            assert_eq!(
                summary(&r),
                summary(&oracle),
                "{what} {codec:?}: {:?} / {:?}",
                r.findings,
                oracle.findings
            );
        }
    }
}

#[test]
fn expected_verdicts_of_the_streams() {
    let opts = InspectOptions::default();
    let v: Vec<Verdict> = streams()
        .iter()
        .map(|(_, p)| inspect_bytes(&compress(Compression::Gzip, p), &opts).verdict)
        .collect();
    use Verdict::*;
    assert_eq!(
        v,
        vec![Safe, Safe, Dangerous, Malformed, Dangerous, Malformed, Dangerous, Safe, Dangerous]
    );
}

#[test]
fn lz4_and_zf_joblib_are_judged_not_skipped() {
    let mut b = Jb::new(Vec::new());
    b.start().array(&[4], 1).evil().finish();
    for codec in [Compression::Lz4, Compression::ZFile] {
        let r = inspect_bytes(&compress(codec, &b.w), &InspectOptions::default());
        assert_eq!(r.verdict, Verdict::Dangerous, "{codec:?}");
        assert_eq!(r.dangerous_globals(), vec!["posix.system".to_owned()]);
    }
}

#[test]
fn zf_header_is_checked() {
    let mut b = Jb::new(Vec::new());
    b.start().array(&[4], 1).finish();
    let good = zfile(&b.w);
    // Python 2 joblib wrote one more space: joblib skips it.
    let mut py2 = good[..21].to_vec();
    py2.push(b' ');
    py2.extend_from_slice(&good[21..]);
    for d in [&good, &py2] {
        assert_eq!(
            inspect_bytes(d, &InspectOptions::default()).verdict,
            Verdict::Safe
        );
    }
    // A length that differs from the stream's: joblib's assert refuses it.
    let mut wrong = good.clone();
    wrong[4] = if wrong[4] == b'1' { b'2' } else { b'1' };
    let r = inspect_bytes(&wrong, &InspectOptions::default());
    assert_eq!(r.verdict, Verdict::Malformed, "{:?}", r.findings);
    assert!(r.error.unwrap().contains("ZF header announces"));
}

#[test]
fn total_bound_names_the_offset() {
    // Each array is within the bound, the stream is not.
    let mut b = Jb::new(Vec::new());
    b.start()
        .array(&[700 << 10], 0x11)
        .array(&[700 << 10], 0x11)
        .finish();
    let data = compress(Compression::Gzip, &b.w);
    let opts = InspectOptions {
        max_member_bytes: 1 << 20,
        ..InspectOptions::default()
    };
    let r = inspect_bytes(&data, &opts);
    assert_eq!(r.verdict, Verdict::Unsupported, "{:?}", r.findings);
    let f = r
        .findings
        .iter()
        .find(|f| f.kind == "limit_exceeded")
        .unwrap();
    assert!(f.message.contains("decompressed offset"), "{}", f.message);
}

#[test]
fn resident_bound_refuses_a_huge_pickle_not_a_huge_array() {
    // 3 MiB of array data passes a 1 MiB resident bound ...
    let mut b = Jb::new(Vec::new());
    b.start().array(&[3 << 20], 0x11).finish();
    let opts = InspectOptions {
        max_resident_bytes: 1 << 20,
        ..InspectOptions::default()
    };
    let r = inspect_bytes(&compress(Compression::Gzip, &b.w), &opts);
    assert_eq!(r.verdict, Verdict::Safe, "{:?}", r.findings);
    // ... 3 MiB of pickle bytes (a BINBYTES payload) do not.
    let mut b = Jb::new(Vec::new());
    b.start()
        .raw(b"B")
        .raw(&(3u32 << 20).to_le_bytes())
        .fill(3 << 20, 0x22)
        .finish();
    let r = inspect_bytes(&compress(Compression::Gzip, &b.w), &opts);
    assert_eq!(r.verdict, Verdict::Unsupported, "{:?}", r.findings);
    assert!(r.findings.iter().any(|f| f.kind == "limit_exceeded"));
}

#[test]
fn object_array_across_the_window_does_not_hold_the_arrays_after_it() {
    // A nested pickle (object array) cut by the decoding window is decoded
    // further and kept; the 3 MiB array after it is still only streamed
    // through, so a 1 MiB resident bound holds (settling the whole stream
    // instead would hold the array and exceed it).
    let mut b = Jb::new(Vec::new());
    b.start()
        .array(&[40_000], 4)
        .object_array(100_000, false)
        .array(&[3 << 20], 0x11)
        .finish();
    let opts = InspectOptions {
        max_resident_bytes: 1 << 20,
        ..InspectOptions::default()
    };
    let r = inspect_bytes(&compress(Compression::Gzip, &b.w), &opts);
    assert_eq!(r.verdict, Verdict::Safe, "{:?}", r.findings);
    assert_eq!(
        summary(&r),
        summary(&inspect_bytes(&b.w, &InspectOptions::default()))
    );
}

#[test]
fn ratio_bound_refuses_a_bzip2_bomb() {
    let mut b = Jb::new(bzip2::write::BzEncoder::new(
        Vec::new(),
        bzip2::Compression::fast(),
    ));
    b.start().array(&[1 << 20, 100], 0).finish();
    let data = b.w.finish().unwrap();
    let r = inspect_bytes(&data, &InspectOptions::default());
    assert_eq!(r.verdict, Verdict::Unsupported, "{:?}", r.findings);
    let f = r
        .findings
        .iter()
        .find(|f| f.kind == "decompression_bomb")
        .unwrap();
    assert!(f.message.contains("ratio bound"), "{}", f.message);
}

#[test]
fn gzipped_npy_payload_is_counted_not_held() {
    // 3 MiB of non-zero payload passes a 1 MiB resident bound; the length
    // is still checked against the header.
    let n = 3usize << 20;
    let mut h =
        format!("{{'descr': '|u1', 'fortran_order': False, 'shape': ({n},), }}").into_bytes();
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(b' ');
    }
    h.push(b'\n');
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    npy.extend_from_slice(&(h.len() as u16).to_le_bytes());
    npy.extend_from_slice(&h);
    npy.resize(npy.len() + n, 0x5A);
    let opts = InspectOptions {
        max_resident_bytes: 1 << 20,
        ..InspectOptions::default()
    };
    let r = inspect_bytes(&compress(Compression::Gzip, &npy), &opts);
    assert_eq!(r.verdict, Verdict::Safe, "{:?}", r.findings);
    npy.pop();
    let r = inspect_bytes(&compress(Compression::Gzip, &npy), &opts);
    assert_eq!(r.verdict, Verdict::Malformed, "{:?}", r.findings);
}

#[test]
fn a_declared_size_beyond_the_ratio_bound_is_a_bomb_not_an_allocation() {
    // 1 GiB of zeros deflated is ~1 MiB; a member claiming that much from
    // a tiny stream is refused by the ratio bound, whatever it declares.
    use common::{zip, Member};
    let payload = vec![0u8; 200 << 20];
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&payload).unwrap();
    let m = Member {
        name: "a.pkl",
        data: &payload,
        flags: 0,
        method: 8,
        compressed: Some(e.finish().unwrap()),
    };
    let opts = InspectOptions {
        max_ratio: 100,
        ..InspectOptions::default()
    };
    let r = inspect_bytes(&zip(&[m]), &opts);
    assert_eq!(r.verdict, Verdict::Unsupported, "{:?}", r.findings);
    assert!(
        r.findings.iter().any(|f| f.message.contains("ratio bound")),
        "{:?}",
        r.findings
    );
}
