//! Key schedule and STREAM slice encryption.

use tensorseal_crypto::{
    chunk_count, header_mac, header_mac_key, key_commitment, open_chunk, open_chunk_range,
    open_slice, seal_chunk, seal_slice, slice_key, slice_key_commitment, verify_header_mac,
    verify_key_commitment, verify_slice_key_commitment, Error, FileKey, SliceKey, Tag, CHUNK_SIZE,
};

fn key(index: u64) -> SliceKey {
    let fk = FileKey::from_bytes(&[1; 32]).unwrap();
    slice_key(&fk, &[2; 32], index, &[3; 32], &[4; 32])
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn round_trips_at_chunk_boundaries() {
    let k = key(0);
    for len in [
        0,
        1,
        CHUNK_SIZE - 1,
        CHUNK_SIZE,
        CHUNK_SIZE + 1,
        3 * CHUNK_SIZE,
        3 * CHUNK_SIZE + 5,
    ] {
        let plain = data(len);
        let mut buf = plain.clone();
        let tags = seal_slice(&k, &mut buf).unwrap();
        assert_eq!(tags.len() as u64, chunk_count(len as u64));
        if len > 0 {
            assert_ne!(buf, plain, "ciphertext equals plaintext at len {len}");
        }
        open_slice(&k, &mut buf, &tags).unwrap();
        assert_eq!(buf, plain);
    }
    assert_eq!(chunk_count(0), 1);
    assert_eq!(chunk_count(1), 1);
    assert_eq!(chunk_count(CHUNK_SIZE as u64), 1);
    assert_eq!(chunk_count(CHUNK_SIZE as u64 + 1), 2);
    assert_eq!(chunk_count(u64::MAX), u64::MAX / CHUNK_SIZE as u64 + 1);
}

#[test]
fn chunk_api_matches_slice_api() {
    let k = key(0);
    let plain = data(CHUNK_SIZE + 10);
    let mut whole = plain.clone();
    let tags = seal_slice(&k, &mut whole).unwrap();
    let mut parts = plain.clone();
    let (a, b) = parts.split_at_mut(CHUNK_SIZE);
    assert_eq!(seal_chunk(&k, 0, false, a).unwrap(), tags[0]);
    assert_eq!(seal_chunk(&k, 1, true, b).unwrap(), tags[1]);
    assert_eq!(parts, whole);
    let (a, b) = parts.split_at_mut(CHUNK_SIZE);
    open_chunk(&k, 1, true, b, &tags[1]).unwrap();
    open_chunk(&k, 0, false, a, &tags[0]).unwrap();
    assert_eq!(parts, plain);

    // Shape rules.
    let mut short = vec![0u8; 10];
    assert!(matches!(
        seal_chunk(&k, 0, false, &mut short),
        Err(Error::ChunkLayout(_))
    ));
    let mut long = vec![0u8; CHUNK_SIZE + 1];
    assert!(matches!(
        seal_chunk(&k, 0, true, &mut long),
        Err(Error::ChunkLayout(_))
    ));
    assert!(matches!(
        seal_chunk(&k, 3, true, &mut []),
        Err(Error::ChunkLayout(_))
    ));
    assert!(seal_chunk(&k, 0, true, &mut []).is_ok());
}

#[test]
fn every_single_bit_flip_of_a_tag_is_refused() {
    let k = key(0);
    let plain = data(CHUNK_SIZE + 100);
    let mut ct = plain.clone();
    let tags = seal_slice(&k, &mut ct).unwrap();
    for t in 0..tags.len() {
        for i in 0..16 {
            for bit in 0..8 {
                let mut bad: Vec<Tag> = tags.clone();
                bad[t][i] ^= 1 << bit;
                let mut buf = ct.clone();
                assert!(matches!(
                    open_slice(&k, &mut buf, &bad),
                    Err(Error::ChunkAuthentication { chunk }) if chunk == t as u64
                ));
            }
        }
    }
    // Ciphertext bit flips, including in the last byte.
    for pos in [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, ct.len() - 1] {
        let mut buf = ct.clone();
        buf[pos] ^= 0x80;
        assert!(open_slice(&k, &mut buf, &tags).is_err());
    }
}

#[test]
fn truncation_extension_reordering_and_wrong_keys_fail() {
    let k = key(0);
    let plain = data(3 * CHUNK_SIZE);
    let mut ct = plain.clone();
    let tags = seal_slice(&k, &mut ct).unwrap();

    // Truncation: drop the last chunk and claim the shorter length.
    let mut buf = ct[..2 * CHUNK_SIZE].to_vec();
    assert!(open_slice(&k, &mut buf, &tags[..2]).is_err());
    // Extension: append an empty or full extra chunk.
    let mut buf = ct.clone();
    buf.extend_from_slice(&[0; 10]);
    let mut more = tags.clone();
    more.push([0; 16]);
    assert!(open_slice(&k, &mut buf, &more).is_err());
    // Tag count mismatch.
    let mut buf = ct.clone();
    assert!(matches!(
        open_slice(&k, &mut buf, &tags[..2]),
        Err(Error::ChunkLayout(_))
    ));
    // Reordering chunks 0 and 1 (with their tags).
    let mut buf = ct.clone();
    let (a, b) = buf.split_at_mut(CHUNK_SIZE);
    a.swap_with_slice(&mut b[..CHUNK_SIZE]);
    let swapped = [tags[1], tags[0], tags[2]];
    assert!(open_slice(&k, &mut buf, &swapped).is_err());
    // Another slice's key (index or descriptor differ).
    let mut buf = ct.clone();
    assert!(open_slice(&key(1), &mut buf, &tags).is_err());
    let fk = FileKey::from_bytes(&[1; 32]).unwrap();
    let other = slice_key(&fk, &[2; 32], 0, &[3; 32], &[5; 32]);
    let mut buf = ct.clone();
    assert!(open_slice(&other, &mut buf, &tags).is_err());
}

#[test]
fn random_access_to_chunk_ranges() {
    let k = key(7);
    let len = 4 * CHUNK_SIZE + 123;
    let plain = data(len);
    let mut ct = plain.clone();
    let tags = seal_slice(&k, &mut ct).unwrap();
    assert_eq!(tags.len(), 5);
    let len64 = len as u64;
    for first in 0..5usize {
        for count in 1..=(5 - first) {
            let start = first * CHUNK_SIZE;
            let end = ((first + count) * CHUNK_SIZE).min(len);
            let mut buf = ct[start..end].to_vec();
            open_chunk_range(
                &k,
                len64,
                first as u64,
                &mut buf,
                &tags[first..first + count],
            )
            .unwrap();
            assert_eq!(buf, plain[start..end]);
        }
    }
    // A wrong slice length moves the last-chunk flag and fails.
    let mut buf = ct[4 * CHUNK_SIZE..].to_vec();
    assert!(open_chunk_range(&k, len64 + 1, 4, &mut buf, &tags[4..]).is_err());
    let mut buf = ct[..CHUNK_SIZE].to_vec();
    assert!(open_chunk_range(&k, CHUNK_SIZE as u64, 0, &mut buf, &tags[..1]).is_err());
    // Out-of-range and mis-sized requests are layout errors, never panics.
    let mut buf = ct[..CHUNK_SIZE].to_vec();
    assert!(matches!(
        open_chunk_range(&k, len64, 5, &mut buf, &tags[..1]),
        Err(Error::ChunkLayout(_))
    ));
    assert!(matches!(
        open_chunk_range(&k, len64, u64::MAX, &mut buf, &tags[..1]),
        Err(Error::ChunkLayout(_))
    ));
    assert!(matches!(
        open_chunk_range(&k, len64, 0, &mut buf[..10], &tags[..1]),
        Err(Error::ChunkLayout(_))
    ));
    assert!(matches!(
        open_chunk_range(&k, len64, 0, &mut buf, &[]),
        Err(Error::ChunkLayout(_))
    ));
    assert!(open_chunk_range(
        &k,
        u64::MAX,
        u64::MAX / CHUNK_SIZE as u64,
        &mut buf,
        &tags[..1]
    )
    .is_err());
}

#[test]
fn key_schedule() {
    let fk = FileKey::from_bytes(&[9; 32]).unwrap();
    let salt = [8u8; 32];
    let c = key_commitment(&fk, &salt);
    assert_eq!(c, key_commitment(&fk, &salt));
    assert_ne!(c, key_commitment(&fk, &[7; 32]));
    verify_key_commitment(&fk, &salt, &c).unwrap();
    let other = FileKey::from_bytes(&[10; 32]).unwrap();
    assert!(matches!(
        verify_key_commitment(&other, &salt, &c),
        Err(Error::KeyCommitmentMismatch)
    ));
    assert!(FileKey::from_bytes(&[0; 16]).is_err());

    let mk = header_mac_key(&fk, &salt);
    let mac = header_mac(&mk, b"header bytes");
    verify_header_mac(&mk, b"header bytes", &mac).unwrap();
    assert!(matches!(
        verify_header_mac(&mk, b"header bytez", &mac),
        Err(Error::HeaderMacMismatch)
    ));
    let mut bad = mac;
    bad[31] ^= 1;
    assert!(verify_header_mac(&mk, b"header bytes", &bad).is_err());
    assert_ne!(
        mac,
        header_mac(&header_mac_key(&other, &salt), b"header bytes")
    );
    // Labels separate the outputs.
    assert_ne!(c, mac);

    // Slice keys: every input matters, and a grant rebuilds the same key.
    let base = slice_key(&fk, &salt, 0, &[1; 32], &[2; 32]);
    let variants = [
        slice_key(&other, &salt, 0, &[1; 32], &[2; 32]),
        slice_key(&fk, &[0; 32], 0, &[1; 32], &[2; 32]),
        slice_key(&fk, &salt, 1, &[1; 32], &[2; 32]),
        slice_key(&fk, &salt, 0, &[0; 32], &[2; 32]),
        slice_key(&fk, &salt, 0, &[1; 32], &[0; 32]),
    ];
    let bc = slice_key_commitment(&base);
    for v in &variants {
        assert_ne!(slice_key_commitment(v), bc);
        assert_ne!(v.to_bytes(), base.to_bytes());
    }
    let granted = SliceKey::from_bytes(base.to_bytes().as_slice()).unwrap();
    verify_slice_key_commitment(&granted, &bc).unwrap();
    assert!(verify_slice_key_commitment(&variants[0], &bc).is_err());
    assert_ne!(bc.as_slice(), base.to_bytes().as_slice());
    let mut buf = data(1000);
    let tags = seal_slice(&base, &mut buf).unwrap();
    open_slice(&granted, &mut buf, &tags).unwrap();
    assert_eq!(buf, data(1000));
    assert!(SliceKey::from_bytes(&[0; 31]).is_err());
    assert_eq!(format!("{base:?}"), "SliceKey(<redacted>)");
    assert_eq!(format!("{fk:?}"), "FileKey(<redacted>)");
}
