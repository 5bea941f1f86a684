//! Format detection from content only (never from a file name).

use crate::compress::{decompress_inner, Compression};
use crate::zip::ZipArchive;

/// The tensorseal container magic (recognised, not parsed here).
pub const TENSORSEAL_MAGIC: [u8; 10] = tensorseal_format::MAGIC;
/// The legacy PyTorch magic number, 0x1950a86a20f9469cfc6c.
pub const TORCH_LEGACY_MAGIC: u128 = 0x1950_a86a_20f9_469c_fc6c;

/// A file format decided from content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// `torch.save` zip (>= 1.6): `<root>/data.pkl`, `<root>/data/N`, ...
    TorchZip,
    /// TorchScript archive (`constants.pkl` or `code/`): refused.
    TorchScript,
    /// Legacy PyTorch: magic-number pickle sequence.
    TorchLegacy,
    /// NumPy `.npy`.
    Npy,
    /// NumPy `.npz` (zip of `.npy` members).
    Npz,
    /// Any other zip archive.
    Zip,
    /// 7z archive: unsupported.
    SevenZip,
    /// tar archive (POSIX or GNU; legacy `torch.load` reads them).
    Tar,
    /// joblib pickle stream (NumpyArrayWrapper framing), maybe compressed.
    Joblib {
        /// Whole-stream compression, if any.
        compression: Option<Compression>,
    },
    /// A bare pickle stream.
    Pickle,
    /// A compressed stream whose content is not a recognised format.
    Compressed(Compression),
    /// safetensors.
    Safetensors,
    /// The tensorseal container.
    Tensorseal,
    /// Nothing recognised.
    Unknown,
}

impl Format {
    /// Stable short name, as used in the fixture manifest (`torch-zip`,
    /// `torch-legacy`, `npy`, `npz`, `pickle`, `joblib`, `safetensors`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Format::TorchZip => "torch-zip",
            Format::TorchScript => "torchscript",
            Format::TorchLegacy => "torch-legacy",
            Format::Npy => "npy",
            Format::Npz => "npz",
            Format::Zip => "zip",
            Format::SevenZip => "7z",
            Format::Tar => "tar",
            Format::Joblib { .. } => "joblib",
            Format::Pickle => "pickle",
            Format::Compressed(_) => "compressed",
            Format::Safetensors => "safetensors",
            Format::Tensorseal => "tensorseal",
            Format::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many decompressed bytes detection looks at for compressed streams.
const SNIFF_WINDOW: u64 = 1 << 20;

/// Decide the format of `data` from its bytes.
///
/// Never fails: malformed inputs are reported as the format they claim to
/// be (the reader then returns a typed error). Pickle takes precedence over
/// any format a pickle prefix could also be read as (polyglots are reported
/// as the dangerous interpretation).
pub fn detect(data: &[u8]) -> Format {
    // A format 1 container is routed to the container reader too, which
    // refuses it with a typed "format 1, re-convert" error.
    if data.starts_with(&TENSORSEAL_MAGIC) || data.starts_with(&tensorseal_format::MAGIC_V1) {
        return Format::Tensorseal;
    }
    if data.starts_with(b"\x93NUMPY") {
        return Format::Npy;
    }
    if data.starts_with(b"PK\x03\x04") || data.starts_with(b"PK\x05\x06") {
        return detect_zip(data);
    }
    if data.starts_with(&[0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C]) {
        return Format::SevenZip;
    }
    if crate::inspect::is_tar(data) {
        return Format::Tar;
    }
    if let Some(codec) = Compression::sniff(data) {
        // Compressor magics first, as joblib itself checks them first; none
        // of them is a valid start of a pickle. Look at a bounded prefix of
        // the decompressed stream.
        let inner = match decompress_prefix(codec, data) {
            Some(v) => v,
            None => return Format::Compressed(codec),
        };
        return match detect_pickle(&inner) {
            Some(Format::Pickle) | Some(Format::Joblib { .. }) => Format::Joblib {
                compression: Some(codec),
            },
            _ => Format::Compressed(codec),
        };
    }
    if let Some(p) = detect_pickle(data) {
        return p;
    }
    if is_safetensors(data) {
        return Format::Safetensors;
    }
    Format::Unknown
}

fn decompress_prefix(codec: Compression, data: &[u8]) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    let r: Box<dyn Read + '_> = match codec {
        Compression::Zlib => Box::new(flate2::read::ZlibDecoder::new(data)),
        Compression::Gzip => Box::new(flate2::read::GzDecoder::new(data)),
        Compression::Bz2 => Box::new(bzip2::read::BzDecoder::new(data)),
        Compression::Xz | Compression::Lzma => {
            // lzma-rs has no streaming reader: decode with a small bound.
            return match decompress_inner(codec, data, SNIFF_WINDOW, false) {
                Ok(v) => Some(v),
                // Too large for the window, or a decode error (lzma-rs
                // flushes nothing on error): assume it may be a pickle and
                // let the reader report the precise, typed error.
                Err(_) => Some(b"\x80\x04N.".to_vec()),
            };
        }
        Compression::Lz4 | Compression::ZFile | Compression::Deflate => {
            let limits = crate::stream::StreamLimits {
                total: u64::MAX,
                ratio: u64::MAX,
                resident: u64::MAX,
            };
            let mut out = vec![0u8; SNIFF_WINDOW as usize];
            let mut got = 0usize;
            // Errors after some output still let us sniff.
            let _ = crate::stream::with_decoder(codec, data, limits, |d| {
                while got < out.len() {
                    let n = d.read(&mut out[got..])?;
                    if n == 0 {
                        break;
                    }
                    got += n;
                }
                Ok(())
            });
            out.truncate(got);
            return if out.is_empty() { None } else { Some(out) };
        }
    };
    // Partial reads are fine: errors after some output still let us sniff.
    let _ = r.take(SNIFF_WINDOW).read_to_end(&mut out);
    if out.is_empty() {
        None
    } else {
        Some(out)
    }
}

/// Pickle / legacy torch / joblib recognition on an uncompressed stream.
fn detect_pickle(data: &[u8]) -> Option<Format> {
    // An empty stream is a pickle that lacks its STOP: the reader reports it
    // as malformed rather than letting it pass as "unknown".
    let Some(&first) = data.first() else {
        return Some(Format::Pickle);
    };
    let is_pickle = if first == 0x80 {
        // PROTO n. A safetensors header length such as 0x480 also starts with
        // 80 04, followed by 0x00 (not an opcode): only a valid safetensors
        // header makes such bytes something other than a (malformed) pickle.
        matches!(data.get(1), Some(0..=5))
            && (data.get(2).is_some_and(|&b| is_opcode(b)) || !is_safetensors(data))
    } else {
        // Protocol 0/1: an opcode first and a STOP at the very end.
        first != b'.' && is_opcode(first) && data.last() == Some(&b'.') && data.len() >= 2
    };
    if !is_pickle {
        return None;
    }
    if is_torch_legacy(data) {
        return Some(Format::TorchLegacy);
    }
    if contains(data, b"NumpyArrayWrapper") && contains(data, b"joblib.numpy_pickle") {
        return Some(Format::Joblib { compression: None });
    }
    Some(Format::Pickle)
}

/// Whether a byte is a pickle opcode (protocols 0-5).
pub fn is_opcode(b: u8) -> bool {
    const TEXT: &[u8] = b"(.0123FIJKLMNPQRSTUVXabcdeghijlopqrstu}])GBC";
    TEXT.contains(&b) || (0x80..=0x98).contains(&b)
}

/// `PROTO n; LONG1 10 <magic LE>; STOP` exactly.
fn is_torch_legacy(data: &[u8]) -> bool {
    if data.len() < 15 || data[0] != 0x80 || !(2..=5).contains(&data[1]) {
        return false;
    }
    if data[2] != 0x8a || data[3] != 10 || data[14] != b'.' {
        return false;
    }
    let mut m = [0u8; 16];
    m[..10].copy_from_slice(&data[4..14]);
    u128::from_le_bytes(m) == TORCH_LEGACY_MAGIC
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// safetensors: u64 LE header length, header within the file, starting
/// with `{` and ending with `}` plus optional space padding.
fn is_safetensors(data: &[u8]) -> bool {
    let Some(lenb) = data.get(..8) else {
        return false;
    };
    let mut a = [0u8; 8];
    a.copy_from_slice(lenb);
    let n = u64::from_le_bytes(a);
    let Some(end) = n.checked_add(8) else {
        return false;
    };
    if n < 2 || end > data.len() as u64 {
        return false;
    }
    let header = &data[8..end as usize];
    let trimmed = header
        .iter()
        .rposition(|&b| b != b' ')
        .map(|i| &header[..=i])
        .unwrap_or(&[]);
    header[0] == b'{' && trimmed.last() == Some(&b'}')
}

fn detect_zip(data: &[u8]) -> Format {
    match ZipArchive::parse_structure(data) {
        Ok(z) => classify_zip_names(z.entries().iter().map(|e| e.name.as_str())),
        Err(_) => {
            // Malformed: classify by the first local header's name so the
            // reader for the claimed format reports the typed error.
            let name = first_local_name(data).unwrap_or_default();
            classify_zip_names(std::iter::once(name.as_str()))
        }
    }
}

fn first_local_name(data: &[u8]) -> Option<String> {
    let nl = usize::from(u16::from_le_bytes([*data.get(26)?, *data.get(27)?]));
    let raw = data.get(30..30usize.checked_add(nl)?)?;
    Some(String::from_utf8_lossy(raw).into_owned())
}

/// Classify a zip by its member names.
pub(crate) fn classify_zip_names<'n>(names: impl Iterator<Item = &'n str> + Clone) -> Format {
    let first = names.clone().next();
    let root = first.and_then(|n| n.split_once('/')).map(|(r, _)| r);
    if let Some(root) = root {
        let mut has_data_pkl = false;
        for n in names.clone() {
            if let Some(rest) = n.strip_prefix(root).and_then(|r| r.strip_prefix('/')) {
                if rest == "constants.pkl" || rest.starts_with("code/") {
                    return Format::TorchScript;
                }
                if rest == "data.pkl" {
                    has_data_pkl = true;
                }
            }
        }
        if has_data_pkl {
            return Format::TorchZip;
        }
    }
    if names
        .clone()
        .any(|n| n.ends_with("/constants.pkl") || n == "constants.pkl")
    {
        return Format::TorchScript;
    }
    let mut any = false;
    if names.clone().all(|n| {
        any = true;
        n.ends_with(".npy")
    }) && any
    {
        return Format::Npz;
    }
    Format::Zip
}
