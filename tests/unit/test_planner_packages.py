"""Package targets resolved per node: families, frozen security versions, restarts, refusals."""
from __future__ import annotations

import pytest

from package_fixtures import (
    ERLANG, GALERA, M11_4, M18, M19, MARIADB_BINARIES, S17, S19, S22, mariadb, openssl, packaged, pkg,
    with_package, with_packages, without_package,
)
from planner_fixtures import CREATED_AT, cluster
from upgrader.errors import ConfigError
from upgrader.model import PackageChange
from upgrader.planner import PlanOptions, build_plan
from upgrader.planner.packages import resolve_node
from upgrader.planner.restarts import services_for

M20 = "1:10.11.20-0+deb12u1"
ERLANG_UPDATE = "1:25.2.3+dfsg-1+deb12u1"
OPENSSL_RESTARTS = ("keystone", "mariadb", "rabbitmq-server", "ssh")


def _moves(names, start, goal):
    return [(n, start, goal) for n in names]


def _changes(result):
    return [(c.name, c.from_version, c.to_version) for c in result.changes]


# id, facts, package targets, expected on node2: (changes, restarts, at_target)
RESOLVE = [
    pytest.param(packaged(), {"mariadb-server": M19},
                 (_moves(MARIADB_BINARIES, M18, M19), ("mariadb",), False),
                 id="exact: mariadb-server pins all 12 binaries of source mariadb"),
    pytest.param(packaged(), {"libmariadb3": M19},
                 (_moves(MARIADB_BINARIES, M18, M19), ("mariadb",), False),
                 id="family: naming a library moves the server with it"),
    pytest.param(packaged(), {"libssl3": "security"},
                 (_moves(("libssl3", "openssl"), S19, S22), OPENSSL_RESTARTS, False),
                 id="security: libssl3 frozen to 3.0.22, openssl binary along, every TLS speaker restarts"),
    pytest.param(packaged(), {"libssl3": "3.0.20-1~deb12u2"},
                 (_moves(("libssl3", "openssl"), S19, "3.0.20-1~deb12u2"), OPENSSL_RESTARTS, False),
                 id="exact: an older-than-newest openssl point release apt still has"),
    pytest.param(packaged(openssl=openssl(S22)), {"libssl3": "security"}, ([], (), True),
                 id="security: no update newer than installed is at the target"),
    pytest.param(packaged(mariadb=mariadb(M19)), {"mariadb-server": M19}, ([], (), True),
                 id="exact: already installed is at the target"),
    pytest.param(with_package(packaged(), "node2", "mariadb-common", version=M19), {"mariadb-server": M19},
                 ([m for m in _moves(MARIADB_BINARIES, M18, M19) if m[0] != "mariadb-common"], ("mariadb",), False),
                 id="family: a member already at the version stays out of the changes"),
    pytest.param(packaged(), {"mariadb-server": M19, "mariadb-client": M19},
                 (_moves(MARIADB_BINARIES, M18, M19), ("mariadb",), False),
                 id="family: two names of one source at one version are one move"),
    pytest.param(packaged(), {"mariadb-server": M19, "libssl3": "security"},
                 (sorted(_moves(MARIADB_BINARIES, M18, M19) + _moves(("libssl3", "openssl"), S19, S22)),
                  OPENSSL_RESTARTS, False),
                 id="two families: changes sorted by name, restarts merged"),
    pytest.param(with_package(packaged(), "node2", "galera-4", available=("26.4.21-0+deb12u1", GALERA)),
                 {"galera-4": "26.4.21-0+deb12u1"},
                 ([("galera-4", GALERA, "26.4.21-0+deb12u1")], ("mariadb",), False),
                 id="galera-4: mariadbd loads the provider, so mariadb restarts"),
    pytest.param(with_package(packaged(), "node2", "erlang-base", available=(ERLANG_UPDATE, ERLANG)),
                 {"erlang-base": ERLANG_UPDATE},
                 ([("erlang-base", ERLANG, ERLANG_UPDATE)], ("rabbitmq-server",), False),
                 id="erlang: the broker's VM, so rabbitmq-server restarts"),
]


@pytest.mark.parametrize(("facts", "targets", "expected"), RESOLVE)
def test_resolve(facts, targets, expected):
    result = resolve_node(facts.node("node2"), targets)
    assert result.problems == ()
    assert (_changes(result), result.restarts, result.at_target) == expected


# id, facts, package targets, expected code and one-line message on node2
PROBLEMS = [
    pytest.param(packaged(), {"mariadb-server": M20}, "package_version_missing",
                 f"node2: mariadb-server {M20} is not available (apt has {M19}, {M18}); "
                 "11 more packages of source mariadb lack it too",
                 id="missing: apt has no such mariadb version"),
    pytest.param(with_package(packaged(), "node2", "mariadb-backup", available=(M18,)), {"mariadb-server": M19},
                 "package_version_missing",
                 f"node2: mariadb-backup {M19} is not available (apt has {M18}); it must move with "
                 "mariadb-server (source mariadb, one version)",
                 id="missing: one family member lacks the version the server moves to"),
    pytest.param(with_package(packaged(), "node2", "openssl", available=(S19,)), {"libssl3": "security"},
                 "package_version_missing",
                 f"node2: openssl {S22} is not available (apt has {S19}); it must move with libssl3 "
                 "(source openssl, one version)",
                 id="missing: security version of libssl3 not offered for openssl"),
    pytest.param(without_package(packaged(), "node2", "libssl3"), {"libssl3": "security"},
                 "package_not_installed",
                 "node2: libssl3 is not installed (facts list the installed packages of the watched sources only)",
                 id="not installed: libssl3 absent on node2"),
    pytest.param(packaged(), {"mariadb": M19}, "package_not_installed",
                 "node2: mariadb is not installed: it is a source package; name one of its binaries, "
                 "e.g. libmariadb3", id="not installed: a source name, not a binary"),
    pytest.param(packaged(), {"libssl3": S17}, "package_downgrade",
                 f"node2: libssl3 target {S17} is older than installed {S19} (packages are never downgraded); "
                 "1 more package of source openssl too", id="downgrade: libssl3 to 3.0.17"),
    pytest.param(with_package(packaged(), "node2", "mariadb-common", version=M19, available=(M19,)),
                 {"mariadb-server": M18}, "package_version_missing",
                 f"node2: mariadb-common {M18} is not available (apt has {M19}); it must move with "
                 "mariadb-server (source mariadb, one version)",
                 id="missing before downgrade: a member ahead of the version apt no longer has"),
    pytest.param(with_package(packaged(mariadb=mariadb(M18, (M19, M18))), "node2", "mariadb-common", version=M19),
                 {"mariadb-server": M18}, "package_downgrade",
                 f"node2: mariadb-common target {M18} is older than installed {M19} (packages are never "
                 "downgraded)", id="downgrade: a family member already newer than the target"),
    pytest.param(packaged(), {"mariadb-server": M19, "mariadb-client": M18}, "package_target_conflict",
                 f"node2: mariadb-client and mariadb-server are both of source mariadb but ask for {M18} and "
                 f"{M19}; a source's packages move together, at one version",
                 id="conflict: two names of one source at two versions"),
]


@pytest.mark.parametrize(("facts", "targets", "code", "message"), PROBLEMS)
def test_resolve_refuses(facts, targets, code, message):
    result = resolve_node(facts.node("node2"), targets)
    assert [(p.code, p.message) for p in result.problems] == [(code, message)]
    assert result.changes == () and result.restarts == ()


# id, source package, services to restart
RESTARTS = [
    pytest.param("mariadb", ("mariadb",), id="restart: mariadb"),
    pytest.param("galera-4", ("mariadb",), id="restart: galera-4 -> mariadb"),
    pytest.param("rabbitmq-server", ("rabbitmq-server",), id="restart: rabbitmq-server"),
    pytest.param("erlang", ("rabbitmq-server",), id="restart: erlang -> rabbitmq-server"),
    pytest.param("erlang-sd-notify", ("rabbitmq-server",), id="restart: erlang* pattern"),
    pytest.param("openssl", ("mariadb", "rabbitmq-server", "keystone", "ssh"), id="restart: openssl -> all TLS"),
    pytest.param("python3.11", ("keystone",), id="restart: python3.* -> keystone"),
    pytest.param("glibc", (), id="restart: unknown source, none known"),
]


@pytest.mark.parametrize(("source", "services"), RESTARTS)
def test_services_for(source, services):
    assert services_for(source) == services


# ------------------------------------------------------------------ in a plan

PATCH_SSL = PlanOptions(package_targets={"libssl3": "security"})
PATCH_DB = PlanOptions(package_targets={"mariadb-server": M19})
MAJOR = "a rolling upgrade across MariaDB major versions is not supported"


def _plan(facts, options):
    return build_plan(facts, options, created_at=CREATED_AT)


def test_patch_roll_plan_freezes_the_security_version():
    plan = _plan(packaged(), PATCH_SSL)
    assert (plan.kind, plan.refusals, plan.package_targets, plan.mariadb_upgrade) == (
        "patch", (), {"libssl3": "security"}, False)
    for node in plan.nodes:
        assert node.package_changes == (PackageChange("libssl3", S19, S22), PackageChange("openssl", S19, S22))
        assert node.restarts == OPENSSL_RESTARTS


def test_package_changes_lengthen_the_upgrade_step_and_the_ist_gap():
    base = _plan(packaged(), PlanOptions()).nodes[0]
    db = _plan(packaged(), PATCH_DB).nodes[0]
    upgrade = {s.name: s.estimate_s for s in db.steps}["upgrade"]
    assert upgrade == 5 + 3 + 12          # apt base + 1 s per package: the lab measured 8-15 s
    assert db.estimate_s == base.estimate_s + 15
    # downtime 8 + 20 + 8 = 36 s at 1.5 write-sets/s, margin 2: ceil(108) + 4
    assert (base.predicted_gap_writesets, db.predicted_gap_writesets) == (67, 112)


def test_a_keystone_upgrade_with_packages_is_an_upgrade():
    options = PlanOptions(targets={"keystone": "29.1.0"}, package_targets={"libssl3": "security"})
    plan = _plan(packaged(), options)
    assert plan.kind == "upgrade" and [s.name for s in plan.preparation] == ["keystone_expand"]


# id, facts, options, expected refusals (exact, in order)
PLAN_REFUSALS = [
    pytest.param(with_package(packaged(), "node3", "mariadb-server-core", available=(M18,)), PATCH_DB,
                 [f"node3: mariadb-server-core {M19} is not available (apt has {M18}); it must move with "
                  "mariadb-server (source mariadb, one version)"],
                 id="plan: one node lacking the version refuses the roll, naming only that node"),
    pytest.param(packaged(mariadb=mariadb(M18, (M11_4, M19, M18))), PlanOptions(package_targets={"mariadb-server": M11_4}),
                 [f"{n}: mariadb-server {M18} -> {M11_4}: {MAJOR}: SST between majors fails and mixed majors "
                  "may not replicate; upgrade MariaDB 10.11 to 11.4 by the documented major-upgrade procedure"
                  for n in ("node1", "node2", "node3")],
                 id="plan: 10.11 -> 11.4 by package is refused on every node"),
    pytest.param(without_package(packaged(), "node1", "libssl3"), PATCH_SSL,
                 ["node1: libssl3 is not installed (facts list the installed packages of the watched sources only)"],
                 id="plan: a node without the package"),
]


@pytest.mark.parametrize(("facts", "options", "expected"), PLAN_REFUSALS)
def test_plan_refusals(facts, options, expected):
    assert list(_plan(facts, options).refusals) == expected


def test_major_change_sets_mariadb_upgrade_even_though_refused():
    plan = _plan(packaged(mariadb=mariadb(M18, (M11_4, M18))), PlanOptions(package_targets={"mariadb-server": M11_4}))
    assert plan.mariadb_upgrade is True and plan.refusals


def test_major_change_cannot_be_forced():
    with pytest.raises(ConfigError, match="^refusal mariadb_major_change cannot be forced"):
        PlanOptions(package_targets={"mariadb-server": M11_4}, force=frozenset({"mariadb_major_change"}))


def test_nodes_without_package_facts_are_not_installed():
    plan = _plan(cluster(), PATCH_SSL)   # facts gathered before packages were: nothing installed
    assert [r.split(":")[0] for r in plan.refusals] == ["node1", "node2", "node3"]


def test_mixed_nodes_each_resolve_for_themselves():
    facts = with_packages(packaged(), "node3", openssl=openssl(S22))
    plan = _plan(facts, PATCH_SSL)
    by_node = {n.name: len(n.package_changes) for n in plan.nodes}
    assert plan.refusals == () and by_node == {"node1": 2, "node2": 2, "node3": 0}


def test_package_targets_change_the_hash():
    assert _plan(packaged(), PATCH_SSL).plan_hash != _plan(packaged(), PATCH_DB).plan_hash


def test_plan_wide_packages_and_package_targets_stay_apart():
    with pytest.raises(ConfigError, match="^package libssl3 is both in packages and in package targets; give it once$"):
        PlanOptions(packages=("libssl3",), package_targets={"libssl3": "security"})


def test_package_fact_builder_matches_the_lab():
    # the one the brief quotes: libssl3 3.0.19, security 3.0.22, apt knows four versions
    libssl3 = next(p for p in packaged().node("node1").packages if p.name == "libssl3")
    assert libssl3 == pkg("libssl3", S19, "openssl", (S22, "3.0.20-1~deb12u2", S19, S17), S22)
