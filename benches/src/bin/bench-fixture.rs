//! Prints the path of the 1 GiB verification container, building it first if
//! needed (the same file `benches/verify.rs` uses), for `scripts/verify_cli.sh`.
fn main() {
    println!("{}", tensorseal_benches::verify_container().display());
}
