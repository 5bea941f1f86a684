//! File inspection: decide a file's format from its content, look into every
//! pickle, archive member and header it holds with the strict never-executing
//! readers of this crate, and report every global, every structural finding
//! and a [`Verdict`].
//!
//! Nothing is ever imported, unpickled or evaluated. Inspection never fails
//! on content: every malformed, truncated, oversized or deceptive input ends
//! in a report (`malformed`, `unsupported` or `dangerous`), never a panic.
//!
//! Verdict per format (the worst part decides; `dangerous` > `malformed` >
//! `unsupported` > `unknown` > `safe`):
//!
//! | content | what is inspected |
//! |---|---|
//! | bare pickle | the stream, profile `Any` (so a scikit-learn pickle can be safe); a zip end record inside or after it is a polyglot (`dangerous`) |
//! | joblib (maybe zlib/gzip/bz2/xz/lzma/lz4/`ZF`) | the stream, profile `Sklearn`, inline `NumpyArrayWrapper` bytes framed by the converter's hook exactly as joblib reads them (the padding-length byte is trusted; padding a writer would not produce is `dangerous`); an object-dtype array is the nested pickle joblib's `pickle.load` reads, inspected with the same machine and profile; compressed streams are decoded in bounded steps (total, ratio and resident-memory bounds, [`InspectOptions`]) and array payloads are discarded, never held (see [`crate::stream`]) |
//! | legacy PyTorch | each of the five pickles (profile `Torch`), then the raw storages through the converter's checks |
//! | PyTorch zip | every member except raw `data/N` records (`.pkl` members as pickles, profile `Torch`; anything else by content), then the storage geometry through the converter when the pickles are safe |
//! | TorchScript zip | `dangerous` (it carries `code/` that `torch.jit.load` runs, the path of CVE-2025-32434); its pickles are still inspected and reported |
//! | `.npy` | header grammar and data length; an object dtype (also inside a structured dtype) means the payload is a pickle: inspected with profile `Numpy`; a structured dtype without objects is inert data: `safe` (but not convertible, noted as a finding) |
//! | `.npz`, other zip | every member, recursively up to [`InspectOptions::max_depth`]; a member that cannot be looked into makes the archive at best `unsupported`; deflated members are inflated streaming, and a plain `.npy` payload is only counted and CRC-checked |
//! | tar (also inside gzip & co.) | every regular member by content, pickles with profile `Torch` (legacy `torch.load` reads tar) |
//! | zip refused by the strict reader | `malformed`, or `dangerous` for reader differentials (local header ≠ central directory, CRC mismatch, flag bits, duplicates, gaps or prepended bytes); members a lenient reader would still load are salvaged and inspected, and a dangerous global among them makes the file `dangerous` |
//! | 7z, unknown | `unsupported` (never safe); embedded protocol-2+ pickles are looked for, and a dangerous one makes the file `dangerous` |
//! | safetensors | strict header check (JSON object, no duplicate keys, known dtypes, sizes matching shapes, offsets tiling the data exactly) |
//! | tensorseal container | structure, manifest and slice digests checked *without keys* under `Policy::allow_unsigned()` (signatures are not verified; a finding says so) |

use std::path::Path;
use std::sync::Arc;

use tensorseal_pickle::{
    DangerReason, FindingKind, GlobalClass, Hooks, Limits, NoHooks, Options, Profile, Report,
    Severity,
};

use crate::detect::{detect, Format};
use crate::stream::StreamLimits;
use crate::zip::{ZipArchive, ZipError};
use crate::Release;

mod numpy;
mod pytorch;
mod streams;
mod tar_members;
mod tensors;
mod zip_members;
pub(crate) use tar_members::is_tar;

use numpy::npy;
use pytorch::{torch_legacy, torch_zip};
use streams::{compressed, joblib};
use tensors::{container, safetensors};
use zip_members::{archive, embedded_scan, harvest};

/// The outcome of inspecting one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Everything was understood and every global is allowed.
    Safe,
    /// Valid structure, but some global (or dtype) is neither allowed nor
    /// known to be dangerous.
    Unknown,
    /// A dangerous global, or a structural deception (parser differential,
    /// polyglot, hidden pickle, TorchScript code).
    Dangerous,
    /// Not a valid file of its format.
    Malformed,
    /// A format (or part of a file) that cannot be looked into.
    Unsupported,
}

impl Verdict {
    /// Lower-case name: `safe`, `unknown`, `dangerous`, `malformed`,
    /// `unsupported`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Safe => "safe",
            Verdict::Unknown => "unknown",
            Verdict::Dangerous => "dangerous",
            Verdict::Malformed => "malformed",
            Verdict::Unsupported => "unsupported",
        }
    }

    /// Severity rank: safe 0, unknown 1, unsupported 2, malformed 3,
    /// dangerous 4.
    pub fn rank(self) -> u8 {
        match self {
            Verdict::Safe => 0,
            Verdict::Unknown => 1,
            Verdict::Unsupported => 2,
            Verdict::Malformed => 3,
            Verdict::Dangerous => 4,
        }
    }

    /// The more severe of two verdicts.
    pub fn worst(self, other: Verdict) -> Verdict {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }

    /// Whether the file could not be inspected (`malformed` or
    /// `unsupported`).
    pub fn is_uninspectable(self) -> bool {
        matches!(self, Verdict::Malformed | Verdict::Unsupported)
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<tensorseal_pickle::Verdict> for Verdict {
    fn from(v: tensorseal_pickle::Verdict) -> Self {
        match v {
            tensorseal_pickle::Verdict::Safe => Verdict::Safe,
            tensorseal_pickle::Verdict::Unknown => Verdict::Unknown,
            tensorseal_pickle::Verdict::Malformed => Verdict::Malformed,
            tensorseal_pickle::Verdict::Dangerous => Verdict::Dangerous,
        }
    }
}

/// One global referenced by a pickle of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalReport {
    /// Module path as written in the pickle.
    pub module: String,
    /// Qualified name as written in the pickle.
    pub name: String,
    /// `allowed`, `dangerous` or `unknown` (under the profile in use).
    pub class: String,
    /// For dangerous globals, why: `code execution`, `file system`,
    /// `network`, `process`, `nested loader`, `attribute gadget`, `import`,
    /// `interpreter`, `scanner tampering`, `dynamic name`.
    pub reason: Option<String>,
    /// Archive member holding the pickle (nested members joined with `!`;
    /// salvaged members end in ` (salvaged)`), if any.
    pub member: Option<String>,
    /// Offset of the opcode naming the global, in the member's
    /// (decompressed) bytes, or in the file when there is no member.
    pub offset: u64,
    /// Profile the global was classified under (`torch`, `numpy`,
    /// `sklearn`, `any`).
    pub profile: String,
}

impl GlobalReport {
    /// `module.name`.
    pub fn dotted(&self) -> String {
        format!("{}.{}", self.module, self.name)
    }
}

/// One finding: a structural observation with its location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingReport {
    /// Archive member, if any (as in [`GlobalReport::member`]).
    pub member: Option<String>,
    /// Offset in the member's (decompressed) bytes, or in the file.
    pub offset: u64,
    /// Short snake_case kind (`frame_violation`, `zip_differential`,
    /// `torchscript`, `polyglot`, `not_convertible`, `note`, ...).
    pub kind: String,
    /// Human-readable message.
    pub message: String,
    /// The verdict this finding implies on its own (`safe` for notes).
    pub verdict: Verdict,
}

/// The inspection report of one file.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// Format decided from the content.
    pub format: Format,
    /// The verdict.
    pub verdict: Verdict,
    /// Every global of every pickle inspected, in file order.
    pub globals: Vec<GlobalReport>,
    /// Findings, in file order.
    pub findings: Vec<FindingReport>,
    /// The first error that stopped part of the inspection, if any.
    pub error: Option<String>,
}

impl FileReport {
    /// Dangerous globals as `module.name`.
    pub fn dangerous_globals(&self) -> Vec<String> {
        self.globals
            .iter()
            .filter(|g| g.class == "dangerous")
            .map(GlobalReport::dotted)
            .collect()
    }
}

/// Options of an inspection. The defaults bound every resource.
#[derive(Debug, Clone)]
pub struct InspectOptions {
    /// Allow-list profile for every pickle; `None` chooses by format
    /// (`Torch` for PyTorch files, `Sklearn` for joblib, `Numpy` for
    /// object `.npy` payloads, `Any` for bare pickles).
    pub profile: Option<Profile>,
    /// Limits of the pickle machine.
    pub pickle_limits: Limits,
    /// How deep archives (zip in zip, compressed streams) are opened.
    pub max_depth: u32,
    /// Members looked at per archive.
    pub max_members: usize,
    /// Largest member or decompressed stream looked at, in bytes.
    pub max_member_bytes: u64,
    /// Bytes that may be inflated or decompressed in total for one file.
    pub max_total_bytes: u64,
    /// Decompressed bytes that may be held in memory at once for one
    /// stream or member. Array payloads are streamed through (counted,
    /// CRC-checked, discarded) and zero pages cost nothing, so only pickle
    /// bytes and other content that must be parsed count.
    pub max_resident_bytes: u64,
    /// Largest ratio of decompressed to compressed bytes of one stream or
    /// member, checked past 64 MiB of output (deflate cannot exceed about
    /// 1032:1; bzip2, xz and LZ4 bombs can).
    pub max_ratio: u64,
    /// Check PyTorch storage geometry through the converter (offsets,
    /// sizes, strides, dtype per storage, record sizes) when the pickles
    /// are safe. Views are materialised, bounded by `max_member_bytes`.
    pub check_geometry: bool,
}

impl Default for InspectOptions {
    fn default() -> Self {
        InspectOptions {
            profile: None,
            pickle_limits: Limits::default(),
            max_depth: 4,
            max_members: 100_000,
            max_member_bytes: 4 << 30,
            max_total_bytes: 16 << 30,
            max_resident_bytes: 128 << 20,
            max_ratio: 2048,
            check_geometry: true,
        }
    }
}

/// Inspect a file held in memory.
pub fn inspect_bytes(data: &[u8], opts: &InspectOptions) -> FileReport {
    inspect_releasing(data, opts, None)
}

fn inspect_releasing(data: &[u8], opts: &InspectOptions, release: Option<Release>) -> FileReport {
    let mut ctx = Ctx::new(opts);
    ctx.release = release;
    let format = inspect_data(&mut ctx, data, &Scope::top());
    ctx.into_report(format)
}

/// Inspect a file: it is mapped read-only (never executed or imported).
/// Only I/O problems are errors; content problems are in the report.
pub fn inspect_path(path: &Path, opts: &InspectOptions) -> Result<FileReport, std::io::Error> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    if meta.len() == 0 {
        return Ok(inspect_bytes(&[], opts));
    }
    let bytes = Arc::new(
        tensorseal::FileBytes::map(path).map_err(|e| std::io::Error::other(e.to_string()))?,
    );
    // Pages whose CRC-32 has been checked leave the resident set, so
    // inspecting a large checkpoint does not hold all of it.
    let map = Arc::clone(&bytes);
    let release: Release = Arc::new(move |part: &[u8]| map.release(part));
    Ok(inspect_releasing(&bytes, opts, Some(release)))
}

/// Fuzz-target entry point: inspect arbitrary bytes with small limits.
/// Never panics and terminates within the limits.
pub fn fuzz_inspect(data: &[u8]) {
    let opts = InspectOptions {
        pickle_limits: Limits {
            max_opcodes: 1_000_000,
            max_materialised_bytes: 1 << 24,
            max_nodes: 1_000_000,
            ..Limits::default()
        },
        max_depth: 3,
        max_members: 1_000,
        max_member_bytes: 1 << 24,
        max_total_bytes: 1 << 26,
        max_resident_bytes: 1 << 24,
        ..InspectOptions::default()
    };
    let _ = inspect_bytes(data, &opts);
}

// ---------------------------------------------------------------------------
// Context

/// Where in the file we are.
#[derive(Debug, Clone)]
struct Scope {
    member: Option<String>,
    depth: u32,
    /// Profile suggested by the enclosing format (a pickle member of a
    /// PyTorch zip is read with the torch profile).
    hint: Option<Profile>,
}

impl Scope {
    fn top() -> Self {
        Scope {
            member: None,
            depth: 0,
            hint: None,
        }
    }

    fn child(&self, name: &str, hint: Option<Profile>) -> Self {
        let member = match &self.member {
            Some(m) => format!("{m}!{name}"),
            None => name.to_owned(),
        };
        Scope {
            member: Some(member),
            depth: self.depth + 1,
            hint,
        }
    }
}

struct Ctx<'o> {
    opts: &'o InspectOptions,
    globals: Vec<GlobalReport>,
    findings: Vec<FindingReport>,
    verdict: Verdict,
    error: Option<String>,
    /// Bytes that may still be inflated / decompressed.
    budget: u64,
    /// Told about top-level input the zip reader has CRC-checked.
    release: Option<Release>,
}

impl<'o> Ctx<'o> {
    fn new(opts: &'o InspectOptions) -> Self {
        Ctx {
            opts,
            globals: Vec::new(),
            findings: Vec::new(),
            verdict: Verdict::Safe,
            error: None,
            budget: opts.max_total_bytes,
            release: None,
        }
    }

    /// Parses a zip with the file's release hook: pointers outside the mapped
    /// file (inflated members) are ignored by it.
    fn parse_zip<'d>(&self, data: &'d [u8]) -> Result<ZipArchive<'d>, ZipError> {
        let release = |part: &[u8]| {
            if let Some(r) = &self.release {
                r(part)
            }
        };
        ZipArchive::parse_releasing(data, self.opts.max_member_bytes, &release)
    }

    fn child(&self) -> Ctx<'o> {
        Ctx {
            budget: self.budget,
            release: self.release.clone(),
            ..Ctx::new(self.opts)
        }
    }

    fn merge(&mut self, child: Ctx<'o>) {
        self.globals.extend(child.globals);
        self.findings.extend(child.findings);
        self.verdict = self.verdict.worst(child.verdict);
        if self.error.is_none() {
            self.error = child.error;
        }
        self.budget = child.budget;
    }

    fn into_report(self, format: Format) -> FileReport {
        FileReport {
            format,
            verdict: self.verdict,
            globals: self.globals,
            findings: self.findings,
            error: self.error,
        }
    }

    fn profile(&self, auto: Profile) -> Profile {
        self.opts.profile.unwrap_or(auto)
    }

    fn finding(
        &mut self,
        scope: &Scope,
        offset: u64,
        kind: &str,
        verdict: Verdict,
        message: impl Into<String>,
    ) {
        self.verdict = self.verdict.worst(verdict);
        self.findings.push(FindingReport {
            member: scope.member.clone(),
            offset,
            kind: kind.to_owned(),
            message: message.into(),
            verdict,
        });
    }

    /// A finding that also stops (part of) the inspection: recorded as the
    /// error when it is the first.
    fn fail(
        &mut self,
        scope: &Scope,
        offset: u64,
        kind: &str,
        verdict: Verdict,
        message: impl Into<String>,
    ) {
        let message = message.into();
        if self.error.is_none() {
            self.error = Some(match &scope.member {
                Some(m) => format!("{m}: {message}"),
                None => message.clone(),
            });
        }
        self.finding(scope, offset, kind, verdict, message);
    }

    fn note(&mut self, scope: &Scope, offset: u64, message: impl Into<String>) {
        self.finding(scope, offset, "note", Verdict::Safe, message);
    }

    /// Take `n` bytes from the decompression budget.
    fn take_budget(&mut self, scope: &Scope, n: u64, what: &str) -> bool {
        if n > self.opts.max_member_bytes || n > self.budget {
            let limit = self.opts.max_member_bytes.min(self.budget);
            self.fail(
                scope,
                0,
                "limit_exceeded",
                Verdict::Unsupported,
                format!("{what}: {n} bytes exceed the inspection limit of {limit} bytes"),
            );
            return false;
        }
        self.budget -= n;
        true
    }

    /// Fold a pickle report in; offsets are shifted by `base`.
    fn add_pickle(&mut self, report: &Report, base: u64, scope: &Scope) {
        let profile = profile_name(report.profile);
        for g in &report.globals {
            let (class, reason) = class_strings(g.class);
            self.globals.push(GlobalReport {
                module: g.module.clone(),
                name: g.name.clone(),
                class: class.to_owned(),
                reason: reason.map(str::to_owned),
                member: scope.member.clone(),
                offset: base + g.offset as u64,
                profile: profile.to_owned(),
            });
        }
        for f in &report.findings {
            // Globals are listed with their class already.
            if matches!(
                f.kind,
                FindingKind::DangerousGlobal | FindingKind::UnknownGlobal
            ) {
                continue;
            }
            self.findings.push(FindingReport {
                member: scope.member.clone(),
                offset: base + f.offset as u64,
                kind: snake(&format!("{:?}", f.kind)),
                message: f.message.clone(),
                verdict: severity_verdict(f.severity),
            });
        }
        self.verdict = self.verdict.worst(report.verdict.into());
        if let (None, Some(e)) = (&self.error, &report.error) {
            self.error = Some(match &scope.member {
                Some(m) => format!("{m}: {e}"),
                None => e.to_string(),
            });
        }
    }

    /// Bounds of the next decompressed stream or member.
    fn stream_limits(&self) -> StreamLimits {
        StreamLimits {
            total: self.opts.max_member_bytes.min(self.budget),
            ratio: self.opts.max_ratio,
            resident: self.opts.max_resident_bytes,
        }
    }

    fn pickle_options(&self, profile: Profile) -> Options {
        Options {
            profile,
            limits: self.opts.pickle_limits.clone(),
        }
    }
}

fn profile_name(p: Profile) -> &'static str {
    match p {
        Profile::Torch => "torch",
        Profile::Numpy => "numpy",
        Profile::Sklearn => "sklearn",
        Profile::Any => "any",
    }
}

fn severity_verdict(s: Severity) -> Verdict {
    match s {
        Severity::Info => Verdict::Safe,
        Severity::Unknown => Verdict::Unknown,
        Severity::Malformed => Verdict::Malformed,
        Severity::Dangerous => Verdict::Dangerous,
    }
}

/// `class` and `reason` strings of a global.
fn class_strings(c: GlobalClass) -> (&'static str, Option<&'static str>) {
    match c {
        GlobalClass::Allowed => ("allowed", None),
        GlobalClass::Unknown => ("unknown", None),
        GlobalClass::Dangerous { reason } => ("dangerous", Some(reason_str(reason))),
    }
}

/// Human wording of a deny-list reason.
pub fn reason_str(r: DangerReason) -> &'static str {
    match r {
        DangerReason::CodeExecution => "code execution",
        DangerReason::FileSystem => "file system",
        DangerReason::Network => "network",
        DangerReason::Process => "process",
        DangerReason::NestedLoader => "nested loader",
        DangerReason::AttributeGadget => "attribute gadget",
        DangerReason::Import => "import",
        DangerReason::Interpreter => "interpreter",
        DangerReason::ScannerTampering => "scanner tampering",
        DangerReason::DynamicName => "dynamic name",
    }
}

/// `FrameViolation` -> `frame_violation`.
fn snake(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for (i, c) in s.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Dispatch

fn inspect_data(ctx: &mut Ctx<'_>, data: &[u8], scope: &Scope) -> Format {
    let format = detect(data);
    if scope.depth > ctx.opts.max_depth {
        ctx.fail(
            scope,
            0,
            "too_deep",
            Verdict::Unsupported,
            format!(
                "{format} nested deeper than {} levels: not looked into",
                ctx.opts.max_depth
            ),
        );
        return format;
    }
    match format {
        Format::Pickle => {
            let profile = ctx.profile(scope.hint.unwrap_or(Profile::Any));
            pickle(ctx, data, 0, scope, profile, &mut NoHooks);
            polyglot_check(ctx, data, scope);
        }
        Format::Joblib { compression } => joblib(ctx, data, compression, scope),
        Format::Compressed(codec) => compressed(ctx, data, codec, scope),
        Format::TorchLegacy => torch_legacy(ctx, data, scope),
        Format::TorchZip => torch_zip(ctx, data, scope, false),
        Format::TorchScript => torch_zip(ctx, data, scope, true),
        Format::Npy => npy(ctx, data, scope),
        Format::Npz | Format::Zip => archive(ctx, data, scope),
        Format::Tar => tar_members::tar(ctx, data, scope),
        Format::SevenZip => {
            ctx.fail(
                scope,
                0,
                "unsupported_archive",
                Verdict::Unsupported,
                "7z archive: contents not inspected (no 7z reader here), so never safe",
            );
            embedded_scan(ctx, data, scope);
        }
        Format::Safetensors => safetensors(ctx, data, scope),
        Format::Tensorseal => container(ctx, data, scope),
        _ if data.first().is_some_and(|&b| crate::detect::is_opcode(b)) => {
            // Starts like a pickle but is not one as a whole (e.g. bytes
            // after the last STOP of a protocol-0 stream): unsupported, yet
            // what a pickle loader would run from the start still counts.
            ctx.fail(
                scope,
                0,
                "unrecognised",
                Verdict::Unsupported,
                "unrecognised content: not a valid pickle, PyTorch, NumPy, joblib, safetensors, tensorseal or archive file (its first byte is a pickle opcode, so it was also read as a pickle)",
            );
            let mut child = ctx.child();
            let profile = child.profile(scope.hint.unwrap_or(Profile::Any));
            pickle(&mut child, data, 0, scope, profile, &mut NoHooks);
            if !harvest(
                ctx,
                child,
                scope,
                0,
                "read as a pickle from its start (a loader runs what it reads before it fails), this file names a dangerous global",
            ) {
                embedded_scan(ctx, data, scope);
            }
        }
        _ => {
            ctx.fail(
                scope,
                0,
                "unrecognised",
                Verdict::Unsupported,
                "unrecognised content: not a pickle, PyTorch, NumPy, joblib, safetensors, tensorseal or archive file",
            );
            embedded_scan(ctx, data, scope);
        }
    }
    format
}

fn pickle(
    ctx: &mut Ctx<'_>,
    data: &[u8],
    base: u64,
    scope: &Scope,
    profile: Profile,
    hooks: &mut dyn Hooks,
) {
    let report = tensorseal_pickle::inspect_with(data, &ctx.pickle_options(profile), hooks);
    ctx.add_pickle(&report, base, scope);
}

/// A zip end-of-central-directory record inside or after a bare pickle:
/// zip readers find it from the end, so the file is also an archive.
fn polyglot_check(ctx: &mut Ctx<'_>, data: &[u8], scope: &Scope) {
    let window = data.len().saturating_sub(65_557);
    let mut from = window;
    while let Some(i) = find(&data[from..], b"PK\x05\x06") {
        let at = from + i;
        // A real end record: 22 bytes plus its comment, ending the file.
        let ends_file = data
            .get(at + 20..at + 22)
            .map(|c| at + 22 + usize::from(u16::from_le_bytes([c[0], c[1]])) == data.len())
            .unwrap_or(false);
        if ends_file {
            ctx.finding(
                scope,
                at as u64,
                "polyglot",
                Verdict::Dangerous,
                format!("a zip end-of-central-directory record at offset {at} ends the file: the pickle is also a zip archive (polyglot)"),
            );
            return;
        }
        from = at + 1;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
