//! PyTorch readers on hand-built archives: storage geometry, byte order,
//! unexpected records, TorchScript, hostile data.pkl.

mod common;

use common::{torch_pkl, torch_zip, zip, Member};
use tensorseal_convert::layout::LayoutError;
use tensorseal_convert::{detect, import, ConvertError, ConvertOptions, Format};

fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn hand_built_checkpoint_converts() {
    let pkl = torch_pkl("FloatStorage", 6, 0, &[2, 3], &[3, 1]);
    let z = torch_zip(&pkl, b"little", &f32s(&[1., 2., 3., 4., 5., 6.]), &[]);
    assert_eq!(detect(&z), Format::TorchZip);
    let imp = import(&z, &ConvertOptions::default()).unwrap();
    assert_eq!(imp.tensors.len(), 1);
    let t = &imp.tensors[0];
    assert_eq!((t.name.as_str(), t.dtype.name()), ("w", "F32"));
    assert_eq!(t.shape, vec![2, 3]);
    assert_eq!(&*t.data, f32s(&[1., 2., 3., 4., 5., 6.]).as_slice());
    // Contiguous little-endian storage: borrowed from the input.
    assert!(matches!(t.data, std::borrow::Cow::Borrowed(_)));
}

#[test]
fn transposed_view_is_materialised() {
    let pkl = torch_pkl("FloatStorage", 6, 0, &[3, 2], &[1, 3]);
    let z = torch_zip(&pkl, b"little", &f32s(&[1., 2., 3., 4., 5., 6.]), &[]);
    let imp = import(&z, &ConvertOptions::default()).unwrap();
    assert_eq!(
        &*imp.tensors[0].data,
        f32s(&[1., 4., 2., 5., 3., 6.]).as_slice()
    );
}

#[test]
fn big_endian_storage_is_converted() {
    let be: Vec<u8> = [1.5f32, -2.0]
        .iter()
        .flat_map(|x| x.to_be_bytes())
        .collect();
    let pkl = torch_pkl("FloatStorage", 2, 0, &[2], &[1]);
    let z = torch_zip(&pkl, b"big", &be, &[]);
    let imp = import(&z, &ConvertOptions::default()).unwrap();
    assert_eq!(&*imp.tensors[0].data, f32s(&[1.5, -2.0]).as_slice());
}

#[test]
fn bad_byteorder_is_refused() {
    let pkl = torch_pkl("FloatStorage", 2, 0, &[2], &[1]);
    let z = torch_zip(&pkl, b"middle", &f32s(&[1., 2.]), &[]);
    assert!(matches!(
        import(&z, &ConvertOptions::default()),
        Err(ConvertError::Framing { .. })
    ));
}

#[test]
fn storage_numel_larger_than_record_is_refused() {
    // CVE-2026-24747 class: the persistent id claims 20 elements, record has 10.
    let pkl = torch_pkl("FloatStorage", 20, 0, &[20], &[1]);
    let z = torch_zip(&pkl, b"little", &f32s(&[0.0; 10]), &[]);
    assert!(matches!(
        import(&z, &ConvertOptions::default()),
        Err(ConvertError::Storage { .. })
    ));
}

#[test]
fn view_outside_storage_is_refused() {
    for (offset, size, stride) in [
        (5u32, vec![2u32], vec![1u32]),
        (0, vec![2, 4], vec![4, 1]),
        (0, vec![7], vec![1]),
        (0, vec![2, 2], vec![0x7fff_ffff, 0x7fff_ffff]),
    ] {
        let pkl = torch_pkl("FloatStorage", 6, offset, &size, &stride);
        let z = torch_zip(&pkl, b"little", &f32s(&[0.0; 6]), &[]);
        let err = import(&z, &ConvertOptions::default()).unwrap_err();
        assert!(
            matches!(
                err,
                ConvertError::Layout {
                    source: LayoutError::OutOfBounds { .. } | LayoutError::Overflow { .. },
                    ..
                }
            ),
            "{offset} {size:?} {stride:?}: {err:?}"
        );
    }
}

#[test]
fn unexpected_and_unreferenced_records_are_refused() {
    let pkl = torch_pkl("FloatStorage", 2, 0, &[2], &[1]);
    let st = f32s(&[1., 2.]);
    let z = torch_zip(&pkl, b"little", &st, &[("archive/payload.bin", b"x")]);
    assert!(matches!(
        import(&z, &ConvertOptions::default()),
        Err(ConvertError::Framing { .. })
    ));
    let z = torch_zip(&pkl, b"little", &st, &[("archive/data/1", b"hidden")]);
    assert!(matches!(
        import(&z, &ConvertOptions::default()),
        Err(ConvertError::Storage { .. })
    ));
    let z = torch_zip(&pkl, b"little", &st, &[("other/data.pkl", b"x")]);
    assert!(import(&z, &ConvertOptions::default()).is_err());
}

#[test]
fn torchscript_archive_is_refused() {
    let pkl = torch_pkl("FloatStorage", 2, 0, &[2], &[1]);
    let st = f32s(&[1., 2.]);
    for extra in ["archive/constants.pkl", "archive/code/__torch__.py"] {
        let z = torch_zip(&pkl, b"little", &st, &[(extra, b"x")]);
        assert_eq!(detect(&z), Format::TorchScript, "{extra}");
        assert!(matches!(
            import(&z, &ConvertOptions::default()),
            Err(ConvertError::TorchScript { .. })
        ));
    }
}

#[test]
fn malicious_data_pkl_is_refused_by_the_allow_list() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/fixtures/hostile/torch_zip_malicious_data_pkl.pt"
    );
    let z = std::fs::read(path).unwrap();
    assert_eq!(detect(&z), Format::TorchZip);
    match import(&z, &ConvertOptions::default()) {
        Err(ConvertError::Global { global, class, .. }) => {
            assert_eq!(global, "posix.system");
            assert!(class.starts_with("dangerous"), "{class}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn zip_that_is_neither_torch_nor_npz_is_unsupported() {
    let z = zip(&[Member::stored("readme.txt", b"hi")]);
    assert_eq!(detect(&z), Format::Zip);
    assert!(matches!(
        import(&z, &ConvertOptions::default()),
        Err(ConvertError::Unsupported { .. })
    ));
}

#[test]
fn legacy_truncated_or_extended_is_refused() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/fixtures/torch/legacy_format.pt"
    );
    let orig = std::fs::read(path).unwrap();
    assert!(import(&orig, &ConvertOptions::default()).is_ok());
    let mut longer = orig.clone();
    longer.push(0);
    assert!(matches!(
        import(&longer, &ConvertOptions::default()),
        Err(ConvertError::Framing { .. })
    ));
    for n in 0..orig.len() {
        assert!(
            import(&orig[..n], &ConvertOptions::default()).is_err(),
            "len {n}"
        );
    }
}

#[test]
fn tensor_size_limit_is_enforced() {
    let pkl = torch_pkl("FloatStorage", 6, 0, &[3, 2], &[1, 3]);
    let z = torch_zip(&pkl, b"little", &f32s(&[0.0; 6]), &[]);
    let opts = ConvertOptions {
        max_tensor_bytes: 8,
        ..ConvertOptions::default()
    };
    assert!(matches!(
        import(&z, &opts),
        Err(ConvertError::Layout {
            source: LayoutError::TooLarge { .. },
            ..
        })
    ));
}

#[test]
fn rebuild_tensor_v1_is_understood() {
    let v2 = torch_pkl("FloatStorage", 2, 0, &[2], &[1]);
    let s = String::from_utf8_lossy(&v2).into_owned();
    assert!(s.contains("_rebuild_tensor_v2"));
    let mut v1 = Vec::new();
    let cut = v2
        .windows(b"\x89ccollections".len())
        .position(|w| w == b"\x89ccollections")
        .unwrap();
    for part in v2[..cut].split(|&b| b == b'\n') {
        v1.extend_from_slice(if part == b"_rebuild_tensor_v2" {
            b"_rebuild_tensor"
        } else {
            part
        });
        v1.push(b'\n');
    }
    v1.pop();
    v1.extend_from_slice(b"tRu.");
    let z = torch_zip(&v1, b"little", &f32s(&[3., 4.]), &[]);
    let imp = import(&z, &ConvertOptions::default()).unwrap();
    assert_eq!(&*imp.tensors[0].data, f32s(&[3., 4.]).as_slice());
}

#[test]
fn large_contiguous_tensor_is_borrowed_not_copied() {
    let n = 4 << 20; // 16 MiB of f32
    let storage = vec![0x3fu8; n * 4];
    let pkl = torch_pkl(
        "FloatStorage",
        n as u32,
        0,
        &[1024, (n / 1024) as u32],
        &[(n / 1024) as u32, 1],
    );
    let z = torch_zip(&pkl, b"little", &storage, &[]);
    let mut borrowed = 0;
    tensorseal_convert::import_with(&z, &ConvertOptions::default(), &mut |t| {
        assert_eq!(t.data.len(), n * 4);
        if let std::borrow::Cow::Borrowed(b) = t.data {
            // The slice points into the archive itself.
            let base = z.as_ptr() as usize;
            let p = b.as_ptr() as usize;
            assert!(p >= base && p + b.len() <= base + z.len());
            borrowed += 1;
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(borrowed, 1);
}
