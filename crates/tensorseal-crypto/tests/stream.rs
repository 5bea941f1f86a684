//! Key schedule and STREAM slice encryption.

use tensorseal_crypto::{
    chunk_count, header_mac, header_mac_key, key_commitment, open_chunk, open_chunk_range,
    open_chunk_range_into, open_slice, seal_chunk, seal_slice, slice_key, slice_key_commitment,
    verify_header_mac, verify_key_commitment, verify_slice_key_commitment, Error, FileKey,
    SliceKey, Tag, CHUNK_SIZE,
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

#[test]
fn open_into_round_trips_every_range_like_in_place() {
    let k = key(9);
    for len in [0, 1, CHUNK_SIZE, 4 * CHUNK_SIZE + 123] {
        let plain = data(len);
        let mut ct = plain.clone();
        let tags = seal_slice(&k, &mut ct).unwrap();
        let n = tags.len();
        let len64 = len as u64;
        for first in 0..n {
            for count in 1..=(n - first) {
                let start = first * CHUNK_SIZE;
                let end = ((first + count) * CHUNK_SIZE).min(len);
                let tags = &tags[first..first + count];
                let mut dst = vec![0xAA; end - start];
                open_chunk_range_into(&k, len64, first as u64, &ct[start..end], &mut dst, tags)
                    .unwrap();
                assert_eq!(
                    dst,
                    plain[start..end],
                    "len {len} first {first} count {count}"
                );
                // Same result as the in-place function.
                let mut in_place = ct[start..end].to_vec();
                open_chunk_range(&k, len64, first as u64, &mut in_place, tags).unwrap();
                assert_eq!(in_place, dst);
            }
        }
    }
}

#[test]
fn open_into_refuses_tampering_with_the_chunk_index_and_wipes_dst() {
    let k = key(10);
    let len = 5 * CHUNK_SIZE + 7;
    let plain = data(len);
    let mut ct = plain.clone();
    let tags = seal_slice(&k, &mut ct).unwrap();
    let len64 = len as u64;

    // A flipped ciphertext byte in chunk 3 (of the whole slice).
    let mut bad = ct.clone();
    bad[3 * CHUNK_SIZE + 100] ^= 0x01;
    let mut dst = vec![0xAA; len];
    let e = open_chunk_range_into(&k, len64, 0, &bad, &mut dst, &tags).unwrap_err();
    assert!(matches!(e, Error::ChunkAuthentication { chunk: 3 }), "{e}");
    assert!(
        dst.iter().all(|b| *b == 0),
        "dst must be zeroized on failure"
    );
    // The same flip, opened as a sub-range starting at chunk 2: still chunk 3.
    let mut dst = vec![0xAA; 2 * CHUNK_SIZE];
    let e = open_chunk_range_into(
        &k,
        len64,
        2,
        &bad[2 * CHUNK_SIZE..4 * CHUNK_SIZE],
        &mut dst,
        &tags[2..4],
    )
    .unwrap_err();
    assert!(matches!(e, Error::ChunkAuthentication { chunk: 3 }), "{e}");
    assert!(dst.iter().all(|b| *b == 0));

    // A flipped tag of the final (short) chunk 5.
    let mut bad_tags = tags.clone();
    bad_tags[5][15] ^= 0x80;
    let mut dst = vec![0xAA; len];
    let e = open_chunk_range_into(&k, len64, 0, &ct, &mut dst, &bad_tags).unwrap_err();
    assert!(matches!(e, Error::ChunkAuthentication { chunk: 5 }), "{e}");
    assert!(dst.iter().all(|b| *b == 0));

    // Tags swapped between chunks (reordering) fail too.
    let mut swapped = tags.clone();
    swapped.swap(0, 1);
    let mut dst = vec![0; 2 * CHUNK_SIZE];
    let e = open_chunk_range_into(&k, len64, 0, &ct[..2 * CHUNK_SIZE], &mut dst, &swapped[..2])
        .unwrap_err();
    assert!(matches!(e, Error::ChunkAuthentication { .. }), "{e}");

    // A wrong key, and a slice length that makes the full chunk 4 the final
    // one (truncation: the last-chunk flag no longer matches).
    let mut dst = vec![0; len];
    assert!(matches!(
        open_chunk_range_into(&key(11), len64, 0, &ct, &mut dst, &tags),
        Err(Error::ChunkAuthentication { .. })
    ));
    let mut dst = vec![0; CHUNK_SIZE];
    assert!(matches!(
        open_chunk_range_into(
            &k,
            5 * CHUNK_SIZE as u64,
            4,
            &ct[4 * CHUNK_SIZE..5 * CHUNK_SIZE],
            &mut dst,
            &tags[4..5]
        ),
        Err(Error::ChunkAuthentication { chunk: 4 })
    ));
}

#[test]
fn open_into_refuses_wrong_lengths_with_a_layout_error_and_writes_nothing() {
    let k = key(12);
    let len = 3 * CHUNK_SIZE + 9;
    let mut ct = data(len);
    let tags = seal_slice(&k, &mut ct).unwrap();
    let len64 = len as u64;
    let layout = |r: Result<(), Error>| matches!(r, Err(Error::ChunkLayout(_)));

    let mut dst = vec![0xAA; len];
    // dst shorter and longer than src.
    assert!(layout(open_chunk_range_into(
        &k,
        len64,
        0,
        &ct,
        &mut dst[..len - 1],
        &tags
    )));
    let mut long = vec![0xAA; len + 1];
    assert!(layout(open_chunk_range_into(
        &k, len64, 0, &ct, &mut long, &tags
    )));
    // src not matching the range (too short, too long, a partial chunk).
    assert!(layout(open_chunk_range_into(
        &k,
        len64,
        0,
        &ct[..len - 1],
        &mut dst[..len - 1],
        &tags
    )));
    assert!(layout(open_chunk_range_into(
        &k,
        len64,
        0,
        &ct[..10],
        &mut dst[..10],
        &tags[..1]
    )));
    // No tags, a range past the end, overflowing positions.
    assert!(layout(open_chunk_range_into(
        &k,
        len64,
        0,
        &ct,
        &mut dst,
        &[]
    )));
    assert!(layout(open_chunk_range_into(
        &k,
        len64,
        3,
        &ct[3 * CHUNK_SIZE..],
        &mut dst[..9],
        &tags[2..]
    )));
    assert!(layout(open_chunk_range_into(
        &k,
        len64,
        u64::MAX,
        &ct[..CHUNK_SIZE],
        &mut dst[..CHUNK_SIZE],
        &tags[..1]
    )));
    assert!(open_chunk_range_into(
        &k,
        u64::MAX,
        u64::MAX / CHUNK_SIZE as u64,
        &ct[..CHUNK_SIZE],
        &mut dst[..CHUNK_SIZE],
        &tags[..1]
    )
    .is_err());
    // Nothing was written by any refused request.
    assert!(dst.iter().all(|b| *b == 0xAA));
    assert!(long.iter().all(|b| *b == 0xAA));

    // The empty slice: one empty final chunk, and nothing else.
    let tags0 = seal_slice(&k, &mut []).unwrap();
    open_chunk_range_into(&k, 0, 0, &[], &mut [], &tags0).unwrap();
    assert!(matches!(
        open_chunk_range_into(&k, 0, 0, &[], &mut [], &tags[..1]),
        Err(Error::ChunkAuthentication { chunk: 0 })
    ));
    assert!(layout(open_chunk_range_into(&k, 0, 0, &[], &mut [], &[])));
}

/// A source that plays a concurrent writer: the first read of each chunk
/// sees the sealed ciphertext, every later read sees bytes the attacker chose
/// so that applying the same keystream to them yields `evil` plaintext.
struct RacingSource {
    genuine: Vec<u8>,
    rewritten: Vec<u8>,
    reads: Vec<std::sync::atomic::AtomicU32>,
    bytes_read: std::sync::atomic::AtomicUsize,
}

impl tensorseal_crypto::CiphertextSource for RacingSource {
    fn len(&self) -> usize {
        self.genuine.len()
    }

    fn copy_to(&self, offset: usize, dst: &mut [u8]) {
        use std::sync::atomic::Ordering;
        self.bytes_read.fetch_add(dst.len(), Ordering::SeqCst);
        let n = self.reads[offset / CHUNK_SIZE].fetch_add(1, Ordering::SeqCst);
        let from = if n == 0 {
            &self.genuine
        } else {
            &self.rewritten
        };
        dst.copy_from_slice(&from[offset..offset + dst.len()]);
    }
}

#[test]
fn each_ciphertext_chunk_is_read_once_and_a_racing_writer_never_yields_plaintext() {
    use std::sync::atomic::Ordering;
    use tensorseal_crypto::open_chunk_range_from;
    let k = key(12);
    let len = 3 * CHUNK_SIZE + 9;
    let plain = data(len);
    let mut ct = plain.clone();
    let tags = seal_slice(&k, &mut ct).unwrap();
    // ct = pt ^ ks, so ct ^ pt ^ evil = evil ^ ks decrypts (keystream only) to evil.
    let evil = vec![0x5A; len];
    let rewritten: Vec<u8> = (0..len).map(|i| ct[i] ^ plain[i] ^ evil[i]).collect();
    let src = RacingSource {
        genuine: ct.clone(),
        rewritten,
        reads: (0..4).map(|_| Default::default()).collect(),
        bytes_read: Default::default(),
    };
    let mut dst = vec![0u8; len];
    open_chunk_range_from(&k, len as u64, 0, &src, &mut dst, &tags).unwrap();
    assert!(dst == plain, "not the plaintext of the authenticated bytes");
    assert!(dst.chunks(CHUNK_SIZE).all(|c| c != &evil[..c.len()]));
    let reads: Vec<u32> = src.reads.iter().map(|r| r.load(Ordering::SeqCst)).collect();
    assert_eq!(reads, [1, 1, 1, 1], "every chunk read exactly once");
    assert_eq!(src.bytes_read.load(Ordering::SeqCst), len);

    // A writer that changed chunk 1 before the (only) read: refused, wiped.
    let mut early = ct.clone();
    early[CHUNK_SIZE + 3] ^= 0x80;
    let src = RacingSource {
        genuine: early,
        rewritten: ct,
        reads: (0..4).map(|_| Default::default()).collect(),
        bytes_read: Default::default(),
    };
    let mut dst = vec![0xAA; len];
    let e = open_chunk_range_from(&k, len as u64, 0, &src, &mut dst, &tags).unwrap_err();
    assert!(matches!(e, Error::ChunkAuthentication { chunk: 1 }), "{e}");
    assert!(dst.iter().all(|b| *b == 0));
}
