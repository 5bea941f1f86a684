//! One regression test per bypass class of research/pickle.md section 6.
//! Hostile streams are assembled in code; nothing is ever executed.

mod common;

use common::{JoblibHooks, P};
use tensorseal_pickle::{
    inspect, inspect_with, parse, parse_one, DangerReason, FindingKind, GlobalClass, Graph,
    HookError, Hooks, LimitKind, Limits, NodeId, Options, PickleError, Profile, Report, Verdict,
};

fn verdict(p: &P) -> Verdict {
    inspect(p.bytes(), Profile::Any).verdict
}

fn report(p: &P) -> Report {
    inspect(p.bytes(), Profile::Any)
}

/// `module.name(arg)` at protocol 2 with a text GLOBAL.
fn call_global(m: &str, n: &str) -> P {
    P::new().proto(2).global(m, n).call1("x").stop()
}

/// `module.name(arg)` at protocol 4 with STACK_GLOBAL.
fn call_stack_global(m: &str, n: &str) -> P {
    P::new().proto(4).stack_global(m, n).call1("x").stop()
}

fn has(r: &Report, kind: FindingKind) -> bool {
    r.findings.iter().any(|f| f.kind == kind)
}

// 1 ---------------------------------------------------------------------------
#[test]
fn class01_deny_list_gaps() {
    let gadgets = [
        ("pip", "main"),
        ("pip._internal.cli.main", "main"),
        ("pty", "spawn"),
        ("uuid", "_get_command_stdout"),
        ("imaplib", "IMAP4_stream"),
        ("pkgutil", "resolve_name"),
        ("logging", "FileHandler"),
        ("logging.config", "listen"),
        ("_io", "FileIO"),
        ("io", "open"),
        ("smtplib", "SMTP"),
        ("_interpreters", "create"),
        ("profile", "run"),
        ("cProfile", "runctx"),
        ("trace", "Trace.run"),
        ("timeit", "timeit"),
        ("doctest", "debug_script"),
        ("idlelib.pyshell", "ModifiedInterpreter.runcode"),
        ("lib2to3.pgen2.grammar", "Grammar.loads"),
        ("code", "InteractiveInterpreter.runcode"),
        ("ensurepip", "_run_pip"),
        ("venv", "create"),
        ("_osx_support", "_read_output"),
        ("_aix_support", "_read_cmd_output"),
        ("_pyrepl.pager", "pipe_pager"),
        ("test.support.script_helper", "assert_python_ok"),
        ("distutils.file_util", "write_file"),
        ("multiprocessing.util", "spawnv_passfds"),
        ("ssl", "get_server_certificate"),
        ("torch.utils.collect_env", "run"),
        ("torch._dynamo.guards", "GuardBuilder.get"),
        ("torch.jit.unsupported_tensor_ops", "execWrapper"),
        ("torch.serialization", "load"),
        ("torch.storage", "_load_from_bytes"),
        ("torch._inductor.codecache", "compile_file"),
        (
            "torch.fx.experimental.symbolic_shapes",
            "ShapeEnv.evaluate_guards_expression",
        ),
        ("torch.utils._config_module", "ConfigModule.load_config"),
        ("torch.utils.bottleneck.__main__", "run_cprofile"),
        ("torch.utils.data.datapipes.utils.decoder", "basichandlers"),
        ("numpy.f2py.crackfortran", "getlincoef"),
        ("numpy.testing._private.utils", "runstring"),
        ("numpy", "load"),
        ("cloudpickle.cloudpickle", "_make_function"),
        ("dill", "loads"),
        ("joblib", "load"),
        ("types", "CodeType"),
        ("marshal", "loads"),
        ("ctypes", "CDLL"),
        ("functools", "partial"),
        ("operator", "methodcaller"),
        ("sys", "exit"),
        ("shutil", "rmtree"),
        ("tempfile", "mkstemp"),
        ("webbrowser", "open"),
        ("urllib.request", "urlopen"),
        ("requests.api", "get"),
        ("http.client", "HTTPSConnection"),
        ("socket", "create_connection"),
        ("aiohttp.client", "ClientSession"),
        ("importlib", "import_module"),
        ("runpy", "_run_code"),
        ("zipimport", "zipimporter"),
        ("linecache", "getline"),
        ("pydoc", "pipepager"),
        ("pdb", "run"),
        ("bdb", "Bdb.run"),
    ];
    for (m, n) in gadgets {
        let r = report(&call_stack_global(m, n));
        assert_eq!(r.verdict, Verdict::Dangerous, "{m}.{n}: {:?}", r.findings);
        for p in [
            Profile::Torch,
            Profile::Numpy,
            Profile::Sklearn,
            Profile::Any,
        ] {
            assert!(!p.allows(m, n), "{m}.{n} allowed by {p:?}");
        }
    }
    // The real defence is the allow-list: an unlisted, unknown callable is
    // never "safe".
    let r = report(&call_stack_global(
        "some_new_package.helpers",
        "run_anything",
    ));
    assert_eq!(r.verdict, Verdict::Unknown);
    assert!(matches!(r.globals[0].class, GlobalClass::Unknown));
}

// 2 ---------------------------------------------------------------------------
#[test]
fn class02_name_aliasing() {
    for (m, n) in [
        ("os", "system"),
        ("posix", "system"),
        ("nt", "system"),
        ("_operator", "attrgetter"),
        ("operator", "attrgetter"),
        ("__builtin__", "eval"),
        ("builtins", "eval"),
        ("__builtins__", "exec"),
        ("_pickle", "loads"),
        ("cPickle", "loads"),
        ("_io", "FileIO"),
        ("asyncio.unix_events", "_UnixSubprocessTransport._start"),
        ("_posixsubprocess", "fork_exec"),
        ("copy_reg", "_reconstructor.__globals__"),
    ] {
        assert_eq!(verdict(&call_global(m, n)), Verdict::Dangerous, "{m}.{n}");
    }
    // Accepted spellings are spelled out one by one...
    for (m, n) in [
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("builtins", "set"),
        ("__builtin__", "set"),
    ] {
        assert!(Profile::Numpy.allows(m, n), "{m}.{n}");
    }
    // ...and nothing near them matches.
    for (m, n) in [
        ("numpy.core.multiarray2", "_reconstruct"),
        ("numpy", "core.multiarray._reconstruct"),
        ("numpy._core", "multiarray._reconstruct"),
        ("Numpy", "ndarray"),
        ("numpy ", "ndarray"),
    ] {
        assert!(!Profile::Any.allows(m, n), "{m}.{n}");
    }
}

// 3 ---------------------------------------------------------------------------
#[test]
fn class03_dotted_names() {
    for (m, n) in [
        ("builtins", "eval.__call__"),
        ("pathlib", "os.system"),
        ("__future__", "_ssl.RAND_bytes"),
        ("bdb", "Bdb.run"),
        ("torch._utils", "_rebuild_tensor_v2.__globals__"),
        ("collections", "OrderedDict.__init__.__globals__"),
        ("numpy", "__builtins__"),
        ("mymodule", "os.system"),
        ("torch.compile", "anything"),
        ("torch", "hub.load"),
    ] {
        let r = report(&call_stack_global(m, n));
        assert_eq!(r.verdict, Verdict::Dangerous, "{m}.{n}");
        assert!(!Profile::Any.allows(m, n));
    }
    // Allowed names never pass with an attribute path appended.
    let r = report(&call_stack_global("torch", "FloatStorage.from_file"));
    assert_ne!(r.verdict, Verdict::Safe);
}

// 4 ---------------------------------------------------------------------------
#[test]
fn class04_stack_global_operands_not_literal() {
    // Operands from the memo are still literals: resolved and classified.
    let memo = P::new()
        .proto(4)
        .s("posix")
        .op(0x94)
        .op(b'0')
        .s("system")
        .op(0x94)
        .op(b'0')
        .raw(b"h\x00h\x01")
        .op(0x93)
        .call1("id")
        .stop();
    let r = report(&memo);
    assert_eq!(r.verdict, Verdict::Dangerous);
    assert_eq!(r.dangerous_globals(), vec!["posix.system".to_string()]);

    // Non-string operands (ints) are a dynamic global.
    let ints = P::new()
        .proto(4)
        .int(1)
        .int(2)
        .op(0x93)
        .op(b'0')
        .s("x")
        .stop();
    let r = report(&ints);
    assert_eq!(r.verdict, Verdict::Dangerous);
    assert!(has(&r, FindingKind::DynamicGlobal));

    // Computed operand: ''.join(...) style call result used as module name.
    let computed = P::new()
        .proto(4)
        .stack_global("operator", "itemgetter")
        .int(0)
        .op(0x85)
        .op(b'R')
        .s("system")
        .op(0x93)
        .op(b'0')
        .s("x")
        .stop();
    let r = report(&computed);
    assert!(has(&r, FindingKind::DynamicGlobal));
    assert_eq!(r.verdict, Verdict::Dangerous);

    // Missing memo key: error, never a silent "unknown".
    let missing = P::new().proto(4).raw(b"h\x07h\x08").op(0x93).stop();
    let r = report(&missing);
    assert!(matches!(
        r.error,
        Some(PickleError::MemoMissing { key: 7, .. })
    ));
    assert_ne!(r.verdict, Verdict::Safe);

    // Module attribute override via BUILD on a global (sys_module_override_sploit).
    let build_on_module = P::new()
        .proto(2)
        .global("collections", "OrderedDict")
        .op(b'}')
        .s("x")
        .int(1)
        .op(b's')
        .op(b'b')
        .stop();
    let r = report(&build_on_module);
    assert_eq!(r.verdict, Verdict::Dangerous);
    assert!(has(&r, FindingKind::IllegalMutation));

    // STRING (protocol 0 quoted) operands and STACK_GLOBAL among the first opcodes.
    let string_ops = P::new()
        .raw(b"S'posix'\nS'system'\n")
        .op(0x93)
        .raw(b"S'id'\n")
        .op(0x85)
        .op(b'R')
        .stop();
    let r = report(&string_ops);
    assert_eq!(r.dangerous_globals(), vec!["posix.system".to_string()]);
}

// 5 ---------------------------------------------------------------------------
#[test]
fn class05_opcodes_outside_profile() {
    // INST: import and call in one opcode.
    let inst = P::new().raw(b"(S'id'\nisubprocess\ncheck_output\n.");
    assert_eq!(verdict(&inst), Verdict::Dangerous);
    // OBJ of an unknown class whose result is POPped: side-effect-only call.
    let obj_pop = P::new()
        .proto(1)
        .op(b'(')
        .global("mypkg", "Thing")
        .s("arg")
        .op(b'o')
        .op(b'0')
        .op(b'N')
        .stop();
    let r = report(&obj_pop);
    assert_eq!(r.verdict, Verdict::Dangerous);
    assert!(has(&r, FindingKind::SideEffectCall));
    // NEWOBJ_EX with kwargs.
    let newobj_ex = P::new()
        .proto(4)
        .stack_global("subprocess", "Popen")
        .op(b')')
        .op(b'}')
        .op(0x92)
        .stop();
    assert_eq!(verdict(&newobj_ex), Verdict::Dangerous);
    // REDUCE stuck in the memo only, then POP_MARK.
    let pop_mark = P::new()
        .proto(2)
        .op(b'(')
        .global("unknownpkg", "f")
        .op(b')')
        .op(b'R')
        .raw(b"q\x00")
        .op(b'1')
        .op(b'N')
        .stop();
    let r = report(&pop_mark);
    assert_eq!(r.verdict, Verdict::Dangerous);
    // An allowed call that is discarded is only a note.
    let allowed_pop = P::new()
        .proto(2)
        .global("collections", "OrderedDict")
        .op(b')')
        .op(b'R')
        .op(b'0')
        .op(b'N')
        .stop();
    assert_eq!(verdict(&allowed_pop), Verdict::Safe);
    // EXT1/2/4 import a global the stream does not name: never safe (more
    // in tests/extension_registry.rs). Out-of-band buffers are refused.
    for b in [
        &b"\x80\x02\x82\x01."[..],
        b"\x80\x02\x83\x01\x00.",
        b"\x80\x02\x84\x01\x00\x00\x00.",
    ] {
        let r = inspect(b, Profile::Any);
        assert!(r.error.is_none(), "{b:?}");
        assert_eq!(r.verdict, Verdict::Unknown);
        assert_eq!(r.globals[0].class, GlobalClass::Unknown);
    }
    for b in [&b"\x80\x05\x97."[..], b"\x80\x05N\x98."] {
        let r = inspect(b, Profile::Any);
        assert!(
            matches!(r.error, Some(PickleError::Unsupported { .. })),
            "{b:?}"
        );
    }
    // PERSID (text form) gives a PersistentRef node.
    let parsed = parse(b"Pfoo\n.", &Options::default()).unwrap();
    assert!(matches!(
        parsed.graph.get(parsed.root),
        Some(tensorseal_pickle::Value::PersistentRef(_))
    ));
}

// 6 ---------------------------------------------------------------------------
#[test]
fn class06_nested_pickles_and_loaders() {
    let inner = call_global("posix", "system");
    for (m, n) in [
        ("_pickle", "loads"),
        ("pickle", "loads"),
        ("torch", "load"),
        ("torch.storage", "_load_from_bytes"),
        ("dill", "loads"),
        ("numpy", "loads"),
    ] {
        let outer = P::new()
            .proto(3)
            .global(m, n)
            .bin_bytes(inner.bytes())
            .op(0x85)
            .op(b'R')
            .stop();
        let r = report(&outer);
        assert_eq!(r.verdict, Verdict::Dangerous, "{m}.{n}");
        assert!(r.globals.iter().any(|g| matches!(
            g.class,
            GlobalClass::Dangerous {
                reason: DangerReason::NestedLoader
            }
        )));
    }
}

// 7 ---------------------------------------------------------------------------
#[test]
fn class07_stream_parser_differentials() {
    let benign = P::new().proto(2).op(b'}').stop();
    // Trailing garbage after STOP.
    let trailing = benign.clone().raw(b"\xff\xfe garbage");
    let r = report(&trailing);
    assert_eq!(r.verdict, Verdict::Malformed);
    assert!(has(&r, FindingKind::TrailingData));
    assert!(matches!(
        parse(trailing.bytes(), &Options::default()),
        Err(PickleError::TrailingData { offset: 4, .. })
    ));
    // A second pickle after STOP, malicious.
    let two = benign.clone().raw(call_global("posix", "system").bytes());
    let r = report(&two);
    assert_eq!(r.verdict, Verdict::Dangerous);
    assert!(has(&r, FindingKind::ConcatenatedPickle));
    // parse_one stops exactly at the first STOP.
    let first = parse_one(
        two.bytes(),
        0,
        &Options::default(),
        &mut tensorseal_pickle::NoHooks,
    )
    .unwrap();
    assert_eq!(first.end, 4);
    // Stack not empty at STOP: os.system hidden under the real result.
    let hidden = P::new()
        .proto(2)
        .global("posix", "system")
        .call1("id")
        .op(b'}')
        .stop();
    let r = report(&hidden);
    assert_eq!(r.verdict, Verdict::Dangerous);
    // Even with an allowed-looking hidden call, >1 item at STOP is deception.
    let hidden_allowed = P::new().proto(2).op(b'N').op(b'}').stop();
    let r = report(&hidden_allowed);
    assert_eq!(r.verdict, Verdict::Dangerous);
    assert!(has(&r, FindingKind::StackNotEmpty));
    // Duplicate / misplaced PROTO.
    let dup = P::new().proto(2).proto(2).op(b'N').stop();
    assert_eq!(verdict(&dup), Verdict::Malformed);
    // FRAME shorter than the opcode inside it (cpython#154848).
    let straddle = P::new().proto(4).frame(2).global("os", "system").stop();
    let r = report(&straddle);
    assert_eq!(r.verdict, Verdict::Dangerous);
    assert!(has(&r, FindingKind::FrameViolation));
    // FRAME inside FRAME.
    let nested = P::new()
        .proto(4)
        .frame(12)
        .op(b'N')
        .frame(1)
        .op(b'0')
        .op(b'N')
        .stop();
    assert_eq!(verdict(&nested), Verdict::Dangerous);
    // Invalid UTF-8 and CRLF in GLOBAL lines.
    let bad_utf8 = P::new().raw(b"cos\xff\nsystem\n(tR.");
    assert_eq!(verdict(&bad_utf8), Verdict::Malformed);
    let crlf = P::new().raw(b"cos\r\nsystem\r\n(S'id'\ntR.");
    assert_ne!(verdict(&crlf), Verdict::Safe);
    // Truncated after the payload: the REDUCE already ran in Python.
    let truncated = P::new()
        .proto(2)
        .global("builtins", "exec")
        .call1("x")
        .raw(b"}q");
    let r = report(&truncated);
    assert_eq!(r.verdict, Verdict::Dangerous);
    assert!(r.error.is_some());
    // A payload behind a malformed part is still found by the linear scan.
    let behind = P::new()
        .proto(4)
        .op(b'0') // POP on empty stack: parse error
        .stack_global("subprocess", "Popen")
        .call1("id")
        .stop();
    let r = report(&behind);
    assert_eq!(r.verdict, Verdict::Dangerous);
    assert!(has(&r, FindingKind::AfterError));
}

// 8 ---------------------------------------------------------------------------
#[test]
fn class08_zip_containers_are_not_bare_pickles() {
    // Zip parsing (CRC, flags, local vs central names) belongs to
    // tensorseal-convert; this crate must never call a zip "safe".
    let zip = b"PK\x03\x04\x14\x00\x00\x00\x00\x00data.pkl\x80\x02}.";
    let r = inspect(zip, Profile::Torch);
    assert_eq!(r.verdict, Verdict::Malformed);
    // (`P` happens to be PERSID: the text line then fails.)
    assert!(r.error.is_some());
}

// 9 ---------------------------------------------------------------------------
#[test]
fn class09_format_confusion_and_computed_magic() {
    // A PNG named .pt is not a pickle.
    let png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR";
    assert_eq!(inspect(png, Profile::Torch).verdict, Verdict::Malformed);
    // not_a_pickle.bin from picklescan: GLOBAL with invalid UTF-8.
    assert_eq!(
        inspect(b"cmod\n\xf8\n", Profile::Any).verdict,
        Verdict::Malformed
    );
    // Legacy torch magic computed by eval (GHSA-97f8-7cmv-76j2).
    let magic = P::new()
        .proto(2)
        .global("__builtin__", "eval")
        .call1("0x1950A86A20F9469CFC6C")
        .stop();
    assert_eq!(verdict(&magic), Verdict::Dangerous);
}

// 10 --------------------------------------------------------------------------
#[test]
fn class10_polyglots() {
    let zip_tail = b"PK\x03\x04\x14\x00\x00\x00\x00\x00PK\x05\x06\x00\x00";
    let benign = P::new().proto(2).op(b'}').stop().raw(zip_tail);
    let r = report(&benign);
    assert_eq!(r.verdict, Verdict::Malformed);
    let evil = call_global("posix", "system").raw(zip_tail);
    assert_eq!(verdict(&evil), Verdict::Dangerous);
}

// 11 --------------------------------------------------------------------------
fn joblib_wrapper(shape0: u8) -> P {
    P::new()
        .proto(4)
        .stack_global("joblib.numpy_pickle", "NumpyArrayWrapper")
        .op(b')')
        .op(0x81)
        .op(b'}')
        .op(b'(')
        .s("shape")
        .int(shape0)
        .op(0x85)
        .s("dtype")
        .stack_global("numpy", "dtype")
        .s("u1")
        .op(0x89)
        .op(0x88)
        .op(0x87)
        .op(b'R')
        .s("numpy_array_alignment_bytes")
        .int(16)
        .op(b'u')
        .op(b'b')
}

#[test]
fn class11_joblib_raw_array_framing() {
    // benign array, then raw bytes, then an object reducing to os.system.
    let stream = joblib_wrapper(4)
        .raw(&[2, 0xff, 0xff]) // padding length + padding
        .raw(&[0, 0, 0, 0]) // 4 raw u1 bytes
        .op(b'0') // discard wrapper
        .stack_global("posix", "system")
        .call1("id")
        .stop();
    let mut hooks = JoblibHooks::default();
    let r = inspect_with(stream.bytes(), &Options::new(Profile::Sklearn), &mut hooks);
    assert_eq!(r.verdict, Verdict::Dangerous, "{:?}", r.findings);
    assert_eq!(r.dangerous_globals(), vec!["posix.system".to_string()]);
    assert_eq!(hooks.arrays.len(), 1);
    // Without the joblib hook the raw bytes are malformed opcodes: never safe.
    let plain = inspect(stream.bytes(), Profile::Sklearn);
    assert_ne!(plain.verdict, Verdict::Safe);
    // Raw bytes claimed inside an unfinished frame are refused.
    let mut framed = P::new().proto(4).frame(200);
    framed.0.extend_from_slice(&joblib_wrapper(1).0[2..]);
    let framed = framed.raw(&[0, 7]).stop();
    let r = inspect_with(
        framed.bytes(),
        &Options::new(Profile::Sklearn),
        &mut JoblibHooks::default(),
    );
    assert!(matches!(
        r.error,
        Some(PickleError::Frame { .. }) | Some(PickleError::Truncated { .. })
    ));
    assert_ne!(r.verdict, Verdict::Safe);
}

// 12 --------------------------------------------------------------------------
struct RefuseStorage;
impl Hooks for RefuseStorage {
    fn persistent_load(&mut self, graph: &Graph, pid: NodeId, _: usize) -> Result<(), HookError> {
        let t = graph.as_tuple(pid).ok_or("pid is not a tuple")?;
        let numel = t.get(4).and_then(|&n| graph.as_int(n)).ok_or("no numel")?;
        if numel > 10 {
            return Err(format!("numel {numel} larger than the record").into());
        }
        Ok(())
    }
}

#[test]
fn class12_storage_geometry_hooks_and_bounded_ints() {
    // ('storage', torch.FloatStorage, '0', 'cpu', 20) BINPERSID
    let pid = P::new()
        .proto(2)
        .op(b'(')
        .s("storage")
        .global("torch", "FloatStorage")
        .s("0")
        .s("cpu")
        .int(20)
        .op(b't')
        .op(b'Q')
        .stop();
    let err = parse_one(
        pid.bytes(),
        0,
        &Options::new(Profile::Torch),
        &mut RefuseStorage,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            PickleError::Hook {
                opcode: "BINPERSID",
                ..
            }
        ),
        "{err}"
    );
    // Negative and oversized lengths never allocate.
    assert!(matches!(
        parse(b"\x80\x02T\xff\xff\xff\xff.", &Options::default()),
        Err(PickleError::BadOperand {
            opcode: "BINSTRING",
            ..
        })
    ));
    assert!(matches!(
        parse(
            b"\x80\x04\x8e\xff\xff\xff\xff\xff\xff\xff\x7f.",
            &Options::default()
        ),
        Err(PickleError::Truncated {
            opcode: "BINBYTES8",
            ..
        })
    ));
    // Giant LONG4 is bounded.
    let mut long4 = b"\x80\x02\x8b".to_vec();
    long4.extend_from_slice(&100_000i32.to_le_bytes());
    long4.extend(std::iter::repeat_n(1u8, 100_000));
    long4.push(b'.');
    assert!(matches!(
        parse(&long4, &Options::default()),
        Err(PickleError::Limit {
            kind: LimitKind::LongBytes,
            ..
        })
    ));
}

// 13 --------------------------------------------------------------------------
#[test]
fn class13_resource_exhaustion() {
    // DUP billion laughs (globalLaughs pattern), 10 levels.
    let mut laughs = P::new().proto(4);
    for _ in 0..10 {
        laughs = laughs.op(b'(');
    }
    laughs = laughs.s("lol");
    for _ in 0..10 {
        laughs = laughs.raw(b"2222222222l");
    }
    let r = report(&laughs.stop());
    assert_eq!(r.verdict, Verdict::Dangerous);
    assert!(has(&r, FindingKind::Expansion));
    // Memo fan-out into itself (list appended to itself many times).
    let mut memo = P::new().proto(4).op(b']').op(0x94);
    for _ in 0..60 {
        memo = memo.raw(b"h\x00a");
    }
    assert_eq!(verdict(&memo.stop()), Verdict::Dangerous);
    // Limits produce typed errors.
    let tight = Options {
        profile: Profile::Any,
        limits: Limits {
            max_opcodes: 10,
            max_stack: 5,
            max_memo: 2,
            max_materialised_bytes: 16,
            max_nesting: 3,
            ..Limits::default()
        },
    };
    let cases: [(&[u8], LimitKind); 5] = [
        (b"\x80\x02N0N0N0N0N0N0N.", LimitKind::Opcodes),
        (b"\x80\x02NNNNNN.", LimitKind::StackDepth),
        (b"\x80\x04N\x94\x94\x94.", LimitKind::MemoEntries),
        (
            b"\x80\x04\x8c\x20aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.",
            LimitKind::MaterialisedBytes,
        ),
        (b"\x80\x02((((.", LimitKind::NestingDepth),
    ];
    for (bytes, kind) in cases {
        let e = parse(bytes, &tight).unwrap_err();
        assert!(
            matches!(e, PickleError::Limit { kind: k, .. } if k == kind),
            "{kind:?}: {e}"
        );
        let r = inspect_with(bytes, &tight, &mut tensorseal_pickle::NoHooks);
        assert_eq!(r.verdict, Verdict::Malformed);
    }
    // Deep nesting with default limits (malformed/deep_nesting.pkl pattern).
    let mut deep = vec![0x80, 4];
    deep.extend(std::iter::repeat_n(b'(', 100_000));
    deep.extend(std::iter::repeat_n(b'l', 100_000));
    deep.push(b'.');
    assert!(matches!(
        parse(&deep, &Options::default()),
        Err(PickleError::Limit {
            kind: LimitKind::NestingDepth,
            ..
        })
    ));
    // Nesting built by APPEND instead of MARKs is bounded too.
    let mut appended = vec![0x80, 2, b']'];
    for _ in 0..5_000 {
        appended.extend_from_slice(b"\x85");
    }
    appended.push(b'.');
    assert!(matches!(
        parse(&appended, &Options::default()),
        Err(PickleError::Limit {
            kind: LimitKind::NestingDepth,
            ..
        })
    ));
}

// 14 --------------------------------------------------------------------------
#[test]
fn class14_torchscript_and_other_loaders() {
    for (m, n) in [
        ("torch.jit", "load"),
        ("torch.jit._script", "RecursiveScriptModule"),
        ("torch.jit._serialization", "load"),
        ("torch", "compile"),
        ("torch.hub", "load"),
        ("torch.package", "PackageImporter"),
        ("torch._C", "import_ir_module"),
    ] {
        assert_eq!(
            verdict(&call_stack_global(m, n)),
            Verdict::Dangerous,
            "{m}.{n}"
        );
    }
    // TorchScript classes are never allowed.
    let r = report(&call_stack_global("__torch__.model", "Net"));
    assert_ne!(r.verdict, Verdict::Safe);
    assert!(!Profile::Torch.allows("__torch__.model", "Net"));
}

// 15 --------------------------------------------------------------------------
#[test]
fn class15_scanner_deactivation() {
    for (m, n) in [
        ("fickling.hook", "remove_hook"),
        ("picklescan.scanner", "scan_pickle_bytes"),
        ("modelscan.modelscan", "ModelScan"),
        ("modelaudit", "scan"),
    ] {
        let r = report(&call_stack_global(m, n));
        assert_eq!(r.verdict, Verdict::Dangerous, "{m}.{n}");
        assert!(matches!(
            r.globals[0].class,
            GlobalClass::Dangerous {
                reason: DangerReason::ScannerTampering
            }
        ));
    }
}
