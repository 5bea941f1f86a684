//! Key files: formats, typed errors, age interoperability, file writing.

use std::sync::OnceLock;

use tensorseal_crypto::{
    detect_kind, parse_key, parse_recipient_public_key, parse_recipient_secret_key,
    parse_signing_key, parse_verifying_key, write_public_key_file, write_secret_key_file, AnyKey,
    Error, KeyKind, RecipientSecretKey, SigningKey,
};

fn signer() -> &'static SigningKey {
    static K: OnceLock<SigningKey> = OnceLock::new();
    K.get_or_init(|| SigningKey::from_bytes(&[0x11; 64]).unwrap())
}

fn recipient() -> &'static RecipientSecretKey {
    static K: OnceLock<RecipientSecretKey> = OnceLock::new();
    K.get_or_init(|| RecipientSecretKey::from_bytes(&[0x22; 32]).unwrap())
}

fn texts() -> [(KeyKind, String); 4] {
    [
        (KeyKind::SignerSecret, signer().to_text().to_string()),
        (KeyKind::SignerPublic, signer().verifying_key().to_text()),
        (KeyKind::RecipientSecret, recipient().to_text().to_string()),
        (KeyKind::RecipientPublic, recipient().public_key().to_text()),
    ]
}

#[test]
fn round_trip_all_kinds() {
    for (kind, text) in texts() {
        let key = parse_key(&text).unwrap();
        assert_eq!(key.kind(), kind);
        assert_eq!(detect_kind(&text).unwrap(), kind);
        assert_eq!(key.to_text().as_str(), text, "{kind} text is not stable");
    }
    assert_eq!(
        parse_signing_key(&texts()[0].1).unwrap().to_bytes(),
        signer().to_bytes()
    );
    assert_eq!(
        &parse_verifying_key(&texts()[1].1).unwrap(),
        signer().verifying_key()
    );
    assert_eq!(
        parse_recipient_secret_key(&texts()[2].1)
            .unwrap()
            .to_bytes(),
        recipient().to_bytes()
    );
    assert_eq!(
        &parse_recipient_public_key(&texts()[3].1).unwrap(),
        recipient().public_key()
    );
    let sk = &texts()[0].1;
    assert!(sk.starts_with("-----BEGIN TENSORSEAL SIGNER SECRET KEY-----\n"));
    assert!(sk.contains(&format!("# fingerprint: {}\n", signer().fingerprint())));
    assert!(texts()[1]
        .1
        .starts_with("-----BEGIN TENSORSEAL SIGNER PUBLIC KEY-----\n"));
    assert!(texts()[2].1.contains("\nAGE-SECRET-KEY-PQ-1"));
    assert!(texts()[3].1.starts_with("age1pq1"));
}

#[test]
fn wrong_kind_errors_say_expected_and_found() {
    let t = texts();
    let e = parse_recipient_secret_key(&t[1].1).unwrap_err();
    assert_eq!(
        e.to_string(),
        "expected a recipient secret key, found a signer public key"
    );
    let e = parse_signing_key(&t[2].1).unwrap_err();
    assert_eq!(
        e.to_string(),
        "expected a signer secret key, found a recipient secret key"
    );
    assert!(matches!(
        parse_verifying_key(&t[0].1),
        Err(Error::WrongKeyType {
            expected: KeyKind::SignerPublic,
            found: KeyKind::SignerSecret
        })
    ));
    assert!(matches!(
        parse_recipient_public_key(&t[2].1),
        Err(Error::WrongKeyType {
            expected: KeyKind::RecipientPublic,
            found: KeyKind::RecipientSecret
        })
    ));
    // The kind is reported even when the body is damaged.
    let damaged = t[0].1.replace("-----END", "xx\n-----END");
    assert!(matches!(
        parse_recipient_secret_key(&damaged),
        Err(Error::WrongKeyType { .. })
    ));
}

#[test]
fn age_spec_keys_interoperate() {
    let text = include_str!("vectors/age-spec-keys.txt");
    let mut lines = text.lines();
    let (id, rcpt) = (lines.next().unwrap(), lines.next().unwrap());
    let sk = parse_recipient_secret_key(id).unwrap();
    let pk = parse_recipient_public_key(rcpt).unwrap();
    assert_eq!(
        sk.public_key(),
        &pk,
        "spec identity and recipient do not pair"
    );
    assert_eq!(pk.to_string(), rcpt);
    assert!(sk.to_text().ends_with(&format!("\n{id}\n")));
    // Either case is accepted; mixed case is not.
    assert!(parse_recipient_secret_key(&id.to_lowercase()).is_ok());
    assert!(parse_recipient_public_key(&rcpt.to_uppercase()).is_ok());
    let mixed = format!("{}{}", &id[..20], id[20..].to_lowercase());
    assert!(matches!(
        parse_key(&mixed),
        Err(Error::KeyEncoding {
            kind: KeyKind::RecipientSecret,
            ..
        })
    ));
    // An age-keygen style identity file with comments.
    let file = format!("# created: 2026-01-01T00:00:00Z\n# public key: {rcpt}\n{id}\n");
    assert!(parse_recipient_secret_key(&file).is_ok());
    // ... whose public key comment must match.
    let other = recipient().public_key().to_string();
    let file = format!("# public key: {other}\n{id}\n");
    assert!(matches!(
        parse_key(&file),
        Err(Error::KeyCommentMismatch(KeyKind::RecipientSecret))
    ));
}

#[test]
fn classical_and_foreign_keys_are_named() {
    for s in [
        "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX",
        "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj",
        "age1tag1qt8lw0ual6avlwmwatk888yqnmdamm7xfd0wak53ut6elz5c4swx2yqdj4e",
        "age1yubikey1qds33lxxw9gaj82vqedjulgtedqeqxhv3tnu5f28zq3lpwpp25j4u9fu8kg",
    ] {
        assert!(matches!(parse_key(s), Err(Error::UnsupportedKey(_))), "{s}");
    }
    for s in [
        "",
        "\n# only a comment\n",
        "hello world",
        "-----BEGIN PGP PUBLIC KEY BLOCK-----\nabc\n-----END PGP PUBLIC KEY BLOCK-----\n",
        "-----BEGIN TENSORSEAL SOMETHING-----\n-----END TENSORSEAL SOMETHING-----\n",
    ] {
        assert!(matches!(parse_key(s), Err(Error::KeyArmor(_))), "{s:?}");
    }
    let two = format!("{}{}", texts()[3].1, texts()[3].1);
    assert!(matches!(parse_key(&two), Err(Error::KeyArmor(_))));
    assert!(matches!(
        parse_key(&"a".repeat(70_000)),
        Err(Error::KeyTextTooLarge(70_000))
    ));
}

#[test]
fn armor_damage_is_typed() {
    let t = &texts()[1].1; // public key: long body
                           // Missing END line.
    let no_end: String = t
        .lines()
        .filter(|l| !l.starts_with("-----END"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(matches!(
        parse_key(&no_end),
        Err(Error::KeyTruncated {
            kind: KeyKind::SignerPublic,
            ..
        })
    ));
    // Body lines missing (cut at a 4-character boundary, so valid base64).
    let lines: Vec<&str> = t.lines().collect();
    let cut: Vec<&str> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 5)
        .map(|(_, l)| *l)
        .collect();
    assert!(matches!(
        parse_key(&cut.join("\n")),
        Err(Error::KeyTruncated {
            kind: KeyKind::SignerPublic,
            expected: 1990,
            found: 1942
        })
    ));
    // Extra bytes.
    let mut long = lines.clone();
    long.insert(5, "AAAA");
    assert!(matches!(
        parse_key(&long.join("\n")),
        Err(Error::KeyLength {
            kind: KeyKind::SignerPublic,
            expected: 1990,
            found: 1993
        })
    ));
    // A changed character: checksum.
    let line = lines[6];
    let c = if line.starts_with('A') { "B" } else { "A" };
    let typo = t.replacen(line, &format!("{c}{}", &line[1..]), 1);
    assert!(matches!(
        parse_key(&typo),
        Err(Error::KeyChecksum(KeyKind::SignerPublic))
    ));
    // Not base64.
    let bad = t.replacen(line, &format!("*{}", &line[1..]), 1);
    assert!(matches!(
        parse_key(&bad),
        Err(Error::KeyEncoding {
            kind: KeyKind::SignerPublic,
            ..
        })
    ));
    // BEGIN/END mismatch, text after END, label swap.
    let swapped = t.replace(
        "-----END TENSORSEAL SIGNER PUBLIC KEY",
        "-----END TENSORSEAL SIGNER SECRET KEY",
    );
    assert!(matches!(parse_key(&swapped), Err(Error::KeyArmor(_))));
    assert!(matches!(
        parse_key(&format!("{t}trailing\n")),
        Err(Error::KeyArmor(_))
    ));
    let relabeled = t.replace("PUBLIC", "SECRET");
    assert!(matches!(
        parse_key(&relabeled),
        Err(Error::KeyLength { .. })
    ));
    // Fingerprint comment must match; other comments and CRLF are fine.
    let fp = signer().fingerprint().to_string();
    let wrong = t.replace(&fp, &"0".repeat(64));
    assert!(matches!(
        parse_key(&wrong),
        Err(Error::KeyCommentMismatch(KeyKind::SignerPublic))
    ));
    let crlf = format!("# my key\r\n{}", t.replace('\n', "\r\n"));
    assert!(parse_verifying_key(&crlf).is_ok());
    // Re-wrapped base64 is fine.
    let body: String = lines[3..lines.len() - 1].concat();
    let rewrapped = format!(
        "{}\n{}\n{}\n",
        lines[0],
        body.as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\n"),
        lines[lines.len() - 1]
    );
    assert!(parse_verifying_key(&rewrapped).is_ok());
}

#[test]
fn bech32_damage_is_typed() {
    let t = texts()[3].1.trim().to_string();
    let truncated = &t[..t.len() - 10];
    assert!(matches!(
        parse_key(truncated),
        Err(Error::KeyChecksum(KeyKind::RecipientPublic) | Error::KeyTruncated { .. })
    ));
    let mut chars: Vec<char> = t.chars().collect();
    let i = 100;
    chars[i] = if chars[i] == 'q' { 'p' } else { 'q' };
    let typo: String = chars.into_iter().collect();
    assert!(matches!(
        parse_key(&typo),
        Err(Error::KeyChecksum(KeyKind::RecipientPublic))
    ));
    let bad_char = t.replacen('q', "b", 1);
    assert!(parse_key(&bad_char).is_err());
}

#[test]
fn key_files_on_disk() {
    let dir = std::env::temp_dir().join(format!("tensorseal-crypto-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let t = texts();

    let sk_path = dir.join("signer.key");
    write_secret_key_file(&sk_path, &t[0].1).unwrap();
    assert!(matches!(
        write_secret_key_file(&sk_path, &t[0].1),
        Err(Error::FileExists(_))
    ));
    let back = std::fs::read_to_string(&sk_path).unwrap();
    assert!(matches!(parse_key(&back).unwrap(), AnyKey::SignerSecret(_)));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&sk_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Secret keys never go to public files and vice versa.
    assert!(matches!(
        write_public_key_file(dir.join("x.pub"), &t[2].1),
        Err(Error::WrongKeyType {
            expected: KeyKind::RecipientPublic,
            found: KeyKind::RecipientSecret
        })
    ));
    assert!(matches!(
        write_secret_key_file(dir.join("y.key"), &t[1].1),
        Err(Error::WrongKeyType {
            expected: KeyKind::SignerSecret,
            found: KeyKind::SignerPublic
        })
    ));
    assert!(!dir.join("x.pub").exists() && !dir.join("y.key").exists());

    let pk_path = dir.join("recipient.pub");
    write_public_key_file(&pk_path, &t[3].1).unwrap();
    assert!(matches!(
        write_public_key_file(&pk_path, &t[3].1),
        Err(Error::FileExists(_))
    ));
    assert!(parse_recipient_public_key(&std::fs::read_to_string(&pk_path).unwrap()).is_ok());
    let id_path = dir.join("recipient.key");
    write_secret_key_file(&id_path, &t[2].1).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
