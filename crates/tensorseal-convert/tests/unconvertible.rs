//! Files torch loads but the converter does not turn into tensors
//! (quantized tensors, a pickled whole `nn.Module`) are not malformed:
//! inspection judges them by their globals, after every storage and view
//! was checked, and conversion refuses them as unsupported. Built from
//! opcodes and stored zip members; nothing is ever loaded.

mod common;

use common::{zip, Member};
use tensorseal_convert::inspect::{inspect_bytes, FileReport, InspectOptions, Verdict};
use tensorseal_convert::{import, ConvertError, ConvertOptions};

fn u(s: &str) -> Vec<u8> {
    let mut v = vec![b'X'];
    v.extend_from_slice(&(s.len() as u32).to_le_bytes());
    v.extend_from_slice(s.as_bytes());
    v
}

fn global(m: &str, n: &str) -> Vec<u8> {
    format!("c{m}\n{n}\n").into_bytes()
}

fn ints(dims: &[u32]) -> Vec<u8> {
    let mut v = vec![b'('];
    for d in dims {
        v.push(b'J');
        v.extend_from_slice(&d.to_le_bytes());
    }
    v.push(b't');
    v
}

/// `('storage', torch.<storage>, key, 'cpu', numel)` as a BINPERSID.
fn storage(kind: &str, key: &str, numel: u32) -> Vec<u8> {
    let mut v = b"(".to_vec();
    v.extend(u("storage"));
    v.extend(global("torch", kind));
    v.extend(u(key));
    v.extend(u("cpu"));
    v.push(b'J');
    v.extend_from_slice(&numel.to_le_bytes());
    v.extend(b"tQ");
    v
}

/// `_rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())`.
fn tensor_v2(kind: &str, key: &str, numel: u32, size: &[u32], stride: &[u32]) -> Vec<u8> {
    let mut v = global("torch._utils", "_rebuild_tensor_v2");
    v.push(b'(');
    v.extend(storage(kind, key, numel));
    v.extend(b"J\x00\x00\x00\x00");
    v.extend(ints(size));
    v.extend(ints(stride));
    v.push(0x89);
    v.extend(global("collections", "OrderedDict"));
    v.extend(b")RtR");
    v
}

/// `_rebuild_qtensor(QInt8 storage '0', 0, size, stride, quantizer,
/// False, OrderedDict())`.
fn qtensor(numel: u32, size: &[u32], stride: &[u32], quantizer: &[u8]) -> Vec<u8> {
    let mut v = global("torch._utils", "_rebuild_qtensor");
    v.push(b'(');
    v.extend(storage("QInt8Storage", "0", numel));
    v.extend(b"J\x00\x00\x00\x00");
    v.extend(ints(size));
    v.extend(ints(stride));
    v.extend_from_slice(quantizer);
    v.push(0x89);
    v.extend(global("collections", "OrderedDict"));
    v.extend(b")RtR");
    v
}

/// `(torch.per_tensor_affine, 0.1, 0)`.
fn per_tensor() -> Vec<u8> {
    let mut v = b"(".to_vec();
    v.extend(global("torch", "per_tensor_affine"));
    v.push(b'G');
    v.extend(0.1f64.to_be_bytes());
    v.extend(b"K\x00t");
    v
}

/// `{name: value, ...}` at protocol 2.
fn dict_pkl(items: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut v = b"\x80\x02}(".to_vec();
    for (k, val) in items {
        v.extend(u(k));
        v.extend_from_slice(val);
    }
    v.extend(b"u.");
    v
}

fn torch_zip(pkl: &[u8], records: &[(&str, &[u8])]) -> Vec<u8> {
    let names: Vec<String> = records
        .iter()
        .map(|(k, _)| format!("archive/data/{k}"))
        .collect();
    let mut members = vec![
        Member::stored("archive/data.pkl", pkl),
        Member::stored("archive/byteorder", b"little"),
    ];
    for (n, (_, d)) in names.iter().zip(records) {
        members.push(Member::stored(n, d));
    }
    members.push(Member::stored("archive/version", b"3\n"));
    zip(&members)
}

fn inspect(data: &[u8]) -> FileReport {
    inspect_bytes(data, &InspectOptions::default())
}

fn kinds(r: &FileReport) -> Vec<&str> {
    r.findings.iter().map(|f| f.kind.as_str()).collect()
}

#[test]
fn quantized_checkpoint_is_safe_to_inspect_and_unsupported_to_convert() {
    let pkl = dict_pkl(&[("q", qtensor(4, &[4], &[1], &per_tensor()))]);
    let data = torch_zip(&pkl, &[("0", &[1, 2, 3, 4])]);
    let r = inspect(&data);
    assert_eq!(r.verdict, Verdict::Safe, "{:?}", r.findings);
    assert!(kinds(&r).contains(&"not_convertible"), "{:?}", r.findings);
    assert!(!kinds(&r).contains(&"torch_structure"));
    match import(&data, &ConvertOptions::default()) {
        Err(e @ ConvertError::Unconvertible { .. }) => {
            let msg = e.to_string();
            assert!(msg.starts_with("unsupported: quantized tensor"), "{msg}");
            assert!(msg.contains("'q'"), "{msg}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn quantized_tensor_geometry_is_still_checked() {
    // 8 elements of a 4-byte storage: out of bounds, whatever the dtype.
    let pkl = dict_pkl(&[("q", qtensor(4, &[8], &[1], &per_tensor()))]);
    let data = torch_zip(&pkl, &[("0", &[1, 2, 3, 4])]);
    let r = inspect(&data);
    assert_eq!(r.verdict, Verdict::Malformed, "{:?}", r.findings);
    assert!(kinds(&r).contains(&"torch_structure"));
    assert!(matches!(
        import(&data, &ConvertOptions::default()),
        Err(ConvertError::Layout { .. })
    ));
}

#[test]
fn a_bad_plain_tensor_next_to_a_quantized_one_is_malformed() {
    // The unconvertible tensor comes first in the file; the refusal for it
    // must not hide the out-of-bounds view of the next one.
    let pkl = dict_pkl(&[
        ("q", qtensor(4, &[4], &[1], &per_tensor())),
        ("w", tensor_v2("FloatStorage", "1", 2, &[4], &[1])),
    ]);
    let data = torch_zip(&pkl, &[("0", &[1, 2, 3, 4]), ("1", &[0; 8])]);
    let r = inspect(&data);
    assert_eq!(r.verdict, Verdict::Malformed, "{:?}", r.findings);
    assert!(matches!(
        import(&data, &ConvertOptions::default()),
        Err(ConvertError::Layout { .. })
    ));
}

#[test]
fn per_channel_quantizer_tensors_are_storages_of_the_file() {
    // (torch.per_channel_affine, scales, zero_points, axis): two ordinary
    // tensors inside the quantizer, with their own data records.
    let mut quantizer = b"(".to_vec();
    quantizer.extend(global("torch", "per_channel_affine"));
    quantizer.extend(tensor_v2("DoubleStorage", "1", 2, &[2], &[1]));
    quantizer.extend(tensor_v2("LongStorage", "2", 2, &[2], &[1]));
    quantizer.extend(b"K\x00t");
    let pkl = dict_pkl(&[("q", qtensor(4, &[2, 2], &[2, 1], &quantizer))]);
    let data = torch_zip(
        &pkl,
        &[("0", &[1, 2, 3, 4]), ("1", &[0; 16]), ("2", &[0; 16])],
    );
    let r = inspect(&data);
    assert_eq!(r.verdict, Verdict::Safe, "{:?}", r.findings);
    assert!(kinds(&r).contains(&"not_convertible"));
    assert!(matches!(
        import(&data, &ConvertOptions::default()),
        Err(ConvertError::Unconvertible { .. })
    ));
    // A scales tensor past its record is caught.
    let data = torch_zip(
        &pkl,
        &[("0", &[1, 2, 3, 4]), ("1", &[0; 8]), ("2", &[0; 16])],
    );
    assert_eq!(inspect(&data).verdict, Verdict::Malformed);
}

#[test]
fn whole_module_is_unknown_not_malformed() {
    // torch.save(model): the module object itself, its parameters inside
    // `_parameters`. Its classes are not allow-listed: unknown.
    let mut m = b"\x80\x02".to_vec();
    m.extend(global("torch.nn.modules.linear", "Linear"));
    m.extend(b")\x81}(");
    m.extend(u("training"));
    m.push(0x88);
    m.extend(u("_parameters"));
    m.extend(global("collections", "OrderedDict"));
    m.extend(b")R");
    m.extend(u("weight"));
    m.extend(global("torch._utils", "_rebuild_parameter"));
    m.push(b'(');
    m.extend(tensor_v2("FloatStorage", "0", 2, &[1, 2], &[2, 1]));
    m.push(0x88);
    m.extend(global("collections", "OrderedDict"));
    m.extend(b")RtRs");
    m.extend(u("in_features"));
    m.extend(b"K\x02");
    m.extend(b"ub.");
    let data = torch_zip(&m, &[("0", &[0; 8])]);
    let r = inspect(&data);
    assert_eq!(r.verdict, Verdict::Unknown, "{:?}", r.findings);
    assert!(r
        .globals
        .iter()
        .any(|g| g.module == "torch.nn.modules.linear" && g.class == "unknown"));
    match import(&data, &ConvertOptions::default()) {
        Err(ConvertError::Global { global, class, .. }) => {
            assert_eq!(global, "torch.nn.modules.linear.Linear");
            assert_eq!(class, "unknown");
        }
        other => panic!("{other:?}"),
    }
}

/// A legacy (pre-1.6) PyTorch file: magic, protocol 1001, sys_info, the
/// object pickle `obj`, the storage keys `['0']`, then storage '0' as a u64
/// element count and its bytes.
fn legacy(obj: &[u8], storage_bytes: &[u8]) -> Vec<u8> {
    let mut v = b"\x80\x02\x8a\x0a".to_vec();
    v.extend_from_slice(&0x1950_a86a_20f9_469c_fc6c_u128.to_le_bytes()[..10]);
    v.push(b'.');
    v.extend(b"\x80\x02M\xe9\x03.");
    v.extend(b"\x80\x02}(");
    v.extend(u("little_endian"));
    v.extend(b"\x88u.");
    v.extend_from_slice(obj);
    v.extend(b"\x80\x02]");
    v.extend(u("0"));
    v.extend(b"a.");
    v.extend((storage_bytes.len() as u64).to_le_bytes());
    v.extend_from_slice(storage_bytes);
    v
}

#[test]
fn legacy_quantized_checkpoint_is_not_malformed() {
    // Legacy persistent ids carry a sixth item, the view (None).
    let mut q = global("torch._utils", "_rebuild_qtensor");
    q.extend(b"((");
    q.extend(u("storage"));
    q.extend(global("torch", "QInt8Storage"));
    q.extend(u("0"));
    q.extend(u("cpu"));
    q.extend(b"J\x04\x00\x00\x00NtQJ\x00\x00\x00\x00");
    q.extend(ints(&[4]));
    q.extend(ints(&[1]));
    q.extend(per_tensor());
    q.push(0x89);
    q.extend(global("collections", "OrderedDict"));
    q.extend(b")RtR");
    let obj = dict_pkl(&[("q", q)]);
    let data = legacy(&obj, &[1, 2, 3, 4]);
    assert_eq!(
        tensorseal_convert::detect(&data),
        tensorseal_convert::Format::TorchLegacy
    );
    let r = inspect(&data);
    assert_eq!(r.verdict, Verdict::Safe, "{:?}", r.findings);
    assert!(kinds(&r).contains(&"not_convertible"), "{:?}", r.findings);
    assert!(matches!(
        import(&data, &ConvertOptions::default()),
        Err(ConvertError::Unconvertible { .. })
    ));
    // One storage byte short: the record check still fails.
    let data = legacy(&obj, &[1, 2, 3]);
    assert_eq!(inspect(&data).verdict, Verdict::Malformed);
}
