//! tar archives (legacy `torch.load` reads them) are looked into: every
//! regular member is inspected by content, also inside gzip.

use std::io::Write;

use tensorseal_convert::inspect::{inspect_bytes, FileReport, InspectOptions, Verdict};
use tensorseal_convert::{detect, Format};

fn tar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn verdict(b: &[u8]) -> FileReport {
    inspect_bytes(b, &InspectOptions::default())
}

/// Protocol 0: invisible to the embedded-pickle scan of unknown content.
const EVIL_P0: &[u8] = b"cposix\nsystem\n(S'id'\ntR.";
const SAFE_P2: &[u8] = b"\x80\x02}q\x00.";

#[test]
fn tar_members_are_inspected() {
    let t = tar(&[("sys_info", SAFE_P2), ("pickle", EVIL_P0)]);
    assert_eq!(detect(&t), Format::Tar);
    let r = verdict(&t);
    assert_eq!(r.format, Format::Tar);
    assert_eq!(r.verdict, Verdict::Dangerous, "{:?}", r.findings);
    assert_eq!(r.dangerous_globals(), vec!["posix.system".to_owned()]);
    let g = &r.globals[0];
    assert_eq!(g.member.as_deref(), Some("pickle"));
    let safe = verdict(&tar(&[("sys_info", SAFE_P2)]));
    assert_eq!(safe.verdict, Verdict::Safe, "{:?}", safe.findings);
}

#[test]
fn gzipped_tar_is_inspected() {
    let t = tar(&[("pickle", EVIL_P0)]);
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&t).unwrap();
    let gz = e.finish().unwrap();
    let r = verdict(&gz);
    assert_eq!(r.verdict, Verdict::Dangerous, "{:?}", r.findings);
    assert_eq!(r.globals[0].member.as_deref(), Some("<gzip>!pickle"));
}

#[test]
fn a_bad_header_checksum_is_not_a_tar() {
    let mut t = tar(&[("pickle", SAFE_P2)]);
    t[0] ^= 1;
    assert_ne!(detect(&t), Format::Tar);
    assert_ne!(verdict(&t).verdict, Verdict::Safe);
}

#[test]
fn a_tar_is_a_model_file_for_the_audit_gate() {
    let t = tar(&[("sys_info", SAFE_P2)]);
    assert!(matches!(
        tensorseal_convert::loadable::judge(&t),
        tensorseal_convert::loadable::Judgement::Model {
            format: Format::Tar,
            ..
        }
    ));
}
