//! The candle peer corpus (benign PyTorch/NumPy files from candle's tests),
//! read in place: `TENSORSEAL_PEER_CORPUS` names the peer-corpus root (the
//! directory holding `candle/labels.json`). Unset: skipped visibly. Set but
//! missing: failure. The files are never copied into this repository.

use std::path::PathBuf;

use tensorseal_convert::{detect, import, ConvertOptions, Format};

#[test]
fn candle_peer_corpus() {
    let Some(root) = std::env::var_os("TENSORSEAL_PEER_CORPUS") else {
        // Written to the stderr handle directly so that libtest does not
        // capture it: the skip is visible in every run.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: candle peer corpus (set TENSORSEAL_PEER_CORPUS to the peer-corpus directory)"
        );
        return;
    };
    let dir = PathBuf::from(root).join("candle");
    let labels_path = dir.join("labels.json");
    let text = std::fs::read_to_string(&labels_path).unwrap_or_else(|e| {
        panic!("TENSORSEAL_PEER_CORPUS set but {labels_path:?} unreadable: {e}")
    });
    let labels: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&text).expect("labels.json");
    assert!(!labels.is_empty());
    for (file, label) in &labels {
        let data = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let format = detect(&data);
        assert!(
            matches!(format, Format::TorchZip | Format::Npy | Format::Npz),
            "{file}: {format:?}"
        );
        let result = import(&data, &ConvertOptions::default());
        match label.as_str() {
            Some("safe") => {
                let imp = result.unwrap_or_else(|e| panic!("{file}: {e}"));
                assert!(!imp.tensors.is_empty(), "{file}: no tensors");
                println!("{file}: {} tensor(s)", imp.tensors.len());
                if file == "fortran_tensor_3d.pth" {
                    // A column-major view of arange(1, 25): C order must be 1..=24.
                    let t = &imp.tensors[0];
                    assert_eq!(t.shape, vec![2, 3, 4]);
                    let vals: Vec<i64> = t
                        .data
                        .chunks_exact(8)
                        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
                        .collect();
                    assert_eq!(vals, (1..=24).collect::<Vec<i64>>());
                }
            }
            _ => assert!(result.is_err(), "{file}: labelled {label} but converted"),
        }
    }
}
