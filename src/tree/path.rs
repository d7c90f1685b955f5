//! ZooKeeper's path rules (`PathUtils.validatePath`), checked per Java UTF-16 char: a char
//! outside the BMP is a surrogate pair in Java and so is rejected.

/// Why a path is not valid (the server answers BadArguments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidPath;

/// Checks a full path as `PathUtils.validatePath` does.
///
/// # Errors
/// `InvalidPath` for an empty path, one without a leading `/`, a trailing `/`, an empty,
/// `.` or `..` component, or a forbidden character.
pub fn validate_path(path: &str) -> Result<(), InvalidPath> {
    let bytes = path.as_bytes();
    if bytes.is_empty() || bytes[0] != b'/' {
        return Err(InvalidPath);
    }
    if bytes.len() == 1 {
        return Ok(());
    }
    if bytes[bytes.len() - 1] == b'/' {
        return Err(InvalidPath);
    }
    let chars: Vec<char> = path.chars().collect();
    for i in 1..chars.len() {
        let c = chars[i];
        let last = chars[i - 1];
        let next_is_sep = i + 1 == chars.len() || chars[i + 1] == '/';
        if c == '\0' || (c == '/' && last == '/') {
            return Err(InvalidPath);
        } else if c == '.' && last == '.' {
            if chars[i - 2] == '/' && next_is_sep {
                return Err(InvalidPath);
            }
        } else if c == '.' {
            if last == '/' && next_is_sep {
                return Err(InvalidPath);
            }
        } else if is_forbidden(c) {
            return Err(InvalidPath);
        }
    }
    Ok(())
}

fn is_forbidden(c: char) -> bool {
    let u = c as u32;
    (0x01..=0x1f).contains(&u)
        || (0x7f..=0x9f).contains(&u)
        || (0xd800..=0xf8ff).contains(&u)
        || (0xfff0..=0xffff).contains(&u)
        || u > 0xffff
}

/// The parent of a path as ZooKeeper computes it (`path.substring(0, lastSlash)`), with the
/// root's children mapping to `/`. `None` when there is no `/` at all.
pub fn parent_of(path: &str) -> Option<&str> {
    let i = path.rfind('/')?;
    Some(if i == 0 { "/" } else { &path[..i] })
}

/// The last component of a path (the child's name under its parent).
pub fn name_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// True when `path` is `ancestor` or lies under it.
pub fn is_under(path: &str, ancestor: &str) -> bool {
    if ancestor == "/" {
        return path.starts_with('/');
    }
    path == ancestor || (path.starts_with(ancestor) && path.as_bytes().get(ancestor.len()) == Some(&b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_paths() {
        for p in ["/", "/a", "/a/b", "/a.b", "/.a", "/a/...", "/zookeeper/quota", "/é", "/a b"] {
            assert_eq!(validate_path(p), Ok(()), "{p}");
        }
    }

    #[test]
    fn rejects_what_pathutils_rejects() {
        for p in [
            "",
            "a",
            "/a/",
            "//a",
            "/a//b",
            "/.",
            "/..",
            "/a/./b",
            "/a/../b",
            "/a\0",
            "/a\u{1}",
            "/\u{7f}",
            "/\u{fff0}",
            "/😀",
            "/\u{e000}",
            "/a/.",
            "/a/..",
        ] {
            assert_eq!(validate_path(p), Err(InvalidPath), "{p:?}");
        }
    }

    #[test]
    fn parents() {
        assert_eq!(parent_of("/a"), Some("/"));
        assert_eq!(parent_of("/a/b"), Some("/a"));
        assert_eq!(parent_of("base//x"), Some("base/"));
        assert_eq!(parent_of("nope"), None);
        assert_eq!(name_of("/a/b"), "b");
        assert!(is_under("/a/b", "/a"));
        assert!(!is_under("/ab", "/a"));
        assert!(is_under("/a", "/"));
    }
}
