//! Metadata renderings of NumPy values inside pickles (dtypes, scalars,
//! protocol-2 bytes), shared by the joblib and bare scikit-learn readers.

use tensorseal_pickle::{Graph, NodeId, Value};

use super::{parse_np_dtype, NpDType};
use crate::layout::swap_in_place;
use crate::model::{DType, ElementSize, MetaValue};

/// The metadata rendering of a pickled `numpy.dtype` (`"<F64"`, `"V64"`) or
/// NumPy scalar (`numpy.core.multiarray.scalar(dtype, bytes)` as a typed
/// number); `None` for any other node. Shared by the joblib and the bare
/// scikit-learn pickle readers so that both render metadata identically.
pub(crate) fn numpy_meta_value(graph: &Graph, id: NodeId) -> Option<MetaValue> {
    match graph.class_of(id)? {
        ("numpy", "dtype") => Some(MetaValue::Str(match parse_np_dtype(graph, id) {
            Ok(NpDType::Simple { dtype, big_endian }) => {
                format!("{}{}", if big_endian { ">" } else { "<" }, dtype.name())
            }
            Ok(NpDType::Structured { itemsize, .. }) => format!("V{itemsize}"),
            _ => "unsupported".into(),
        })),
        ("numpy.core.multiarray", "scalar") | ("numpy._core.multiarray", "scalar") => {
            numpy_scalar(graph, id)
        }
        _ => None,
    }
}

/// Bytes of a pickled bytes value: `Bytes`, or protocol 2's
/// `_codecs.encode(str, 'latin1')`.
pub(crate) fn bytes_value(graph: &Graph, id: NodeId) -> Option<Vec<u8>> {
    match graph.get(id)? {
        Value::Bytes(b) => Some(b.clone()),
        Value::Call(c) if graph.class_of(id) == Some(("_codecs", "encode")) => {
            let args = graph.as_tuple(c.args)?;
            if args.len() != 2 || graph.as_str(args[1]) != Some("latin1") {
                return None;
            }
            graph
                .as_str(args[0])?
                .chars()
                .map(|ch| u8::try_from(u32::from(ch)).ok())
                .collect()
        }
        _ => None,
    }
}

fn numpy_scalar(graph: &Graph, id: NodeId) -> Option<MetaValue> {
    let args = graph.as_tuple(graph.as_call(id)?.args)?;
    if args.len() != 2 {
        return None;
    }
    let NpDType::Simple { dtype, big_endian } = parse_np_dtype(graph, args[0]).ok()? else {
        return None;
    };
    let mut b = bytes_value(graph, args[1])?;
    if b.len() != dtype.size() {
        return None;
    }
    if big_endian {
        swap_in_place(&mut b, dtype.swap_unit());
    }
    let mut a8 = [0u8; 8];
    a8[..b.len()].copy_from_slice(&b);
    let sign_extend = |bits: u32| -> i64 {
        let v = u64::from_le_bytes(a8) as i64;
        let sh = 64 - bits;
        (v << sh) >> sh
    };
    Some(match dtype {
        DType::BOOL => MetaValue::Bool(b[0] != 0),
        DType::U8 | DType::U16 | DType::U32 => MetaValue::Int(u64::from_le_bytes(a8) as i64),
        DType::U64 => match i64::try_from(u64::from_le_bytes(a8)) {
            Ok(v) => MetaValue::Int(v),
            Err(_) => MetaValue::Str(u64::from_le_bytes(a8).to_string()),
        },
        DType::I8 => MetaValue::Int(sign_extend(8)),
        DType::I16 => MetaValue::Int(sign_extend(16)),
        DType::I32 => MetaValue::Int(sign_extend(32)),
        DType::I64 => MetaValue::Int(i64::from_le_bytes(a8)),
        DType::F32 => MetaValue::Float(f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
        DType::F64 => MetaValue::Float(f64::from_le_bytes(a8)),
        DType::F16 => MetaValue::Float(f16_to_f64(u16::from_le_bytes([b[0], b[1]]))),
        _ => MetaValue::Bytes(b),
    })
}

fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f64::from(h & 0x3ff);
    sign * match exp {
        0 => frac * 2f64.powi(-24),
        31 if frac == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1.0 + frac / 1024.0) * 2f64.powi(e - 15),
    }
}
