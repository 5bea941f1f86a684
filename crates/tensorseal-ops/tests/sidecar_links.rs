//! A sidecar path that is the signed file itself is refused with a clear
//! error, and the model is left byte-identical.

use tensorseal_crypto::SigningKey;
use tensorseal_ops::{sign_file, SignOptions};

#[cfg(unix)]
#[test]
fn a_sidecar_linked_to_the_model_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let model = d.path().join("m.npy");
    // A benign .npy: header then four f32 zeros.
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let mut header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }".to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&[0u8; 16]);
    std::fs::write(&model, &bytes).unwrap();
    let key = SigningKey::generate_os().unwrap();
    for link in ["symlink", "hard"] {
        let sidecar = d.path().join("m.npy.sig.json");
        let _ = std::fs::remove_file(&sidecar);
        if link == "symlink" {
            std::os::unix::fs::symlink(&model, &sidecar).unwrap();
        } else {
            std::fs::hard_link(&model, &sidecar).unwrap();
        }
        let opts = SignOptions {
            model_id: Some("m".into()),
            ..SignOptions::default()
        };
        let e = sign_file(&model, &key, &opts).unwrap_err();
        assert!(e.to_string().contains("signed file itself"), "{link}: {e}");
        assert_eq!(std::fs::read(&model).unwrap(), bytes, "{link}");
    }
}
