//! SASL for the `sasl` request (opcode 102): DIGEST-MD5 as Apache ZooKeeper's server speaks it to
//! the Java client, zkCli.sh and kazoo, with users from the operator's JAAS file. Pure: no clock,
//! no randomness (the caller brings the nonce), no IO (the caller reads the file).
//!
//! - [`parse_jaas`]: the JAAS file's text and section name → [`SaslUsers`] (user → password).
//! - [`DigestMd5Server`]: one connection's exchange; [`DigestMd5Server::step`] takes each client
//!   token and returns a [`SaslStep`] (a challenge, or success with the final `rspauth` token and
//!   the authorization id to record as `sasl:<id>`) or a [`SaslError`] (answer AuthFailed).
//!
//! Kerberos (GSSAPI) is out of scope: a JAAS section that logs in with `Krb5LoginModule` is
//! reported as [`JaasError::Kerberos`].

mod digest_md5;
mod jaas;

pub use digest_md5::{
    response_value, DigestInputs, DigestMd5Server, SaslError, SaslStep, DIGEST_URI, MAX_RESPONSE_LEN, REALM, SERVICE,
};
pub use jaas::{
    parse_jaas, JaasError, SaslUsers, DEFAULT_SECTION, DIGEST_LOGIN_MODULE, JAAS_CONFIG_PROPERTY, SECTION_PROPERTY,
    SUPER_PASSWORD_PROPERTY,
};
