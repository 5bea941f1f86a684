//! Known-answer test against the age test kit's `hybrid` vector (C2SP CCTV).
//!
//! Lives inside the crate because the age payload key is a raw
//! ChaCha20-Poly1305 key, while the public chunk API takes a [`SliceKey`]
//! (whose AEAD key is derived); both go through the same STREAM functions.

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::stream::{open_chunk_raw, seal_chunk_raw, CHUNK_SIZE, TAG_LEN};
use crate::{labels, unwrap, RecipientSecretKey, Stanza};

fn field(name: &str) -> Vec<u8> {
    let text = include_str!("../tests/vectors/age-mlkem768x25519.hex");
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("vector field {name} missing"));
    hex::decode(line.trim()).expect("hex")
}

#[test]
fn age_hybrid_vector_opens() {
    let sk = RecipientSecretKey::from_bytes(&field("sk")).unwrap();
    let stanza = Stanza::new(&field("enc"), field("body")).unwrap();
    let file_key = unwrap(&sk, labels::AGE_MLKEM768X25519_INFO.as_bytes(), &stanza).unwrap();
    assert_eq!(file_key.as_slice(), field("filekey").as_slice());

    // Our own label must not open age's stanza (domain separation).
    assert!(unwrap(&sk, labels::RECIPIENT_INFO.as_bytes(), &stanza).is_err());

    // Header MAC: HMAC-SHA256(HKDF(ikm = file key, salt = "", info = "header"), hdr).
    let mut mac_key = [0u8; 32];
    Hkdf::<Sha256>::new(Some(b""), &file_key)
        .expand(b"header", &mut mac_key)
        .unwrap();
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&mac_key).unwrap();
    mac.update(&field("hdr"));
    assert_eq!(
        mac.finalize().into_bytes().as_slice(),
        field("mac").as_slice()
    );

    // Payload: 16-byte nonce, then STREAM chunks with attached tags.
    let payload = field("payload");
    let (nonce, mut rest) = payload.split_at(16);
    let mut key = [0u8; 32];
    Hkdf::<Sha256>::new(Some(nonce), &file_key)
        .expand(b"payload", &mut key)
        .unwrap();
    let mut plaintext = Vec::new();
    let mut counter = 0u64;
    loop {
        let take = rest.len().min(CHUNK_SIZE + TAG_LEN);
        let (chunk, tail) = rest.split_at(take);
        let last = tail.is_empty();
        let (ct, tag) = chunk.split_at(chunk.len() - TAG_LEN);
        let mut buf = ct.to_vec();
        let tag: [u8; TAG_LEN] = tag.try_into().unwrap();
        // The wrong last-chunk flag must fail.
        assert!(open_chunk_raw(&key, counter, !last, &mut buf.clone(), &tag).is_err());
        open_chunk_raw(&key, counter, last, &mut buf, &tag).unwrap();
        // Re-sealing reproduces age's tag byte for byte.
        let mut again = buf.clone();
        assert_eq!(
            seal_chunk_raw(&key, counter, last, &mut again).unwrap(),
            tag
        );
        assert_eq!(again, ct);
        plaintext.extend_from_slice(&buf);
        counter += 1;
        rest = tail;
        if last {
            break;
        }
    }
    assert_eq!(
        Sha256::digest(&plaintext).as_slice(),
        field("payloadsha").as_slice()
    );
}
