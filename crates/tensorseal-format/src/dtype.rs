//! Element types, named exactly as safetensors names them.

use core::fmt;
use core::str::FromStr;

macro_rules! dtypes {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, $name:literal, $bits:literal; )*) => {
        /// The element type of a tensor.
        ///
        /// Names and sizes follow safetensors (`F8_E4M3`, `BF16`, ...); sub-byte types
        /// (`F4`, `F6_*`) have their size in bits. The numeric code is what the manifest stores.
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Dtype {
            $( $(#[$doc])* $variant, )*
        }

        impl Dtype {
            /// Every dtype this reader knows, in code order.
            pub const ALL: &'static [Dtype] = &[$(Dtype::$variant),*];

            /// The code stored in the manifest.
            pub const fn code(self) -> u8 {
                match self { $(Dtype::$variant => $code,)* }
            }

            /// The dtype for a manifest code, if this reader knows it.
            pub const fn from_code(code: u8) -> Option<Dtype> {
                match code { $($code => Some(Dtype::$variant),)* _ => None }
            }

            /// The safetensors name, e.g. `"F8_E4M3"`.
            pub const fn name(self) -> &'static str {
                match self { $(Dtype::$variant => $name,)* }
            }

            /// Size of one element in bits.
            pub const fn bits(self) -> u64 {
                match self { $(Dtype::$variant => $bits,)* }
            }
        }

        impl FromStr for Dtype {
            type Err = UnknownDtype;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s { $($name => Ok(Dtype::$variant),)* _ => Err(UnknownDtype(s.into())) }
            }
        }
    };
}

dtypes! {
    /// Boolean, one byte per element.
    BOOL = 1, "BOOL", 8;
    /// 4-bit float (OCP MX E2M1).
    F4 = 2, "F4", 4;
    /// 6-bit float E2M3 (OCP MX).
    F6_E2M3 = 3, "F6_E2M3", 6;
    /// 6-bit float E3M2 (OCP MX).
    F6_E3M2 = 4, "F6_E3M2", 6;
    /// Unsigned 8-bit integer.
    U8 = 5, "U8", 8;
    /// Signed 8-bit integer.
    I8 = 6, "I8", 8;
    /// 8-bit float E5M2.
    F8_E5M2 = 7, "F8_E5M2", 8;
    /// 8-bit float E4M3 (fn).
    F8_E4M3 = 8, "F8_E4M3", 8;
    /// 8-bit exponent-only scale E8M0.
    F8_E8M0 = 9, "F8_E8M0", 8;
    /// 8-bit float E4M3 FNUZ (AMD).
    F8_E4M3FNUZ = 10, "F8_E4M3FNUZ", 8;
    /// 8-bit float E5M2 FNUZ (AMD).
    F8_E5M2FNUZ = 11, "F8_E5M2FNUZ", 8;
    /// Signed 16-bit integer.
    I16 = 12, "I16", 16;
    /// Unsigned 16-bit integer.
    U16 = 13, "U16", 16;
    /// IEEE half precision.
    F16 = 14, "F16", 16;
    /// bfloat16.
    BF16 = 15, "BF16", 16;
    /// Signed 32-bit integer.
    I32 = 16, "I32", 32;
    /// Unsigned 32-bit integer.
    U32 = 17, "U32", 32;
    /// IEEE single precision.
    F32 = 18, "F32", 32;
    /// Complex of two F32.
    C64 = 19, "C64", 64;
    /// IEEE double precision.
    F64 = 20, "F64", 64;
    /// Signed 64-bit integer.
    I64 = 21, "I64", 64;
    /// Unsigned 64-bit integer.
    U64 = 22, "U64", 64;
}

impl Dtype {
    /// Byte length of `elements` elements, or `None` on overflow or when the
    /// bit count is not a whole number of bytes (sub-byte dtypes).
    pub fn byte_len(self, elements: u64) -> Option<u64> {
        let bits = elements.checked_mul(self.bits())?;
        (bits % 8 == 0).then_some(bits / 8)
    }

    /// Byte alignment a typed slice of this dtype needs (1 for sub-byte types).
    pub fn align(self) -> usize {
        let bytes = self.bits() / 8;
        if bytes == 0 {
            1
        } else if self == Dtype::C64 {
            4
        } else {
            bytes as usize
        }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A dtype name this reader does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown dtype {0:?}")]
pub struct UnknownDtype(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_round_trip() {
        for &d in Dtype::ALL {
            assert_eq!(Dtype::from_code(d.code()), Some(d));
            assert_eq!(d.name().parse::<Dtype>(), Ok(d));
        }
        assert_eq!(Dtype::ALL.len(), 22);
        assert_eq!(Dtype::from_code(0), None);
        assert_eq!(Dtype::from_code(23), None);
    }

    #[test]
    fn sub_byte_lengths() {
        assert_eq!(Dtype::F4.byte_len(4), Some(2));
        assert_eq!(Dtype::F4.byte_len(3), None);
        assert_eq!(Dtype::F6_E2M3.byte_len(4), Some(3));
        assert_eq!(Dtype::F64.byte_len(u64::MAX), None);
    }
}
