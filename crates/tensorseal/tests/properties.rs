//! Properties: arbitrary tensor sets round-trip exactly; every single-byte change and
//! every truncation of a valid file is refused; arbitrary bytes never panic.

use proptest::prelude::*;
use tensorseal::{
    Dtype, Model, ModelInfo, Policy, SlicePolicy, Verification, WriteOptions, Writer,
};

type Spec = Vec<(Dtype, Vec<u64>, u8)>;

fn arb_tensor() -> impl Strategy<Value = (Dtype, Vec<u64>, u8)> {
    (
        proptest::sample::select(Dtype::ALL.to_vec()),
        proptest::collection::vec(0u64..5, 0..4),
        any::<u8>(),
    )
        .prop_map(|(d, mut shape, seed)| {
            // Sub-byte dtypes need a whole number of bytes: make the count even (F4)
            // or a multiple of four (F6).
            if d.bits() % 8 != 0 {
                shape.push(4);
            }
            (d, shape, seed)
        })
}

fn arb_slicing() -> impl Strategy<Value = SlicePolicy> {
    prop_oneof![
        Just(SlicePolicy::PerTensor),
        (1u64..300).prop_map(SlicePolicy::MaxBytes),
        Just(SlicePolicy::Manual),
    ]
}

fn data(d: Dtype, shape: &[u64], seed: u8) -> Vec<u8> {
    let n: u64 = shape.iter().product();
    let len = d.byte_len(n).unwrap() as usize;
    (0..len).map(|i| (i as u8) ^ seed).collect()
}

fn write(spec: &Spec, slicing: SlicePolicy) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.tseal");
    let info = ModelInfo {
        model_id: "prop".into(),
        version: 1,
        ..ModelInfo::default()
    };
    let mut w = Writer::create(
        &path,
        info,
        WriteOptions {
            slicing,
            overwrite: false,
            ..WriteOptions::default()
        },
    )
    .unwrap();
    for (i, (d, shape, seed)) in spec.iter().enumerate() {
        w.add(&format!("t{i}"), *d, shape, &data(*d, shape, *seed))
            .unwrap();
    }
    w.finish().unwrap();
    (dir, path)
}

fn open(bytes: &[u8]) -> tensorseal::Result<Model> {
    Model::from_bytes(bytes, &Policy::allow_unsigned(), Verification::Eager)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn round_trip(spec in proptest::collection::vec(arb_tensor(), 0..12), slicing in arb_slicing()) {
        let (_dir, path) = write(&spec, slicing);
        for mode in [tensorseal::ReadMode::MapAcceptingWriters, tensorseal::ReadMode::Copy] {
            let opts = tensorseal::OpenOptions::new().read_mode(mode).verification(Verification::Lazy);
            let model = Model::open_with(&path, &Policy::allow_unsigned(), opts).unwrap();
            prop_assert_eq!(model.len(), spec.len());
            for (i, (d, shape, seed)) in spec.iter().enumerate() {
                let t = model.tensor(&format!("t{i}")).unwrap();
                prop_assert_eq!(t.dtype(), *d);
                prop_assert_eq!(t.shape(), shape.as_slice());
                prop_assert_eq!(t.offset() % 64, 0);
                let expected = data(*d, shape, *seed);
                prop_assert_eq!(t.data(), expected.as_slice());
            }
            model.verify().unwrap();
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..6000)) {
        let _ = open(&bytes);
    }

    #[test]
    fn mutated_files_never_panic(
        spec in proptest::collection::vec(arb_tensor(), 1..4),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let (_dir, path) = write(&spec, SlicePolicy::PerTensor);
        let mut bytes = std::fs::read(path).unwrap();
        for (i, v) in edits {
            let at = i.index(bytes.len());
            bytes[at] = v;
        }
        let _ = open(&bytes);
    }
}

fn sample() -> Vec<u8> {
    let spec: Spec = vec![
        (Dtype::F32, vec![3, 5], 1),
        (Dtype::BF16, vec![7], 2),
        (Dtype::I64, vec![], 3),
        (Dtype::U8, vec![0], 4),
        (Dtype::F4, vec![6], 5),
    ];
    let (_dir, path) = write(&spec, SlicePolicy::MaxBytes(64));
    std::fs::read(path).unwrap()
}

#[test]
fn every_single_byte_change_is_refused() {
    let bytes = sample();
    open(&bytes).unwrap();
    for at in 0..bytes.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[at] ^= mask;
            assert!(open(&b).is_err(), "byte {at} ^ {mask:#04x} was accepted");
        }
    }
}

#[test]
fn every_truncation_is_refused() {
    let bytes = sample();
    for len in 0..bytes.len() {
        assert!(
            open(&bytes[..len]).is_err(),
            "truncation to {len} bytes was accepted"
        );
    }
}

#[test]
fn lazy_verification_refuses_the_bad_slice_only() {
    let bytes = sample();
    let model = open(&bytes).unwrap();
    let t1 = model.tensor("t1").unwrap().offset() as usize;
    let mut b = bytes.clone();
    b[t1] ^= 1;
    let lazy = Model::from_bytes(&b, &Policy::allow_unsigned(), Verification::Lazy).unwrap();
    assert!(lazy.tensor("t0").is_ok());
    let e = lazy.tensor("t1").unwrap_err().to_string();
    assert!(e.contains("digest mismatch"), "{e}");
    assert!(lazy.verify().is_err());
}

#[test]
fn unsigned_needs_explicit_policy() {
    let e = Model::from_bytes(&sample(), &Policy::require_signature(), Verification::Eager)
        .unwrap_err();
    assert!(
        matches!(e.kind(), tensorseal::ErrorKind::Unsigned { .. }),
        "{e}"
    );
}

#[test]
fn expired_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.tseal");
    let info = ModelInfo {
        model_id: "e".into(),
        version: 1,
        expires: Some(1000),
        ..ModelInfo::default()
    };
    Writer::create(&path, info, WriteOptions::default())
        .unwrap()
        .finish()
        .unwrap();
    let e = Model::open(&path, &Policy::allow_unsigned()).unwrap_err();
    assert!(
        matches!(
            e.kind(),
            tensorseal::ErrorKind::Expired { expires: 1000, .. }
        ),
        "{e}"
    );
    Model::open(&path, &Policy::allow_unsigned().at_time(999)).unwrap();
}

#[test]
fn typed_access_checks_dtype() {
    let model = open(&sample()).unwrap();
    let t = model.tensor("t0").unwrap();
    assert_eq!(t.as_slice::<f32>().unwrap().len(), 15);
    assert!(t.as_slice::<i32>().is_err());
    let a = t.array_view::<f32>().unwrap();
    assert_eq!(a.shape(), &[3, 5]);
    assert!(model.tensor("nope").is_err());
}

#[test]
fn writer_refuses_bad_input_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.tseal");
    let mut w = Writer::create(&path, ModelInfo::default(), WriteOptions::default()).unwrap();
    w.add("a", Dtype::F32, &[2], &[0; 8]).unwrap();
    assert!(
        w.add("a", Dtype::F32, &[2], &[0; 8]).is_err(),
        "duplicate name"
    );
    assert!(w.add("b", Dtype::F32, &[2], &[0; 7]).is_err(), "short data");
    assert!(
        w.add("c", Dtype::F32, &[1], &[0; 4]).is_err(),
        "poisoned after a failed write"
    );
    assert!(w.finish().is_err());
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "temporary or partial files left: {left:?}");
}

#[test]
fn writer_refuses_to_overwrite_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.tseal");
    std::fs::write(&path, b"precious").unwrap();
    assert!(Writer::create(&path, ModelInfo::default(), WriteOptions::default()).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
}

#[test]
fn rewrite_in_place_while_mapped() {
    // The destination may be the very file being read: the map keeps the old inode.
    let bytes = sample();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("same.tseal");
    std::fs::write(&path, &bytes).unwrap();
    let model = Model::open(&path, &Policy::allow_unsigned()).unwrap();
    let opts = WriteOptions {
        overwrite: true,
        ..WriteOptions::default()
    };
    let mut w = Writer::create(
        &path,
        ModelInfo {
            model_id: "v2".into(),
            ..model.info().clone()
        },
        opts,
    )
    .unwrap();
    for t in model.tensors() {
        let t = t.unwrap();
        w.add(t.name(), t.dtype(), t.shape(), t.data()).unwrap();
    }
    w.finish().unwrap();
    let again = Model::open(&path, &Policy::allow_unsigned()).unwrap();
    assert_eq!(again.info().model_id, "v2");
    for (a, b) in model.tensors().zip(again.tensors()) {
        assert_eq!(a.unwrap().data(), b.unwrap().data());
    }
}
