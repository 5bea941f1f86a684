//! Bounded work on hostile containers at the reader level.

use tensorseal::format::{Footer, RecipientBlock, FOOTER_LEN};
use tensorseal::seal::MAX_STANZAS_PER_IDENTITY;
use tensorseal::{
    sha256, Dtype, ErrorKind, Model, ModelInfo, OpenOptions, Policy, RecipientSecretKey,
    Verification, WriteOptions, Writer,
};

#[test]
fn an_identity_is_tried_on_a_bounded_number_of_stanzas() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.tseal");
    let owner = RecipientSecretKey::generate_os().unwrap();
    let info = ModelInfo {
        model_id: "e".into(),
        version: 1,
        ..ModelInfo::default()
    };
    let opts = WriteOptions {
        recipients: vec![owner.public_key().clone()],
        ..WriteOptions::default()
    };
    let mut w = Writer::create(&path, info, opts).unwrap();
    w.add("w", Dtype::U8, &[3], &[1, 2, 3]).unwrap();
    w.finish().unwrap();

    // Anyone can append stanzas to an unsigned file's recipient block: here
    // copies of the real one with a broken body (each costs a decapsulation).
    let mut bytes = std::fs::read(&path).unwrap();
    let tail_at = bytes.len() - FOOTER_LEN as usize;
    let mut footer = Footer::decode(&bytes[tail_at..], bytes.len() as u64).unwrap();
    let r_at = footer.recipients_offset() as usize;
    let mut block = RecipientBlock::decode(&bytes[r_at..tail_at], r_at as u64).unwrap();
    let mut junk = block.stanzas[0].clone();
    junk.body[0] ^= 1;
    block.stanzas = vec![junk; MAX_STANZAS_PER_IDENTITY + 1];
    let rec = block.encode();
    let s_at = footer.signatures_offset() as usize;
    let mut h = bytes[s_at..r_at].to_vec();
    h.extend_from_slice(&rec);
    footer.recipients_len = rec.len() as u64;
    footer.blocks_sha256 = sha256(&h);
    bytes.truncate(r_at);
    bytes.extend_from_slice(&rec);
    bytes.extend_from_slice(&footer.encode());

    let stranger = RecipientSecretKey::generate_os().unwrap();
    let e = Model::from_bytes_with(
        &bytes,
        &Policy::allow_unsigned(),
        OpenOptions::new()
            .identity(stranger)
            .verification(Verification::Lazy),
    )
    .unwrap_err();
    match e.kind() {
        ErrorKind::StanzaLimit {
            identity: 0,
            stanzas,
            limit,
        } => {
            assert_eq!(*stanzas, MAX_STANZAS_PER_IDENTITY + 1);
            assert_eq!(*limit, MAX_STANZAS_PER_IDENTITY);
        }
        other => panic!("expected a stanza limit, got {other}"),
    }
    // Keyless, the same file opens: its recipient block is only parsed.
    Model::from_bytes(&bytes, &Policy::allow_unsigned(), Verification::Eager).unwrap();
}
