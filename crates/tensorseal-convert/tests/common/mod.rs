//! Test helpers: a tiny zip writer (stored members, no descriptors) and a
//! hand-assembled PyTorch `data.pkl`.
#![allow(dead_code)]

pub mod joblib_gen;

/// One member to write.
pub struct Member<'a> {
    pub name: &'a str,
    pub data: &'a [u8],
    pub flags: u16,
    pub method: u16,
    /// Compressed bytes when `method == 8`.
    pub compressed: Option<Vec<u8>>,
}

impl<'a> Member<'a> {
    pub fn stored(name: &'a str, data: &'a [u8]) -> Self {
        Member {
            name,
            data,
            flags: 0,
            method: 0,
            compressed: None,
        }
    }
}

fn u16le(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn u32le(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}

/// Write a zip whose offsets are computed as if it started at `base`
/// (so `base > 0` plus a prefix of that length gives a self-consistent
/// archive with prepended bytes).
pub fn zip_with_base(members: &[Member<'_>], base: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut cd = Vec::new();
    for m in members {
        let off = base + out.len() as u32;
        let crc = crc32fast::hash(m.data);
        let payload: &[u8] = m.compressed.as_deref().unwrap_or(m.data);
        for (buf, central) in [(&mut out, false), (&mut cd, true)] {
            u32le(buf, if central { 0x0201_4b50 } else { 0x0403_4b50 });
            if central {
                u16le(buf, 20);
            }
            u16le(buf, 20);
            u16le(buf, m.flags);
            u16le(buf, m.method);
            u16le(buf, 0);
            u16le(buf, 0);
            u32le(buf, crc);
            u32le(buf, payload.len() as u32);
            u32le(buf, m.data.len() as u32);
            u16le(buf, m.name.len() as u16);
            u16le(buf, 0);
            if central {
                u16le(buf, 0); // comment
                u16le(buf, 0); // disk
                u16le(buf, 0); // internal attrs
                u32le(buf, 0); // external attrs
                u32le(buf, off);
            }
            buf.extend_from_slice(m.name.as_bytes());
        }
        out.extend_from_slice(payload);
    }
    let cd_off = base + out.len() as u32;
    out.extend_from_slice(&cd);
    u32le(&mut out, 0x0605_4b50);
    u16le(&mut out, 0);
    u16le(&mut out, 0);
    u16le(&mut out, members.len() as u16);
    u16le(&mut out, members.len() as u16);
    u32le(&mut out, cd.len() as u32);
    u32le(&mut out, cd_off);
    u16le(&mut out, 0);
    out
}

pub fn zip(members: &[Member<'_>]) -> Vec<u8> {
    zip_with_base(members, 0)
}

/// Protocol-2 pickle of `{'w': _rebuild_tensor_v2(('storage', torch.<storage>,
/// '0', 'cpu', numel), offset, size, stride, False, OrderedDict())}`.
pub fn torch_pkl(storage: &str, numel: u32, offset: u32, size: &[u32], stride: &[u32]) -> Vec<u8> {
    let mut p = b"\x80\x02}(X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\n".to_vec();
    p.extend_from_slice(storage.as_bytes());
    p.extend_from_slice(b"\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuJ");
    p.extend_from_slice(&numel.to_le_bytes());
    p.extend_from_slice(b"tQJ");
    p.extend_from_slice(&offset.to_le_bytes());
    for dims in [size, stride] {
        p.push(b'(');
        for d in dims {
            p.push(b'J');
            p.extend_from_slice(&d.to_le_bytes());
        }
        p.push(b't');
    }
    p.extend_from_slice(b"\x89ccollections\nOrderedDict\n)RtRu.");
    p
}

/// A torch zip archive with `data.pkl`, `byteorder` and `data/0`, plus extras.
pub fn torch_zip(pkl: &[u8], byteorder: &[u8], storage: &[u8], extra: &[(&str, &[u8])]) -> Vec<u8> {
    let mut members = vec![
        Member::stored("archive/data.pkl", pkl),
        Member::stored("archive/byteorder", byteorder),
        Member::stored("archive/data/0", storage),
        Member::stored("archive/version", b"3\n"),
    ];
    for (n, d) in extra {
        members.push(Member::stored(n, d));
    }
    zip(&members)
}
