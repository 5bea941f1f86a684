//! copyreg's extension registry: `EXT1/EXT2/EXT4` import a global the stream
//! does not name (never safe), and pickles that reprogram the registry or
//! copyreg's dispatch state are dangerous. Streams are assembled from
//! opcodes; nothing is ever loaded by Python.

mod common;

use common::P;
use tensorseal_pickle::{
    deny_reason, inspect, parse, GlobalClass, Options, PickleError, Profile, Value, Verdict,
    EXTENSION_MODULE,
};

/// `ext(arg)` kept as the root: the EXT opcode bytes then TUPLE1 + REDUCE.
fn ext_call(ext: &[u8]) -> P {
    P::new().proto(2).raw(ext).call1("id").stop()
}

#[test]
fn ext_opcodes_import_an_unknown_global() {
    // Codes as CPython decodes them: EXT1 u8, EXT2 u16 LE, EXT4 i32 LE.
    for (bytes, code) in [
        (&b"\x82\x07"[..], "7"),
        (b"\x83\x34\x12", "4660"),
        (b"\x84\x78\x56\x34\x12", "305419896"),
    ] {
        let p = ext_call(bytes);
        let r = inspect(p.bytes(), Profile::Any);
        assert!(r.error.is_none(), "{bytes:?}: {:?}", r.error);
        assert_eq!(r.verdict, Verdict::Unknown, "{bytes:?}");
        assert_eq!(r.globals.len(), 1);
        assert_eq!(r.globals[0].module, EXTENSION_MODULE);
        assert_eq!(r.globals[0].name, code);
        assert_eq!(r.globals[0].class, GlobalClass::Unknown);
        // For every profile: the registry is never on an allow-list.
        for profile in [Profile::Torch, Profile::Numpy, Profile::Sklearn] {
            assert_eq!(inspect(p.bytes(), profile).verdict, Verdict::Unknown);
        }
        // The graph holds the call with the extension global as its callee.
        let parsed = parse(p.bytes(), &Options::default()).unwrap();
        let call = parsed.graph.as_call(parsed.root).unwrap();
        assert_eq!(
            parsed.graph.get(call.callee),
            Some(&Value::Global {
                module: EXTENSION_MODULE.into(),
                name: code.into()
            })
        );
    }
}

#[test]
fn ext_call_discarded_is_dangerous() {
    // The extension callable's result is popped: a side-effect-only call of
    // an unknown callable.
    let p = P::new()
        .proto(2)
        .raw(b"\x82\x01")
        .call1("id")
        .op(b'0')
        .op(b'N')
        .stop();
    assert_eq!(inspect(p.bytes(), Profile::Any).verdict, Verdict::Dangerous);
}

#[test]
fn ext_code_zero_or_negative_is_malformed() {
    // CPython raises "EXT specifies code <= 0": copyreg never registers it.
    for b in [
        &b"\x80\x02\x82\x00."[..],
        b"\x80\x02\x83\x00\x00.",
        b"\x80\x02\x84\xff\xff\xff\xff.",
    ] {
        let r = inspect(b, Profile::Any);
        assert!(
            matches!(r.error, Some(PickleError::BadOperand { .. })),
            "{b:?}: {:?}",
            r.error
        );
        assert_eq!(r.verdict, Verdict::Malformed);
    }
}

#[test]
fn truncated_ext_operand_is_malformed() {
    let r = inspect(b"\x80\x02\x84\x01\x00", Profile::Any);
    assert!(matches!(r.error, Some(PickleError::Truncated { .. })));
    assert_eq!(r.verdict, Verdict::Malformed);
}

#[test]
fn registering_an_extension_then_using_it_is_dangerous() {
    // copyreg.add_extension('posix', 'system', 4660) ; EXT2 4660 ('id',)
    for module in ["copyreg", "copy_reg"] {
        let p = P::new()
            .proto(2)
            .op(b'(')
            .global(module, "add_extension")
            .s("posix")
            .s("system")
            .raw(b"M\x34\x12")
            .op(0x87)
            .op(b'R')
            .raw(b"\x83\x34\x12")
            .call1("id")
            .op(b't')
            .stop();
        let r = inspect(p.bytes(), Profile::Any);
        assert!(r.error.is_none(), "{:?}", r.error);
        assert_eq!(r.verdict, Verdict::Dangerous, "{module}");
        assert_eq!(
            r.dangerous_globals(),
            vec![format!("{module}.add_extension")]
        );
    }
}

#[test]
fn copyreg_registry_and_dispatch_functions_are_dangerous() {
    for module in ["copyreg", "copy_reg"] {
        for name in [
            "add_extension",
            "remove_extension",
            "clear_extension_cache",
            "pickle",
            "constructor",
            "_extension_registry",
            "_inverted_registry",
            "_extension_cache",
            "dispatch_table",
            "_reconstructor.__globals__",
        ] {
            assert!(deny_reason(module, name).is_some(), "{module}.{name}");
            for p in [
                P::new().proto(2).global(module, name).call1("x").stop(),
                P::new()
                    .proto(4)
                    .stack_global(module, name)
                    .call1("x")
                    .stop(),
            ] {
                assert_eq!(
                    inspect(p.bytes(), Profile::Any).verdict,
                    Verdict::Dangerous,
                    "{module}.{name}"
                );
            }
        }
    }
}

#[test]
fn copyreg_reconstructor_is_unknown_not_dangerous() {
    // copyreg._reconstructor(cls, object, None): how protocol 0/1 pickle a
    // plain object; its class argument is judged on its own.
    for module in ["copyreg", "copy_reg"] {
        assert_eq!(deny_reason(module, "_reconstructor"), None);
        let p = P::new()
            .proto(2)
            .global(module, "_reconstructor")
            .global("mypkg.models", "Net")
            .global("builtins", "object")
            .op(b'N')
            .op(0x87)
            .op(b'R')
            .stop();
        let r = inspect(p.bytes(), Profile::Any);
        assert_eq!(r.verdict, Verdict::Unknown, "{module}");
        assert!(r.dangerous_globals().is_empty());
        // With a dangerous class argument the file is dangerous.
        let p = P::new()
            .proto(2)
            .global(module, "_reconstructor")
            .global("subprocess", "Popen")
            .global("builtins", "object")
            .op(b'N')
            .op(0x87)
            .op(b'R')
            .stop();
        assert_eq!(inspect(p.bytes(), Profile::Any).verdict, Verdict::Dangerous);
    }
}
