"""Scrub secrets from anything upgrader logs, journals or shows.

Two nets, because neither alone is enough: the values we know are secret (the
lab and inventory passwords) are replaced wherever they appear, even inside
longer text; and values filed under a secret-looking key are masked even when we
were never told the value (an Ansible result echoing an unknown token).
"""
from __future__ import annotations

import re
from typing import Any, Iterable

MASK = "********"
MIN_SECRET_LEN = 4      # shorter "secrets" ("ab", "1") would mangle ordinary text
LONG_KEY_VALUE = 16     # "key" is an ordinary word ("sort key"); only long values are key material

# key names that always hold a secret; matched as substrings of the lowercased key
_SECRET_WORDS = ("password", "passwd", "passphrase", "secret", "token", "cookie", "credential")
_AUTH_TOKEN = re.compile(r"(^|[^a-z])auth")          # auth, auth_url, wsrep_sst_auth, x-auth-token
_KEY_TOKEN = re.compile(r"(^|[^a-z])key([^a-z]|$)|key$")        # key, ssh_key, apikey; not keystone
# "password=..." / "token: ..." inside free text such as a command line or a log line
_INLINE = re.compile(r"(?i)(password|passwd|secret|token)(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|\S+)")


def secret_key(name: str, value: Any) -> bool:
    """True when a mapping key's name says its value is a secret."""
    low = name.lower()
    if any(word in low for word in _SECRET_WORDS) or _AUTH_TOKEN.search(low):
        return True
    return bool(_KEY_TOKEN.search(low)) and isinstance(value, str) and len(value) >= LONG_KEY_VALUE


class Redactor:
    """Replace known secret values and secret-keyed values with ``MASK``; inputs are not mutated."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # longest first so a secret containing another secret is masked whole
        known = {s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_LEN}
        self._secrets = sorted(known, key=len, reverse=True)

    def scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._scrub_text(value)
        if isinstance(value, dict):
            # keys are field names, never scrubbed: "galera" as a secret must not
            # turn "galera_root_password" into a key nobody can read
            return {k: self._scrub_item(k, v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.scrub(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self.scrub(v) for v in value)
        return value

    def _scrub_item(self, key: Any, value: Any) -> Any:
        if isinstance(key, str) and secret_key(key, value) and _maskable(value):
            return MASK
        return self.scrub(value)

    def _scrub_text(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return _INLINE.sub(lambda m: m.group(1) + m.group(2) + MASK, text)


def _maskable(value: Any) -> bool:
    # containers under a secret-looking key are walked, not erased: "auth": {"username": ...}
    # keeps the username and still masks the password inside; None/"" reveal nothing
    return value not in (None, "") and not isinstance(value, (dict, list, tuple, bool))
