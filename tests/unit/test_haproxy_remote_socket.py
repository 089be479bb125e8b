"""HAProxy's runtime API on a node through one long-lived session (facts/haproxy.RemoteSocket),
against a stand-in for `ssh node socat ...` that speaks HAProxy's interactive mode."""
import sys

import pytest

from upgrader.facts import haproxy
from upgrader.inventory import NodeAccess

# Echoes HAProxy's interactive CLI: "prompt" answers with the prompt, "show" with two lines,
# "set ..." with nothing, "quit" ends the session (as a stopped HAProxy would).
FAKE_CLI = r"""
import sys
out = sys.stdout.buffer
for line in sys.stdin.buffer:
    cmd = line.decode().strip()
    if cmd == "quit":
        break
    body = "" if cmd in ("prompt",) or cmd.startswith("set ") else f"# answer to\n{cmd}\n"
    out.write((body + "\n> ").encode()); out.flush()
"""


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def remote(monkeypatch):
    starts = []

    def fake_argv(node, command):
        starts.append(command)
        return [sys.executable, "-c", FAKE_CLI]

    monkeypatch.setattr(haproxy, "ssh_argv", fake_argv)
    clock = Clock()
    ask = haproxy.RemoteSocket(NodeAccess("node1", "10.123.0.11"), "/run/haproxy/admin.sock",
                               timeout=5, retry_s=5, clock=clock)
    yield ask, starts, clock
    ask.close()


def test_asks_share_one_session_and_get_each_answer_whole(remote):
    ask, starts, _ = remote
    assert ask("show stat") == "# answer to\nshow stat\n"
    assert ask("set server keystone/node2 state maint") == ""
    assert ask("show info") == "# answer to\nshow info\n"
    assert starts == ["socat stdio UNIX-CONNECT:/run/haproxy/admin.sock"]   # one session


def test_a_session_that_ends_fails_the_ask_and_is_not_reopened_until_the_retry_time(remote):
    ask, starts, clock = remote
    with pytest.raises(OSError, match="session ended"):
        ask("quit")
    with pytest.raises(OSError, match="asked again shortly"):
        ask("show stat")
    assert len(starts) == 1
    clock.now += 5
    assert ask("show stat") == "# answer to\nshow stat\n"
    assert len(starts) == 2
