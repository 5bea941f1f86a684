//! Content inspection (never unpickles anything): `tensorseal_convert::inspect`,
//! which decides the format from the content and looks into every pickle,
//! archive member and header.
//!
//! The one place that talks to the inspector, so the rest of the crate sees a
//! stable [`Inspection`].

use serde::Serialize;
use tensorseal_convert::Format;

/// The result of inspecting one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inspection {
    /// `safe`, `unknown`, `dangerous`, `malformed` or `unsupported`.
    pub verdict: String,
    /// Human-readable findings (dangerous and unknown globals first).
    pub findings: Vec<String>,
}

impl Inspection {
    /// Whether the verdict lets the file pass; `unknown` passes only when
    /// `allow_unknown_globals` is set.
    pub fn passes(&self, allow_unknown_globals: bool) -> bool {
        match self.verdict.as_str() {
            "safe" => true,
            "unknown" => allow_unknown_globals,
            _ => false,
        }
    }
}

/// Whether files of this format hold pickles (and so must be inspected even
/// when signed): bare pickles, joblib, PyTorch (zip, legacy, TorchScript) and
/// NumPy files (object arrays are pickles).
pub fn is_pickle_family(format: Format) -> bool {
    matches!(
        format,
        Format::Pickle
            | Format::Joblib { .. }
            | Format::TorchLegacy
            | Format::TorchZip
            | Format::TorchScript
            | Format::Npy
            | Format::Npz
    )
}

/// Inspects `bytes` (detected as `format`).
pub fn inspect(bytes: &[u8], format: Format) -> Inspection {
    backend::inspect(bytes, format)
}

mod backend {
    use super::*;
    use tensorseal_convert::inspect::{inspect_bytes, InspectOptions, Verdict};

    /// Backend: `tensorseal_convert::inspect` (every format, never executes).
    pub(super) fn inspect(bytes: &[u8], _format: Format) -> Inspection {
        let report = inspect_bytes(bytes, &InspectOptions::default());
        let mut findings: Vec<String> = report
            .dangerous_globals()
            .into_iter()
            .map(|g| format!("dangerous global {g}"))
            .collect();
        findings.extend(
            report
                .globals
                .iter()
                .filter(|g| g.class == "unknown")
                .map(|g| format!("unknown global {}", g.dotted())),
        );
        findings.extend(
            report
                .findings
                .iter()
                .filter(|f| f.verdict != Verdict::Safe)
                .map(|f| match &f.member {
                    Some(m) => format!("{} in {m} at offset {}: {}", f.kind, f.offset, f.message),
                    None => format!("{} at offset {}: {}", f.kind, f.offset, f.message),
                }),
        );
        if let Some(e) = &report.error {
            findings.push(format!("error: {e}"));
        }
        findings.dedup();
        Inspection {
            verdict: report.verdict.as_str().into(),
            findings,
        }
    }
}
