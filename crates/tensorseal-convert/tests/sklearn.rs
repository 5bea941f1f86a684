//! scikit-learn estimators: every source file of the risk (LogisticRegression)
//! and anomaly (IsolationForest) models converts to a container that
//! reproduces the real scikit-learn outputs of `expected_outputs.json`;
//! the conversion is identical from every source; unsafe pickles are refused
//! without leaving anything behind; missing pieces give typed errors.
//!
//! Nothing here unpickles anything: the fixtures are only read as bytes.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use tensorseal::{Model, ModelInfo, Policy, WriteOptions, Writer};
use tensorseal_convert::sklearn::{
    Estimator, IsolationForest, LogisticRegression, SklearnError, KEY_CLASS, KEY_OBJECTS,
};
use tensorseal_convert::{
    convert_file, import, ConvertError, ConvertFileError, ConvertOptions, Format,
};

const TOL: f64 = 1e-9;

const LOGREG: &[&str] = &[
    "risk_logreg_p2.pkl",
    "risk_logreg_p4.pkl",
    "risk_logreg_p5.pkl",
    "risk_logreg.joblib",
    "risk_logreg_compressed.joblib",
];
const IFOREST: &[&str] = &[
    "anomaly_iforest_p2.pkl",
    "anomaly_iforest_p4.pkl",
    "anomaly_iforest_p5.pkl",
    "anomaly_iforest.joblib",
];

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/fixtures/sklearn")
        .join(name)
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture_path(name)).unwrap()
}

fn expected() -> Json {
    serde_json::from_slice(&fixture("expected_outputs.json")).unwrap()
}

fn inputs(e: &Json) -> Vec<Vec<f64>> {
    e["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        })
        .collect()
}

fn floats(v: &Json) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn matrix(v: &Json) -> Vec<Vec<f64>> {
    v.as_array().unwrap().iter().map(floats).collect()
}

/// A fresh private directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tensorseal-sklearn-{}-{}-{tag}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn entries(&self) -> Vec<String> {
        std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn info() -> ModelInfo {
    ModelInfo {
        model_id: "sklearn-test".into(),
        version: 1,
        ..ModelInfo::default()
    }
}

fn convert(src: &Path, dest: &Path) -> Result<tensorseal::Manifest, ConvertFileError> {
    convert_file(
        src,
        dest,
        info(),
        WriteOptions::default(),
        &ConvertOptions::default(),
    )
}

fn convert_fixture(name: &str, dir: &TempDir) -> Model {
    let dest = dir.path().join(format!("{name}.tseal"));
    convert(&fixture_path(name), &dest).unwrap_or_else(|e| panic!("{name}: {e}"));
    Model::open(&dest, &Policy::allow_unsigned()).unwrap()
}

fn max_err(got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    got.iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
}

#[test]
fn logistic_regression_reproduces_sklearn_from_every_source() {
    let e = expected();
    let x = inputs(&e);
    let want_proba = matrix(&e["risk_logreg"]["predict_proba"]);
    let want_dec = floats(&e["risk_logreg"]["decision_function"]);
    let dir = TempDir::new("logreg");
    for name in LOGREG {
        let model = convert_fixture(name, &dir);
        let lr = LogisticRegression::from_model(&model).unwrap();
        assert_eq!((lr.n_features(), lr.n_classes()), (4, 2), "{name}");
        let dec = lr.decision_function(&x).unwrap();
        assert!(
            dec.iter().all(|d| d.len() == 1),
            "{name}: binary gives one score"
        );
        let dec: Vec<f64> = dec.into_iter().map(|d| d[0]).collect();
        let proba = lr.predict_proba(&x).unwrap();
        let err_dec = max_err(&dec, &want_dec);
        let err_proba = proba
            .iter()
            .zip(&want_proba)
            .map(|(g, w)| max_err(g, w))
            .fold(0.0, f64::max);
        println!("{name}: decision_function max |err| {err_dec:e}, predict_proba max |err| {err_proba:e}");
        assert!(err_dec <= TOL, "{name}: decision_function off by {err_dec}");
        assert!(err_proba <= TOL, "{name}: predict_proba off by {err_proba}");
        assert!(matches!(
            Estimator::from_model(&model).unwrap(),
            Estimator::LogisticRegression(_)
        ));
    }
}

#[test]
fn isolation_forest_reproduces_sklearn_from_every_source() {
    let e = expected();
    let x = inputs(&e);
    let want_scores = floats(&e["anomaly_iforest"]["score_samples"]);
    let want_dec = floats(&e["anomaly_iforest"]["decision_function"]);
    let want_offset = e["anomaly_iforest"]["offset_"].as_f64().unwrap();
    let dir = TempDir::new("iforest");
    for name in IFOREST {
        let model = convert_fixture(name, &dir);
        let forest = IsolationForest::from_model(&model).unwrap();
        assert_eq!(forest.n_features(), 4, "{name}");
        assert_eq!(forest.offset(), want_offset, "{name}");
        let scores = forest.score_samples(&x).unwrap();
        let dec = forest.decision_function(&x).unwrap();
        let err_s = max_err(&scores, &want_scores);
        let err_d = max_err(&dec, &want_dec);
        println!(
            "{name}: score_samples max |err| {err_s:e}, decision_function max |err| {err_d:e}"
        );
        assert!(err_s <= TOL, "{name}: score_samples off by {err_s}");
        assert!(err_d <= TOL, "{name}: decision_function off by {err_d}");
        assert!(matches!(
            Estimator::from_model(&model).unwrap(),
            Estimator::IsolationForest(_)
        ));
    }
}

type Summary = (
    Vec<(String, &'static str, Vec<u64>, Vec<u8>)>,
    Vec<(String, tensorseal_convert::MetaValue)>,
);

fn summary(name: &str) -> Summary {
    let data = fixture(name);
    let imp = import(&data, &ConvertOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let tensors = imp
        .tensors
        .into_iter()
        .map(|t| (t.name, t.dtype.name(), t.shape, t.data.into_owned()))
        .collect();
    (tensors, imp.metadata)
}

#[test]
fn tensors_and_metadata_are_identical_from_every_source() {
    for family in [LOGREG, IFOREST] {
        let first = summary(family[0]);
        assert!(!first.0.is_empty());
        for name in &family[1..] {
            let other = summary(name);
            assert_eq!(
                first.0.iter().map(|t| &t.0).collect::<Vec<_>>(),
                other.0.iter().map(|t| &t.0).collect::<Vec<_>>(),
                "{name}: tensor names"
            );
            assert_eq!(first.0, other.0, "{name}: tensors");
            assert_eq!(first.1, other.1, "{name}: metadata");
        }
    }
    // And in the containers: same tensors, same manifest metadata.
    let dir = TempDir::new("identical");
    for family in [LOGREG, IFOREST] {
        let models: Vec<Model> = family.iter().map(|n| convert_fixture(n, &dir)).collect();
        for m in &models[1..] {
            assert_eq!(m.info().metadata, models[0].info().metadata);
            let a: Vec<_> = m.tensors().map(|t| t.unwrap().sha256()).collect();
            let b: Vec<_> = models[0].tensors().map(|t| t.unwrap().sha256()).collect();
            assert_eq!(a, b);
            assert_eq!(
                m.names().collect::<Vec<_>>(),
                models[0].names().collect::<Vec<_>>()
            );
        }
    }
}

#[test]
fn tree_nodes_are_split_per_field_and_metadata_describes_the_structure() {
    let (tensors, meta) = summary("anomaly_iforest_p5.pkl");
    let names: Vec<&str> = tensors.iter().map(|t| t.0.as_str()).collect();
    for t in 0..3 {
        for field in [
            "left_child",
            "right_child",
            "feature",
            "threshold",
            "impurity",
            "n_node_samples",
            "weighted_n_node_samples",
            "missing_go_to_left",
        ] {
            let n = format!("estimators_.{t}.tree_.nodes.{field}");
            assert!(names.contains(&n.as_str()), "{n}");
        }
        assert!(names.contains(&format!("estimators_features_.{t}").as_str()));
    }
    let get = |k: &str| meta.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    use tensorseal_convert::MetaValue;
    assert_eq!(
        get(KEY_CLASS),
        Some(MetaValue::Str(
            "sklearn.ensemble._iforest.IsolationForest".into()
        ))
    );
    assert_eq!(get("sklearn.schema"), Some(MetaValue::Int(1)));
    assert_eq!(get("sklearn.version"), Some(MetaValue::Str("1.9.1".into())));
    // Records: the forest, its template estimator_, 3 trees and their Tree objects.
    let Some(MetaValue::List(records)) = get(KEY_OBJECTS) else {
        panic!("no records")
    };
    let paths: Vec<String> = records
        .iter()
        .map(|r| match r {
            MetaValue::Map(m) => match &m[0] {
                (k, MetaValue::Str(p)) if k == "path" => p.clone(),
                _ => panic!("{r:?}"),
            },
            _ => panic!("{r:?}"),
        })
        .collect();
    assert_eq!(
        paths,
        vec![
            "",
            "estimator_",
            "estimators_.0",
            "estimators_.0.tree_",
            "estimators_.1",
            "estimators_.1.tree_",
            "estimators_.2",
            "estimators_.2.tree_",
        ]
    );
}

#[test]
fn manifest_metadata_is_typed_json() {
    let dir = TempDir::new("json");
    let model = convert_fixture("anomaly_iforest.joblib", &dir);
    let text = model
        .info()
        .metadata
        .iter()
        .find_map(|(k, v)| match v {
            tensorseal::MetaValue::Json(s) if k == KEY_OBJECTS => Some(s.clone()),
            _ => None,
        })
        .expect("sklearn.objects as JSON");
    let records: Json = serde_json::from_str(&text).unwrap();
    let root = &records[0];
    assert_eq!(root["path"], "");
    assert_eq!(root["params"]["n_estimators"], 3);
    assert_eq!(root["params"]["max_samples"], "auto");
    assert_eq!(root["fitted"]["offset_"], -0.5);
    assert_eq!(root["fitted"]["max_samples_"], 60);
    assert_eq!(root["fitted"]["n_features_in_"], 4);
    assert_eq!(root["private"]["_max_features"], 4);
    assert_eq!(root["fitted"]["estimators_"][1]["$object"], "estimators_.1");
    assert_eq!(
        root["fitted"]["estimators_features_"][2]["$tensor"],
        "estimators_features_.2"
    );
    assert_eq!(root["fitted"]["estimator_"]["$object"], "estimator_");
    let tree = &records[3];
    assert_eq!(tree["class"], "sklearn.tree._tree.Tree");
    assert_eq!(
        tree["params"]["nodes"]["$fields"]["threshold"],
        "estimators_.0.tree_.nodes.threshold"
    );
    assert_eq!(
        tree["args"]["$tuple"][1]["$tensor"],
        "estimators_.0.tree_.__args__.1"
    );
}

fn assert_refused_without_output(bytes: &[u8], tag: &str) -> ConvertError {
    let dir = TempDir::new(tag);
    let src = dir.path().join("model.pkl");
    std::fs::write(&src, bytes).unwrap();
    let dest = dir.path().join("out.tseal");
    let err = match convert(&src, &dest) {
        Err(ConvertFileError::Input { source, .. }) => source,
        other => panic!("{tag}: {other:?}"),
    };
    assert!(!dest.exists(), "{tag}: output left behind");
    assert_eq!(
        dir.entries(),
        vec!["model.pkl".to_owned()],
        "{tag}: temporary files left behind"
    );
    err
}

fn replace(data: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = data
        .windows(from.len())
        .position(|w| w == from)
        .expect("pattern present");
    let mut out = data[..at].to_vec();
    out.extend_from_slice(to);
    out.extend_from_slice(&data[at + from.len()..]);
    out
}

#[test]
fn unsafe_sklearn_pickles_are_refused_and_leave_nothing() {
    // protocol 2: a nested global swapped for os.system (text GLOBAL, no frames).
    let p2 = fixture("risk_logreg_p2.pkl");
    let evil = replace(&p2, b"cnumpy\ndtype\n", b"cposix\nsystem\n");
    match assert_refused_without_output(&evil, "p2-system") {
        ConvertError::Global { global, class, .. } => {
            assert_eq!(global, "posix.system");
            assert!(class.starts_with("dangerous"), "{class}");
        }
        other => panic!("{other:?}"),
    }
    // protocol 5: a same-length rename inside a frame makes an unknown global.
    let p5 = fixture("anomaly_iforest_p5.pkl");
    let odd = replace(&p5, b"_frombuffer", b"_frombuffeR");
    assert!(matches!(
        assert_refused_without_output(&odd, "p5-unknown"),
        ConvertError::Global { .. }
    ));
    // Bytes after STOP.
    let mut trailing = fixture("risk_logreg_p4.pkl");
    trailing.extend_from_slice(b"\x80\x04N.");
    assert!(matches!(
        assert_refused_without_output(&trailing, "trailing"),
        ConvertError::Pickle { .. }
    ));
    // Truncated.
    let cut = &p5[..p5.len() / 2];
    assert!(matches!(
        assert_refused_without_output(cut, "truncated"),
        ConvertError::Pickle { .. }
    ));
    // A pickle that is not an estimator at all (hostile fixture).
    let hostile = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/data/fixtures/hostile/os_system_p2.pkl"),
    )
    .unwrap();
    assert!(matches!(
        assert_refused_without_output(&hostile, "hostile"),
        ConvertError::Unsupported {
            format: Format::Pickle,
            ..
        }
    ));
    // Tampered array shape: intercept_ claims 2 elements over 8 bytes.
    let short = replace(
        &fixture("risk_logreg_p4.pkl"),
        b"(K\x01K\x01\x85\x94h=\x89C\x08|",
        b"(K\x01K\x02\x85\x94h=\x89C\x08|",
    );
    assert!(matches!(
        assert_refused_without_output(&short, "short-array"),
        ConvertError::Graph { .. }
    ));
}

/// Copy a container, dropping some tensors and metadata keys.
fn copy_without(model: &Model, dest: &Path, drop_tensor: &str, drop_meta: &str) -> Model {
    let mut info = model.info().clone();
    info.metadata.retain(|(k, _)| k != drop_meta);
    let mut w = Writer::create(dest, info, WriteOptions::default()).unwrap();
    for t in model.tensors() {
        let t = t.unwrap();
        if t.name() != drop_tensor {
            w.add(t.name(), t.dtype(), t.shape(), t.data()).unwrap();
        }
    }
    w.finish().unwrap();
    Model::open(dest, &Policy::allow_unsigned()).unwrap()
}

#[test]
fn missing_pieces_give_typed_errors() {
    let dir = TempDir::new("missing");
    let lr = convert_fixture("risk_logreg_p5.pkl", &dir);
    let forest = convert_fixture("anomaly_iforest.joblib", &dir);

    let no_coef = copy_without(&lr, &dir.path().join("no_coef.tseal"), "coef_", "");
    match LogisticRegression::from_model(&no_coef) {
        Err(SklearnError::MissingTensor { name }) => assert_eq!(name, "coef_"),
        other => panic!("{other:?}"),
    }
    let thr = "estimators_.1.tree_.nodes.threshold";
    let no_thr = copy_without(&forest, &dir.path().join("no_thr.tseal"), thr, "");
    match IsolationForest::from_model(&no_thr) {
        Err(SklearnError::MissingTensor { name }) => assert_eq!(name, thr),
        other => panic!("{other:?}"),
    }
    let no_meta = copy_without(&forest, &dir.path().join("no_meta.tseal"), "", KEY_OBJECTS);
    assert!(matches!(
        IsolationForest::from_model(&no_meta),
        Err(SklearnError::NotSklearn { key: KEY_OBJECTS })
    ));
    let no_class = copy_without(&lr, &dir.path().join("no_class.tseal"), "", KEY_CLASS);
    assert!(matches!(
        Estimator::from_model(&no_class),
        Err(SklearnError::NotSklearn { key: KEY_CLASS })
    ));
    assert!(matches!(
        IsolationForest::from_model(&lr),
        Err(SklearnError::WrongClass { .. })
    ));
    assert!(matches!(
        LogisticRegression::from_model(&forest),
        Err(SklearnError::WrongClass { .. })
    ));
    // Bad inputs.
    let rebuilt = LogisticRegression::from_model(&lr).unwrap();
    assert!(matches!(
        rebuilt.predict_proba(&[vec![1.0, 2.0]]),
        Err(SklearnError::BadInput { row: 0, .. })
    ));
    let f = IsolationForest::from_model(&forest).unwrap();
    assert!(matches!(
        f.score_samples(&[vec![0.0; 4], vec![f64::NAN, 0.0, 0.0, 0.0]]),
        Err(SklearnError::BadInput { row: 1, .. })
    ));
    assert!(matches!(
        f.score_samples(&[vec![1e300, 0.0, 0.0, 0.0]]),
        Err(SklearnError::BadInput { row: 0, .. })
    ));
}

#[test]
fn string_class_labels_become_metadata() {
    // risk_logreg_p2 with classes_ rewritten from int64 [0, 1] to <U2
    // ["no", "ye"] (same byte lengths: 2 x 8 bytes of UCS-4).
    let p2 = fixture("risk_logreg_p2.pkl");
    let text = replace(&p2, b"X\x02\x00\x00\x00i8", b"X\x02\x00\x00\x00U2");
    let text = replace(
        &text,
        b"X\x10\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00",
        b"X\x10\x00\x00\x00n\x00\x00\x00o\x00\x00\x00y\x00\x00\x00e\x00\x00\x00",
    );
    let imp = import(&text, &ConvertOptions::default()).unwrap();
    assert!(imp.tensors.iter().all(|t| t.name != "classes_"));
    // The same edit of the joblib file gives the same tensors and metadata.
    let jl = fixture("risk_logreg.joblib");
    let jl = replace(&jl, b"\x8c\x02i8", b"\x8c\x02U2");
    let jl = replace(
        &jl,
        b"\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00",
        b"n\x00\x00\x00o\x00\x00\x00y\x00\x00\x00e\x00\x00\x00",
    );
    let jimp = import(&jl, &ConvertOptions::default()).unwrap();
    assert_eq!(jimp.metadata, imp.metadata);
    assert_eq!(jimp.tensors.len(), imp.tensors.len());
    for (a, b) in jimp.tensors.iter().zip(&imp.tensors) {
        assert_eq!(
            (&a.name, a.dtype, &a.shape, &a.data),
            (&b.name, b.dtype, &b.shape, &b.data)
        );
    }
    use tensorseal_convert::MetaValue;
    assert!(imp.metadata.contains(&(
        "classes_".to_owned(),
        MetaValue::List(vec![
            MetaValue::Str("no".into()),
            MetaValue::Str("ye".into())
        ])
    )));

    let dir = TempDir::new("text");
    let src = dir.path().join("text.pkl");
    std::fs::write(&src, &text).unwrap();
    let dest = dir.path().join("text.tseal");
    convert(&src, &dest).unwrap();
    let model = Model::open(&dest, &Policy::allow_unsigned()).unwrap();
    let records = model
        .info()
        .metadata
        .iter()
        .find_map(|(k, v)| match v {
            tensorseal::MetaValue::Json(s) if k == KEY_OBJECTS => {
                Some(serde_json::from_str::<Json>(s).unwrap())
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(
        records[0]["fitted"]["classes_"],
        serde_json::json!({"$array": ["no", "ye"], "dtype": "<U2"})
    );
    let lr = LogisticRegression::from_model(&model).unwrap();
    assert_eq!(lr.n_classes(), 2);
    let e = expected();
    let proba = lr.predict_proba(&inputs(&e)).unwrap();
    let want = matrix(&e["risk_logreg"]["predict_proba"]);
    for (g, w) in proba.iter().zip(&want) {
        assert!(max_err(g, w) <= TOL);
    }
}

#[test]
fn mutated_sklearn_pickles_never_panic() {
    for name in [
        "risk_logreg_p2.pkl",
        "risk_logreg_p4.pkl",
        "risk_logreg_p5.pkl",
    ] {
        let data = fixture(name);
        for cut in 0..data.len() {
            let _ = import(&data[..cut], &ConvertOptions::default());
        }
        for i in 0..data.len() {
            for v in [0x00u8, 0x01, 0x7f, 0xff] {
                let mut d = data.clone();
                d[i] ^= v.max(1);
                let _ = import(&d, &ConvertOptions::default());
            }
        }
    }
    let data = fixture("anomaly_iforest_p2.pkl");
    for i in (0..data.len()).step_by(7) {
        let mut d = data.clone();
        d[i] = d[i].wrapping_add(1);
        let _ = import(&d, &ConvertOptions::default());
    }
}
