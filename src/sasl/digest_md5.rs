//! The server side of SASL DIGEST-MD5 (RFC 2831) exactly as Apache ZooKeeper runs it: the JDK's
//! `DigestMD5Server` created with protocol `zookeeper` and server name `zk-sasl-md5`, no
//! properties (so qop `auth` only, realm `zk-sasl-md5`, UTF-8), and ZooKeeper's
//! `SaslServerCallbackHandler` giving passwords and the authorization id.
//!
//! The exchange (seen on the wire between zkCli.sh or kazoo and Apache ZooKeeper 3.8.0):
//!
//! 1. client token empty → challenge
//!    `realm="zk-sasl-md5",nonce="<nonce>",charset=utf-8,algorithm=md5-sess` (no qop directive: the
//!    default, `auth`, is the only one offered);
//! 2. client token `digest-response` → `rspauth=<32 hex>`, and the exchange is complete.
//!
//! Anything after that is an error ("server at illegal state"), as is any failure on the way.

use std::sync::Arc;

use md5::{Digest, Md5};

use super::SaslUsers;

/// The realm ZooKeeper hard-wires on both sides (the SASL "server name").
pub const REALM: &str = "zk-sasl-md5";
/// The SASL protocol (service) name.
pub const SERVICE: &str = "zookeeper";
/// `serv-type "/" host` the client must send (compared ignoring case).
pub const DIGEST_URI: &str = "zookeeper/zk-sasl-md5";
/// Longest client token accepted (the JDK's `MAX_RESPONSE_LENGTH`).
pub const MAX_RESPONSE_LEN: usize = 4096;

/// What to send back in the `SetSASLResponse` token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslStep {
    /// Send this token and wait for the client's next one.
    Challenge(Vec<u8>),
    /// Authenticated: send `final_token` (`rspauth=...`) with err 0, and add the id
    /// `sasl:<authorization_id>` to the connection.
    Success { final_token: Vec<u8>, authorization_id: String },
}

/// Why an exchange failed. ZooKeeper answers every one of these alike (AuthFailed, close); the
/// text is for the server log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    #[error("DIGEST-MD5: invalid digest response length: {0} bytes, at most 4096")]
    TooLong(usize),
    #[error("DIGEST-MD5: digest response format violation: {0}")]
    Format(String),
    #[error(
        "DIGEST-MD5: qop {0:?} is not supported: ferrozk (like ZooKeeper) offers qop auth only, \
         no integrity or confidentiality layer"
    )]
    UnsupportedQop(String),
    #[error("DIGEST-MD5: cannot acquire password for {0:?} in realm zk-sasl-md5 (no user_{0} in the JAAS section)")]
    UnknownUser(String),
    #[error("DIGEST-MD5: mismatched response for user {0:?} (wrong password?)")]
    BadResponse(String),
    #[error("DIGEST-MD5: {0:?} is not a valid principal name (an '@' name must be name[/host]@realm)")]
    BadName(String),
    #[error("DIGEST-MD5: server at illegal state: the exchange has already ended")]
    Finished,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    AwaitResponse,
    Done,
}

/// One connection's DIGEST-MD5 exchange. Pure: the nonce comes from the caller.
pub struct DigestMd5Server {
    users: Arc<SaslUsers>,
    nonce: String,
    state: State,
}

impl std::fmt::Debug for DigestMd5Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestMd5Server").field("nonce", &self.nonce).field("state", &self.state).finish()
    }
}

impl DigestMd5Server {
    /// `nonce` must be fresh and unguessable for each exchange. The JDK sends 40 base64 characters
    /// (30 random bytes); anything without `"` or `\` is sent as is.
    pub fn new(users: Arc<SaslUsers>, nonce: String) -> Self {
        DigestMd5Server { users, nonce, state: State::Start }
    }

    /// True once the exchange has ended, by success or failure.
    pub fn is_finished(&self) -> bool {
        self.state == State::Done
    }

    /// Takes the client's token (from `GetSASLRequest`) and returns the server's answer.
    pub fn step(&mut self, client_token: &[u8]) -> Result<SaslStep, SaslError> {
        if client_token.len() > MAX_RESPONSE_LEN {
            return Err(SaslError::TooLong(client_token.len()));
        }
        match self.state {
            State::Start => {
                // An initial response ("subsequent authentication") is ignored, as the JDK does.
                self.state = State::AwaitResponse;
                Ok(SaslStep::Challenge(self.challenge()))
            }
            State::AwaitResponse => {
                self.state = State::Done;
                self.verify(client_token)
            }
            State::Done => Err(SaslError::Finished),
        }
    }

    fn challenge(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(b"realm=\"");
        push_quoted(&mut out, REALM.as_bytes());
        out.extend_from_slice(b"\",nonce=\"");
        push_quoted(&mut out, self.nonce.as_bytes());
        out.extend_from_slice(b"\",charset=utf-8,algorithm=md5-sess");
        out
    }

    fn verify(&self, token: &[u8]) -> Result<SaslStep, SaslError> {
        let d = Directives::parse(token)?;
        if let Some(charset) = &d.charset {
            if charset.as_slice() != b"utf-8" {
                return Err(format_err(format!("incompatible charset value: {}", lossy(charset))));
            }
        }
        if let Some(maxbuf) = &d.maxbuf {
            if java_parse_int(&lossy(maxbuf), 10).is_none() {
                return Err(format_err(format!("bad maxbuf: {}", lossy(maxbuf))));
            }
        }
        let username = match &d.username {
            Some(u) => lossy(u),
            None => return Err(format_err("missing username".into())),
        };
        let realm = d.realm.as_deref().map(lossy).unwrap_or_default();
        if realm != REALM {
            return Err(format_err(format!("nonexistent realm: {realm}")));
        }
        match &d.nonce {
            None => return Err(format_err("missing nonce".into())),
            Some(n) if n.as_slice() != self.nonce.as_bytes() => return Err(format_err("mismatched nonce".into())),
            Some(_) => {}
        }
        let Some(cnonce) = &d.cnonce else { return Err(format_err("missing cnonce".into())) };
        if let Some(nc) = &d.nonce_count {
            if java_parse_int(&lossy(nc), 16) != Some(1) {
                return Err(format_err(format!("nonce count does not match: {}", lossy(nc))));
            }
        }
        let qop = d.qop.as_deref().map(lossy).unwrap_or_else(|| "auth".to_string());
        match qop.as_str() {
            "auth" => {}
            "auth-int" | "auth-conf" => return Err(SaslError::UnsupportedQop(qop)),
            _ => return Err(format_err(format!("invalid QOP: {qop}"))),
        }
        let digest_uri = d.digest_uri.as_deref().map(lossy);
        let digest_uri = match digest_uri {
            Some(uri) if java_equals_ignore_case(&uri, DIGEST_URI) => uri,
            other => {
                return Err(format_err(format!(
                    "mismatched URI: {}; expecting: {DIGEST_URI}",
                    other.as_deref().unwrap_or("null")
                )))
            }
        };
        let Some(response) = &d.response else { return Err(format_err("missing response".into())) };
        let password = self.users.password(&username).ok_or_else(|| SaslError::UnknownUser(username.clone()))?;
        let inputs = DigestInputs {
            username: &username,
            realm: REALM,
            password,
            nonce: self.nonce.as_bytes(),
            cnonce,
            digest_uri: &digest_uri,
            authzid: d.authzid.as_deref(),
        };
        if response.as_slice() != response_value(&inputs, "AUTHENTICATE") {
            return Err(SaslError::BadResponse(username));
        }
        let authorization_id = zookeeper_authorization_id(&username)?;
        let mut final_token = b"rspauth=".to_vec();
        final_token.extend_from_slice(&response_value(&inputs, ""));
        Ok(SaslStep::Success { final_token, authorization_id })
    }
}

/// The identity ZooKeeper records (`sasl:<id>`, shown by whoami and matched by `sasl` ACLs).
///
/// ZooKeeper's `SaslServerCallbackHandler` authorizes every authenticated user and derives the id
/// from the authentication id (the `username`), never from the `authzid` the client asks for
/// (the Java client sends authzid = username; kazoo sends none). Through `KerberosName` with the
/// default rules and no Kerberos realm configured, a plain name, and a `name[/host]@` name with an
/// empty realm, come back unchanged. A name with an '@' that is not `name[/host]@realm` makes Java
/// throw; refused here. For `name[/host]@REALM` with a non-empty realm no rule applies and Java
/// falls back to the client's authzid; ferrozk keeps the username instead (a client never chooses
/// its own identity; the same result for the Java client, which sends authzid = username).
fn zookeeper_authorization_id(username: &str) -> Result<String, SaslError> {
    if username.contains('@') {
        let (principal, realm) = username.rsplit_once('@').unwrap_or_default();
        let service = principal.split_once('/').map_or(principal, |(s, _)| s);
        let host = principal.split_once('/').map(|(_, h)| h);
        let clean = |s: &str| !s.contains('/') && !s.contains('@');
        if !clean(service) || !clean(realm) || !host.is_none_or(clean) {
            return Err(SaslError::BadName(username.to_string()));
        }
    }
    Ok(username.to_string())
}

/// What `response-value` (RFC 2831 §2.1.2.1) is computed from.
#[derive(Debug, Clone, Copy)]
pub struct DigestInputs<'a> {
    pub username: &'a str,
    pub realm: &'a str,
    pub password: &'a str,
    pub nonce: &'a [u8],
    pub cnonce: &'a [u8],
    pub digest_uri: &'a str,
    pub authzid: Option<&'a [u8]>,
}

/// RFC 2831 `response-value` for qop `auth`, nonce count 1, algorithm md5-sess, as 32 lowercase hex
/// digits: `method` is `"AUTHENTICATE"` for the client's `response`, `""` for the server's `rspauth`.
///
/// User name, realm and password are hashed in ISO 8859-1 when every character fits, else in UTF-8
/// (the JDK's rule, which RFC 2831 §2.1.2.1 describes for `charset=utf-8`).
pub fn response_value(inputs: &DigestInputs<'_>, method: &str) -> Vec<u8> {
    let mut user_realm_password = latin1_or_utf8(inputs.username);
    user_realm_password.push(b':');
    user_realm_password.extend(latin1_or_utf8(inputs.realm));
    user_realm_password.push(b':');
    user_realm_password.extend(latin1_or_utf8(inputs.password));
    let mut a1 = Md5::digest(&user_realm_password).to_vec();
    a1.push(b':');
    a1.extend_from_slice(inputs.nonce);
    a1.push(b':');
    a1.extend_from_slice(inputs.cnonce);
    if let Some(authzid) = inputs.authzid {
        a1.push(b':');
        a1.extend_from_slice(authzid);
    }
    let a2 = format!("{method}:{}", inputs.digest_uri);
    let mut kd = hex(&Md5::digest(&a1));
    kd.push(b':');
    kd.extend_from_slice(inputs.nonce);
    kd.extend_from_slice(b":00000001:");
    kd.extend_from_slice(inputs.cnonce);
    kd.extend_from_slice(b":auth:");
    kd.extend(hex(&Md5::digest(a2.as_bytes())));
    hex(&Md5::digest(&kd))
}

fn hex(bytes: &[u8]) -> Vec<u8> {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes.iter().flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]]).collect()
}

fn latin1_or_utf8(s: &str) -> Vec<u8> {
    if s.chars().all(|c| u32::from(c) <= 0xFF) {
        s.chars().map(|c| u32::from(c) as u8).collect()
    } else {
        s.as_bytes().to_vec()
    }
}

/// Bytes as the JDK's `new String(bytes, UTF_8)` reads them.
fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn format_err(s: String) -> SaslError {
    SaslError::Format(s)
}

/// `"`, `\`, DEL and control characters other than CR, HT, LF get a backslash (RFC 2831 §7.2).
fn push_quoted(out: &mut Vec<u8>, value: &[u8]) {
    for &b in value {
        if b == b'"' || b == b'\\' || b == 127 || (b <= 31 && !matches!(b, 9 | 10 | 13)) {
            out.push(b'\\');
        }
        out.push(b);
    }
}

/// `Integer.parseInt(s, radix)`: optional sign, at least one digit, fits an i32.
fn java_parse_int(s: &str, radix: u32) -> Option<i32> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    i32::from_str_radix(s, radix).ok()
}

/// `String.equalsIgnoreCase`: per character, equal after upper- or after lower-casing.
fn java_equals_ignore_case(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    a.len() == b.len()
        && a.iter().zip(&b).all(|(&x, &y)| {
            x == y || {
                let (ux, uy) = (single_upper(x), single_upper(y));
                ux == uy || single_lower(ux) == single_lower(uy)
            }
        })
}

fn single_upper(c: char) -> char {
    let mut it = c.to_uppercase();
    match (it.next(), it.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

fn single_lower(c: char) -> char {
    let mut it = c.to_lowercase();
    match (it.next(), it.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// The directives of a `digest-response` the server looks at; others are ignored.
#[derive(Debug, Default)]
struct Directives {
    username: Option<Vec<u8>>,
    realm: Option<Vec<u8>>,
    nonce: Option<Vec<u8>>,
    cnonce: Option<Vec<u8>>,
    nonce_count: Option<Vec<u8>>,
    qop: Option<Vec<u8>>,
    digest_uri: Option<Vec<u8>>,
    response: Option<Vec<u8>>,
    maxbuf: Option<Vec<u8>>,
    charset: Option<Vec<u8>>,
    cipher: Option<Vec<u8>>,
    authzid: Option<Vec<u8>>,
    auth_param: Option<Vec<u8>>,
}

fn is_lws(b: u8) -> bool {
    matches!(b, b'\r' | b'\n' | b' ' | b'\t')
}

fn skip_lws(buf: &[u8], mut i: usize) -> usize {
    while i < buf.len() && is_lws(buf[i]) {
        i += 1;
    }
    i
}

impl Directives {
    /// The JDK's `parseDirectives`: `key=value` or `key="quoted"` pairs separated by commas and
    /// linear white space; keys compared ignoring ASCII case; a known key twice is an error.
    fn parse(buf: &[u8]) -> Result<Directives, SaslError> {
        let mut d = Directives::default();
        let mut key: Vec<u8> = Vec::new();
        let mut value: Vec<u8> = Vec::new();
        let mut getting_key = true;
        let mut quoted = false;
        let mut expect_separator = false;
        let mut i = skip_lws(buf, 0);
        while i < buf.len() {
            let b = buf[i];
            if getting_key {
                if b == b',' {
                    if !key.is_empty() {
                        return Err(format_err(format!("directive key contains a ',': {}", lossy(&key))));
                    }
                    i = skip_lws(buf, i + 1);
                } else if b == b'=' {
                    if key.is_empty() {
                        return Err(format_err("empty directive key".into()));
                    }
                    getting_key = false;
                    i = skip_lws(buf, i + 1);
                    if i < buf.len() {
                        if buf[i] == b'"' {
                            quoted = true;
                            i += 1;
                        }
                    } else {
                        return Err(format_err(format!("valueless directive found: {}", lossy(&key))));
                    }
                } else if is_lws(b) {
                    i = skip_lws(buf, i + 1);
                    if i >= buf.len() || buf[i] != b'=' {
                        return Err(format_err(format!("'=' expected after key: {}", lossy(&key))));
                    }
                } else {
                    key.push(b);
                    i += 1;
                }
            } else if quoted {
                if b == b'\\' {
                    i += 1;
                    if i < buf.len() {
                        value.push(buf[i]);
                        i += 1;
                    } else {
                        return Err(format_err(format!("unmatched quote found for directive: {}", lossy(&key))));
                    }
                } else if b == b'"' {
                    i += 1;
                    quoted = false;
                    expect_separator = true;
                } else {
                    value.push(b);
                    i += 1;
                }
            } else if is_lws(b) || b == b',' {
                d.set(&key, std::mem::take(&mut value))?;
                key.clear();
                getting_key = true;
                quoted = false;
                expect_separator = false;
                i = skip_lws(buf, i + 1);
            } else if expect_separator {
                return Err(format_err(format!(
                    "expecting comma or linear whitespace after quoted string: \"{}\"",
                    lossy(&value)
                )));
            } else {
                value.push(b);
                i += 1;
            }
        }
        if quoted {
            return Err(format_err(format!("unmatched quote found for directive: {}", lossy(&key))));
        }
        if !key.is_empty() {
            d.set(&key, value)?;
        }
        Ok(d)
    }

    fn set(&mut self, key: &[u8], value: Vec<u8>) -> Result<(), SaslError> {
        let key_text = lossy(key);
        let slot = match key_text.to_ascii_lowercase().as_str() {
            "username" => &mut self.username,
            "realm" => &mut self.realm,
            "nonce" => &mut self.nonce,
            "cnonce" => &mut self.cnonce,
            // The JDK's table says "nonce-count" where RFC 2831 says "nc": a client's `nc` is
            // ignored (the hash always uses 00000001, so any other count fails there).
            "nonce-count" => &mut self.nonce_count,
            "qop" => &mut self.qop,
            "digest-uri" => &mut self.digest_uri,
            "response" => &mut self.response,
            "maxbuf" => &mut self.maxbuf,
            "charset" => &mut self.charset,
            "cipher" => &mut self.cipher,
            "authzid" => &mut self.authzid,
            "auth-param" => &mut self.auth_param,
            _ => return Ok(()),
        };
        if slot.is_some() {
            return Err(format_err(format!("peer sent more than one {key_text} directive: {}", lossy(&value))));
        }
        *slot = Some(value);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
