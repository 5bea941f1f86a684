//! Peak memory of `verify_file` on a 256 MiB container, plain and encrypted,
//! measured with a counting allocator (peak live bytes), not with time.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use tensorseal::{
    verify_file, Dtype, Model, ModelInfo, OpenOptions, Policy, RecipientSecretKey, WriteOptions,
    Writer,
};

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

const MIB: usize = 1 << 20;
const TENSORS: usize = 16;
/// 16 tensors of 16 MiB: 256 MiB of data.
const TENSOR: usize = 16 * MIB;

fn write(path: &Path, opts: WriteOptions) {
    let info = ModelInfo {
        model_id: "big".into(),
        version: 1,
        ..ModelInfo::default()
    };
    let mut w = Writer::create(path, info, opts).unwrap();
    let mut buf = vec![0u8; TENSOR];
    for t in 0..TENSORS {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (i as u32)
                .wrapping_mul(2_654_435_761)
                .wrapping_add(t as u32) as u8
                | 1;
        }
        w.add(&format!("t{t:02}"), Dtype::U8, &[TENSOR as u64], &buf)
            .unwrap();
    }
    w.finish().unwrap();
}

#[test]
fn verifying_256_mib_peaks_under_64_mib_plain_and_encrypted() {
    let _g = SERIAL.lock().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.tseal");
    let policy = Policy::allow_unsigned();
    write(&path, WriteOptions::default());

    let (r, peak) = peak_during(|| verify_file(&path, &policy, OpenOptions::new()));
    let r = r.unwrap();
    assert_eq!(r.bytes_verified, (TENSORS * TENSOR) as u64);
    assert_eq!(r.slices_verified, TENSORS);
    assert!(peak < 64 * MIB, "plain: peak {} MiB", peak / MIB);

    // The counter sees whole-file reads: the full open holds the file.
    let (m, full_peak) = peak_during(|| Model::open(&path, &policy).map(drop));
    m.unwrap();
    assert!(full_peak >= TENSORS * TENSOR, "full open: {full_peak}");

    // A byte flipped past the first 16 MiB window (in tensor 5) is found.
    {
        use std::io::{Read, Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let at = 4096 + 5 * TENSOR as u64 + 12_345;
        let mut b = [0u8; 1];
        f.seek(SeekFrom::Start(at)).unwrap();
        f.read_exact(&mut b).unwrap();
        f.seek(SeekFrom::Start(at)).unwrap();
        f.write_all(&[b[0] ^ 0x80]).unwrap();
    }
    let e = verify_file(&path, &policy, OpenOptions::new()).unwrap_err();
    assert!(e.to_string().contains("slice 5"), "{e}");
    std::fs::remove_file(&path).unwrap();

    let id = RecipientSecretKey::generate_os().unwrap();
    let opts = WriteOptions {
        recipients: vec![id.public_key().clone()],
        ..WriteOptions::default()
    };
    write(&path, opts);
    let (r, peak) = peak_during(|| verify_file(&path, &policy, OpenOptions::new().identity(id)));
    let r = r.unwrap();
    assert_eq!(r.tensors_decrypted, TENSORS);
    assert_eq!(r.bytes_decrypted, (TENSORS * TENSOR) as u64);
    assert!(r.checked.header_mac);
    assert!(peak < 64 * MIB, "encrypted: peak {} MiB", peak / MIB);
}
