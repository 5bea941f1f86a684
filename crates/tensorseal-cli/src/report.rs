//! Printing: human text by default, one JSON document with `--json`.

use serde_json::Value;

/// Prints a JSON value on one line.
pub fn json_line(v: &Value) {
    println!("{v}");
}
