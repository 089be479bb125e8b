"""Debian version ordering, as dpkg decides it (Debian policy 5.6.12).

versions.compare() reads only the leading dotted numbers, which is right for releases
but not for packages: 3.0.17-1~deb12u2 and 3.0.17-1~deb12u1 differ only in the
revision, an epoch outranks everything, and '~' sorts before the end of a string.
"""
from __future__ import annotations


def _split(version: str) -> tuple[int, str, str]:
    """(epoch, upstream, revision); the revision is after the last '-', "" when none."""
    epoch, sep, rest = version.partition(":")
    if not sep:
        epoch, rest = "0", version
    upstream, dash, revision = rest.rpartition("-")
    if not dash:
        upstream, revision = rest, ""
    return int(epoch) if epoch.isascii() and epoch.isdigit() else 0, upstream, revision


def _digit(c: str) -> bool:
    return "0" <= c <= "9"      # ASCII only: str.isdigit() also accepts '²', which int() refuses


def _order(c: str) -> int:
    # dpkg's order(): digits do not reach here, letters sort first, '~' before anything
    # (even the end of the string), every other character after all letters.
    if c == "":
        return 0
    if c.isascii() and c.isalpha():
        return ord(c)
    if c == "~":
        return -1
    return ord(c) + 256


def _digits(text: str, i: int) -> tuple[int, int]:
    """The number starting at ``i`` (0 when none) and the index after it."""
    j = i
    while j < len(text) and _digit(text[j]):
        j += 1
    return (int(text[i:j]) if j > i else 0), j


def _verrevcmp(a: str, b: str) -> int:
    """dpkg's verrevcmp: alternate non-digit runs (by _order) and numbers (by value)."""
    i = j = 0
    while i < len(a) or j < len(b):
        while (i < len(a) and not _digit(a[i])) or (j < len(b) and not _digit(b[j])):
            ac = _order(a[i]) if i < len(a) and not _digit(a[i]) else 0
            bc = _order(b[j]) if j < len(b) and not _digit(b[j]) else 0
            if ac != bc:
                return -1 if ac < bc else 1
            i, j = i + 1, j + 1
        na, i = _digits(a, i)
        nb, j = _digits(b, j)
        if na != nb:
            return -1 if na < nb else 1
    return 0


def debian_compare(a: str, b: str) -> int:
    """-1, 0 or 1 as ``dpkg --compare-versions a lt|eq|gt b`` would answer."""
    ea, ua, ra = _split(a)
    eb, ub, rb = _split(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return _verrevcmp(ua, ub) or _verrevcmp(ra, rb)
