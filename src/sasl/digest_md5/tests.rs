//! DigestMd5Server against RFC 2831's examples, recorded Apache ZooKeeper exchanges and
//! responses computed independently.

use super::*;

fn users() -> Arc<SaslUsers> {
    let mut u = SaslUsers::new();
    u.insert("bob", "bobsecret");
    u.insert("super", "adminsecret");
    u.insert("jürgen", "pässwörd");
    u.insert("ünï€", "p€ss");
    Arc::new(u)
}

/// A digest-response built independently of the server code (its own MD5 plumbing).
fn client_response(user: &str, password: &str, nonce: &str, cnonce: &str, authzid: Option<&str>) -> (Vec<u8>, String) {
    // H(A1) with md5-sess; ASCII inputs only here.
    let inner = Md5::digest(format!("{user}:{REALM}:{password}").as_bytes());
    let mut a1 = inner.to_vec();
    a1.extend_from_slice(format!(":{nonce}:{cnonce}").as_bytes());
    if let Some(z) = authzid {
        a1.extend_from_slice(format!(":{z}").as_bytes());
    }
    let ha1 = format!("{:x}", Md5::digest(&a1));
    let kd = |a2: &str| {
        let ha2 = format!("{:x}", Md5::digest(a2.as_bytes()));
        format!("{:x}", Md5::digest(format!("{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}").as_bytes()))
    };
    let response = kd(&format!("AUTHENTICATE:{DIGEST_URI}"));
    let rspauth = kd(&format!(":{DIGEST_URI}"));
    let mut token = format!(
        "charset=utf-8,username=\"{user}\",realm=\"{REALM}\",nonce=\"{nonce}\",nc=00000001,cnonce=\"{cnonce}\",\
         digest-uri=\"{DIGEST_URI}\",maxbuf=65536,response={response},qop=auth"
    );
    if let Some(z) = authzid {
        token.push_str(&format!(",authzid=\"{z}\""));
    }
    (token.into_bytes(), format!("rspauth={rspauth}"))
}

fn started(nonce: &str) -> DigestMd5Server {
    let mut s = DigestMd5Server::new(users(), nonce.to_string());
    assert!(matches!(s.step(b""), Ok(SaslStep::Challenge(_))));
    s
}

#[test]
fn rfc2831_imap_example() {
    // RFC 2831 §4, first example (IMAP).
    let inputs = DigestInputs {
        username: "chris",
        realm: "elwood.innosoft.com",
        password: "secret",
        nonce: b"OA6MG9tEQGm2hh",
        cnonce: b"OA6MHXh6VqTrRk",
        digest_uri: "imap/elwood.innosoft.com",
        authzid: None,
    };
    assert_eq!(response_value(&inputs, "AUTHENTICATE"), b"d388dad90d4bbd760a152321f2143af7");
    assert_eq!(response_value(&inputs, ""), b"ea40f60335c427b5527b84dbabcdfffd");
}

#[test]
fn rfc2831_acap_example() {
    // RFC 2831 §4, second example (ACAP).
    let inputs = DigestInputs {
        username: "chris",
        realm: "elwood.innosoft.com",
        password: "secret",
        nonce: b"OA9BSXrbuRhWay",
        cnonce: b"OA9BSuZWMSpW8m",
        digest_uri: "acap/elwood.innosoft.com",
        authzid: None,
    };
    assert_eq!(response_value(&inputs, "AUTHENTICATE"), b"6084c6db3fede7352c551284490fd0fc");
    assert_eq!(response_value(&inputs, ""), b"2f0b3d7c3c2e486600ef710726aa2eae");
}

/// Recorded from zkCli.sh (ZooKeeper 3.8.0 Java client, JDK 17) talking to Apache ZooKeeper
/// 3.8.0 with `user_bob="bobsecret"`: the server's nonce is fed in, so every byte must match.
#[test]
fn replays_java_client_against_apache_zookeeper() {
    let nonce = "RcqBudAauQDIe+M5pxb1uJA+yrXFIxnC8eq+nWs3";
    let mut s = DigestMd5Server::new(users(), nonce.to_string());
    let challenge = s.step(b"").unwrap();
    assert_eq!(
        challenge,
        SaslStep::Challenge(
            b"realm=\"zk-sasl-md5\",nonce=\"RcqBudAauQDIe+M5pxb1uJA+yrXFIxnC8eq+nWs3\",charset=utf-8,algorithm=md5-sess"
                .to_vec()
        )
    );
    let response =
        b"charset=utf-8,username=\"bob\",realm=\"zk-sasl-md5\",nonce=\"RcqBudAauQDIe+M5pxb1uJA+yrXFIxnC8eq+nWs3\",\
nc=00000001,cnonce=\"H/UZORhhti3q0IX2vsyZ+S6MzdzSW3fHElLw8cZv\",digest-uri=\"zookeeper/zk-sasl-md5\",maxbuf=65536,\
response=09b0be353e956f9016c6fa0b820530d6,qop=auth,authzid=\"bob\"";
    assert_eq!(
        s.step(response),
        Ok(SaslStep::Success {
            final_token: b"rspauth=75be07ab45513a618293571653f011d2".to_vec(),
            authorization_id: "bob".into()
        })
    );
    assert!(s.is_finished());
    assert_eq!(s.step(b""), Err(SaslError::Finished));
}

/// Recorded from kazoo 2.10 + pure-sasl 0.6.2 against Apache ZooKeeper 3.8.0: no authzid, no
/// charset, qop first.
#[test]
fn replays_kazoo_against_apache_zookeeper() {
    let mut s = started("QrCUepnSf3AVrf/AStmNoauKlsb1rLvfNLvIo0L7");
    let response =
        b"qop=auth,realm=\"zk-sasl-md5\",username=\"bob\",nonce=\"QrCUepnSf3AVrf/AStmNoauKlsb1rLvfNLvIo0L7\",\
cnonce=\"8609745586420658\",nc=00000001,digest-uri=\"zookeeper/zk-sasl-md5\",response=782b828dfa05e40e3bbf7ece8e3932af";
    assert_eq!(
        s.step(response),
        Ok(SaslStep::Success {
            final_token: b"rspauth=dea2cbaf5af84a6d4f63984c65931fbd".to_vec(),
            authorization_id: "bob".into()
        })
    );
}

/// Recorded: zkCli.sh with password "wrong"; Apache ZooKeeper answered AuthFailed.
#[test]
fn replays_java_client_with_a_wrong_password() {
    let mut s = started("8u0gyVM3/CFpMWzU4fMwnQ1WSr9MnnSQRTBi6Nj4");
    let response =
        b"charset=utf-8,username=\"bob\",realm=\"zk-sasl-md5\",nonce=\"8u0gyVM3/CFpMWzU4fMwnQ1WSr9MnnSQRTBi6Nj4\",\
nc=00000001,cnonce=\"iHEmcOeGexB8fBj+xYAIVUogHzZ7DdKmRVQr2jhK\",digest-uri=\"zookeeper/zk-sasl-md5\",maxbuf=65536,\
response=48b16048569b212d3d8d2ead6f6716ae,qop=auth,authzid=\"bob\"";
    assert_eq!(s.step(response), Err(SaslError::BadResponse("bob".into())));
    assert_eq!(s.step(b""), Err(SaslError::Finished));
}

#[test]
fn full_exchange_computed_independently() {
    for authzid in [None, Some("bob"), Some("someone-else")] {
        let mut s = started("n0nce/+=");
        let (token, rspauth) = client_response("bob", "bobsecret", "n0nce/+=", "c-n0nce", authzid);
        match s.step(&token).unwrap() {
            SaslStep::Success { final_token, authorization_id } => {
                assert_eq!(String::from_utf8(final_token).unwrap(), rspauth);
                // ZooKeeper's identity is the username whatever authzid was asked for.
                assert_eq!(authorization_id, "bob");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn initial_response_is_ignored() {
    let mut s = DigestMd5Server::new(users(), "abc".into());
    assert_eq!(
        s.step(b"some GSSAPI token"),
        Ok(SaslStep::Challenge(b"realm=\"zk-sasl-md5\",nonce=\"abc\",charset=utf-8,algorithm=md5-sess".to_vec()))
    );
}

#[test]
fn nonce_is_quoted_in_the_challenge_and_unquoted_in_the_response() {
    let raw = "a\"b\\c";
    let mut s = DigestMd5Server::new(users(), raw.into());
    assert_eq!(
        s.step(b""),
        Ok(SaslStep::Challenge(
            b"realm=\"zk-sasl-md5\",nonce=\"a\\\"b\\\\c\",charset=utf-8,algorithm=md5-sess".to_vec()
        ))
    );
    // The client hashes the nonce it read and sends it back quoted again.
    let (token, rspauth) = client_response("bob", "bobsecret", raw, "x", None);
    let token = String::from_utf8(token).unwrap().replace(&format!("nonce=\"{raw}\""), "nonce=\"a\\\"b\\\\c\"");
    match s.step(token.as_bytes()) {
        Ok(SaslStep::Success { final_token, .. }) => assert_eq!(final_token, rspauth.into_bytes()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn non_ascii_user_and_password() {
    // ISO 8859-1 when every character fits (jürgen / pässwörd), UTF-8 otherwise (ünï€ / p€ss).
    for (user, password, encode) in [
        ("jürgen", "pässwörd", latin1_or_utf8 as fn(&str) -> Vec<u8>),
        ("ünï€", "p€ss", |s: &str| s.as_bytes().to_vec()),
    ] {
        let mut s = started("N");
        let mut a = encode(user);
        a.extend_from_slice(b":zk-sasl-md5:");
        a.extend(latin1_or_utf8(password));
        let mut a1 = Md5::digest(&a).to_vec();
        a1.extend_from_slice(b":N:C");
        let ha1 = format!("{:x}", Md5::digest(&a1));
        let ha2 = format!("{:x}", Md5::digest(b"AUTHENTICATE:zookeeper/zk-sasl-md5"));
        let response = format!("{:x}", Md5::digest(format!("{ha1}:N:00000001:C:auth:{ha2}").as_bytes()));
        let token = format!(
            "username=\"{user}\",realm=\"zk-sasl-md5\",nonce=\"N\",cnonce=\"C\",nc=00000001,qop=auth,\
             digest-uri=\"zookeeper/zk-sasl-md5\",response={response},charset=utf-8"
        );
        match s.step(token.as_bytes()) {
            Ok(SaslStep::Success { authorization_id, .. }) => assert_eq!(authorization_id, user),
            other => panic!("{user}: {other:?}"),
        }
    }
    assert_eq!(latin1_or_utf8("jürgen"), b"j\xfcrgen");
}

#[test]
fn super_password_property() {
    let mut u = SaslUsers::new();
    u.insert("super", "fromjaas");
    u.set_super_password(Some("fromflag".into()));
    let u = Arc::new(u);
    for (password, ok) in [("fromflag", true), ("fromjaas", false)] {
        let mut s = DigestMd5Server::new(u.clone(), "N".into());
        s.step(b"").unwrap();
        let (token, _) = client_response("super", password, "N", "C", Some("super"));
        assert_eq!(s.step(&token).is_ok(), ok, "{password}");
    }
}

/// Each edit of a good response, and the error it must give.
#[test]
fn refusals() {
    let nonce = "NONCE";
    let (good, _) = client_response("bob", "bobsecret", nonce, "CN", None);
    let good = String::from_utf8(good).unwrap();
    type Check = fn(&SaslError) -> bool;
    let cases: Vec<(String, Check)> = vec![
        (
            good.replace("username=\"bob\"", "username=\"eve\""),
            |e| matches!(e, SaslError::UnknownUser(u) if u == "eve"),
        ),
        (
            good.replace("username=\"bob\",", ""),
            |e| matches!(e, SaslError::Format(m) if m.contains("missing username")),
        ),
        (
            good.replace("realm=\"zk-sasl-md5\"", "realm=\"other\""),
            |e| matches!(e, SaslError::Format(m) if m.contains("realm")),
        ),
        (good.replace("realm=\"zk-sasl-md5\",", ""), |e| matches!(e, SaslError::Format(m) if m.contains("realm"))),
        (
            good.replace("nonce=\"NONCE\"", "nonce=\"OTHER\""),
            |e| matches!(e, SaslError::Format(m) if m.contains("nonce")),
        ),
        (good.replace("cnonce=\"CN\",", ""), |e| matches!(e, SaslError::Format(m) if m.contains("cnonce"))),
        (
            good.replace("nc=00000001", "nonce-count=2"),
            |e| matches!(e, SaslError::Format(m) if m.contains("nonce count")),
        ),
        (
            good.replace("nc=00000001", "nonce-count=zz"),
            |e| matches!(e, SaslError::Format(m) if m.contains("nonce count")),
        ),
        (good.replace("qop=auth", "qop=auth-int"), |e| matches!(e, SaslError::UnsupportedQop(q) if q == "auth-int")),
        (good.replace("qop=auth", "qop=auth-conf"), |e| matches!(e, SaslError::UnsupportedQop(_))),
        (good.replace("qop=auth", "qop=bogus"), |e| matches!(e, SaslError::Format(m) if m.contains("QOP"))),
        (
            good.replace("zookeeper/zk-sasl-md5", "zookeeper/otherhost"),
            |e| matches!(e, SaslError::Format(m) if m.contains("URI")),
        ),
        (
            good.replace("digest-uri=\"zookeeper/zk-sasl-md5\",", ""),
            |e| matches!(e, SaslError::Format(m) if m.contains("URI")),
        ),
        (
            good.replace("charset=utf-8", "charset=iso-8859-1"),
            |e| matches!(e, SaslError::Format(m) if m.contains("charset")),
        ),
        (good.replace("maxbuf=65536", "maxbuf=lots"), |e| matches!(e, SaslError::Format(m) if m.contains("maxbuf"))),
        (
            good.replace(",qop=auth", ",qop=auth,qop=auth"),
            |e| matches!(e, SaslError::Format(m) if m.contains("more than one")),
        ),
        (good.replace("response=", "response=0"), |e| matches!(e, SaslError::BadResponse(_))),
        (good.to_uppercase().replace("USERNAME=\"BOB\"", "username=\"bob\""), |e| matches!(e, SaslError::Format(_))),
        (
            good.replace("realm=\"zk-sasl-md5\"", "realm=\"zk-sasl-md5"),
            |e| matches!(e, SaslError::Format(m) if m.contains("quote")),
        ),
        (
            good.replace("realm=\"zk-sasl-md5\"", "realm=\"zk-sasl-md5\"x"),
            |e| matches!(e, SaslError::Format(m) if m.contains("after quoted")),
        ),
        (format!("{good},authzid"), |e| matches!(e, SaslError::BadResponse(_))),
        (format!("{good},=x"), |e| matches!(e, SaslError::Format(m) if m.contains("empty directive key"))),
        (format!("{good},key ,"), |e| matches!(e, SaslError::Format(m) if m.contains("'=' expected"))),
        (format!("{good},key="), |e| matches!(e, SaslError::Format(m) if m.contains("valueless"))),
    ];
    for (token, check) in cases {
        let mut s = started(nonce);
        let err = s.step(token.as_bytes()).unwrap_err();
        assert!(check(&err), "{token}: {err}");
        assert!(s.is_finished());
    }
    let mut s = started(nonce);
    assert_eq!(s.step(&[b'x'; 4097]), Err(SaslError::TooLong(4097)));
}

#[test]
fn tolerated_variations() {
    let nonce = "NONCE";
    let (good, _) = client_response("bob", "bobsecret", nonce, "CN", None);
    let good = String::from_utf8(good).unwrap();
    for token in [
        good.clone(),
        good.replace(',', " ,\r\n\t"),
        good.replace("nc=00000001", "nonce-count=1"),
        good.replace("nc=00000001", "nc=00000001,nc=1"),
        // Not checked (see Directives::set); only the hash, always with 00000001, is.
        good.replace("nc=00000001", "nc=00000002"),
        good.replace(",qop=auth", ""),
        good.replace("zookeeper/zk-sasl-md5", "ZooKeeper/ZK-SASL-MD5"),
        good.replace("username=", "UserName="),
        format!("{good},unknown=\"x\",unknown=y,cipher=rc4"),
        format!(",,{good},,"),
    ] {
        let mut s = started(nonce);
        let result = s.step(token.as_bytes());
        if token.contains("ZooKeeper/ZK") {
            // The URI matches ignoring case, but the client's spelling is what gets hashed.
            assert_eq!(result, Err(SaslError::BadResponse("bob".into())), "{token}");
        } else {
            assert!(matches!(result, Ok(SaslStep::Success { .. })), "{token}: {result:?}");
        }
    }
}

#[test]
fn authorization_id_is_the_username() {
    assert_eq!(zookeeper_authorization_id("bob"), Ok("bob".into()));
    assert_eq!(zookeeper_authorization_id("a/b"), Ok("a/b".into()));
    assert_eq!(zookeeper_authorization_id("svc/host@"), Ok("svc/host@".into()));
    assert_eq!(zookeeper_authorization_id("bob@EXAMPLE.COM"), Ok("bob@EXAMPLE.COM".into()));
    assert!(zookeeper_authorization_id("a@b@c").is_err());
    assert!(zookeeper_authorization_id("a/b/c@R").is_err());
}

#[test]
fn java_int_parsing() {
    assert_eq!(java_parse_int("00000001", 16), Some(1));
    assert_eq!(java_parse_int("+1", 16), Some(1));
    assert_eq!(java_parse_int("-1", 16), Some(-1));
    assert_eq!(java_parse_int("", 16), None);
    assert_eq!(java_parse_int("+", 16), None);
    assert_eq!(java_parse_int("1 ", 16), None);
    assert_eq!(java_parse_int("65536", 10), Some(65536));
    assert!(java_equals_ignore_case("ZooKeeper/ZK-sasl-md5", DIGEST_URI));
    assert!(!java_equals_ignore_case("zookeeper/zk-sasl-md", DIGEST_URI));
}
