"""Who holds the VIP, from the node script's `vrrp` section (keepalived's state, the addresses)."""
from upgrader.facts.vrrp import parse_vrrp, vip_facts

HOLDER = """state MASTER
addr lo 127.0.0.1/8
addr eth0 10.123.0.11/24
addr eth0 10.123.0.100/24"""
BACKUP = """state BACKUP
addr lo 127.0.0.1/8
addr eth0 10.123.0.12/24"""


def test_the_holder_carries_the_address_and_says_master():
    assert parse_vrrp(HOLDER, "10.123.0.100") == (True, "MASTER")
    assert parse_vrrp(BACKUP, "10.123.0.100") == (False, "BACKUP")


def test_an_address_that_only_starts_like_the_vip_is_not_it():
    assert parse_vrrp("state BACKUP\naddr eth0 10.123.0.1000/24", "10.123.0.100") == (False, "BACKUP")
    assert parse_vrrp("state BACKUP\naddr eth0 10.123.0.10/24", "10.123.0.100") == (False, "BACKUP")


def test_no_keepalived_state_file_is_an_empty_state():
    assert parse_vrrp("state \naddr eth0 10.123.0.100/24", "10.123.0.100") == (True, "")
    assert parse_vrrp("", "10.123.0.100") == (False, "")


def test_two_holders_are_reported_as_such():
    vip = vip_facts("10.123.0.100", {"node1": (True, "MASTER"), "node2": (True, "MASTER"),
                                     "node3": (False, "BACKUP")})
    assert vip.managed and vip.holders == ("node1", "node2")
    assert dict(vip.vrrp_states) == {"node1": "MASTER", "node2": "MASTER", "node3": "BACKUP"}
