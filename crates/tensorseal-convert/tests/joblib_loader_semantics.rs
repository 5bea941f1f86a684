//! joblib streams read the way joblib's `NumpyUnpickler` reads them
//! (`NumpyArrayWrapper.read_array`, joblib/numpy_pickle.py): the padding
//! length byte is trusted whatever the wrapper's alignment says, and an
//! object-dtype array is one nested pickle read by a plain `pickle.load`.
//! Every stream is assembled from opcodes here; nothing is ever loaded.

use tensorseal_convert::inspect::{inspect_bytes, InspectOptions, Verdict};
use tensorseal_convert::{import, ConvertError, ConvertOptions, Format};

/// BINUNICODE.
fn u(s: &str) -> Vec<u8> {
    let mut v = vec![b'X'];
    v.extend_from_slice(&(s.len() as u32).to_le_bytes());
    v.extend_from_slice(s.as_bytes());
    v
}

fn global(m: &str, n: &str) -> Vec<u8> {
    format!("c{m}\n{n}\n").into_bytes()
}

/// `numpy.dtype(descr, False, True)` + BUILD `(3, order, None, None, None,
/// -1, -1, flags)`, as NumPy pickles a dtype.
fn dtype(descr: &str, order: &str, flags: u8) -> Vec<u8> {
    let mut v = global("numpy", "dtype");
    v.extend(u(descr));
    v.extend(b"\x89\x88\x87R(K\x03");
    v.extend(u(order));
    v.extend(b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK");
    v.push(flags);
    v.extend(b"tb");
    v
}

/// How the wrapper's `numpy_array_alignment_bytes` is written.
#[derive(Clone, Copy)]
enum Align {
    Absent,
    None_,
    Int(u8),
    True_,
}

/// `NumpyArrayWrapper` NEWOBJ + BUILD of its state dict (shape `(n,)`).
fn wrapper(n: u8, dt: &[u8], align: Align) -> Vec<u8> {
    let mut v = global("joblib.numpy_pickle", "NumpyArrayWrapper");
    v.extend(b")\x81}(");
    v.extend(u("subclass"));
    v.extend(global("numpy", "ndarray"));
    v.extend(u("shape"));
    v.extend([b'K', n, 0x85]);
    v.extend(u("order"));
    v.extend(u("C"));
    v.extend(u("dtype"));
    v.extend_from_slice(dt);
    v.extend(u("allow_mmap"));
    v.push(0x89);
    match align {
        Align::Absent => {}
        Align::None_ => {
            v.extend(u("numpy_array_alignment_bytes"));
            v.push(b'N');
        }
        Align::Int(a) => {
            v.extend(u("numpy_array_alignment_bytes"));
            v.extend([b'K', a]);
        }
        Align::True_ => {
            v.extend(u("numpy_array_alignment_bytes"));
            v.push(0x88);
        }
    }
    v.extend(b"ub");
    v
}

/// `{'w': <wrapper>, ...rest}`: protocol 2, root dict, the wrapper's raw
/// part, then `tail` (opcodes run after the array with the dict on the
/// stack below the array), SETITEM, STOP.
fn stream(wrapper_and_raw: &[u8], tail: &[u8]) -> Vec<u8> {
    let mut v = b"\x80\x02}".to_vec();
    v.extend(u("w"));
    v.extend_from_slice(wrapper_and_raw);
    v.extend(b"s");
    v.extend_from_slice(tail);
    v.push(b'.');
    v
}

/// `d['x'] = posix.system('id')`: what a crafted file hides after an array.
fn evil_setitem() -> Vec<u8> {
    let mut v = u("x");
    v.extend(global("posix", "system"));
    v.extend(u("id"));
    v.extend(b"\x85Rs");
    v
}

fn inspect(data: &[u8]) -> tensorseal_convert::inspect::FileReport {
    inspect_bytes(data, &InspectOptions::default())
}

fn has_kind(r: &tensorseal_convert::inspect::FileReport, kind: &str) -> bool {
    r.findings.iter().any(|f| f.kind == kind)
}

/// Eight bytes of array data whose offset joblib decides from the padding
/// byte alone: `pad` then `pad` filler bytes then the data.
fn padded(pad: u8, filler: u8) -> Vec<u8> {
    let mut v = vec![pad];
    v.extend(std::iter::repeat_n(filler, usize::from(pad)));
    v.extend(1.5f64.to_le_bytes());
    v
}

#[test]
fn well_formed_padding_is_safe_and_converts() {
    // Padding computed as joblib's write_array computes it.
    let mut head = b"\x80\x02}".to_vec();
    head.extend(u("w"));
    head.extend(wrapper(1, &dtype("f8", "<", 0), Align::Int(16)));
    let pad = 16 - (head.len() + 1) % 16;
    head.extend(padded(pad as u8, 0xFF));
    head.extend(b"s.");
    let r = inspect(&head);
    assert_eq!(r.format, Format::Joblib { compression: None });
    assert_eq!(r.verdict, Verdict::Safe, "{:?}", r.findings);
    let imp = import(&head, &ConvertOptions::default()).unwrap();
    assert_eq!(imp.tensors.len(), 1);
    assert_eq!(imp.tensors[0].data.as_ref(), &1.5f64.to_le_bytes());
}

#[test]
fn zero_padding_byte_is_read_as_joblib_reads_it() {
    // Padding-length byte 0: joblib reads no padding and the array at once,
    // then runs the opcodes that follow, here posix.system. A reader that
    // refuses the padding loses the stream there and never sees the call.
    let mut raw = wrapper(1, &dtype("f8", "<", 0), Align::Int(16));
    raw.extend(padded(0, 0));
    let data = stream(&raw, &evil_setitem());
    let r = inspect(&data);
    assert_eq!(r.verdict, Verdict::Dangerous, "{:?}", r.findings);
    assert_eq!(r.dangerous_globals(), vec!["posix.system".to_string()]);
    assert!(has_kind(&r, "array_framing"), "{:?}", r.findings);
    // Conversion refuses, naming the global.
    assert!(matches!(
        import(&data, &ConvertOptions::default()),
        Err(ConvertError::Global { .. })
    ));
}

#[test]
fn overlong_padding_with_hidden_bytes_is_skipped_like_joblib() {
    // 40 bytes of padding (more than the 16-byte alignment) that spell a
    // GLOBAL: joblib skips them unread, so they are no global of the file;
    // the posix.system after the array is.
    let mut fake = global("os", "system");
    fake.resize(40, b'A');
    let mut raw = wrapper(1, &dtype("f8", "<", 0), Align::Int(16));
    raw.push(40);
    raw.extend(&fake);
    raw.extend(1.5f64.to_le_bytes());
    let benign = stream(&raw, b"");
    let r = inspect(&benign);
    // Only a crafted file frames its padding like this: a differential.
    assert_eq!(r.verdict, Verdict::Dangerous, "{:?}", r.findings);
    assert!(r.dangerous_globals().is_empty());
    assert!(
        r.globals.iter().all(|g| g.module != "os"),
        "{:?}",
        r.globals
    );
    assert!(has_kind(&r, "array_framing"));
    assert!(r.error.is_none(), "{:?}", r.error);
    // Conversion refuses what a joblib writer never produces.
    assert!(matches!(
        import(&benign, &ConvertOptions::default()),
        Err(ConvertError::Unsafe { .. })
    ));
    let evil = stream(&raw, &evil_setitem());
    let r = inspect(&evil);
    assert_eq!(r.verdict, Verdict::Dangerous);
    assert_eq!(r.dangerous_globals(), vec!["posix.system".to_string()]);
}

#[test]
fn any_non_none_alignment_value_means_a_padding_byte() {
    // joblib tests `numpy_array_alignment_bytes is not None`: True, 0 and
    // 255 all make it read the padding-length byte.
    for align in [Align::True_, Align::Int(0), Align::Int(200)] {
        let mut raw = wrapper(1, &dtype("f8", "<", 0), align);
        raw.extend(padded(3, 0xFF));
        let data = stream(&raw, &evil_setitem());
        let r = inspect(&data);
        assert_eq!(r.verdict, Verdict::Dangerous, "{:?}", r.findings);
        assert_eq!(r.dangerous_globals(), vec!["posix.system".to_string()]);
        assert!(has_kind(&r, "array_framing"));
    }
}

#[test]
fn absent_or_none_alignment_means_no_padding_byte() {
    for align in [Align::Absent, Align::None_] {
        let mut raw = wrapper(1, &dtype("f8", "<", 0), align);
        raw.extend(1.5f64.to_le_bytes());
        let data = stream(&raw, b"");
        let r = inspect(&data);
        assert_eq!(r.verdict, Verdict::Safe, "{:?}", r.findings);
        let imp = import(&data, &ConvertOptions::default()).unwrap();
        assert_eq!(imp.tensors[0].data.as_ref(), &1.5f64.to_le_bytes());
    }
}

/// A plain protocol-2 pickle of `numpy.array(['a', 'b'], dtype=object)`, as
/// joblib's `pickle.dump(array, fh, protocol=2)` writes it.
fn object_array_pickle() -> Vec<u8> {
    let mut v = b"\x80\x02".to_vec();
    v.extend(global("numpy.core.multiarray", "_reconstruct"));
    v.extend(global("numpy", "ndarray"));
    v.extend(b"K\x00\x85C\x01b\x87R(K\x01K\x02\x85");
    v.extend(dtype("O8", "|", 63));
    v.extend(b"\x89]q\x00(");
    v.extend(u("a"));
    v.extend(u("b"));
    v.extend(b"etb.");
    v
}

#[test]
fn object_array_is_a_nested_pickle_judged_by_its_globals() {
    // No padding byte even though the wrapper has an alignment: joblib goes
    // straight to pickle.load for object arrays.
    let mut raw = wrapper(2, &dtype("O8", "|", 63), Align::Int(16));
    raw.extend(object_array_pickle());
    let data = stream(&raw, b"");
    let r = inspect(&data);
    assert_eq!(r.verdict, Verdict::Safe, "{:?} {:?}", r.findings, r.error);
    assert!(r
        .globals
        .iter()
        .any(|g| g.module == "numpy.core.multiarray" && g.name == "_reconstruct"));
    // Not convertible to tensors: unsupported, not a pickle error.
    match import(&data, &ConvertOptions::default()) {
        Err(ConvertError::Unsupported { reason, .. }) => {
            assert!(reason.contains("object"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn object_array_with_unknown_or_dangerous_nested_globals() {
    // A nested estimator class that is not allow-listed: unknown.
    let mut nested = b"\x80\x02".to_vec();
    nested.extend(global("mypkg.models", "Thing"));
    nested.extend(b")\x81.");
    let mut raw = wrapper(1, &dtype("O8", "|", 63), Align::Int(16));
    raw.extend(&nested);
    let r = inspect(&stream(&raw, b""));
    assert_eq!(r.verdict, Verdict::Unknown, "{:?}", r.findings);
    // A nested call of posix.system: dangerous, and conversion names it.
    let mut nested = b"\x80\x02".to_vec();
    nested.extend(global("posix", "system"));
    nested.extend(u("id"));
    nested.extend(b"\x85R.");
    let mut raw = wrapper(1, &dtype("O8", "|", 63), Align::Int(16));
    raw.extend(&nested);
    let data = stream(&raw, b"");
    let r = inspect(&data);
    assert_eq!(r.verdict, Verdict::Dangerous);
    assert_eq!(r.dangerous_globals(), vec!["posix.system".to_string()]);
    assert!(matches!(
        import(&data, &ConvertOptions::default()),
        Err(ConvertError::Global { .. })
    ));
}

#[test]
fn wrapper_inside_the_nested_pickle_has_no_inline_data() {
    // pickle.load (not joblib's unpickler) reads the nested pickle: a
    // NumpyArrayWrapper in it is a plain object, and the bytes after its
    // BUILD are opcodes, here a discarded posix.system call. Reading them as
    // array data would hide the call.
    let mut call = global("posix", "system");
    call.extend(u("id"));
    call.extend(b"\x85R0");
    let mut nested = b"\x80\x02".to_vec();
    nested.extend(wrapper(
        call.len() as u8,
        &dtype("u1", "|", 0),
        Align::Absent,
    ));
    nested.extend(&call);
    nested.push(b'.');
    let mut raw = wrapper(1, &dtype("O8", "|", 63), Align::Int(16));
    raw.extend(&nested);
    let data = stream(&raw, b"");
    let r = inspect(&data);
    assert_eq!(r.verdict, Verdict::Dangerous, "{:?}", r.findings);
    assert_eq!(r.dangerous_globals(), vec!["posix.system".to_string()]);
}

#[test]
fn structured_dtype_with_an_object_field_is_an_object_array() {
    // dtype([('a', 'O')]): hasobject, so joblib pickle.loads it as well.
    let mut fields = b"}".to_vec();
    fields.extend(u("a"));
    fields.extend(dtype("O8", "|", 63));
    fields.extend(b"K\x00\x86s");
    let mut dt = global("numpy", "dtype");
    dt.extend(u("V8"));
    dt.extend(b"\x89\x88\x87R(K\x03");
    dt.extend(u("|"));
    dt.push(b'N');
    dt.extend(u("a"));
    dt.push(0x85);
    dt.extend(&fields);
    dt.extend(b"K\x08K\x01K\x3ftb");
    let mut raw = wrapper(1, &dt, Align::Int(16));
    raw.extend(object_array_pickle());
    let r = inspect(&stream(&raw, b""));
    assert_eq!(r.verdict, Verdict::Safe, "{:?} {:?}", r.findings, r.error);
}

#[test]
fn broken_nested_pickle_still_reports_what_ran_before() {
    // pickle.load runs posix.system before failing on the missing STOP.
    let mut nested = b"\x80\x02".to_vec();
    nested.extend(global("posix", "system"));
    nested.extend(u("id"));
    nested.extend(b"\x85R");
    let mut raw = wrapper(1, &dtype("O8", "|", 63), Align::Int(16));
    raw.extend(&nested);
    let r = inspect(&raw);
    assert_eq!(r.verdict, Verdict::Dangerous, "{:?}", r.findings);
    assert!(r.dangerous_globals().contains(&"posix.system".to_string()));
}

#[test]
fn wrapper_made_by_copyreg_reconstructor_is_framed_like_joblib() {
    // copyreg._reconstructor(NumpyArrayWrapper, object, None) + BUILD is a
    // NumpyArrayWrapper to joblib's isinstance check: it skips the 6 array
    // bytes `(B<len>`. Read as opcodes, those bytes open a MARK and a BINBYTES
    // that swallows the posix.system call joblib runs next; POP_MARK then
    // leaves both readers with a consistent stack.
    let mut evil = b"(".to_vec();
    evil.extend(u("x"));
    evil.extend(global("posix", "system"));
    evil.extend(u("id"));
    evil.extend(b"\x85R");
    let mut array = b"(B".to_vec();
    array.extend((evil.len() as u32).to_le_bytes());
    let plain_wrapper = wrapper(6, &dtype("u1", "|", 0), Align::Absent);
    let state = &plain_wrapper[plain_wrapper.iter().position(|&b| b == b'}').unwrap()..];
    for module in ["copyreg", "copy_reg"] {
        let mut raw = global(module, "_reconstructor");
        raw.extend(global("joblib.numpy_pickle", "NumpyArrayWrapper"));
        raw.extend(global("builtins", "object"));
        raw.extend(b"N\x87R");
        raw.extend_from_slice(state);
        raw.extend(&array);
        raw.extend(&evil);
        raw.push(b'1');
        let data = stream(&raw, b"");
        let r = inspect(&data);
        assert_eq!(r.verdict, Verdict::Dangerous, "{module}: {:?}", r.findings);
        assert_eq!(r.dangerous_globals(), vec!["posix.system".to_string()]);
    }
    // The same bytes behind a wrapper made with NEWOBJ: framed alike.
    let mut raw = plain_wrapper.clone();
    raw.extend(&array);
    raw.extend(&evil);
    raw.push(b'1');
    let r = inspect(&stream(&raw, b""));
    assert_eq!(r.dangerous_globals(), vec!["posix.system".to_string()]);
    // Any other base or state is refused rather than guessed.
    let mut raw = global("copyreg", "_reconstructor");
    raw.extend(global("joblib.numpy_pickle", "NumpyArrayWrapper"));
    raw.extend(global("builtins", "dict"));
    raw.extend(b"N\x87R");
    raw.extend_from_slice(state);
    raw.extend(&array);
    let r = inspect(&stream(&raw, b""));
    assert!(r.error.is_some());
    assert_ne!(r.verdict, Verdict::Safe);
    assert_ne!(r.verdict, Verdict::Unknown);
}

#[test]
fn odd_order_is_read_in_c_order_like_joblib() {
    // joblib reads any order other than 'F' as C order and goes on.
    let mut w = wrapper(1, &dtype("f8", "<", 0), Align::Absent);
    let at = w
        .windows(6)
        .position(|x| x == b"X\x01\x00\x00\x00C")
        .unwrap();
    w[at + 5] = b'K';
    let mut raw = w;
    raw.extend(1.5f64.to_le_bytes());
    let data = stream(&raw, &evil_setitem());
    let r = inspect(&data);
    assert_eq!(r.verdict, Verdict::Dangerous, "{:?}", r.findings);
    assert_eq!(r.dangerous_globals(), vec!["posix.system".to_string()]);
    assert!(has_kind(&r, "array_framing"));
}
