"""ACLs and digest authentication through kazoo, as Apache ZooKeeper 3.8 enforces them."""

from __future__ import annotations

import pytest
from kazoo.exceptions import InvalidACLError, NoAuthError, NoNodeError
from kazoo.security import (
    ACL,
    CREATOR_ALL_ACL,
    OPEN_ACL_UNSAFE,
    Id,
    Permissions,
    make_digest_acl,
    make_digest_acl_credential,
)


def test_digest_acl_enforced(zk, make_client, base):
    owner = make_client(auth_data=[("digest", "alice:secret")])
    stranger = make_client()
    acl = [make_digest_acl("alice", "secret", all=True)]
    path = owner.create(f"{base}/private", b"data", acl=acl)
    assert owner.get(path)[0] == b"data"
    got, _ = owner.get_acls(path)
    assert got == [ACL(Permissions.ALL, Id("digest", make_digest_acl_credential("alice", "secret")))]
    with pytest.raises(NoAuthError):
        stranger.get(path)
    with pytest.raises(NoAuthError):
        stranger.set(path, b"x")
    with pytest.raises(NoAuthError):
        stranger.get_children(path)
    with pytest.raises(NoAuthError):
        stranger.create(f"{path}/kid", b"")
    with pytest.raises(NoAuthError):
        stranger.delete(f"{path}/missing")  # NoAuth on the parent beats NoNode
    # exists() without READ is not checked: 3.8.0 answers it, 3.8.4+/3.9.2+ refuse it
    # (ZOOKEEPER-2590, a security fix), so either answer is right.
    # after add_auth the same connection may read it
    stranger.add_auth("digest", "alice:secret")
    assert stranger.get(path)[0] == b"data"
    owner.create(f"{path}/kid", b"")
    owner.delete(path, recursive=True)
    with pytest.raises(NoNodeError):
        zk.get(path)


def test_auth_scheme_expands_to_the_callers_identity(make_client, base):
    anon = make_client()
    with pytest.raises(InvalidACLError):
        anon.create(f"{base}/a", b"", acl=CREATOR_ALL_ACL)
    bob = make_client(auth_data=[("digest", "bob:pw")])
    bob.create(f"{base}/b", b"", acl=CREATOR_ALL_ACL)
    got, _ = bob.get_acls(f"{base}/b")
    assert got == [ACL(Permissions.ALL, Id("digest", make_digest_acl_credential("bob", "pw")))]


def test_world_read_only(zk, make_client, base):
    zk.create(f"{base}/ro", b"r", acl=[ACL(Permissions.READ, Id("world", "anyone"))])
    assert zk.get(f"{base}/ro")[0] == b"r"
    with pytest.raises(NoAuthError):
        zk.set(f"{base}/ro", b"w")
    with pytest.raises(NoAuthError):
        zk.create(f"{base}/ro/kid", b"")
    with pytest.raises(NoAuthError):
        zk.set_acls(f"{base}/ro", OPEN_ACL_UNSAFE)
    # DELETE is checked on the parent, which is open: the node itself can go.
    zk.delete(f"{base}/ro")


def test_invalid_acls(zk, base):
    with pytest.raises(InvalidACLError):
        zk.create(f"{base}/x", b"", acl=[ACL(Permissions.ALL, Id("world", "someone"))])
    with pytest.raises(InvalidACLError):
        zk.create(f"{base}/x", b"", acl=[ACL(Permissions.ALL, Id("nosuchscheme", "id"))])
    with pytest.raises(InvalidACLError):
        zk.create(f"{base}/x", b"", acl=[ACL(Permissions.ALL, Id("ip", "300.1.1.1"))])
    assert zk.exists(f"{base}/x") is None


def test_ip_acl(zk, base):
    zk.create(f"{base}/ip", b"v", acl=[ACL(Permissions.ALL, Id("ip", "127.0.0.1"))])
    assert zk.get(f"{base}/ip")[0] == b"v"
    zk.create(f"{base}/other", b"v", acl=[ACL(Permissions.ALL, Id("ip", "10.0.0.0/8"))])
    with pytest.raises(NoAuthError):
        zk.get(f"{base}/other")


def test_get_acl_masks_digests_without_admin(zk, make_client, base):
    owner = make_client(auth_data=[("digest", "alice:secret")])
    acl = [make_digest_acl("alice", "secret", read=True, write=True, create=True,
                           delete=True, admin=True),
           ACL(Permissions.READ, Id("world", "anyone"))]
    owner.create(f"{base}/masked", b"", acl=acl)
    got, _ = owner.get_acls(f"{base}/masked")
    assert got == acl, "the ADMIN holder sees the real ids"
    got, _ = zk.get_acls(f"{base}/masked")
    assert got == [ACL(Permissions.ALL, Id("digest", "alice:x")),
                   ACL(Permissions.READ, Id("world", "anyone"))], "READ only: digests masked"
