//! The two fixed-size structures: the preamble at offset 0 and the footer at the end.

use crate::error::{ErrorKind, FormatError, Structure};

/// Magic bytes at offset 0, PNG-style: the first byte, 0xAB, is not ASCII (7-bit
/// transfers break it), is not a valid first byte of UTF-8 text, and is not a
/// pickle opcode (so no container is also a loadable pickle: CPython's unpickler
/// stops at it with "invalid load key"); CR LF, ^Z and LF catch text-mode
/// line-ending conversion in either direction.
pub const MAGIC: [u8; 10] = *b"\xABTSEAL\r\n\x1a\n";
/// Magic bytes that end the file (the last 8 bytes of the footer).
pub const END_MAGIC: [u8; 8] = *b"\xABTSEOF\r\n";
/// The magic of format 1 (`\x89TSEAL\r\n`), recognised only to refuse such files
/// clearly: its first byte is the pickle opcode NEWFALSE.
pub const MAGIC_V1: [u8; 8] = *b"\x89TSEAL\r\n";
/// The major version this reader implements.
pub const MAJOR: u16 = 2;
/// The minor version this writer produces.
pub const MINOR: u16 = 0;
/// Byte-order marker for little-endian data (the only one defined).
pub const LITTLE_ENDIAN: u8 = 0x01;
/// Preamble length in bytes.
pub const PREAMBLE_LEN: u64 = 64;
/// Offset of the data region: the first 4096-byte boundary.
pub const DATA_OFFSET: u64 = 4096;
/// Every tensor starts at a multiple of this many bytes from the start of the file.
pub const TENSOR_ALIGN: u64 = 64;
/// Footer length in bytes.
pub const FOOTER_LEN: u64 = 128;

fn u16_at(b: &[u8], at: usize) -> u16 {
    let mut a = [0u8; 2];
    a.copy_from_slice(&b[at..at + 2]);
    u16::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn digest_at(b: &[u8], at: usize) -> [u8; 32] {
    let mut a = [0u8; 32];
    a.copy_from_slice(&b[at..at + 32]);
    a
}

/// The decoded preamble.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preamble {
    /// Major version.
    pub major: u16,
    /// Minor version.
    pub minor: u16,
}

impl Preamble {
    /// The preamble this writer produces.
    pub const CURRENT: Preamble = Preamble {
        major: MAJOR,
        minor: MINOR,
    };

    /// Encodes the 64 bytes.
    pub fn encode(&self) -> [u8; PREAMBLE_LEN as usize] {
        let mut b = [0u8; PREAMBLE_LEN as usize];
        b[0..10].copy_from_slice(&MAGIC);
        b[10..12].copy_from_slice(&self.major.to_le_bytes());
        b[12..14].copy_from_slice(&self.minor.to_le_bytes());
        b[14] = LITTLE_ENDIAN;
        b[16..24].copy_from_slice(&DATA_OFFSET.to_le_bytes());
        b[24..32].copy_from_slice(&TENSOR_ALIGN.to_le_bytes());
        b
    }

    /// Decodes and checks the first 64 bytes of a file.
    pub fn decode(file_start: &[u8]) -> Result<Preamble, FormatError> {
        let err = |kind| FormatError::new(Structure::Preamble, 0, kind);
        let b = file_start
            .get(..PREAMBLE_LEN as usize)
            .ok_or(err(ErrorKind::Truncated {
                needed: PREAMBLE_LEN,
                available: file_start.len() as u64,
            }))?;
        if b[0..8] == MAGIC_V1 {
            return Err(err(ErrorKind::FormatV1 {
                major: u16_at(b, 8),
                minor: u16_at(b, 10),
            }));
        }
        if b[0..10] != MAGIC {
            return Err(err(ErrorKind::BadMagic));
        }
        let major = u16_at(b, 10);
        if major != MAJOR {
            return Err(err(ErrorKind::UnsupportedMajor {
                found: major,
                supported: MAJOR,
            }));
        }
        if b[14] != LITTLE_ENDIAN {
            return Err(err(ErrorKind::ByteOrder(b[14])));
        }
        for (field, at, expected) in [
            ("data_offset", 16, DATA_OFFSET),
            ("tensor_align", 24, TENSOR_ALIGN),
        ] {
            let found = u64_at(b, at);
            if found != expected {
                return Err(err(ErrorKind::FixedField {
                    field,
                    expected,
                    found,
                }));
            }
        }
        if b[15..16].iter().chain(&b[32..64]).any(|&x| x != 0) {
            return Err(err(ErrorKind::NonZeroPadding));
        }
        Ok(Preamble {
            major,
            minor: u16_at(b, 12),
        })
    }
}

/// The decoded footer: where the manifest and the two blocks are, and their digests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    /// Absolute offset of the manifest.
    pub manifest_offset: u64,
    /// Manifest length.
    pub manifest_len: u64,
    /// Signature block length (0: no signatures). It follows the manifest.
    pub signatures_len: u64,
    /// Recipient block length (0: not encrypted). It follows the signature block.
    pub recipients_len: u64,
    /// SHA-256 of the manifest bytes.
    pub manifest_sha256: [u8; 32],
    /// SHA-256 of the signature block followed by the recipient block.
    pub blocks_sha256: [u8; 32],
    /// Major version (must equal the preamble's).
    pub major: u16,
    /// Minor version (must equal the preamble's).
    pub minor: u16,
}

impl Footer {
    /// Absolute offset of the signature block.
    pub fn signatures_offset(&self) -> u64 {
        self.manifest_offset + self.manifest_len
    }

    /// Absolute offset of the recipient block.
    pub fn recipients_offset(&self) -> u64 {
        self.signatures_offset() + self.signatures_len
    }

    /// Encodes the 128 bytes.
    pub fn encode(&self) -> [u8; FOOTER_LEN as usize] {
        let mut b = [0u8; FOOTER_LEN as usize];
        b[0..8].copy_from_slice(&self.manifest_offset.to_le_bytes());
        b[8..16].copy_from_slice(&self.manifest_len.to_le_bytes());
        b[16..24].copy_from_slice(&self.signatures_len.to_le_bytes());
        b[24..32].copy_from_slice(&self.recipients_len.to_le_bytes());
        b[32..64].copy_from_slice(&self.manifest_sha256);
        b[64..96].copy_from_slice(&self.blocks_sha256);
        b[112..114].copy_from_slice(&self.major.to_le_bytes());
        b[114..116].copy_from_slice(&self.minor.to_le_bytes());
        b[120..128].copy_from_slice(&END_MAGIC);
        b
    }

    /// Decodes the footer from the last 128 bytes of a file of `file_len` bytes and checks
    /// that the regions it describes tile the tail of the file exactly.
    pub fn decode(tail: &[u8], file_len: u64) -> Result<Footer, FormatError> {
        let at = file_len.saturating_sub(FOOTER_LEN);
        let err = |kind| FormatError::new(Structure::Footer, at, kind);
        if file_len < DATA_OFFSET + FOOTER_LEN || tail.len() as u64 != FOOTER_LEN {
            return Err(FormatError::new(
                Structure::File,
                0,
                ErrorKind::Truncated {
                    needed: DATA_OFFSET + FOOTER_LEN,
                    available: file_len,
                },
            ));
        }
        let b = tail;
        if b[120..128] != END_MAGIC {
            return Err(err(ErrorKind::BadMagic));
        }
        if b[96..112].iter().chain(&b[116..120]).any(|&x| x != 0) {
            return Err(err(ErrorKind::NonZeroPadding));
        }
        let f = Footer {
            manifest_offset: u64_at(b, 0),
            manifest_len: u64_at(b, 8),
            signatures_len: u64_at(b, 16),
            recipients_len: u64_at(b, 24),
            manifest_sha256: digest_at(b, 32),
            blocks_sha256: digest_at(b, 64),
            major: u16_at(b, 112),
            minor: u16_at(b, 114),
        };
        let expected = f
            .manifest_offset
            .checked_add(f.manifest_len)
            .and_then(|x| x.checked_add(f.signatures_len))
            .and_then(|x| x.checked_add(f.recipients_len))
            .and_then(|x| x.checked_add(FOOTER_LEN));
        match expected {
            Some(e) if e == file_len && f.manifest_offset >= DATA_OFFSET => Ok(f),
            _ => Err(err(ErrorKind::FileLength {
                expected: expected.unwrap_or(u64::MAX),
                found: file_len,
            })),
        }
    }
}

/// Checks that preamble and footer name the same version.
pub fn check_versions(p: &Preamble, f: &Footer, footer_offset: u64) -> Result<(), FormatError> {
    if (p.major, p.minor) != (f.major, f.minor) {
        return Err(FormatError::new(
            Structure::Footer,
            footer_offset,
            ErrorKind::VersionMismatch {
                preamble_major: p.major,
                preamble_minor: p.minor,
                footer_major: f.major,
                footer_minor: f.minor,
            },
        ));
    }
    Ok(())
}

/// Rounds `x` up to the next multiple of [`TENSOR_ALIGN`], or `None` on overflow.
pub fn align_up(x: u64) -> Option<u64> {
    x.checked_add(TENSOR_ALIGN - 1)
        .map(|v| v & !(TENSOR_ALIGN - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preamble_round_trip_and_refusals() {
        let b = Preamble::CURRENT.encode();
        assert_eq!(Preamble::decode(&b).unwrap(), Preamble::CURRENT);
        assert_eq!(&b[..10], b"\xABTSEAL\r\n\x1a\n");
        assert_eq!(&b[10..15], &[2, 0, 0, 0, 1]);
        let mut text_mode = b;
        text_mode[6] = b'\n';
        assert_eq!(
            Preamble::decode(&text_mode).unwrap_err().kind,
            ErrorKind::BadMagic
        );
        let mut major = b;
        major[10] = 3;
        assert!(matches!(
            Preamble::decode(&major).unwrap_err().kind,
            ErrorKind::UnsupportedMajor { found: 3, .. }
        ));
        let mut newer_minor = b;
        newer_minor[12] = 7;
        assert_eq!(Preamble::decode(&newer_minor).unwrap().minor, 7);
        let mut pad = b;
        pad[40] = 1;
        assert_eq!(
            Preamble::decode(&pad).unwrap_err().kind,
            ErrorKind::NonZeroPadding
        );
        assert!(matches!(
            Preamble::decode(&b[..10]).unwrap_err().kind,
            ErrorKind::Truncated { .. }
        ));
    }

    #[test]
    fn format_1_is_refused_as_format_1() {
        // The preamble format 1 wrote: magic, major 1, minor 0, little-endian, 4096, 64.
        let mut v1 = [0u8; 64];
        v1[..8].copy_from_slice(b"\x89TSEAL\r\n");
        v1[8] = 1;
        v1[12] = 1;
        v1[16..24].copy_from_slice(&4096u64.to_le_bytes());
        v1[24..32].copy_from_slice(&64u64.to_le_bytes());
        let e = Preamble::decode(&v1).unwrap_err();
        assert_eq!(e.kind, ErrorKind::FormatV1 { major: 1, minor: 0 });
        assert_eq!((e.structure.clone(), e.offset), (Structure::Preamble, 0));
        assert_eq!(e.kind.code(), "format_v1");
        assert!(e.to_string().contains("re-convert"), "{e}");
    }

    #[test]
    fn footer_must_tile_the_file() {
        let f = Footer {
            manifest_offset: 4096,
            manifest_len: 10,
            signatures_len: 0,
            recipients_len: 0,
            manifest_sha256: [1; 32],
            blocks_sha256: [2; 32],
            major: 2,
            minor: 0,
        };
        let b = f.encode();
        assert_eq!(Footer::decode(&b, 4096 + 10 + 128).unwrap(), f);
        assert!(matches!(
            Footer::decode(&b, 4096 + 11 + 128).unwrap_err().kind,
            ErrorKind::FileLength { .. }
        ));
    }

    #[test]
    fn align() {
        assert_eq!(align_up(0), Some(0));
        assert_eq!(align_up(1), Some(64));
        assert_eq!(align_up(64), Some(64));
        assert_eq!(align_up(u64::MAX), None);
    }
}
