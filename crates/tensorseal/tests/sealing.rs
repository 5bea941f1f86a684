//! Signatures, trust policy, rollback state, encryption and grants.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use tensorseal::format::{Footer, Manifest, RecipientBlock, FOOTER_LEN};
use tensorseal::{
    grant_file, sha256, sign_file, Dtype, ErrorKind, Model, ModelInfo, OpenOptions, Policy,
    RecipientSecretKey, SigningKey, SlicePolicy, TrustStore, Verification, WriteOptions, Writer,
};

struct Keys {
    signer: Arc<SigningKey>,
    other_signer: Arc<SigningKey>,
    owner: RecipientSecretKey,
    worker: RecipientSecretKey,
    stranger: RecipientSecretKey,
}

fn keys() -> Keys {
    Keys {
        signer: Arc::new(SigningKey::generate_os().unwrap()),
        other_signer: Arc::new(SigningKey::generate_os().unwrap()),
        owner: RecipientSecretKey::generate_os().unwrap(),
        worker: RecipientSecretKey::generate_os().unwrap(),
        stranger: RecipientSecretKey::generate_os().unwrap(),
    }
}

fn tensors() -> Vec<(&'static str, Dtype, Vec<u64>, Vec<u8>)> {
    let big: Vec<u8> = (0..200_003u32).map(|i| (i * 7 + 3) as u8).collect();
    vec![
        ("embed.weight", Dtype::F32, vec![4, 3], f32s(12, 1.0)),
        ("layers.0.weight", Dtype::U8, vec![200_003], big),
        ("layers.0.bias", Dtype::F32, vec![5], f32s(5, -2.0)),
        ("empty", Dtype::F32, vec![0], vec![]),
        ("lm_head.weight", Dtype::F32, vec![2, 2], f32s(4, 0.5)),
    ]
}

fn f32s(n: usize, scale: f32) -> Vec<u8> {
    (0..n)
        .flat_map(|i| (i as f32 * scale).to_le_bytes())
        .collect()
}

fn info(version: u64) -> ModelInfo {
    ModelInfo {
        model_id: "sealed".into(),
        version,
        ..ModelInfo::default()
    }
}

fn write(
    dir: &Path,
    name: &str,
    info: ModelInfo,
    opts: WriteOptions,
    data: &[(&str, Dtype, Vec<u64>, Vec<u8>)],
) -> PathBuf {
    let path = dir.join(name);
    let mut w = Writer::create(&path, info, opts).unwrap();
    for (n, d, s, b) in data {
        w.add(n, *d, s, b).unwrap();
    }
    w.finish().unwrap();
    path
}

fn sealed_opts(k: &Keys, slicing: SlicePolicy) -> WriteOptions {
    WriteOptions {
        slicing,
        signers: vec![k.signer.clone()],
        recipients: vec![k.owner.public_key().clone()],
        ..WriteOptions::default()
    }
}

fn trust(keys: &[&SigningKey]) -> Policy {
    let mut t = TrustStore::new();
    for k in keys {
        t.add(k.verifying_key().clone());
    }
    Policy::require_signature().trust(t)
}

fn with(id: &RecipientSecretKey) -> OpenOptions {
    OpenOptions::new().identity(id.clone())
}

#[test]
fn signed_files_and_the_trust_policy() {
    let k = keys();
    let dir = tempfile::tempdir().unwrap();
    let opts = WriteOptions {
        signers: vec![k.signer.clone()],
        ..WriteOptions::default()
    };
    let signed = write(dir.path(), "s.tseal", info(1), opts, &tensors());
    let unsigned = write(
        dir.path(),
        "u.tseal",
        info(1),
        WriteOptions::default(),
        &tensors(),
    );

    let m = Model::open(&signed, &trust(&[&k.signer])).unwrap();
    assert_eq!(m.signers().len(), 1);
    assert!(m.signers()[0].trusted);
    assert_eq!(m.signers()[0].fingerprint, k.signer.fingerprint());
    assert_eq!(
        m.tensor("embed.weight").unwrap().data(),
        &tensors()[0].3[..]
    );

    // Untrusted signer, unsigned under a trust policy, threshold.
    let e = Model::open(&signed, &trust(&[&k.other_signer])).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::UntrustedSigners { found, .. } if found == &vec![k.signer.fingerprint()]),
        "{e}"
    );
    assert!(e.to_string().contains(&k.signer.fingerprint().to_string()));
    let e = Model::open(&unsigned, &trust(&[&k.signer])).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Unsigned { required: 1, .. }),
        "{e}"
    );
    let two = trust(&[&k.signer, &k.other_signer]).threshold(2);
    let e = Model::open(&signed, &two).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::ThresholdNotMet { required: 2, .. }),
        "{e}"
    );
    // allow_unsigned waives trust, not verification.
    assert!(Model::open(&signed, &Policy::allow_unsigned()).is_ok());

    // Counter-signing leaves the data untouched and meets the threshold.
    let before = std::fs::read(&signed).unwrap();
    sign_file(&signed, &k.other_signer).unwrap();
    let after = std::fs::read(&signed).unwrap();
    let f = Footer::decode(
        &before[before.len() - FOOTER_LEN as usize..],
        before.len() as u64,
    )
    .unwrap();
    let keep = (f.manifest_offset + f.manifest_len) as usize;
    assert_eq!(before[..keep], after[..keep]);
    let m = Model::open(&signed, &two).unwrap();
    assert_eq!(m.signers().len(), 2);
    let e = sign_file(&signed, &k.other_signer).unwrap_err();
    assert!(e.to_string().contains("already signed"), "{e}");
}

#[test]
fn encrypted_round_trip_keyless_and_with_identity() {
    let k = keys();
    let dir = tempfile::tempdir().unwrap();
    for (i, slicing) in [
        SlicePolicy::PerTensor,
        SlicePolicy::MaxBytes(300_000),
        SlicePolicy::Manual,
    ]
    .into_iter()
    .enumerate()
    {
        let path = write(
            dir.path(),
            &format!("e{i}.tseal"),
            info(1),
            sealed_opts(&k, slicing),
            &tensors(),
        );
        let policy = trust(&[&k.signer]);
        // Keyless: structure, signature and every slice digest check out.
        let m = Model::open(&path, &policy).unwrap();
        assert!(m.is_encrypted());
        assert!(!m.is_readable(0));
        let e = m.tensor("embed.weight").unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Encrypted(_)), "{e}");
        // The ciphertext is not the plaintext.
        let bytes = std::fs::read(&path).unwrap();
        let t = &m.manifest().tensors[1];
        assert_ne!(
            &bytes[t.offset as usize..(t.offset + t.length) as usize],
            &tensors()[1].3[..]
        );
        // With the identity: exact tensors, aligned, owned.
        for mode in [
            tensorseal::ReadMode::MapAcceptingWriters,
            tensorseal::ReadMode::Copy,
        ] {
            let m = Model::open_with(
                &path,
                &policy,
                with(&k.owner)
                    .read_mode(mode)
                    .verification(Verification::Lazy),
            )
            .unwrap();
            for (n, d, s, b) in tensors() {
                let v = m.tensor(n).unwrap();
                assert_eq!(v.data(), &b[..], "{n}");
                assert_eq!(v.dtype(), d);
                assert_eq!(v.shape(), &s[..]);
                assert!(v.is_decrypted());
                assert_eq!(v.data().as_ptr() as usize % 64, 0, "{n}");
            }
            let w = m.tensor("embed.weight").unwrap();
            assert_eq!(w.as_slice::<f32>().unwrap()[2], 2.0);
        }
        // A wrong identity is refused at open.
        let e = Model::open_with(&path, &policy, with(&k.stranger)).unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::NoMatchingIdentity { .. }),
            "{e}"
        );
    }
}

#[test]
fn grants_give_exactly_their_slices() {
    let k = keys();
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "g.tseal",
        info(1),
        sealed_opts(&k, SlicePolicy::PerTensor),
        &tensors(),
    );
    let policy = trust(&[&k.signer]);
    let g = grant_file(
        &path,
        std::slice::from_ref(&k.owner),
        k.worker.public_key(),
        "embed.*",
    )
    .unwrap();
    assert_eq!(g.tensors, vec!["embed.weight".to_string()]);
    // The signature still verifies; the worker reads embed.weight and nothing else.
    let m = Model::open_with(&path, &policy, with(&k.worker)).unwrap();
    assert_eq!(
        m.tensor("embed.weight").unwrap().data(),
        &tensors()[0].3[..]
    );
    assert!(m.is_readable(0));
    assert!(!m.is_readable(1));
    for n in [
        "layers.0.weight",
        "layers.0.bias",
        "lm_head.weight",
        "empty",
    ] {
        let e = m.tensor(n).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::NotGranted(_)), "{n}: {e}");
    }
    let out = dir.path().join("x.safetensors");
    assert!(tensorseal::export_safetensors(&m, &out, false).is_err());
    assert!(!out.exists());
    // The owner still reads everything (and the header MAC covers the new stanza).
    let m = Model::open_with(&path, &policy, with(&k.owner)).unwrap();
    assert!(m.tensors().all(|t| t.is_ok()));
    // A grant recipient cannot grant (it has no file key).
    let e = grant_file(
        &path,
        std::slice::from_ref(&k.worker),
        k.stranger.public_key(),
        "*",
    )
    .unwrap_err();
    assert!(e.to_string().contains("file key"), "{e}");
    // Mixed slices are refused.
    let grouped = write(
        dir.path(),
        "grouped.tseal",
        info(1),
        sealed_opts(&k, SlicePolicy::Manual),
        &tensors(),
    );
    let e = grant_file(
        &grouped,
        std::slice::from_ref(&k.owner),
        k.worker.public_key(),
        "embed.*",
    )
    .unwrap_err();
    assert!(e.to_string().contains("per-tensor"), "{e}");
    let e = grant_file(
        &path,
        std::slice::from_ref(&k.owner),
        k.worker.public_key(),
        "nothing*",
    )
    .unwrap_err();
    assert!(e.to_string().contains("no tensor matches"), "{e}");
}

#[test]
fn expiry() {
    let k = keys();
    let dir = tempfile::tempdir().unwrap();
    let opts = || WriteOptions {
        signers: vec![k.signer.clone()],
        ..WriteOptions::default()
    };
    let data = tensors();
    // Expiry comes from the signed statement, checked before the manifest is parsed.
    let exp = write(
        dir.path(),
        "exp.tseal",
        ModelInfo {
            expires: Some(1_000),
            ..info(4)
        },
        opts(),
        &data,
    );
    let e = Model::open(&exp, &trust(&[&k.signer])).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Expired { expires: 1000, .. }),
        "{e}"
    );
    Model::open(&exp, &trust(&[&k.signer]).at_time(999)).unwrap();
}

/// Rewrites a file's tail with a new manifest and recipient block, fixing the
/// footer digests, so that only the cryptographic checks can catch the change.
fn retail(bytes: &[u8], manifest: Option<Vec<u8>>, rec: Option<Vec<u8>>) -> Vec<u8> {
    let f = Footer::decode(
        &bytes[bytes.len() - FOOTER_LEN as usize..],
        bytes.len() as u64,
    )
    .unwrap();
    let m_at = f.manifest_offset as usize;
    let s_at = f.signatures_offset() as usize;
    let r_at = f.recipients_offset() as usize;
    let t_at = bytes.len() - FOOTER_LEN as usize;
    let manifest = manifest.unwrap_or_else(|| bytes[m_at..s_at].to_vec());
    let sigs = bytes[s_at..r_at].to_vec();
    let rec = rec.unwrap_or_else(|| bytes[r_at..t_at].to_vec());
    let mut out = bytes[..m_at].to_vec();
    out.extend_from_slice(&manifest);
    out.extend_from_slice(&sigs);
    out.extend_from_slice(&rec);
    let mut blocks = sigs.clone();
    blocks.extend_from_slice(&rec);
    let f2 = Footer {
        manifest_len: manifest.len() as u64,
        signatures_len: sigs.len() as u64,
        recipients_len: rec.len() as u64,
        manifest_sha256: sha256(&manifest),
        blocks_sha256: sha256(&blocks),
        ..f
    };
    out.extend_from_slice(&f2.encode());
    out
}

#[test]
fn commitment_mac_and_stanza_checks_come_before_decryption() {
    let k = keys();
    let dir = tempfile::tempdir().unwrap();
    let opts = WriteOptions {
        recipients: vec![k.owner.public_key().clone()],
        ..WriteOptions::default()
    };
    let path = write(dir.path(), "c.tseal", info(1), opts, &tensors());
    let bytes = std::fs::read(&path).unwrap();
    let open =
        |b: &[u8]| Model::from_bytes_with(b, &Policy::allow_unsigned(), with(&k.owner)).map(|_| ());
    open(&bytes).unwrap();
    let f = Footer::decode(
        &bytes[bytes.len() - FOOTER_LEN as usize..],
        bytes.len() as u64,
    )
    .unwrap();
    let m_at = f.manifest_offset as usize;
    let mbytes = &bytes[m_at..m_at + f.manifest_len as usize];
    let r_at = f.recipients_offset() as usize;
    let rbytes = &bytes[r_at..bytes.len() - FOOTER_LEN as usize];

    // A changed key commitment: caught right after unwrapping.
    let mut m = Manifest::decode(mbytes, 0, &Default::default()).unwrap();
    m.encryption.as_mut().unwrap().key_commitment[0] ^= 1;
    let e = open(&retail(&bytes, Some(m.encode()), None)).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::KeyCommitment(0)), "{e}");

    // A changed slice key commitment (the MAC is recomputed by nobody: caught by the MAC).
    let mut m = Manifest::decode(mbytes, 0, &Default::default()).unwrap();
    m.slices[0].encryption.as_mut().unwrap().key_commitment[0] ^= 1;
    let e = open(&retail(&bytes, Some(m.encode()), None)).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::HeaderMac), "{e}");

    // A changed header MAC.
    let mut r = RecipientBlock::decode(rbytes, 0).unwrap();
    r.header_mac[3] ^= 0x10;
    let e = open(&retail(&bytes, None, Some(r.encode()))).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::HeaderMac), "{e}");

    // A stanza of the wrong length: refused at parse, even keyless.
    let mut r = RecipientBlock::decode(rbytes, 0).unwrap();
    r.stanzas[0].body.push(0);
    let b = retail(&bytes, None, Some(r.encode()));
    let e = Model::from_bytes(&b, &Policy::allow_unsigned(), Verification::Eager).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::BadStanza { index: 0, .. }),
        "{e}"
    );
    let mut r = RecipientBlock::decode(rbytes, 0).unwrap();
    r.stanzas[0].enc.pop();
    let e = open(&retail(&bytes, None, Some(r.encode()))).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::BadStanza { index: 0, .. }),
        "{e}"
    );
    // A grant scope forged onto a file-key stanza does not open.
    let mut r = RecipientBlock::decode(rbytes, 0).unwrap();
    r.stanzas[0].scope = tensorseal::format::Scope::Slices(vec![0]);
    let e = open(&retail(&bytes, None, Some(r.encode()))).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::NoMatchingIdentity { .. }),
        "{e}"
    );
}

#[test]
fn signature_block_entry_points() {
    let k = keys();
    let dir = tempfile::tempdir().unwrap();
    let opts = WriteOptions {
        signers: vec![k.signer.clone(), k.other_signer.clone()],
        ..WriteOptions::default()
    };
    let path = write(dir.path(), "s.tseal", info(1), opts, &tensors());
    let bytes = std::fs::read(&path).unwrap();
    let f = Footer::decode(
        &bytes[bytes.len() - FOOTER_LEN as usize..],
        bytes.len() as u64,
    )
    .unwrap();
    let s = &bytes[f.signatures_offset() as usize..f.recipients_offset() as usize];
    let ok = tensorseal::verify_signature_block(s, 0, &f.manifest_sha256, (2, 0)).unwrap();
    assert_eq!(ok.len(), 2);
    for (digest, version) in [([0u8; 32], (2, 0)), (f.manifest_sha256, (2, 1))] {
        let e = tensorseal::verify_signature_block(s, 0, &digest, version).unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::BadSignature { index: 0, .. }),
            "{e}"
        );
    }
    // One bad entry among good ones refuses the file, trusted or not.
    let mut b = bytes.clone();
    let last_sig_byte = f.recipients_offset() as usize - 1;
    b[last_sig_byte] ^= 1;
    let b = retail(&b, None, None);
    let e = Model::from_bytes(&b, &Policy::allow_unsigned(), Verification::Eager).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::BadSignature { index: 1, .. }),
        "{e}"
    );
    assert!(tensorseal::parse_recipient_block(&[1, 2, 3], 0).is_err());
}

fn small_sealed(k: &Keys, dir: &Path) -> Vec<u8> {
    let data = vec![
        ("a", Dtype::F32, vec![3], f32s(3, 1.0)),
        ("b", Dtype::U8, vec![5], vec![1, 2, 3, 4, 5]),
    ];
    let path = write(
        dir,
        "small.tseal",
        info(1),
        sealed_opts(k, SlicePolicy::PerTensor),
        &data,
    );
    std::fs::read(path).unwrap()
}

#[test]
fn every_bit_flip_and_truncation_of_a_signed_encrypted_file_is_refused() {
    let k = keys();
    let dir = tempfile::tempdir().unwrap();
    let bytes = small_sealed(&k, dir.path());
    let policy = trust(&[&k.signer]);
    let keyless = |b: &[u8]| Model::from_bytes(b, &policy, Verification::Eager).map(|_| ());
    keyless(&bytes).unwrap();
    // Bytes in parallel (each check verifies a composite signature).
    (0..bytes.len()).into_par_iter().for_each(|i| {
        let mut b = bytes.clone();
        for bit in 0..8 {
            b[i] ^= 1 << bit;
            assert!(
                keyless(&b).is_err(),
                "flip of bit {bit} of byte {i} accepted"
            );
            b[i] ^= 1 << bit;
        }
    });
    (0..bytes.len()).into_par_iter().for_each(|len| {
        assert!(
            keyless(&bytes[..len]).is_err(),
            "truncation to {len} accepted"
        );
    });
    // With the identity, reading every tensor: one flip per byte.
    let keyed = |b: &[u8]| -> tensorseal::Result<()> {
        let m = Model::from_bytes_with(b, &policy, with(&k.owner))?;
        for t in m.tensors() {
            t?;
        }
        Ok(())
    };
    keyed(&bytes).unwrap();
    (0..bytes.len()).into_par_iter().for_each(|i| {
        let mut b = bytes.clone();
        b[i] ^= 0x80 >> (i % 8);
        assert!(
            keyed(&b).is_err(),
            "flip at byte {i} accepted with identity"
        );
    });
}
