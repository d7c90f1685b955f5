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
    // Nearly every path is ASCII: check its bytes in place; only others need their chars.
    if path.is_ascii() {
        check_units(bytes)
    } else {
        check_units(&path.chars().collect::<Vec<char>>())
    }
}

/// The per-character rules over a path's bytes (ASCII) or chars, as code points.
fn check_units<T: Copy + Into<u32>>(units: &[T]) -> Result<(), InvalidPath> {
    const SLASH: u32 = b'/' as u32;
    const DOT: u32 = b'.' as u32;
    let at = |i: usize| units[i].into();
    for i in 1..units.len() {
        let c = at(i);
        let last = at(i - 1);
        let next_is_sep = i + 1 == units.len() || at(i + 1) == SLASH;
        if c == 0 || (c == SLASH && last == SLASH) {
            return Err(InvalidPath);
        } else if c == DOT && last == DOT {
            if at(i - 2) == SLASH && next_is_sep {
                return Err(InvalidPath);
            }
        } else if c == DOT {
            if last == SLASH && next_is_sep {
                return Err(InvalidPath);
            }
        } else if is_forbidden(c) {
            return Err(InvalidPath);
        }
    }
    Ok(())
}

fn is_forbidden(u: u32) -> bool {
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
        for p in ["/", "/a", "/a/b", "/a.b", "/.a", "/a/...", "/zookeeper/quota", "/é", "/a b", "/é/a.b/..."] {
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
            "/é/..",
            "/é//a",
            "/é/\u{1}",
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
