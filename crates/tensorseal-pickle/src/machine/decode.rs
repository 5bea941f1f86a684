//! Operand decoding without state: integers, protocol-0 quoted strings and
//! `raw-unicode-escape` text.

use crate::value::Value;

pub(super) fn long_value(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Int(0);
    }
    if bytes.len() <= 8 {
        let neg = bytes[bytes.len() - 1] & 0x80 != 0;
        let mut buf = if neg { [0xffu8; 8] } else { [0u8; 8] };
        buf[..bytes.len()].copy_from_slice(bytes);
        return Value::Int(i64::from_le_bytes(buf));
    }
    // Normalise: drop redundant sign bytes, then fit into i64 if possible.
    let mut v = bytes.to_vec();
    while v.len() > 1 {
        let last = v[v.len() - 1];
        let prev_sign = v[v.len() - 2] & 0x80;
        if (last == 0 && prev_sign == 0) || (last == 0xff && prev_sign != 0) {
            v.pop();
        } else {
            break;
        }
    }
    if v.len() <= 8 {
        return long_value(&v);
    }
    Value::BigInt(v)
}

pub(super) fn parse_u64(l: &[u8]) -> Option<u64> {
    if l.is_empty() || l.len() > 20 || !l.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(l).ok()?.parse().ok()
}

/// Strict decimal integer (optional sign, ASCII digits) to a value.
pub(super) fn parse_decimal(l: &[u8]) -> Option<Value> {
    let (neg, digits) = match l.first() {
        Some(b'-') => (true, &l[1..]),
        Some(b'+') => (false, &l[1..]),
        _ => (false, l),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if let Ok(v) = std::str::from_utf8(l).ok()?.parse::<i64>() {
        return Some(Value::Int(v));
    }
    // Magnitude as little-endian base-256, then two's complement.
    let mut mag: Vec<u8> = vec![0];
    for &d in digits {
        let mut carry = u32::from(d - b'0');
        for b in mag.iter_mut() {
            let x = u32::from(*b) * 10 + carry;
            *b = (x & 0xff) as u8;
            carry = x >> 8;
        }
        while carry > 0 {
            mag.push((carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    mag.push(0); // sign byte
    if neg {
        let mut carry = 1u16;
        for b in mag.iter_mut() {
            let x = u16::from(!*b) + carry;
            *b = (x & 0xff) as u8;
            carry = x >> 8;
        }
    }
    Some(long_value(&mag))
}

/// Parse a protocol-0 `STRING` operand: quoted with `'` or `"`, Python escapes.
pub(super) fn parse_quoted_string(l: &[u8]) -> Result<Vec<u8>, String> {
    if l.len() < 2 || l[0] != l[l.len() - 1] || !(l[0] == b'\'' || l[0] == b'"') {
        return Err("the STRING operand must be quoted".into());
    }
    let body = &l[1..l.len() - 1];
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let Some(&e) = body.get(i) else {
            return Err("trailing backslash in STRING".into());
        };
        i += 1;
        match e {
            b'\\' => out.push(b'\\'),
            b'\'' => out.push(b'\''),
            b'"' => out.push(b'"'),
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'v' => out.push(11),
            b'x' => {
                let h = body.get(i..i + 2).ok_or("short \\x escape")?;
                let s = std::str::from_utf8(h).map_err(|_| "bad \\x escape")?;
                out.push(u8::from_str_radix(s, 16).map_err(|_| "bad \\x escape")?);
                i += 2;
            }
            b'0'..=b'7' => {
                let mut v = u32::from(e - b'0');
                let mut k = 0;
                while k < 2 {
                    match body.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                            k += 1;
                        }
                        _ => break,
                    }
                }
                out.push((v & 0xff) as u8);
            }
            _ => return Err(format!("unknown escape \\{}", e as char)),
        }
    }
    Ok(out)
}

/// Decode `raw-unicode-escape` (protocol-0 `UNICODE`): bytes are Latin-1
/// characters except `\uXXXX` and `\UXXXXXXXX`.
pub(super) fn raw_unicode_escape(l: &[u8]) -> Result<String, String> {
    let mut out = String::with_capacity(l.len());
    let mut i = 0;
    while i < l.len() {
        let c = l[i];
        if c == b'\\' && matches!(l.get(i + 1), Some(b'u') | Some(b'U')) {
            // An odd number of preceding backslashes is not tracked by the
            // codec either: it treats every `\u` as an escape.
            let n = if l[i + 1] == b'u' { 4 } else { 8 };
            let h = l.get(i + 2..i + 2 + n).ok_or("truncated \\u escape")?;
            let s = std::str::from_utf8(h).map_err(|_| "bad \\u escape")?;
            let v = u32::from_str_radix(s, 16).map_err(|_| "bad \\u escape")?;
            out.push(char::from_u32(v).ok_or("\\u escape is not a valid character")?);
            i += 2 + n;
        } else {
            out.push(char::from(c));
            i += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_big() {
        assert_eq!(parse_decimal(b"-5"), Some(Value::Int(-5)));
        // 2**64 = 0x1_0000_0000_0000_0000
        assert_eq!(
            parse_decimal(b"18446744073709551616"),
            Some(Value::BigInt(vec![0, 0, 0, 0, 0, 0, 0, 0, 1]))
        );
        assert_eq!(
            parse_decimal(b"-18446744073709551616"),
            Some(Value::BigInt(vec![0, 0, 0, 0, 0, 0, 0, 0, 0xff]))
        );
        assert_eq!(parse_decimal(b"1 "), None);
        assert_eq!(parse_decimal(b""), None);
    }

    #[test]
    fn long_le() {
        assert_eq!(long_value(&[0xff]), Value::Int(-1));
        assert_eq!(long_value(&[0x80, 0x00]), Value::Int(128));
        assert_eq!(long_value(&[]), Value::Int(0));
    }

    #[test]
    fn quoted() {
        assert_eq!(parse_quoted_string(b"'a\\nb'").unwrap(), b"a\nb");
        assert_eq!(parse_quoted_string(b"\"\\x41\\101\"").unwrap(), b"AA");
        assert!(parse_quoted_string(b"'abc").is_err());
    }
}
