//! Field readers of the strict zip reader: bounds-checked little-endian
//! reads, extra fields, ZIP64 resolution, names, and locating the end record.

use std::collections::HashSet;

use crate::zip::ZipError;

const SIG_EOCD: u32 = 0x0605_4b50;
const FLAG_UTF8: u16 = 0x0800;

pub(crate) fn rd_u16(
    d: &[u8],
    at: u64,
    structure: &'static str,
    start: u64,
) -> Result<u16, ZipError> {
    let b = slice(d, at, 2, structure, start)?;
    Ok(u16::from_le_bytes([b[0], b[1]]))
}
pub(crate) fn rd_u32(
    d: &[u8],
    at: u64,
    structure: &'static str,
    start: u64,
) -> Result<u32, ZipError> {
    let b = slice(d, at, 4, structure, start)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}
pub(crate) fn rd_u64(
    d: &[u8],
    at: u64,
    structure: &'static str,
    start: u64,
) -> Result<u64, ZipError> {
    let b = slice(d, at, 8, structure, start)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Ok(u64::from_le_bytes(a))
}
pub(crate) fn slice<'d>(
    d: &'d [u8],
    at: u64,
    len: u64,
    structure: &'static str,
    start: u64,
) -> Result<&'d [u8], ZipError> {
    let t = ZipError::Truncated {
        structure,
        offset: start,
    };
    let s = usize::try_from(at).map_err(|_| t.clone())?;
    let l = usize::try_from(len).map_err(|_| t.clone())?;
    let e = s.checked_add(l).ok_or_else(|| t.clone())?;
    d.get(s..e).ok_or(t)
}

/// Resolved (crc, compressed, uncompressed) triple plus whether ZIP64 was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sizes {
    pub crc: u32,
    pub csize: u64,
    pub usize_: u64,
}

/// Parse extra fields, returning the ZIP64 extended-information payload if any.
pub(crate) fn parse_extra<'d>(
    extra: &'d [u8],
    structure: &'static str,
    offset: u64,
) -> Result<Option<&'d [u8]>, ZipError> {
    let bad = || ZipError::BadExtra { structure, offset };
    let mut pos = 0usize;
    let mut zip64 = None;
    let mut seen = HashSet::new();
    while pos < extra.len() {
        let hdr = extra
            .get(pos..pos.checked_add(4).ok_or_else(bad)?)
            .ok_or_else(bad)?;
        let id = u16::from_le_bytes([hdr[0], hdr[1]]);
        let len = usize::from(u16::from_le_bytes([hdr[2], hdr[3]]));
        let start = pos + 4;
        let end = start.checked_add(len).ok_or_else(bad)?;
        let body = extra.get(start..end).ok_or_else(bad)?;
        if !seen.insert(id) {
            // The same extra-field id twice is a differential waiting to happen.
            return Err(bad());
        }
        if id == 0x0001 {
            zip64 = Some(body);
        }
        pos = end;
    }
    Ok(zip64)
}

/// Apply ZIP64 extended information to 32-bit fields (in the order the
/// specification gives: uncompressed, compressed, header offset).
pub(crate) fn resolve_zip64(
    usize32: u32,
    csize32: u32,
    offset32: Option<u32>,
    zip64: Option<&[u8]>,
    structure: &'static str,
    at: u64,
) -> Result<(u64, u64, Option<u64>), ZipError> {
    let bad = || ZipError::BadExtra {
        structure,
        offset: at,
    };
    let mut pos = 0usize;
    let mut take = |present: bool| -> Result<Option<u64>, ZipError> {
        if !present {
            return Ok(None);
        }
        let z = zip64.ok_or_else(bad)?;
        let b = z.get(pos..pos + 8).ok_or_else(bad)?;
        pos += 8;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(Some(u64::from_le_bytes(a)))
    };
    let u = take(usize32 == u32::MAX)?.unwrap_or(u64::from(usize32));
    let c = take(csize32 == u32::MAX)?.unwrap_or(u64::from(csize32));
    let o = match offset32 {
        Some(o32) => Some(take(o32 == u32::MAX)?.unwrap_or(u64::from(o32))),
        None => None,
    };
    // Every byte of the ZIP64 field must have been used (a disk-number field
    // would only appear for multi-disk archives, which are refused).
    if let Some(z) = zip64 {
        if pos != z.len() {
            // Older CPython (as used by numpy.savez) writes a local ZIP64
            // field holding both sizes while also filling the 32-bit
            // fields. Accept that only when both copies agree exactly.
            let lenient = offset32.is_none() && pos == 0 && z.len() == 16;
            if !lenient {
                return Err(bad());
            }
            let mut a = [0u8; 8];
            a.copy_from_slice(&z[..8]);
            let zu = u64::from_le_bytes(a);
            a.copy_from_slice(&z[8..]);
            let zc = u64::from_le_bytes(a);
            if zu != u64::from(usize32) || zc != u64::from(csize32) {
                return Err(bad());
            }
        }
    }
    Ok((u, c, o))
}

pub(crate) fn validate_name(raw: &[u8], flags: u16, offset: u64) -> Result<String, ZipError> {
    let bad = |reason| ZipError::BadName { reason, offset };
    if raw.is_empty() {
        return Err(bad("empty name"));
    }
    if flags & FLAG_UTF8 == 0 && !raw.is_ascii() {
        return Err(bad("non-ASCII name without the UTF-8 flag"));
    }
    let s = std::str::from_utf8(raw).map_err(|_| bad("name is not valid UTF-8"))?;
    if s.contains('\0') {
        return Err(bad("NUL in name"));
    }
    if s.contains('\\') {
        return Err(bad("backslash in name"));
    }
    if s.starts_with('/') {
        return Err(bad("absolute name"));
    }
    if s.split('/').any(|c| c == "..") {
        return Err(bad("'..' component in name"));
    }
    if s.chars().any(|c| c.is_control()) {
        return Err(bad("control character in name"));
    }
    Ok(s.to_owned())
}

/// Where the end-of-central-directory record is: the one record whose
/// comment ends exactly at the end of the input. An archive comment is
/// accepted (PyTorch's miniz and CPython's zipfile both read such archives),
/// but not one that holds a zip end-record signature: lenient readers take
/// the last signature they find, so that would be two archives in one.
pub(crate) fn find_eocd(data: &[u8]) -> Result<u64, ZipError> {
    const EOCD: &str = "end-of-central-directory record";
    let len = data.len() as u64;
    let last = len.checked_sub(22).ok_or(ZipError::Truncated {
        structure: EOCD,
        offset: 0,
    })?;
    let mut found = None;
    for c in 0..=last.min(u64::from(u16::MAX)) {
        let at = last - c;
        if rd_u32(data, at, EOCD, at)? == SIG_EOCD
            && u64::from(rd_u16(data, at + 20, EOCD, at)?) == c
        {
            found = Some(at);
            break;
        }
    }
    let at = found.ok_or(ZipError::NoEocdAtEnd { offset: last })?;
    let comment = &data[(at + 22) as usize..];
    for sig in [b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07"] {
        if comment.windows(4).any(|w| w == sig) {
            return Err(ZipError::Inconsistent {
                structure: EOCD,
                field: "archive comment (it holds an end-record signature)",
                offset: at,
            });
        }
    }
    Ok(at)
}
