//! "Is this a model file?" as a pickle loader sees the bytes.
//!
//! Pickles here are hand-written opcodes (the protocol-0 `os.system` call is
//! the textbook payload) or the output of CPython's `pickle.dumps` on plain
//! data, copied as bytes; nothing is ever unpickled.

use std::io::Write;

use tensorseal_convert::loadable::{judge, scan, scan_prefix, Judgement, Scan};

const SYSTEM_P0: &[u8] = b"cos\nsystem\n(S'echo pwned'\ntR.";
/// `pickle.dumps({'a': [1, 2.5, 'x']}, protocol=0)` (CPython 3).
const DATA_P0: &[u8] = b"(dp0\nVa\np1\n(lp2\nI1\naF2.5\naVx\np3\nas.";

fn is_model(data: &[u8]) -> bool {
    matches!(judge(data), Judgement::Model { .. })
}

#[test]
fn protocol0_pickle_followed_by_a_byte_is_a_model_file() {
    let mut d = SYSTEM_P0.to_vec();
    d.push(b'X');
    assert_eq!(
        scan(&d),
        Scan::Imports {
            offset: 0,
            what: "os.system".into()
        }
    );
    assert!(is_model(&d));
    let mut d = DATA_P0.to_vec();
    d.extend_from_slice(b"\n\n trailing text");
    assert_eq!(
        scan(&d),
        Scan::Data {
            stop: DATA_P0.len() - 1
        }
    );
    assert!(is_model(&d));
}

#[test]
fn inst_with_an_importable_module_counts_but_python_source_does_not() {
    assert!(matches!(
        scan(b"(ios\nsystem\nS'id'\n."),
        Scan::Imports { .. }
    ));
    for src in [
        &b"import torch\nimport numpy as np\n"[..],
        b"from x import y\n",
        b"#!/usr/bin/env python3\nprint('hi')\n",
        b"\"\"\"Docstring.\"\"\"\n",
        b"class Model:\n    pass\n",
        b"README\n======\n",
        b"Permission is hereby granted, free of charge, to any person\nobtaining a copy\n",
        b"copyright 2024 someone\n",
        b"[tool.poetry]\nname = \"x\"\n",
        b"{\"json\": true}\n",
        b"typed\n",
        b"\n",
        b".",
    ] {
        assert!(
            !is_model(src),
            "{:?} judged a model file: {:?}",
            String::from_utf8_lossy(src),
            judge(src)
        );
    }
}

#[test]
fn empty_files_and_lfs_pointers_are_not_model_files() {
    assert!(matches!(judge(b""), Judgement::NotModel { .. }));
    let lfs = b"version https://git-lfs.github.com/spec/v1\noid sha256:4d7a\nsize 12345\n";
    assert_eq!(judge(lfs), Judgement::LfsPointer);
}

#[test]
fn stack_global_with_an_identifier_imports() {
    // pickle.dumps(os.system, protocol=4) names it through STACK_GLOBAL.
    let p4 =
        b"\x80\x04\x95\x14\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x94\x8c\x06system\x94\x93\x94.";
    assert_eq!(
        scan(p4),
        Scan::Imports {
            offset: 28,
            what: "posix.system".into()
        }
    );
    // A module name no import can resolve.
    let bad = b"\x80\x04\x8c\x03a b\x8c\x01c\x93.";
    assert!(matches!(scan(bad), Scan::NotPickle { .. }));
}

#[test]
fn underflow_and_unknown_protocols_are_not_pickles() {
    for d in [
        &b"R"[..],
        b"\x80\x06N.",
        b"N0.",
        b"(t0R",
        b"a",
        b"\x80\x02\x00",
    ] {
        assert!(!scan(d).is_pickle(), "{d:?}: {:?}", scan(d));
    }
    // Truncated before STOP, nothing imported: a loader fails, runs nothing.
    assert!(!scan(b"(dp0\nVa\n").is_pickle());
    // The same bytes as the prefix of a longer stream are undecided.
    assert!(matches!(scan_prefix(b"(dp0\nVa\n"), Scan::Undecided { .. }));
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn gzip_pickle_of_several_mib_is_a_model_file() {
    // Protocol 0, a 3 MiB string first, the import after it: past any 1 MiB sniff.
    let mut p = b"(V".to_vec();
    p.extend(std::iter::repeat_n(b'a', 3 << 20));
    p.extend_from_slice(b"\nlp0\n0cos\nsystem\n(S'id'\ntR.");
    assert!(matches!(scan(&p), Scan::Imports { .. }));
    let gz = gzip(&p);
    assert!(is_model(&gz), "{:?}", judge(&gz));
    // Past the examined window it still counts (undecided is a pickle).
    let mut big = b"(V".to_vec();
    big.extend(std::iter::repeat_n(b'a', 6 << 20));
    big.extend_from_slice(b"\nlp0\n0cos\nsystem\n(S'id'\ntR.");
    assert!(is_model(&gzip(&big)));
    // A gzip-compressed text file is not.
    let text = gzip(b"Hello, this is a README compressed with gzip.\n");
    assert!(!is_model(&text), "{:?}", judge(&text));
}
