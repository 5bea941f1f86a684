//! Composite ML-DSA-65 + Ed25519 signatures: LAMPS known-answer vector,
//! round trips and tamper tests.

use tensorseal_crypto::{
    Error, Signature, SigningKey, VerifyingKey, SIGNATURE_LEN, SIGNING_KEY_LEN, VERIFYING_KEY_LEN,
};

fn field(name: &str) -> Vec<u8> {
    let text = include_str!("vectors/composite-mldsa65-ed25519.hex");
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("vector field {name} missing"));
    hex::decode(line.trim()).expect("hex")
}

#[test]
fn lamps_vector() {
    let (m, ctx, pk, sk) = (field("m"), field("ctx"), field("pk"), field("sk"));
    let (s, s_ctx) = (field("s"), field("sWithContext"));
    assert_eq!(pk.len(), VERIFYING_KEY_LEN);
    assert_eq!(sk.len(), SIGNING_KEY_LEN);
    assert_eq!(s.len(), SIGNATURE_LEN);

    // The public key derives from the secret key.
    let signer = SigningKey::from_bytes(&sk).unwrap();
    assert_eq!(signer.verifying_key().as_bytes().as_slice(), pk.as_slice());
    assert_eq!(signer.to_bytes().as_slice(), sk.as_slice());

    let vk = VerifyingKey::from_bytes(&pk).unwrap();
    let s = Signature::from_bytes(&s).unwrap();
    let s_ctx = Signature::from_bytes(&s_ctx).unwrap();
    vk.verify(&m, b"", &s).unwrap();
    vk.verify(&m, &ctx, &s_ctx).unwrap();

    // Contexts are bound.
    assert!(matches!(vk.verify(&m, &ctx, &s), Err(Error::BadSignature)));
    assert!(matches!(
        vk.verify(&m, b"", &s_ctx),
        Err(Error::BadSignature)
    ));
    // Messages are bound.
    let mut m2 = m.clone();
    m2[0] ^= 1;
    assert!(vk.verify(&m2, b"", &s).is_err());
    assert!(vk.verify(&[], b"", &s).is_err());

    // Fresh (hedged) signatures verify; Ed25519 is deterministic, so its half
    // must equal the vector's byte for byte, which pins M' exactly.
    for (c, vector) in [(&b""[..], &s), (&ctx[..], &s_ctx)] {
        let fresh = signer.sign(&m, c).unwrap();
        vk.verify(&m, c, &fresh).unwrap();
        assert_eq!(
            fresh.as_bytes()[SIGNATURE_LEN - 64..],
            vector.as_bytes()[SIGNATURE_LEN - 64..]
        );
    }
}

#[test]
fn every_single_bit_flip_of_a_signature_is_refused() {
    let vk = VerifyingKey::from_bytes(&field("pk")).unwrap();
    let m = field("m");
    let good = field("s");
    std::thread::scope(|scope| {
        let halves = [0..good.len() / 2, good.len() / 2..good.len()];
        for range in halves {
            let (vk, m, good) = (&vk, &m, &good);
            scope.spawn(move || {
                let mut bytes = good.clone();
                for i in range {
                    for bit in 0..8 {
                        bytes[i] ^= 1 << bit;
                        let sig = Signature::from_bytes(&bytes).unwrap();
                        assert!(vk.verify(m, b"", &sig).is_err(), "flip {i}:{bit} accepted");
                        bytes[i] ^= 1 << bit;
                    }
                }
            });
        }
    });
}

#[test]
fn round_trip_and_lengths() {
    let mut rng = tensorseal_crypto::os_rng();
    let a = SigningKey::generate(&mut rng);
    let b = SigningKey::generate(&mut rng);
    let sig = a.sign(b"hello", b"ctx").unwrap();
    a.verifying_key().verify(b"hello", b"ctx", &sig).unwrap();
    assert!(b.verifying_key().verify(b"hello", b"ctx", &sig).is_err());

    let again = SigningKey::from_bytes(a.to_bytes().as_slice()).unwrap();
    assert_eq!(again.verifying_key(), a.verifying_key());
    let vk = VerifyingKey::from_bytes(a.verifying_key().as_bytes()).unwrap();
    vk.verify(b"hello", b"ctx", &sig).unwrap();
    assert_eq!(Signature::from_bytes(sig.as_bytes()).unwrap(), sig);

    // Exact length checks.
    for n in [0, 63, 65] {
        assert!(matches!(
            SigningKey::from_bytes(&vec![0; n]),
            Err(Error::InvalidLength { expected: 64, .. })
        ));
    }
    for n in [0, VERIFYING_KEY_LEN - 1, VERIFYING_KEY_LEN + 1] {
        assert!(VerifyingKey::from_bytes(&vec![0; n]).is_err());
    }
    for n in [0, SIGNATURE_LEN - 1, SIGNATURE_LEN + 1] {
        assert!(Signature::from_bytes(&vec![0; n]).is_err());
    }

    // Contexts longer than 255 bytes are refused on both sides.
    let long = [0u8; 256];
    assert!(matches!(
        a.sign(b"x", &long),
        Err(Error::ContextTooLong(256))
    ));
    assert!(matches!(
        a.verifying_key().verify(b"x", &long, &sig),
        Err(Error::ContextTooLong(256))
    ));
    let max = [1u8; 255];
    let sig = a.sign(b"x", &max).unwrap();
    a.verifying_key().verify(b"x", &max, &sig).unwrap();
}

#[test]
fn small_order_ed25519_key_refused() {
    let mut pk = field("pk");
    // The identity point (y = 1) has small order.
    let n = pk.len();
    pk[n - 32..].fill(0);
    pk[n - 32] = 1;
    assert!(matches!(
        VerifyingKey::from_bytes(&pk),
        Err(Error::InvalidKey(_))
    ));
}

#[test]
fn debug_does_not_leak_secrets() {
    let sk = field("sk");
    let signer = SigningKey::from_bytes(&sk).unwrap();
    let dbg = format!("{signer:?}");
    assert!(!dbg.contains(&hex::encode(&sk[..8])));
    assert!(!dbg.contains(&hex::encode(&sk[32..40])));
    assert!(dbg.contains(&signer.fingerprint().to_string()));
}

#[test]
fn fingerprints() {
    let vk = VerifyingKey::from_bytes(&field("pk")).unwrap();
    let fp = vk.fingerprint();
    let s = fp.to_string();
    assert_eq!(s.len(), 64);
    assert!(s
        .bytes()
        .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
    assert_eq!(fp.short(), s[..16]);
    assert_eq!(tensorseal_crypto::Fingerprint::from_hex(&s), Some(fp));
    assert_eq!(
        tensorseal_crypto::Fingerprint::from_hex(&s.to_uppercase()),
        Some(fp)
    );
    assert_eq!(tensorseal_crypto::Fingerprint::from_hex(&s[1..]), None);
    assert_eq!(tensorseal_crypto::Fingerprint::from_hex("zz"), None);
    assert_eq!(
        tensorseal_crypto::Fingerprint::from_hex(&"é".repeat(32)),
        None
    );
}
