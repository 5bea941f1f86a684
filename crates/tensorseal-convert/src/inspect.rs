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

use std::borrow::Cow;
use std::collections::HashSet;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use tensorseal_pickle::{
    DangerReason, FindingKind, GlobalClass, Hooks, Limits, NoHooks, Options, Profile, Report,
    Severity,
};

use crate::compress::{Compression, DecompressError};
use crate::detect::{detect, Format};
use crate::joblib::JoblibHooks;
use crate::stream::StreamLimits;
use crate::zip::{ZipArchive, ZipEntry, ZipError};
use crate::{ConvertOptions, Release};

#[path = "inspect_tar.rs"]
mod tar_members;
pub(crate) use tar_members::is_tar;

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

// ---------------------------------------------------------------------------
// joblib / compressed streams

fn decompress_bounded(
    ctx: &mut Ctx<'_>,
    data: &[u8],
    codec: Compression,
    scope: &Scope,
) -> Option<Vec<u8>> {
    match crate::stream::decompress_sparse(codec, data, ctx.stream_limits(), hold_rest) {
        Ok(v) => {
            ctx.budget -= v.len() as u64;
            Some(v)
        }
        Err(e) => {
            decompress_failed(ctx, scope, &e);
            None
        }
    }
}

fn decompress_failed(ctx: &mut Ctx<'_>, scope: &Scope, e: &DecompressError) {
    let (kind, verdict, offset) = match e {
        DecompressError::LimitExceeded { .. } | DecompressError::ResidentExceeded { .. } => {
            ("limit_exceeded", Verdict::Unsupported, 0)
        }
        DecompressError::RatioExceeded { .. } => ("decompression_bomb", Verdict::Unsupported, 0),
        DecompressError::Unsupported { .. } => ("unsupported_compression", Verdict::Unsupported, 0),
        DecompressError::Trailing { offset, .. } => ("trailing_data", Verdict::Malformed, *offset),
        _ => ("decompression", Verdict::Malformed, 0),
    };
    ctx.fail(scope, offset, kind, verdict, e.to_string());
}

fn joblib(ctx: &mut Ctx<'_>, data: &[u8], compression: Option<Compression>, scope: &Scope) {
    let profile = ctx.profile(Profile::Sklearn);
    let Some(codec) = compression else {
        let mut hooks = JoblibHooks::new(ctx.opts.max_member_bytes, ctx.pickle_options(profile));
        pickle(ctx, data, 0, scope, profile, &mut hooks);
        return;
    };
    // Streamed: array payloads are decoded and discarded, never held.
    let (report, len, err) = crate::stream::joblib_stream(
        codec,
        data,
        ctx.stream_limits(),
        &ctx.pickle_options(profile),
        ctx.opts.max_member_bytes,
    );
    ctx.budget = ctx.budget.saturating_sub(len);
    if let Some(report) = &report {
        ctx.add_pickle(report, 0, scope);
    }
    match &err {
        Some(e) => decompress_failed(ctx, scope, e),
        None => ctx.note(
            scope,
            0,
            format!(
                "{} stream of {len} bytes (array payloads streamed through, not held): offsets of its globals and findings refer to the decompressed stream",
                codec.name(),
            ),
        ),
    }
}

fn compressed(ctx: &mut Ctx<'_>, data: &[u8], codec: Compression, scope: &Scope) {
    let Some(inner) = decompress_bounded(ctx, data, codec, scope) else {
        embedded_scan(ctx, data, scope);
        return;
    };
    let child_scope = scope.child(&format!("<{}>", codec.name()), scope.hint);
    let mut child = ctx.child();
    let f = inspect_data(&mut child, &inner, &child_scope);
    let v = child.verdict;
    ctx.merge(child);
    ctx.note(
        scope,
        0,
        format!("{} stream holds {f} content ({v})", codec.name()),
    );
}

// ---------------------------------------------------------------------------
// PyTorch

/// Torch zip records that hold no pickle.
const TORCH_PLAIN_RECORDS: &[&str] = &[
    "byteorder",
    "version",
    ".data/version",
    ".data/serialization_id",
    ".format_version",
    ".storage_alignment",
];

fn torch_zip(ctx: &mut Ctx<'_>, data: &[u8], scope: &Scope, script: bool) {
    let z = match ctx.parse_zip(data) {
        Ok(z) => z,
        Err(e) => {
            zip_refused(ctx, data, scope, &e, Some(Profile::Torch));
            return;
        }
    };
    let root = z
        .entries()
        .first()
        .and_then(|e| e.name.split_once('/'))
        .map(|(r, _)| r.to_owned())
        .unwrap_or_default();
    let mut local = ctx.child();
    if script {
        let code = z
            .entries()
            .iter()
            .find(|e| e.name.contains("/code/") || e.name.ends_with("constants.pkl"));
        local.finding(
            scope,
            code.map(|e| e.header_offset).unwrap_or(0),
            "torchscript",
            Verdict::Dangerous,
            format!(
                "TorchScript archive (member '{}'): it carries program code that torch.jit.load compiles and runs (code execution; torch.load reaches it even with weights_only=True before torch 2.6, CVE-2025-32434); refused, its pickles are listed for information",
                code.map(|e| e.name.as_str()).unwrap_or("?")
            ),
        );
    }
    let profile = local.profile(Profile::Torch);
    let mut code_files = 0usize;
    let mut deflated_records = 0usize;
    for (i, e) in z.entries().iter().enumerate() {
        if i >= local.opts.max_members {
            local.fail(
                scope,
                e.header_offset,
                "limit_exceeded",
                Verdict::Unsupported,
                format!(
                    "more than {} members: the rest is not inspected",
                    local.opts.max_members
                ),
            );
            break;
        }
        let rest = e
            .name
            .strip_prefix(root.as_str())
            .and_then(|r| r.strip_prefix('/'))
            .unwrap_or(&e.name);
        if e.name.ends_with('/') && e.uncompressed_size == 0 {
            continue; // a directory entry: torch's miniz reader ignores it
        }
        if let Some(key) = rest.strip_prefix("data/") {
            if !key.is_empty() && !key.contains('/') {
                // Raw storage bytes: never interpreted by torch, which
                // inflates deflated ones: their CRC-32 is checked streaming.
                if e.method == crate::zip::ZipMethod::Deflate {
                    deflated_records += 1;
                    let mscope = scope.child(&e.name, Some(profile));
                    if local.take_budget(&mscope, e.uncompressed_size, "member") {
                        let checked = z.raw_entry(e).and_then(|raw| {
                            crate::stream::inflate_member(raw, e, local.stream_limits(), |_| false)
                        });
                        if let Err(err) = checked {
                            let (kind, verdict) = classify_zip_error(&err);
                            local.fail(&mscope, zip_offset(&err), kind, verdict, err.to_string());
                        }
                    }
                }
                continue;
            }
        }
        if TORCH_PLAIN_RECORDS.contains(&rest) {
            continue;
        }
        if script && rest.starts_with("code/") {
            code_files += 1;
            continue;
        }
        let Some(bytes) = read_member(&mut local, &z, e, scope) else {
            continue;
        };
        let member_scope = scope.child(&e.name, Some(profile));
        if rest.ends_with(".pkl") || rest.ends_with(".debug_pkl") {
            // torch reads these as pickles whatever their bytes look like.
            pickle(&mut local, &bytes, 0, &member_scope, profile, &mut NoHooks);
        } else {
            let mut child = local.child();
            let f = inspect_data(&mut child, &bytes, &member_scope);
            let v = child.verdict;
            local.merge(child);
            local.note(
                &member_scope,
                0,
                format!("unexpected member in a PyTorch archive: {f} content ({v})"),
            );
        }
    }
    if script {
        local.note(
            scope,
            0,
            format!("{code_files} TorchScript code file(s) not inspected (code is never analysed)"),
        );
    }
    let pickles_safe = local.verdict == Verdict::Safe;
    ctx.merge(local);
    if script || !ctx.opts.check_geometry {
        return;
    }
    if deflated_records > 0 {
        // torch.load inflates them; the zero-copy converter does not.
        ctx.note(
            scope,
            0,
            format!("storage geometry not checked: {deflated_records} storage record(s) are deflated (CRC-32 and sizes checked)"),
        );
        return;
    }
    if !pickles_safe {
        ctx.note(
            scope,
            0,
            "storage geometry not checked: the pickles are not all safe",
        );
        return;
    }
    let copts = ConvertOptions {
        release: ctx.release.clone(),
        ..convert_options(ctx.opts)
    };
    if let Err(e) = crate::torch::import_zip(data, &copts, &mut |_| Ok(())) {
        torch_refusal(ctx, scope, 0, &e);
    } else {
        ctx.note(
            scope,
            0,
            "records, storage geometry and dtypes checked by the converter",
        );
    }
}

/// The converter refused a PyTorch file whose pickles are safe. A tensor it
/// does not convert (quantized, sparse) is reported only after every
/// storage and geometry was checked, so the file is what its globals say it
/// is; anything else is a structural problem.
fn torch_refusal(ctx: &mut Ctx<'_>, scope: &Scope, offset: u64, e: &crate::ConvertError) {
    if let crate::ConvertError::Unconvertible { .. } = e {
        ctx.finding(
            scope,
            offset,
            "not_convertible",
            Verdict::Safe,
            format!("{e}; records, storage geometry and dtypes checked by the converter"),
        );
    } else {
        ctx.fail(
            scope,
            offset,
            "torch_structure",
            Verdict::Malformed,
            e.to_string(),
        );
    }
}

fn convert_options(o: &InspectOptions) -> ConvertOptions {
    ConvertOptions {
        max_decompressed_bytes: o.max_member_bytes,
        max_tensor_bytes: o.max_member_bytes,
        max_zip_member_bytes: o.max_member_bytes,
        ..ConvertOptions::default()
    }
}

fn torch_legacy(ctx: &mut Ctx<'_>, data: &[u8], scope: &Scope) {
    const PARTS: [&str; 5] = [
        "magic number",
        "protocol version",
        "sys_info",
        "object",
        "storage keys",
    ];
    let mut local = ctx.child();
    let opts = local.pickle_options(local.profile(Profile::Torch));
    let mut pos = 0usize;
    let mut complete = true;
    for part in PARTS {
        let (report, end) = tensorseal_pickle::inspect_one(data, pos, &opts, &mut NoHooks);
        local.add_pickle(&report, 0, scope);
        match end {
            Some(e) => pos = e,
            None => {
                local.fail(
                    scope,
                    pos as u64,
                    "legacy_structure",
                    Verdict::Malformed,
                    format!("legacy PyTorch {part} pickle at offset {pos} did not parse"),
                );
                complete = false;
                break;
            }
        }
    }
    let safe = local.verdict == Verdict::Safe;
    ctx.merge(local);
    if !complete || !ctx.opts.check_geometry {
        return;
    }
    if !safe {
        ctx.note(
            scope,
            pos as u64,
            format!(
                "{} bytes of raw storages after the pickles not checked: the pickles are not all safe",
                data.len() - pos
            ),
        );
        return;
    }
    let copts = ConvertOptions {
        release: ctx.release.clone(),
        ..convert_options(ctx.opts)
    };
    if let Err(e) = crate::torch::import_legacy(data, &copts, &mut |_| Ok(())) {
        torch_refusal(ctx, scope, pos as u64, &e);
    } else {
        ctx.note(
            scope,
            pos as u64,
            "raw storages, storage geometry and dtypes checked by the converter",
        );
    }
}

// ---------------------------------------------------------------------------
// Archives

fn read_member<'a>(
    ctx: &mut Ctx<'_>,
    z: &ZipArchive<'a>,
    e: &ZipEntry,
    scope: &Scope,
) -> Option<Cow<'a, [u8]>> {
    let mscope = scope.child(&e.name, scope.hint);
    if e.method != crate::zip::ZipMethod::Stored
        && !ctx.take_budget(&mscope, e.uncompressed_size, "member")
    {
        return None;
    }
    let read = match e.method {
        crate::zip::ZipMethod::Stored => z.read_entry(e),
        // Inflated into a sparse buffer: a plain `.npy` payload is only
        // counted and CRC-checked, never held.
        crate::zip::ZipMethod::Deflate => z.raw_entry(e).and_then(|raw| {
            crate::stream::inflate_member(raw, e, ctx.stream_limits(), hold_rest).map(Cow::Owned)
        }),
    };
    match read {
        Ok(b) => Some(b),
        Err(err) => {
            let (kind, verdict) = classify_zip_error(&err);
            ctx.fail(&mscope, zip_offset(&err), kind, verdict, err.to_string());
            None
        }
    }
}

/// Whether the rest of a member whose first bytes are `prefix` must be held:
/// not for a `.npy` of plain numbers (its payload is never parsed).
fn hold_rest(prefix: &[u8]) -> bool {
    !(prefix.starts_with(b"\x93NUMPY") && crate::npy::parse_npy_header(prefix).is_ok())
}

fn archive(ctx: &mut Ctx<'_>, data: &[u8], scope: &Scope) {
    let z = match ctx.parse_zip(data) {
        Ok(z) => z,
        Err(e) => {
            zip_refused(ctx, data, scope, &e, scope.hint);
            return;
        }
    };
    if z.entries().is_empty() {
        ctx.note(scope, 0, "empty archive");
    }
    for (i, e) in z.entries().iter().enumerate() {
        if i >= ctx.opts.max_members {
            ctx.fail(
                scope,
                e.header_offset,
                "limit_exceeded",
                Verdict::Unsupported,
                format!(
                    "more than {} members: the rest is not inspected",
                    ctx.opts.max_members
                ),
            );
            break;
        }
        if e.name.ends_with('/') && e.uncompressed_size == 0 {
            continue; // a directory entry
        }
        let Some(bytes) = read_member(ctx, &z, e, scope) else {
            continue;
        };
        let mscope = scope.child(&e.name, scope.hint);
        let mut child = ctx.child();
        let f = inspect_data(&mut child, &bytes, &mscope);
        let v = child.verdict;
        ctx.merge(child);
        ctx.note(&mscope, 0, format!("member: {f}, {v}"));
    }
}

/// How a strict-reader refusal counts. Differentials that other readers
/// (CPython's zipfile, PyTorch's miniz) resolve differently are the
/// scanner bypasses of research section 6 (class 8): dangerous.
fn classify_zip_error(e: &ZipError) -> (&'static str, Verdict) {
    match e {
        ZipError::LocalMismatch { .. }
        | ZipError::DuplicateName { .. }
        | ZipError::Crc { .. }
        | ZipError::UnsupportedFlags { .. }
        | ZipError::NotContiguous { .. }
        | ZipError::StoredSizeMismatch { .. } => ("zip_differential", Verdict::Dangerous),
        ZipError::Encrypted { .. } => ("zip_encrypted", Verdict::Unsupported),
        ZipError::UnsupportedMethod { .. } => ("zip_unsupported_method", Verdict::Unsupported),
        ZipError::TooLarge { .. } | ZipError::Bounded { .. } => {
            ("limit_exceeded", Verdict::Unsupported)
        }
        _ => ("zip_malformed", Verdict::Malformed),
    }
}

fn zip_offset(e: &ZipError) -> u64 {
    match e {
        ZipError::Truncated { offset, .. }
        | ZipError::NoEocdAtEnd { offset }
        | ZipError::BadSignature { offset, .. }
        | ZipError::MultiDisk { offset, .. }
        | ZipError::Inconsistent { offset, .. }
        | ZipError::CentralDirectoryBounds { offset, .. }
        | ZipError::TooManyEntries { offset, .. }
        | ZipError::Encrypted { offset, .. }
        | ZipError::UnsupportedFlags { offset, .. }
        | ZipError::UnsupportedMethod { offset, .. }
        | ZipError::BadName { offset, .. }
        | ZipError::DuplicateName { offset, .. }
        | ZipError::NotContiguous { offset, .. }
        | ZipError::LocalMismatch { offset, .. }
        | ZipError::Crc { offset, .. }
        | ZipError::StoredSizeMismatch { offset, .. }
        | ZipError::Inflate { offset, .. }
        | ZipError::Bounded { offset, .. }
        | ZipError::BadExtra { offset, .. } => *offset,
        _ => 0,
    }
}

/// The strict reader refused the archive: report why, then look at what a
/// lenient reader would still load.
fn zip_refused(ctx: &mut Ctx<'_>, data: &[u8], scope: &Scope, e: &ZipError, hint: Option<Profile>) {
    let (kind, verdict) = classify_zip_error(e);
    ctx.fail(scope, zip_offset(e), kind, verdict, e.to_string());
    let mut found_dangerous = false;
    let salvaged = salvage_members(ctx, data);
    let count = salvaged.len();
    for (name, offset, bytes) in salvaged {
        let mscope = scope.child(&format!("{name} (salvaged)"), hint);
        let mut child = ctx.child();
        inspect_data(&mut child, &bytes, &mscope);
        found_dangerous |= harvest(
            ctx,
            child,
            &mscope,
            offset,
            "a lenient zip reader (CPython's zipfile, PyTorch's miniz) would still load this member, and it is dangerous",
        );
    }
    if !found_dangerous {
        found_dangerous = embedded_scan(ctx, data, scope);
    }
    if !found_dangerous {
        ctx.note(
            scope,
            0,
            format!(
                "{count} member(s) salvaged with a lenient reader: nothing dangerous found in them"
            ),
        );
    }
}

/// Keep what a salvage pass found: all globals, and its dangerous findings
/// (only a dangerous result changes the verdict: a salvaged member never
/// makes a refused archive look better). Returns whether it was dangerous.
fn harvest(ctx: &mut Ctx<'_>, child: Ctx<'_>, scope: &Scope, offset: u64, why: &str) -> bool {
    let dangerous = child.verdict == Verdict::Dangerous;
    ctx.budget = child.budget;
    ctx.globals.extend(child.globals);
    ctx.findings.extend(
        child
            .findings
            .into_iter()
            .filter(|f| f.verdict == Verdict::Dangerous),
    );
    if dangerous {
        ctx.finding(
            scope,
            offset,
            "hidden_payload",
            Verdict::Dangerous,
            why.to_owned(),
        );
    }
    dangerous
}

/// Walk local headers from the start of the archive, ignoring flags,
/// CRCs and the central directory; inflate deflated data (bounded).
fn salvage_members(ctx: &mut Ctx<'_>, data: &[u8]) -> Vec<(String, u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    let cap = ctx
        .opts
        .max_member_bytes
        .min(ctx.budget)
        .min(ctx.opts.max_resident_bytes);
    while out.len() < ctx.opts.max_members.min(1_000) {
        let Some(h) = data.get(pos..pos + 30) else {
            break;
        };
        if h[..4] != *b"PK\x03\x04" {
            break;
        }
        let u16at = |i: usize| usize::from(u16::from_le_bytes([h[i], h[i + 1]]));
        let u32at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]) as usize;
        let method = u16at(8);
        let csize = u32at(18);
        let (nlen, xlen) = (u16at(26), u16at(28));
        let name_end = pos + 30 + nlen;
        let name = data
            .get(pos + 30..name_end)
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default();
        let start = name_end + xlen;
        if start > data.len() {
            break;
        }
        let body = &data[start..];
        let (bytes, consumed) = match method {
            0 => {
                let n = if csize > 0 && csize <= body.len() {
                    csize
                } else {
                    // Unknown size (data descriptor): up to the next header.
                    find(body, b"PK\x03\x04")
                        .or_else(|| find(body, b"PK\x01\x02"))
                        .unwrap_or(body.len())
                };
                (body[..n].to_vec(), n)
            }
            8 => {
                let mut dec = flate2::read::DeflateDecoder::new(body);
                let mut v = Vec::new();
                let _ = (&mut dec).take(cap).read_to_end(&mut v);
                let used = usize::try_from(dec.total_in()).unwrap_or(body.len());
                (
                    v,
                    if csize > 0 {
                        csize.min(body.len())
                    } else {
                        used
                    },
                )
            }
            _ => (Vec::new(), csize.min(body.len())),
        };
        ctx.budget = ctx.budget.saturating_sub(bytes.len() as u64);
        if !bytes.is_empty() {
            out.push((name, start as u64, bytes));
        }
        let next = start + consumed;
        if next <= pos {
            break;
        }
        pos = next;
        // Skip a data descriptor, if one follows.
        if data.get(pos..pos + 4) == Some(b"PK\x07\x08") {
            pos += 16;
        }
    }
    out
}

/// Look for complete protocol-2+ pickles embedded in bytes we cannot parse
/// (7z, unknown, refused zip). Only a pickle that parses to its `STOP` and
/// names a dangerous global counts. Returns whether one was found.
fn embedded_scan(ctx: &mut Ctx<'_>, data: &[u8], scope: &Scope) -> bool {
    const MAX_CANDIDATES: usize = 256;
    const WINDOW: usize = 64 << 20;
    let opts = Options {
        profile: ctx.profile(scope.hint.unwrap_or(Profile::Any)),
        limits: Limits {
            max_opcodes: 1_000_000,
            max_materialised_bytes: 1 << 26,
            max_nodes: 1_000_000,
            ..ctx.opts.pickle_limits.clone()
        },
    };
    let end = data.len().min(WINDOW);
    let mut candidates = 0usize;
    let mut found = false;
    let mut i = 0usize;
    while i + 2 < end && candidates < MAX_CANDIDATES {
        if data[i] == 0x80 && (2..=5).contains(&data[i + 1]) {
            candidates += 1;
            let (report, stop) = tensorseal_pickle::inspect_one(data, i, &opts, &mut NoHooks);
            if stop.is_some() && !report.dangerous_globals().is_empty() {
                let escope = match &scope.member {
                    Some(m) => Scope {
                        member: Some(format!("{m}!<embedded pickle @{i}>")),
                        ..scope.clone()
                    },
                    None => Scope {
                        member: Some(format!("<embedded pickle @{i}>")),
                        ..scope.clone()
                    },
                };
                let mut child = ctx.child();
                child.add_pickle(&report, 0, &escope);
                found |= harvest(
                    ctx,
                    child,
                    &escope,
                    i as u64,
                    "a complete pickle naming a dangerous global is embedded in bytes this reader cannot parse",
                );
                if let Some(s) = stop {
                    i = s;
                    continue;
                }
            }
        }
        i += 1;
    }
    found
}

// ---------------------------------------------------------------------------
// NumPy

fn npy(ctx: &mut Ctx<'_>, data: &[u8], scope: &Scope) {
    use crate::npy::NpyError;
    match crate::npy::parse_npy_header(data) {
        Ok(h) => {
            let need =
                crate::layout::numel(&h.shape).and_then(|n| n.checked_mul(h.dtype.bits() / 8));
            let have = (data.len() as u64).saturating_sub(h.data_offset);
            if need != Some(have) {
                ctx.fail(
                    scope,
                    h.data_offset,
                    "npy_data_length",
                    Verdict::Malformed,
                    format!(
                        "npy data at offset {} has {have} bytes, shape {:?} of {} needs {}",
                        h.data_offset,
                        h.shape,
                        h.dtype.name(),
                        need.map(|n| n.to_string())
                            .unwrap_or_else(|| "an overflowing size".into())
                    ),
                );
            }
        }
        Err(NpyError::ObjectDtype { .. })
        | Err(NpyError::StructuredDtype { .. })
        | Err(NpyError::UnsupportedDtype { .. }) => npy_special(ctx, data, scope),
        Err(e) => {
            ctx.fail(
                scope,
                npy_offset(&e),
                "npy_malformed",
                Verdict::Malformed,
                e.to_string(),
            );
        }
    }
}

fn npy_offset(e: &crate::npy::NpyError) -> u64 {
    use crate::npy::NpyError;
    match e {
        NpyError::BadVersion { .. } => 6,
        NpyError::Truncated { offset, .. }
        | NpyError::Syntax { offset, .. }
        | NpyError::DataLength { offset, .. } => *offset,
        _ => 0,
    }
}

/// Object, structured or non-tensor dtypes: the header already passed the
/// converter's grammar except for the dtype.
fn npy_special(ctx: &mut Ctx<'_>, data: &[u8], scope: &Scope) {
    let Some((text, data_offset)) = npy_header_text(data) else {
        ctx.fail(
            scope,
            8,
            "npy_malformed",
            Verdict::Malformed,
            "npy header length runs past the end",
        );
        return;
    };
    let header = match lit::parse(text) {
        Ok(v) => v,
        Err(why) => {
            ctx.fail(
                scope,
                10,
                "npy_malformed",
                Verdict::Malformed,
                format!("npy header: {why}"),
            );
            return;
        }
    };
    let (Some(descr), Some(shape)) = (header.get("descr"), header.get("shape")) else {
        ctx.fail(
            scope,
            10,
            "npy_malformed",
            Verdict::Malformed,
            "npy header lacks descr or shape",
        );
        return;
    };
    let shape: Option<Vec<u64>> = match shape {
        lit::Lit::Tuple(items) => items.iter().map(lit::Lit::as_int).collect(),
        _ => None,
    };
    let Some(shape) = shape else {
        ctx.fail(
            scope,
            10,
            "npy_malformed",
            Verdict::Malformed,
            "npy shape is not a tuple of integers",
        );
        return;
    };
    let rest = &data[data_offset as usize..];
    match lit::dtype_size(descr, 0) {
        lit::DtypeSize::Object => {
            ctx.note(
                scope,
                data_offset,
                "object dtype: the array data is a pickle (never loaded); inspected with the numpy profile, not convertible",
            );
            let profile = ctx.profile(Profile::Numpy);
            pickle(ctx, rest, data_offset, scope, profile, &mut NoHooks);
        }
        lit::DtypeSize::Bytes(itemsize) => {
            let need = crate::layout::numel(&shape).and_then(|n| n.checked_mul(itemsize));
            if need != Some(rest.len() as u64) {
                ctx.fail(
                    scope,
                    data_offset,
                    "npy_data_length",
                    Verdict::Malformed,
                    format!(
                        "npy data at offset {data_offset} has {} bytes, shape {shape:?} of {itemsize}-byte items needs {}",
                        rest.len(),
                        need.map(|n| n.to_string()).unwrap_or_else(|| "an overflowing size".into())
                    ),
                );
            } else {
                ctx.finding(
                    scope,
                    10,
                    "not_convertible",
                    Verdict::Safe,
                    format!("dtype {} holds plain data (no objects) but has no tensor dtype: safe, not convertible", lit::show(descr)),
                );
            }
        }
        lit::DtypeSize::Unknown(why) => {
            ctx.finding(
                scope,
                10,
                "unknown_dtype",
                Verdict::Unknown,
                format!("dtype {} not understood ({why})", lit::show(descr)),
            );
        }
    }
}

/// The header text and the data offset of a `.npy`.
fn npy_header_text(data: &[u8]) -> Option<(&[u8], u64)> {
    let (len, start): (usize, usize) = match data.get(6..8)? {
        [1, 0] => (
            usize::from(u16::from_le_bytes([*data.get(8)?, *data.get(9)?])),
            10,
        ),
        [2, 0] | [3, 0] => {
            let b = data.get(8..12)?;
            (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 12)
        }
        _ => return None,
    };
    let end = start.checked_add(len)?;
    Some((data.get(start..end)?, end as u64))
}

/// A tiny Python-literal reader for `.npy` dtype descriptions (strings,
/// integers, tuples, lists, dicts, True/False/None).
mod lit {
    #[derive(Debug, Clone, PartialEq)]
    pub(super) enum Lit {
        Str(String),
        Int(i128),
        Bool(bool),
        None,
        Tuple(Vec<Lit>),
        List(Vec<Lit>),
        Dict(Vec<(Lit, Lit)>),
    }

    impl Lit {
        pub(super) fn as_int(&self) -> Option<u64> {
            match self {
                Lit::Int(i) => u64::try_from(*i).ok(),
                _ => None,
            }
        }
    }

    pub(super) struct Header(Vec<(Lit, Lit)>);

    impl Header {
        pub(super) fn get(&self, key: &str) -> Option<&Lit> {
            self.0
                .iter()
                .find(|(k, _)| matches!(k, Lit::Str(s) if s == key))
                .map(|(_, v)| v)
        }
    }

    const MAX_DEPTH: usize = 32;

    pub(super) fn parse(text: &[u8]) -> Result<Header, &'static str> {
        let mut p = P { s: text, i: 0 };
        let v = p.value(0)?;
        p.ws();
        if p.i != p.s.len() {
            return Err("text after the header dict");
        }
        match v {
            Lit::Dict(items) => Ok(Header(items)),
            _ => Err("header is not a dict"),
        }
    }

    struct P<'a> {
        s: &'a [u8],
        i: usize,
    }

    impl P<'_> {
        fn ws(&mut self) {
            while self
                .s
                .get(self.i)
                .is_some_and(|c| matches!(c, b' ' | b'\n' | b'\t' | b'\r'))
            {
                self.i += 1;
            }
        }

        fn eat(&mut self, c: u8) -> bool {
            self.ws();
            if self.s.get(self.i) == Some(&c) {
                self.i += 1;
                true
            } else {
                false
            }
        }

        fn items(&mut self, close: u8, depth: usize) -> Result<(Vec<Lit>, bool), &'static str> {
            let mut v = Vec::new();
            let mut trailing_comma = false;
            loop {
                if self.eat(close) {
                    return Ok((v, trailing_comma));
                }
                v.push(self.value(depth + 1)?);
                trailing_comma = self.eat(b',');
                if !trailing_comma {
                    if self.eat(close) {
                        return Ok((v, false));
                    }
                    return Err("expected ',' or a closing bracket");
                }
            }
        }

        fn value(&mut self, depth: usize) -> Result<Lit, &'static str> {
            if depth > MAX_DEPTH {
                return Err("nesting too deep");
            }
            self.ws();
            match self.s.get(self.i) {
                Some(b'(') => {
                    self.i += 1;
                    let (v, comma) = self.items(b')', depth)?;
                    if v.len() == 1 && !comma {
                        // A parenthesised value, not a tuple.
                        return Ok(v.into_iter().next().unwrap_or(Lit::None));
                    }
                    Ok(Lit::Tuple(v))
                }
                Some(b'[') => {
                    self.i += 1;
                    Ok(Lit::List(self.items(b']', depth)?.0))
                }
                Some(b'{') => {
                    self.i += 1;
                    let mut items = Vec::new();
                    loop {
                        if self.eat(b'}') {
                            return Ok(Lit::Dict(items));
                        }
                        let k = self.value(depth + 1)?;
                        if !self.eat(b':') {
                            return Err("expected ':'");
                        }
                        let v = self.value(depth + 1)?;
                        items.push((k, v));
                        if !self.eat(b',') {
                            if self.eat(b'}') {
                                return Ok(Lit::Dict(items));
                            }
                            return Err("expected ',' or '}'");
                        }
                    }
                }
                Some(&q @ (b'\'' | b'"')) => {
                    self.i += 1;
                    let start = self.i;
                    while let Some(&c) = self.s.get(self.i) {
                        if c == b'\\' {
                            return Err("escapes in strings are not accepted");
                        }
                        if c == q {
                            let s = std::str::from_utf8(&self.s[start..self.i])
                                .map_err(|_| "string is not UTF-8")?;
                            self.i += 1;
                            return Ok(Lit::Str(s.to_owned()));
                        }
                        self.i += 1;
                    }
                    Err("unterminated string")
                }
                Some(c) if c.is_ascii_digit() || *c == b'-' => {
                    let start = self.i;
                    self.i += 1;
                    while self.s.get(self.i).is_some_and(|c| c.is_ascii_digit()) {
                        self.i += 1;
                    }
                    // Python 2 long suffix.
                    if self.s.get(self.i) == Some(&b'L') {
                        self.i += 1;
                    }
                    let t = std::str::from_utf8(&self.s[start..self.i])
                        .map_err(|_| "bad integer")?
                        .trim_end_matches('L');
                    t.parse::<i128>().map(Lit::Int).map_err(|_| "bad integer")
                }
                Some(_) => {
                    for (word, v) in [
                        ("True", Lit::Bool(true)),
                        ("False", Lit::Bool(false)),
                        ("None", Lit::None),
                    ] {
                        if self.s[self.i..].starts_with(word.as_bytes()) {
                            self.i += word.len();
                            return Ok(v);
                        }
                    }
                    Err("unexpected character")
                }
                None => Err("unexpected end of header"),
            }
        }
    }

    /// Size of one item of a dtype description.
    pub(super) enum DtypeSize {
        /// The dtype holds Python objects: numpy pickles the whole array.
        Object,
        /// Plain bytes per item.
        Bytes(u64),
        /// Not understood.
        Unknown(String),
    }

    /// Size of a dtype given as a descr string or a structured field list.
    pub(super) fn dtype_size(d: &Lit, depth: usize) -> DtypeSize {
        if depth > MAX_DEPTH {
            return DtypeSize::Unknown("nesting too deep".into());
        }
        match d {
            Lit::Str(s) => code_size(s),
            Lit::List(fields) => {
                let mut total: u64 = 0;
                let mut unknown = None;
                for f in fields {
                    let Lit::Tuple(t) = f else {
                        return DtypeSize::Unknown("a field is not a tuple".into());
                    };
                    if !(2..=3).contains(&t.len()) {
                        return DtypeSize::Unknown("a field is not (name, type[, shape])".into());
                    }
                    let mult = match t.get(2) {
                        None => Some(1u64),
                        Some(Lit::Int(n)) => u64::try_from(*n).ok(),
                        Some(Lit::Tuple(dims)) => dims
                            .iter()
                            .map(Lit::as_int)
                            .try_fold(1u64, |acc, d| acc.checked_mul(d?)),
                        _ => None,
                    };
                    match dtype_size(&t[1], depth + 1) {
                        DtypeSize::Object => return DtypeSize::Object,
                        DtypeSize::Bytes(n) => {
                            match mult
                                .and_then(|m| m.checked_mul(n))
                                .and_then(|x| total.checked_add(x))
                            {
                                Some(t) => total = t,
                                None => unknown = Some("field size overflows".to_owned()),
                            }
                        }
                        DtypeSize::Unknown(w) => unknown = Some(w),
                    }
                }
                // An object field anywhere wins over an unknown one (above).
                match unknown {
                    Some(w) => DtypeSize::Unknown(w),
                    None => DtypeSize::Bytes(total),
                }
            }
            _ => DtypeSize::Unknown("descr is neither a string nor a field list".into()),
        }
    }

    fn code_size(s: &str) -> DtypeSize {
        let body = s.trim_start_matches(['<', '>', '|', '=']);
        if body.starts_with('O') || body == "object" {
            return DtypeSize::Object;
        }
        let unknown = || DtypeSize::Unknown(format!("type code '{s}'"));
        let (kind, rest) = body.split_at(body.chars().next().map(char::len_utf8).unwrap_or(0));
        let num = |r: &str| r.parse::<u64>().ok();
        let n = match kind {
            "b" | "i" | "u" | "f" | "c" if !rest.is_empty() => num(rest),
            "V" | "S" | "a" => num(rest),
            "U" => num(rest).and_then(|n| n.checked_mul(4)),
            "M" | "m" if rest.starts_with('8') => Some(8),
            "?" | "b" | "B" if rest.is_empty() => Some(1),
            "h" | "H" | "e" if rest.is_empty() => Some(2),
            "i" | "I" | "f" if rest.is_empty() => Some(4),
            "l" | "L" | "q" | "Q" | "d" | "F" if rest.is_empty() => Some(8),
            "D" | "g" if rest.is_empty() => Some(16),
            "G" if rest.is_empty() => Some(32),
            _ => None,
        };
        match n {
            Some(n) => DtypeSize::Bytes(n),
            None => unknown(),
        }
    }

    /// Python-like rendering for messages (cut at 120 characters).
    pub(super) fn show(d: &Lit) -> String {
        fn go(d: &Lit, out: &mut String, depth: usize) {
            if out.len() > 200 || depth > MAX_DEPTH {
                return;
            }
            let seq = |items: &[Lit], open: &str, close: &str, out: &mut String| {
                out.push_str(open);
                for (i, x) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    go(x, out, depth + 1);
                }
                if items.len() == 1 && open == "(" {
                    out.push(',');
                }
                out.push_str(close);
            };
            match d {
                Lit::Str(s) => {
                    out.push('\'');
                    out.push_str(s);
                    out.push('\'');
                }
                Lit::Int(i) => out.push_str(&i.to_string()),
                Lit::Bool(b) => out.push_str(if *b { "True" } else { "False" }),
                Lit::None => out.push_str("None"),
                Lit::Tuple(v) => seq(v, "(", ")", out),
                Lit::List(v) => seq(v, "[", "]", out),
                Lit::Dict(v) => {
                    out.push('{');
                    for (i, (k, x)) in v.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        go(k, out, depth + 1);
                        out.push_str(": ");
                        go(x, out, depth + 1);
                    }
                    out.push('}');
                }
            }
        }
        let mut s = String::new();
        go(d, &mut s, 0);
        if s.len() > 120 {
            let mut cut = 117;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
            s.push_str("...");
        }
        s
    }
}

// ---------------------------------------------------------------------------
// safetensors and the tensorseal container

/// safetensors' own limit on the header size.
const MAX_SAFETENSORS_HEADER: u64 = 100_000_000;

fn safetensors(ctx: &mut Ctx<'_>, data: &[u8], scope: &Scope) {
    match check_safetensors(data) {
        Ok((n, unknown)) => {
            for (offset, msg) in unknown {
                ctx.finding(scope, offset, "unknown_dtype", Verdict::Unknown, msg);
            }
            ctx.note(
                scope,
                8,
                format!("safetensors header checked: {n} tensor(s)"),
            );
        }
        Err((offset, msg)) => {
            ctx.fail(
                scope,
                offset,
                "safetensors_malformed",
                Verdict::Malformed,
                msg,
            );
        }
    }
}

type StResult = Result<(usize, Vec<(u64, String)>), (u64, String)>;

fn check_safetensors(data: &[u8]) -> StResult {
    let bad = |o: u64, m: String| Err((o, m));
    let Some(lenb) = data.get(..8) else {
        return bad(0, "safetensors: truncated header length".into());
    };
    let n = u64::from_le_bytes(lenb.try_into().unwrap_or([0; 8]));
    if n > MAX_SAFETENSORS_HEADER {
        return bad(
            0,
            format!("safetensors: header of {n} bytes exceeds {MAX_SAFETENSORS_HEADER}"),
        );
    }
    let hend = 8 + n as usize;
    let Some(header) = data.get(8..hend) else {
        return bad(
            0,
            format!("safetensors: header of {n} bytes runs past the end"),
        );
    };
    let Ok(text) = std::str::from_utf8(header) else {
        return bad(8, "safetensors: header is not UTF-8".into());
    };
    if !text.starts_with('{') {
        return bad(8, "safetensors: header does not start with '{'".into());
    }
    let v: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return bad(8, format!("safetensors: header is not JSON: {e}")),
    };
    let Some(obj) = v.as_object() else {
        return bad(8, "safetensors: header is not a JSON object".into());
    };
    if let Some(dup) = duplicate_top_level_key(text) {
        return bad(8, format!("safetensors: key '{dup}' appears twice in the header (readers disagree on which wins)"));
    }
    let body_len = (data.len() - hend) as u64;
    let mut spans = Vec::with_capacity(obj.len());
    let mut unknown = Vec::new();
    for (name, t) in obj {
        if name == "__metadata__" {
            let ok = t
                .as_object()
                .is_some_and(|m| m.values().all(serde_json::Value::is_string));
            if !ok {
                return bad(
                    8,
                    "safetensors: __metadata__ is not a map of strings".into(),
                );
            }
            continue;
        }
        let Some(fields) = t.as_object() else {
            return bad(8, format!("safetensors: tensor '{name}' is not an object"));
        };
        if fields.len() != 3 {
            return bad(
                8,
                format!("safetensors: tensor '{name}' needs exactly dtype, shape, data_offsets"),
            );
        }
        let dtype = fields.get("dtype").and_then(|d| d.as_str());
        let shape: Option<Vec<u64>> = fields
            .get("shape")
            .and_then(|s| s.as_array())
            .and_then(|a| a.iter().map(serde_json::Value::as_u64).collect());
        let offs: Option<Vec<u64>> = fields
            .get("data_offsets")
            .and_then(|s| s.as_array())
            .and_then(|a| a.iter().map(serde_json::Value::as_u64).collect());
        let (Some(dtype), Some(shape), Some(offs)) = (dtype, shape, offs) else {
            return bad(
                8,
                format!("safetensors: tensor '{name}' has a bad dtype, shape or data_offsets"),
            );
        };
        let [begin, end] = offs[..] else {
            return bad(
                8,
                format!("safetensors: tensor '{name}': data_offsets is not [begin, end]"),
            );
        };
        if begin > end || end > body_len {
            return bad(hend as u64, format!("safetensors: tensor '{name}': data_offsets [{begin}, {end}] outside the {body_len}-byte data"));
        }
        match dtype.parse::<crate::DType>() {
            Ok(dt) => {
                let bits = crate::layout::numel(&shape).and_then(|n| n.checked_mul(dt.bits()));
                if bits.map(|b| b.div_ceil(8)) != Some(end - begin) {
                    return bad(
                        hend as u64 + begin,
                        format!("safetensors: tensor '{name}': shape {shape:?} of {dtype} does not fill its {} bytes", end - begin),
                    );
                }
            }
            Err(_) => unknown.push((
                8,
                format!("safetensors: tensor '{name}' has dtype {dtype}, unknown to this reader"),
            )),
        }
        spans.push((begin, end, name.clone()));
    }
    spans.sort();
    let mut at = 0u64;
    for (begin, end, name) in &spans {
        if *begin != at {
            return bad(hend as u64 + begin, format!("safetensors: tensor '{name}' starts at {begin}, expected {at} (gap or overlap)"));
        }
        at = *end;
    }
    if at != body_len {
        return bad(
            hend as u64 + at,
            format!(
                "safetensors: {} byte(s) after the last tensor",
                body_len - at
            ),
        );
    }
    Ok((spans.len(), unknown))
}

/// A key of the top-level JSON object that appears twice (after decoding
/// escapes), found with a small lexer over already valid JSON.
fn duplicate_top_level_key(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0usize;
    let mut seen = HashSet::new();
    let mut expect_key = false;
    while i < b.len() {
        match b[i] {
            b'{' | b'[' => {
                depth += 1;
                expect_key = depth == 1 && b[i] == b'{';
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b',' if depth == 1 => expect_key = true,
            b'"' => {
                let start = i;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if depth == 1 && expect_key {
                    let raw = text.get(start..=i.min(b.len() - 1))?;
                    let key: String = serde_json::from_str(raw).ok()?;
                    if !seen.insert(key.clone()) {
                        return Some(key);
                    }
                    expect_key = false;
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn container(ctx: &mut Ctx<'_>, data: &[u8], scope: &Scope) {
    // Structure only: signatures are not verified, expiry is not judged.
    let policy = tensorseal::Policy::allow_unsigned().at_time(i64::MIN);
    match tensorseal::Model::from_bytes(data, &policy, tensorseal::Verification::Eager) {
        Ok(m) => ctx.note(
            scope,
            0,
            format!(
                "tensorseal container: structure, manifest digest and {} slice digest(s) checked keyless (Policy::allow_unsigned): no signature was verified",
                m.manifest().slices.len()
            ),
        ),
        Err(e) => {
            use tensorseal::ErrorKind as K;
            let (kind, verdict) = match e.kind() {
                K::BadSignature { .. } => ("bad_signature", Verdict::Dangerous),
                K::Format(_)
                | K::KeyCommitment(_)
                | K::SliceKeyCommitment { .. }
                | K::HeaderMac
                | K::BadStanza { .. }
                | K::Invalid(_) => ("container_malformed", Verdict::Malformed),
                // Trust, keys, rollback state: not decidable without keys.
                _ => ("container_unchecked", Verdict::Unsupported),
            };
            ctx.fail(scope, 0, kind, verdict, e.to_string())
        },
    }
}
