"""Small pure helpers shared by the planner modules: sorting names, reading addresses."""
from __future__ import annotations

import re

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key so that node2 < node10 (plain string sort puts node10 first).

    Each chunk is tagged (0, int) or (1, str) so ints and strs never get compared.
    """
    return tuple(
        (0, int(chunk)) if chunk.isdigit() else (1, chunk.lower())
        for chunk in _DIGITS.split(name)
        if chunk
    )


def sorted_names(names) -> list[str]:
    return sorted(names, key=natural_key)


def host_of(address: str) -> str:
    """Host part of "10.0.0.1:3306", "[fd00::1]:3306" or a bare host."""
    address = address.strip()
    if address.startswith("["):
        return address[1:].split("]", 1)[0]
    if address.count(":") == 1:
        return address.split(":", 1)[0]
    return address


def one_line(text: str) -> str:
    """Collapse whitespace so a probe's multi-line error stays a one-line message."""
    return " ".join(text.split())
