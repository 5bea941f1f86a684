//! safetensors headers and tensorseal containers (structure only).

use std::collections::HashSet;

use super::{Ctx, Scope, Verdict};

/// safetensors' own limit on the header size.
const MAX_SAFETENSORS_HEADER: u64 = 100_000_000;

pub(super) fn safetensors(ctx: &mut Ctx<'_>, data: &[u8], scope: &Scope) {
    match check_safetensors(data) {
        Ok((n, unknown)) => {
            for (offset, msg) in unknown {
                ctx.finding(scope, offset, "unknown_dtype", Verdict::Unknown, msg);
            }
            ctx.note(
                scope,
                8,
                format!("safetensors header checked: {n} tensor(s)"),
            );
        }
        Err((offset, msg)) => {
            ctx.fail(
                scope,
                offset,
                "safetensors_malformed",
                Verdict::Malformed,
                msg,
            );
        }
    }
}

type StResult = Result<(usize, Vec<(u64, String)>), (u64, String)>;

fn check_safetensors(data: &[u8]) -> StResult {
    let bad = |o: u64, m: String| Err((o, m));
    let Some(lenb) = data.get(..8) else {
        return bad(0, "safetensors: truncated header length".into());
    };
    let n = u64::from_le_bytes(lenb.try_into().unwrap_or([0; 8]));
    if n > MAX_SAFETENSORS_HEADER {
        return bad(
            0,
            format!("safetensors: header of {n} bytes exceeds {MAX_SAFETENSORS_HEADER}"),
        );
    }
    let hend = 8 + n as usize;
    let Some(header) = data.get(8..hend) else {
        return bad(
            0,
            format!("safetensors: header of {n} bytes runs past the end"),
        );
    };
    let Ok(text) = std::str::from_utf8(header) else {
        return bad(8, "safetensors: header is not UTF-8".into());
    };
    if !text.starts_with('{') {
        return bad(8, "safetensors: header does not start with '{'".into());
    }
    let v: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return bad(8, format!("safetensors: header is not JSON: {e}")),
    };
    let Some(obj) = v.as_object() else {
        return bad(8, "safetensors: header is not a JSON object".into());
    };
    if let Some(dup) = duplicate_top_level_key(text) {
        return bad(8, format!("safetensors: key '{dup}' appears twice in the header (readers disagree on which wins)"));
    }
    let body_len = (data.len() - hend) as u64;
    let mut spans = Vec::with_capacity(obj.len());
    let mut unknown = Vec::new();
    for (name, t) in obj {
        if name == "__metadata__" {
            let ok = t
                .as_object()
                .is_some_and(|m| m.values().all(serde_json::Value::is_string));
            if !ok {
                return bad(
                    8,
                    "safetensors: __metadata__ is not a map of strings".into(),
                );
            }
            continue;
        }
        let Some(fields) = t.as_object() else {
            return bad(8, format!("safetensors: tensor '{name}' is not an object"));
        };
        if fields.len() != 3 {
            return bad(
                8,
                format!("safetensors: tensor '{name}' needs exactly dtype, shape, data_offsets"),
            );
        }
        let dtype = fields.get("dtype").and_then(|d| d.as_str());
        let shape: Option<Vec<u64>> = fields
            .get("shape")
            .and_then(|s| s.as_array())
            .and_then(|a| a.iter().map(serde_json::Value::as_u64).collect());
        let offs: Option<Vec<u64>> = fields
            .get("data_offsets")
            .and_then(|s| s.as_array())
            .and_then(|a| a.iter().map(serde_json::Value::as_u64).collect());
        let (Some(dtype), Some(shape), Some(offs)) = (dtype, shape, offs) else {
            return bad(
                8,
                format!("safetensors: tensor '{name}' has a bad dtype, shape or data_offsets"),
            );
        };
        let [begin, end] = offs[..] else {
            return bad(
                8,
                format!("safetensors: tensor '{name}': data_offsets is not [begin, end]"),
            );
        };
        if begin > end || end > body_len {
            return bad(hend as u64, format!("safetensors: tensor '{name}': data_offsets [{begin}, {end}] outside the {body_len}-byte data"));
        }
        match dtype.parse::<crate::DType>() {
            Ok(dt) => {
                let bits = crate::layout::numel(&shape).and_then(|n| n.checked_mul(dt.bits()));
                if bits.map(|b| b.div_ceil(8)) != Some(end - begin) {
                    return bad(
                        hend as u64 + begin,
                        format!("safetensors: tensor '{name}': shape {shape:?} of {dtype} does not fill its {} bytes", end - begin),
                    );
                }
            }
            Err(_) => unknown.push((
                8,
                format!("safetensors: tensor '{name}' has dtype {dtype}, unknown to this reader"),
            )),
        }
        spans.push((begin, end, name.clone()));
    }
    spans.sort();
    let mut at = 0u64;
    for (begin, end, name) in &spans {
        if *begin != at {
            return bad(hend as u64 + begin, format!("safetensors: tensor '{name}' starts at {begin}, expected {at} (gap or overlap)"));
        }
        at = *end;
    }
    if at != body_len {
        return bad(
            hend as u64 + at,
            format!(
                "safetensors: {} byte(s) after the last tensor",
                body_len - at
            ),
        );
    }
    Ok((spans.len(), unknown))
}

/// A key of the top-level JSON object that appears twice (after decoding
/// escapes), found with a small lexer over already valid JSON.
fn duplicate_top_level_key(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0usize;
    let mut seen = HashSet::new();
    let mut expect_key = false;
    while i < b.len() {
        match b[i] {
            b'{' | b'[' => {
                depth += 1;
                expect_key = depth == 1 && b[i] == b'{';
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b',' if depth == 1 => expect_key = true,
            b'"' => {
                let start = i;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if depth == 1 && expect_key {
                    let raw = text.get(start..=i.min(b.len() - 1))?;
                    let key: String = serde_json::from_str(raw).ok()?;
                    if !seen.insert(key.clone()) {
                        return Some(key);
                    }
                    expect_key = false;
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

pub(super) fn container(ctx: &mut Ctx<'_>, data: &[u8], scope: &Scope) {
    // Structure only: signatures are not verified, expiry is not judged.
    let policy = tensorseal::Policy::allow_unsigned().at_time(i64::MIN);
    match tensorseal::Model::from_bytes(data, &policy, tensorseal::Verification::Eager) {
        Ok(m) => ctx.note(
            scope,
            0,
            format!(
                "tensorseal container: structure, manifest digest and {} slice digest(s) checked keyless (Policy::allow_unsigned): no signature was verified",
                m.manifest().slices.len()
            ),
        ),
        Err(e) => {
            use tensorseal::ErrorKind as K;
            let (kind, verdict) = match e.kind() {
                K::BadSignature { .. } => ("bad_signature", Verdict::Dangerous),
                K::Format(_)
                | K::KeyCommitment(_)
                | K::SliceKeyCommitment { .. }
                | K::HeaderMac
                | K::BadStanza { .. }
                | K::Invalid(_) => ("container_malformed", Verdict::Malformed),
                // Trust, keys, rollback state: not decidable without keys.
                _ => ("container_unchecked", Verdict::Unsupported),
            };
            ctx.fail(scope, 0, kind, verdict, e.to_string())
        },
    }
}
