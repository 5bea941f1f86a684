//! Global classification: exact allow-lists per [`Profile`], and a curated,
//! broad deny list with reasons.
//!
//! Allow-lists match the whole `(module, name)` pair by string equality: no
//! prefix matching, no dotted-name resolution. The deny list may match by
//! module prefix (broad is fine for deny) and also inspects every dotted
//! component of a name (`builtins` + `eval.__call__`, `pathlib` + `os.system`).

/// Which kind of file the caller expects; selects the allow-list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Profile {
    /// PyTorch state dicts and training checkpoints (`torch.save`).
    Torch,
    /// NumPy arrays, dtypes and scalars inside pickles.
    Numpy,
    /// scikit-learn estimators (plain pickle or joblib), including NumPy pieces.
    Sklearn,
    /// Union of all profiles.
    #[default]
    Any,
}

/// Why a global is on the deny list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DangerReason {
    /// Evaluates or compiles code (`eval`, `exec`, `runpy`, `code`, profilers...).
    CodeExecution,
    /// Touches the file system (`open`, `shutil`, `io.FileIO`, `numpy.save`...).
    FileSystem,
    /// Opens network connections (`socket`, `urllib`, `requests`, `webbrowser`...).
    Network,
    /// Spawns or controls processes (`os.system`, `subprocess`, `pty`...).
    Process,
    /// Loads another serialised object (`pickle.loads`, `torch.load`, `joblib.load`...).
    NestedLoader,
    /// Reaches arbitrary attributes/objects (`getattr`, `operator.attrgetter`, dunder names...).
    AttributeGadget,
    /// Imports arbitrary modules (`__import__`, `importlib`, `pkgutil.resolve_name`...).
    Import,
    /// Interpreter internals / native memory (`sys`, `ctypes`, `gc`, `marshal`, `types.CodeType`...).
    Interpreter,
    /// Disables or tampers with scanners (`fickling`, `picklescan`, `modelscan`...).
    ScannerTampering,
    /// The module or name was computed at run time rather than written as a literal.
    DynamicName,
}

/// Classification of one global.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GlobalClass {
    /// On the exact allow-list of the profile in use.
    Allowed,
    /// On the deny list.
    Dangerous {
        /// Why.
        reason: DangerReason,
    },
    /// Neither allowed nor known to be dangerous: refused for conversion.
    Unknown,
}

const COLLECTIONS: &[(&str, &str)] = &[("collections", "OrderedDict")];

const BUILTIN_VALUES: &[(&str, &str)] = &[
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "bytearray"),
    ("builtins", "complex"),
    ("builtins", "slice"),
    ("__builtin__", "set"),
    ("__builtin__", "frozenset"),
    ("__builtin__", "bytearray"),
    ("__builtin__", "complex"),
    ("__builtin__", "slice"),
    ("_codecs", "encode"),
];

const TORCH: &[(&str, &str)] = &[
    ("collections", "Counter"),
    ("torch._utils", "_rebuild_tensor"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_tensor_v3"),
    ("torch._utils", "_rebuild_parameter"),
    ("torch._utils", "_rebuild_parameter_with_state"),
    ("torch._utils", "_rebuild_qtensor"),
    ("torch._utils", "_rebuild_sparse_tensor"),
    ("torch._utils", "_rebuild_meta_tensor_no_storage"),
    ("torch._utils", "_rebuild_device_tensor_from_numpy"),
    ("torch._tensor", "_rebuild_from_type_v2"),
    ("torch.nn.parameter", "Parameter"),
    ("torch", "Tensor"),
    ("torch", "Size"),
    ("torch", "device"),
    ("torch.serialization", "_get_layout"),
    ("torch.storage", "UntypedStorage"),
    ("torch.storage", "TypedStorage"),
    ("torch", "UntypedStorage"),
    ("torch", "TypedStorage"),
    // legacy typed storages
    ("torch", "DoubleStorage"),
    ("torch", "FloatStorage"),
    ("torch", "HalfStorage"),
    ("torch", "BFloat16Storage"),
    ("torch", "LongStorage"),
    ("torch", "IntStorage"),
    ("torch", "ShortStorage"),
    ("torch", "CharStorage"),
    ("torch", "ByteStorage"),
    ("torch", "BoolStorage"),
    ("torch", "ComplexFloatStorage"),
    ("torch", "ComplexDoubleStorage"),
    ("torch", "QUInt8Storage"),
    ("torch", "QInt8Storage"),
    ("torch", "QInt32Storage"),
    ("torch", "QUInt4x2Storage"),
    ("torch", "QUInt2x4Storage"),
    ("torch", "Float8_e4m3fnStorage"),
    ("torch", "Float8_e5m2Storage"),
    // dtypes
    ("torch", "float64"),
    ("torch", "float32"),
    ("torch", "float16"),
    ("torch", "bfloat16"),
    ("torch", "float8_e4m3fn"),
    ("torch", "float8_e5m2"),
    ("torch", "float8_e4m3fnuz"),
    ("torch", "float8_e5m2fnuz"),
    ("torch", "complex128"),
    ("torch", "complex64"),
    ("torch", "complex32"),
    ("torch", "int64"),
    ("torch", "int32"),
    ("torch", "int16"),
    ("torch", "int8"),
    ("torch", "uint8"),
    ("torch", "uint16"),
    ("torch", "uint32"),
    ("torch", "uint64"),
    ("torch", "bool"),
    ("torch", "qint8"),
    ("torch", "quint8"),
    ("torch", "qint32"),
    ("torch", "quint4x2"),
    ("torch", "quint2x4"),
    // memory formats / layouts / quantisation schemes
    ("torch", "strided"),
    ("torch", "sparse_coo"),
    ("torch", "contiguous_format"),
    ("torch", "channels_last"),
    ("torch", "preserve_format"),
    ("torch", "per_tensor_affine"),
    ("torch", "per_tensor_symmetric"),
    ("torch", "per_channel_affine"),
    ("torch", "per_channel_symmetric"),
    ("torch", "per_channel_affine_float_qparams"),
];

const NUMPY: &[(&str, &str)] = &[
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    // numpy 2 dtype classes (pickled as numpy.dtypes.Float64DType etc.)
    ("numpy.dtypes", "Float64DType"),
    ("numpy.dtypes", "Float32DType"),
    ("numpy.dtypes", "Float16DType"),
    ("numpy.dtypes", "Int64DType"),
    ("numpy.dtypes", "Int32DType"),
    ("numpy.dtypes", "Int16DType"),
    ("numpy.dtypes", "Int8DType"),
    ("numpy.dtypes", "UInt64DType"),
    ("numpy.dtypes", "UInt32DType"),
    ("numpy.dtypes", "UInt16DType"),
    ("numpy.dtypes", "UInt8DType"),
    ("numpy.dtypes", "BoolDType"),
    ("numpy.dtypes", "Complex64DType"),
    ("numpy.dtypes", "Complex128DType"),
];

const SKLEARN: &[(&str, &str)] = &[
    // joblib framing
    ("joblib.numpy_pickle", "NumpyArrayWrapper"),
    ("sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper"),
    // estimators seen in the fixtures
    ("sklearn.linear_model._logistic", "LogisticRegression"),
    ("sklearn.ensemble._iforest", "IsolationForest"),
    ("sklearn.tree._classes", "ExtraTreeRegressor"),
    ("sklearn.tree._classes", "ExtraTreeClassifier"),
    ("sklearn.tree._classes", "DecisionTreeRegressor"),
    ("sklearn.tree._classes", "DecisionTreeClassifier"),
    ("sklearn.tree._tree", "Tree"),
    // a few common, state-only estimators
    ("sklearn.linear_model._base", "LinearRegression"),
    ("sklearn.linear_model._ridge", "Ridge"),
    ("sklearn.ensemble._forest", "RandomForestClassifier"),
    ("sklearn.ensemble._forest", "RandomForestRegressor"),
    ("sklearn.ensemble._forest", "ExtraTreesClassifier"),
    ("sklearn.ensemble._forest", "ExtraTreesRegressor"),
    ("sklearn.preprocessing._data", "StandardScaler"),
    ("sklearn.preprocessing._data", "MinMaxScaler"),
    ("sklearn.preprocessing._label", "LabelEncoder"),
    ("sklearn.pipeline", "Pipeline"),
    // numpy RandomState pieces (random_state attributes)
    ("numpy.random.mtrand", "RandomState"),
    ("numpy.random._pickle", "__randomstate_ctor"),
    ("numpy.random._pickle", "__bit_generator_ctor"),
    ("numpy.random._pickle", "__generator_ctor"),
    ("numpy.random._mt19937", "MT19937"),
    ("numpy.random._pcg64", "PCG64"),
    ("numpy.random._generator", "Generator"),
];

/// The exact allow-list of a profile, as `(module, qualname)` pairs.
pub fn allow_list(profile: Profile) -> Vec<(&'static str, &'static str)> {
    profile
        .parts()
        .iter()
        .flat_map(|p| p.iter().copied())
        .collect()
}

type Pairs = &'static [(&'static str, &'static str)];

impl Profile {
    fn parts(self) -> &'static [Pairs] {
        match self {
            Profile::Torch => &[COLLECTIONS, BUILTIN_VALUES, TORCH],
            Profile::Numpy => &[COLLECTIONS, BUILTIN_VALUES, NUMPY],
            Profile::Sklearn => &[COLLECTIONS, BUILTIN_VALUES, NUMPY, SKLEARN],
            Profile::Any => &[COLLECTIONS, BUILTIN_VALUES, TORCH, NUMPY, SKLEARN],
        }
    }

    /// Whether `(module, name)` is on this profile's allow-list (exact match
    /// of both strings; no prefixes, no dotted-name resolution).
    pub fn allows(self, module: &str, name: &str) -> bool {
        self.parts()
            .iter()
            .any(|p| p.iter().any(|(m, n)| *m == module && *n == name))
    }

    /// Classify a global for this profile: allowed (exact), dangerous (deny
    /// list) or unknown. A pair allowed by another profile is `Unknown`.
    pub fn classify(self, module: &str, name: &str) -> GlobalClass {
        if self.allows(module, name) {
            return GlobalClass::Allowed;
        }
        if Profile::Any.allows(module, name) {
            // Legitimate elsewhere, just not for this kind of file.
            return GlobalClass::Unknown;
        }
        if let Some(reason) = deny_reason(module, name) {
            return GlobalClass::Dangerous { reason };
        }
        GlobalClass::Unknown
    }
}

use DangerReason as R;

/// Modules denied as a whole, including all submodules (`m` or `m.*`).
const DENY_MODULES: &[(&str, DangerReason)] = &[
    ("os", R::Process),
    ("posix", R::Process),
    ("nt", R::Process),
    ("subprocess", R::Process),
    ("_posixsubprocess", R::Process),
    ("pty", R::Process),
    ("commands", R::Process),
    ("popen2", R::Process),
    ("pipes", R::Process),
    ("pexpect", R::Process),
    ("multiprocessing", R::Process),
    ("_multiprocessing", R::Process),
    ("concurrent", R::Process),
    ("signal", R::Process),
    ("_signal", R::Process),
    ("_aix_support", R::Process),
    ("_osx_support", R::Process),
    ("_pyrepl", R::Process),
    ("uuid", R::Process),
    ("platform", R::Process),
    ("asyncio", R::Process),
    ("_thread", R::Process),
    ("thread", R::Process),
    ("threading", R::Process),
    ("_interpreters", R::CodeExecution),
    ("_xxsubinterpreters", R::CodeExecution),
    ("interpreters", R::CodeExecution),
    ("sys", R::Interpreter),
    ("gc", R::Interpreter),
    ("atexit", R::Interpreter),
    ("ctypes", R::Interpreter),
    ("_ctypes", R::Interpreter),
    ("cffi", R::Interpreter),
    ("mmap", R::Interpreter),
    ("marshal", R::Interpreter),
    ("types", R::Interpreter),
    ("inspect", R::Interpreter),
    ("site", R::Interpreter),
    ("sysconfig", R::Interpreter),
    ("faulthandler", R::Interpreter),
    ("tracemalloc", R::Interpreter),
    ("runpy", R::CodeExecution),
    ("ast", R::CodeExecution),
    ("code", R::CodeExecution),
    ("codeop", R::CodeExecution),
    ("compileall", R::CodeExecution),
    ("py_compile", R::CodeExecution),
    ("cProfile", R::CodeExecution),
    ("profile", R::CodeExecution),
    ("_lsprof", R::CodeExecution),
    ("trace", R::CodeExecution),
    ("timeit", R::CodeExecution),
    ("pdb", R::CodeExecution),
    ("bdb", R::CodeExecution),
    ("doctest", R::CodeExecution),
    ("unittest", R::CodeExecution),
    ("test", R::CodeExecution),
    ("idlelib", R::CodeExecution),
    ("lib2to3", R::CodeExecution),
    ("pydoc", R::CodeExecution),
    ("rlcompleter", R::CodeExecution),
    ("cgitb", R::CodeExecution),
    ("ensurepip", R::Process),
    ("pip", R::Process),
    ("venv", R::Process),
    ("distutils", R::Process),
    ("setuptools", R::Process),
    ("pkg_resources", R::Import),
    ("importlib", R::Import),
    ("imp", R::Import),
    ("_imp", R::Import),
    ("_frozen_importlib", R::Import),
    ("_frozen_importlib_external", R::Import),
    ("zipimport", R::Import),
    ("pkgutil", R::Import),
    ("modulefinder", R::Import),
    // copyreg's extension registry decides what EXT1/2/4 import, and its
    // dispatch table and constructors are process-wide pickling state: a
    // pickle that calls into it (add_extension, remove_extension,
    // clear_extension_cache, pickle, constructor, the registries themselves)
    // reprograms later loads. Only `_reconstructor` is exempt (see
    // DENY_EXEMPT).
    ("copyreg", R::Import),
    ("copy_reg", R::Import),
    ("pickle", R::NestedLoader),
    ("_pickle", R::NestedLoader),
    ("cPickle", R::NestedLoader),
    ("pickletools", R::NestedLoader),
    ("shelve", R::NestedLoader),
    ("dill", R::NestedLoader),
    ("cloudpickle", R::NestedLoader),
    ("jsonpickle", R::NestedLoader),
    ("yaml", R::NestedLoader),
    ("joblib", R::NestedLoader),
    ("sklearn.externals.joblib", R::NestedLoader),
    ("operator", R::AttributeGadget),
    ("_operator", R::AttributeGadget),
    ("functools", R::AttributeGadget),
    ("_functools", R::AttributeGadget),
    ("itertools", R::AttributeGadget),
    ("shutil", R::FileSystem),
    ("tempfile", R::FileSystem),
    ("pathlib", R::FileSystem),
    ("glob", R::FileSystem),
    ("fileinput", R::FileSystem),
    ("filecmp", R::FileSystem),
    ("linecache", R::FileSystem),
    ("tarfile", R::FileSystem),
    ("zipfile", R::FileSystem),
    ("io", R::FileSystem),
    ("_io", R::FileSystem),
    ("codecs", R::FileSystem),
    ("logging", R::FileSystem),
    ("sqlite3", R::FileSystem),
    ("_sqlite3", R::FileSystem),
    ("dbm", R::FileSystem),
    ("syslog", R::FileSystem),
    ("socket", R::Network),
    ("_socket", R::Network),
    ("socketserver", R::Network),
    ("select", R::Network),
    ("selectors", R::Network),
    ("ssl", R::Network),
    ("_ssl", R::Network),
    ("http", R::Network),
    ("httplib", R::Network),
    ("urllib", R::Network),
    ("urllib2", R::Network),
    ("urllib3", R::Network),
    ("requests", R::Network),
    ("httpx", R::Network),
    ("aiohttp", R::Network),
    ("ftplib", R::Network),
    ("smtplib", R::Network),
    ("smtpd", R::Network),
    ("poplib", R::Network),
    ("imaplib", R::Network),
    ("nntplib", R::Network),
    ("telnetlib", R::Network),
    ("xmlrpc", R::Network),
    ("xmlrpclib", R::Network),
    ("webbrowser", R::Network),
    ("numpy.f2py", R::CodeExecution),
    ("numpy.distutils", R::CodeExecution),
    ("numpy.testing", R::CodeExecution),
    ("numpy.ctypeslib", R::Interpreter),
    ("numpy.lib.npyio", R::NestedLoader),
    ("numpy.lib.format", R::NestedLoader),
    ("numpy.lib.utils", R::CodeExecution),
    ("torch.hub", R::Network),
    ("torch.jit", R::CodeExecution),
    ("torch._dynamo", R::CodeExecution),
    ("torch._inductor", R::CodeExecution),
    ("torch.compiler", R::CodeExecution),
    ("torch.fx", R::CodeExecution),
    ("torch.package", R::NestedLoader),
    ("torch.utils.cpp_extension", R::CodeExecution),
    ("torch.utils.collect_env", R::Process),
    ("torch.utils.bottleneck", R::CodeExecution),
    ("torch.utils._config_module", R::NestedLoader),
    ("torch.utils.data.datapipes", R::NestedLoader),
    ("torch.distributed", R::Network),
    ("torch.multiprocessing", R::Process),
    ("torch.ops", R::CodeExecution),
    ("torch._ops", R::CodeExecution),
    ("torch._C", R::Interpreter),
    ("torch._classes", R::CodeExecution),
    ("fickling", R::ScannerTampering),
    ("picklescan", R::ScannerTampering),
    ("modelscan", R::ScannerTampering),
    ("modelaudit", R::ScannerTampering),
    ("model_unpickler", R::ScannerTampering),
    ("saferpickle", R::ScannerTampering),
];

/// Exact pairs inside a denied module that are not dangerous by themselves.
/// `copyreg._reconstructor(cls, base, state)` is how protocol 0/1 pickle any
/// plain object (`base.__new__(cls, state)` then `base.__init__`): its
/// `cls` and `base` are globals of their own, classified separately, so the
/// call adds no power. Not allowed either (unknown): no profile needs it.
const DENY_EXEMPT: &[(&str, &str)] = &[
    ("copyreg", "_reconstructor"),
    ("copy_reg", "_reconstructor"),
];

/// Exact `(module, name)` pairs denied in modules not denied as a whole.
const DENY_PAIRS: &[(&str, &str, DangerReason)] = &[
    ("torch", "load", R::NestedLoader),
    ("torch", "compile", R::CodeExecution),
    ("torch", "save", R::FileSystem),
    ("torch", "from_file", R::FileSystem),
    ("torch.serialization", "load", R::NestedLoader),
    ("torch.serialization", "_load", R::NestedLoader),
    ("torch.serialization", "_legacy_load", R::NestedLoader),
    ("torch.serialization", "save", R::FileSystem),
    ("torch.storage", "_load_from_bytes", R::NestedLoader),
    ("torch.storage", "from_file", R::FileSystem),
    (
        "torch.jit.unsupported_tensor_ops",
        "execWrapper",
        R::CodeExecution,
    ),
    ("numpy", "load", R::NestedLoader),
    ("numpy", "loads", R::NestedLoader),
    ("numpy", "loadtxt", R::FileSystem),
    ("numpy", "genfromtxt", R::FileSystem),
    ("numpy", "fromfile", R::FileSystem),
    ("numpy", "fromregex", R::FileSystem),
    ("numpy", "memmap", R::FileSystem),
    ("numpy", "save", R::FileSystem),
    ("numpy", "savez", R::FileSystem),
    ("numpy", "savez_compressed", R::FileSystem),
    ("numpy", "savetxt", R::FileSystem),
    ("numpy", "tofile", R::FileSystem),
    ("numpy", "DataSource", R::Network),
    ("numpy", "safe_eval", R::CodeExecution),
    ("numpy", "__builtins__", R::AttributeGadget),
    ("numpy", "core", R::AttributeGadget),
];

/// Builtins whose use is harmless on their own (fickling's SAFE_BUILTINS);
/// any other builtin is treated as dangerous.
const HARMLESS_BUILTINS: &[&str] = &[
    "abs",
    "all",
    "any",
    "ascii",
    "bin",
    "bool",
    "bytearray",
    "bytes",
    "callable",
    "chr",
    "complex",
    "dict",
    "divmod",
    "enumerate",
    "filter",
    "float",
    "format",
    "frozenset",
    "hash",
    "hex",
    "id",
    "int",
    "isinstance",
    "issubclass",
    "iter",
    "len",
    "list",
    "map",
    "max",
    "min",
    "next",
    "object",
    "oct",
    "ord",
    "pow",
    "range",
    "repr",
    "reversed",
    "round",
    "set",
    "slice",
    "sorted",
    "str",
    "sum",
    "tuple",
    "zip",
    "long",
    "unicode",
    "basestring",
    "xrange",
    "NotImplemented",
    "Ellipsis",
    "True",
    "False",
    "None",
    "float",
    "memoryview",
];

const BUILTIN_MODULES: &[&str] = &["builtins", "__builtin__", "__builtins__"];

fn builtin_reason(name: &str) -> DangerReason {
    match name {
        "open" | "file" => R::FileSystem,
        "__import__" | "reload" => R::Import,
        "getattr" | "setattr" | "delattr" | "vars" | "globals" | "locals" | "dir" | "super"
        | "type" | "property" | "classmethod" | "staticmethod" => R::AttributeGadget,
        _ => R::CodeExecution,
    }
}

fn module_denied(module: &str) -> Option<DangerReason> {
    DENY_MODULES.iter().find_map(|(m, r)| {
        let hit = module == *m
            || (module.len() > m.len()
                && module.starts_with(m)
                && module.as_bytes().get(m.len()) == Some(&b'.'));
        hit.then_some(*r)
    })
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c == '_' || c.is_alphabetic() => {}
        _ => return false,
    }
    chars.all(|c| c == '_' || c.is_alphanumeric())
}

/// The deny-list verdict for a `(module, name)` pair, if any.
///
/// The pair is read as one attribute path `module.name` (what a resolver that
/// follows dotted names would reach). Checks: every prefix of the path
/// against the denied modules (`pathlib` + `os.system` reaches `os`;
/// `torch` + `hub.load` reaches `torch.hub`); every `(prefix, next
/// component)` against the denied pairs (`torch.compile` + `x` reaches
/// `torch.compile`); builtins other than harmless ones (`builtins` +
/// `eval.__call__` reaches `eval`); dunder components (`__globals__`,
/// `__builtins__`, `__call__`) as attribute gadgets; and names that are not
/// identifier paths.
pub fn deny_reason(module: &str, name: &str) -> Option<DangerReason> {
    if DENY_EXEMPT.contains(&(module, name)) {
        return None;
    }
    let all: Vec<&str> = module.split('.').chain(name.split('.')).collect();
    let module_len = module.split('.').count();
    // Read the path from its start and, for dotted names, from every name
    // component on (`__future__` + `_ssl.RAND_bytes` reaches `_ssl`).
    let name_starts = if name.contains('.') {
        module_len..all.len()
    } else {
        0..0
    };
    for start in std::iter::once(0).chain(name_starts) {
        if let Some(r) = deny_path(&all[start..]) {
            return Some(r);
        }
    }
    let comps = all;
    if comps
        .iter()
        .any(|c| c.len() > 4 && c.starts_with("__") && c.ends_with("__"))
        && module != "__future__"
    {
        return Some(R::AttributeGadget);
    }
    if comps.len() > module_len + 1 {
        // Dotted attribute paths reaching notorious callables by name.
        if comps[module_len..].iter().any(|c| {
            matches!(
                *c,
                "eval"
                    | "exec"
                    | "compile"
                    | "open"
                    | "getattr"
                    | "__import__"
                    | "system"
                    | "popen"
            )
        }) {
            return Some(R::CodeExecution);
        }
    }
    if !module.split('.').all(is_identifier) || !name.split('.').all(is_identifier) {
        // Not something `find_class` could import legitimately: a smuggling attempt.
        return Some(R::DynamicName);
    }
    None
}

fn deny_path(comps: &[&str]) -> Option<DangerReason> {
    for i in 1..=comps.len() {
        let prefix = comps[..i].join(".");
        if let Some(r) = module_denied(&prefix) {
            return Some(r);
        }
        if let Some(next) = comps.get(i) {
            if let Some((_, _, r)) = DENY_PAIRS
                .iter()
                .find(|(m, n, _)| *m == prefix && n == next)
            {
                return Some(*r);
            }
            if BUILTIN_MODULES.contains(&prefix.as_str()) && !HARMLESS_BUILTINS.contains(next) {
                return Some(builtin_reason(next));
            }
        }
        // A builtins module reached through an attribute (`x` + `__builtins__.eval`).
        if i > 1 && BUILTIN_MODULES.contains(&comps[i - 1]) {
            return Some(R::AttributeGadget);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_allow() {
        assert_eq!(
            Profile::Torch.classify("torch._utils", "_rebuild_tensor_v2"),
            GlobalClass::Allowed
        );
        assert_eq!(
            Profile::Torch.classify("torch._utils", "_rebuild_tensor_v2.x"),
            GlobalClass::Unknown
        );
        assert_eq!(
            Profile::Torch.classify("torch._util", "_rebuild_tensor_v2"),
            GlobalClass::Unknown
        );
        assert_eq!(
            Profile::Torch.classify("numpy", "ndarray"),
            GlobalClass::Unknown
        );
        assert_eq!(
            Profile::Torch.classify("joblib.numpy_pickle", "NumpyArrayWrapper"),
            GlobalClass::Unknown
        );
        assert_eq!(
            Profile::Torch.classify("joblib", "load"),
            GlobalClass::Dangerous {
                reason: DangerReason::NestedLoader
            }
        );
    }

    #[test]
    fn deny() {
        assert!(deny_reason("posix", "system").is_some());
        assert!(deny_reason("os.path", "join").is_some());
        assert!(deny_reason("osx", "x").is_none());
        assert!(deny_reason("builtins", "eval.__call__").is_some());
        assert!(deny_reason("pathlib2", "os.system").is_some());
        assert!(deny_reason("builtins", "getattr").is_some());
        assert!(deny_reason("builtins", "list").is_none());
        assert!(deny_reason("numpy", "__builtins__").is_some());
        assert!(deny_reason("asyncio.unix_events", "x").is_some());
        assert!(deny_reason("foo", "bar baz").is_some());
        assert!(deny_reason("torch.compile", "dangerous").is_some());
        assert!(deny_reason("torch", "hub.load").is_some());
        assert!(deny_reason("numpy", "f2py").is_some());
        assert!(deny_reason("collections", "OrderedDict").is_none());
        assert!(deny_reason("mymod", "__builtins__.eval").is_some());
        assert!(deny_reason("__builtin__", "eval").is_some());
        assert!(deny_reason("__future__", "_ssl.RAND_bytes").is_some());
        assert!(deny_reason("__future__", "annotations").is_none());
        assert!(deny_reason("mypkg.layers", "profile").is_none());
        assert!(deny_reason("mypkg.layers", "os.system").is_some());
    }
}
