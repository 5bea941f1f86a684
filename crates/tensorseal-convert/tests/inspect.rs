//! File inspection: every fixture of the shared manifest gets its listed
//! verdict and dangerous globals; the peer corpora (through
//! `TENSORSEAL_PEER_CORPUS`) are inspected file by file, containers
//! included; hand-built archives exercise recursion, salvage and limits.
//!
//! Nothing here executes or unpickles anything: every file goes through
//! `inspect_path` / `inspect_bytes` only.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{torch_pkl, torch_zip, zip, Member};
use tensorseal_convert::inspect::{
    inspect_bytes, inspect_path, FileReport, InspectOptions, Verdict,
};
use tensorseal_convert::Format;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/fixtures")
}

fn manifest() -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(data_dir().join("manifest.json")).expect("manifest");
    serde_json::from_str(&text).expect("manifest json")
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(data_dir().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn describe(r: &FileReport) -> String {
    format!(
        "format {} verdict {} globals {:?} findings {:?} error {:?}",
        r.format,
        r.verdict,
        r.globals
            .iter()
            .map(|g| format!("{}:{}", g.dotted(), g.class))
            .collect::<Vec<_>>(),
        r.findings
            .iter()
            .map(|f| format!("{}@{} {:?}: {}", f.kind, f.offset, f.member, f.message))
            .collect::<Vec<_>>(),
        r.error
    )
}

#[test]
fn every_fixture_gets_its_listed_verdict_and_dangerous_globals() {
    let opts = InspectOptions::default();
    let mut checked = 0;
    let mut failures = Vec::new();
    for e in manifest() {
        let file = e["file"].as_str().unwrap();
        let want_verdict = e["verdict"].as_str().unwrap();
        let want_format = e["format"].as_str().unwrap();
        let path = data_dir().join(file);
        let r = inspect_path(&path, &opts).unwrap_or_else(|err| panic!("{file}: {err}"));
        checked += 1;
        if r.verdict.as_str() != want_verdict {
            failures.push(format!("{file}: want {want_verdict}, {}", describe(&r)));
            continue;
        }
        if r.format.as_str() != want_format {
            failures.push(format!(
                "{file}: want format {want_format}, {}",
                describe(&r)
            ));
        }
        let got = r.dangerous_globals();
        for d in e["dangerous"].as_array().unwrap() {
            let d = d.as_str().unwrap();
            if !got.iter().any(|g| g == d) {
                failures.push(format!(
                    "{file}: dangerous global {d} not reported: {}",
                    describe(&r)
                ));
            }
            // Every dangerous global carries a reason.
            for g in r.globals.iter().filter(|g| g.class == "dangerous") {
                if g.reason.as_deref().unwrap_or("").is_empty() {
                    failures.push(format!("{file}: {} without a reason", g.dotted()));
                }
            }
        }
        // Every listed global is reported (the manifest lists each once).
        for g in e["globals"].as_array().unwrap() {
            let g = g.as_str().unwrap();
            if !r.globals.iter().any(|x| x.dotted() == g) {
                failures.push(format!("{file}: global {g} not reported: {}", describe(&r)));
            }
        }
        // A safe verdict means no global is anything but allowed.
        if r.verdict == Verdict::Safe && r.globals.iter().any(|g| g.class != "allowed") {
            failures.push(format!(
                "{file}: safe with a non-allowed global: {}",
                describe(&r)
            ));
        }
    }
    assert_eq!(checked, manifest().len());
    assert!(checked >= 47, "only {checked} fixtures");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn inspect_bytes_agrees_with_inspect_path() {
    let opts = InspectOptions::default();
    for rel in [
        "torch/views.pt",
        "hostile/os_system_p4.pkl",
        "numpy/bundle.npz",
    ] {
        let a = inspect_bytes(&read(rel), &opts);
        let b = inspect_path(&data_dir().join(rel), &opts).unwrap();
        assert_eq!((a.format, a.verdict), (b.format, b.verdict), "{rel}");
        assert_eq!(a.globals, b.globals, "{rel}");
    }
}

#[test]
fn io_errors_are_errors_not_verdicts() {
    let opts = InspectOptions::default();
    assert!(inspect_path(Path::new("/nonexistent/tensorseal/x.pt"), &opts).is_err());
    assert!(inspect_path(&data_dir(), &opts).is_err());
}

#[test]
fn dangerous_global_details() {
    let r = inspect_bytes(
        &read("hostile/os_system_p2.pkl"),
        &InspectOptions::default(),
    );
    let g = r
        .globals
        .iter()
        .find(|g| g.dotted() == "posix.system")
        .unwrap();
    assert_eq!(g.class, "dangerous");
    assert_eq!(g.reason.as_deref(), Some("process"));
    assert_eq!(g.member, None);
    assert!(g.offset < 42);
    let r = inspect_bytes(
        &read("hostile/builtins_exec.pkl"),
        &InspectOptions::default(),
    );
    let g = r
        .globals
        .iter()
        .find(|g| g.dotted() == "builtins.exec")
        .unwrap();
    assert_eq!(g.reason.as_deref(), Some("code execution"));
}

#[test]
fn torch_zip_member_globals_name_their_member() {
    let r = inspect_bytes(
        &read("hostile/torch_zip_malicious_data_pkl.pt"),
        &InspectOptions::default(),
    );
    assert_eq!(r.verdict, Verdict::Dangerous);
    let g = r
        .globals
        .iter()
        .find(|g| g.dotted() == "posix.system")
        .unwrap();
    assert!(g.member.as_deref().unwrap().ends_with("data.pkl"), "{g:?}");
    assert_eq!(g.profile, "torch");
}

#[test]
fn profile_override_applies() {
    // A scikit-learn pickle is safe under the default (Any) profile and
    // unknown under the torch profile.
    let bytes = read("sklearn/risk_logreg_p4.pkl");
    assert_eq!(
        inspect_bytes(&bytes, &InspectOptions::default()).verdict,
        Verdict::Safe
    );
    let torch = InspectOptions {
        profile: Some(tensorseal_pickle::Profile::Torch),
        ..InspectOptions::default()
    };
    assert_eq!(inspect_bytes(&bytes, &torch).verdict, Verdict::Unknown);
}

// ---------------------------------------------------------------------------
// Hand-built inputs

const EVIL_P2: &[u8] = b"\x80\x02cposix\nsystem\nX\x04\x00\x00\x00echoq\x00\x85q\x01Rq\x02.";
const SAFE_P2: &[u8] = b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01K\x01s.";
const UNKNOWN_P2: &[u8] = b"\x80\x02cmylib\nThing\n)Rq\x00.";

fn npy_bytes(descr: &str, shape: &str, body: &[u8]) -> Vec<u8> {
    let header = format!("{{'descr': {descr}, 'fortran_order': False, 'shape': {shape}, }}");
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    let pad = 64 - (10 + header.len() + 1) % 64;
    out.extend_from_slice(&((header.len() + pad + 1) as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend(std::iter::repeat_n(b' ', pad));
    out.push(b'\n');
    out.extend_from_slice(body);
    out
}

fn verdict(data: &[u8]) -> FileReport {
    inspect_bytes(data, &InspectOptions::default())
}

#[test]
fn generic_zip_members_are_inspected_recursively() {
    let inner = zip(&[Member::stored("deep/evil.bin", EVIL_P2)]);
    let outer = zip(&[
        Member::stored("ok.pkl", SAFE_P2),
        Member::stored("nested.zip", &inner),
    ]);
    let r = verdict(&outer);
    assert_eq!(r.format, Format::Zip);
    assert_eq!(r.verdict, Verdict::Dangerous, "{}", describe(&r));
    let g = r
        .globals
        .iter()
        .find(|g| g.dotted() == "posix.system")
        .unwrap();
    assert_eq!(g.member.as_deref(), Some("nested.zip!deep/evil.bin"));

    // Safe members only: safe; an unknown global: unknown.
    assert_eq!(
        verdict(&zip(&[Member::stored("a.pkl", SAFE_P2)])).verdict,
        Verdict::Safe
    );
    assert_eq!(
        verdict(&zip(&[
            Member::stored("a.pkl", SAFE_P2),
            Member::stored("b", UNKNOWN_P2)
        ]))
        .verdict,
        Verdict::Unknown
    );
}

#[test]
fn an_archive_with_a_member_we_cannot_read_is_never_safe() {
    let r = verdict(&zip(&[
        Member::stored("a.pkl", SAFE_P2),
        Member::stored("readme.txt", b"hello, this is text"),
    ]));
    assert_eq!(r.verdict, Verdict::Unsupported, "{}", describe(&r));
    let seven = b"7z\xbc\xaf\x27\x1c\x00\x04rest".to_vec();
    let r = verdict(&zip(&[Member::stored("a.7z", &seven)]));
    assert_eq!(r.verdict, Verdict::Unsupported);
}

#[test]
fn archive_depth_is_bounded() {
    let mut z = zip(&[Member::stored("x.pkl", SAFE_P2)]);
    for i in 0..6 {
        let name = format!("level{i}.zip");
        z = zip(&[Member::stored(&name, &z)]);
    }
    let r = verdict(&z);
    assert_eq!(r.verdict, Verdict::Unsupported, "{}", describe(&r));
    assert!(r.findings.iter().any(|f| f.kind == "too_deep"));
    let deep = InspectOptions {
        max_depth: 10,
        ..InspectOptions::default()
    };
    assert_eq!(inspect_bytes(&z, &deep).verdict, Verdict::Safe);
}

#[test]
fn refused_zips_are_salvaged_for_dangerous_members() {
    let good = zip(&[Member::stored("model/config.pkl", EVIL_P2)]);
    // Encrypted flag on clear data (CVE-2025-1945 class): the strict reader
    // refuses it, a lenient one would load the pickle.
    let mut flagged = good.clone();
    flagged[6] = 0x01;
    let cd = find(&flagged, b"PK\x01\x02").unwrap();
    flagged[cd + 8] = 0x01;
    let r = verdict(&flagged);
    assert_eq!(r.verdict, Verdict::Dangerous, "{}", describe(&r));
    assert!(r.dangerous_globals().contains(&"posix.system".to_string()));
    // The same archive with a benign pickle stays at "unsupported".
    let benign = zip(&[Member::stored("model/config.pkl", SAFE_P2)]);
    let mut flagged = benign;
    flagged[6] = 0x01;
    let cd = find(&flagged, b"PK\x01\x02").unwrap();
    flagged[cd + 8] = 0x01;
    let r = verdict(&flagged);
    assert_eq!(r.verdict, Verdict::Unsupported, "{}", describe(&r));

    // CRC mismatch: a reader differential, dangerous on its own.
    let mut crc = zip(&[Member::stored("a.pkl", SAFE_P2)]);
    crc[14] ^= 0xFF;
    let cd = find(&crc, b"PK\x01\x02").unwrap();
    crc[cd + 16] ^= 0xFF;
    let r = verdict(&crc);
    assert_eq!(r.verdict, Verdict::Dangerous, "{}", describe(&r));
    assert!(r.findings.iter().any(|f| f.kind == "zip_differential"));

    // Truncated archive: malformed.
    let z = zip(&[Member::stored("a.pkl", SAFE_P2)]);
    let r = verdict(&z[..z.len() - 5]);
    assert_eq!(r.verdict, Verdict::Malformed, "{}", describe(&r));
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

#[test]
fn seven_zip_and_unknown_are_unsupported_unless_a_dangerous_pickle_shows() {
    let mut seven = b"7z\xbc\xaf\x27\x1c\x00\x04".to_vec();
    seven.extend_from_slice(&[0u8; 24]);
    let r = verdict(&seven);
    assert_eq!(
        (r.format, r.verdict),
        (Format::SevenZip, Verdict::Unsupported)
    );
    // An uncompressed (LZMA2 "stored" chunk) payload inside a 7z.
    seven.extend_from_slice(&[0x01, 0x00, EVIL_P2.len() as u8 - 1]);
    seven.extend_from_slice(EVIL_P2);
    seven.extend_from_slice(b"\x00tail");
    let r = verdict(&seven);
    assert_eq!(r.verdict, Verdict::Dangerous, "{}", describe(&r));
    let r = verdict(b"GIF89a not a model");
    assert_eq!(
        (r.format, r.verdict),
        (Format::Unknown, Verdict::Unsupported)
    );
}

#[test]
fn torch_zip_geometry_is_checked() {
    let pkl = torch_pkl("FloatStorage", 4, 0, &[2, 2], &[2, 1]);
    let ok = torch_zip(&pkl, b"little", &[0u8; 16], &[]);
    let r = verdict(&ok);
    assert_eq!(
        (r.format, r.verdict),
        (Format::TorchZip, Verdict::Safe),
        "{}",
        describe(&r)
    );
    // numel says 4 floats, the record holds 3: malformed.
    let short = torch_zip(&pkl, b"little", &[0u8; 12], &[]);
    let r = verdict(&short);
    assert_eq!(r.verdict, Verdict::Malformed, "{}", describe(&r));
    assert!(r.findings.iter().any(|f| f.kind == "torch_structure"));
    // View past the end of its storage.
    let pkl = torch_pkl("FloatStorage", 4, 2, &[2, 2], &[2, 1]);
    let r = verdict(&torch_zip(&pkl, b"little", &[0u8; 16], &[]));
    assert_eq!(r.verdict, Verdict::Malformed, "{}", describe(&r));
    // A hidden extra pickle member is inspected even without a .pkl name.
    let pkl = torch_pkl("FloatStorage", 4, 0, &[2, 2], &[2, 1]);
    let r = verdict(&torch_zip(
        &pkl,
        b"little",
        &[0u8; 16],
        &[("archive/extra", EVIL_P2)],
    ));
    assert_eq!(r.verdict, Verdict::Dangerous, "{}", describe(&r));
    // Geometry check can be switched off.
    let off = InspectOptions {
        check_geometry: false,
        ..InspectOptions::default()
    };
    let pkl = torch_pkl("FloatStorage", 4, 0, &[2, 2], &[2, 1]);
    assert_eq!(
        inspect_bytes(&torch_zip(&pkl, b"little", &[0u8; 12], &[]), &off).verdict,
        Verdict::Safe
    );
}

#[test]
fn torchscript_is_refused_as_dangerous() {
    let pkl = torch_pkl("FloatStorage", 4, 0, &[2, 2], &[2, 1]);
    let z = torch_zip(
        &pkl,
        b"little",
        &[0u8; 16],
        &[
            ("archive/code/__torch__.py", b"def forward(self): pass\n"),
            ("archive/constants.pkl", b"\x80\x02)."),
        ],
    );
    let r = verdict(&z);
    assert_eq!(
        (r.format, r.verdict),
        (Format::TorchScript, Verdict::Dangerous),
        "{}",
        describe(&r)
    );
    assert!(r.findings.iter().any(|f| f.kind == "torchscript"));
    // Its pickles were still read: their globals are listed.
    assert!(r
        .globals
        .iter()
        .any(|g| g.dotted() == "torch._utils._rebuild_tensor_v2"));
}

#[test]
fn npy_dtypes() {
    // Object dtype: the payload is a pickle, inspected with the numpy profile.
    let r = verdict(&npy_bytes("'|O'", "(1,)", EVIL_P2));
    assert_eq!(r.verdict, Verdict::Dangerous, "{}", describe(&r));
    let g = r
        .globals
        .iter()
        .find(|g| g.dotted() == "posix.system")
        .unwrap();
    assert!(g.offset >= 64, "offset in the file: {}", g.offset);
    // An object field inside a structured dtype: also a pickle.
    let r = verdict(&npy_bytes("[('a', '<i4'), ('b', 'O')]", "(1,)", EVIL_P2));
    assert_eq!(r.verdict, Verdict::Dangerous, "{}", describe(&r));
    // Structured plain data: safe, not convertible; wrong length: malformed.
    let r = verdict(&npy_bytes(
        "[('a', '<i4'), ('b', '<f8', (2,))]",
        "(2,)",
        &[0u8; 40],
    ));
    assert_eq!(r.verdict, Verdict::Safe, "{}", describe(&r));
    assert!(r.findings.iter().any(|f| f.kind == "not_convertible"));
    let r = verdict(&npy_bytes(
        "[('a', '<i4'), ('b', '<f8', (2,))]",
        "(2,)",
        &[0u8; 39],
    ));
    assert_eq!(r.verdict, Verdict::Malformed, "{}", describe(&r));
    // Unicode strings: plain data.
    assert_eq!(
        verdict(&npy_bytes("'<U3'", "(2,)", &[0u8; 24])).verdict,
        Verdict::Safe
    );
    // A code we do not know: unknown.
    assert_eq!(
        verdict(&npy_bytes("'<x9'", "(2,)", &[0u8; 8])).verdict,
        Verdict::Unknown
    );
    // Plain f4 with a short body: malformed.
    assert_eq!(
        verdict(&npy_bytes("'<f4'", "(2,)", &[0u8; 7])).verdict,
        Verdict::Malformed
    );
    assert_eq!(
        verdict(&npy_bytes("'<f4'", "(2,)", &[0u8; 8])).verdict,
        Verdict::Safe
    );
}

fn safetensors_bytes(header: &str, body: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(body);
    out
}

#[test]
fn safetensors_header_is_checked_strictly() {
    let ok = safetensors_bytes(
        r#"{"__metadata__":{"a":"b"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
        &[0u8; 8],
    );
    assert_eq!(
        verdict(&ok).verdict,
        Verdict::Safe,
        "{}",
        describe(&verdict(&ok))
    );
    let bad = [
        // size does not match the shape
        safetensors_bytes(
            r#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#,
            &[0u8; 8],
        ),
        // gap
        safetensors_bytes(
            r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
            &[0u8; 8],
        ),
        // bytes after the last tensor
        safetensors_bytes(
            r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
            &[0u8; 8],
        ),
        // duplicate key
        safetensors_bytes(
            r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
            &[0u8; 8],
        ),
        // extra field
        safetensors_bytes(
            r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}"#,
            &[0u8; 4],
        ),
        // metadata not strings
        safetensors_bytes(r#"{"__metadata__":{"a":1}}"#, &[]),
    ];
    for (i, b) in bad.iter().enumerate() {
        let r = verdict(b);
        assert_eq!(r.format, Format::Safetensors, "case {i}");
        assert_eq!(r.verdict, Verdict::Malformed, "case {i}: {}", describe(&r));
    }
}

#[test]
fn polyglot_pickle_then_zip_is_dangerous() {
    let z = zip(&[Member::stored("a.pkl", SAFE_P2)]);
    let mut poly = SAFE_P2.to_vec();
    poly.extend_from_slice(&z);
    let r = verdict(&poly);
    assert_eq!(r.format, Format::Pickle);
    assert_eq!(r.verdict, Verdict::Dangerous, "{}", describe(&r));
    assert!(r.findings.iter().any(|f| f.kind == "polyglot"));
}

#[test]
fn compressed_joblib_bomb_is_bounded() {
    use std::io::Write;
    // A zlib stream that inflates far beyond the limit.
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(b"\x80\x04joblib.numpy_pickle NumpyArrayWrapper")
        .unwrap();
    enc.write_all(&vec![0u8; 8 << 20]).unwrap();
    let data = enc.finish().unwrap();
    let small = InspectOptions {
        max_member_bytes: 1 << 20,
        ..InspectOptions::default()
    };
    let r = inspect_bytes(&data, &small);
    assert!(r.verdict.is_uninspectable(), "{}", describe(&r));
    assert!(
        r.findings.iter().any(|f| f.kind == "limit_exceeded"),
        "{}",
        describe(&r)
    );
}

#[test]
fn fuzz_entry_survives_mutations_of_every_fixture() {
    let mut n = 0;
    for e in manifest() {
        let bytes = read(e["file"].as_str().unwrap());
        tensorseal_convert::fuzz_inspect(&bytes);
        for i in (0..bytes.len()).step_by((bytes.len() / 64).max(1)) {
            let mut m = bytes.clone();
            m[i] ^= 0x55;
            tensorseal_convert::fuzz_inspect(&m);
            tensorseal_convert::fuzz_inspect(&bytes[..i]);
            n += 2;
        }
    }
    assert!(n > 1000);
}

// ---------------------------------------------------------------------------
// Peer corpora

const CORPORA: &[&str] = &["picklescan", "modelscan", "fickling", "candle"];

/// Documented deviations from a corpus label, with the reason. Each must
/// still get the verdict given here (so a change is noticed either way).
const DEVIATIONS: &[(&str, &str, &str)] = &[
    (
        "fickling/generated_from_tests/TestCrashes.test_missing_mark_before_tuple__01.pkl",
        "malformed",
        "robustness-only label: TUPLE without MARK, Python cannot load it (see tensorseal-pickle)",
    ),
    (
        "fickling/generated_from_tests/TestCrashes.test_impossible_cyclic_pickle__01.pkl",
        "malformed",
        "robustness-only label: unhashable dict key, Python raises TypeError",
    ),
    (
        "fickling/generated_from_tests/TestCrashes.test_impossible_cyclic_pickle__02.pkl",
        "malformed",
        "robustness-only label: unhashable set item, Python raises TypeError",
    ),
];

fn label_ok(label: &str, v: Verdict) -> bool {
    match label {
        "dangerous" => v == Verdict::Dangerous,
        "safe" => matches!(v, Verdict::Safe | Verdict::Unknown),
        "error" => matches!(
            v,
            Verdict::Malformed | Verdict::Unsupported | Verdict::Dangerous
        ),
        // fickling's resource-limit tests: only "no panic".
        "any" => true,
        _ => false,
    }
}

#[test]
fn peer_corpora_every_file() {
    let Some(root) = std::env::var_os("TENSORSEAL_PEER_CORPUS") else {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: peer-corpus inspection (set TENSORSEAL_PEER_CORPUS to the peer-corpus directory)"
        );
        return;
    };
    let root = PathBuf::from(root);
    assert!(
        root.is_dir(),
        "TENSORSEAL_PEER_CORPUS={} is not a directory",
        root.display()
    );
    let opts = InspectOptions::default();
    let mut failures = Vec::new();
    let mut total = 0usize;
    for corpus in CORPORA {
        let dir = root.join(corpus);
        let raw = std::fs::read(dir.join("labels.json"))
            .unwrap_or_else(|e| panic!("{corpus}/labels.json: {e}"));
        let labels: BTreeMap<String, String> =
            serde_json::from_slice(&raw).expect("labels.json: object of file -> label");
        assert!(!labels.is_empty(), "{corpus}: no labels");
        // label -> (files, as labelled); format -> files; verdict -> files
        let mut by_label: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        let mut by_format: BTreeMap<&'static str, usize> = BTreeMap::new();
        let mut by_verdict: BTreeMap<&'static str, usize> = BTreeMap::new();
        let mut deviations = 0usize;
        for (file, label) in &labels {
            let path = dir.join(file);
            let r = inspect_path(&path, &opts).unwrap_or_else(|e| panic!("{corpus}/{file}: {e}"));
            total += 1;
            *by_format.entry(r.format.as_str()).or_default() += 1;
            *by_verdict.entry(r.verdict.as_str()).or_default() += 1;
            let e = by_label.entry(label.clone()).or_default();
            e.0 += 1;
            let key = format!("{corpus}/{file}");
            if let Some((_, want, why)) = DEVIATIONS.iter().find(|(f, _, _)| *f == key) {
                if r.verdict.as_str() == *want {
                    println!("  deviation ({label} -> {want}): {key}: {why}");
                    deviations += 1;
                    e.1 += 1;
                } else {
                    failures.push(format!(
                        "{key}: documented deviation {want} no longer holds: {}",
                        describe(&r)
                    ));
                }
                continue;
            }
            if label_ok(label, r.verdict) {
                e.1 += 1;
            } else {
                failures.push(format!("{key}: label {label}: {}", describe(&r)));
            }
        }
        println!(
            "peer corpus {corpus}: {} files; per label (files, as labelled) {by_label:?}; {deviations} documented deviation(s); formats {by_format:?}; verdicts {by_verdict:?}",
            labels.len()
        );
    }
    assert!(total > 200, "only {total} files");
    assert!(
        failures.is_empty(),
        "{} mislabelled:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------
// tensorseal containers

fn scratch_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tensorseal-inspect-{}-{name}", std::process::id()))
}

#[test]
fn containers_are_checked_keyless() {
    use tensorseal::{Dtype, ModelInfo, WriteOptions, Writer};
    let path = scratch_path("c.tseal");
    let _ = std::fs::remove_file(&path);
    let info = ModelInfo {
        model_id: "m".into(),
        version: 1,
        ..ModelInfo::default()
    };
    let mut w = Writer::create(&path, info, WriteOptions::default()).unwrap();
    w.add("w", Dtype::F32, &[2], &[0u8; 8]).unwrap();
    w.finish().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let r = verdict(&bytes);
    assert_eq!(
        (r.format, r.verdict),
        (Format::Tensorseal, Verdict::Safe),
        "{}",
        describe(&r)
    );
    assert!(
        r.findings
            .iter()
            .any(|f| f.message.contains("allow_unsigned")),
        "{}",
        describe(&r)
    );
    // One flipped byte in the tensor data: the slice digest fails.
    let mut bad = bytes.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 1;
    let r = verdict(&bad);
    assert_eq!(r.format, Format::Tensorseal);
    assert_ne!(r.verdict, Verdict::Safe, "{}", describe(&r));
    // Truncated: malformed.
    let r = verdict(&bytes[..bytes.len() - 1]);
    assert_eq!(r.verdict, Verdict::Malformed, "{}", describe(&r));
}

// ---------------------------------------------------------------------------
// Throughput (not timed as a test: prints MB/s). Run with
// `cargo test --release -p tensorseal-convert --test inspect -- --ignored --nocapture throughput`.

/// A torch zip of `n` float32 tensors of `numel` elements each, with the
/// layout `torch.save` writes (one stored record per storage).
fn big_torch_zip(n: usize, numel: u32) -> Vec<u8> {
    let mut p = b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01(".to_vec();
    for i in 0..n {
        let key = i.to_string();
        let name = format!("layer{i}.weight");
        p.push(b'X');
        p.extend_from_slice(&(name.len() as u32).to_le_bytes());
        p.extend_from_slice(name.as_bytes());
        p.extend_from_slice(
            b"ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX",
        );
        p.extend_from_slice(&(key.len() as u32).to_le_bytes());
        p.extend_from_slice(key.as_bytes());
        p.extend_from_slice(b"X\x03\x00\x00\x00cpuJ");
        p.extend_from_slice(&numel.to_le_bytes());
        p.extend_from_slice(b"tQK\x00(J");
        p.extend_from_slice(&numel.to_le_bytes());
        p.extend_from_slice(b"tK\x01\x85\x89ccollections\nOrderedDict\n)RtR");
    }
    p.extend_from_slice(b"u.");
    let data: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            (0..numel)
                .flat_map(|j| ((i as u32).wrapping_mul(31) ^ j).to_le_bytes())
                .collect()
        })
        .collect();
    let names: Vec<String> = (0..n).map(|i| format!("archive/data/{i}")).collect();
    let mut members = vec![
        Member::stored("archive/data.pkl", &p),
        Member::stored("archive/byteorder", b"little"),
    ];
    for (name, d) in names.iter().zip(&data) {
        members.push(Member::stored(name, d));
    }
    members.push(Member::stored("archive/version", b"3\n"));
    zip(&members)
}

#[test]
fn small_synthetic_checkpoint_is_safe() {
    let z = big_torch_zip(8, 1000);
    let r = verdict(&z);
    assert_eq!(
        (r.format, r.verdict),
        (Format::TorchZip, Verdict::Safe),
        "{}",
        describe(&r)
    );
}

#[test]
#[ignore = "throughput measurement; prints MB/s"]
fn throughput() {
    // 256 tensors x 1 Mi floats = 1 GiB of storage.
    let z = big_torch_zip(256, 1 << 20);
    let opts = InspectOptions::default();
    for (label, o) in [
        ("with geometry check", opts.clone()),
        (
            "pickles only",
            InspectOptions {
                check_geometry: false,
                ..opts
            },
        ),
    ] {
        let t = std::time::Instant::now();
        let r = inspect_bytes(&z, &o);
        let s = t.elapsed().as_secs_f64();
        assert_eq!(r.verdict, Verdict::Safe, "{}", describe(&r));
        println!(
            "inspect {label}: {:.1} MiB torch zip in {s:.3} s = {:.0} MB/s",
            z.len() as f64 / (1 << 20) as f64,
            z.len() as f64 / 1e6 / s
        );
    }
}
