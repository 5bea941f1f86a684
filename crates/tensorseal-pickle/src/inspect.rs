//! Inspection: run the machine, classify, keep collecting after failures,
//! and decide a verdict.

use std::collections::HashMap;

use crate::classify::{GlobalClass, Profile};
use crate::error::PickleError;
use crate::machine::{Hooks, Machine, NoHooks, Options};
use crate::opcodes::{self as op, Arg};
use crate::report::{verdict_of, Finding, FindingKind, GlobalRef, Report, Severity};

/// Maximum number of concatenated pickles inspected after the first one.
const MAX_EXTRA_PICKLES: usize = 64;

/// Inspect `input` as one bare pickle with default limits.
pub fn inspect(input: &[u8], profile: Profile) -> Report {
    inspect_with(input, &Options::new(profile), &mut NoHooks)
}

/// Fuzz entry point: inspect arbitrary bytes with [`Profile::Any`] and
/// default limits. Never panics; terminates within the limits.
pub fn inspect_bytes(data: &[u8]) -> Report {
    inspect(data, Profile::Any)
}

/// Inspect `input` as one bare pickle: anything after the first `STOP` is a
/// finding (further pickles are parsed too, so their globals are reported).
pub fn inspect_with<H: Hooks + ?Sized>(input: &[u8], opts: &Options, hooks: &mut H) -> Report {
    let (mut report, end) = inspect_one(input, 0, opts, hooks);
    let Some(mut pos) = end else {
        return report;
    };
    let machine = Machine::new(opts.clone());
    while pos < input.len() && report.pickles <= MAX_EXTRA_PICKLES {
        let (partial, res) = machine.run(input, pos, hooks);
        match res {
            Ok(_) => {
                report.findings.push(Finding {
                    offset: pos,
                    kind: FindingKind::ConcatenatedPickle,
                    severity: Severity::Dangerous,
                    message: format!(
                        "a further pickle starts at offset {pos} after STOP (hidden from single-pickle readers)"
                    ),
                });
                report.globals.extend(partial.globals);
                report.findings.extend(partial.findings);
                report.pickles += 1;
                pos = partial.pos;
            }
            Err(e) => {
                report.findings.push(Finding {
                    offset: pos,
                    kind: FindingKind::TrailingData,
                    severity: Severity::Malformed,
                    message: format!(
                        "{} trailing byte(s) after STOP at offset {pos} ({e})",
                        input.len() - pos
                    ),
                });
                // Globals of a partially valid trailing pickle still count.
                report.globals.extend(partial.globals);
                report.findings.extend(partial.findings);
                scan_after(input, partial.last_op, opts.profile, &mut report);
                if report.error.is_none() {
                    report.error = Some(PickleError::TrailingData {
                        offset: pos,
                        len: input.len() - pos,
                    });
                }
                break;
            }
        }
    }
    report.verdict = verdict_of(&report.findings);
    report
}

/// Inspect exactly one pickle starting at `start`, leaving whatever follows
/// its `STOP` to the caller. Returns the report and, if the pickle parsed,
/// the position just after `STOP`.
pub fn inspect_one<H: Hooks + ?Sized>(
    input: &[u8],
    start: usize,
    opts: &Options,
    hooks: &mut H,
) -> (Report, Option<usize>) {
    let machine = Machine::new(opts.clone());
    let (partial, res) = machine.run(input, start, hooks);
    let mut report = Report {
        profile: opts.profile,
        globals: partial.globals,
        findings: partial.findings,
        verdict: crate::report::Verdict::Safe,
        error: None,
        pickles: 0,
    };
    let end = match res {
        Ok(_) => {
            report.pickles = 1;
            Some(partial.pos)
        }
        Err(e) => {
            let (kind, severity) = error_class(&e);
            report.findings.push(Finding {
                offset: e.offset(),
                kind,
                severity,
                message: e.to_string(),
            });
            scan_after(input, partial.last_op, opts.profile, &mut report);
            report.error = Some(e);
            None
        }
    };
    report.verdict = verdict_of(&report.findings);
    (report, end)
}

/// How a machine error counts for the verdict.
fn error_class(e: &PickleError) -> (FindingKind, Severity) {
    match e {
        PickleError::Frame { .. } => (FindingKind::FrameViolation, Severity::Dangerous),
        PickleError::StopStack { items, marks, .. } if *items > 1 || *marks > 0 => {
            (FindingKind::StackNotEmpty, Severity::Dangerous)
        }
        PickleError::BadTarget { target, .. } if *target == "global" => {
            (FindingKind::IllegalMutation, Severity::Dangerous)
        }
        PickleError::Proto { .. } => (FindingKind::MisplacedProto, Severity::Malformed),
        PickleError::Limit { .. } => (FindingKind::LimitExceeded, Severity::Malformed),
        _ => (FindingKind::ParseError, Severity::Malformed),
    }
}

/// Linear opcode scan (no semantics) from the failing opcode onwards, to
/// report globals an attacker placed after a malformed part. The failing
/// opcode itself is skipped (its globals, if any, were already recorded).
fn scan_after(input: &[u8], from: usize, profile: Profile, report: &mut Report) {
    let mut pos = from;
    let mut first = true;
    // Shadow of the values pushed: `Some(s)` for string literals.
    let mut recent: Vec<Option<String>> = Vec::new();
    let mut memo: HashMap<u64, Option<String>> = HashMap::new();
    let mut ops = 0usize;
    while pos < input.len() && ops < 10_000_000 {
        ops += 1;
        let start = pos;
        let code = input[pos];
        if op::name(code).is_none() {
            return;
        }
        pos += 1;
        let (arg, next) = match read_arg(input, pos, op::arg(code)) {
            Some(x) => x,
            None => return,
        };
        pos = next;
        if first {
            first = false;
            continue;
        }
        if recent.len() > 64 {
            recent.drain(..32);
        }
        match code {
            op::STOP => {
                recent.clear();
                memo.clear();
            }
            op::SHORT_BINUNICODE
            | op::BINUNICODE
            | op::BINUNICODE8
            | op::SHORT_BINSTRING
            | op::BINSTRING => recent.push(std::str::from_utf8(arg).ok().map(str::to_owned)),
            op::UNICODE => recent.push(std::str::from_utf8(arg).ok().map(str::to_owned)),
            op::STRING => {
                let s = arg
                    .get(1..arg.len().saturating_sub(1))
                    .and_then(|b| std::str::from_utf8(b).ok())
                    .map(str::to_owned);
                recent.push(s)
            }
            op::BINPUT | op::LONG_BINPUT | op::PUT | op::MEMOIZE => {
                let key = match code {
                    op::BINPUT => arg.first().map(|&b| u64::from(b)),
                    op::LONG_BINPUT => arg
                        .try_into()
                        .ok()
                        .map(|a: [u8; 4]| u64::from(u32::from_le_bytes(a))),
                    op::PUT => std::str::from_utf8(arg).ok().and_then(|s| s.parse().ok()),
                    _ => Some(memo.len() as u64),
                };
                if let Some(k) = key {
                    memo.insert(k, recent.last().cloned().flatten());
                }
            }
            op::BINGET | op::LONG_BINGET | op::GET => {
                let key = match code {
                    op::BINGET => arg.first().map(|&b| u64::from(b)),
                    op::LONG_BINGET => arg
                        .try_into()
                        .ok()
                        .map(|a: [u8; 4]| u64::from(u32::from_le_bytes(a))),
                    _ => std::str::from_utf8(arg).ok().and_then(|s| s.parse().ok()),
                };
                recent.push(key.and_then(|k| memo.get(&k).cloned().flatten()));
            }
            op::GLOBAL | op::INST => {
                let mut parts = arg.splitn(2, |&b| b == b'\n');
                let m = parts.next().and_then(|b| std::str::from_utf8(b).ok());
                let n = parts.next().and_then(|b| std::str::from_utf8(b).ok());
                if let (Some(m), Some(n)) = (m, n) {
                    add_scanned(report, m, n, start, profile);
                }
                recent.push(None);
            }
            op::STACK_GLOBAL => {
                let n = recent.pop().flatten();
                let m = recent.pop().flatten();
                match (m, n) {
                    (Some(m), Some(n)) => add_scanned(report, &m, &n, start, profile),
                    _ => {
                        // Without a real stack this may be a misread of binary
                        // data, so it only confirms the stream is malformed.
                        report.findings.push(Finding {
                            offset: start,
                            kind: FindingKind::DynamicGlobal,
                            severity: Severity::Malformed,
                            message: "STACK_GLOBAL with non-literal operands after a parse error"
                                .into(),
                        });
                    }
                }
                recent.push(None);
            }
            _ => recent.push(None),
        }
    }
}

fn is_identifier_path(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|p| {
            let mut c = p.chars();
            matches!(c.next(), Some(ch) if ch == '_' || ch.is_ascii_alphabetic())
                && c.all(|ch| ch == '_' || ch.is_ascii_alphanumeric())
        })
}

fn add_scanned(report: &mut Report, module: &str, name: &str, offset: usize, profile: Profile) {
    // Random binary data decoding as a GLOBAL is not a global an importer
    // could resolve; only identifier paths are reported.
    if !is_identifier_path(module) || !is_identifier_path(name) {
        return;
    }
    let class = profile.classify(module, name);
    let severity = match class {
        GlobalClass::Dangerous { .. } => Severity::Dangerous,
        // After an error, the stream is malformed anyway.
        _ => Severity::Info,
    };
    report.findings.push(Finding {
        offset,
        kind: FindingKind::AfterError,
        severity,
        message: format!("global {module}.{name} after the point where parsing failed ({class:?})"),
    });
    report.globals.push(GlobalRef {
        module: module.to_owned(),
        name: name.to_owned(),
        class,
        offset,
    });
}

/// Decode an operand without semantics: returns the operand bytes (for
/// two-line operands both lines joined by `\n`) and the next position.
fn read_arg(input: &[u8], pos: usize, arg: Arg) -> Option<(&[u8], usize)> {
    let fixed = |n: usize| -> Option<(&[u8], usize)> {
        let end = pos.checked_add(n)?;
        Some((input.get(pos..end)?, end))
    };
    let len_then = |width: usize, signed: bool| -> Option<(&[u8], usize)> {
        let lb = input.get(pos..pos.checked_add(width)?)?;
        let n: u64 = match width {
            1 => u64::from(lb[0]),
            4 if signed => u64::try_from(i32::from_le_bytes(lb.try_into().ok()?)).ok()?,
            4 => u64::from(u32::from_le_bytes(lb.try_into().ok()?)),
            _ => u64::from_le_bytes(lb.try_into().ok()?),
        };
        let start = pos + width;
        let end = start.checked_add(usize::try_from(n).ok()?)?;
        Some((input.get(start..end)?, end))
    };
    let line_end = |from: usize| -> Option<usize> {
        let rest = input.get(from..)?;
        let i = rest.iter().take(65_536).position(|&b| b == b'\n')?;
        Some(from + i)
    };
    match arg {
        Arg::None => Some((&[], pos)),
        Arg::Fixed(n) => fixed(n),
        Arg::Line => {
            let e = line_end(pos)?;
            Some((&input[pos..e], e + 1))
        }
        Arg::TwoLines => {
            let e1 = line_end(pos)?;
            let e2 = line_end(e1 + 1)?;
            Some((&input[pos..e2], e2 + 1))
        }
        Arg::Len1 => len_then(1, false),
        Arg::Len4 => len_then(4, false),
        Arg::Len4Signed => len_then(4, true),
        Arg::Len8 => len_then(8, false),
    }
}
