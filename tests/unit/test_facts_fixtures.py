"""Every probe parser against output recorded on the lab: one test per fixture file.

Each ``fixtures/facts/<source>/<case>.json`` holds ``output`` (what the command printed,
as recorded) and ``facts`` (what the parser must make of it), plus optional ``args``
(parser inputs that are not command output, e.g. the RabbitMQ node name), ``note``,
``recorded_at`` and ``crafted`` (true when the output was edited from a recording
to show a state the lab was not in). How they were recorded: fixtures/facts/README.md.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Callable

import pytest

from upgrader.facts.galera import parse_grastate, parse_wsrep
from upgrader.facts.haproxy import parse_stat
from upgrader.facts.host import parse_versions, split_sections
from upgrader.facts.packages import package_facts, parse_stale
from upgrader.facts.rabbitmq import parse_rabbit

FIXTURES = Path(__file__).parent / "fixtures" / "facts"


def _plain(value: Any) -> Any:
    """A parser result as the JSON a fixture stores (tuples become lists)."""
    def default(obj: Any) -> Any:
        return dataclasses.asdict(obj)

    return json.loads(json.dumps(value, default=default))


def _galera(doc: dict) -> Any:
    out = doc["output"]
    return parse_wsrep(out["status"], out["variables"], out.get("grastate"))


def _grastate(doc: dict) -> Any:
    seqno, safe = parse_grastate(doc["output"])
    return {"seqno": seqno, "safe_to_bootstrap": safe}


def _haproxy(doc: dict) -> Any:
    backends = doc.get("args", {}).get("backends")
    return list(parse_stat(doc["output"], tuple(backends) if backends else None))


def _rabbitmq(doc: dict) -> Any:
    out = doc["output"]
    # NOTE: the fixtures recorded `status` too; the parser reads only cluster_status
    return parse_rabbit(doc["args"]["node_name"], out["cluster_status"], out["quorum_critical_rc"])


def _host(doc: dict) -> Any:
    """What gather() derives from one SSH round trip: sections, versions, grastate, RabbitMQ."""
    sections = split_sections(doc["output"])
    seqno, safe = parse_grastate(sections["grastate"]) if sections.get("grastate") else (None, None)
    rabbit = parse_rabbit(doc["args"]["node_name"], sections.get("rabbit_cluster", ""),
                          sections.get("rabbit_quorum_critical", ""))
    return {"sections": sorted(sections), "versions": parse_versions(sections),
            "grastate": {"seqno": seqno, "safe_to_bootstrap": safe}, "rabbitmq": rabbit}


def _packages(doc: dict) -> Any:
    """The package sections of the node's facts script: installed, offered, stale libraries."""
    sections = split_sections(doc["output"])
    return {"packages": package_facts(sections.get("debs", ""), sections.get("policy", "")),
            "stale_libraries": parse_stale(sections.get("stale", ""))}


PARSERS: dict[str, Callable[[dict], Any]] = {
    "galera": _galera,
    "grastate": _grastate,
    "haproxy": _haproxy,
    "rabbitmq": _rabbitmq,
    "host": _host,
    "packages": _packages,
}


def _cases() -> list:
    params = []
    for path in sorted(FIXTURES.glob("*/*.json")):
        doc = json.loads(path.read_text())
        marks = [pytest.mark.xfail(reason=doc["xfail"], strict=True)] if "xfail" in doc else []
        params.append(pytest.param(path, id=f"{path.parent.name}/{path.stem}", marks=marks))
    return params


CASES = _cases()


@pytest.mark.parametrize("path", CASES)
def test_parser_matches_recorded_facts(path: Path) -> None:
    doc = json.loads(path.read_text())
    assert doc.keys() <= {"output", "facts", "args", "note", "recorded_at", "crafted", "xfail"}
    assert doc.get("note"), f"{path.name}: say what state the fixture shows"
    parse = PARSERS[path.parent.name]
    assert _plain(parse(doc)) == doc["facts"]


def test_every_source_has_fixtures() -> None:
    """A source directory without a parser (or a parser without fixtures) is a mistake."""
    sources = {p.parent.name for p in FIXTURES.glob("*/*.json")}
    assert sources == set(PARSERS)

