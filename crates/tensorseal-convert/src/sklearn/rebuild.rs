//! Rebuilding fitted estimators from a container's `sklearn.*` metadata and
//! tensors, and scoring inputs as scikit-learn does.

use std::collections::{HashMap, HashSet};

use serde_json::Value as Json;

use super::{
    join, ISOLATION_FOREST, KEY_CLASS, KEY_OBJECTS, KEY_SCHEMA, LOGISTIC_REGRESSION, SCHEMA_VERSION,
};
use crate::model::DType;

/// Why an estimator could not be rebuilt from a container, or could not
/// score an input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SklearnError {
    /// The container carries no scikit-learn structure metadata.
    #[error("no scikit-learn structure metadata: key '{key}' missing (was this container converted from a scikit-learn file?)")]
    NotSklearn {
        /// The missing key.
        key: &'static str,
    },
    /// The metadata schema version is not one this reader knows.
    #[error("scikit-learn metadata schema {found} is not supported (this reader knows {SCHEMA_VERSION})")]
    Schema {
        /// Version found.
        found: i64,
    },
    /// The estimator is of another class.
    #[error("the container holds a {found}, not a {expected}")]
    WrongClass {
        /// Class this rebuild needs.
        expected: String,
        /// Class found.
        found: String,
    },
    /// The metadata is malformed.
    #[error("malformed scikit-learn metadata at '{path}': {reason}")]
    Metadata {
        /// Object path or metadata key.
        path: String,
        /// Why.
        reason: String,
    },
    /// A needed attribute is missing.
    #[error("object '{object}' has no attribute '{attribute}'")]
    MissingAttribute {
        /// Object path (`""` is the top-level estimator).
        object: String,
        /// Attribute name.
        attribute: String,
    },
    /// A tensor the metadata refers to is not in the container.
    #[error("tensor '{name}' is missing from the container")]
    MissingTensor {
        /// Tensor name.
        name: String,
    },
    /// A tensor has the wrong dtype, shape or content.
    #[error("tensor '{name}': {reason}")]
    BadTensor {
        /// Tensor name.
        name: String,
        /// Why.
        reason: String,
    },
    /// A tree's node arrays are inconsistent.
    #[error("tree {tree}: {reason}")]
    BadTree {
        /// Index in `estimators_`.
        tree: usize,
        /// Why.
        reason: String,
    },
    /// An input row cannot be scored.
    #[error("input row {row}: {reason}")]
    BadInput {
        /// Row index.
        row: usize,
        /// Why.
        reason: String,
    },
    /// Reading the container failed.
    #[error(transparent)]
    Container(#[from] tensorseal::Error),
}

type Result<T, E = SklearnError> = std::result::Result<T, E>;

/// The `sklearn.objects` records of a container, by path.
struct Objects<'m> {
    model: &'m tensorseal::Model,
    records: Vec<Json>,
    by_path: HashMap<String, usize>,
    names: HashSet<&'m str>,
}

fn meta<'m>(model: &'m tensorseal::Model, key: &str) -> Option<&'m tensorseal::MetaValue> {
    model
        .info()
        .metadata
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// The class path of the top-level scikit-learn estimator of a converted
/// container (`sklearn.class`), after checking the schema version.
pub fn estimator_class(model: &tensorseal::Model) -> Result<&str> {
    match meta(model, KEY_SCHEMA) {
        None => return Err(SklearnError::NotSklearn { key: KEY_SCHEMA }),
        Some(tensorseal::MetaValue::Int(SCHEMA_VERSION)) => {}
        Some(tensorseal::MetaValue::Int(v)) => return Err(SklearnError::Schema { found: *v }),
        Some(_) => {
            return Err(SklearnError::Metadata {
                path: KEY_SCHEMA.into(),
                reason: "not an integer".into(),
            })
        }
    }
    match meta(model, KEY_CLASS) {
        Some(tensorseal::MetaValue::Str(s)) => Ok(s),
        None => Err(SklearnError::NotSklearn { key: KEY_CLASS }),
        Some(_) => Err(SklearnError::Metadata {
            path: KEY_CLASS.into(),
            reason: "not a string".into(),
        }),
    }
}

impl<'m> Objects<'m> {
    fn load(model: &'m tensorseal::Model, expected: &[&str]) -> Result<Self> {
        let class = estimator_class(model)?;
        if !expected.contains(&class) {
            return Err(SklearnError::WrongClass {
                expected: expected.first().copied().unwrap_or_default().to_owned(),
                found: class.to_owned(),
            });
        }
        let text = match meta(model, KEY_OBJECTS) {
            Some(tensorseal::MetaValue::Json(s)) => s,
            None => return Err(SklearnError::NotSklearn { key: KEY_OBJECTS }),
            Some(_) => {
                return Err(SklearnError::Metadata {
                    path: KEY_OBJECTS.into(),
                    reason: "not JSON".into(),
                })
            }
        };
        let bad = |reason: String| SklearnError::Metadata {
            path: KEY_OBJECTS.into(),
            reason,
        };
        let records = match serde_json::from_str::<Json>(text).map_err(|e| bad(e.to_string()))? {
            Json::Array(a) => a,
            _ => return Err(bad("not a JSON array".into())),
        };
        let mut by_path = HashMap::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            let path = r
                .get("path")
                .and_then(Json::as_str)
                .ok_or_else(|| bad(format!("record {i} has no path")))?;
            if by_path.insert(path.to_owned(), i).is_some() {
                return Err(bad(format!("two records for path '{path}'")));
            }
        }
        Ok(Objects {
            model,
            records,
            by_path,
            names: model.names().collect(),
        })
    }

    fn record(&self, path: &str) -> Result<&Json> {
        self.by_path
            .get(path)
            .and_then(|&i| self.records.get(i))
            .ok_or_else(|| SklearnError::Metadata {
                path: path.to_owned(),
                reason: "no object record at this path".into(),
            })
    }

    fn class(&self, path: &str) -> Result<&str> {
        self.record(path)?
            .get("class")
            .and_then(Json::as_str)
            .ok_or_else(|| SklearnError::Metadata {
                path: path.to_owned(),
                reason: "record without a class".into(),
            })
    }

    /// An attribute of the object at `path`, wherever the schema put it.
    fn attr(&self, path: &str, name: &str) -> Result<Option<&Json>> {
        let rec = self.record(path)?;
        Ok(["params", "fitted", "private", "state"]
            .iter()
            .find_map(|cat| rec.get(cat).and_then(|m| m.get(name))))
    }

    fn need(&self, path: &str, name: &str) -> Result<&Json> {
        self.attr(path, name)?
            .ok_or_else(|| SklearnError::MissingAttribute {
                object: path.to_owned(),
                attribute: name.to_owned(),
            })
    }

    fn bad(&self, path: &str, name: &str, reason: &str) -> SklearnError {
        SklearnError::Metadata {
            path: join(path, name),
            reason: reason.to_owned(),
        }
    }

    fn number(&self, path: &str, name: &str) -> Result<Option<f64>> {
        match self.attr(path, name)? {
            None | Some(Json::Null) => Ok(None),
            Some(v) => json_f64(v)
                .map(Some)
                .ok_or_else(|| self.bad(path, name, "not a number")),
        }
    }

    fn object_ref<'a>(&self, v: &'a Json, path: &str, name: &str) -> Result<&'a str> {
        v.get("$object")
            .and_then(Json::as_str)
            .ok_or_else(|| self.bad(path, name, "not a reference to a scikit-learn object"))
    }

    /// A list, tuple or text array.
    fn list<'a>(&self, v: &'a Json, path: &str, name: &str) -> Result<&'a [Json]> {
        match v {
            Json::Array(a) => Ok(a),
            _ => match v.get("$tuple").or_else(|| v.get("$array")) {
                Some(Json::Array(a)) => Ok(a),
                _ => Err(self.bad(path, name, "not a list")),
            },
        }
    }

    fn tensor_name<'a>(&self, v: &'a Json, path: &str, name: &str) -> Result<&'a str> {
        v.get("$tensor")
            .and_then(Json::as_str)
            .ok_or_else(|| self.bad(path, name, "not a tensor reference"))
    }

    fn view(&self, name: &str) -> Result<tensorseal::TensorView<'m>> {
        if !self.names.contains(name) {
            return Err(SklearnError::MissingTensor {
                name: name.to_owned(),
            });
        }
        Ok(self.model.tensor(name)?)
    }

    /// A float tensor (F64, or F32 widened) with its shape.
    fn f64s(&self, name: &str) -> Result<(Vec<f64>, Vec<u64>)> {
        let v = self.view(name)?;
        let d = v.data();
        let vals = match v.dtype() {
            DType::F64 => d
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
            DType::F32 => d
                .chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap_or([0; 4]))))
                .collect(),
            other => {
                return Err(SklearnError::BadTensor {
                    name: name.to_owned(),
                    reason: format!("dtype {} where a float was expected", other.name()),
                })
            }
        };
        Ok((vals, v.shape().to_vec()))
    }

    /// An integer tensor (I64, I32, U8, ...) widened to i64, with its shape.
    fn i64s(&self, name: &str) -> Result<(Vec<i64>, Vec<u64>)> {
        let v = self.view(name)?;
        let d = v.data();
        let vals: Vec<i64> = match v.dtype() {
            DType::I64 => d
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
            DType::I32 => d
                .chunks_exact(4)
                .map(|c| i64::from(i32::from_le_bytes(c.try_into().unwrap_or([0; 4]))))
                .collect(),
            DType::U32 => d
                .chunks_exact(4)
                .map(|c| i64::from(u32::from_le_bytes(c.try_into().unwrap_or([0; 4]))))
                .collect(),
            DType::I16 => d
                .chunks_exact(2)
                .map(|c| i64::from(i16::from_le_bytes(c.try_into().unwrap_or([0; 2]))))
                .collect(),
            DType::U16 => d
                .chunks_exact(2)
                .map(|c| i64::from(u16::from_le_bytes(c.try_into().unwrap_or([0; 2]))))
                .collect(),
            DType::I8 => d.iter().map(|&b| i64::from(b as i8)).collect(),
            DType::U8 | DType::BOOL => d.iter().map(|&b| i64::from(b)).collect(),
            other => {
                return Err(SklearnError::BadTensor {
                    name: name.to_owned(),
                    reason: format!("dtype {} where an integer was expected", other.name()),
                })
            }
        };
        Ok((vals, v.shape().to_vec()))
    }
}

fn json_f64(v: &Json) -> Option<f64> {
    if let Some(f) = v.as_f64() {
        return Some(f);
    }
    if let Some(inner) = v.get("$numpy") {
        return json_f64(inner);
    }
    match v.get("$float")?.as_str()? {
        "nan" => Some(f64::NAN),
        "inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

fn json_i64(v: &Json) -> Option<i64> {
    if let Some(i) = v.as_i64() {
        return Some(i);
    }
    json_i64(v.get("$numpy")?)
}

fn shape_is(shape: &[u64], want: &[usize]) -> bool {
    shape.len() == want.len() && shape.iter().zip(want).all(|(&a, &b)| a == b as u64)
}

/// Check a row's width and that every value is finite, as scikit-learn's
/// input validation does.
fn check_row(row: usize, values: &[f64], n_features: usize) -> Result<()> {
    if values.len() != n_features {
        return Err(SklearnError::BadInput {
            row,
            reason: format!(
                "{} features, the estimator was fitted with {n_features}",
                values.len()
            ),
        });
    }
    if let Some(j) = values.iter().position(|v| !v.is_finite()) {
        return Err(SklearnError::BadInput {
            row,
            reason: format!("feature {j} is NaN or infinite"),
        });
    }
    Ok(())
}

/// A rebuilt `sklearn.linear_model.LogisticRegression` (binary, one-vs-rest
/// and multinomial).
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticRegression {
    /// `coef_`, row-major, `n_rows x n_features` (one row for binary).
    coef: Vec<f64>,
    /// `intercept_`, one per row of `coef`.
    intercept: Vec<f64>,
    n_rows: usize,
    n_features: usize,
    n_classes: usize,
    ovr: bool,
}

impl LogisticRegression {
    /// Rebuild from a container converted from a scikit-learn
    /// `LogisticRegression` pickle or joblib file.
    pub fn from_model(model: &tensorseal::Model) -> Result<Self> {
        let o = Objects::load(
            model,
            &[
                LOGISTIC_REGRESSION,
                "sklearn.linear_model.logistic.LogisticRegression",
            ],
        )?;
        let coef_name = o.tensor_name(o.need("", "coef_")?, "", "coef_")?;
        let (coef, shape) = o.f64s(coef_name)?;
        let [n_rows, n_features] = match shape.as_slice() {
            &[r, f] if r > 0 => [r as usize, f as usize],
            _ => {
                return Err(SklearnError::BadTensor {
                    name: coef_name.to_owned(),
                    reason: format!("shape {shape:?}, expected (n_classes or 1, n_features)"),
                })
            }
        };
        if coef.len() != n_rows * n_features {
            return Err(SklearnError::BadTensor {
                name: coef_name.to_owned(),
                reason: format!("{} elements for shape {shape:?}", coef.len()),
            });
        }
        let intercept_attr = o.need("", "intercept_")?;
        let intercept = match intercept_attr.get("$tensor") {
            Some(_) => {
                let name = o.tensor_name(intercept_attr, "", "intercept_")?;
                let (v, shape) = o.f64s(name)?;
                if !shape_is(&shape, &[n_rows]) {
                    return Err(SklearnError::BadTensor {
                        name: name.to_owned(),
                        reason: format!("shape {shape:?}, expected ({n_rows},)"),
                    });
                }
                v
            }
            // fit_intercept=False stores a plain 0.0.
            None => {
                let x = json_f64(intercept_attr)
                    .ok_or_else(|| o.bad("", "intercept_", "neither a tensor nor a number"))?;
                vec![x; n_rows]
            }
        };
        let classes = o.need("", "classes_")?;
        let n_classes = if let Some(name) = classes.get("$tensor").and_then(Json::as_str) {
            let shape = o.view(name)?.shape().to_vec();
            match shape.as_slice() {
                &[n] => n as usize,
                _ => {
                    return Err(SklearnError::BadTensor {
                        name: name.to_owned(),
                        reason: format!("shape {shape:?}, expected (n_classes,)"),
                    })
                }
            }
        } else {
            o.list(classes, "", "classes_")?.len()
        };
        if n_classes < 2
            || (n_classes == 2 && n_rows != 1)
            || (n_classes > 2 && n_rows != n_classes)
        {
            return Err(SklearnError::BadTensor {
                name: coef_name.to_owned(),
                reason: format!("{n_rows} coefficient rows for {n_classes} classes"),
            });
        }
        if let Some(n) = o.attr("", "n_features_in_")?.and_then(json_i64) {
            if n != n_features as i64 {
                return Err(o.bad("", "n_features_in_", "disagrees with coef_"));
            }
        }
        let text = |name: &str| -> Result<Option<String>> {
            Ok(o.attr("", name)?.and_then(Json::as_str).map(str::to_owned))
        };
        let solver = text("solver")?;
        let liblinear = solver.as_deref() == Some("liblinear");
        // scikit-learn's rule (multi_class removed in 1.8: binary and
        // liblinear problems are one-vs-rest, the rest multinomial).
        let ovr = match text("multi_class")?.as_deref() {
            Some("ovr") | Some("warn") => true,
            Some("multinomial") => false,
            Some("auto") | Some("deprecated") | None => n_classes <= 2 || liblinear,
            Some(other) => {
                return Err(SklearnError::Metadata {
                    path: "multi_class".into(),
                    reason: format!("unknown value '{other}'"),
                })
            }
        };
        Ok(LogisticRegression {
            coef,
            intercept,
            n_rows,
            n_features,
            n_classes,
            ovr,
        })
    }

    /// Number of input features.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Number of classes (`len(classes_)`).
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// Whether probabilities are one-vs-rest (normalised sigmoids) rather
    /// than a softmax.
    pub fn is_ovr(&self) -> bool {
        self.ovr
    }

    /// `decision_function`: `X @ coef_.T + intercept_`, one inner vector per
    /// row. Binary problems give one score per row (inner length 1), as
    /// scikit-learn's 1-D result.
    pub fn decision_function<R: AsRef<[f64]>>(&self, rows: &[R]) -> Result<Vec<Vec<f64>>> {
        let mut out = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let x = row.as_ref();
            check_row(i, x, self.n_features)?;
            let scores = self
                .coef
                .chunks_exact(self.n_features.max(1))
                .take(self.n_rows)
                .zip(&self.intercept)
                .map(|(w, b)| w.iter().zip(x).map(|(w, x)| w * x).sum::<f64>() + b)
                .collect::<Vec<f64>>();
            // n_features == 0: coef_ is empty, the score is the intercept.
            let scores = if self.n_features == 0 {
                self.intercept.clone()
            } else {
                scores
            };
            out.push(scores);
        }
        Ok(out)
    }

    /// `predict_proba`: one probability per class (in `classes_` order) per
    /// row.
    pub fn predict_proba<R: AsRef<[f64]>>(&self, rows: &[R]) -> Result<Vec<Vec<f64>>> {
        let decision = self.decision_function(rows)?;
        Ok(decision
            .into_iter()
            .map(|d| {
                if self.ovr {
                    let p: Vec<f64> = d.iter().map(|&z| expit(z)).collect();
                    if p.len() == 1 {
                        vec![1.0 - p[0], p[0]]
                    } else {
                        let s: f64 = p.iter().sum();
                        p.iter().map(|x| x / s).collect()
                    }
                } else if d.len() == 1 {
                    softmax(&[-d[0], d[0]])
                } else {
                    softmax(&d)
                }
            })
            .collect())
    }
}

/// The logistic sigmoid `1 / (1 + exp(-x))` (scipy's `expit`).
fn expit(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// scikit-learn's `extmath.softmax` for one row.
fn softmax(x: &[f64]) -> Vec<f64> {
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = x.iter().map(|v| (v - max).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

/// NumPy's `np.euler_gamma`.
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// scikit-learn's `_average_path_length` for one node size: the average
/// path length of an unsuccessful search in a binary search tree of `n`
/// samples (0 for `n <= 1`, 1 for `n == 2`).
pub fn average_path_length(n: f64) -> f64 {
    if n <= 1.0 {
        0.0
    } else if n == 2.0 {
        1.0
    } else {
        2.0 * ((n - 1.0).ln() + EULER_GAMMA) - 2.0 * (n - 1.0) / n
    }
}

/// One isolation tree (an `ExtraTreeRegressor`'s `tree_.nodes`).
#[derive(Debug, Clone, PartialEq)]
struct IsoTree {
    left: Vec<i64>,
    right: Vec<i64>,
    feature: Vec<i64>,
    threshold: Vec<f64>,
    missing_left: Option<Vec<i64>>,
    /// `_average_path_length(n_node_samples)` per node.
    avg_path: Vec<f64>,
    /// Columns of the input this tree sees (`estimators_features_`), when
    /// the forest subsamples features.
    features: Option<Vec<usize>>,
}

/// scikit-learn's `TREE_LEAF`.
const TREE_LEAF: i64 = -1;

impl IsoTree {
    /// Leaf index and decision-path length (nodes from the root, inclusive:
    /// `compute_node_depths`) for one row already cast to float32.
    fn apply(&self, x: &[f32]) -> (usize, f64) {
        let mut node = 0usize;
        let mut depth = 1.0f64;
        // Children always have larger indices (checked at load), so this
        // ends within `len` steps.
        while let Some(&left) = self.left.get(node) {
            if left == TREE_LEAF {
                break;
            }
            let f = self.feature[node] as usize;
            let col = match &self.features {
                Some(map) => map[f],
                None => f,
            };
            let v = x[col];
            let go_left = if v.is_nan() {
                self.missing_left.as_ref().is_some_and(|m| m[node] != 0)
            } else {
                f64::from(v) <= self.threshold[node]
            };
            node = if go_left { left } else { self.right[node] } as usize;
            depth += 1.0;
        }
        (node, depth)
    }
}

/// A rebuilt `sklearn.ensemble.IsolationForest`.
#[derive(Debug, Clone, PartialEq)]
pub struct IsolationForest {
    trees: Vec<IsoTree>,
    n_features: usize,
    max_samples: f64,
    offset: f64,
}

impl IsolationForest {
    /// Rebuild from a container converted from a scikit-learn
    /// `IsolationForest` pickle or joblib file.
    pub fn from_model(model: &tensorseal::Model) -> Result<Self> {
        let o = Objects::load(
            model,
            &[ISOLATION_FOREST, "sklearn.ensemble.iforest.IsolationForest"],
        )?;
        let n_features = o
            .attr("", "n_features_in_")?
            .or(o.attr("", "n_features_")?)
            .ok_or_else(|| SklearnError::MissingAttribute {
                object: String::new(),
                attribute: "n_features_in_".into(),
            })
            .and_then(|v| {
                json_i64(v)
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| o.bad("", "n_features_in_", "not a count"))
            })?;
        let max_samples = match o.number("", "_max_samples")? {
            Some(v) => v,
            None => {
                o.number("", "max_samples_")?
                    .ok_or_else(|| SklearnError::MissingAttribute {
                        object: String::new(),
                        attribute: "_max_samples".into(),
                    })?
            }
        };
        let offset = o
            .number("", "offset_")?
            .ok_or_else(|| SklearnError::MissingAttribute {
                object: String::new(),
                attribute: "offset_".into(),
            })?;
        let max_features = match o
            .attr("", "_max_features")?
            .or(o.attr("", "max_features_")?)
        {
            Some(v) => Some(
                json_i64(v)
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| o.bad("", "_max_features", "not a count"))?,
            ),
            None => None,
        };
        let estimators = o.list(o.need("", "estimators_")?, "", "estimators_")?;
        if estimators.is_empty() {
            return Err(o.bad("", "estimators_", "no trees"));
        }
        // sklearn: subsample_features = self._max_features != X.shape[1]
        let subsample = max_features.is_some_and(|m| m != n_features);
        let features_lists = if subsample {
            let l = o.list(
                o.need("", "estimators_features_")?,
                "",
                "estimators_features_",
            )?;
            if l.len() != estimators.len() {
                return Err(o.bad("", "estimators_features_", "not one entry per estimator"));
            }
            Some(l)
        } else {
            None
        };
        let mut trees = Vec::with_capacity(estimators.len());
        for (t, est) in estimators.iter().enumerate() {
            let features = match features_lists.and_then(|l| l.get(t)) {
                Some(v) => {
                    let name = o.tensor_name(v, "", "estimators_features_")?;
                    let (idx, _) = o.i64s(name)?;
                    let idx = idx
                        .into_iter()
                        .map(|i| usize::try_from(i).ok().filter(|&i| i < n_features))
                        .collect::<Option<Vec<usize>>>()
                        .ok_or_else(|| SklearnError::BadTensor {
                            name: name.to_owned(),
                            reason: format!("feature index outside 0..{n_features}"),
                        })?;
                    Some(idx)
                }
                None => None,
            };
            trees.push(load_tree(&o, est, t, features, n_features)?);
        }
        Ok(IsolationForest {
            trees,
            n_features,
            max_samples,
            offset,
        })
    }

    /// Number of input features.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Number of trees.
    pub fn n_estimators(&self) -> usize {
        self.trees.len()
    }

    /// `offset_`.
    pub fn offset(&self) -> f64 {
        self.offset
    }

    /// `score_samples`: the opposite of the anomaly score of the original
    /// paper, `-2^(-E[h(x)] / c(max_samples))` (lower is more abnormal).
    /// Inputs are cast to float32 first, as scikit-learn's trees do.
    pub fn score_samples<R: AsRef<[f64]>>(&self, rows: &[R]) -> Result<Vec<f64>> {
        let denominator = self.trees.len() as f64 * average_path_length(self.max_samples);
        let mut out = Vec::with_capacity(rows.len());
        let mut x32 = Vec::with_capacity(self.n_features);
        for (i, row) in rows.iter().enumerate() {
            let x = row.as_ref();
            check_row(i, x, self.n_features)?;
            x32.clear();
            x32.extend(x.iter().map(|&v| v as f32));
            if x32.iter().any(|v| !v.is_finite()) {
                return Err(SklearnError::BadInput {
                    row: i,
                    reason: "a value is too large for float32".into(),
                });
            }
            let mut depth = 0.0f64;
            for tree in &self.trees {
                let (leaf, d) = tree.apply(&x32);
                depth += d + tree.avg_path[leaf] - 1.0;
            }
            let ratio = if denominator != 0.0 {
                depth / denominator
            } else {
                1.0
            };
            out.push(-(2f64.powf(-ratio)));
        }
        Ok(out)
    }

    /// `decision_function = score_samples - offset_` (negative for
    /// outliers).
    pub fn decision_function<R: AsRef<[f64]>>(&self, rows: &[R]) -> Result<Vec<f64>> {
        Ok(self
            .score_samples(rows)?
            .into_iter()
            .map(|s| s - self.offset)
            .collect())
    }
}

fn load_tree(
    o: &Objects<'_>,
    est: &Json,
    t: usize,
    features: Option<Vec<usize>>,
    n_features: usize,
) -> Result<IsoTree> {
    let est_path = o.object_ref(est, "", "estimators_")?;
    let tree_attr = o.need(est_path, "tree_")?;
    let tree_path = o.object_ref(tree_attr, est_path, "tree_")?;
    if o.class(tree_path)? != "sklearn.tree._tree.Tree" {
        return Err(o.bad(tree_path, "", "not a sklearn.tree._tree.Tree"));
    }
    let nodes = o.need(tree_path, "nodes")?;
    let fields = nodes
        .get("$fields")
        .ok_or_else(|| o.bad(tree_path, "nodes", "not a structured array"))?;
    let field = |f: &str| -> Result<&str> {
        fields
            .get(f)
            .and_then(Json::as_str)
            .ok_or_else(|| SklearnError::MissingAttribute {
                object: tree_path.to_owned(),
                attribute: format!("nodes.{f}"),
            })
    };
    let (left, _) = o.i64s(field("left_child")?)?;
    let (right, _) = o.i64s(field("right_child")?)?;
    let (feature, _) = o.i64s(field("feature")?)?;
    let (threshold, _) = o.f64s(field("threshold")?)?;
    let (n_samples, _) = o.i64s(field("n_node_samples")?)?;
    let missing_left = match fields.get("missing_go_to_left").and_then(Json::as_str) {
        Some(name) => Some(o.i64s(name)?.0),
        None => None,
    };
    let n = left.len();
    let bad = |reason: String| SklearnError::BadTree { tree: t, reason };
    if n == 0 {
        return Err(bad("no nodes".into()));
    }
    if [right.len(), feature.len(), threshold.len(), n_samples.len()]
        .iter()
        .any(|&l| l != n)
        || missing_left.as_ref().is_some_and(|m| m.len() != n)
    {
        return Err(bad("node fields of different lengths".into()));
    }
    let width = features.as_ref().map_or(n_features, Vec::len);
    for i in 0..n {
        if left[i] == TREE_LEAF {
            continue;
        }
        let child_ok = |c: i64| usize::try_from(c).is_ok_and(|c| c > i && c < n);
        if !child_ok(left[i]) || !child_ok(right[i]) {
            return Err(bad(format!(
                "node {i} has children {} and {} (must be later nodes)",
                left[i], right[i]
            )));
        }
        if !usize::try_from(feature[i]).is_ok_and(|f| f < width) {
            return Err(bad(format!(
                "node {i} splits on feature {} of {width}",
                feature[i]
            )));
        }
    }
    let avg_path = n_samples
        .iter()
        .map(|&s| average_path_length(s as f64))
        .collect();
    Ok(IsoTree {
        left,
        right,
        feature,
        threshold,
        missing_left,
        avg_path,
        features,
    })
}

/// A rebuilt estimator of one of the supported classes.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Estimator {
    /// `sklearn.linear_model.LogisticRegression`.
    LogisticRegression(LogisticRegression),
    /// `sklearn.ensemble.IsolationForest`.
    IsolationForest(IsolationForest),
}

impl Estimator {
    /// Rebuild whichever supported estimator the container holds (decided
    /// from `sklearn.class`).
    pub fn from_model(model: &tensorseal::Model) -> Result<Self> {
        let class = estimator_class(model)?;
        if class.ends_with(".LogisticRegression") {
            Ok(Estimator::LogisticRegression(
                LogisticRegression::from_model(model)?,
            ))
        } else if class.ends_with(".IsolationForest") {
            Ok(Estimator::IsolationForest(IsolationForest::from_model(
                model,
            )?))
        } else {
            Err(SklearnError::WrongClass {
                expected: format!("{LOGISTIC_REGRESSION} or {ISOLATION_FOREST}"),
                found: class.to_owned(),
            })
        }
    }
}
