//! One module per subcommand.

pub mod convert;
pub mod demo;
pub mod export;
pub mod ls;
pub mod verify;

use tensorseal::Policy;

/// The policy flags shared by every command that opens a container.
#[derive(clap::Args, Debug, Clone)]
pub struct PolicyArgs {
    /// Open files that carry no signature (integrity is still checked).
    #[arg(long)]
    pub allow_unsigned: bool,
}

impl PolicyArgs {
    /// The library policy these flags describe.
    pub fn policy(&self) -> Policy {
        if self.allow_unsigned {
            Policy::allow_unsigned()
        } else {
            Policy::require_signature()
        }
    }
}
