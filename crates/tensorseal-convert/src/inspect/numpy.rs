//! `.npy` files: header grammar, data length and object dtypes (whose
//! payload is a pickle).

use tensorseal_pickle::{NoHooks, Profile};

use super::{pickle, Ctx, Scope, Verdict};

pub(super) fn npy(ctx: &mut Ctx<'_>, data: &[u8], scope: &Scope) {
    use crate::npy::NpyError;
    match crate::npy::parse_npy_header(data) {
        Ok(h) => {
            let need =
                crate::layout::numel(&h.shape).and_then(|n| n.checked_mul(h.dtype.bits() / 8));
            let have = (data.len() as u64).saturating_sub(h.data_offset);
            if need != Some(have) {
                ctx.fail(
                    scope,
                    h.data_offset,
                    "npy_data_length",
                    Verdict::Malformed,
                    format!(
                        "npy data at offset {} has {have} bytes, shape {:?} of {} needs {}",
                        h.data_offset,
                        h.shape,
                        h.dtype.name(),
                        need.map(|n| n.to_string())
                            .unwrap_or_else(|| "an overflowing size".into())
                    ),
                );
            }
        }
        Err(NpyError::ObjectDtype { .. })
        | Err(NpyError::StructuredDtype { .. })
        | Err(NpyError::UnsupportedDtype { .. }) => npy_special(ctx, data, scope),
        Err(e) => {
            ctx.fail(
                scope,
                npy_offset(&e),
                "npy_malformed",
                Verdict::Malformed,
                e.to_string(),
            );
        }
    }
}

fn npy_offset(e: &crate::npy::NpyError) -> u64 {
    use crate::npy::NpyError;
    match e {
        NpyError::BadVersion { .. } => 6,
        NpyError::Truncated { offset, .. }
        | NpyError::Syntax { offset, .. }
        | NpyError::DataLength { offset, .. } => *offset,
        _ => 0,
    }
}

/// Object, structured or non-tensor dtypes: the header already passed the
/// converter's grammar except for the dtype.
fn npy_special(ctx: &mut Ctx<'_>, data: &[u8], scope: &Scope) {
    let Some((text, data_offset)) = npy_header_text(data) else {
        ctx.fail(
            scope,
            8,
            "npy_malformed",
            Verdict::Malformed,
            "npy header length runs past the end",
        );
        return;
    };
    let header = match lit::parse(text) {
        Ok(v) => v,
        Err(why) => {
            ctx.fail(
                scope,
                10,
                "npy_malformed",
                Verdict::Malformed,
                format!("npy header: {why}"),
            );
            return;
        }
    };
    let (Some(descr), Some(shape)) = (header.get("descr"), header.get("shape")) else {
        ctx.fail(
            scope,
            10,
            "npy_malformed",
            Verdict::Malformed,
            "npy header lacks descr or shape",
        );
        return;
    };
    let shape: Option<Vec<u64>> = match shape {
        lit::Lit::Tuple(items) => items.iter().map(lit::Lit::as_int).collect(),
        _ => None,
    };
    let Some(shape) = shape else {
        ctx.fail(
            scope,
            10,
            "npy_malformed",
            Verdict::Malformed,
            "npy shape is not a tuple of integers",
        );
        return;
    };
    let rest = &data[data_offset as usize..];
    match lit::dtype_size(descr, 0) {
        lit::DtypeSize::Object => {
            ctx.note(
                scope,
                data_offset,
                "object dtype: the array data is a pickle (never loaded); inspected with the numpy profile, not convertible",
            );
            let profile = ctx.profile(Profile::Numpy);
            pickle(ctx, rest, data_offset, scope, profile, &mut NoHooks);
        }
        lit::DtypeSize::Bytes(itemsize) => {
            let need = crate::layout::numel(&shape).and_then(|n| n.checked_mul(itemsize));
            if need != Some(rest.len() as u64) {
                ctx.fail(
                    scope,
                    data_offset,
                    "npy_data_length",
                    Verdict::Malformed,
                    format!(
                        "npy data at offset {data_offset} has {} bytes, shape {shape:?} of {itemsize}-byte items needs {}",
                        rest.len(),
                        need.map(|n| n.to_string()).unwrap_or_else(|| "an overflowing size".into())
                    ),
                );
            } else {
                ctx.finding(
                    scope,
                    10,
                    "not_convertible",
                    Verdict::Safe,
                    format!("dtype {} holds plain data (no objects) but has no tensor dtype: safe, not convertible", lit::show(descr)),
                );
            }
        }
        lit::DtypeSize::Unknown(why) => {
            ctx.finding(
                scope,
                10,
                "unknown_dtype",
                Verdict::Unknown,
                format!("dtype {} not understood ({why})", lit::show(descr)),
            );
        }
    }
}

/// The header text and the data offset of a `.npy`.
fn npy_header_text(data: &[u8]) -> Option<(&[u8], u64)> {
    let (len, start): (usize, usize) = match data.get(6..8)? {
        [1, 0] => (
            usize::from(u16::from_le_bytes([*data.get(8)?, *data.get(9)?])),
            10,
        ),
        [2, 0] | [3, 0] => {
            let b = data.get(8..12)?;
            (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 12)
        }
        _ => return None,
    };
    let end = start.checked_add(len)?;
    Some((data.get(start..end)?, end as u64))
}

/// A tiny Python-literal reader for `.npy` dtype descriptions (strings,
/// integers, tuples, lists, dicts, True/False/None).
mod lit {
    #[derive(Debug, Clone, PartialEq)]
    pub(super) enum Lit {
        Str(String),
        Int(i128),
        Bool(bool),
        None,
        Tuple(Vec<Lit>),
        List(Vec<Lit>),
        Dict(Vec<(Lit, Lit)>),
    }

    impl Lit {
        pub(super) fn as_int(&self) -> Option<u64> {
            match self {
                Lit::Int(i) => u64::try_from(*i).ok(),
                _ => None,
            }
        }
    }

    pub(super) struct Header(Vec<(Lit, Lit)>);

    impl Header {
        pub(super) fn get(&self, key: &str) -> Option<&Lit> {
            self.0
                .iter()
                .find(|(k, _)| matches!(k, Lit::Str(s) if s == key))
                .map(|(_, v)| v)
        }
    }

    const MAX_DEPTH: usize = 32;

    pub(super) fn parse(text: &[u8]) -> Result<Header, &'static str> {
        let mut p = P { s: text, i: 0 };
        let v = p.value(0)?;
        p.ws();
        if p.i != p.s.len() {
            return Err("text after the header dict");
        }
        match v {
            Lit::Dict(items) => Ok(Header(items)),
            _ => Err("header is not a dict"),
        }
    }

    struct P<'a> {
        s: &'a [u8],
        i: usize,
    }

    impl P<'_> {
        fn ws(&mut self) {
            while self
                .s
                .get(self.i)
                .is_some_and(|c| matches!(c, b' ' | b'\n' | b'\t' | b'\r'))
            {
                self.i += 1;
            }
        }

        fn eat(&mut self, c: u8) -> bool {
            self.ws();
            if self.s.get(self.i) == Some(&c) {
                self.i += 1;
                true
            } else {
                false
            }
        }

        fn items(&mut self, close: u8, depth: usize) -> Result<(Vec<Lit>, bool), &'static str> {
            let mut v = Vec::new();
            let mut trailing_comma = false;
            loop {
                if self.eat(close) {
                    return Ok((v, trailing_comma));
                }
                v.push(self.value(depth + 1)?);
                trailing_comma = self.eat(b',');
                if !trailing_comma {
                    if self.eat(close) {
                        return Ok((v, false));
                    }
                    return Err("expected ',' or a closing bracket");
                }
            }
        }

        fn value(&mut self, depth: usize) -> Result<Lit, &'static str> {
            if depth > MAX_DEPTH {
                return Err("nesting too deep");
            }
            self.ws();
            match self.s.get(self.i) {
                Some(b'(') => {
                    self.i += 1;
                    let (v, comma) = self.items(b')', depth)?;
                    if v.len() == 1 && !comma {
                        // A parenthesised value, not a tuple.
                        return Ok(v.into_iter().next().unwrap_or(Lit::None));
                    }
                    Ok(Lit::Tuple(v))
                }
                Some(b'[') => {
                    self.i += 1;
                    Ok(Lit::List(self.items(b']', depth)?.0))
                }
                Some(b'{') => {
                    self.i += 1;
                    let mut items = Vec::new();
                    loop {
                        if self.eat(b'}') {
                            return Ok(Lit::Dict(items));
                        }
                        let k = self.value(depth + 1)?;
                        if !self.eat(b':') {
                            return Err("expected ':'");
                        }
                        let v = self.value(depth + 1)?;
                        items.push((k, v));
                        if !self.eat(b',') {
                            if self.eat(b'}') {
                                return Ok(Lit::Dict(items));
                            }
                            return Err("expected ',' or '}'");
                        }
                    }
                }
                Some(&q @ (b'\'' | b'"')) => {
                    self.i += 1;
                    let start = self.i;
                    while let Some(&c) = self.s.get(self.i) {
                        if c == b'\\' {
                            return Err("escapes in strings are not accepted");
                        }
                        if c == q {
                            let s = std::str::from_utf8(&self.s[start..self.i])
                                .map_err(|_| "string is not UTF-8")?;
                            self.i += 1;
                            return Ok(Lit::Str(s.to_owned()));
                        }
                        self.i += 1;
                    }
                    Err("unterminated string")
                }
                Some(c) if c.is_ascii_digit() || *c == b'-' => {
                    let start = self.i;
                    self.i += 1;
                    while self.s.get(self.i).is_some_and(|c| c.is_ascii_digit()) {
                        self.i += 1;
                    }
                    // Python 2 long suffix.
                    if self.s.get(self.i) == Some(&b'L') {
                        self.i += 1;
                    }
                    let t = std::str::from_utf8(&self.s[start..self.i])
                        .map_err(|_| "bad integer")?
                        .trim_end_matches('L');
                    t.parse::<i128>().map(Lit::Int).map_err(|_| "bad integer")
                }
                Some(_) => {
                    for (word, v) in [
                        ("True", Lit::Bool(true)),
                        ("False", Lit::Bool(false)),
                        ("None", Lit::None),
                    ] {
                        if self.s[self.i..].starts_with(word.as_bytes()) {
                            self.i += word.len();
                            return Ok(v);
                        }
                    }
                    Err("unexpected character")
                }
                None => Err("unexpected end of header"),
            }
        }
    }

    /// Size of one item of a dtype description.
    pub(super) enum DtypeSize {
        /// The dtype holds Python objects: numpy pickles the whole array.
        Object,
        /// Plain bytes per item.
        Bytes(u64),
        /// Not understood.
        Unknown(String),
    }

    /// Size of a dtype given as a descr string or a structured field list.
    pub(super) fn dtype_size(d: &Lit, depth: usize) -> DtypeSize {
        if depth > MAX_DEPTH {
            return DtypeSize::Unknown("nesting too deep".into());
        }
        match d {
            Lit::Str(s) => code_size(s),
            Lit::List(fields) => {
                let mut total: u64 = 0;
                let mut unknown = None;
                for f in fields {
                    let Lit::Tuple(t) = f else {
                        return DtypeSize::Unknown("a field is not a tuple".into());
                    };
                    if !(2..=3).contains(&t.len()) {
                        return DtypeSize::Unknown("a field is not (name, type[, shape])".into());
                    }
                    let mult = match t.get(2) {
                        None => Some(1u64),
                        Some(Lit::Int(n)) => u64::try_from(*n).ok(),
                        Some(Lit::Tuple(dims)) => dims
                            .iter()
                            .map(Lit::as_int)
                            .try_fold(1u64, |acc, d| acc.checked_mul(d?)),
                        _ => None,
                    };
                    match dtype_size(&t[1], depth + 1) {
                        DtypeSize::Object => return DtypeSize::Object,
                        DtypeSize::Bytes(n) => {
                            match mult
                                .and_then(|m| m.checked_mul(n))
                                .and_then(|x| total.checked_add(x))
                            {
                                Some(t) => total = t,
                                None => unknown = Some("field size overflows".to_owned()),
                            }
                        }
                        DtypeSize::Unknown(w) => unknown = Some(w),
                    }
                }
                // An object field anywhere wins over an unknown one (above).
                match unknown {
                    Some(w) => DtypeSize::Unknown(w),
                    None => DtypeSize::Bytes(total),
                }
            }
            _ => DtypeSize::Unknown("descr is neither a string nor a field list".into()),
        }
    }

    fn code_size(s: &str) -> DtypeSize {
        let body = s.trim_start_matches(['<', '>', '|', '=']);
        if body.starts_with('O') || body == "object" {
            return DtypeSize::Object;
        }
        let unknown = || DtypeSize::Unknown(format!("type code '{s}'"));
        let (kind, rest) = body.split_at(body.chars().next().map(char::len_utf8).unwrap_or(0));
        let num = |r: &str| r.parse::<u64>().ok();
        let n = match kind {
            "b" | "i" | "u" | "f" | "c" if !rest.is_empty() => num(rest),
            "V" | "S" | "a" => num(rest),
            "U" => num(rest).and_then(|n| n.checked_mul(4)),
            "M" | "m" if rest.starts_with('8') => Some(8),
            "?" | "b" | "B" if rest.is_empty() => Some(1),
            "h" | "H" | "e" if rest.is_empty() => Some(2),
            "i" | "I" | "f" if rest.is_empty() => Some(4),
            "l" | "L" | "q" | "Q" | "d" | "F" if rest.is_empty() => Some(8),
            "D" | "g" if rest.is_empty() => Some(16),
            "G" if rest.is_empty() => Some(32),
            _ => None,
        };
        match n {
            Some(n) => DtypeSize::Bytes(n),
            None => unknown(),
        }
    }

    /// Python-like rendering for messages (cut at 120 characters).
    pub(super) fn show(d: &Lit) -> String {
        fn go(d: &Lit, out: &mut String, depth: usize) {
            if out.len() > 200 || depth > MAX_DEPTH {
                return;
            }
            let seq = |items: &[Lit], open: &str, close: &str, out: &mut String| {
                out.push_str(open);
                for (i, x) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    go(x, out, depth + 1);
                }
                if items.len() == 1 && open == "(" {
                    out.push(',');
                }
                out.push_str(close);
            };
            match d {
                Lit::Str(s) => {
                    out.push('\'');
                    out.push_str(s);
                    out.push('\'');
                }
                Lit::Int(i) => out.push_str(&i.to_string()),
                Lit::Bool(b) => out.push_str(if *b { "True" } else { "False" }),
                Lit::None => out.push_str("None"),
                Lit::Tuple(v) => seq(v, "(", ")", out),
                Lit::List(v) => seq(v, "[", "]", out),
                Lit::Dict(v) => {
                    out.push('{');
                    for (i, (k, x)) in v.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        go(k, out, depth + 1);
                        out.push_str(": ");
                        go(x, out, depth + 1);
                    }
                    out.push('}');
                }
            }
        }
        let mut s = String::new();
        go(d, &mut s, 0);
        if s.len() > 120 {
            let mut cut = 117;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
            s.push_str("...");
        }
        s
    }
}
