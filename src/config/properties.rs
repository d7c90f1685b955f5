//! `java.util.Properties.load`, because zoo.cfg is a Java properties file and operators
//! rely on all of its grammar: `#`/`!` comments, `=`, `:` or whitespace between key and
//! value, backslash continuations and escapes.

/// One `key=value` pair, trimmed the way ZooKeeper trims it, with the line it starts on.
pub struct Entry {
    pub line: usize,
    pub key: String,
    pub value: String,
}

fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0c')
}

/// Parses a whole file. Later duplicates replace earlier ones (Properties is a map) but
/// keep the later line number for errors. Err is (line, message).
pub fn parse(text: &str) -> Result<Vec<Entry>, (usize, String)> {
    let lines = natural_lines(text);
    let mut entries: Vec<Entry> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let (line, raw) = lines[i];
        i += 1;
        let first = raw.trim_start_matches(is_ws);
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        let mut logical = first.to_string();
        while ends_in_continuation(&logical) {
            logical.pop();
            let Some((_, next)) = lines.get(i) else { break };
            i += 1;
            logical.push_str(next.trim_start_matches(is_ws));
        }
        let (key, value) = split_key_value(&logical);
        let key = unescape(key).map_err(|m| (line, m))?;
        let value = unescape(value).map_err(|m| (line, m))?;
        // ZooKeeper applies Java's trim(): every char up to U+0020.
        let trim = |s: &str| s.trim_matches(|c: char| c <= ' ').to_string();
        let entry = Entry { line, key: trim(&key), value: trim(&value) };
        entries.retain(|e| e.key != entry.key);
        entries.push(entry);
    }
    Ok(entries)
}

/// Lines split on `\n`, `\r` or `\r\n`, numbered from 1.
fn natural_lines(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut n = 1;
    while !rest.is_empty() {
        let end = rest.find(['\n', '\r']).unwrap_or(rest.len());
        out.push((n, &rest[..end]));
        n += 1;
        let after = &rest[end..];
        rest = after
            .strip_prefix("\r\n")
            .or_else(|| after.strip_prefix('\n'))
            .or_else(|| after.strip_prefix('\r'))
            .unwrap_or(after);
    }
    out
}

/// An odd number of trailing backslashes joins the next line.
fn ends_in_continuation(s: &str) -> bool {
    s.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

/// The key ends at the first unescaped `=`, `:` or whitespace; then whitespace and at
/// most one `=`/`:` are skipped.
fn split_key_value(s: &str) -> (&str, &str) {
    let mut escaped = false;
    let mut key_end = s.len();
    let mut value_start = s.len();
    let mut has_sep = false;
    for (i, c) in s.char_indices() {
        if !escaped && (c == '=' || c == ':' || is_ws(c)) {
            key_end = i;
            value_start = i + 1;
            has_sep = c != ' ' && c != '\t' && c != '\x0c';
            break;
        }
        escaped = c == '\\' && !escaped;
    }
    let mut rest = &s[value_start.min(s.len())..];
    loop {
        rest = rest.trim_start_matches(is_ws);
        match rest.strip_prefix(['=', ':']) {
            Some(r) if !has_sep => {
                has_sep = true;
                rest = r;
            }
            _ => break,
        }
    }
    (&s[..key_end], rest)
}

/// `\t \n \r \f`, `\uXXXX`, and `\x` → `x` for anything else; a lone trailing `\` drops.
fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let code = u32::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 4)
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("malformed \\uxxxx escape: \\u{hex}"))?;
                out.push(code);
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Ok(out)
}
