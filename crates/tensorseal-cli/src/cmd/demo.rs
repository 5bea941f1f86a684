//! `tensorseal demo`: the whole pipeline on a bundled model, offline.

use std::path::Path;

use ndarray::{Array1, Ix1, Ix2};
use std::sync::Arc;

use tensorseal::crypto::{write_public_key_file, write_secret_key_file};
use tensorseal::{
    MetaValue, Model, ModelInfo, OpenOptions, Policy, RecipientSecretKey, SigningKey, TrustStore,
    WriteOptions,
};
use tensorseal_convert::inspect::inspect_bytes;
use tensorseal_convert::{convert_file, ConvertOptions, InspectOptions};

use crate::meta::hex;
use crate::{CmdResult, Failure};

/// A real `torch.save` checkpoint: the state dict of an MLP (Linear(4,8), ReLU,
/// Linear(8,2)), a zip with a pickle inside.
const MLP: &[u8] = include_bytes!("../../../../tests/data/fixtures/torch/mlp_state_dict.pt");
/// A hostile pickle that calls `os.system` when unpickled.
const HOSTILE: &[u8] = include_bytes!("../../../../tests/data/fixtures/hostile/os_system_p4.pkl");
/// The fixed input of the forward pass.
const INPUT: [f32; 4] = [0.5, -1.0, 2.0, 0.25];

/// Arguments of `demo`.
#[derive(clap::Args)]
pub struct Args {
    /// Keep the files in this directory instead of a temporary one.
    #[arg(long)]
    keep: Option<std::path::PathBuf>,
}

/// Numbers and prints the demo's steps.
#[derive(Default)]
struct Steps(u32);

impl Steps {
    fn next(&mut self, what: &str) {
        self.0 += 1;
        say!();
        say!("[{}] {what}", self.0);
    }
}

/// Runs the demo.
pub fn run(a: Args) -> CmdResult {
    let tmp = tempfile::tempdir().map_err(|e| Failure::new(format!("temporary directory: {e}")))?;
    let dir = a.keep.as_deref().unwrap_or(tmp.path());
    std::fs::create_dir_all(dir).map_err(|e| Failure::new(format!("{}: {e}", dir.display())))?;
    let mut steps = Steps::default();
    let src = dir.join("mlp_state_dict.pt");
    let sealed = dir.join("mlp.tseal");
    std::fs::write(&src, MLP).map_err(|e| Failure::new(format!("{}: {e}", src.display())))?;

    steps.next("Inspect a torch.save checkpoint and a hostile pickle, executing neither");
    for (name, bytes) in [("mlp_state_dict.pt", MLP), ("os_system_p4.pkl", HOSTILE)] {
        let r = inspect_bytes(bytes, &InspectOptions::default());
        let globals: Vec<String> = r
            .globals
            .iter()
            .map(|g| format!("{}.{} ({})", g.module, g.name, g.class))
            .collect();
        say!(
            "    {name:<18} {} {}: {}",
            r.format,
            r.verdict.as_str(),
            globals.join(", ")
        );
    }

    steps.next("Convert the checkpoint into a container (the pickle is read, never run)");
    let info = ModelInfo {
        model_id: "demo/mlp".into(),
        version: 1,
        metadata: vec![("task".into(), MetaValue::Str("demo".into()))],
        ..ModelInfo::default()
    };
    let options = WriteOptions {
        overwrite: true,
        ..WriteOptions::default()
    };
    let m = convert_file(&src, &sealed, info, options, &ConvertOptions::default())
        .map_err(Failure::new)?;
    say!(
        "    wrote {} ({} tensors, {} slices)",
        sealed.display(),
        m.tensors.len(),
        m.slices.len()
    );

    steps.next("Open it: validate the structure, verify every slice digest, map zero-copy");
    let model = Model::open(&sealed, &Policy::allow_unsigned())?;
    for t in model.tensors() {
        let t = t?;
        say!(
            "    {:<9} {:<4} {:<7} offset {:>5} (64-aligned: {})  sha256:{}…",
            t.name(),
            t.dtype(),
            format!("{:?}", t.shape()),
            t.offset(),
            t.offset() % 64 == 0,
            &hex(&t.sha256())[..16]
        );
    }

    steps.next("Run one forward pass with ndarray on the mapped weights");
    let y_plain = forward(&model, true)?;

    steps.next("Flip one bit of a weight and verify again");
    let mut bytes =
        std::fs::read(&sealed).map_err(|e| Failure::new(format!("{}: {e}", sealed.display())))?;
    let target = model.tensor("2.weight")?.offset() as usize + 5;
    bytes[target] ^= 0x01;
    let tampered = dir.join("mlp-tampered.tseal");
    write(&tampered, &bytes)?;
    match Model::open(&tampered, &Policy::allow_unsigned()) {
        Err(e) => say!("    refused, as it must be: {e}"),
        Ok(_) => return Err(Failure::new("a tampered file opened: this is a bug")),
    }

    steps.next("Open without --allow-unsigned");
    match Model::open(&sealed, &Policy::require_signature()) {
        Err(e) => say!("    refused, as it must be: {e}"),
        Ok(_) => {
            return Err(Failure::new(
                "an unsigned file opened under a signature policy: this is a bug",
            ))
        }
    }

    steps.next("Generate a signer (ML-DSA-65 + Ed25519) and a recipient (X-Wing) key pair");
    let signer = SigningKey::generate_os().map_err(Failure::new)?;
    let recipient = RecipientSecretKey::generate_os().map_err(Failure::new)?;
    for (name, secret, public) in [
        ("signer", signer.to_text(), signer.verifying_key().to_text()),
        (
            "recipient",
            recipient.to_text(),
            recipient.public_key().to_text(),
        ),
    ] {
        let (k, p) = (
            dir.join(format!("{name}.key")),
            dir.join(format!("{name}.pub")),
        );
        // The demo's own files from an earlier run with --keep are replaced.
        let _ = (std::fs::remove_file(&k), std::fs::remove_file(&p));
        write_secret_key_file(&k, &secret).map_err(Failure::new)?;
        write_public_key_file(&p, &public).map_err(Failure::new)?;
    }
    say!("    signer    {}", signer.fingerprint());
    say!("    recipient {}", recipient.fingerprint());
    let mut store = TrustStore::new();
    store.add(signer.verifying_key().clone());
    let trusted = Policy::require_signature().trust(store);

    steps.next("Seal the MLP: per-slice encryption to the recipient, signed by the signer");
    let sealed2 = dir.join("mlp-sealed.tseal");
    let info = ModelInfo {
        model_id: "demo/mlp".into(),
        version: 2,
        ..ModelInfo::default()
    };
    let options = WriteOptions {
        overwrite: true,
        signers: vec![Arc::new(signer)],
        recipients: vec![recipient.public_key().clone()],
        ..WriteOptions::default()
    };
    let m = convert_file(&src, &sealed2, info, options, &ConvertOptions::default())
        .map_err(Failure::new)?;
    say!(
        "    wrote {} ({} encrypted slices, ciphertext at the plaintext offsets)",
        sealed2.display(),
        m.slices.len()
    );

    steps.next("Verify it with the trusted signer's public key only (no decryption key)");
    let keyless = Model::open(&sealed2, &trusted)?;
    say!(
        "    OK: signature by a trusted signer, {} slice digests over ciphertext and tags verified",
        keyless.manifest().slices.len()
    );
    match keyless.tensor("0.weight") {
        Err(e) => say!("    reading a tensor without a key is refused: {e}"),
        Ok(_) => {
            return Err(Failure::new(
                "an encrypted tensor was read without a key: this is a bug",
            ))
        }
    }

    steps.next(
        "Open it with the recipient's identity and run the forward pass on decrypted weights",
    );
    let opened = Model::open_with(
        &sealed2,
        &trusted,
        OpenOptions::new().identity(recipient.clone()),
    )?;
    let y_sealed = forward(&opened, false)?;
    if y_sealed != y_plain {
        return Err(Failure::new(
            "decrypted weights give another output: this is a bug",
        ));
    }
    say!("    same output as the plaintext model");

    steps.next("Refusals: a wrong key, an untrusted signer, a flipped byte");
    let stranger = RecipientSecretKey::generate_os().map_err(Failure::new)?;
    refused(
        "wrong key",
        Model::open_with(&sealed2, &trusted, OpenOptions::new().identity(stranger)),
    )?;
    let mut other = TrustStore::new();
    other.add(
        SigningKey::generate_os()
            .map_err(Failure::new)?
            .verifying_key()
            .clone(),
    );
    refused(
        "untrusted signer",
        Model::open(&sealed2, &Policy::require_signature().trust(other)),
    )?;
    let mut bytes =
        std::fs::read(&sealed2).map_err(|e| Failure::new(format!("{}: {e}", sealed2.display())))?;
    let target = opened.manifest().tensors[0].offset as usize + 3;
    bytes[target] ^= 0x01;
    let tampered2 = dir.join("mlp-sealed-tampered.tseal");
    write(&tampered2, &bytes)?;
    refused(
        "flipped ciphertext byte",
        Model::open_with(&tampered2, &trusted, OpenOptions::new().identity(recipient)),
    )?;
    say!();
    say!("demo complete: convert, verify, zero-copy load and inference, tamper detection, signing, encryption");
    Ok(())
}

fn refused(what: &str, r: tensorseal::Result<Model>) -> CmdResult {
    match r {
        Err(e) => {
            say!("    {what}: refused, as it must be: {e}");
            Ok(())
        }
        Ok(_) => Err(Failure::new(format!("{what}: accepted: this is a bug"))),
    }
}

/// relu(0.weight · x + 0.bias), then 2.weight · h + 2.bias.
fn forward(model: &Model, show: bool) -> Result<Array1<f32>, Failure> {
    let x = Array1::from(INPUT.to_vec());
    let t = |n: &str| model.tensor(n);
    let (w1, b1, w2, b2) = (t("0.weight")?, t("0.bias")?, t("2.weight")?, t("2.bias")?);
    let dims = |e: ndarray::ShapeError| Failure::new(format!("unexpected tensor shape: {e}"));
    let w1 = w1
        .array_view::<f32>()?
        .into_dimensionality::<Ix2>()
        .map_err(dims)?;
    let b1 = b1
        .array_view::<f32>()?
        .into_dimensionality::<Ix1>()
        .map_err(dims)?;
    let w2 = w2
        .array_view::<f32>()?
        .into_dimensionality::<Ix2>()
        .map_err(dims)?;
    let b2 = b2
        .array_view::<f32>()?
        .into_dimensionality::<Ix1>()
        .map_err(dims)?;
    let h = (w1.dot(&x) + b1).mapv(|v| v.max(0.0));
    let y = w2.dot(&h) + b2;
    if show {
        say!("    input  = {x}");
        say!("    hidden = relu(0.weight · input + 0.bias) = {h:.4}");
    }
    say!("    output = 2.weight · hidden + 2.bias = {y:.6}");
    Ok(y)
}

fn write(path: &Path, bytes: &[u8]) -> CmdResult {
    std::fs::write(path, bytes).map_err(|e| Failure::new(format!("{}: {e}", path.display())))
}
