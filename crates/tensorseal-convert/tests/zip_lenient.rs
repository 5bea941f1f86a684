//! Archive details that `torch.load(weights_only=True)` (miniz) and
//! `numpy.load` (CPython's zipfile) accept are not called malformed:
//! archive and entry comments, directory entries, deflated storage
//! records; what they refuse, or read differently, still is refused.
//! Deflated members are inflated streaming, CRC-32 checked all the same.

mod common;

use std::io::Write;

use common::{torch_pkl, zip, Member};
use tensorseal_convert::inspect::{inspect_bytes, FileReport, InspectOptions, Verdict};
use tensorseal_convert::Format;

fn verdict(b: &[u8]) -> FileReport {
    inspect_bytes(b, &InspectOptions::default())
}

fn deflate(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn deflated<'a>(name: &'a str, data: &'a [u8]) -> Member<'a> {
    Member {
        name,
        data,
        flags: 0,
        method: 8,
        compressed: Some(deflate(data)),
    }
}

fn torch_members<'a>(pkl: &'a [u8], storage: Member<'a>) -> Vec<Member<'a>> {
    vec![
        Member::stored("archive/data.pkl", pkl),
        Member::stored("archive/byteorder", b"little"),
        storage,
        Member::stored("archive/version", b"3\n"),
    ]
}

/// Give the archive a comment (EOCD comment length + bytes at the end).
fn with_comment(mut z: Vec<u8>, comment: &[u8]) -> Vec<u8> {
    let n = z.len();
    z[n - 2..].copy_from_slice(&(comment.len() as u16).to_le_bytes());
    z.extend_from_slice(comment);
    z
}

/// Give the first central-directory entry a comment.
fn with_entry_comment(z: &[u8], comment: &[u8]) -> Vec<u8> {
    let n = z.len();
    let cd_size = u32::from_le_bytes(z[n - 10..n - 6].try_into().unwrap()) as usize;
    let cd_off = u32::from_le_bytes(z[n - 6..n - 2].try_into().unwrap()) as usize;
    let name_len = u16::from_le_bytes(z[cd_off + 28..cd_off + 30].try_into().unwrap()) as usize;
    let mut out = z[..cd_off + 46 + name_len].to_vec();
    out[cd_off + 32..cd_off + 34].copy_from_slice(&(comment.len() as u16).to_le_bytes());
    out.extend_from_slice(comment);
    out.extend_from_slice(&z[cd_off + 46 + name_len..]);
    let m = out.len();
    out[m - 10..m - 6].copy_from_slice(&((cd_size + comment.len()) as u32).to_le_bytes());
    out
}

fn safe_torch() -> Vec<u8> {
    let pkl = torch_pkl("FloatStorage", 4, 0, &[2, 2], &[2, 1]);
    zip(&torch_members(
        &pkl,
        Member::stored("archive/data/0", &[0u8; 16]),
    ))
}

fn assert_safe(b: &[u8], what: &str) {
    let r = verdict(b);
    assert_eq!(r.verdict, Verdict::Safe, "{what}: {:?}", r.findings);
}

#[test]
fn archive_comment_is_accepted_unless_it_hides_an_end_record() {
    assert_safe(&safe_torch(), "plain");
    assert_safe(
        &with_comment(safe_torch(), b"written by a zip tool"),
        "archive comment",
    );
    let r = verdict(&with_comment(safe_torch(), b"xxPK\x05\x06yy"));
    assert_ne!(r.verdict, Verdict::Safe, "{:?}", r.findings);
    // Bytes after the comment are still trailing garbage.
    let mut t = with_comment(safe_torch(), b"c");
    t.push(0);
    assert_ne!(verdict(&t).verdict, Verdict::Safe);
}

#[test]
fn entry_comment_is_accepted() {
    let z = with_entry_comment(&safe_torch(), b"the pickle");
    assert_eq!(verdict(&z).format, Format::TorchZip);
    assert_safe(&z, "entry comment");
    let npz = with_entry_comment(&zip(&[Member::stored("a.npy", &npy_u1(&[1, 2, 3]))]), b"c");
    assert_safe(&npz, "npz entry comment");
}

#[test]
fn directory_entries_are_accepted() {
    let pkl = torch_pkl("FloatStorage", 4, 0, &[2, 2], &[2, 1]);
    let mut m = vec![Member::stored("archive/", b"")];
    m.extend(torch_members(
        &pkl,
        Member::stored("archive/data/0", &[0u8; 16]),
    ));
    m.insert(3, Member::stored("archive/data/", b""));
    let z = zip(&m);
    assert_eq!(verdict(&z).format, Format::TorchZip);
    assert_safe(&z, "directory entries");
    // The converter accepts them too.
    tensorseal_convert::import(&z, &tensorseal_convert::ConvertOptions::default()).unwrap();
}

#[test]
fn deflated_storage_records_are_accepted_and_crc_checked() {
    let pkl = torch_pkl("FloatStorage", 4, 0, &[2, 2], &[2, 1]);
    let storage = [7u8; 16];
    let z = zip(&torch_members(&pkl, deflated("archive/data/0", &storage)));
    assert_safe(&z, "deflated storage");
    // Same member, one byte of the inflated data changed: CRC mismatch.
    let mut bad = deflated("archive/data/0", &storage);
    bad.compressed = Some(deflate(&[8u8; 16]));
    let r = verdict(&zip(&torch_members(&pkl, bad)));
    assert_eq!(r.verdict, Verdict::Dangerous, "{:?}", r.findings);
    assert!(r.findings.iter().any(|f| f.message.contains("CRC-32")));
}

fn npy_u1(data: &[u8]) -> Vec<u8> {
    let mut h = format!(
        "{{'descr': '|u1', 'fortran_order': False, 'shape': ({},), }}",
        data.len()
    )
    .into_bytes();
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(b' ');
    }
    h.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    out
}

#[test]
fn streamed_npz_members_keep_crc_and_length_checks() {
    // Larger than the 1 MiB prefix, so the payload is only counted.
    let data = vec![0x5Au8; 3 << 20];
    let npy = npy_u1(&data);
    let good = zip(&[deflated("a.npy", &npy)]);
    assert_eq!(verdict(&good).format, Format::Npz);
    assert_safe(&good, "deflated npz");
    let mut other = npy.clone();
    let last = other.len() - 1;
    other[last] ^= 1;
    let mut m = deflated("a.npy", &npy);
    m.compressed = Some(deflate(&other));
    let r = verdict(&zip(&[m]));
    assert_eq!(r.verdict, Verdict::Dangerous, "{:?}", r.findings);
    assert!(r.findings.iter().any(|f| f.message.contains("CRC-32")));
    // A shorter payload than the header's shape: malformed.
    let short = npy_u1(&data[..data.len() - 1]);
    let mut hdr_long = short.clone();
    let from = b"(3145727,)";
    let at = hdr_long
        .windows(from.len())
        .position(|w| w == from)
        .unwrap();
    hdr_long[at..at + from.len()].copy_from_slice(b"(3145728,)");
    let r = verdict(&zip(&[deflated("a.npy", &hdr_long)]));
    assert_eq!(r.verdict, Verdict::Malformed, "{:?}", r.findings);
}

#[test]
fn deflated_pickle_members_are_still_read_whole() {
    // A pickle member beyond the 1 MiB prefix: its tail must be parsed.
    let mut p = b"\x80\x02]q\x00(".to_vec();
    for _ in 0..(1 << 20) / 2 {
        p.extend_from_slice(b"K\x01");
    }
    p.extend_from_slice(b"cposix\nsystem\nX\x02\x00\x00\x00id\x85Rea.");
    let r = verdict(&zip(&[deflated("x.pkl", &p)]));
    assert_eq!(r.verdict, Verdict::Dangerous, "{:?}", r.findings);
}
