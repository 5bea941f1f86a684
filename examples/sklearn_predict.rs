//! Serve a scikit-learn model from a sealed container instead of a pickle.
//!
//! ```text
//! tensorseal convert risk_logreg.joblib -o risk.tseal
//! cargo run --release --example sklearn_predict -- risk.tseal INPUTS.json
//! ```
//!
//! `INPUTS.json` is a JSON array of rows (arrays of numbers), or an object
//! with such an array under `"inputs"` (as in `expected_outputs.json`). The
//! estimator class is read from the container's `sklearn.class` metadata:
//! a `LogisticRegression` prints `predict_proba` and `decision_function`, an
//! `IsolationForest` prints `score_samples` and `decision_function`, as one
//! JSON object on stdout.
//!
//! The container is opened with `Policy::allow_unsigned()` (the converter
//! writes unsigned files unless asked to sign); a deployment should require
//! signatures from a trust store instead.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{json, Value};
use tensorseal::{Model, Policy};
use tensorseal_convert::sklearn::{estimator_class, Estimator};

const USAGE: &str = "usage: sklearn_predict MODEL.tseal INPUTS.json";

fn read_rows(path: &PathBuf) -> Result<Vec<Vec<f64>>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let rows = match &doc {
        Value::Array(a) => a,
        Value::Object(o) => o
            .get("inputs")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("{}: no \"inputs\" array", path.display()))?,
        _ => return Err(format!("{}: expected an array of rows", path.display())),
    };
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            r.as_array()
                .ok_or_else(|| format!("row {i} is not an array"))?
                .iter()
                .map(|v| {
                    v.as_f64()
                        .ok_or_else(|| format!("row {i}: not a number: {v}"))
                })
                .collect()
        })
        .collect()
}

fn run(model_path: PathBuf, inputs: PathBuf) -> Result<Value, String> {
    let rows = read_rows(&inputs)?;
    let model = Model::open(&model_path, &Policy::allow_unsigned())
        .map_err(|e| format!("{}: {e}", model_path.display()))?;
    let class = estimator_class(&model)
        .map_err(|e| e.to_string())?
        .to_owned();
    let estimator = Estimator::from_model(&model).map_err(|e| e.to_string())?;
    Ok(match estimator {
        Estimator::LogisticRegression(lr) => {
            let proba = lr.predict_proba(&rows).map_err(|e| e.to_string())?;
            let decision = lr.decision_function(&rows).map_err(|e| e.to_string())?;
            // Binary problems: one score per row, as scikit-learn's 1-D array.
            let decision: Value = if lr.n_classes() == 2 {
                json!(decision.iter().map(|d| d[0]).collect::<Vec<f64>>())
            } else {
                json!(decision)
            };
            json!({"model": class, "predict_proba": proba, "decision_function": decision})
        }
        Estimator::IsolationForest(forest) => {
            let scores = forest.score_samples(&rows).map_err(|e| e.to_string())?;
            let decision = forest.decision_function(&rows).map_err(|e| e.to_string())?;
            json!({"model": class, "score_samples": scores, "decision_function": decision,
                   "offset_": forest.offset()})
        }
        _ => return Err(format!("{class}: no prediction for this estimator")),
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, inputs] = args.as_slice() else {
        eprintln!("{USAGE}");
        return ExitCode::from(64);
    };
    match run(PathBuf::from(model), PathBuf::from(inputs)) {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sklearn_predict: {e}");
            ExitCode::FAILURE
        }
    }
}
