//! PyTorch checkpoints: zip (and TorchScript) archives and the legacy
//! format, pickles first, then the storages through the converter's checks.

use tensorseal_pickle::{NoHooks, Profile};

use super::zip_members::{classify_zip_error, read_member, zip_offset, zip_refused};
use super::{inspect_data, pickle, Ctx, InspectOptions, Scope, Verdict};
use crate::ConvertOptions;

/// Torch zip records that hold no pickle.
const TORCH_PLAIN_RECORDS: &[&str] = &[
    "byteorder",
    "version",
    ".data/version",
    ".data/serialization_id",
    ".format_version",
    ".storage_alignment",
];

pub(super) fn torch_zip(ctx: &mut Ctx<'_>, data: &[u8], scope: &Scope, script: bool) {
    let z = match ctx.parse_zip(data) {
        Ok(z) => z,
        Err(e) => {
            zip_refused(ctx, data, scope, &e, Some(Profile::Torch));
            return;
        }
    };
    let root = z
        .entries()
        .first()
        .and_then(|e| e.name.split_once('/'))
        .map(|(r, _)| r.to_owned())
        .unwrap_or_default();
    let mut local = ctx.child();
    if script {
        let code = z
            .entries()
            .iter()
            .find(|e| e.name.contains("/code/") || e.name.ends_with("constants.pkl"));
        local.finding(
            scope,
            code.map(|e| e.header_offset).unwrap_or(0),
            "torchscript",
            Verdict::Dangerous,
            format!(
                "TorchScript archive (member '{}'): it carries program code that torch.jit.load compiles and runs (code execution; torch.load reaches it even with weights_only=True before torch 2.6, CVE-2025-32434); refused, its pickles are listed for information",
                code.map(|e| e.name.as_str()).unwrap_or("?")
            ),
        );
    }
    let profile = local.profile(Profile::Torch);
    let mut code_files = 0usize;
    let mut deflated_records = 0usize;
    for (i, e) in z.entries().iter().enumerate() {
        if i >= local.opts.max_members {
            local.fail(
                scope,
                e.header_offset,
                "limit_exceeded",
                Verdict::Unsupported,
                format!(
                    "more than {} members: the rest is not inspected",
                    local.opts.max_members
                ),
            );
            break;
        }
        let rest = e
            .name
            .strip_prefix(root.as_str())
            .and_then(|r| r.strip_prefix('/'))
            .unwrap_or(&e.name);
        if e.name.ends_with('/') && e.uncompressed_size == 0 {
            continue; // a directory entry: torch's miniz reader ignores it
        }
        if let Some(key) = rest.strip_prefix("data/") {
            if !key.is_empty() && !key.contains('/') {
                // Raw storage bytes: never interpreted by torch, which
                // inflates deflated ones: their CRC-32 is checked streaming.
                if e.method == crate::zip::ZipMethod::Deflate {
                    deflated_records += 1;
                    let mscope = scope.child(&e.name, Some(profile));
                    if local.take_budget(&mscope, e.uncompressed_size, "member") {
                        let checked = z.raw_entry(e).and_then(|raw| {
                            crate::stream::inflate_member(raw, e, local.stream_limits(), |_| false)
                        });
                        if let Err(err) = checked {
                            let (kind, verdict) = classify_zip_error(&err);
                            local.fail(&mscope, zip_offset(&err), kind, verdict, err.to_string());
                        }
                    }
                }
                continue;
            }
        }
        if TORCH_PLAIN_RECORDS.contains(&rest) {
            continue;
        }
        if script && rest.starts_with("code/") {
            code_files += 1;
            continue;
        }
        let Some(bytes) = read_member(&mut local, &z, e, scope) else {
            continue;
        };
        let member_scope = scope.child(&e.name, Some(profile));
        if rest.ends_with(".pkl") || rest.ends_with(".debug_pkl") {
            // torch reads these as pickles whatever their bytes look like.
            pickle(&mut local, &bytes, 0, &member_scope, profile, &mut NoHooks);
        } else {
            let mut child = local.child();
            let f = inspect_data(&mut child, &bytes, &member_scope);
            let v = child.verdict;
            local.merge(child);
            local.note(
                &member_scope,
                0,
                format!("unexpected member in a PyTorch archive: {f} content ({v})"),
            );
        }
    }
    if script {
        local.note(
            scope,
            0,
            format!("{code_files} TorchScript code file(s) not inspected (code is never analysed)"),
        );
    }
    let pickles_safe = local.verdict == Verdict::Safe;
    ctx.merge(local);
    if script || !ctx.opts.check_geometry {
        return;
    }
    if deflated_records > 0 {
        // torch.load inflates them; the zero-copy converter does not.
        ctx.note(
            scope,
            0,
            format!("storage geometry not checked: {deflated_records} storage record(s) are deflated (CRC-32 and sizes checked)"),
        );
        return;
    }
    if !pickles_safe {
        ctx.note(
            scope,
            0,
            "storage geometry not checked: the pickles are not all safe",
        );
        return;
    }
    let copts = ConvertOptions {
        release: ctx.release.clone(),
        ..convert_options(ctx.opts)
    };
    if let Err(e) = crate::torch::import_zip(data, &copts, &mut |_| Ok(())) {
        torch_refusal(ctx, scope, 0, &e);
    } else {
        ctx.note(
            scope,
            0,
            "records, storage geometry and dtypes checked by the converter",
        );
    }
}

/// The converter refused a PyTorch file whose pickles are safe. A tensor it
/// does not convert (quantized, sparse) is reported only after every
/// storage and geometry was checked, so the file is what its globals say it
/// is; anything else is a structural problem.
fn torch_refusal(ctx: &mut Ctx<'_>, scope: &Scope, offset: u64, e: &crate::ConvertError) {
    if let crate::ConvertError::Unconvertible { .. } = e {
        ctx.finding(
            scope,
            offset,
            "not_convertible",
            Verdict::Safe,
            format!("{e}; records, storage geometry and dtypes checked by the converter"),
        );
    } else {
        ctx.fail(
            scope,
            offset,
            "torch_structure",
            Verdict::Malformed,
            e.to_string(),
        );
    }
}

fn convert_options(o: &InspectOptions) -> ConvertOptions {
    ConvertOptions {
        max_decompressed_bytes: o.max_member_bytes,
        max_tensor_bytes: o.max_member_bytes,
        max_zip_member_bytes: o.max_member_bytes,
        ..ConvertOptions::default()
    }
}

pub(super) fn torch_legacy(ctx: &mut Ctx<'_>, data: &[u8], scope: &Scope) {
    const PARTS: [&str; 5] = [
        "magic number",
        "protocol version",
        "sys_info",
        "object",
        "storage keys",
    ];
    let mut local = ctx.child();
    let opts = local.pickle_options(local.profile(Profile::Torch));
    let mut pos = 0usize;
    let mut complete = true;
    for part in PARTS {
        let (report, end) = tensorseal_pickle::inspect_one(data, pos, &opts, &mut NoHooks);
        local.add_pickle(&report, 0, scope);
        match end {
            Some(e) => pos = e,
            None => {
                local.fail(
                    scope,
                    pos as u64,
                    "legacy_structure",
                    Verdict::Malformed,
                    format!("legacy PyTorch {part} pickle at offset {pos} did not parse"),
                );
                complete = false;
                break;
            }
        }
    }
    let safe = local.verdict == Verdict::Safe;
    ctx.merge(local);
    if !complete || !ctx.opts.check_geometry {
        return;
    }
    if !safe {
        ctx.note(
            scope,
            pos as u64,
            format!(
                "{} bytes of raw storages after the pickles not checked: the pickles are not all safe",
                data.len() - pos
            ),
        );
        return;
    }
    let copts = ConvertOptions {
        release: ctx.release.clone(),
        ..convert_options(ctx.opts)
    };
    if let Err(e) = crate::torch::import_legacy(data, &copts, &mut |_| Ok(())) {
        torch_refusal(ctx, scope, pos as u64, &e);
    } else {
        ctx.note(
            scope,
            pos as u64,
            "raw storages, storage geometry and dtypes checked by the converter",
        );
    }
}
