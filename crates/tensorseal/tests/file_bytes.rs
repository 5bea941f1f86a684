//! `FileBytes`: a mapped input stays readable and unchanged after `release`,
//! and `release` ignores slices that are not part of it.

use tensorseal::FileBytes;

#[test]
fn released_pages_read_back_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input.bin");
    let data: Vec<u8> = (0..(5 << 20) + 77).map(|i| (i * 7 % 253) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    for bytes in [
        FileBytes::map(&path).unwrap(),
        FileBytes::read(&path).unwrap(),
    ] {
        assert_eq!(&bytes[..], &data[..]);
        // Unaligned edges, the whole file, an empty part, a part of another buffer.
        bytes.release(&bytes[1..(3 << 20) + 5]);
        bytes.release(&bytes[..]);
        bytes.release(&bytes[100..100]);
        bytes.release(&data[..4096 * 4]);
        assert_eq!(&bytes[..], &data[..]);
    }
}
