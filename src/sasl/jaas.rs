//! The JAAS login configuration an Apache ZooKeeper operator already has (the file named by
//! `-Djava.security.auth.login.config`), read the way the JDK's `sun.security.provider.ConfigFile`
//! reads it, keeping what ZooKeeper's server takes from it: the `user_NAME="password"` options of
//! one section (`Server`, or the name in `zookeeper.sasl.serverconfig`).
//!
//! ```text
//! Server {
//!     org.apache.zookeeper.server.auth.DigestLoginModule required
//!     user_super="adminsecret"
//!     user_bob="bobsecret";
//! };
//! ```
//!
//! Syntax, as the JDK's tokenizer sees it: `//`, `/* */` and a lone `/` start comments; names and
//! unquoted values are words (letters, `$ _ *`, then also digits, `.` and `-`); values may be
//! double-quoted with C-style escapes; a section is `NAME { MODULE FLAG key=value ... ; ... };` and
//! a name may appear once. The whole file must parse, as in Java, even sections nobody uses.

use std::collections::BTreeMap;
use std::fmt;

/// The section ZooKeeper's server reads when `zookeeper.sasl.serverconfig` is not set.
pub const DEFAULT_SECTION: &str = "Server";
/// The JVM property naming the section (`ZooKeeperSaslServer.LOGIN_CONTEXT_NAME_KEY`).
pub const SECTION_PROPERTY: &str = "zookeeper.sasl.serverconfig";
/// The JVM property naming the JAAS file.
pub const JAAS_CONFIG_PROPERTY: &str = "java.security.auth.login.config";
/// The JVM property that, when set, replaces `user_super`'s password (only if `user_super` exists).
pub const SUPER_PASSWORD_PROPERTY: &str = "zookeeper.SASLAuthenticationProvider.superPassword";
/// The login module whose section gives DIGEST-MD5 users.
pub const DIGEST_LOGIN_MODULE: &str = "org.apache.zookeeper.server.auth.DigestLoginModule";

const USER_PREFIX: &str = "user_";

/// DIGEST-MD5 users: name → password, as ZooKeeper's `SaslServerCallbackHandler` keeps them.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SaslUsers {
    passwords: BTreeMap<String, String>,
    super_password: Option<String>,
    ignored_modules: Vec<String>,
}

impl SaslUsers {
    pub fn new() -> SaslUsers {
        SaslUsers::default()
    }

    /// Adds or replaces one user.
    pub fn insert(&mut self, user: impl Into<String>, password: impl Into<String>) {
        self.passwords.insert(user.into(), password.into());
    }

    /// `zookeeper.SASLAuthenticationProvider.superPassword`: when set, user `super` authenticates
    /// with this password instead of `user_super`'s. As in ZooKeeper it only applies when the JAAS
    /// section has a `user_super` entry at all.
    pub fn set_super_password(&mut self, password: Option<String>) {
        self.super_password = password;
    }

    /// The password `user` must prove, or `None` for a user the section does not list.
    pub fn password(&self, user: &str) -> Option<&str> {
        let listed = self.passwords.get(user)?;
        match (&self.super_password, user) {
            (Some(super_password), "super") => Some(super_password),
            _ => Some(listed),
        }
    }

    pub fn contains(&self, user: &str) -> bool {
        self.passwords.contains_key(user)
    }

    /// User names, sorted.
    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.passwords.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.passwords.len()
    }

    pub fn is_empty(&self) -> bool {
        self.passwords.is_empty()
    }

    /// Login modules of the section other than `DigestLoginModule`, which ferrozk does not run
    /// (their `user_` options still count, as in ZooKeeper 3.8). Worth a warning at startup.
    pub fn ignored_modules(&self) -> &[String] {
        &self.ignored_modules
    }
}

/// Names only: passwords never reach a log line.
impl fmt::Debug for SaslUsers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslUsers")
            .field("users", &self.passwords.keys().collect::<Vec<_>>())
            .field("super_password", &self.super_password.as_ref().map(|_| "<set>"))
            .field("ignored_modules", &self.ignored_modules)
            .finish()
    }
}

/// Why a JAAS file gives no DIGEST-MD5 users.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JaasError {
    /// The file does not parse (the JDK would refuse it too, and Apache ZooKeeper not start).
    #[error("JAAS configuration error: line {line}: {message}")]
    Syntax { line: usize, message: String },
    /// Two sections with one name (the JDK refuses the file).
    #[error("JAAS configuration error: can not specify multiple entries for {name}")]
    DuplicateSection { name: String },
    /// No such section, or an empty one. Apache ZooKeeper then runs without a SASL server: every
    /// SASL request gets an OK reply with a null token, and the client gives up (AuthFailed).
    #[error("no JAAS configuration section named '{section}' was found")]
    NoSection { section: String },
    /// The section logs in with Kerberos (`Krb5LoginModule`): GSSAPI, which ferrozk does not do.
    #[error(
        "JAAS section '{section}' uses {module}: Kerberos (GSSAPI) is not supported by ferrozk; \
         SASL needs {digest} with user_NAME=\"password\" options",
        digest = DIGEST_LOGIN_MODULE
    )]
    Kerberos { section: String, module: String },
    /// The section has login modules, none of them `DigestLoginModule`.
    #[error(
        "JAAS section '{section}' has no {digest} entry (found {modules:?}): ferrozk supports \
         SASL DIGEST-MD5 only",
        digest = DIGEST_LOGIN_MODULE
    )]
    NoDigestModule { section: String, modules: Vec<String> },
}

/// Reads a JAAS file's text and returns the DIGEST-MD5 users of `section` (normally
/// [`DEFAULT_SECTION`], or the value of `zookeeper.sasl.serverconfig`).
pub fn parse_jaas(text: &str, section: &str) -> Result<SaslUsers, JaasError> {
    let sections = parse_sections(text)?;
    let entries = match sections.iter().find(|s| s.name == section) {
        Some(s) if !s.entries.is_empty() => &s.entries,
        _ => return Err(JaasError::NoSection { section: section.to_string() }),
    };
    if let Some(krb) = entries.iter().find(|e| e.module.ends_with("Krb5LoginModule")) {
        return Err(JaasError::Kerberos { section: section.to_string(), module: krb.module.clone() });
    }
    if !entries.iter().any(|e| e.module == DIGEST_LOGIN_MODULE) {
        return Err(JaasError::NoDigestModule {
            section: section.to_string(),
            modules: entries.iter().map(|e| e.module.clone()).collect(),
        });
    }
    let mut users = SaslUsers::new();
    for entry in entries {
        if entry.module != DIGEST_LOGIN_MODULE {
            users.ignored_modules.push(entry.module.clone());
        }
        for (key, value) in &entry.options {
            if let Some(name) = key.strip_prefix(USER_PREFIX) {
                users.insert(name, value.clone());
            }
        }
    }
    Ok(users)
}

/// One `NAME { ... };` block.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Section {
    name: String,
    entries: Vec<Entry>,
}

/// One `MODULE FLAG key=value ...;` line of a section.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    module: String,
    options: BTreeMap<String, String>,
}

fn parse_sections(text: &str) -> Result<Vec<Section>, JaasError> {
    let mut p = Parser { lexer: Lexer::new(text), lookahead: Tok::Eof, line: 1 };
    p.advance();
    let mut sections: Vec<Section> = Vec::new();
    while p.lookahead != Tok::Eof {
        let section = p.section()?;
        if sections.iter().any(|s| s.name == section.name) {
            return Err(JaasError::DuplicateSection { name: section.name });
        }
        sections.push(section);
    }
    Ok(sections)
}

/// A token of the JDK's `StreamTokenizer` as `ConfigFile` configures it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Quoted(String),
    /// `'...'`: a quote character to the tokenizer, but `ConfigFile` accepts it nowhere.
    SingleQuoted(String),
    Number(String),
    Char(char),
    Eof,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Word(w) => write!(f, "[{w}]"),
            Tok::Quoted(q) => write!(f, "[\"{q}\"]"),
            Tok::SingleQuoted(q) => write!(f, "['{q}'] (single quotes are not allowed)"),
            Tok::Number(n) => write!(f, "[{n}] (a value starting with a digit, '.' or '-' must be quoted)"),
            Tok::Char(c) => write!(f, "[{c}]"),
            Tok::Eof => write!(f, "end of file"),
        }
    }
}

struct Parser {
    lexer: Lexer,
    lookahead: Tok,
    /// Line of `lookahead`.
    line: usize,
}

impl Parser {
    fn advance(&mut self) {
        let (tok, line) = self.lexer.next_token();
        self.lookahead = tok;
        self.line = line;
    }

    fn error(&self, message: String) -> JaasError {
        JaasError::Syntax { line: self.line, message }
    }

    /// A name, module, flag, key or value: a word or a double-quoted string.
    fn text(&mut self, what: &str) -> Result<String, JaasError> {
        match &self.lookahead {
            Tok::Word(s) | Tok::Quoted(s) => {
                let s = s.clone();
                self.advance();
                Ok(s)
            }
            other => Err(self.error(format!("expected [{what}], found {other}"))),
        }
    }

    fn punct(&mut self, c: char) -> Result<(), JaasError> {
        if self.lookahead == Tok::Char(c) {
            self.advance();
            Ok(())
        } else {
            Err(self.error(format!("expected [{c}], found {}", self.lookahead)))
        }
    }

    fn section(&mut self) -> Result<Section, JaasError> {
        let name = self.text("login configuration name")?;
        self.punct('{')?;
        let mut entries = Vec::new();
        while self.lookahead != Tok::Char('}') {
            let module = self.text("module class name")?;
            let flag_line = self.line;
            let flag = self.text("controlFlag")?;
            if !["required", "requisite", "sufficient", "optional"].iter().any(|f| f.eq_ignore_ascii_case(&flag)) {
                return Err(JaasError::Syntax {
                    line: flag_line,
                    message: format!("invalid control flag [{flag}] (required, requisite, sufficient or optional)"),
                });
            }
            let mut options = BTreeMap::new();
            while self.lookahead != Tok::Char(';') {
                let key = self.text("option key")?;
                self.punct('=')?;
                let value_line = self.line;
                let value = self.text("option value")?;
                if value.contains("${") {
                    return Err(JaasError::Syntax {
                        line: value_line,
                        message: format!(
                            "{key}: system property expansion (${{...}}) is not supported here; \
                             write the value itself"
                        ),
                    });
                }
                options.insert(key, value);
            }
            self.advance(); // ';'
            entries.push(Entry { module, options });
        }
        self.punct('}')?;
        self.punct(';')?;
        Ok(Section { name, entries })
    }
}

/// `java.io.StreamTokenizer` with `ConfigFile`'s settings; line ends are whitespace here.
struct Lexer {
    chars: Vec<char>,
    pos: usize,
    line: usize,
}

fn is_word_start(c: char) -> bool {
    c.is_ascii_alphabetic() || matches!(c, '$' | '_' | '*') || u32::from(c) >= 0xA0
}

fn is_word_part(c: char) -> bool {
    is_word_start(c) || c.is_ascii_digit() || matches!(c, '.' | '-')
}

impl Lexer {
    fn new(text: &str) -> Lexer {
        Lexer { chars: text.chars().collect(), pos: 0, line: 1 }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek2(&self) -> Option<char> {
        self.chars.get(self.pos + 1).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        if c == '\n' || (c == '\r' && self.peek() != Some('\n')) {
            self.line += 1;
        }
        Some(c)
    }

    fn skip_line(&mut self) {
        while let Some(c) = self.peek() {
            if c == '\n' || c == '\r' {
                return;
            }
            self.bump();
        }
    }

    /// The next token and the line it starts on.
    fn next_token(&mut self) -> (Tok, usize) {
        loop {
            let Some(c) = self.peek() else { return (Tok::Eof, self.line) };
            let line = self.line;
            if u32::from(c) <= 32 {
                self.bump();
                continue;
            }
            if c == '/' {
                self.bump();
                if self.peek() == Some('*') {
                    self.bump();
                    while let Some(c) = self.bump() {
                        if c == '*' && self.peek() == Some('/') {
                            self.bump();
                            break;
                        }
                    }
                } else {
                    // `//`, and a lone `/` too (the default comment character).
                    self.skip_line();
                }
                continue;
            }
            if c.is_ascii_digit() || c == '.' || c == '-' {
                return (self.number(), line);
            }
            if is_word_start(c) {
                let mut w = String::new();
                while let Some(c) = self.peek().filter(|&c| is_word_part(c)) {
                    w.push(c);
                    self.bump();
                }
                return (Tok::Word(w), line);
            }
            if c == '"' || c == '\'' {
                self.bump();
                let s = self.quoted(c);
                return (if c == '"' { Tok::Quoted(s) } else { Tok::SingleQuoted(s) }, line);
            }
            self.bump();
            return (Tok::Char(c), line);
        }
    }

    fn number(&mut self) -> Tok {
        let mut n = String::new();
        if self.peek() == Some('-') {
            if !self.peek2().is_some_and(|c| c.is_ascii_digit() || c == '.') {
                self.bump();
                return Tok::Char('-');
            }
            n.push('-');
            self.bump();
        }
        let mut seen_dot = false;
        while let Some(c) = self.peek() {
            if c == '.' && !seen_dot {
                seen_dot = true;
            } else if !c.is_ascii_digit() {
                break;
            }
            n.push(c);
            self.bump();
        }
        Tok::Number(n)
    }

    /// The rest of a quoted string: up to the closing quote, or (as the JDK does) the line's end.
    fn quoted(&mut self, quote: char) -> String {
        let mut s = String::new();
        while let Some(d) = self.peek() {
            if d == quote {
                self.bump();
                break;
            }
            if d == '\n' || d == '\r' {
                break;
            }
            self.bump();
            if d != '\\' {
                s.push(d);
                continue;
            }
            let Some(e) = self.bump() else { break };
            if let Some(mut v) = e.to_digit(8) {
                if let Some(v2) = self.peek().and_then(|c| c.to_digit(8)) {
                    self.bump();
                    v = v * 8 + v2;
                    if let Some(v3) = self.peek().and_then(|c| c.to_digit(8)).filter(|_| e <= '3') {
                        self.bump();
                        v = v * 8 + v3;
                    }
                }
                s.push(char::from_u32(v).unwrap_or('\u{FFFD}'));
                continue;
            }
            s.push(match e {
                'a' => '\u{7}',
                'b' => '\u{8}',
                'f' => '\u{C}',
                'n' => '\n',
                'r' => '\r',
                't' => '\t',
                'v' => '\u{B}',
                other => other,
            });
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPERATOR_FILE: &str = r#"
// ZooKeeper's own example, with comments of every kind
/* a block
   comment */
Server {
       org.apache.zookeeper.server.auth.DigestLoginModule required
       user_super="adminsecret"   // the super user
       user_bob="bobsecret";
};
Client {
       org.apache.zookeeper.server.auth.DigestLoginModule required
       username="bob"
       password="bobsecret";
};
"#;

    fn users(u: &SaslUsers) -> Vec<(String, String)> {
        u.users().map(|n| (n.to_string(), u.password(n).unwrap().to_string())).collect()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn operator_file_gives_server_users_only() {
        let u = parse_jaas(OPERATOR_FILE, DEFAULT_SECTION).unwrap();
        assert_eq!(users(&u), pairs(&[("bob", "bobsecret"), ("super", "adminsecret")]));
        assert!(u.ignored_modules().is_empty());
        assert!(!u.contains("username"));
        // The Client section has no user_ options, but it is a DigestLoginModule section.
        assert!(parse_jaas(OPERATOR_FILE, "Client").unwrap().is_empty());
    }

    #[test]
    fn another_section_name_and_missing_section() {
        let text = "ZkServer { org.apache.zookeeper.server.auth.DigestLoginModule required user_a=\"1\"; };";
        assert_eq!(users(&parse_jaas(text, "ZkServer").unwrap()), pairs(&[("a", "1")]));
        assert_eq!(parse_jaas(text, "Server"), Err(JaasError::NoSection { section: "Server".into() }));
        // Section names are case-sensitive, as the JDK's map is.
        assert!(matches!(parse_jaas(text, "zkserver"), Err(JaasError::NoSection { .. })));
        // An empty section is no section to the JDK.
        assert!(matches!(parse_jaas("Server { };", "Server"), Err(JaasError::NoSection { .. })));
    }

    #[test]
    fn words_quotes_and_escapes() {
        let text = "Server {\n org.apache.zookeeper.server.auth.DigestLoginModule REQUIRED\n \
                    user_plain=unquoted.word-with_stuff*\n user_esc=\"a\\\"b\\\\c\\n\\101\\7x\"\n \
                    \"user_quoted key\"=\"p w\" user_empty=\"\"\n user_ü=\"ä\";\n};";
        let u = parse_jaas(text, "Server").unwrap();
        assert_eq!(u.password("plain"), Some("unquoted.word-with_stuff*"));
        assert_eq!(u.password("esc"), Some("a\"b\\c\nA\u{7}x"));
        assert_eq!(u.password("quoted key"), Some("p w"));
        assert_eq!(u.password("empty"), Some(""));
        assert_eq!(u.password("ü"), Some("ä"));
    }

    #[test]
    fn users_from_every_entry_of_the_section() {
        // ZooKeeper 3.8 takes user_ options from every login module of the section.
        let text = "Server {\n org.apache.zookeeper.server.auth.DigestLoginModule required user_a=\"1\";\n \
                    com.example.Audit optional user_b=\"2\" user_a=\"3\";\n};";
        let u = parse_jaas(text, "Server").unwrap();
        assert_eq!(users(&u), pairs(&[("a", "3"), ("b", "2")]));
        assert_eq!(u.ignored_modules(), ["com.example.Audit".to_string()]);
    }

    #[test]
    fn kerberos_and_other_modules_are_reported() {
        let krb = "Server {\n com.sun.security.auth.module.Krb5LoginModule required\n useKeyTab=true\n \
                   keyTab=\"/etc/zk.keytab\"\n storeKey=true\n principal=\"zookeeper/host@EXAMPLE.COM\";\n};";
        let err = parse_jaas(krb, "Server").unwrap_err();
        assert_eq!(
            err,
            JaasError::Kerberos {
                section: "Server".into(),
                module: "com.sun.security.auth.module.Krb5LoginModule".into()
            }
        );
        assert!(err.to_string().contains("Kerberos (GSSAPI) is not supported"), "{err}");
        let other = "Server { com.example.Ldap required url=\"x\"; };";
        assert!(matches!(parse_jaas(other, "Server"), Err(JaasError::NoDigestModule { .. })));
    }

    #[test]
    fn syntax_errors_anywhere_in_the_file() {
        let cases = [
            ("Server { org.apache.zookeeper.server.auth.DigestLoginModule required user_a=\"1\" }", 1),
            ("Server {\n org.apache.zookeeper.server.auth.DigestLoginModule mandatory;\n};", 2),
            ("Server { org.apache.zookeeper.server.auth.DigestLoginModule required user_a=123; };", 1),
            ("Server { org.apache.zookeeper.server.auth.DigestLoginModule required user_a='x'; };", 1),
            ("Server { org.apache.zookeeper.server.auth.DigestLoginModule required user_a; };", 1),
            ("Server { org.apache.zookeeper.server.auth.DigestLoginModule required user_a=\"${x}\"; };", 1),
            ("Server { org.apache.zookeeper.server.auth.DigestLoginModule required; }", 1),
            ("\n\nOther { x required; };\nBroken {", 4),
        ];
        for (text, line) in cases {
            match parse_jaas(text, "Server") {
                Err(JaasError::Syntax { line: l, message }) => assert_eq!(l, line, "{text:?}: {message}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
        let dup = "Server { a required; };\nServer { b required; };";
        assert_eq!(parse_jaas(dup, "Server"), Err(JaasError::DuplicateSection { name: "Server".into() }));
    }

    #[test]
    fn lone_slash_comments_out_the_rest_of_the_line() {
        let text = "Server { org.apache.zookeeper.server.auth.DigestLoginModule required / user_a=\"1\"\n\
                    user_b=\"2\"; };";
        assert_eq!(users(&parse_jaas(text, "Server").unwrap()), pairs(&[("b", "2")]));
    }

    #[test]
    fn unterminated_string_ends_at_the_line_end() {
        let text = "Server { org.apache.zookeeper.server.auth.DigestLoginModule required user_a=\"open\n;};";
        assert_eq!(parse_jaas(text, "Server").unwrap().password("a"), Some("open"));
    }

    #[test]
    fn super_password_property_applies_only_to_a_listed_super() {
        let mut u = parse_jaas(OPERATOR_FILE, "Server").unwrap();
        u.set_super_password(Some("fromflag".into()));
        assert_eq!(u.password("super"), Some("fromflag"));
        assert_eq!(u.password("bob"), Some("bobsecret"));
        let mut only_bob = SaslUsers::new();
        only_bob.insert("bob", "x");
        only_bob.set_super_password(Some("fromflag".into()));
        assert_eq!(only_bob.password("super"), None);
    }

    #[test]
    fn debug_hides_passwords() {
        let u = parse_jaas(OPERATOR_FILE, "Server").unwrap();
        let shown = format!("{u:?}");
        assert!(shown.contains("bob") && !shown.contains("bobsecret"), "{shown}");
    }
}
