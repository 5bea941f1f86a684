//! Parsing metadata flags and rendering metadata for people and machines.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::{json, Map, Value};
use tensorseal::{MetaValue, ModelInfo};

/// Parses `KEY=VALUE` (a string) or `KEY:TYPE=VALUE` with TYPE one of
/// `str`, `int`, `float`, `bool`, `json`.
pub fn parse_meta(s: &str) -> Result<(String, MetaValue), String> {
    let (lhs, value) = s
        .split_once('=')
        .ok_or_else(|| format!("--meta {s:?}: expected KEY=VALUE or KEY:TYPE=VALUE"))?;
    let (key, ty) = lhs.split_once(':').unwrap_or((lhs, "str"));
    if key.is_empty() {
        return Err(format!("--meta {s:?}: empty key"));
    }
    let bad = |t: &str| format!("--meta {s:?}: {value:?} is not a valid {t}");
    let v = match ty {
        "str" => MetaValue::Str(value.into()),
        "int" => MetaValue::Int(value.parse().map_err(|_| bad("int"))?),
        "float" => MetaValue::Float(value.parse().map_err(|_| bad("float"))?),
        "bool" => MetaValue::Bool(value.parse().map_err(|_| bad("bool"))?),
        "json" => {
            serde_json::from_str::<Value>(value).map_err(|_| bad("JSON document"))?;
            MetaValue::Json(value.into())
        }
        other => {
            return Err(format!(
                "--meta {s:?}: unknown type {other:?} (str, int, float, bool, json)"
            ))
        }
    };
    Ok((key.to_owned(), v))
}

/// Parses `NAME=VERSION`.
pub fn parse_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.into(), v.into())),
        _ => Err(format!("{s:?}: expected NAME=VALUE")),
    }
}

/// Parses an RFC 3339 time into seconds since the epoch.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let t = humantime::parse_rfc3339_weak(s)
        .map_err(|e| format!("{s:?}: {e} (expected RFC 3339, e.g. 2027-01-31T00:00:00Z)"))?;
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| format!("{s:?}: before 1970"))?
        .as_secs();
    i64::try_from(secs).map_err(|_| format!("{s:?}: out of range"))
}

/// Formats seconds since the epoch as RFC 3339.
pub fn fmt_time(secs: i64) -> String {
    match u64::try_from(secs) {
        Ok(s) => humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(s)).to_string(),
        Err(_) => format!("{secs} (before 1970)"),
    }
}

/// A metadata value as JSON.
pub fn meta_json(v: &MetaValue) -> Value {
    match v {
        MetaValue::Bool(b) => json!(b),
        MetaValue::Int(i) => json!(i),
        MetaValue::Float(f) => json!(f),
        MetaValue::Str(s) => json!(s),
        MetaValue::Bytes(b) => json!(hex(b)),
        MetaValue::Json(s) => serde_json::from_str(s).unwrap_or_else(|_| json!(s)),
    }
}

/// The model-level fields as a JSON object (without tensors).
pub fn model_json(info: &ModelInfo) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("model_id".into(), json!(info.model_id));
    m.insert("version".into(), json!(info.version));
    m.insert(
        "metadata".into(),
        Value::Object(
            info.metadata
                .iter()
                .map(|(k, v)| (k.clone(), meta_json(v)))
                .collect(),
        ),
    );
    m.insert("created".into(), json!(fmt_time(info.created)));
    m.insert("expires".into(), json!(info.expires.map(fmt_time)));
    m.insert(
        "producer".into(),
        json!({"tool": info.producer.tool, "version": info.producer.version}),
    );
    m.insert("training_date".into(), json!(info.training_date));
    m.insert(
        "dependencies".into(),
        Value::Object(
            info.dependencies
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect(),
        ),
    );
    m.insert(
        "source".into(),
        match &info.source {
            Some(s) => {
                json!({"format": s.format, "file_name": s.file_name, "sha256": hex(&s.sha256)})
            }
            None => Value::Null,
        },
    );
    m
}

/// Lowercase hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
