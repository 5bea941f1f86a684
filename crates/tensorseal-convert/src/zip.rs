//! A strict, read-only zip reader.
//!
//! Stricter than both CPython's `zipfile` and PyTorch's miniz-based reader:
//!
//! * the end-of-central-directory record (EOCD) and its archive comment
//!   must end exactly at the end of the input (no trailing bytes), and the
//!   comment must not hold an end-record signature (lenient readers take
//!   the last one they find);
//! * ZIP64 records, when present, must sit exactly between the central
//!   directory and the EOCD, and agree with the EOCD;
//! * the first local header is at offset 0, and local entries (header, data,
//!   optional data descriptor) follow each other with no gap or overlap up
//!   to the start of the central directory, in central-directory order;
//! * every local header equals its central-directory entry (name, flags,
//!   method, time, date, CRC-32 and sizes after ZIP64 resolution; with a data
//!   descriptor the descriptor must equal the central directory);
//! * no encryption, no compression other than stored and deflate, no
//!   duplicate, absolute, backslashed or `..` names, single disk only
//!   (entry comments are skipped, as PyTorch's miniz and CPython do);
//! * the CRC-32 of every stored member is checked while opening the archive,
//!   the CRC-32 of a deflated member when it is inflated (bounded).
//!
//! Stored members are returned as zero-copy slices of the input.

use std::borrow::Cow;
use std::collections::HashSet;
use std::io::Read;

use crate::zip_fields::{
    find_eocd, parse_extra, rd_u16, rd_u32, rd_u64, resolve_zip64, slice, validate_name, Sizes,
};

/// Errors of the strict zip reader; each names the structure and the byte
/// offset in the archive where the problem was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ZipError {
    /// The input ended inside a structure.
    #[error("zip: truncated {structure} at offset {offset}")]
    Truncated {
        /// Structure being read.
        structure: &'static str,
        /// Offset where the structure starts.
        offset: u64,
    },
    /// No end-of-central-directory record ends exactly at the end of the input.
    #[error("zip: no end-of-central-directory record at the end of the input (expected at offset {offset}); trailing bytes or an archive comment are refused")]
    NoEocdAtEnd {
        /// Offset where the EOCD was expected.
        offset: u64,
    },
    /// A signature did not match.
    #[error("zip: bad signature for {structure} at offset {offset}")]
    BadSignature {
        /// Structure expected.
        structure: &'static str,
        /// Offset of the signature.
        offset: u64,
    },
    /// Multi-disk archives are refused.
    #[error("zip: multi-disk archive refused ({structure} at offset {offset})")]
    MultiDisk {
        /// Structure carrying the disk number.
        structure: &'static str,
        /// Offset of that structure.
        offset: u64,
    },
    /// A field of a record is inconsistent with another record.
    #[error("zip: inconsistent {field} in {structure} at offset {offset}")]
    Inconsistent {
        /// Structure that holds the bad value.
        structure: &'static str,
        /// Field name.
        field: &'static str,
        /// Offset of the structure.
        offset: u64,
    },
    /// The central directory does not start/end where the records say.
    #[error("zip: central directory at offset {offset} with size {size} does not end where the end records start (offset {expected_end})")]
    CentralDirectoryBounds {
        /// Claimed offset of the central directory.
        offset: u64,
        /// Claimed size.
        size: u64,
        /// Where it should end.
        expected_end: u64,
    },
    /// The declared number of entries cannot fit in the central directory.
    #[error("zip: end-of-central-directory at offset {offset} claims {count} entries, more than the central directory of {size} bytes can hold")]
    TooManyEntries {
        /// Declared count.
        count: u64,
        /// Central directory size.
        size: u64,
        /// Offset of the EOCD.
        offset: u64,
    },
    /// Encrypted entries are refused.
    #[error("zip: encrypted or masked entry '{name}' (flags {flags:#06x}) at offset {offset}")]
    Encrypted {
        /// Entry name.
        name: String,
        /// General-purpose flags.
        flags: u16,
        /// Offset of the central-directory entry.
        offset: u64,
    },
    /// General-purpose flag bits that this reader does not accept.
    #[error(
        "zip: unsupported general-purpose flags {flags:#06x} for entry '{name}' at offset {offset}"
    )]
    UnsupportedFlags {
        /// Entry name.
        name: String,
        /// Flags.
        flags: u16,
        /// Offset of the central-directory entry.
        offset: u64,
    },
    /// Compression method other than stored (0) or deflate (8).
    #[error("zip: unsupported compression method {method} for entry '{name}' at offset {offset}")]
    UnsupportedMethod {
        /// Entry name.
        name: String,
        /// Method number.
        method: u16,
        /// Offset of the central-directory entry.
        offset: u64,
    },
    /// An entry name is not acceptable.
    #[error("zip: bad entry name at offset {offset}: {reason}")]
    BadName {
        /// Why.
        reason: &'static str,
        /// Offset of the central-directory entry.
        offset: u64,
    },
    /// Two entries share a name.
    #[error("zip: duplicate entry name '{name}' at offset {offset}")]
    DuplicateName {
        /// Entry name.
        name: String,
        /// Offset of the second central-directory entry.
        offset: u64,
    },
    /// A local entry does not start where the previous one ended.
    #[error("zip: entry '{name}' has its local header at offset {offset}, expected {expected} (gap, overlap, prepended bytes or out-of-order entry)")]
    NotContiguous {
        /// Entry name.
        name: String,
        /// Actual local-header offset.
        offset: u64,
        /// Expected offset.
        expected: u64,
    },
    /// The local header differs from the central directory.
    #[error("zip: local header of '{name}' at offset {offset} differs from the central directory in {field}")]
    LocalMismatch {
        /// Entry name.
        name: String,
        /// Differing field.
        field: &'static str,
        /// Offset of the local header.
        offset: u64,
    },
    /// A CRC-32 mismatch.
    #[error("zip: CRC-32 mismatch for '{name}' (data at offset {offset}): stored {expected:#010x}, computed {actual:#010x}")]
    Crc {
        /// Entry name.
        name: String,
        /// Offset of the data.
        offset: u64,
        /// CRC in the directory.
        expected: u32,
        /// CRC of the data.
        actual: u32,
    },
    /// Stored member whose compressed and uncompressed sizes differ.
    #[error("zip: stored entry '{name}' at offset {offset} has different compressed and uncompressed sizes")]
    StoredSizeMismatch {
        /// Entry name.
        name: String,
        /// Offset of the central-directory entry.
        offset: u64,
    },
    /// Inflate failed or produced a length different from the declared one.
    #[error("zip: deflate stream of '{name}' at offset {offset} is invalid: {reason}")]
    Inflate {
        /// Entry name.
        name: String,
        /// Offset of the data.
        offset: u64,
        /// Why.
        reason: String,
    },
    /// A member not inflated because a bound of the reader (expansion
    /// ratio, memory) would be exceeded: not a defect of the archive.
    #[error("zip: member '{name}' (data at offset {offset}) not inflated: {reason}")]
    Bounded {
        /// Entry name.
        name: String,
        /// Offset of the data.
        offset: u64,
        /// Which bound.
        reason: String,
    },
    /// Uncompressed size above the configured limit.
    #[error("zip: entry '{name}' declares {size} uncompressed bytes, above the limit of {limit}")]
    TooLarge {
        /// Entry name.
        name: String,
        /// Declared size.
        size: u64,
        /// Limit.
        limit: u64,
    },
    /// No member with that name.
    #[error("zip: no member named '{name}'")]
    NoSuchMember {
        /// Requested name.
        name: String,
    },
    /// A malformed extra field.
    #[error("zip: malformed extra field in {structure} at offset {offset}")]
    BadExtra {
        /// Structure holding the extra field.
        structure: &'static str,
        /// Offset of the structure.
        offset: u64,
    },
}

/// Compression method of a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZipMethod {
    /// Method 0.
    Stored,
    /// Method 8.
    Deflate,
}

/// One validated member of a [`ZipArchive`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipEntry {
    /// Member name (validated UTF-8, relative, no `..`).
    pub name: String,
    /// Compression method.
    pub method: ZipMethod,
    /// CRC-32 of the uncompressed data.
    pub crc32: u32,
    /// Compressed size in bytes.
    pub compressed_size: u64,
    /// Uncompressed size in bytes.
    pub uncompressed_size: u64,
    /// Offset of the local header.
    pub header_offset: u64,
    /// Offset of the (compressed) data.
    pub data_offset: u64,
}

/// A strictly validated zip archive borrowing its input.
#[derive(Debug, Clone)]
pub struct ZipArchive<'a> {
    data: &'a [u8],
    entries: Vec<ZipEntry>,
    /// Upper bound on the inflated size of one member.
    max_member_size: u64,
}

const SIG_LOCAL: u32 = 0x0403_4b50;
const SIG_CENTRAL: u32 = 0x0201_4b50;
const SIG_EOCD64: u32 = 0x0606_4b50;
const SIG_LOCATOR64: u32 = 0x0706_4b50;
const SIG_DESCRIPTOR: u32 = 0x0807_4b50;

const FLAG_ENCRYPTED: u16 = 0x0001;
const FLAG_DEFLATE_OPTS: u16 = 0x0006;
const FLAG_DESCRIPTOR: u16 = 0x0008;
const FLAG_STRONG_ENCRYPTION: u16 = 0x0040;
const FLAG_UTF8: u16 = 0x0800;
const FLAG_MASKED: u16 = 0x2000;

/// Default limit on one member's uncompressed size (4 GiB).
pub const DEFAULT_MAX_MEMBER_SIZE: u64 = 4 << 30;

/// Parsed view of one central-directory record before validation against
/// the local header.
struct CdRecord {
    offset: u64,
    flags: u16,
    method: u16,
    time: u16,
    date: u16,
    name_raw: Vec<u8>,
    sizes: Sizes,
    header_offset: u64,
}

/// How much stored member data [`ZipArchive::parse_releasing`] checks between
/// two calls of its release hook.
pub const RELEASE_STEP: usize = 8 << 20;

impl<'a> ZipArchive<'a> {
    /// Parse and fully validate an archive (see the module docs for the
    /// rules). Stored members have their CRC-32 checked here.
    pub fn parse(data: &'a [u8]) -> Result<Self, ZipError> {
        Self::parse_with_limit(data, DEFAULT_MAX_MEMBER_SIZE)
    }

    /// Like [`ZipArchive::parse`] with an explicit limit on any member's
    /// uncompressed size.
    pub fn parse_with_limit(data: &'a [u8], max_member_size: u64) -> Result<Self, ZipError> {
        Self::parse_inner(data, max_member_size, true, &|_| {})
    }

    /// Like [`ZipArchive::parse_with_limit`], telling `release` about each
    /// stretch of stored member data (at most [`RELEASE_STEP`] bytes) once its
    /// CRC-32 has been computed, so that a caller who maps the archive can drop
    /// those pages from its resident set while the next ones are checked.
    pub fn parse_releasing(
        data: &'a [u8],
        max_member_size: u64,
        release: &dyn Fn(&[u8]),
    ) -> Result<Self, ZipError> {
        Self::parse_inner(data, max_member_size, true, release)
    }

    /// Structure-only validation (every rule except the CRC-32 of stored
    /// members), for cheap format detection.
    pub(crate) fn parse_structure(data: &'a [u8]) -> Result<Self, ZipError> {
        Self::parse_inner(data, DEFAULT_MAX_MEMBER_SIZE, false, &|_| {})
    }

    fn parse_inner(
        data: &'a [u8],
        max_member_size: u64,
        verify_crc: bool,
        release: &dyn Fn(&[u8]),
    ) -> Result<Self, ZipError> {
        let eocd_at = find_eocd(data)?;
        const EOCD: &str = "end-of-central-directory record";
        let disk = rd_u16(data, eocd_at + 4, EOCD, eocd_at)?;
        let cd_disk = rd_u16(data, eocd_at + 6, EOCD, eocd_at)?;
        let n_disk = rd_u16(data, eocd_at + 8, EOCD, eocd_at)?;
        let n_total = rd_u16(data, eocd_at + 10, EOCD, eocd_at)?;
        let cd_size32 = rd_u32(data, eocd_at + 12, EOCD, eocd_at)?;
        let cd_off32 = rd_u32(data, eocd_at + 16, EOCD, eocd_at)?;
        if disk != 0 || cd_disk != 0 {
            return Err(ZipError::MultiDisk {
                structure: EOCD,
                offset: eocd_at,
            });
        }
        if n_disk != n_total {
            return Err(ZipError::Inconsistent {
                structure: EOCD,
                field: "entries on this disk vs total entries",
                offset: eocd_at,
            });
        }

        // ZIP64: a locator immediately before the EOCD.
        let mut count = u64::from(n_total);
        let mut cd_size = u64::from(cd_size32);
        let mut cd_off = u64::from(cd_off32);
        let mut end_records_start = eocd_at;
        if let Some(loc_at) = eocd_at.checked_sub(20) {
            const LOC: &str = "ZIP64 end-of-central-directory locator";
            const E64: &str = "ZIP64 end-of-central-directory record";
            if rd_u32(data, loc_at, LOC, loc_at)? == SIG_LOCATOR64 {
                if rd_u32(data, loc_at + 4, LOC, loc_at)? != 0
                    || rd_u32(data, loc_at + 16, LOC, loc_at)? != 1
                {
                    return Err(ZipError::MultiDisk {
                        structure: LOC,
                        offset: loc_at,
                    });
                }
                let e64_at = rd_u64(data, loc_at + 8, LOC, loc_at)?;
                // The ZIP64 EOCD (56 bytes, no extensible data) must end at the locator.
                if e64_at.checked_add(56) != Some(loc_at) {
                    return Err(ZipError::Inconsistent {
                        structure: LOC,
                        field: "ZIP64 record offset (record must end at the locator)",
                        offset: loc_at,
                    });
                }
                if rd_u32(data, e64_at, E64, e64_at)? != SIG_EOCD64 {
                    return Err(ZipError::BadSignature {
                        structure: E64,
                        offset: e64_at,
                    });
                }
                if rd_u64(data, e64_at + 4, E64, e64_at)? != 44 {
                    return Err(ZipError::Inconsistent {
                        structure: E64,
                        field: "record size",
                        offset: e64_at,
                    });
                }
                if rd_u32(data, e64_at + 16, E64, e64_at)? != 0
                    || rd_u32(data, e64_at + 20, E64, e64_at)? != 0
                {
                    return Err(ZipError::MultiDisk {
                        structure: E64,
                        offset: e64_at,
                    });
                }
                let n64_disk = rd_u64(data, e64_at + 24, E64, e64_at)?;
                let n64 = rd_u64(data, e64_at + 32, E64, e64_at)?;
                let size64 = rd_u64(data, e64_at + 40, E64, e64_at)?;
                let off64 = rd_u64(data, e64_at + 48, E64, e64_at)?;
                if n64_disk != n64 {
                    return Err(ZipError::Inconsistent {
                        structure: E64,
                        field: "entries on this disk vs total entries",
                        offset: e64_at,
                    });
                }
                // The 16/32-bit values must either agree or be saturated.
                let agree16 = |v: u16, w: u64| v == u16::MAX || u64::from(v) == w;
                let agree32 = |v: u32, w: u64| v == u32::MAX || u64::from(v) == w;
                if !agree16(n_total, n64)
                    || !agree32(cd_size32, size64)
                    || !agree32(cd_off32, off64)
                {
                    return Err(ZipError::Inconsistent {
                        structure: EOCD,
                        field: "values disagreeing with the ZIP64 record",
                        offset: eocd_at,
                    });
                }
                count = n64;
                cd_size = size64;
                cd_off = off64;
                end_records_start = e64_at;
            }
        }
        if cd_off.checked_add(cd_size) != Some(end_records_start) {
            return Err(ZipError::CentralDirectoryBounds {
                offset: cd_off,
                size: cd_size,
                expected_end: end_records_start,
            });
        }
        if count > cd_size / 46 {
            return Err(ZipError::TooManyEntries {
                count,
                size: cd_size,
                offset: eocd_at,
            });
        }

        // Central directory.
        let mut records = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
        let mut pos = cd_off;
        const CD: &str = "central directory entry";
        for _ in 0..count {
            let at = pos;
            if rd_u32(data, at, CD, at)? != SIG_CENTRAL {
                return Err(ZipError::BadSignature {
                    structure: CD,
                    offset: at,
                });
            }
            let flags = rd_u16(data, at + 8, CD, at)?;
            let method = rd_u16(data, at + 10, CD, at)?;
            let time = rd_u16(data, at + 12, CD, at)?;
            let date = rd_u16(data, at + 14, CD, at)?;
            let crc = rd_u32(data, at + 16, CD, at)?;
            let csize32 = rd_u32(data, at + 20, CD, at)?;
            let usize32 = rd_u32(data, at + 24, CD, at)?;
            let name_len = u64::from(rd_u16(data, at + 28, CD, at)?);
            let extra_len = u64::from(rd_u16(data, at + 30, CD, at)?);
            // Entry comments are skipped, as every reader does.
            let comment_len = u64::from(rd_u16(data, at + 32, CD, at)?);
            let disk_start = rd_u16(data, at + 34, CD, at)?;
            let off32 = rd_u32(data, at + 42, CD, at)?;
            let name_raw = slice(data, at + 46, name_len, CD, at)?.to_vec();
            let extra = slice(data, at + 46 + name_len, extra_len, CD, at)?;
            if disk_start != 0 && disk_start != u16::MAX {
                return Err(ZipError::MultiDisk {
                    structure: CD,
                    offset: at,
                });
            }
            let zip64 = parse_extra(extra, CD, at)?;
            let (u, c, o) = resolve_zip64(usize32, csize32, Some(off32), zip64, CD, at)?;
            records.push(CdRecord {
                offset: at,
                flags,
                method,
                time,
                date,
                name_raw,
                sizes: Sizes {
                    crc,
                    csize: c,
                    usize_: u,
                },
                header_offset: o.unwrap_or(u64::from(off32)),
            });
            pos = at + 46 + name_len + extra_len + comment_len;
        }
        if pos != end_records_start {
            return Err(ZipError::CentralDirectoryBounds {
                offset: cd_off,
                size: cd_size,
                expected_end: end_records_start,
            });
        }

        // Validate each record against its local header, contiguously.
        let mut names = HashSet::new();
        let mut entries = Vec::with_capacity(records.len());
        let mut expected = 0u64;
        for r in records {
            let name = validate_name(&r.name_raw, r.flags, r.offset)?;
            if r.flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION | FLAG_MASKED) != 0 {
                return Err(ZipError::Encrypted {
                    name,
                    flags: r.flags,
                    offset: r.offset,
                });
            }
            let method = match r.method {
                0 => ZipMethod::Stored,
                8 => ZipMethod::Deflate,
                m => {
                    return Err(ZipError::UnsupportedMethod {
                        name,
                        method: m,
                        offset: r.offset,
                    })
                }
            };
            let allowed = FLAG_DESCRIPTOR
                | FLAG_UTF8
                | if method == ZipMethod::Deflate {
                    FLAG_DEFLATE_OPTS
                } else {
                    0
                };
            if r.flags & !allowed != 0 {
                return Err(ZipError::UnsupportedFlags {
                    name,
                    flags: r.flags,
                    offset: r.offset,
                });
            }
            if !names.insert(name.clone()) {
                return Err(ZipError::DuplicateName {
                    name,
                    offset: r.offset,
                });
            }
            if method == ZipMethod::Stored && r.sizes.csize != r.sizes.usize_ {
                return Err(ZipError::StoredSizeMismatch {
                    name,
                    offset: r.offset,
                });
            }
            if r.sizes.usize_ > max_member_size {
                return Err(ZipError::TooLarge {
                    name,
                    size: r.sizes.usize_,
                    limit: max_member_size,
                });
            }
            if r.header_offset != expected {
                return Err(ZipError::NotContiguous {
                    name,
                    offset: r.header_offset,
                    expected,
                });
            }
            let lh = r.header_offset;
            const LH: &str = "local file header";
            let mismatch = |field| ZipError::LocalMismatch {
                name: name.clone(),
                field,
                offset: lh,
            };
            if rd_u32(data, lh, LH, lh)? != SIG_LOCAL {
                return Err(ZipError::BadSignature {
                    structure: LH,
                    offset: lh,
                });
            }
            let l_flags = rd_u16(data, lh + 6, LH, lh)?;
            let l_method = rd_u16(data, lh + 8, LH, lh)?;
            let l_time = rd_u16(data, lh + 10, LH, lh)?;
            let l_date = rd_u16(data, lh + 12, LH, lh)?;
            let l_crc = rd_u32(data, lh + 14, LH, lh)?;
            let l_csize32 = rd_u32(data, lh + 18, LH, lh)?;
            let l_usize32 = rd_u32(data, lh + 22, LH, lh)?;
            let l_name_len = u64::from(rd_u16(data, lh + 26, LH, lh)?);
            let l_extra_len = u64::from(rd_u16(data, lh + 28, LH, lh)?);
            let l_name = slice(data, lh + 30, l_name_len, LH, lh)?;
            let l_extra = slice(data, lh + 30 + l_name_len, l_extra_len, LH, lh)?;
            if l_flags != r.flags {
                return Err(mismatch("flags"));
            }
            if l_method != r.method {
                return Err(mismatch("compression method"));
            }
            if l_time != r.time || l_date != r.date {
                return Err(mismatch("modification time"));
            }
            if l_name != r.name_raw.as_slice() {
                return Err(mismatch("name"));
            }
            let l_zip64 = parse_extra(l_extra, LH, lh)?;
            let (l_u, l_c, _) = resolve_zip64(l_usize32, l_csize32, None, l_zip64, LH, lh)?;
            let data_offset = lh + 30 + l_name_len + l_extra_len;
            let data_end = data_offset
                .checked_add(r.sizes.csize)
                .ok_or(ZipError::Truncated {
                    structure: "member data",
                    offset: data_offset,
                })?;
            slice(data, data_offset, r.sizes.csize, "member data", data_offset)?;
            let mut end = data_end;
            if r.flags & FLAG_DESCRIPTOR != 0 {
                // With a data descriptor the local values are zero (or equal).
                let zero = l_crc == 0 && l_c == 0 && l_u == 0;
                let equal = l_crc == r.sizes.crc && l_c == r.sizes.csize && l_u == r.sizes.usize_;
                if !zero && !equal {
                    return Err(mismatch("CRC-32/sizes (with data descriptor)"));
                }
                const DD: &str = "data descriptor";
                let mut p = data_end;
                if rd_u32(data, p, DD, p)? == SIG_DESCRIPTOR {
                    p += 4;
                }
                let d_crc = rd_u32(data, p, DD, data_end)?;
                let wide = l_zip64.is_some();
                let (d_c, d_u, dlen) = if wide {
                    (
                        rd_u64(data, p + 4, DD, data_end)?,
                        rd_u64(data, p + 12, DD, data_end)?,
                        20,
                    )
                } else {
                    (
                        u64::from(rd_u32(data, p + 4, DD, data_end)?),
                        u64::from(rd_u32(data, p + 8, DD, data_end)?),
                        12,
                    )
                };
                if d_crc != r.sizes.crc || d_c != r.sizes.csize || d_u != r.sizes.usize_ {
                    return Err(ZipError::Inconsistent {
                        structure: DD,
                        field: "CRC-32/sizes versus the central directory",
                        offset: data_end,
                    });
                }
                end = p + dlen;
            } else if l_crc != r.sizes.crc || l_c != r.sizes.csize || l_u != r.sizes.usize_ {
                return Err(mismatch("CRC-32/sizes"));
            }
            let entry = ZipEntry {
                name,
                method,
                crc32: r.sizes.crc,
                compressed_size: r.sizes.csize,
                uncompressed_size: r.sizes.usize_,
                header_offset: lh,
                data_offset,
            };
            if method == ZipMethod::Stored && verify_crc {
                let bytes = slice(
                    data,
                    data_offset,
                    entry.compressed_size,
                    "member data",
                    data_offset,
                )?;
                let mut crc = crc32fast::Hasher::new();
                for part in bytes.chunks(RELEASE_STEP) {
                    crc.update(part);
                    release(part);
                }
                let actual = crc.finalize();
                if actual != entry.crc32 {
                    return Err(ZipError::Crc {
                        name: entry.name,
                        offset: data_offset,
                        expected: entry.crc32,
                        actual,
                    });
                }
            }
            entries.push(entry);
            expected = end;
        }
        if expected != cd_off {
            return Err(ZipError::NotContiguous {
                name: "<central directory>".to_owned(),
                offset: cd_off,
                expected,
            });
        }
        Ok(ZipArchive {
            data,
            entries,
            max_member_size,
        })
    }

    /// The validated entries, in archive order.
    pub fn entries(&self) -> &[ZipEntry] {
        &self.entries
    }

    /// Find an entry by exact name.
    pub fn entry(&self, name: &str) -> Option<&ZipEntry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// The raw (maybe compressed) bytes of an entry of this archive.
    pub fn raw_entry(&self, e: &ZipEntry) -> Result<&'a [u8], ZipError> {
        slice(
            self.data,
            e.data_offset,
            e.compressed_size,
            "member data",
            e.data_offset,
        )
    }

    /// The bytes of a member: a zero-copy slice for stored members, a bounded,
    /// CRC-checked inflate for deflated ones.
    pub fn read(&self, name: &str) -> Result<Cow<'a, [u8]>, ZipError> {
        let e = self.entry(name).ok_or_else(|| ZipError::NoSuchMember {
            name: name.to_owned(),
        })?;
        self.read_entry(e)
    }

    /// The bytes of an entry of this archive (see [`ZipArchive::read`]).
    pub fn read_entry(&self, e: &ZipEntry) -> Result<Cow<'a, [u8]>, ZipError> {
        let raw = slice(
            self.data,
            e.data_offset,
            e.compressed_size,
            "member data",
            e.data_offset,
        )?;
        match e.method {
            ZipMethod::Stored => Ok(Cow::Borrowed(raw)),
            ZipMethod::Deflate => {
                let infl = |reason: String| ZipError::Inflate {
                    name: e.name.clone(),
                    offset: e.data_offset,
                    reason,
                };
                if e.uncompressed_size > self.max_member_size {
                    return Err(ZipError::TooLarge {
                        name: e.name.clone(),
                        size: e.uncompressed_size,
                        limit: self.max_member_size,
                    });
                }
                let cap = usize::try_from(e.uncompressed_size)
                    .map_err(|_| infl("size does not fit in memory".into()))?;
                let mut out = Vec::with_capacity(cap.min(1 << 24));
                let mut dec = flate2::read::DeflateDecoder::new(raw);
                (&mut dec)
                    .take(e.uncompressed_size.saturating_add(1))
                    .read_to_end(&mut out)
                    .map_err(|err| infl(err.to_string()))?;
                if out.len() as u64 != e.uncompressed_size {
                    return Err(infl(format!(
                        "inflated to {} bytes, directory says {}",
                        out.len(),
                        e.uncompressed_size
                    )));
                }
                if dec.total_in() != e.compressed_size {
                    return Err(infl(format!(
                        "deflate stream ends after {} of {} compressed bytes",
                        dec.total_in(),
                        e.compressed_size
                    )));
                }
                let actual = crc32fast::hash(&out);
                if actual != e.crc32 {
                    return Err(ZipError::Crc {
                        name: e.name.clone(),
                        offset: e.data_offset,
                        expected: e.crc32,
                        actual,
                    });
                }
                Ok(Cow::Owned(out))
            }
        }
    }
}

/// Fuzz-target entry point: parse an archive and read every member, never
/// panicking. Returns the number of members on success.
pub fn fuzz_zip(data: &[u8]) -> Result<usize, ZipError> {
    let z = ZipArchive::parse_with_limit(data, 1 << 24)?;
    for e in z.entries() {
        z.read_entry(e)?;
    }
    Ok(z.entries().len())
}
