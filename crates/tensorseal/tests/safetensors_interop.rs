//! safetensors in and out: the shared fixture converts with every tensor byte-identical
//! and 64-byte aligned, and the export reads back exactly through the safetensors crate.

use std::path::{Path, PathBuf};

use safetensors::SafeTensors;
use tensorseal::{
    export_safetensors, import_safetensors, MetaValue, Model, ModelInfo, Policy, WriteOptions,
};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/fixtures/safetensors/small.safetensors")
}

#[test]
fn fixture_converts_exactly_and_exports_back() {
    let dir = tempfile::tempdir().unwrap();
    let sealed = dir.path().join("small.tseal");
    let src = std::fs::read(fixture()).unwrap();
    let st = SafeTensors::deserialize(&src).unwrap();
    let info = ModelInfo {
        model_id: "small".into(),
        version: 3,
        ..ModelInfo::default()
    };
    let m = import_safetensors(&fixture(), &sealed, info, WriteOptions::default()).unwrap();
    assert_eq!(m.tensors.len(), 3);

    let model = Model::open(&sealed, &Policy::allow_unsigned()).unwrap();
    for (name, view) in st.tensors() {
        let t = model.tensor(&name).unwrap();
        assert_eq!(t.dtype().name(), view.dtype().to_string());
        assert_eq!(
            t.shape(),
            view.shape().iter().map(|&d| d as u64).collect::<Vec<_>>()
        );
        assert_eq!(t.data(), view.data(), "{name}");
        assert_eq!(t.offset() % 64, 0);
    }
    let source = model.info().source.as_ref().unwrap();
    assert_eq!(source.format, "safetensors");
    assert_eq!(source.file_name, "small.safetensors");
    let meta: std::collections::HashMap<_, _> = model.info().metadata.iter().cloned().collect();
    assert_eq!(
        meta.get("model_name"),
        Some(&MetaValue::Str("risk_model".into()))
    );

    let out = dir.path().join("back.safetensors");
    export_safetensors(&model, &out, false).unwrap();
    let back_bytes = std::fs::read(&out).unwrap();
    let back = SafeTensors::deserialize(&back_bytes).unwrap();
    assert_eq!(back.len(), st.len());
    for (name, view) in st.tensors() {
        let b = back.tensor(&name).unwrap();
        assert_eq!(b.dtype(), view.dtype());
        assert_eq!(b.shape(), view.shape());
        assert_eq!(b.data(), view.data());
    }
    let (_, header) = SafeTensors::read_metadata(&back_bytes).unwrap();
    let (_, orig) = SafeTensors::read_metadata(&src).unwrap();
    assert_eq!(header.metadata(), orig.metadata(), "__metadata__ kept");

    // Refuses to overwrite without being asked, and leaves the file as it was.
    assert!(export_safetensors(&model, &out, false).is_err());
    assert_eq!(std::fs::read(&out).unwrap(), back_bytes);
}

#[test]
fn a_pickle_named_safetensors_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("x.safetensors");
    std::fs::write(
        &fake,
        b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00cos\nsystem\n.",
    )
    .unwrap();
    let out = dir.path().join("x.tseal");
    let e =
        import_safetensors(&fake, &out, ModelInfo::default(), WriteOptions::default()).unwrap_err();
    assert!(e.to_string().contains("x.safetensors"), "{e}");
    assert!(!out.exists());
}
