//! Zip archives (`.npz` and others): members by content, refusals of the
//! strict reader classified, members a lenient reader would load salvaged.

use std::borrow::Cow;
use std::io::Read;

use tensorseal_pickle::{Limits, NoHooks, Options, Profile};

use super::{find, inspect_data, Ctx, Scope, Verdict};
use crate::zip::{ZipArchive, ZipEntry, ZipError};

pub(super) fn read_member<'a>(
    ctx: &mut Ctx<'_>,
    z: &ZipArchive<'a>,
    e: &ZipEntry,
    scope: &Scope,
) -> Option<Cow<'a, [u8]>> {
    let mscope = scope.child(&e.name, scope.hint);
    if e.method != crate::zip::ZipMethod::Stored
        && !ctx.take_budget(&mscope, e.uncompressed_size, "member")
    {
        return None;
    }
    let read = match e.method {
        crate::zip::ZipMethod::Stored => z.read_entry(e),
        // Inflated into a sparse buffer: a plain `.npy` payload is only
        // counted and CRC-checked, never held.
        crate::zip::ZipMethod::Deflate => z.raw_entry(e).and_then(|raw| {
            crate::stream::inflate_member(raw, e, ctx.stream_limits(), hold_rest).map(Cow::Owned)
        }),
    };
    match read {
        Ok(b) => Some(b),
        Err(err) => {
            let (kind, verdict) = classify_zip_error(&err);
            ctx.fail(&mscope, zip_offset(&err), kind, verdict, err.to_string());
            None
        }
    }
}

/// Whether the rest of a member whose first bytes are `prefix` must be held:
/// not for a `.npy` of plain numbers (its payload is never parsed).
pub(super) fn hold_rest(prefix: &[u8]) -> bool {
    !(prefix.starts_with(b"\x93NUMPY") && crate::npy::parse_npy_header(prefix).is_ok())
}

pub(super) fn archive(ctx: &mut Ctx<'_>, data: &[u8], scope: &Scope) {
    let z = match ctx.parse_zip(data) {
        Ok(z) => z,
        Err(e) => {
            zip_refused(ctx, data, scope, &e, scope.hint);
            return;
        }
    };
    if z.entries().is_empty() {
        ctx.note(scope, 0, "empty archive");
    }
    for (i, e) in z.entries().iter().enumerate() {
        if i >= ctx.opts.max_members {
            ctx.fail(
                scope,
                e.header_offset,
                "limit_exceeded",
                Verdict::Unsupported,
                format!(
                    "more than {} members: the rest is not inspected",
                    ctx.opts.max_members
                ),
            );
            break;
        }
        if e.name.ends_with('/') && e.uncompressed_size == 0 {
            continue; // a directory entry
        }
        let Some(bytes) = read_member(ctx, &z, e, scope) else {
            continue;
        };
        let mscope = scope.child(&e.name, scope.hint);
        let mut child = ctx.child();
        let f = inspect_data(&mut child, &bytes, &mscope);
        let v = child.verdict;
        ctx.merge(child);
        ctx.note(&mscope, 0, format!("member: {f}, {v}"));
    }
}

/// How a strict-reader refusal counts. Differentials that other readers
/// (CPython's zipfile, PyTorch's miniz) resolve differently are the
/// scanner bypasses of research section 6 (class 8): dangerous.
pub(super) fn classify_zip_error(e: &ZipError) -> (&'static str, Verdict) {
    match e {
        ZipError::LocalMismatch { .. }
        | ZipError::DuplicateName { .. }
        | ZipError::Crc { .. }
        | ZipError::UnsupportedFlags { .. }
        | ZipError::NotContiguous { .. }
        | ZipError::StoredSizeMismatch { .. } => ("zip_differential", Verdict::Dangerous),
        ZipError::Encrypted { .. } => ("zip_encrypted", Verdict::Unsupported),
        ZipError::UnsupportedMethod { .. } => ("zip_unsupported_method", Verdict::Unsupported),
        ZipError::TooLarge { .. } | ZipError::Bounded { .. } => {
            ("limit_exceeded", Verdict::Unsupported)
        }
        _ => ("zip_malformed", Verdict::Malformed),
    }
}

pub(super) fn zip_offset(e: &ZipError) -> u64 {
    match e {
        ZipError::Truncated { offset, .. }
        | ZipError::NoEocdAtEnd { offset }
        | ZipError::BadSignature { offset, .. }
        | ZipError::MultiDisk { offset, .. }
        | ZipError::Inconsistent { offset, .. }
        | ZipError::CentralDirectoryBounds { offset, .. }
        | ZipError::TooManyEntries { offset, .. }
        | ZipError::Encrypted { offset, .. }
        | ZipError::UnsupportedFlags { offset, .. }
        | ZipError::UnsupportedMethod { offset, .. }
        | ZipError::BadName { offset, .. }
        | ZipError::DuplicateName { offset, .. }
        | ZipError::NotContiguous { offset, .. }
        | ZipError::LocalMismatch { offset, .. }
        | ZipError::Crc { offset, .. }
        | ZipError::StoredSizeMismatch { offset, .. }
        | ZipError::Inflate { offset, .. }
        | ZipError::Bounded { offset, .. }
        | ZipError::BadExtra { offset, .. } => *offset,
        _ => 0,
    }
}

/// The strict reader refused the archive: report why, then look at what a
/// lenient reader would still load.
pub(super) fn zip_refused(
    ctx: &mut Ctx<'_>,
    data: &[u8],
    scope: &Scope,
    e: &ZipError,
    hint: Option<Profile>,
) {
    let (kind, verdict) = classify_zip_error(e);
    ctx.fail(scope, zip_offset(e), kind, verdict, e.to_string());
    let mut found_dangerous = false;
    let salvaged = salvage_members(ctx, data);
    let count = salvaged.len();
    for (name, offset, bytes) in salvaged {
        let mscope = scope.child(&format!("{name} (salvaged)"), hint);
        let mut child = ctx.child();
        inspect_data(&mut child, &bytes, &mscope);
        found_dangerous |= harvest(
            ctx,
            child,
            &mscope,
            offset,
            "a lenient zip reader (CPython's zipfile, PyTorch's miniz) would still load this member, and it is dangerous",
        );
    }
    if !found_dangerous {
        found_dangerous = embedded_scan(ctx, data, scope);
    }
    if !found_dangerous {
        ctx.note(
            scope,
            0,
            format!(
                "{count} member(s) salvaged with a lenient reader: nothing dangerous found in them"
            ),
        );
    }
}

/// Keep what a salvage pass found: all globals, and its dangerous findings
/// (only a dangerous result changes the verdict: a salvaged member never
/// makes a refused archive look better). Returns whether it was dangerous.
pub(super) fn harvest(
    ctx: &mut Ctx<'_>,
    child: Ctx<'_>,
    scope: &Scope,
    offset: u64,
    why: &str,
) -> bool {
    let dangerous = child.verdict == Verdict::Dangerous;
    ctx.budget = child.budget;
    ctx.globals.extend(child.globals);
    ctx.findings.extend(
        child
            .findings
            .into_iter()
            .filter(|f| f.verdict == Verdict::Dangerous),
    );
    if dangerous {
        ctx.finding(
            scope,
            offset,
            "hidden_payload",
            Verdict::Dangerous,
            why.to_owned(),
        );
    }
    dangerous
}

/// Walk local headers from the start of the archive, ignoring flags,
/// CRCs and the central directory; inflate deflated data (bounded).
fn salvage_members(ctx: &mut Ctx<'_>, data: &[u8]) -> Vec<(String, u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    let cap = ctx
        .opts
        .max_member_bytes
        .min(ctx.budget)
        .min(ctx.opts.max_resident_bytes);
    while out.len() < ctx.opts.max_members.min(1_000) {
        let Some(h) = data.get(pos..pos + 30) else {
            break;
        };
        if h[..4] != *b"PK\x03\x04" {
            break;
        }
        let u16at = |i: usize| usize::from(u16::from_le_bytes([h[i], h[i + 1]]));
        let u32at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]) as usize;
        let method = u16at(8);
        let csize = u32at(18);
        let (nlen, xlen) = (u16at(26), u16at(28));
        let name_end = pos + 30 + nlen;
        let name = data
            .get(pos + 30..name_end)
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default();
        let start = name_end + xlen;
        if start > data.len() {
            break;
        }
        let body = &data[start..];
        let (bytes, consumed) = match method {
            0 => {
                let n = if csize > 0 && csize <= body.len() {
                    csize
                } else {
                    // Unknown size (data descriptor): up to the next header.
                    find(body, b"PK\x03\x04")
                        .or_else(|| find(body, b"PK\x01\x02"))
                        .unwrap_or(body.len())
                };
                (body[..n].to_vec(), n)
            }
            8 => {
                let mut dec = flate2::read::DeflateDecoder::new(body);
                let mut v = Vec::new();
                let _ = (&mut dec).take(cap).read_to_end(&mut v);
                let used = usize::try_from(dec.total_in()).unwrap_or(body.len());
                (
                    v,
                    if csize > 0 {
                        csize.min(body.len())
                    } else {
                        used
                    },
                )
            }
            _ => (Vec::new(), csize.min(body.len())),
        };
        ctx.budget = ctx.budget.saturating_sub(bytes.len() as u64);
        if !bytes.is_empty() {
            out.push((name, start as u64, bytes));
        }
        let next = start + consumed;
        if next <= pos {
            break;
        }
        pos = next;
        // Skip a data descriptor, if one follows.
        if data.get(pos..pos + 4) == Some(b"PK\x07\x08") {
            pos += 16;
        }
    }
    out
}

/// Look for complete protocol-2+ pickles embedded in bytes we cannot parse
/// (7z, unknown, refused zip). Only a pickle that parses to its `STOP` and
/// names a dangerous global counts. Returns whether one was found.
pub(super) fn embedded_scan(ctx: &mut Ctx<'_>, data: &[u8], scope: &Scope) -> bool {
    const MAX_CANDIDATES: usize = 256;
    const WINDOW: usize = 64 << 20;
    let opts = Options {
        profile: ctx.profile(scope.hint.unwrap_or(Profile::Any)),
        limits: Limits {
            max_opcodes: 1_000_000,
            max_materialised_bytes: 1 << 26,
            max_nodes: 1_000_000,
            ..ctx.opts.pickle_limits.clone()
        },
    };
    let end = data.len().min(WINDOW);
    let mut candidates = 0usize;
    let mut found = false;
    let mut i = 0usize;
    while i + 2 < end && candidates < MAX_CANDIDATES {
        if data[i] == 0x80 && (2..=5).contains(&data[i + 1]) {
            candidates += 1;
            let (report, stop) = tensorseal_pickle::inspect_one(data, i, &opts, &mut NoHooks);
            if stop.is_some() && !report.dangerous_globals().is_empty() {
                let escope = match &scope.member {
                    Some(m) => Scope {
                        member: Some(format!("{m}!<embedded pickle @{i}>")),
                        ..scope.clone()
                    },
                    None => Scope {
                        member: Some(format!("<embedded pickle @{i}>")),
                        ..scope.clone()
                    },
                };
                let mut child = ctx.child();
                child.add_pickle(&report, 0, &escope);
                found |= harvest(
                    ctx,
                    child,
                    &escope,
                    i as u64,
                    "a complete pickle naming a dangerous global is embedded in bytes this reader cannot parse",
                );
                if let Some(s) = stop {
                    i = s;
                    continue;
                }
            }
        }
        i += 1;
    }
    found
}
