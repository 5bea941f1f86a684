//! The slice digest algorithm a manifest declares (format 2).

use core::fmt;
use core::str::FromStr;

/// The algorithm of every bulk digest of a container (the slice digests).
///
/// The small fixed digests (footer's manifest and blocks digests, statement,
/// descriptor digests) are SHA-256 whatever this says.
///
/// Deliberately exhaustive: a new algorithm must fail to compile wherever
/// digests are computed, not fall through to another algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DigestAlgorithm {
    /// SHA-256 (FIPS 180-4), code 1.
    Sha256,
    /// BLAKE3 with 32-byte output, code 2. The default for new files.
    #[default]
    Blake3,
}

impl DigestAlgorithm {
    /// Every algorithm this reader knows.
    pub const ALL: &'static [DigestAlgorithm] = &[DigestAlgorithm::Sha256, DigestAlgorithm::Blake3];

    /// The code stored in the manifest's first byte.
    pub const fn code(self) -> u8 {
        match self {
            DigestAlgorithm::Sha256 => 1,
            DigestAlgorithm::Blake3 => 2,
        }
    }

    /// The algorithm for a manifest code, if this reader knows it.
    pub const fn from_code(code: u8) -> Option<DigestAlgorithm> {
        match code {
            1 => Some(DigestAlgorithm::Sha256),
            2 => Some(DigestAlgorithm::Blake3),
            _ => None,
        }
    }

    /// The name used on the command line and in JSON: `sha256` or `blake3`.
    pub const fn name(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha256 => "sha256",
            DigestAlgorithm::Blake3 => "blake3",
        }
    }
}

impl fmt::Display for DigestAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DigestAlgorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DigestAlgorithm::ALL
            .iter()
            .copied()
            .find(|a| a.name() == s)
            .ok_or_else(|| format!("{s:?}: expected sha256 or blake3"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_round_trip() {
        for &a in DigestAlgorithm::ALL {
            assert_eq!(DigestAlgorithm::from_code(a.code()), Some(a));
            assert_eq!(a.name().parse::<DigestAlgorithm>(), Ok(a));
        }
        assert_eq!(DigestAlgorithm::from_code(0), None);
        assert_eq!(DigestAlgorithm::from_code(3), None);
        assert!("SHA256".parse::<DigestAlgorithm>().is_err());
        assert_eq!(DigestAlgorithm::default(), DigestAlgorithm::Blake3);
    }
}
