//! Every bare-pickle fixture of shared/fixtures/manifest.json (copied into
//! tests/data) gets the expected verdict and reports the named globals.

mod common;

use std::collections::BTreeSet;

use common::{read, stored_member, JoblibHooks};
use tensorseal_pickle::{
    inspect, inspect_with, parse_one, GlobalClass, NoHooks, Options, Profile, Report, Value,
    Verdict,
};

fn manifest() -> Vec<serde_json::Value> {
    let raw = read("manifest.json");
    serde_json::from_slice::<serde_json::Value>(&raw)
        .expect("manifest json")
        .as_array()
        .expect("manifest array")
        .clone()
}

fn strings(v: &serde_json::Value, key: &str) -> BTreeSet<String> {
    v[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn profile_for(file: &str) -> Profile {
    if file.starts_with("sklearn/") {
        Profile::Sklearn
    } else if file.starts_with("torch/") {
        Profile::Torch
    } else {
        Profile::Any
    }
}

fn verdict_name(v: Verdict) -> &'static str {
    v.as_str()
}

fn check(file: &str, entry: &serde_json::Value, report: &Report) {
    let expected = entry["verdict"].as_str().unwrap();
    assert_eq!(
        verdict_name(report.verdict),
        expected,
        "{file}: verdict; findings: {:#?}",
        report.findings
    );
    let dangerous: BTreeSet<String> = report.dangerous_globals().into_iter().collect();
    for d in strings(entry, "dangerous") {
        assert!(
            dangerous.contains(&d),
            "{file}: {d} not reported dangerous: {dangerous:?}"
        );
    }
    let globals: BTreeSet<String> = report.globals.iter().map(|g| g.dotted()).collect();
    assert_eq!(globals, strings(entry, "globals"), "{file}: globals");
}

#[test]
fn manifest_bare_pickles() {
    let mut checked = 0;
    for entry in manifest() {
        let file = entry["file"].as_str().unwrap();
        let format = entry["format"].as_str().unwrap();
        let is_bare = format == "pickle"
            && (file.starts_with("hostile/")
                || file.starts_with("malformed/")
                || (file.starts_with("sklearn/") && file.ends_with(".pkl")));
        if !is_bare {
            continue;
        }
        let bytes = read(file);
        let report = inspect(&bytes, profile_for(file));
        check(file, &entry, &report);
        checked += 1;
    }
    // 12 hostile + 7 malformed pickles + 6 sklearn pickles
    assert!(checked >= 24, "only {checked} fixtures checked");
}

#[test]
fn manifest_torch_zip_data_pkl() {
    let mut checked = 0;
    for entry in manifest() {
        let file = entry["file"].as_str().unwrap();
        if entry["format"].as_str() != Some("torch-zip") || file.starts_with("malformed/") {
            continue;
        }
        let zip = read(file);
        let pkl = stored_member(&zip, "data.pkl").unwrap_or_else(|| panic!("{file}: data.pkl"));
        let report = inspect(&pkl, Profile::Torch);
        check(file, &entry, &report);
        checked += 1;
    }
    assert_eq!(checked, 6);
}

#[test]
fn torch_state_dict_graph() {
    let zip = read("torch/mlp_state_dict.pt");
    let pkl = stored_member(&zip, "data.pkl").unwrap();
    let parsed = tensorseal_pickle::parse(&pkl, &Options::new(Profile::Torch)).unwrap();
    assert!(parsed.is_safe());
    let g = &parsed.graph;
    assert_eq!(
        g.class_of(parsed.root),
        Some(("collections", "OrderedDict"))
    );
    let w = g.dict_get_str(parsed.root, "0.weight").expect("0.weight");
    assert_eq!(g.class_of(w), Some(("torch._utils", "_rebuild_tensor_v2")));
    let args = g.as_tuple(g.as_call(w).unwrap().args).unwrap();
    let Some(Value::PersistentRef(pid)) = g.get(args[0]) else {
        panic!("storage is not a persistent ref")
    };
    let pid = g.as_tuple(*pid).unwrap();
    assert_eq!(g.as_str(pid[0]), Some("storage"));
    assert_eq!(g.as_global(pid[1]), Some(("torch", "FloatStorage")));
    let size = g.as_tuple(args[2]).unwrap();
    let dims: Vec<i64> = size.iter().map(|&d| g.as_int(d).unwrap()).collect();
    assert_eq!(dims, vec![8, 4]);
}

#[test]
fn torch_legacy_multi_pickle() {
    let bytes = read("torch/legacy_format.pt");
    let opts = Options::new(Profile::Torch);
    let mut pos = 0;
    let mut roots = Vec::new();
    for _ in 0..5 {
        let p = parse_one(&bytes, pos, &opts, &mut NoHooks).expect("legacy pickle");
        assert!(p.is_safe(), "{:?}", p.findings);
        pos = p.end;
        roots.push(p);
    }
    // magic number 0x1950a86a20f9469cfc6c
    assert_eq!(
        roots[0].graph.get(roots[0].root),
        Some(&Value::BigInt(vec![
            0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19
        ]))
    );
    assert_eq!(roots[1].graph.as_int(roots[1].root), Some(1001));
    // storage keys list
    assert!(matches!(
        roots[4].graph.get(roots[4].root),
        Some(Value::List(_))
    ));
    assert!(pos < bytes.len(), "raw storages follow the pickles");
}

#[test]
fn joblib_hook_skips_raw_arrays() {
    for file in [
        "sklearn/risk_logreg.joblib",
        "sklearn/anomaly_iforest.joblib",
    ] {
        let bytes = read(file);
        // Without the hook the raw array bytes are not pickle opcodes.
        let plain = inspect(&bytes, Profile::Sklearn);
        assert_ne!(plain.verdict, Verdict::Safe, "{file}");
        assert_ne!(
            plain.verdict,
            Verdict::Dangerous,
            "{file}: {:#?}",
            plain.findings
        );
        let mut hooks = JoblibHooks::default();
        let report = inspect_with(&bytes, &Options::new(Profile::Sklearn), &mut hooks);
        assert_eq!(
            report.verdict,
            Verdict::Safe,
            "{file}: {:#?}",
            report.findings
        );
        assert!(!hooks.arrays.is_empty());
        assert!(report
            .globals
            .iter()
            .all(|g| g.class == GlobalClass::Allowed));
    }
}
