//! `tensorseal`: convert, inspect, verify and export sealed model containers.
#![forbid(unsafe_code)]

// First, so its `say!` and `tell!` macros are in scope everywhere.
#[macro_use]
mod report;
mod cmd;
mod meta;
mod ops;
mod passphrase;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit status for usage errors (sysexits' EX_USAGE).
const EXIT_USAGE: u8 = 64;

#[derive(Parser)]
#[command(
    name = "tensorseal",
    version,
    about = "Sealed, verifiable containers for model weights"
)]
struct Cli {
    #[command(flatten)]
    globals: ops::GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Convert a model file (safetensors, PyTorch, NumPy, joblib, scikit-learn pickle) into a container.
    Convert(cmd::convert::Args),
    /// Inspect model files without running them: format, globals, findings, verdict.
    Inspect(cmd::inspect::Args),
    /// List a container's metadata and tensors.
    Ls(cmd::ls::Args),
    /// Verify a container (structure, signatures, every digest) or any model file against its detached signature.
    Verify(cmd::verify::Args),
    /// Export a container's tensors to .safetensors.
    Export(cmd::export::Args),
    /// Run the whole pipeline on a bundled model, offline, in seconds.
    Demo(cmd::demo::Args),
    /// Make a signer or recipient key pair.
    Keygen(cmd::keygen::Args),
    /// Sign a container (embedded; its data is not touched) or any other model file (detached FILE.sig.json).
    Sign(cmd::sign::Args),
    /// Give a recipient the keys of some tensors' slices only.
    Grant(cmd::grant::Args),
    /// Verify every model file under a directory (CI gate): exit 0 only when all pass.
    Audit(cmd::audit::Args),
    /// Security event log: `log verify FILE` checks its hash chain.
    Log(cmd::log::Args),
}

/// A failed command: the message and the exit status.
pub struct Failure {
    message: String,
    status: u8,
}

impl Failure {
    /// A failure with exit status 1.
    pub fn new(message: impl std::fmt::Display) -> Self {
        Failure {
            message: message.to_string(),
            status: 1,
        }
    }

    /// A usage error (exit status 64): the command line asks for something
    /// that cannot be done, e.g. an output that is the input itself.
    pub fn usage(message: impl std::fmt::Display) -> Self {
        Failure {
            message: message.to_string(),
            status: EXIT_USAGE,
        }
    }

    /// Could not decide (missing file, bad key, log not writable): exit 2.
    pub fn operational(message: impl std::fmt::Display) -> Self {
        Failure {
            message: message.to_string(),
            status: 2,
        }
    }

    /// A failure that was already reported (e.g. in JSON); only the status remains.
    pub fn silent(status: u8) -> Self {
        Failure {
            message: String::new(),
            status,
        }
    }
}

impl From<tensorseal::Error> for Failure {
    fn from(e: tensorseal::Error) -> Self {
        Failure::new(e)
    }
}

/// Result of a command.
pub type CmdResult = Result<(), Failure>;

/// `tensorseal ls ... | head` closes stdout early: end quietly, as a Unix tool
/// does on SIGPIPE, instead of printing a panic.
fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    quiet_broken_pipe();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            if !e.use_stderr() {
                // --help and --version: our own text.
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            // Usage errors quote the arguments given, which may hold controls.
            let text = e.render().to_string();
            eprint_raw(&report::escape_keep_newlines(&text));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    ops::init(cli.globals.clone());
    let result = match cli.command {
        Command::Convert(a) => cmd::convert::run(a),
        Command::Inspect(a) => cmd::inspect::run(a),
        Command::Ls(a) => cmd::ls::run(a),
        Command::Verify(a) => cmd::verify::run(a),
        Command::Export(a) => cmd::export::run(a),
        Command::Demo(a) => cmd::demo::run(a),
        Command::Keygen(a) => cmd::keygen::run(a),
        Command::Sign(a) => cmd::sign::run(a),
        Command::Grant(a) => cmd::grant::run(a),
        Command::Audit(a) => cmd::audit::run(a),
        Command::Log(a) => cmd::log::run(a),
    };
    // Every command that logged ends with a signed checkpoint (with a key).
    let result = match (result, ops::finish_log()) {
        (r, Ok(())) => r,
        (_, Err(f)) => Err(f),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if !f.message.is_empty() {
                // Escaped before collapsing whitespace, so a `\r` in a file
                // name shows as `\r`, not as a space.
                tell!(
                    "tensorseal: error: {}",
                    one_line(&report::escape(&f.message))
                );
            }
            ExitCode::from(f.status)
        }
    }
}

/// Writes already-escaped text to stderr as is.
fn eprint_raw(text: &str) {
    use std::io::Write as _;
    let _ = std::io::stderr().write_all(text.as_bytes());
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A path argument shared by several commands.
pub type FileArg = PathBuf;
