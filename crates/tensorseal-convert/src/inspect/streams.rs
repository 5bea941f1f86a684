//! Joblib and other compressed streams: decoded in bounded steps (see
//! [`crate::stream`]) and judged by content.

use tensorseal_pickle::Profile;

use super::zip_members::{embedded_scan, hold_rest};
use super::{inspect_data, pickle, Ctx, Scope, Verdict};
use crate::compress::{Compression, DecompressError};
use crate::joblib::JoblibHooks;

fn decompress_bounded(
    ctx: &mut Ctx<'_>,
    data: &[u8],
    codec: Compression,
    scope: &Scope,
) -> Option<Vec<u8>> {
    match crate::stream::decompress_sparse(codec, data, ctx.stream_limits(), hold_rest) {
        Ok(v) => {
            ctx.budget -= v.len() as u64;
            Some(v)
        }
        Err(e) => {
            decompress_failed(ctx, scope, &e);
            None
        }
    }
}

fn decompress_failed(ctx: &mut Ctx<'_>, scope: &Scope, e: &DecompressError) {
    let (kind, verdict, offset) = match e {
        DecompressError::LimitExceeded { .. } | DecompressError::ResidentExceeded { .. } => {
            ("limit_exceeded", Verdict::Unsupported, 0)
        }
        DecompressError::RatioExceeded { .. } => ("decompression_bomb", Verdict::Unsupported, 0),
        DecompressError::Unsupported { .. } => ("unsupported_compression", Verdict::Unsupported, 0),
        DecompressError::Trailing { offset, .. } => ("trailing_data", Verdict::Malformed, *offset),
        _ => ("decompression", Verdict::Malformed, 0),
    };
    ctx.fail(scope, offset, kind, verdict, e.to_string());
}

pub(super) fn joblib(
    ctx: &mut Ctx<'_>,
    data: &[u8],
    compression: Option<Compression>,
    scope: &Scope,
) {
    let profile = ctx.profile(Profile::Sklearn);
    let Some(codec) = compression else {
        let mut hooks = JoblibHooks::new(ctx.opts.max_member_bytes, ctx.pickle_options(profile));
        pickle(ctx, data, 0, scope, profile, &mut hooks);
        return;
    };
    // Streamed: array payloads are decoded and discarded, never held.
    let (report, len, err) = crate::stream::joblib_stream(
        codec,
        data,
        ctx.stream_limits(),
        &ctx.pickle_options(profile),
        ctx.opts.max_member_bytes,
    );
    ctx.budget = ctx.budget.saturating_sub(len);
    if let Some(report) = &report {
        ctx.add_pickle(report, 0, scope);
    }
    match &err {
        Some(e) => decompress_failed(ctx, scope, e),
        None => ctx.note(
            scope,
            0,
            format!(
                "{} stream of {len} bytes (array payloads streamed through, not held): offsets of its globals and findings refer to the decompressed stream",
                codec.name(),
            ),
        ),
    }
}

pub(super) fn compressed(ctx: &mut Ctx<'_>, data: &[u8], codec: Compression, scope: &Scope) {
    let Some(inner) = decompress_bounded(ctx, data, codec, scope) else {
        embedded_scan(ctx, data, scope);
        return;
    };
    let child_scope = scope.child(&format!("<{}>", codec.name()), scope.hint);
    let mut child = ctx.child();
    let f = inspect_data(&mut child, &inner, &child_scope);
    let v = child.verdict;
    ctx.merge(child);
    ctx.note(
        scope,
        0,
        format!("{} stream holds {f} content ({v})", codec.name()),
    );
}
