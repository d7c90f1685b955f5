//! Just enough JSON for one line of a recorded history: a whole RFC 8259 value parser
//! (objects, arrays, strings with every escape, numbers kept as text), so unknown fields of
//! any shape can ride along, with a nesting limit. The crate has no dependencies, and a
//! history line is a flat object, so this is smaller than pulling in serde.

/// A parsed JSON value. Numbers stay as their source text; the caller decides what kind
/// of number it wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Value>),
    /// Fields in source order; duplicates are rejected while parsing.
    Object(Vec<(String, Value)>),
}

/// Nesting deeper than this is refused rather than risking the stack.
const DEPTH_MAX: usize = 32;

/// Parses one complete JSON text (surrounding whitespace allowed).
///
/// # Errors
/// A message naming the 1-based column (in characters) where the text went wrong.
pub(crate) fn parse(text: &str) -> Result<Value, String> {
    let mut p = Parser { s: text.as_bytes(), at: 0, text };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.at != p.s.len() {
        return Err(p.err("trailing characters after the value"));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
    text: &'a str,
}

impl Parser<'_> {
    fn err(&self, what: &str) -> String {
        let column = self.text.get(..self.at).map_or(self.at, |t| t.chars().count()) + 1;
        format!("column {column}: {what}")
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.at += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.err(&format!("expected '{}'", c as char)))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > DEPTH_MAX {
            return Err(self.err("nested too deeply"));
        }
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.word("true", Value::Bool(true)),
            Some(b'f') => self.word("false", Value::Bool(false)),
            Some(b'n') => self.word("null", Value::Null),
            Some(_) => Err(self.err("expected a JSON value")),
            None => Err(self.err("unexpected end of line")),
        }
    }

    fn word(&mut self, w: &str, v: Value) -> Result<Value, String> {
        if self.s[self.at..].starts_with(w.as_bytes()) {
            self.at += w.len();
            Ok(v)
        } else {
            Err(self.err("expected a JSON value"))
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, String> {
        self.at += 1;
        let mut fields: Vec<(String, Value)> = Vec::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(Value::Object(fields));
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a field name in double quotes"));
            }
            let name_at = self.at;
            let name = self.string()?;
            if fields.iter().any(|(n, _)| *n == name) {
                self.at = name_at;
                return Err(self.err(&format!("field {name:?} appears twice")));
            }
            self.ws();
            self.expect(b':')?;
            self.ws();
            let v = self.value(depth + 1)?;
            fields.push((name, v));
            self.ws();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(Value::Object(fields));
                }
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, String> {
        self.at += 1;
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.ws();
            items.push(self.value(depth + 1)?);
            self.ws();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.err("expected ',' or ']'")),
            }
        }
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.at;
        let digits = |p: &mut Self| {
            let from = p.at;
            while matches!(p.peek(), Some(b'0'..=b'9')) {
                p.at += 1;
            }
            p.at > from
        };
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let int_at = self.at;
        if !digits(self) {
            return Err(self.err("expected digits"));
        }
        if self.s[int_at] == b'0' && self.at - int_at > 1 {
            self.at = int_at;
            return Err(self.err("leading zero in a number"));
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if !digits(self) {
                return Err(self.err("expected digits after '.'"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if !digits(self) {
                return Err(self.err("expected digits in the exponent"));
            }
        }
        Ok(Value::Number(self.text[start..self.at].to_string()))
    }

    fn string(&mut self) -> Result<String, String> {
        self.at += 1; // the opening quote
        let mut out = String::new();
        loop {
            // Copy the plain run up to the next quote, backslash or control character.
            let from = self.at;
            while matches!(self.peek(), Some(c) if c != b'"' && c != b'\\' && c >= 0x20) {
                self.at += 1;
            }
            // Safe to slice: the run stops only at ASCII bytes, so on char boundaries.
            out.push_str(&self.text[from..self.at]);
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.at += 1;
                    out.push(self.escape()?);
                }
                Some(_) => return Err(self.err("control character in a string (escape it)")),
                None => return Err(self.err("unterminated string")),
            }
        }
    }

    fn escape(&mut self) -> Result<char, String> {
        let c = self.peek().ok_or_else(|| self.err("unterminated string"))?;
        self.at += 1;
        Ok(match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = self.hex4()?;
                let code = if (0xD800..0xDC00).contains(&hi) {
                    if !self.s[self.at..].starts_with(b"\\u") {
                        return Err(self.err("lone surrogate in \\u escape"));
                    }
                    self.at += 2;
                    let lo = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return Err(self.err("lone surrogate in \\u escape"));
                    }
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else {
                    hi
                };
                char::from_u32(code).ok_or_else(|| self.err("lone surrogate in \\u escape"))?
            }
            _ => {
                self.at -= 1;
                return Err(self.err("unknown escape in a string"));
            }
        })
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self.s.get(self.at..self.at + 4).ok_or_else(|| self.err("short \\u escape"))?;
        let mut v = 0u32;
        for d in digits {
            let n = (*d as char).to_digit(16).ok_or_else(|| self.err("bad hex digit in \\u escape"))?;
            v = v * 16 + n;
        }
        self.at += 4;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::String(v.into())
    }

    #[test]
    fn flat_object_with_every_scalar() {
        let v =
            parse(r#" {"a": 1, "b": -2.5e3, "c": "x\"y\\z\n\u00e9\ud83d\ude00", "d": null, "e": true, "f": false} "#);
        let want = Value::Object(vec![
            ("a".into(), Value::Number("1".into())),
            ("b".into(), Value::Number("-2.5e3".into())),
            ("c".into(), s("x\"y\\z\né😀")),
            ("d".into(), Value::Null),
            ("e".into(), Value::Bool(true)),
            ("f".into(), Value::Bool(false)),
        ]);
        assert_eq!(v, Ok(want));
    }

    #[test]
    fn nested_values_and_raw_utf8() {
        let v = parse(r#"{"x": [1, {"y": []}, "ü"], "z": {}}"#).unwrap();
        let Value::Object(f) = v else { panic!("object") };
        assert_eq!(
            f[0].1,
            Value::Array(vec![
                Value::Number("1".into()),
                Value::Object(vec![("y".into(), Value::Array(vec![]))]),
                s("ü")
            ])
        );
    }

    #[test]
    fn errors_name_the_column() {
        assert_eq!(parse(r#"{"a": 1,}"#), Err("column 9: expected a field name in double quotes".into()));
        assert_eq!(parse(r#"{"a": 1 "b": 2}"#), Err("column 9: expected ',' or '}'".into()));
        assert_eq!(parse(r#"{"a": 01}"#), Err("column 7: leading zero in a number".into()));
        assert_eq!(parse(r#"{"a": 1, "a": 2}"#), Err("column 10: field \"a\" appears twice".into()));
        assert_eq!(parse(r#"{"a": "\ud800"}"#), Err("column 14: lone surrogate in \\u escape".into()));
        assert_eq!(parse(r#"{"a": "é\q"}"#), Err("column 10: unknown escape in a string".into()));
        assert_eq!(parse(r#"{"a": tru}"#), Err("column 7: expected a JSON value".into()));
        assert_eq!(parse(r#"{"a": "x"#), Err("column 9: unterminated string".into()));
        assert_eq!(parse(r#"{} x"#), Err("column 4: trailing characters after the value".into()));
        assert_eq!(parse(""), Err("column 1: unexpected end of line".into()));
        let deep = "[".repeat(40) + &"]".repeat(40);
        assert_eq!(parse(&deep), Err("column 34: nested too deeply".into()));
    }
}
