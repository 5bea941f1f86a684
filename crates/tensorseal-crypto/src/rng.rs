//! Using a fallible RNG where a dependency wants an infallible one.

use core::convert::Infallible;

use rand_core::{TryCryptoRng, TryRng};

use crate::error::{Error, Result};

/// An infallible view of a fallible cryptographic RNG, for APIs (HPKE) that
/// take a [`rand_core::CryptoRng`].
///
/// A failed draw is remembered and its bytes are filled with zeros (as are all
/// later draws): whatever the callee computes from them must be discarded,
/// which [`Latch::check`] enforces by turning the failure into [`Error::Rng`].
pub(crate) struct Latch<'r, R: ?Sized> {
    inner: &'r mut R,
    failed: bool,
}

impl<'r, R: TryCryptoRng + ?Sized> Latch<'r, R> {
    pub(crate) fn new(inner: &'r mut R) -> Self {
        Latch {
            inner,
            failed: false,
        }
    }

    /// [`Error::Rng`] if any draw failed.
    pub(crate) fn check(&self) -> Result<()> {
        if self.failed {
            Err(Error::Rng)
        } else {
            Ok(())
        }
    }
}

impl<R: TryCryptoRng + ?Sized> TryRng for Latch<'_, R> {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        rand_core::utils::next_word_via_fill(self)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        rand_core::utils::next_word_via_fill(self)
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        if self.failed || self.inner.try_fill_bytes(dst).is_err() {
            self.failed = true;
            dst.fill(0);
        }
        Ok(())
    }
}

impl<R: TryCryptoRng + ?Sized> TryCryptoRng for Latch<'_, R> {}
