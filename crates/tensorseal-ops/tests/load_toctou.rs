//! `load_verified` returns the bytes it verified: a container is validated
//! from the one private read that was hashed, not mapped or re-read.

use std::io::{Seek, SeekFrom, Write};

use tensorseal::{Dtype, ModelInfo, WriteOptions, Writer};
use tensorseal_ops::{load_verified, Loaded, OpsPolicy};

#[test]
fn a_loaded_container_cannot_change_after_verification() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.tseal");
    let info = ModelInfo {
        model_id: "m".into(),
        version: 1,
        ..ModelInfo::default()
    };
    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 + 1) as u8).collect();
    let mut w = Writer::create(&path, info, WriteOptions::default()).unwrap();
    w.add("w", Dtype::U8, &[data.len() as u64], &data).unwrap();
    w.finish().unwrap();
    let policy = OpsPolicy {
        allow_unsigned: true,
        ..OpsPolicy::default()
    };
    let v = load_verified(&path, &policy).unwrap();
    let Loaded::Container(model) = &v.model else {
        panic!("not a container: {:?}", v.model);
    };
    let at = model.tensor("w").unwrap().offset();
    // Another process rewrites the tensor in place.
    let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(&[0xEE; 4096]).unwrap();
    f.sync_all().unwrap();
    drop(f);
    assert!(model.tensor("w").unwrap().data() == &data[..]);
    // The report's digest is of the very bytes the model holds.
    let hex: String = tensorseal::sha256(model.file_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(v.report.sha256.as_deref(), Some(hex.as_str()));
}
