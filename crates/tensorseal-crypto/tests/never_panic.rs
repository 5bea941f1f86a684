//! Property tests: parsers of untrusted input never panic.

use std::sync::OnceLock;

use proptest::prelude::*;
use tensorseal_crypto::{
    open_chunk_range, open_chunk_range_into, parse_key, unwrap, RecipientSecretKey, Signature,
    SigningKey, SliceKey, Stanza, VerifyingKey, ENC_LEN, SIGNATURE_LEN, VERIFYING_KEY_LEN,
};

fn valid_texts() -> &'static Vec<String> {
    static T: OnceLock<Vec<String>> = OnceLock::new();
    T.get_or_init(|| {
        let s = SigningKey::from_bytes(&[5; 64]).unwrap();
        let r = RecipientSecretKey::from_bytes(&[6; 32]).unwrap();
        vec![
            s.to_text().to_string(),
            s.verifying_key().to_text(),
            r.to_text().to_string(),
            r.public_key().to_text(),
        ]
    })
}

fn identity() -> &'static RecipientSecretKey {
    static K: OnceLock<RecipientSecretKey> = OnceLock::new();
    K.get_or_init(|| RecipientSecretKey::from_bytes(&[7; 32]).unwrap())
}

fn verifier() -> &'static VerifyingKey {
    static K: OnceLock<VerifyingKey> = OnceLock::new();
    K.get_or_init(|| {
        SigningKey::from_bytes(&[8; 64])
            .unwrap()
            .verifying_key()
            .clone()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn parse_key_arbitrary_text(s in ".{0,400}") {
        let _ = parse_key(&s);
    }

    #[test]
    fn parse_key_armor_like_text(
        label in prop::sample::select(vec!["TENSORSEAL SIGNER SECRET KEY", "TENSORSEAL SIGNER PUBLIC KEY", "X"]),
        body in "[A-Za-z0-9+/=#\\n -]{0,300}",
        end in any::<bool>(),
    ) {
        let end = if end { format!("-----END {label}-----\n") } else { String::new() };
        let _ = parse_key(&format!("-----BEGIN {label}-----\n{body}\n{end}"));
    }

    #[test]
    fn parse_key_bech32_like_text(
        hrp in prop::sample::select(vec!["age1pq1", "AGE-SECRET-KEY-PQ-1", "age1", "x1"]),
        data in "[qpzry9x8gf2tvdw0s3jn54khce6mua7lQPZRY]{0,120}",
    ) {
        let _ = parse_key(&format!("{hrp}{data}"));
    }

    #[test]
    fn parse_key_mutated_valid_keys(
        which in 0usize..4,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        let mut bytes = valid_texts()[which].clone().into_bytes();
        for (idx, byte, op) in edits {
            if bytes.is_empty() { break; }
            let i = idx.index(bytes.len());
            match op {
                0 => bytes[i] = byte,
                1 => { bytes.remove(i); }
                _ => bytes.insert(i, byte),
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_key(&text);
    }

    #[test]
    fn stanza_from_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..1300)) {
        if let Ok(st) = Stanza::from_bytes(&bytes) {
            prop_assert_eq!(st.to_bytes(), bytes);
        } else {
            prop_assert!(bytes.len() < ENC_LEN + 16);
        }
    }

    #[test]
    fn signature_and_key_parsing(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = Signature::from_bytes(&bytes);
        let _ = VerifyingKey::from_bytes(&bytes);
        let _ = SliceKey::from_bytes(&bytes);
    }

    #[test]
    fn chunk_range_arbitrary_parameters(
        slice_len in any::<u64>(),
        first in any::<u64>(),
        buf_len in 0usize..200_000,
        ntags in 0usize..6,
    ) {
        let key = SliceKey::from_bytes(&[1; 32]).unwrap();
        let mut buf = vec![0u8; buf_len];
        let tags = vec![[0u8; 16]; ntags];
        prop_assert!(open_chunk_range(&key, slice_len, first, &mut buf, &tags).is_err());
    }

    #[test]
    fn chunk_range_into_arbitrary_parameters(
        slice_len in any::<u64>(),
        first in any::<u64>(),
        src_len in 0usize..200_000,
        dst_len in 0usize..200_000,
        ntags in 0usize..6,
    ) {
        let key = SliceKey::from_bytes(&[1; 32]).unwrap();
        let src = vec![0u8; src_len];
        let mut dst = vec![0u8; dst_len];
        let tags = vec![[0u8; 16]; ntags];
        prop_assert!(
            open_chunk_range_into(&key, slice_len, first, &src, &mut dst, &tags).is_err()
        );
    }
}

proptest! {
    // Expensive (X-Wing decapsulation / ML-DSA verification): fewer cases.
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn unwrap_arbitrary_stanza(seed in any::<u8>(), body_len in 0usize..64) {
        let enc: Vec<u8> = (0..ENC_LEN).map(|i| (i as u8).wrapping_mul(seed)).collect();
        let st = Stanza::new(&enc, vec![seed; body_len]).unwrap();
        prop_assert!(unwrap(identity(), b"info", &st).is_err());
    }

    #[test]
    fn verify_arbitrary_signature(seed in any::<u8>(), pk_seed in any::<u8>()) {
        let sig: Vec<u8> = (0..SIGNATURE_LEN).map(|i| (i as u8).wrapping_mul(seed) ^ seed).collect();
        let sig = Signature::from_bytes(&sig).unwrap();
        prop_assert!(verifier().verify(b"m", b"", &sig).is_err());
        let pk: Vec<u8> = (0..VERIFYING_KEY_LEN).map(|i| (i as u8).wrapping_add(pk_seed)).collect();
        if let Ok(vk) = VerifyingKey::from_bytes(&pk) {
            prop_assert!(vk.verify(b"m", b"", &sig).is_err());
        }
    }
}
