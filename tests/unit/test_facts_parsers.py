"""The small pure helpers under the probe parsers, one row per case."""
from __future__ import annotations

import pytest

from upgrader.facts.galera import parse_grastate, parse_provider_options, parse_size, parse_wsrep
from upgrader.facts.host import parse_versions, split_sections, upstream

MIB = 1 << 20


@pytest.mark.parametrize("text, expected", [
    pytest.param("128M", 128 * MIB, id="the lab's gcache.size"),
    pytest.param("128m", 128 * MIB, id="unit letters in either case"),
    pytest.param("128MB", 128 * MIB, id="a trailing B is allowed"),
    pytest.param("1G", 1 << 30, id="gibibytes"),
    pytest.param("2T", 2 << 40, id="tebibytes"),
    pytest.param("512K", 512 << 10, id="kibibytes"),
    pytest.param("1.5G", 3 << 29, id="a fraction of a unit"),
    pytest.param("134217728", 128 * MIB, id="plain bytes"),
    pytest.param(" 64M ", 64 * MIB, id="surrounding blanks"),
    pytest.param("", 0, id="empty (gcache.size absent from the options): 0"),
    pytest.param("lots", 0, id="not a size: 0, never an exception"),
    pytest.param("-1M", 0, id="negative is not a size"),
    pytest.param("12P", 0, id="an unknown unit is not a size"),
])
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


# Excerpt of wsrep_provider_options as the lab's MariaDB 10.11 / Galera 26.4.23 prints it.
LAB_OPTIONS = ("base_dir = /var/lib/mysql/; base_host = 10.123.0.12; base_port = 4567; "
               "gcache.dir = /var/lib/mysql/; gcache.name = galera.cache; gcache.page_size = 128M; "
               "gcache.size = 128M; gcomm.thread_prio = ; gmcast.listen_addr = tcp://0.0.0.0:4567; "
               "gmcast.mcast_addr = ; ist.recv_addr = 10.123.0.12; socket.send_buf_size = auto; ")


@pytest.mark.parametrize("text, key, expected", [
    pytest.param(LAB_OPTIONS, "gcache.size", "128M", id="gcache.size from the lab's options"),
    pytest.param(LAB_OPTIONS, "ist.recv_addr", "10.123.0.12", id="IST receive address"),
    pytest.param(LAB_OPTIONS, "gmcast.listen_addr", "tcp://0.0.0.0:4567", id="a value with ':' and '/'"),
    pytest.param(LAB_OPTIONS, "gcomm.thread_prio", "", id="an option with an empty value"),
    pytest.param(LAB_OPTIONS, "socket.send_buf_size", "auto", id="the last option, before the trailing '; '"),
    pytest.param("a = b = c", "a", "b = c", id="only the first '=' separates key from value"),
    pytest.param("  gcache.size=1G  ", "gcache.size", "1G", id="no blanks around '='"),
])
def test_parse_provider_options_value(text: str, key: str, expected: str) -> None:
    assert parse_provider_options(text)[key] == expected


@pytest.mark.parametrize("text, expected", [
    pytest.param("", {}, id="empty"),
    pytest.param("; ;", {}, id="separators only"),
    pytest.param("novalue; gcache.size = 1G", {"gcache.size": "1G"}, id="a part without '=' is skipped"),
    pytest.param(LAB_OPTIONS, None, id="twelve options, none lost"),
])
def test_parse_provider_options_whole(text: str, expected: dict | None) -> None:
    options = parse_provider_options(text)
    if expected is None:
        assert len(options) == 12 and "" not in options
    else:
        assert options == expected


@pytest.mark.parametrize("options, gcache_bytes", [
    pytest.param("gcache.size = 128M; gcache.page_size = 64M", 128 * MIB, id="gcache.size, not page_size"),
    pytest.param("gcache.page_size = 64M", 0, id="no gcache.size: 0"),
    pytest.param("gcache.size = 1G", 1 << 30, id="1G"),
])
def test_gcache_size_from_provider_options(options: str, gcache_bytes: int) -> None:
    facts = parse_wsrep([], [("wsrep_provider_options", options)])
    assert facts.gcache_size_bytes == gcache_bytes


@pytest.mark.parametrize("version, expected", [
    pytest.param("1:10.11.19-0+deb12u1", "10.11.19", id="mariadb-server: epoch and Debian revision dropped"),
    pytest.param("3.10.8-1.1+deb12u1", "3.10.8", id="rabbitmq-server"),
    pytest.param("26.4.23-0+deb12u1", "26.4.23", id="galera-4"),
    pytest.param("1:10.6.21+maria~deb12", "10.6.21", id="MariaDB's own repository: '+maria~' suffix"),
    pytest.param("29.1.0", "29.1.0", id="already upstream (keystone from its venv)"),
    pytest.param(" 28.1.0\n", "28.1.0", id="surrounding blanks"),
    pytest.param("3.12.0~rc1-1", "3.12.0", id="a pre-release tilde ends the upstream part"),
    pytest.param("10.", "10", id="a trailing dot is not part of the version"),
    pytest.param("unknown", "unknown", id="not a version: returned as given"),
    pytest.param("", "", id="empty"),
])
def test_upstream(version: str, expected: str) -> None:
    assert upstream(version) == expected


@pytest.mark.parametrize("packages, keystone, expected", [
    pytest.param("galera-4 26.4.23-0+deb12u1\nmariadb-server 1:10.11.19-0+deb12u1\n"
                 "rabbitmq-server 3.10.8-1.1+deb12u1", "28.1.0",
                 {"galera": "26.4.23", "mariadb": "10.11.19", "rabbitmq": "3.10.8", "keystone": "28.1.0"},
                 id="the lab's packages and keystone venv"),
    pytest.param("mariadb-server 1:10.11.19-0+deb12u1\nrabbitmq-server ", "",
                 {"mariadb": "10.11.19"},
                 id="a package dpkg lists without a version (removed, config-files) is unknown"),
    pytest.param("mariadb-client 1:10.11.19-0+deb12u1\nlibc6 2.36-9", "", {},
                 id="packages upgrader does not track are ignored"),
    pytest.param("", "", {}, id="dpkg-query printed nothing"),
])
def test_parse_versions(packages: str, keystone: str, expected: dict) -> None:
    assert parse_versions({"packages": packages, "keystone": keystone}) == expected


@pytest.mark.parametrize("text, expected", [
    pytest.param("==grastate\nseqno: 5\n==packages\n", {"grastate": "seqno: 5", "packages": ""},
                 id="sections in order, text stripped"),
    pytest.param("motd line\n==keystone\n28.1.0\n", {"keystone": "28.1.0"},
                 id="lines before the first marker are dropped"),
    pytest.param("==keystone\n==not a marker\n== spaced\n", {"keystone": "==not a marker\n== spaced"},
                 id="only '==lowercase_name' lines are markers"),
    pytest.param("==rabbit_status\n==rabbit_cluster\n==rabbit_quorum_critical\n69\n",
                 {"rabbit_status": "", "rabbit_cluster": "", "rabbit_quorum_critical": "69"},
                 id="empty sections when the broker is down"),
    pytest.param("", {}, id="no output at all"),
])
def test_split_sections(text: str, expected: dict) -> None:
    assert split_sections(text) == expected


@pytest.mark.parametrize("text, expected", [
    pytest.param("seqno:   -1\nsafe_to_bootstrap: 0\n", (-1, False), id="running node"),
    pytest.param("seqno: 1234\nsafe_to_bootstrap: 1", (1234, True), id="last node cleanly stopped"),
    pytest.param("seqno: 1234\n", (1234, None), id="old format without safe_to_bootstrap"),
    pytest.param("seqno: junk\nsafe_to_bootstrap: yes\n", (-1, False),
                 id="an unreadable seqno counts as unknown (-1); only '1' is safe"),
    pytest.param("# GALERA saved state\nversion: 2.1\n", (None, None), id="neither key present"),
])
def test_parse_grastate(text: str, expected: tuple) -> None:
    assert parse_grastate(text) == expected


def test_parse_wsrep_without_rows_is_reachable_but_empty() -> None:
    """A node that answered no wsrep rows (wsrep off) reads as reachable, size 0, not Synced."""
    facts = parse_wsrep([], [])
    assert facts.reachable and facts.local_state_comment == "" and facts.cluster_size == 0
    assert facts.last_committed == -1 and facts.grastate_seqno is None


def test_parse_wsrep_names_are_case_insensitive() -> None:
    facts = parse_wsrep([("WSREP_LOCAL_STATE_COMMENT", "Synced")], [("WSREP_DESYNC", "on")])
    assert facts.local_state_comment == "Synced" and facts.desync is True
