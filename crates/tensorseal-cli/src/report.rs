//! Printing: human text by default, one JSON document with `--json`.
//!
//! File names, model ids, metadata, tensor names, pickle globals and error
//! messages all come from untrusted files or users. A carriage return or an
//! escape sequence in any of them could rewrite what a terminal shows (a
//! dangerous pickle reading as `PASS`), and bidi overrides or invisible
//! format characters could reorder or hide text. So every human-readable line
//! goes through [`escape`] as a whole (`say!` on stdout, `tell!` on
//! stderr): no line is printed with `println!` directly, and a test in this
//! module checks that. JSON output escapes the same characters as `\uXXXX`
//! (still the same JSON strings).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

use serde::Serialize as _;
use serde_json::Value;

/// Prints one human-readable line on stdout, escaped (see [`escape`]).
macro_rules! say {
    () => {
        $crate::report::say_line("")
    };
    ($($arg:tt)*) => {
        $crate::report::say_line(&format!($($arg)*))
    };
}

/// Prints one human-readable line on stderr, escaped (see [`escape`]).
macro_rules! tell {
    ($($arg:tt)*) => {
        $crate::report::tell_line(&format!($($arg)*))
    };
}

/// Whether `c` must not reach a terminal raw: C0 and C1 controls, DEL, line
/// and paragraph separators, bidi embeddings, overrides and isolates, and the
/// other invisible format characters (Unicode category Cf) and fillers.
pub fn is_hidden(c: char) -> bool {
    matches!(
        c,
        '\u{0}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{ad}'
            | '\u{34f}'
            | '\u{61c}'
            | '\u{115f}'..='\u{1160}'
            | '\u{17b4}'..='\u{17b5}'
            | '\u{180b}'..='\u{180f}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{3164}'
            | '\u{fe00}'..='\u{fe0f}'
            | '\u{feff}'
            | '\u{ffa0}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0000}'..='\u{e0fff}'
            | '\u{600}'..='\u{605}'
            | '\u{6dd}'
            | '\u{70f}'
            | '\u{890}'..='\u{891}'
            | '\u{8e2}'
            | '\u{110bd}'
            | '\u{110cd}'
            | '\u{13430}'..='\u{1343f}'
    )
}

/// `s` with every [`is_hidden`] character written visibly: `\t`, `\n`, `\r`,
/// `\xNN` for the other controls below U+0100, `\u{NNNN}` above. Other text,
/// including backslashes, is kept as is (escaping is for the terminal's
/// safety, not a reversible encoding).
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_hidden) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if is_hidden(c) && (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_hidden(c) => {
                let _ = write!(out, "\\u{{{:04x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Like [`escape`] but keeps line breaks, for multi-line text whose lines
/// are all ours (clap's usage errors, which quote the arguments given).
pub fn escape_keep_newlines(s: &str) -> String {
    s.split('\n')
        .map(|l| escape(l).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Prints `line` on stdout, escaped. Use `say!`.
pub fn say_line(line: &str) {
    println!("{}", escape(line));
}

/// Prints `line` on stderr, escaped. Use `tell!`.
pub fn tell_line(line: &str) {
    eprintln!("{}", escape(line));
}

/// Writes JSON strings with [`is_hidden`] characters as `\uXXXX` escapes
/// (serde_json escapes only those below U+0020).
struct SafeJson;

impl serde_json::ser::Formatter for SafeJson {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if is_hidden(c) {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    write!(writer, "\\u{:04x}", u)?;
                }
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

/// `v` as one line of JSON, hidden characters escaped.
pub fn json_text(v: &Value) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, SafeJson);
    match v.serialize(&mut ser) {
        Ok(()) => String::from_utf8(out).unwrap_or_else(|_| v.to_string()),
        // Serializing a Value into memory cannot fail; fall back to serde's own.
        Err(_) => v.to_string(),
    }
}

/// Prints a JSON value on one line.
pub fn json_line(v: &Value) {
    println!("{}", json_text(v));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_are_escaped() {
        assert_eq!(
            escape("evil\r\x1b[32mPASS\x1b[0m.pkl"),
            "evil\\r\\x1b[32mPASS\\x1b[0m.pkl"
        );
        assert_eq!(escape("a\u{202e}lmth.exe"), "a\\u{202e}lmth.exe");
        assert_eq!(escape("x\u{2066}y\u{2069}"), "x\\u{2066}y\\u{2069}");
        assert_eq!(
            escape("nel\u{85}csi\u{9b}del\u{7f}"),
            "nel\\x85csi\\x9bdel\\x7f"
        );
        assert_eq!(
            escape("zw\u{200b}j\u{200d}bom\u{feff}"),
            "zw\\u{200b}j\\u{200d}bom\\u{feff}"
        );
        assert_eq!(escape("tag\u{e0041}"), "tag\\u{e0041}");
        assert_eq!(escape("ls\u{2028}ps\u{2029}"), "ls\\u{2028}ps\\u{2029}");
        assert_eq!(escape("tab\there\nnl\0"), "tab\\there\\nnl\\x00");
    }

    #[test]
    fn ordinary_text_is_kept() {
        for s in [
            "model.pt: dangerous (pickle)",
            "café ünïcode 模型 emoji 🦀",
            "back\\slash \"quoted\"",
            "",
        ] {
            assert!(matches!(escape(s), Cow::Borrowed(_)), "{s}");
        }
    }

    #[test]
    fn every_hidden_char_is_gone_from_the_output() {
        let all: String = (0..=0x10ffffu32)
            .filter_map(char::from_u32)
            .filter(|&c| is_hidden(c))
            .collect();
        assert!(all.chars().count() > 4000);
        let e = escape(&all);
        assert!(!e.chars().any(is_hidden));
        assert!(!e.chars().any(char::is_control));
    }

    #[test]
    fn json_escapes_hidden_chars_and_stays_the_same_document() {
        let v = serde_json::json!({"file": "a\u{202e}b\u{9b}c\u{7f}\r\u{e0041}", "ok": false});
        let text = json_text(&v);
        assert!(!text.chars().any(is_hidden), "{text}");
        assert!(text.contains("\\u202e"), "{text}");
        assert!(text.contains("\\udb40\\udc41"), "{text}");
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn keep_newlines_escapes_within_lines() {
        assert_eq!(
            escape_keep_newlines("error: 'a\x1bb'\n\nUsage: x"),
            "error: 'a\\x1bb'\n\nUsage: x"
        );
    }

    /// Every human-readable line goes through `say!`/`tell!`: no other module
    /// prints directly (JSON goes through `json_line`).
    #[test]
    fn no_raw_printing_outside_this_module() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut stack = vec![src];
        let mut offenders = Vec::new();
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("report.rs") {
                    let text = std::fs::read_to_string(&p).unwrap();
                    for (n, line) in text.lines().enumerate() {
                        if ["println!", "eprintln!", "print!(", "eprint!("]
                            .iter()
                            .any(|m| line.contains(m))
                        {
                            offenders.push(format!("{}:{}: {line}", p.display(), n + 1));
                        }
                    }
                }
            }
        }
        assert!(offenders.is_empty(), "raw printing: {offenders:#?}");
    }
}
