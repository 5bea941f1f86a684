//! tar archives (`.tar`, and `.tar.gz` & co. through the compressed-stream
//! path): legacy `torch.load` reads tar checkpoints, so every regular
//! member is looked into by content, like a zip member. Members are
//! zero-copy slices of the input; the `tar` crate only walks the headers.

use super::{inspect_data, Ctx, Scope, Verdict};
use tensorseal_pickle::Profile;

/// Whether `data` is a POSIX or GNU tar (the `ustar` magic of the first
/// header, whose checksum must be right).
pub(crate) fn is_tar(data: &[u8]) -> bool {
    let Some(h) = data.get(..512) else {
        return false;
    };
    if &h[257..262] != b"ustar" {
        return false;
    }
    let field = &h[148..156];
    let digits: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|&b| b == b' ')
        .take_while(|b| (b'0'..=b'7').contains(b))
        .collect();
    let Ok(text) = std::str::from_utf8(&digits) else {
        return false;
    };
    let Ok(want) = u32::from_str_radix(text, 8) else {
        return false;
    };
    let sum: u32 = h
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(b)
            }
        })
        .sum();
    sum == want
}

pub(super) fn tar(ctx: &mut Ctx<'_>, data: &[u8], scope: &Scope) {
    let mut archive = tar::Archive::new(data);
    let entries = match archive.entries() {
        Ok(e) => e,
        Err(err) => {
            ctx.fail(
                scope,
                0,
                "tar_malformed",
                Verdict::Malformed,
                format!("tar: {err}"),
            );
            return;
        }
    };
    let mut members = 0usize;
    let mut last_end = 0u64;
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(err) => {
                ctx.fail(
                    scope,
                    last_end,
                    "tar_malformed",
                    Verdict::Malformed,
                    format!("tar: bad header after offset {last_end}: {err}"),
                );
                return;
            }
        };
        let at = entry.raw_header_position();
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let start = entry.raw_file_position();
        let size = entry.size();
        last_end = start.saturating_add(size);
        members += 1;
        if members > ctx.opts.max_members {
            ctx.fail(
                scope,
                at,
                "limit_exceeded",
                Verdict::Unsupported,
                format!(
                    "more than {} members: the rest is not inspected",
                    ctx.opts.max_members
                ),
            );
            return;
        }
        let kind = entry.header().entry_type();
        let mscope = scope.child(&name, scope.hint.or(Some(Profile::Torch)));
        if kind.is_dir() {
            continue;
        }
        if kind.is_symlink() || kind.is_hard_link() {
            // tarfile's extractfile follows links to members that are
            // inspected in their own right.
            ctx.note(
                &mscope,
                at,
                "link member: its target is inspected as a member",
            );
            continue;
        }
        if !kind.is_file() && !kind.is_contiguous() {
            ctx.fail(
                &mscope,
                at,
                "unsupported_member",
                Verdict::Unsupported,
                format!(
                    "tar member of type {:?}: not looked into",
                    kind.as_byte() as char
                ),
            );
            continue;
        }
        let Some(bytes) = usize::try_from(start)
            .ok()
            .zip(usize::try_from(last_end).ok())
            .and_then(|(s, e)| data.get(s..e))
        else {
            ctx.fail(
                &mscope,
                at,
                "tar_malformed",
                Verdict::Malformed,
                format!("tar member data at offset {start} ({size} bytes) runs past the end"),
            );
            return;
        };
        let mut child = ctx.child();
        let f = inspect_data(&mut child, bytes, &mscope);
        let v = child.verdict;
        ctx.merge(child);
        ctx.note(&mscope, start, format!("member: {f}, {v}"));
    }
    if members == 0 {
        ctx.note(scope, 0, "empty archive");
    }
}
