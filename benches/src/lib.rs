//! Shared fixtures for the tensorseal benchmarks: synthetic tensor sets written
//! both as tensorseal containers and as `.safetensors`, a 1 GiB container for
//! eager verification, and hand-assembled PyTorch zip checkpoints.
//!
//! Everything is generated here, deterministically; nothing is downloaded.
#![forbid(unsafe_code)]

use std::fs;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype as StDtype, TensorView as StView};
use tensorseal::{Dtype, ModelInfo, SlicePolicy, WriteOptions, Writer};

/// One tensor of a synthetic set.
pub struct Tensor {
    /// Name (dotted, like a real state dict).
    pub name: String,
    /// Element type.
    pub dtype: Dtype,
    /// Shape.
    pub shape: Vec<u64>,
    /// Little-endian bytes.
    pub data: Vec<u8>,
}

/// Directory for generated files: `$TENSORSEAL_BENCH_DIR`, else
/// `<tmp>/tensorseal-bench`. Files are kept between runs (built once).
pub fn bench_dir() -> PathBuf {
    let dir = std::env::var_os("TENSORSEAL_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("tensorseal-bench"));
    fs::create_dir_all(&dir).expect("create bench dir");
    dir
}

/// A small, fast, deterministic byte generator (xorshift64*).
pub fn fill_pseudo_random(buf: &mut [u8], seed: u64) {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for chunk in buf.chunks_mut(8) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let v = x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
}

/// `n` small tensors, 64 bytes each (so a tensorseal container needs no
/// inter-tensor padding and both formats hold the same bytes): F32 `[4, 4]`,
/// F16 `[4, 8]` and I64 `[8]` in turn, named like a transformer state dict.
pub fn small_tensors(n: usize) -> Vec<Tensor> {
    (0..n)
        .map(|i| {
            let (dtype, shape, part) = match i % 3 {
                0 => (Dtype::F32, vec![4, 4], "attn.q_proj.weight"),
                1 => (Dtype::F16, vec![4, 8], "mlp.up_proj.weight"),
                _ => (Dtype::I64, vec![8], "position_ids"),
            };
            let mut data = vec![0u8; 64];
            fill_pseudo_random(&mut data, i as u64 + 1);
            Tensor {
                name: format!("model.layers.{}.{part}", i / 3),
                dtype,
                shape,
                data,
            }
        })
        .collect()
}

fn st_dtype(d: Dtype) -> StDtype {
    match d {
        Dtype::F32 => StDtype::F32,
        Dtype::F16 => StDtype::F16,
        Dtype::I64 => StDtype::I64,
        Dtype::U8 => StDtype::U8,
        other => panic!("bench fixture dtype {other} not mapped"),
    }
}

/// Writes `tensors` as a tensorseal container (unsigned) at `path`.
pub fn write_tseal(path: &Path, tensors: &[Tensor], slicing: SlicePolicy) {
    let info = ModelInfo {
        model_id: "bench".into(),
        version: 1,
        created: 1_795_000_000,
        ..ModelInfo::default()
    };
    let opts = WriteOptions {
        slicing,
        overwrite: true,
        ..WriteOptions::default()
    };
    let mut w = Writer::create(path, info, opts).expect("create container");
    for t in tensors {
        w.add(&t.name, t.dtype, &t.shape, &t.data)
            .expect("add tensor");
    }
    w.finish().expect("finish container");
}

/// The same tensors as a `.safetensors` file, serialized in memory.
pub fn safetensors_bytes(tensors: &[Tensor]) -> Vec<u8> {
    let views: Vec<(String, StView<'_>)> = tensors
        .iter()
        .map(|t| {
            let shape = t.shape.iter().map(|&d| d as usize).collect();
            let v = StView::new(st_dtype(t.dtype), shape, &t.data).expect("view");
            (t.name.clone(), v)
        })
        .collect();
    safetensors::tensor::serialize(views, None).expect("serialize safetensors")
}

/// Writes `bytes` to `path`.
pub fn write_file(path: &Path, bytes: &[u8]) {
    fs::write(path, bytes).expect("write fixture");
}

/// Path of the 1 GiB verification container (64 F32 tensors of 16 MiB, one
/// slice each), built on first use and reused afterwards.
pub fn verify_container() -> PathBuf {
    const TENSORS: usize = 64;
    const BYTES: usize = 16 << 20;
    let path = bench_dir().join("verify-1gib.tseal");
    let expected_min = (TENSORS * BYTES) as u64;
    let ok = fs::metadata(&path)
        .map(|m| m.len() > expected_min)
        .unwrap_or(false)
        && tensorseal::Model::open(&path, &tensorseal::Policy::allow_unsigned()).is_ok();
    if ok {
        return path;
    }
    let info = ModelInfo {
        model_id: "bench-verify".into(),
        version: 1,
        created: 1_795_000_000,
        ..ModelInfo::default()
    };
    let opts = WriteOptions {
        slicing: SlicePolicy::PerTensor,
        overwrite: true,
        ..WriteOptions::default()
    };
    let mut w = Writer::create(&path, info, opts).expect("create container");
    let mut buf = vec![0u8; BYTES];
    for i in 0..TENSORS {
        fill_pseudo_random(&mut buf, 1000 + i as u64);
        w.add(
            &format!("model.layers.{i}.mlp.weight"),
            Dtype::F32,
            &[2048, 2048],
            &buf,
        )
        .expect("add tensor");
    }
    w.finish().expect("finish container");
    path
}

// ---------------------------------------------------------------------------
// PyTorch zip checkpoints, assembled by hand (what `torch.save` writes for a
// state dict of float32 tensors: `archive/data.pkl`, `archive/data/<key>`,
// `archive/byteorder`, `archive/version`; members stored, 64-byte aligned).
// ---------------------------------------------------------------------------

fn pkl_str(p: &mut Vec<u8>, s: &str) {
    p.push(b'X');
    p.extend_from_slice(&(s.len() as u32).to_le_bytes());
    p.extend_from_slice(s.as_bytes());
}

fn pkl_int(p: &mut Vec<u8>, v: u32) {
    p.push(b'J');
    p.extend_from_slice(&v.to_le_bytes());
}

/// Protocol-2 `data.pkl` of an `OrderedDict` state dict: entry `i` is
/// `names[i] -> _rebuild_tensor_v2(('storage', FloatStorage, str(i), 'cpu',
/// numel), 0, shape, stride, False, OrderedDict())`, as `torch.save` writes it
/// (globals memoised on first use, like the real pickler).
pub fn torch_state_dict_pkl(entries: &[(String, Vec<u32>)]) -> Vec<u8> {
    let mut p = b"\x80\x02".to_vec();
    p.extend_from_slice(b"ccollections\nOrderedDict\nq\x00)Rq\x01");
    p.push(b'('); // MARK for SETITEMS
    for (i, (name, shape)) in entries.iter().enumerate() {
        let numel: u32 = shape.iter().product();
        pkl_str(&mut p, name);
        // Globals on first use, then from the memo (BINPUT / BINGET).
        if i == 0 {
            p.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\nq\x02");
        } else {
            p.extend_from_slice(b"h\x02");
        }
        p.push(b'('); // MARK args
        p.push(b'(');
        pkl_str(&mut p, "storage");
        if i == 0 {
            p.extend_from_slice(b"ctorch\nFloatStorage\nq\x03");
        } else {
            p.extend_from_slice(b"h\x03");
        }
        pkl_str(&mut p, &i.to_string());
        pkl_str(&mut p, "cpu");
        pkl_int(&mut p, numel);
        p.extend_from_slice(b"tQ"); // TUPLE, BINPERSID
        pkl_int(&mut p, 0); // storage offset
        p.push(b'(');
        for &d in shape {
            pkl_int(&mut p, d);
        }
        p.push(b't');
        p.push(b'(');
        let mut stride = vec![1u32; shape.len()];
        for k in (0..shape.len().saturating_sub(1)).rev() {
            stride[k] = stride[k + 1] * shape[k + 1];
        }
        for d in stride {
            pkl_int(&mut p, d);
        }
        p.push(b't');
        p.push(b'\x89'); // False
        p.extend_from_slice(b"h\x00)R"); // OrderedDict()
        p.extend_from_slice(b"tR"); // TUPLE, REDUCE
    }
    p.extend_from_slice(b"u."); // SETITEMS, STOP
    p
}

fn u16le(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn u32le(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}

/// A zip of stored members whose data start on 64-byte boundaries (padding
/// in the local header's extra field, as PyTorch does). Classic zip only:
/// under 4 GiB and 65 535 members.
pub fn stored_zip(members: &[(String, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut cd = Vec::new();
    for (name, data) in members {
        let off = out.len() as u32;
        let crc = crc32fast::hash(data);
        let header_end = out.len() + 30 + name.len();
        let extra = if header_end % 64 == 0 {
            0
        } else {
            let mut e = 64 - header_end % 64;
            if e < 4 {
                e += 64;
            }
            e
        };
        for central in [false, true] {
            let buf = if central { &mut cd } else { &mut out };
            u32le(buf, if central { 0x0201_4b50 } else { 0x0403_4b50 });
            if central {
                u16le(buf, 20);
            }
            u16le(buf, 20);
            u16le(buf, 0);
            u16le(buf, 0);
            u16le(buf, 0);
            u16le(buf, 0);
            u32le(buf, crc);
            u32le(buf, data.len() as u32);
            u32le(buf, data.len() as u32);
            u16le(buf, name.len() as u16);
            u16le(buf, if central { 0 } else { extra as u16 });
            if central {
                u16le(buf, 0);
                u16le(buf, 0);
                u16le(buf, 0);
                u32le(buf, 0);
                u32le(buf, off);
            }
            buf.extend_from_slice(name.as_bytes());
            if !central && extra > 0 {
                // PyTorch's padding record: id 0x4246 ("FB"), then zeros.
                u16le(buf, 0x4246);
                u16le(buf, (extra - 4) as u16);
                buf.extend(std::iter::repeat_n(0u8, extra - 4));
            }
        }
        out.extend_from_slice(data);
    }
    let cd_off = out.len() as u32;
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

/// A PyTorch zip checkpoint with `count` float32 tensors of `rows x cols`.
pub fn torch_zip(count: usize, rows: u32, cols: u32) -> Vec<u8> {
    let entries: Vec<(String, Vec<u32>)> = (0..count)
        .map(|i| (format!("model.layers.{i}.weight"), vec![rows, cols]))
        .collect();
    let pkl = torch_state_dict_pkl(&entries);
    let bytes = rows as usize * cols as usize * 4;
    let storages: Vec<Vec<u8>> = (0..count)
        .map(|i| {
            let mut b = vec![0u8; bytes];
            fill_pseudo_random(&mut b, 7 + i as u64);
            b
        })
        .collect();
    let mut members: Vec<(String, &[u8])> = vec![
        ("archive/data.pkl".into(), &pkl[..]),
        ("archive/byteorder".into(), b"little"),
    ];
    for (i, s) in storages.iter().enumerate() {
        members.push((format!("archive/data/{i}"), &s[..]));
    }
    members.push(("archive/version".into(), b"3\n"));
    stored_zip(&members)
}
