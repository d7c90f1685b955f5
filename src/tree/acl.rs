//! ACL checks (`ZooKeeperServer.checkACL`) and ACL list validation (`fixupACL`), pure:
//! the caller's identities come in with the request.

use std::net::IpAddr;

use base64::Engine;
use jute::data::perms;
use jute::{Acl, ErrorCode, Id};
use sha1::{Digest, Sha1};

/// `digest` scheme id for `user:password`: `user:BASE64(SHA1(user:password))`.
pub fn digest_id(auth: &str) -> String {
    let user = auth.split(':').next().unwrap_or("");
    let hash = Sha1::digest(auth.as_bytes());
    format!("{user}:{}", base64::engine::general_purpose::STANDARD.encode(hash))
}

/// True when `ids` may do `perm` on a node with `acl`.
pub fn check(acl: &[Acl], ids: &[Id], perm: i32) -> bool {
    if acl.is_empty() || ids.iter().any(|id| id.scheme == "super") {
        return true;
    }
    acl.iter().any(|a| {
        a.perms & perm != 0
            && if a.id.scheme == "world" {
                a.id.id == "anyone"
            } else {
                ids.iter().any(|id| id.scheme == a.id.scheme && matches(&a.id.scheme, &id.id, &a.id.id))
            }
    })
}

fn matches(scheme: &str, have: &str, want: &str) -> bool {
    match scheme {
        "ip" => ip_matches(have, want),
        // SASLAuthenticationProvider: a SASL user named super matches every sasl ACL.
        "sasl" => have == want || have == "super",
        _ => have == want,
    }
}

/// CIDR match as `IPAuthenticationProvider.matches` does it.
fn ip_matches(addr: &str, acl: &str) -> bool {
    let (net, bits) = match acl.split_once('/') {
        Some((n, b)) => match b.parse::<u32>() {
            Ok(b) => (n, Some(b)),
            Err(_) => return false,
        },
        None => (acl, None),
    };
    let (Ok(a), Ok(n)) = (addr.parse::<IpAddr>(), net.parse::<IpAddr>()) else {
        return false;
    };
    let (a, n, width) = match (a, n) {
        (IpAddr::V4(a), IpAddr::V4(n)) => (u32::from(a) as u128, u32::from(n) as u128, 32),
        (IpAddr::V6(a), IpAddr::V6(n)) => (u128::from(a), u128::from(n), 128),
        _ => return false,
    };
    let bits = bits.unwrap_or(width);
    if bits > width {
        return false;
    }
    if bits == 0 {
        return true;
    }
    let shift = width - bits;
    (a >> shift) == (n >> shift)
}

fn valid_ip_acl(id: &str) -> bool {
    let (net, bits) = match id.split_once('/') {
        Some((n, b)) => (n, Some(b)),
        None => (id, None),
    };
    let Ok(addr) = net.parse::<IpAddr>() else {
        return false;
    };
    let width = if addr.is_ipv4() { 32 } else { 128 };
    match bits {
        None => true,
        Some(b) => b.parse::<u32>().map(|b| b <= width).unwrap_or(false),
    }
}

/// Validates and expands an ACL list for create/setACL, as `PrepRequestProcessor.fixupACL`:
/// duplicates are dropped from the request's list first (`removeDuplicates`); then `auth`
/// entries become the caller's authenticated ids, in the order ZooKeeper iterates them
/// ([`java_set_order`]), added as they come even when the list already holds them
/// (ZooKeeper stores `[auth, digest:alice]` from alice as alice twice).
///
/// # Errors
/// `InvalidAcl` for an empty list, an unknown scheme, a bad id, or an `auth` entry when the
/// caller holds no authenticated id.
pub fn fixup(acl: &[Acl], ids: &[Id]) -> Result<Vec<Acl>, ErrorCode> {
    let mut unique: Vec<&Acl> = Vec::with_capacity(acl.len());
    for a in acl {
        if !unique.contains(&a) {
            unique.push(a);
        }
    }
    if unique.is_empty() {
        return Err(ErrorCode::InvalidAcl);
    }
    let mut out: Vec<Acl> = Vec::with_capacity(unique.len());
    let push = |a: Acl, out: &mut Vec<Acl>| out.push(a);
    for a in unique {
        match a.id.scheme.as_str() {
            "world" => {
                if a.id.id != "anyone" {
                    return Err(ErrorCode::InvalidAcl);
                }
                push(a.clone(), &mut out);
            }
            "auth" => {
                let mut any = false;
                for id in java_set_order(ids).into_iter().filter(|id| is_authenticated_scheme(&id.scheme)) {
                    any = true;
                    push(Acl { perms: a.perms, id: id.clone() }, &mut out);
                }
                if !any {
                    return Err(ErrorCode::InvalidAcl);
                }
            }
            "digest" => {
                if a.id.id.split(':').count() != 2 {
                    return Err(ErrorCode::InvalidAcl);
                }
                push(a.clone(), &mut out);
            }
            "ip" => {
                if !valid_ip_acl(&a.id.id) {
                    return Err(ErrorCode::InvalidAcl);
                }
                push(a.clone(), &mut out);
            }
            "sasl" => {
                if !valid_sasl_id(&a.id.id) {
                    return Err(ErrorCode::InvalidAcl);
                }
                push(a.clone(), &mut out);
            }
            "x509" => push(a.clone(), &mut out),
            _ => return Err(ErrorCode::InvalidAcl),
        }
    }
    Ok(out)
}

/// A connection's ids (given in the order they were added) in the order ZooKeeper iterates
/// them: `ServerCnxn.authInfo` is a set backed by a `ConcurrentHashMap`, walked bin by bin
/// (bin = spread `Id.hashCode()` masked by the table size, 16 until 12 ids), in insertion
/// order within a bin. Exact up to 11 ids; beyond, the table's resize may reorder a bin.
pub fn java_set_order(ids: &[Id]) -> Vec<&Id> {
    let mut bins = 16;
    while ids.len() >= bins - bins / 4 {
        bins *= 2;
    }
    let mut order: Vec<(usize, usize, &Id)> =
        ids.iter().enumerate().map(|(k, id)| (java_bin(id, bins), k, id)).collect();
    order.sort_by_key(|&(bin, k, _)| (bin, k));
    order.into_iter().map(|(_, _, id)| id).collect()
}

/// Java's `String.hashCode` (over UTF-16 code units).
fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The `ConcurrentHashMap` bin of an `Id` (jute's generated `Id.hashCode`, then `spread`).
fn java_bin(id: &Id, bins: usize) -> usize {
    let h = 17i32.wrapping_mul(37).wrapping_add(java_string_hash(&id.scheme));
    let h = h.wrapping_mul(37).wrapping_add(java_string_hash(&id.id)) as u32;
    (((h ^ (h >> 16)) & 0x7fff_ffff) as usize) & (bins - 1)
}

/// `SASLAuthenticationProvider.isValid`: a plain name, or `name[/host]@REALM`.
fn valid_sasl_id(id: &str) -> bool {
    match id.split_once('@') {
        None => true,
        Some((principal, realm)) => {
            !principal.is_empty() && !realm.is_empty() && !realm.contains('@') && !principal.starts_with('/')
        }
    }
}

/// Schemes whose ids `auth` ACLs expand to (ip is implicit, not authenticated).
fn is_authenticated_scheme(scheme: &str) -> bool {
    matches!(scheme, "digest" | "sasl" | "x509")
}

/// The ACL ZooKeeper's `OPEN_ACL_UNSAFE` names: world:anyone with all permissions.
pub fn open_acl_unsafe() -> Vec<Acl> {
    vec![Acl::world(perms::ALL)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str, i: &str) -> Id {
        Id { scheme: s.into(), id: i.into() }
    }

    #[test]
    fn digest_matches_zookeeper() {
        // DigestAuthenticationProvider.generateDigest("super:secret")
        assert_eq!(digest_id("super:secret"), "super:lK75jTNcA+U9vtVEw5vB51mj/w4=");
    }

    #[test]
    fn cidr() {
        assert!(ip_matches("127.0.0.1", "127.0.0.1"));
        assert!(ip_matches("127.0.0.1", "127.0.0.0/8"));
        assert!(!ip_matches("127.0.0.1", "10.0.0.0/8"));
        assert!(ip_matches("10.1.2.3", "0.0.0.0/0"));
    }

    #[test]
    fn check_rules() {
        let acl = vec![Acl { perms: perms::READ, id: id("digest", "u:h") }];
        assert!(check(&acl, &[id("digest", "u:h")], perms::READ));
        assert!(!check(&acl, &[id("digest", "u:h")], perms::WRITE));
        assert!(!check(&acl, &[id("ip", "127.0.0.1")], perms::READ));
        assert!(check(&acl, &[id("super", "")], perms::WRITE));
        assert!(check(&[], &[], perms::WRITE));
    }

    /// Differential test (compat-tests/differential), ZooKeeper 3.8.0: `auth` expands in
    /// the connection's hash-set order and keeps duplicates of explicit entries.
    #[test]
    fn auth_expands_as_zookeeper_orders_and_keeps_duplicates() {
        let alice = id("digest", &digest_id("alice:pw1"));
        let mut ids = vec![id("ip", "127.0.0.1")];
        for cred in ["carol", "bob:pw2", "alice:pw1", "dave:x", "eve:y"] {
            ids.push(id("digest", &digest_id(cred)));
        }
        let acl = [Acl { perms: 31, id: id("auth", "") }, Acl { perms: 31, id: alice.clone() }];
        let users: Vec<String> =
            fixup(&acl, &ids).unwrap().iter().map(|a| a.id.id.split(':').next().unwrap().to_owned()).collect();
        // As ZooKeeper 3.8.0 stored it (getACL), seen live.
        assert_eq!(users, ["alice", "carol", "bob", "dave", "eve", "alice"]);
        let ids = [id("ip", "127.0.0.1"), id("digest", &digest_id("super:secret")), id("super", ""), alice];
        let order: Vec<&str> = java_set_order(&ids).iter().map(|i| i.scheme.as_str()).collect();
        assert_eq!(order, ["digest", "super", "digest", "ip"]); // alice, super, digest super, ip
        let dup = [Acl { perms: 31, id: id("world", "anyone") }, Acl { perms: 31, id: id("world", "anyone") }];
        assert_eq!(fixup(&dup, &[]).unwrap().len(), 1);
    }

    #[test]
    fn fixup_rules() {
        assert_eq!(fixup(&[], &[]), Err(ErrorCode::InvalidAcl));
        assert_eq!(fixup(&[Acl { perms: 31, id: id("world", "x") }], &[]), Err(ErrorCode::InvalidAcl));
        assert_eq!(fixup(&[Acl { perms: 31, id: id("auth", "") }], &[id("ip", "1.2.3.4")]), Err(ErrorCode::InvalidAcl));
        assert_eq!(
            fixup(&[Acl { perms: 31, id: id("auth", "") }], &[id("ip", "1.2.3.4"), id("digest", "u:h")]),
            Ok(vec![Acl { perms: 31, id: id("digest", "u:h") }])
        );
        assert_eq!(fixup(&[Acl { perms: 31, id: id("ip", "1.2.3.4/33") }], &[]), Err(ErrorCode::InvalidAcl));
        assert_eq!(fixup(&[Acl { perms: 31, id: id("foo", "x") }], &[]), Err(ErrorCode::InvalidAcl));
        let dup = vec![Acl::world(31), Acl::world(31)];
        assert_eq!(fixup(&dup, &[]).unwrap().len(), 1);
    }
}
