"""The lab's own reading of a member's state: a joiner mid-transfer is a member, not a stray
(stopping it mid-transfer once left its donor Donor/Desynced for good, and every later test
of that CI run refused to plan)."""
from subprocess import CompletedProcess

import pytest

from upgrader.lab import galera


@pytest.mark.parametrize(("state", "member"), [
    ("Synced", True), ("Donor/Desynced", True), ("Joined", True), ("Joining", True),
    ("Joining: receiving State Transfer", True), ("Joining: requested State Transfer", True),
    ("Initialized", False), ("", False),
])
def test_a_joiner_mid_transfer_is_a_member_and_initialized_is_not(state, member):
    assert galera.in_primary(state) is member


def test_the_whole_comment_is_read_not_its_first_word(monkeypatch):
    out = "wsrep_local_state_comment\tJoining: receiving State Transfer\n"
    monkeypatch.setattr(galera, "ssh", lambda *a, **k: CompletedProcess([], 0, out, ""))
    assert galera.local_state(None, None) == "Joining: receiving State Transfer"


def test_a_server_that_does_not_answer_reads_empty(monkeypatch):
    monkeypatch.setattr(galera, "ssh", lambda *a, **k: CompletedProcess([], 1, "", "ERROR 2002"))
    assert galera.local_state(None, None) == ""
