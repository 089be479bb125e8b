"""Who holds the VIP: parsers for the node script's `vrrp` section (pure)."""
from __future__ import annotations

from upgrader.model import VipFacts


def parse_vrrp(text: str, vip: str) -> tuple[bool, str]:
    """(this node's interfaces carry the VIP, keepalived's last VRRP state or "").

    text: 'state MASTER' then one 'addr IFACE ADDRESS/PREFIX' line per IPv4 address.
    """
    holds, state = False, ""
    for line in text.splitlines():
        parts = line.split()
        if parts[:1] == ["state"]:
            state = parts[1] if len(parts) > 1 else ""
        elif parts[:1] == ["addr"] and len(parts) >= 3 and parts[2].split("/")[0] == vip:
            holds = True
    return holds, state


def vip_facts(vip: str, per_node: dict[str, tuple[bool, str]]) -> VipFacts:
    """The cluster's view from each VRRP node's (holds, state)."""
    return VipFacts(
        address=vip, managed=True,
        holders=tuple(name for name, (holds, _) in per_node.items() if holds),
        vrrp_states=tuple((name, state) for name, (_, state) in per_node.items()),
    )
