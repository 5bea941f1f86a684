//! X-Wing / HPKE recipient stanzas.

use tensorseal_crypto::{
    labels, unwrap, unwrap_file_key, wrap, wrap_file_key, Error, FileKey, RecipientPublicKey,
    RecipientSecretKey, Stanza, ENC_LEN, FILE_KEY_STANZA_BODY_LEN, RECIPIENT_PUBLIC_KEY_LEN,
};

const INFO: &[u8] = labels::RECIPIENT_INFO.as_bytes();

#[test]
fn wrap_unwrap_round_trip() {
    let mut rng = tensorseal_crypto::os_rng();
    let alice = RecipientSecretKey::generate(&mut rng);
    let bob = RecipientSecretKey::generate(&mut rng);
    assert_eq!(labels::RECIPIENT_INFO, "tensorseal/v1/x-wing");

    let st = wrap(alice.public_key(), INFO, b"secret material", &mut rng).unwrap();
    assert_eq!(st.enc.len(), ENC_LEN);
    assert_eq!(st.body.len(), 15 + 16);
    assert_eq!(
        unwrap(&alice, INFO, &st).unwrap().as_slice(),
        b"secret material"
    );
    assert!(matches!(unwrap(&bob, INFO, &st), Err(Error::UnwrapFailed)));
    assert!(matches!(
        unwrap(&alice, labels::AGE_MLKEM768X25519_INFO.as_bytes(), &st),
        Err(Error::UnwrapFailed)
    ));

    // Serialization.
    let parsed = Stanza::from_bytes(&st.to_bytes()).unwrap();
    assert_eq!(parsed, st);

    // File keys: fixed 48-byte body.
    let fk = FileKey::generate(&mut rng);
    let st = wrap_file_key(alice.public_key(), &fk, &mut rng).unwrap();
    assert_eq!(st.body.len(), FILE_KEY_STANZA_BODY_LEN);
    assert_eq!(
        unwrap_file_key(&alice, &st).unwrap().as_bytes(),
        fk.as_bytes()
    );
    assert!(unwrap_file_key(&bob, &st).is_err());

    // Keys survive their byte encodings.
    let again = RecipientSecretKey::from_bytes(alice.to_bytes().as_slice()).unwrap();
    assert_eq!(again.public_key(), alice.public_key());
    let pk = RecipientPublicKey::from_bytes(alice.public_key().as_bytes()).unwrap();
    assert_eq!(&pk, alice.public_key());
    assert_eq!(pk.fingerprint(), alice.fingerprint());
}

#[test]
fn lengths_are_refused_before_decapsulation() {
    let mut rng = tensorseal_crypto::os_rng();
    let alice = RecipientSecretKey::generate(&mut rng);
    let fk = FileKey::generate(&mut rng);
    let st = wrap_file_key(alice.public_key(), &fk, &mut rng).unwrap();

    for n in [0, ENC_LEN - 1, ENC_LEN + 1, 2 * ENC_LEN] {
        assert!(matches!(
            Stanza::new(&vec![0; n], st.body.clone()),
            Err(Error::InvalidLength {
                expected: ENC_LEN,
                ..
            })
        ));
    }
    assert!(Stanza::from_bytes(&[0; ENC_LEN + 15]).is_err());
    assert!(Stanza::from_bytes(&[]).is_err());

    for n in [47usize, 49, 0, 16] {
        let mut bad = st.clone();
        bad.body.resize(n, 0);
        assert!(matches!(
            unwrap_file_key(&alice, &bad),
            Err(Error::InvalidLength {
                expected: FILE_KEY_STANZA_BODY_LEN,
                ..
            })
        ));
    }
    let mut short = st.clone();
    short.body.truncate(15);
    assert!(matches!(
        unwrap(&alice, INFO, &short),
        Err(Error::InvalidLength { .. })
    ));

    for n in [
        0,
        RECIPIENT_PUBLIC_KEY_LEN - 1,
        RECIPIENT_PUBLIC_KEY_LEN + 1,
    ] {
        assert!(RecipientPublicKey::from_bytes(&vec![0; n]).is_err());
    }
    assert!(RecipientSecretKey::from_bytes(&[0; 31]).is_err());
    assert!(RecipientSecretKey::from_bytes(&[0; 33]).is_err());
}

#[test]
fn every_single_bit_flip_of_a_stanza_is_refused() {
    let mut rng = tensorseal_crypto::os_rng();
    let alice = RecipientSecretKey::generate(&mut rng);
    let fk = FileKey::generate(&mut rng);
    let good = wrap_file_key(alice.public_key(), &fk, &mut rng)
        .unwrap()
        .to_bytes();
    std::thread::scope(|scope| {
        for range in [0..good.len() / 2, good.len() / 2..good.len()] {
            let (alice, good) = (&alice, &good);
            scope.spawn(move || {
                let mut bytes = good.clone();
                for i in range {
                    for bit in 0..8 {
                        bytes[i] ^= 1 << bit;
                        let st = Stanza::from_bytes(&bytes).unwrap();
                        assert!(
                            unwrap_file_key(alice, &st).is_err(),
                            "flip {i}:{bit} accepted"
                        );
                        bytes[i] ^= 1 << bit;
                    }
                }
            });
        }
    });
}

#[test]
fn debug_does_not_leak_secrets() {
    let alice = RecipientSecretKey::from_bytes(&[0x42; 32]).unwrap();
    let dbg = format!("{alice:?}");
    assert!(!dbg.contains("4242"));
    assert!(!dbg.contains("66, 66"));
}

/// An RNG that yields `ok` bytes, then fails.
struct FailsAfter {
    ok: usize,
}

#[derive(Debug)]
struct NoEntropy;

impl std::fmt::Display for NoEntropy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no entropy")
    }
}

impl std::error::Error for NoEntropy {}

impl tensorseal_crypto::rand_core::TryRng for FailsAfter {
    type Error = NoEntropy;

    fn try_next_u32(&mut self) -> Result<u32, NoEntropy> {
        tensorseal_crypto::rand_core::utils::next_word_via_fill(self)
    }

    fn try_next_u64(&mut self) -> Result<u64, NoEntropy> {
        tensorseal_crypto::rand_core::utils::next_word_via_fill(self)
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), NoEntropy> {
        if dst.len() > self.ok {
            self.ok = 0;
            return Err(NoEntropy);
        }
        self.ok -= dst.len();
        dst.fill(0x5A);
        Ok(())
    }
}

impl tensorseal_crypto::rand_core::TryCryptoRng for FailsAfter {}

#[test]
fn a_failing_rng_is_a_typed_error_not_a_panic() {
    let alice = RecipientSecretKey::generate(&mut tensorseal_crypto::os_rng());
    for ok in [0, 1, 16, 32, 63] {
        let r = tensorseal_crypto::try_wrap(alice.public_key(), INFO, b"k", &mut FailsAfter { ok });
        assert!(matches!(r, Err(Error::Rng)), "ok = {ok}: {r:?}");
    }
    // Enough randomness: the stanza opens.
    let st = tensorseal_crypto::try_wrap(
        alice.public_key(),
        INFO,
        b"k",
        &mut FailsAfter { ok: 1 << 20 },
    )
    .unwrap();
    assert_eq!(&unwrap(&alice, INFO, &st).unwrap()[..], b"k");
    let st = tensorseal_crypto::wrap_os(alice.public_key(), INFO, b"os").unwrap();
    assert_eq!(&unwrap(&alice, INFO, &st).unwrap()[..], b"os");
}
