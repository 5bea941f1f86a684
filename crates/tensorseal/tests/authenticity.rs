//! Decrypting proves integrity, not origin: only a trusted signature makes a
//! file's contents authentic, and the library says which one it was.

use std::path::Path;
use std::sync::Arc;

use tensorseal::format::{Footer, Manifest, FOOTER_LEN};
use tensorseal::{
    grant_file, sha256, Authenticity, Dtype, ErrorKind, Model, ModelInfo, OpenOptions, Policy,
    RecipientSecretKey, SigningKey, TrustStore, WriteOptions, Writer,
};

fn write(path: &Path, opts: WriteOptions) {
    let info = ModelInfo {
        model_id: "auth".into(),
        version: 1,
        ..ModelInfo::default()
    };
    let mut w = Writer::create(path, info, opts).unwrap();
    w.add("a", Dtype::F32, &[2], bytemuck::cast_slice(&[1.0f32, 2.0]))
        .unwrap();
    w.add("b", Dtype::F32, &[1], bytemuck::cast_slice(&[3.0f32]))
        .unwrap();
    w.finish().unwrap();
}

/// What anyone can do to an unsigned file: rewrite its manifest (here: rename,
/// retype and reshape tensor "a"), then fix the footer's digest.
fn rename_and_reshape(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let tail_at = bytes.len() - FOOTER_LEN as usize;
    let mut footer = Footer::decode(&bytes[tail_at..], bytes.len() as u64).unwrap();
    let m_at = footer.manifest_offset as usize;
    let m_end = m_at + footer.manifest_len as usize;
    let mut m = Manifest::decode(&bytes[m_at..m_end], m_at as u64, &Default::default()).unwrap();
    m.tensors[0].name = "z".into();
    m.tensors[0].dtype = Dtype::F16;
    m.tensors[0].shape = vec![4];
    let enc = m.encode();
    assert_eq!(enc.len(), m_end - m_at, "same length, same layout");
    bytes[m_at..m_end].copy_from_slice(&enc);
    footer.manifest_sha256 = sha256(&enc);
    bytes[tail_at..].copy_from_slice(&footer.encode());
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_grant_holder_of_an_unsigned_file_is_not_told_its_tensors_are_authentic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("u.tseal");
    let owner = RecipientSecretKey::generate_os().unwrap();
    let worker = RecipientSecretKey::generate_os().unwrap();
    write(
        &path,
        WriteOptions {
            recipients: vec![owner.public_key().clone()],
            ..WriteOptions::default()
        },
    );
    grant_file(
        &path,
        std::slice::from_ref(&owner),
        worker.public_key(),
        "a",
    )
    .unwrap();
    let open = |id: &RecipientSecretKey| {
        Model::open_with(
            &path,
            &Policy::allow_unsigned(),
            OpenOptions::new().identity(id.clone()),
        )
    };
    let c = open(&owner).unwrap().checked();
    assert_eq!(c.authenticity, Authenticity::Unsigned);
    assert!(c.header_mac && !c.authenticated());
    assert!(c.summary().contains("not authenticated"), "{}", c.summary());

    rename_and_reshape(&path);
    // The whole-file recipient sees the change through the header MAC...
    let e = open(&owner).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::HeaderMac), "{e}");
    // ...a grant holder cannot: it decrypts the renamed, reshaped tensor, and
    // is told exactly that nothing vouches for names and shapes.
    let m = open(&worker).unwrap();
    let t = m.tensor("z").unwrap();
    assert_eq!((t.dtype(), t.shape()), (Dtype::F16, &[4u64][..]));
    let c = m.checked();
    assert_eq!(c.authenticity, Authenticity::Unsigned);
    assert!(!c.header_mac && !c.authenticated());
    let s = c.summary();
    assert!(s.contains("not authenticated"), "{s}");
    assert!(
        s.contains("names, shapes and metadata are not checked"),
        "{s}"
    );
}

#[test]
fn only_a_trusted_signature_authenticates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.tseal");
    let signer = SigningKey::generate_os().unwrap();
    let mut trust = TrustStore::new();
    trust.add(signer.verifying_key().clone());
    write(
        &path,
        WriteOptions {
            signers: vec![Arc::new(signer)],
            ..WriteOptions::default()
        },
    );
    let c = Model::open(&path, &Policy::require_signature().trust(trust))
        .unwrap()
        .checked();
    assert_eq!(c.authenticity, Authenticity::Signed { trusted: 1 });
    assert!(c.authenticated());
    let c = Model::open(&path, &Policy::allow_unsigned())
        .unwrap()
        .checked();
    assert_eq!(c.authenticity, Authenticity::UntrustedSignatures);
    assert!(!c.authenticated());
    assert!(c.summary().contains("not authenticated"), "{}", c.summary());
}
