//! A strict pickle reader that never executes anything.
//!
//! `tensorseal-pickle` runs the pickle stack machine (protocols 0-5) over a
//! byte slice and builds an object graph ([`Graph`], an arena of [`Node`]s
//! addressed by [`NodeId`]). Globals are recorded as [`Value::Global`] nodes
//! and classified against exact `(module, qualname)` allow-lists per
//! [`Profile`]; `REDUCE`/`NEWOBJ`/`NEWOBJ_EX`/`OBJ`/`INST` become
//! [`Value::Call`] nodes; `BINPERSID` becomes [`Value::PersistentRef`]. Nothing
//! is imported, called or evaluated.
//!
//! Two levels of API:
//! - [`inspect`] / [`inspect_with`] / [`inspect_one`] / [`inspect_bytes`]:
//!   a [`Report`] with every global, findings and a [`Verdict`]
//!   (`Safe`, `Unknown`, `Malformed`, `Dangerous`), never an error.
//! - [`parse`] / [`parse_one`] / [`Machine`]: the [`Parsed`] graph for a
//!   converter, with [`Hooks`] for persistent ids and for raw bytes after a
//!   `BUILD` (joblib), and the end position for multi-pickle formats.
//!
//! ```
//! use tensorseal_pickle::{inspect, parse, Options, Profile, Value, Verdict};
//!
//! // {'a': 1} at protocol 2
//! let safe = b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01K\x01s.";
//! assert_eq!(inspect(safe, Profile::Torch).verdict, Verdict::Safe);
//! let parsed = parse(safe, &Options::new(Profile::Torch)).unwrap();
//! let a = parsed.graph.dict_get_str(parsed.root, "a").unwrap();
//! assert_eq!(parsed.graph.get(a), Some(&Value::Int(1)));
//!
//! // os.system('echo') at protocol 0: reported, never run
//! let evil = b"cposix\nsystem\n(S'echo'\ntR.";
//! let report = inspect(evil, Profile::Any);
//! assert_eq!(report.verdict, Verdict::Dangerous);
//! assert_eq!(report.dangerous_globals(), vec!["posix.system".to_string()]);
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod classify;
pub mod error;
mod inspect;
mod machine;
pub mod opcodes;
pub mod report;
pub mod value;

pub use classify::{allow_list, deny_reason, DangerReason, GlobalClass, Profile};
pub use error::{LimitKind, PickleError};
pub use inspect::{inspect, inspect_bytes, inspect_one, inspect_with};
pub use machine::{
    parse, parse_one, HookError, Hooks, Limits, Machine, NoHooks, Options, Parsed, EXTENSION_MODULE,
};
pub use report::{Finding, FindingKind, GlobalRef, Report, Severity, Verdict};
pub use value::{Call, CallKind, Graph, Node, NodeId, Shape, Value};
