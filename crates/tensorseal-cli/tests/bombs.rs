//! Decompression bombs: `tensorseal inspect` on a gzip joblib and an `.npz`
//! that each hold a 2 GiB zero-filled array (a few MiB on disk) finishes
//! with the right verdict and a peak RSS under 256 MiB, measured with
//! getrusage(RUSAGE_CHILDREN). One test in its own binary, so that no other
//! child of this process counts in the peak.

#[path = "../../tensorseal-convert/tests/common/joblib_gen.rs"]
mod joblib_gen;

use std::io::Write;
use std::path::Path;

use assert_cmd::Command;
use joblib_gen::Jb;

const GIB2: u64 = 2 << 30;

fn children_peak_rss() -> u64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes into the struct we own.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) }, 0);
    u.ru_maxrss as u64 * 1024
}

/// gzip joblib: one `uint8` array of 2 × 1 GiB zeros.
fn gzip_joblib(path: &Path) {
    let mut b = Jb::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    b.start().array(&[2, 1 << 30], 0).finish();
    std::fs::write(path, b.w.finish().unwrap()).unwrap();
}

/// `.npz` with one deflated member `a.npy`: a `|u1` array of 2 GiB zeros.
/// Compressed and CRC-ed in a stream; sizes fit the 32-bit fields.
fn npz(path: &Path) {
    let mut header = b"{'descr': '|u1', 'fortran_order': False, 'shape': (2147483648,), }".to_vec();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut npy_head = b"\x93NUMPY\x01\x00".to_vec();
    npy_head.extend_from_slice(&(header.len() as u16).to_le_bytes());
    npy_head.extend_from_slice(&header);
    let mut crc = crc32fast::Hasher::new();
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    crc.update(&npy_head);
    enc.write_all(&npy_head).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..GIB2 >> 20 {
        crc.update(&zeros);
        enc.write_all(&zeros).unwrap();
    }
    let data = enc.finish().unwrap();
    let crc = crc.finalize();
    let usize_ = (npy_head.len() as u64 + GIB2) as u32;
    let name = b"a.npy";
    let mut out = Vec::new();
    let fields = |v: &mut Vec<u8>| {
        v.extend_from_slice(&0u16.to_le_bytes()); // flags
        v.extend_from_slice(&8u16.to_le_bytes()); // deflate
        v.extend_from_slice(&[0, 0, 0x21, 0]); // time, date
        v.extend_from_slice(&crc.to_le_bytes());
        v.extend_from_slice(&(data.len() as u32).to_le_bytes());
        v.extend_from_slice(&usize_.to_le_bytes());
        v.extend_from_slice(&(name.len() as u16).to_le_bytes());
        v.extend_from_slice(&0u16.to_le_bytes()); // extra
    };
    out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    out.extend_from_slice(&20u16.to_le_bytes());
    fields(&mut out);
    out.extend_from_slice(name);
    out.extend_from_slice(&data);
    let cd_off = out.len() as u32;
    let mut cd = Vec::new();
    cd.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    cd.extend_from_slice(&20u16.to_le_bytes());
    cd.extend_from_slice(&20u16.to_le_bytes());
    fields(&mut cd);
    cd.extend_from_slice(&[0u8; 10]); // comment, disk, attributes
    cd.extend_from_slice(&0u32.to_le_bytes()); // local header offset
    cd.extend_from_slice(name);
    out.extend_from_slice(&cd);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
    out.extend_from_slice(&(cd.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_off.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    std::fs::write(path, out).unwrap();
}

#[test]
fn inspect_streams_2gib_zero_members_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let jl = dir.path().join("bomb.joblib");
    let nz = dir.path().join("bomb.npz");
    gzip_joblib(&jl);
    npz(&nz);
    for p in [&jl, &nz] {
        let len = std::fs::metadata(p).unwrap().len();
        assert!(len < 16 << 20, "{} is {len} bytes", p.display());
        let o = Command::cargo_bin("tensorseal")
            .unwrap()
            .args(["inspect", "--json"])
            .arg(p)
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(0), "{}: {out}", p.display());
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["verdict"], "safe", "{out}");
    }
    let peak = children_peak_rss();
    assert!(peak > 0);
    eprintln!("peak RSS of inspect: {} MiB", peak >> 20);
    assert!(peak < 256 << 20, "peak RSS of inspect {} MiB", peak >> 20);
}
