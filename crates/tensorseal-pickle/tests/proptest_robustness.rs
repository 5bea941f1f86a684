//! Arbitrary bytes and mutated fixtures never panic and terminate within
//! the limits.

mod common;

use proptest::prelude::*;
use tensorseal_pickle::{
    inspect_bytes, inspect_with, parse, report::verdict_of, Limits, Options, Profile, Verdict,
};

fn fixtures() -> Vec<Vec<u8>> {
    [
        "hostile/os_system_p2.pkl",
        "hostile/os_system_p4.pkl",
        "hostile/subprocess_p5.pkl",
        "hostile/builtins_eval_p0.pkl",
        "hostile/memo_obfuscated_stack_global.pkl",
        "hostile/inst_opcode.pkl",
        "hostile/nested_pickle_loads.pkl",
        "sklearn/risk_logreg_p2.pkl",
        "sklearn/risk_logreg_p4.pkl",
        "sklearn/risk_logreg_p5.pkl",
        "sklearn/risk_logreg.joblib",
        "malformed/no_stop.pkl",
    ]
    .iter()
    .map(|f| common::read(f))
    .collect()
}

fn tight() -> Options {
    Options {
        profile: Profile::Any,
        limits: Limits {
            max_opcodes: 50_000,
            max_stack: 10_000,
            max_memo: 10_000,
            max_materialised_bytes: 1 << 20,
            max_nesting: 100,
            max_long_bytes: 64,
            max_nodes: 50_000,
            max_line: 4096,
        },
    }
}

fn check(bytes: &[u8]) {
    let r = inspect_bytes(bytes);
    assert_eq!(r.verdict, verdict_of(&r.findings));
    if parse(bytes, &Options::default()).is_ok() {
        assert_ne!(r.verdict, Verdict::Malformed);
    }
    let r2 = inspect_with(bytes, &tight(), &mut common::JoblibHooks::default());
    assert_eq!(r2.verdict, verdict_of(&r2.findings));
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, v)| Mutation::Insert(i, v)),
        (any::<usize>(), 1usize..32).prop_map(|(i, n)| Mutation::Delete(i, n)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(mut v: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        if v.is_empty() {
            break;
        }
        match m {
            Mutation::Flip(i, b) => {
                let i = i % v.len();
                v[i] = *b;
            }
            Mutation::Insert(i, bytes) => {
                let i = i % (v.len() + 1);
                v.splice(i..i, bytes.iter().copied());
            }
            Mutation::Delete(i, n) => {
                let i = i % v.len();
                let e = (i + n).min(v.len());
                v.drain(i..e);
            }
            Mutation::Truncate(i) => v.truncate(i % v.len()),
        }
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        check(&bytes);
    }

    #[test]
    fn opcode_soup_never_panics(
        ops in prop::collection::vec(
            prop::sample::select(b"()0123NFIJKLMPQRSTUVXabcdeghijlopqrstu}])G\x80\x81\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x90\x91\x92\x93\x94\x95\x96\x97\x98\n.".to_vec()),
            0..512)
    ) {
        check(&ops);
    }

    #[test]
    fn mutated_fixtures_never_panic(
        which in any::<usize>(),
        muts in prop::collection::vec(mutation(), 1..6)
    ) {
        let fx = fixtures();
        let base = fx[which % fx.len()].clone();
        check(&apply(base, &muts));
    }
}
