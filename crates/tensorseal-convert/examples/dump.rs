//! Print what an import yields (development aid).
use sha2::{Digest, Sha256};
fn main() {
    for path in std::env::args().skip(1) {
        let data = std::fs::read(&path).expect("read");
        let fmt = tensorseal_convert::detect(&data);
        println!("== {path}: {fmt:?}");
        match tensorseal_convert::import(&data, &Default::default()) {
            Ok(imp) => {
                for t in &imp.tensors {
                    let d: String = Sha256::digest(&t.data)
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect();
                    println!(
                        "  T {} {} {:?} {}",
                        t.name,
                        t.dtype.name(),
                        t.shape,
                        &d[..16]
                    );
                }
                for (k, v) in &imp.metadata {
                    let s = format!("{v:?}");
                    println!("  M {k} = {}", &s[..s.len().min(100)]);
                }
            }
            Err(e) => println!("  ERR {e}"),
        }
    }
}
