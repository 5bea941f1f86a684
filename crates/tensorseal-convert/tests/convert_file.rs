//! `convert_file` end to end: the manifest's source record (format, name and a
//! SHA-256 computed on a second thread) matches the input, tensors come back
//! exact, the release hook sees every byte of stored zip data after its CRC
//! check, and a refusal leaves nothing behind.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use tensorseal::{Model, ModelInfo, Policy, WriteOptions};
use tensorseal_convert::zip::{ZipArchive, ZipError, RELEASE_STEP};
use tensorseal_convert::{convert_file, ConvertFileError, ConvertOptions};

use common::{zip, Member};

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "tensorseal-convert-file-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/fixtures")
        .join(rel)
}

fn convert(src: &Path, dest: &Path) -> Result<tensorseal::Manifest, ConvertFileError> {
    let info = ModelInfo {
        model_id: "convert-file-test".into(),
        version: 1,
        ..ModelInfo::default()
    };
    convert_file(
        src,
        dest,
        info,
        WriteOptions::default(),
        &ConvertOptions::default(),
    )
}

#[test]
fn source_record_matches_the_input_and_tensors_are_exact() {
    let dir = TempDir::new("source");
    let src = fixture("torch/mlp_state_dict.pt");
    let dest = dir.0.join("mlp.tseal");
    let manifest = convert(&src, &dest).unwrap();
    let input = std::fs::read(&src).unwrap();
    let source = manifest.model.source.as_ref().expect("source recorded");
    assert_eq!(source.format, "torch-zip");
    assert_eq!(source.file_name, "mlp_state_dict.pt");
    assert_eq!(source.sha256, <[u8; 32]>::from(Sha256::digest(&input)));

    let model = Model::open(&dest, &Policy::allow_unsigned()).unwrap();
    assert_eq!(model.info().source.as_ref(), Some(source));
    let want: &[(&str, &str)] = &[
        (
            "0.weight",
            "b5d2e91adef30f3b59426246c955b1f242881d95c354aabdee8e19ef9d43c782",
        ),
        (
            "2.bias",
            "aa06e377c4b435bba7cf2d4507e64dbea1d80faaec5bfe8ea60e2a591bfd15d4",
        ),
    ];
    for (name, sha) in want {
        let t = model.tensor(name).unwrap();
        let hex: String = Sha256::digest(t.data())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(&hex, sha, "{name}");
    }
}

#[test]
fn a_refused_input_leaves_nothing_behind() {
    let dir = TempDir::new("refused");
    let dest = dir.0.join("out.tseal");
    let err = convert(&fixture("hostile/os_system_p4.pkl"), &dest).unwrap_err();
    assert!(matches!(err, ConvertFileError::Input { .. }), "{err}");
    assert!(!dest.exists());
    let left: Vec<_> = std::fs::read_dir(&dir.0).unwrap().collect();
    assert!(left.is_empty(), "temporary files left behind: {left:?}");
}

/// The hook is told about every stored byte exactly once, in order, in steps
/// of at most `RELEASE_STEP`, and the CRC is still checked over all of it.
#[test]
fn parse_releasing_covers_every_stored_byte() {
    let big: Vec<u8> = (0..RELEASE_STEP * 2 + 12_345)
        .map(|i| (i * 31 % 251) as u8)
        .collect();
    let z = zip(&[
        Member::stored("data.pkl", b"small member"),
        Member::stored("data/0", &big),
    ]);
    let seen = Mutex::new(Vec::new());
    let base = z.as_ptr() as usize;
    let a = ZipArchive::parse_releasing(&z, u64::MAX, &|part: &[u8]| {
        assert!(part.len() <= RELEASE_STEP);
        let off = part.as_ptr() as usize - base;
        seen.lock().unwrap().push((off, part.len()));
    })
    .unwrap();
    let seen = seen.into_inner().unwrap();
    let mut want = Vec::new();
    for e in a.entries() {
        let mut at = e.data_offset as usize;
        let end = at + e.compressed_size as usize;
        while at < end {
            let n = (end - at).min(RELEASE_STEP);
            want.push((at, n));
            at += n;
        }
    }
    assert_eq!(seen, want);
    assert_eq!(
        seen.len(),
        4,
        "one step for the small member, three for the big one"
    );

    // Tampering at the very end of the big member is still caught.
    let mut bad = z.clone();
    let e = &a.entries()[1];
    let last = (e.data_offset + e.compressed_size - 1) as usize;
    bad[last] ^= 1;
    let calls = Arc::new(Mutex::new(0usize));
    let c = Arc::clone(&calls);
    let r = ZipArchive::parse_releasing(&bad, u64::MAX, &move |_| *c.lock().unwrap() += 1);
    assert!(matches!(r, Err(ZipError::Crc { .. })), "{:?}", r.err());
    assert_eq!(*calls.lock().unwrap(), 4);
}
