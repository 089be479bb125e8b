"""Redaction: known secrets vanish everywhere; secret-looking keys are masked; text survives."""
from __future__ import annotations

import copy

import pytest

from upgrader.redact import MASK, Redactor, secret_key

SECRETS = ["galera-root-pw", "galera", "guest-cookie-1234", "abc", ""]
M = MASK


@pytest.mark.parametrize("value,expected", [
    # known values, wherever they appear
    ("mysql -pgalera-root-pw -e status", f"mysql -p{M} -e status"),            # inside text
    ("galera-root-pw", M),                                                        # whole string
    ("galera-root-pw and galera", f"{M} and {M}"),                                # longest first
    (["x", ("guest-cookie-1234", 3)], ["x", (M, 3)]),                             # list, tuple
    ({"cmd": {"argv": ["-pgalera-root-pw"]}}, {"cmd": {"argv": [f"-p{M}"]}}),       # nested
    ({"galera_version": "galera"}, {"galera_version": M}),                        # keys are names, kept
    # secrets too short to mask safely are ignored
    ("abc abc", "abc abc"),
    # secret-looking keys, value unknown to us
    ({"password": "hunter22"}, {"password": M}),
    ({"galera_root_password": "x1"}, {"galera_root_password": M}),
    ({"wsrep_sst_auth": "root:pw"}, {"wsrep_sst_auth": M}),
    ({"X-Auth-Token": "gAAAA"}, {"X-Auth-Token": M}),
    ({"rabbitmq_erlang_cookie": "WXYZ"}, {"rabbitmq_erlang_cookie": M}),
    ({"db_passwd": 1234}, {"db_passwd": M}),                                      # not only str
    ({"client_secret": "s"}, {"client_secret": M}),
    ({"api_key": "0123456789abcdef0123"}, {"api_key": M}),                        # long: key material
    ({"key": "drain_api"}, {"key": "drain_api"}),                                # short: a name
    ({"keystone_version": "28.1.0"}, {"keystone_version": "28.1.0"}),            # not a key
    ({"password": None, "token": ""}, {"password": None, "token": ""}),          # nothing to hide
    ({"auth": {"username": "admin", "password": "pw"}},                           # walked, not erased
     {"auth": {"username": "admin", "password": M}}),
    # secrets written inline in free text
    ("connect password=hunter22 host=db", f"connect password={M} host=db"),
    ("db_password: 'a b c'", f"db_password: {M}"),
    ("token:abc123, next", f"token:{M} next"),
    # ordinary values pass through untouched
    (42, 42), (None, None), (True, True), (3.5, 3.5),
    ({"node": "node1", "state": "Synced"}, {"node": "node1", "state": "Synced"}),
], ids=lambda v: repr(v)[:40])
def test_scrub(value, expected):
    assert Redactor(SECRETS).scrub(value) == expected


def test_scrub_does_not_mutate_its_input():
    record = {"message": "pw galera-root-pw", "vars": {"password": "x"}, "l": ["galera"]}
    before = copy.deepcopy(record)
    Redactor(SECRETS).scrub(record)
    assert record == before


def test_tuples_stay_tuples_and_lists_stay_lists():
    out = Redactor(SECRETS).scrub({"t": ("galera",), "l": ["galera"]})
    assert isinstance(out["t"], tuple) and isinstance(out["l"], list)


def test_no_secrets_still_masks_secret_keys():
    assert Redactor().scrub({"password": "p4ss", "note": "ok"}) == {"password": M, "note": "ok"}


@pytest.mark.parametrize("name,value,secret", [
    ("password", "x", True),
    ("Authorization", "Bearer x", True),
    ("ssh_key", "short", False),                 # a key *name*, not key material
    ("ssh_key", "-----BEGIN OPENSSH KEY-----", True),
    ("apikey", "0123456789abcdef", True),
    ("keystone", "0123456789abcdef0123", False),
    ("monkey_count", "0123456789abcdef0123", False),
    ("step", "drain_api", False),
])
def test_secret_key(name, value, secret):
    assert secret_key(name, value) is secret
