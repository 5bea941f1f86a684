//! Sequence length caps applied while decoding, so that a hostile manifest or
//! block cannot make the decoder build millions of small heap objects (each
//! costing tens of bytes of memory per byte of input) before any count is
//! checked. Each cap is the most a valid v1 file can need (see SPEC.md §8).

use core::cell::Cell;
use core::fmt;
use core::marker::PhantomData;

use serde::de::{Deserializer, Error as _, SeqAccess, Visitor};
use serde::Deserialize;

/// Entries of `ModelInfo::dependencies`.
pub const MAX_DEPENDENCIES: usize = 4096;
/// Entries of `ModelInfo::metadata`.
pub const MAX_METADATA: usize = 65536;
/// Tensors and slices (the v1 maxima of [`crate::Limits`]).
pub const MAX_ENTRIES: usize = 1 << 20;
/// Signature entries of a signature block (a 1 MiB block holds fewer than
/// 200 composite signatures).
pub const MAX_SIGNATURES: usize = 256;
/// Stanzas of a recipient block (a real X-Wing stanza is over 1 KiB).
pub const MAX_STANZAS: usize = 4096;

std::thread_local! {
    /// The cap that stopped the last decode on this thread, for a typed error.
    static HIT: Cell<Option<(&'static str, u64, u64)>> = const { Cell::new(None) };
}

/// Clears the record of a cap hit (call before decoding).
pub(crate) fn reset() {
    HIT.with(|h| h.set(None));
}

/// The cap that stopped decoding since [`reset`], if one did: (what, count
/// found or announced, limit).
pub(crate) fn take() -> Option<(&'static str, u64, u64)> {
    HIT.with(|h| h.take())
}

/// What a capped field counts; the name appears in the error.
pub(crate) trait Cap {
    const WHAT: &'static str;
    const MAX: usize;
}

macro_rules! cap {
    ($name:ident, $what:expr, $max:expr) => {
        pub(crate) struct $name;
        impl Cap for $name {
            const WHAT: &'static str = $what;
            const MAX: usize = $max;
        }
    };
}
cap!(Dependencies, "dependency count", MAX_DEPENDENCIES);
cap!(Metadata, "metadata entry count", MAX_METADATA);
cap!(Tensors, "tensor count", MAX_ENTRIES);
cap!(Slices, "slice count", MAX_ENTRIES);
cap!(GrantSlices, "granted slice count", MAX_ENTRIES);
cap!(Signatures, "signature count", MAX_SIGNATURES);
cap!(Stanzas, "stanza count", MAX_STANZAS);

struct CappedVisitor<T, C>(PhantomData<(T, C)>);

impl<'de, T: Deserialize<'de>, C: Cap> Visitor<'de> for CappedVisitor<T, C> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a sequence of at most {} elements", C::MAX)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let over = |found: usize| {
            HIT.with(|h| h.set(Some((C::WHAT, found as u64, C::MAX as u64))));
            A::Error::custom(C::WHAT)
        };
        let announced = seq.size_hint().unwrap_or(0);
        if announced > C::MAX {
            return Err(over(announced));
        }
        // The announced length is not trusted for the allocation either.
        let mut v = Vec::with_capacity(announced.min(1024));
        while let Some(x) = seq.next_element()? {
            if v.len() == C::MAX {
                return Err(over(C::MAX + 1));
            }
            v.push(x);
        }
        Ok(v)
    }
}

/// `deserialize_with` for a `Vec<T>` of at most `C::MAX` elements.
pub(crate) fn vec<'de, D, T, C>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
    C: Cap,
{
    d.deserialize_seq(CappedVisitor::<T, C>(PhantomData))
}
