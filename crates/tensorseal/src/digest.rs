//! Slice digests under the manifest's [`DigestAlgorithm`], and constant-time
//! digest comparison.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tensorseal_format::DigestAlgorithm;

/// Inputs at least this long are hashed by BLAKE3 on the rayon pool; below it,
/// the thread hand-offs cost more than they save (the BLAKE3 authors' advice is
/// 128 KiB).
const BLAKE3_PARALLEL_MIN: usize = 128 << 10;

/// An incremental slice digest.
#[derive(Clone)]
pub enum SliceHasher {
    /// SHA-256.
    Sha256(Sha256),
    /// BLAKE3 (boxed: its state is about 2 KB).
    Blake3(Box<blake3::Hasher>),
}

impl SliceHasher {
    /// A fresh hasher for `algorithm`.
    pub fn new(algorithm: DigestAlgorithm) -> SliceHasher {
        match algorithm {
            DigestAlgorithm::Sha256 => SliceHasher::Sha256(Sha256::new()),
            DigestAlgorithm::Blake3 => SliceHasher::Blake3(Box::default()),
        }
    }

    /// Absorbs `bytes`; large inputs to BLAKE3 are hashed in parallel.
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            SliceHasher::Sha256(h) => h.update(bytes),
            SliceHasher::Blake3(h) if bytes.len() >= BLAKE3_PARALLEL_MIN => {
                h.update_rayon(bytes);
            }
            SliceHasher::Blake3(h) => {
                h.update(bytes);
            }
        }
    }

    /// The 32-byte digest.
    pub fn finalize(self) -> [u8; 32] {
        match self {
            SliceHasher::Sha256(h) => h.finalize().into(),
            SliceHasher::Blake3(h) => *h.finalize().as_bytes(),
        }
    }
}

/// The digest of `bytes` under `algorithm`.
pub fn digest(algorithm: DigestAlgorithm, bytes: &[u8]) -> [u8; 32] {
    let mut h = SliceHasher::new(algorithm);
    h.update(bytes);
    h.finalize()
}

/// Compares two digests in constant time: a forger learns nothing from how long
/// a refusal took.
pub fn digest_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// The input of the official BLAKE3 test vectors: byte `i` is `i % 251`.
    fn official_input(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    /// From `test_vectors/test_vectors.json` of the BLAKE3 team's repository
    /// (the first 32 bytes of each extended `hash`), not from this code.
    const OFFICIAL: &[(usize, &str)] = &[
        (
            0,
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
        ),
        (
            1,
            "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213",
        ),
        (
            1023,
            "10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11",
        ),
        (
            1024,
            "42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7",
        ),
        (
            1025,
            "d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444",
        ),
        (
            102400,
            "bc3e3d41a1146b069abffad3c0d44860cf664390afce4d9661f7902e7943e085",
        ),
    ];

    #[test]
    fn blake3_matches_the_official_vectors_on_both_paths() {
        for &(len, expected) in OFFICIAL {
            let input = official_input(len);
            assert_eq!(
                hex(&digest(DigestAlgorithm::Blake3, &input)),
                expected,
                "len {len}"
            );
            // The incremental path, in pieces that cross the parallel threshold.
            let mut h = SliceHasher::new(DigestAlgorithm::Blake3);
            for part in input.chunks(777) {
                h.update(part);
            }
            assert_eq!(hex(&h.finalize()), expected, "len {len} in pieces");
        }
        // The parallel path (update_rayon) agrees with the serial one.
        let big = official_input(3 << 20);
        let mut serial = blake3::Hasher::new();
        serial.update(&big);
        assert_eq!(
            digest(DigestAlgorithm::Blake3, &big),
            *serial.finalize().as_bytes()
        );
    }

    #[test]
    fn sha256_matches_fips_180_2() {
        // FIPS 180-2, appendix B.1 ("abc").
        assert_eq!(
            hex(&digest(DigestAlgorithm::Sha256, b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn comparison() {
        let a = [7u8; 32];
        let mut b = a;
        assert!(digest_eq(&a, &b));
        b[31] ^= 1;
        assert!(!digest_eq(&a, &b));
    }
}
