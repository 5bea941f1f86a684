//! The strict zip reader against tampered archives.

mod common;

use std::borrow::Cow;
use std::io::Write;

use common::{zip, zip_with_base, Member};
use tensorseal_convert::zip::{ZipArchive, ZipError};

fn two() -> Vec<u8> {
    zip(&[
        Member::stored("a.npy", b"hello world"),
        Member::stored("b.npy", b"second member"),
    ])
}

fn find(h: &[u8], n: &[u8]) -> usize {
    h.windows(n.len()).position(|w| w == n).expect("pattern")
}

fn rfind(h: &[u8], n: &[u8]) -> usize {
    h.windows(n.len()).rposition(|w| w == n).expect("pattern")
}

#[test]
fn valid_archive_reads_zero_copy() {
    let z = two();
    let a = ZipArchive::parse(&z).unwrap();
    assert_eq!(a.entries().len(), 2);
    let m = a.read("b.npy").unwrap();
    assert!(matches!(m, Cow::Borrowed(_)));
    assert_eq!(&*m, b"second member");
    assert!(matches!(a.read("c"), Err(ZipError::NoSuchMember { .. })));
}

#[test]
fn appended_bytes_are_refused() {
    let mut z = two();
    z.extend_from_slice(b"trailer");
    assert!(matches!(
        ZipArchive::parse(&z),
        Err(ZipError::NoEocdAtEnd { .. })
    ));
}

#[test]
fn archive_comment_is_read_as_miniz_and_zipfile_do() {
    // torch's miniz and CPython's zipfile accept an archive comment.
    let mut z = two();
    let n = z.len();
    z[n - 2] = 3;
    z.extend_from_slice(b"abc");
    assert_eq!(ZipArchive::parse(&z).unwrap().entries().len(), 2);
    // A comment length that does not reach the end: trailing bytes.
    let mut t = z.clone();
    t.push(b'!');
    assert!(matches!(
        ZipArchive::parse(&t),
        Err(ZipError::NoEocdAtEnd { .. })
    ));
    // A comment holding an end-record signature: lenient readers would take
    // that one (the last they find), so it is refused.
    let mut h = two();
    let n = h.len();
    h[n - 2] = 6;
    h.extend_from_slice(b"PK\x05\x06ab");
    assert!(matches!(
        ZipArchive::parse(&h),
        Err(ZipError::Inconsistent { .. })
    ));
}

#[test]
fn prepended_bytes_are_refused() {
    // Naive prepend: offsets now point to the wrong place.
    let mut z = b"\x80\x02polyglot".to_vec();
    z.extend_from_slice(&two());
    assert!(ZipArchive::parse(&z).is_err());
    // Self-consistent prepend (offsets adjusted, as `zip -A` would do).
    let mut z = b"JUNKJUNK".to_vec();
    z.extend_from_slice(&zip_with_base(
        &[Member::stored("a.npy", b"hello world")],
        8,
    ));
    assert!(matches!(
        ZipArchive::parse(&z),
        Err(ZipError::NotContiguous {
            offset: 8,
            expected: 0,
            ..
        })
    ));
}

#[test]
fn central_directory_name_differs_from_local_header() {
    let mut z = two();
    let cd = rfind(&z, b"a.npy");
    z[cd] = b'x';
    assert!(matches!(
        ZipArchive::parse(&z),
        Err(ZipError::LocalMismatch { field: "name", .. })
    ));
}

#[test]
fn central_directory_size_differs_from_local_header() {
    let mut z = two();
    let cd = find(&z, b"PK\x01\x02");
    // Uncompressed and compressed size of the first CD entry.
    z[cd + 20] += 1;
    z[cd + 24] += 1;
    let err = ZipArchive::parse(&z).unwrap_err();
    assert!(
        matches!(
            err,
            ZipError::LocalMismatch { .. } | ZipError::NotContiguous { .. }
        ),
        "{err:?}"
    );
}

#[test]
fn crc_mismatch_is_refused() {
    let mut z = two();
    let at = find(&z, b"hello");
    z[at] = b'j';
    assert!(matches!(ZipArchive::parse(&z), Err(ZipError::Crc { .. })));
}

#[test]
fn duplicate_names_are_refused() {
    let z = zip(&[Member::stored("a.npy", b"1"), Member::stored("a.npy", b"2")]);
    assert!(matches!(
        ZipArchive::parse(&z),
        Err(ZipError::DuplicateName { .. })
    ));
}

#[test]
fn encrypted_flag_is_refused() {
    let z = zip(&[Member {
        flags: 1,
        ..Member::stored("a.npy", b"1")
    }]);
    assert!(matches!(
        ZipArchive::parse(&z),
        Err(ZipError::Encrypted { .. })
    ));
}

#[test]
fn unknown_flags_and_methods_are_refused() {
    let z = zip(&[Member {
        flags: 0x0010,
        ..Member::stored("a.npy", b"1")
    }]);
    assert!(matches!(
        ZipArchive::parse(&z),
        Err(ZipError::UnsupportedFlags { .. })
    ));
    let z = zip(&[Member {
        method: 12,
        ..Member::stored("a.npy", b"1")
    }]);
    assert!(matches!(
        ZipArchive::parse(&z),
        Err(ZipError::UnsupportedMethod { method: 12, .. })
    ));
}

#[test]
fn traversal_and_absolute_names_are_refused() {
    for name in ["../x", "/etc/passwd", "a\\b", "a/../../b"] {
        let z = zip(&[Member::stored(name, b"1")]);
        assert!(
            matches!(ZipArchive::parse(&z), Err(ZipError::BadName { .. })),
            "{name}"
        );
    }
}

#[test]
fn gap_between_members_is_refused() {
    // Insert a byte after the first member's data and fix up the offsets of
    // everything after it, so only the gap is wrong.
    let z = two();
    let second = find(&z[4..], b"PK\x03\x04") + 4;
    let mut g = z[..second].to_vec();
    g.push(0);
    g.extend_from_slice(&z[second..]);
    // Fix second CD entry offset and the CD offset (+1 each).
    let cd = rfind(&g, b"PK\x01\x02");
    let off = u32::from_le_bytes(g[cd + 42..cd + 46].try_into().unwrap()) + 1;
    g[cd + 42..cd + 46].copy_from_slice(&off.to_le_bytes());
    let n = g.len();
    let cdo = u32::from_le_bytes(g[n - 6..n - 2].try_into().unwrap()) + 1;
    g[n - 6..n - 2].copy_from_slice(&cdo.to_le_bytes());
    assert!(matches!(
        ZipArchive::parse(&g),
        Err(ZipError::NotContiguous { .. })
    ));
}

#[test]
fn too_many_entries_claimed() {
    let mut z = two();
    let n = z.len();
    z[n - 12..n - 10].copy_from_slice(&0xFFFFu16.to_le_bytes());
    z[n - 14..n - 12].copy_from_slice(&0xFFFFu16.to_le_bytes());
    assert!(matches!(
        ZipArchive::parse(&z),
        Err(ZipError::TooManyEntries { .. })
    ));
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn deflated_member_is_inflated_and_checked() {
    let body = vec![7u8; 10_000];
    let z = zip(&[Member {
        method: 8,
        compressed: Some(deflate(&body)),
        ..Member::stored("a.npy", &body)
    }]);
    let a = ZipArchive::parse(&z).unwrap();
    assert_eq!(&*a.read("a.npy").unwrap(), body.as_slice());
}

#[test]
fn deflate_bomb_beyond_declared_size_is_refused() {
    // Declares 100 bytes, inflates to 1 MiB.
    let big = vec![0u8; 1 << 20];
    let small = vec![0u8; 100];
    let z = zip(&[Member {
        method: 8,
        compressed: Some(deflate(&big)),
        ..Member::stored("a.npy", &small)
    }]);
    let a = ZipArchive::parse(&z).unwrap();
    assert!(matches!(a.read("a.npy"), Err(ZipError::Inflate { .. })));
}

#[test]
fn member_size_limit_is_enforced() {
    let body = vec![1u8; 4096];
    let z = zip(&[Member::stored("a.npy", &body)]);
    assert!(matches!(
        ZipArchive::parse_with_limit(&z, 1000),
        Err(ZipError::TooLarge { .. })
    ));
}

#[test]
fn torch_fixture_descriptor_tampering_is_refused() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/fixtures/torch/mlp_state_dict.pt"
    );
    let orig = std::fs::read(path).unwrap();
    assert!(ZipArchive::parse(&orig).is_ok());
    // Flip one CRC byte of the first data descriptor.
    let mut z = orig.clone();
    let dd = find(&z, b"PK\x07\x08");
    z[dd + 4] ^= 1;
    assert!(matches!(
        ZipArchive::parse(&z),
        Err(ZipError::Inconsistent {
            structure: "data descriptor",
            ..
        })
    ));
    // Flip a byte of the ZIP64 end record's entry count.
    let mut z = orig.clone();
    let e64 = rfind(&z, b"PK\x06\x06");
    z[e64 + 32] ^= 1;
    assert!(ZipArchive::parse(&z).is_err());
    // Flip a byte of stored storage data: CRC check.
    let mut z = orig;
    let a = ZipArchive::parse(&z).unwrap();
    let off = a.entry("mlp_state_dict/data/0").unwrap().data_offset as usize;
    z[off] ^= 0x40;
    assert!(matches!(ZipArchive::parse(&z), Err(ZipError::Crc { .. })));
}

#[test]
fn every_truncation_of_a_fixture_is_an_error_not_a_panic() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/fixtures/numpy/bundle.npz"
    );
    let z = std::fs::read(path).unwrap();
    for n in 0..z.len() {
        assert!(ZipArchive::parse(&z[..n]).is_err(), "len {n}");
    }
}

/// A streamed ZIP64 member as miniz writes large PyTorch records: local
/// sizes saturated with a zeroed ZIP64 extra, then an 8-byte-size data
/// descriptor.
fn zip64_streamed(data: &[u8], descriptor_size_delta: u64) -> Vec<u8> {
    let name = b"archive/data/0";
    let crc = crc32fast::hash(data);
    let mut z = Vec::new();
    z.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    z.extend_from_slice(&45u16.to_le_bytes());
    z.extend_from_slice(&8u16.to_le_bytes());
    z.extend_from_slice(&[0; 10]); // method, time, date, crc
    z.extend_from_slice(&u32::MAX.to_le_bytes());
    z.extend_from_slice(&u32::MAX.to_le_bytes());
    z.extend_from_slice(&(name.len() as u16).to_le_bytes());
    z.extend_from_slice(&20u16.to_le_bytes());
    z.extend_from_slice(name);
    z.extend_from_slice(&1u16.to_le_bytes());
    z.extend_from_slice(&16u16.to_le_bytes());
    z.extend_from_slice(&[0; 16]);
    z.extend_from_slice(data);
    z.extend_from_slice(&0x0807_4b50u32.to_le_bytes());
    z.extend_from_slice(&crc.to_le_bytes());
    z.extend_from_slice(&(data.len() as u64 + descriptor_size_delta).to_le_bytes());
    z.extend_from_slice(&(data.len() as u64).to_le_bytes());
    let cd_off = z.len() as u32;
    let mut cd = Vec::new();
    cd.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    cd.extend_from_slice(&45u16.to_le_bytes());
    cd.extend_from_slice(&45u16.to_le_bytes());
    cd.extend_from_slice(&8u16.to_le_bytes());
    cd.extend_from_slice(&[0; 6]); // method, time, date
    cd.extend_from_slice(&crc.to_le_bytes());
    cd.extend_from_slice(&(data.len() as u32).to_le_bytes());
    cd.extend_from_slice(&(data.len() as u32).to_le_bytes());
    cd.extend_from_slice(&(name.len() as u16).to_le_bytes());
    cd.extend_from_slice(&[0; 12]); // extra, comment, disk, attrs
    cd.extend_from_slice(&0u32.to_le_bytes());
    cd.extend_from_slice(name);
    z.extend_from_slice(&cd);
    z.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    z.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
    z.extend_from_slice(&(cd.len() as u32).to_le_bytes());
    z.extend_from_slice(&cd_off.to_le_bytes());
    z.extend_from_slice(&[0, 0]);
    z
}

#[test]
fn zip64_streamed_member_with_wide_descriptor() {
    let z = zip64_streamed(b"0123456789abcdef", 0);
    let a = ZipArchive::parse(&z).unwrap();
    assert_eq!(&*a.read("archive/data/0").unwrap(), b"0123456789abcdef");
    let bad = zip64_streamed(b"0123456789abcdef", 1);
    assert!(matches!(
        ZipArchive::parse(&bad),
        Err(ZipError::Inconsistent {
            structure: "data descriptor",
            ..
        })
    ));
}
