"""The tenant tree: validation, navigation, the flat form, and its declaration in scenario files."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from cpnet.core.errors import InputError, UnknownNameError
from cpnet.core.model import Tenant
from cpnet.core.tenancy import ALL_FAMILIES, Budget, BudgetPeriod, BudgetUnit, NodeKind, TenantNode, TenantTree, TenantTreeError
from cpnet.scenario import Scenario, load_scenario

ORG, TEAM = NodeKind.ORG, NodeKind.TEAM

NODES = (
    TenantNode("acme", ORG, quota_cu_s=1000),
    TenantNode("ml", TEAM, parent="acme", quota_cu_s=600),
    TenantNode("vision", TEAM, parent="ml"),
    TenantNode("alice", parent="vision", quota_cu_s=200),
    TenantNode("bob", parent="ml", weight=2.0),
    TenantNode("carol", parent="acme", family_quota_cu_s={"NVIDIA": 50}),
    TenantNode("solo", home_site="a"),
)
TREE = TenantTree(NODES)


def test_navigation() -> None:
    assert TREE.roots() == ("acme", "solo")
    assert TREE.children("acme") == ("ml", "carol")
    assert TREE.ancestors("alice") == ("vision", "ml", "acme")
    assert TREE.path("alice") == ("acme", "ml", "vision", "alice")
    assert TREE.ancestors("solo") == ()
    assert TREE.tenants() == ("alice", "bob", "carol", "solo")
    assert TREE.tenants("ml") == ("alice", "bob")
    assert TREE.descendants("ml") == ("ml", "vision", "alice", "bob")


def test_subtree_is_what_a_team_admin_sees() -> None:
    sub = TREE.subtree("ml")
    assert [n.id for n in sub] == ["ml", "vision", "alice", "bob"]
    assert sub.roots() == ("ml",) and sub.node("ml").parent is None
    assert "acme" not in sub and "carol" not in sub


@pytest.mark.parametrize(
    ("node", "dim", "total"),
    [
        ("acme", ALL_FAMILIES, 1000.0),
        ("ml", ALL_FAMILIES, 600.0),
        ("vision", ALL_FAMILIES, 200.0),
        ("bob", ALL_FAMILIES, 0.0),
        ("acme", "NVIDIA", 50.0),
        ("ml", "NVIDIA", 0.0),
    ],
)
def test_subtree_quota(node: str, dim: str, total: float) -> None:
    assert TREE.subtree_quota(node, dim) == total


def test_quota_dimensions() -> None:
    assert TREE.quota_dimensions() == frozenset({ALL_FAMILIES, "NVIDIA"})
    assert TenantTree((TenantNode("a"),)).quota_dimensions() == frozenset()


def test_flat_tenants_make_a_forest_of_orgs_of_one() -> None:
    tree = TenantTree.from_tenants([Tenant("a", 2.0, "s1"), Tenant("b")])
    assert tree.roots() == ("a", "b")
    assert tree.tenant_models() == {"a": Tenant("a", 2.0, "s1"), "b": Tenant("b")}
    assert tree.quota_dimensions() == frozenset()


def test_with_nodes_and_without() -> None:
    grown = TREE.with_nodes([TenantNode("dana", parent="vision"), TenantNode("bob", parent="ml", weight=5.0)])
    assert grown.tenants("vision") == ("alice", "dana")
    assert grown.node("bob").weight == 5.0 and len(grown) == len(TREE) + 1
    assert TREE.without(["carol"]).children("acme") == ("ml",)
    with pytest.raises(TenantTreeError, match="unknown parent 'vision'"):
        TREE.without(["vision"])  # alice would lose her parent
    with pytest.raises(UnknownNameError):
        TREE.without(["zed"])


def bad(node: str, **changes: object) -> tuple[TenantNode, ...]:
    """NODES with one node's fields changed (or a new tenant added under that id)."""
    ids = [n.id for n in NODES]
    if node not in ids:
        return (*NODES, TenantNode(node, **changes))  # type: ignore[arg-type]
    return tuple(replace(n, **changes) if n.id == node else n for n in NODES)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("nodes", "node", "field", "words"),
    [
        ((*NODES, TenantNode("bob")), "bob", "id", "duplicate id 'bob'"),
        (bad("eve", parent="nobody"), "eve", "parent", "unknown parent 'nobody'; expected an org or team id: acme, ml, vision"),
        (bad("eve", parent="bob"), "eve", "parent", "parent 'bob' is a tenant"),
        (bad("ml", parent="vision"), "ml", "parent", "is a cycle"),
        (bad("ml", kind=ORG), "ml", "parent", "an org is a root and has no parent"),
        ((*bad("ml", kind=ORG, parent=None, quota_cu_s=None), TenantNode("empty", TEAM, parent="acme")), "empty", "kind", "team 'empty' has no members"),
        (bad("bob", weight=0.0), "bob", "weight", "finite number > 0"),
        (bad("bob", quota_cu_s=-1.0), "bob", "quota_cu_s", ">= 0"),
        (bad("bob", borrowing_limit_cu_s=float("nan")), "bob", "borrowing_limit_cu_s", "finite"),
        (bad("bob", family_quota_cu_s={"NVIDIA": -3.0}), "bob", "family_quota_cu_s.NVIDIA", ">= 0"),
        (bad("bob", budget=Budget(0.0, BudgetUnit.CU, BudgetPeriod.DAY)), "bob", "budget", "amount > 0"),
        (bad("ml", home_site="a"), "ml", "home_site", "home_site is a tenant's"),
        # ml declares 600 but its members add up to 200 + 500
        (bad("bob", quota_cu_s=500.0), "ml", "quota_cu_s", "add up to 700 CU/s, more than this team's 600"),
        (bad("acme", family_quota_cu_s={"NVIDIA": 40.0}), "acme", "family_quota_cu_s.NVIDIA", "add up to 50 CU/s, more than this org's 40"),
    ],
)
def test_invalid_trees(nodes: tuple[TenantNode, ...], node: str, field: str, words: str) -> None:
    with pytest.raises(TenantTreeError) as info:
        TenantTree(nodes)
    assert (info.value.node, info.value.field) == (node, field)
    assert words in str(info.value)


# Scenario files.
HEAD = """\
schema_version: 1
name: t
sites:
  - {id: a, tier: cloud, region: r, lat: 30.0, lon: 110.0, inventory: {V100: 4}, pue: 1.1, price_usd_per_kwh: 0.1, carbon_g_per_kwh: 500}
tenants:
"""
TREE_FILE = (
    HEAD
    + """\
  - {id: acme, kind: org, weight: 1, quota_cu_s: 400, budget: {amount: 1200, unit: cu, period: month}}
  - {id: ml, kind: team, parent: acme, weight: 2, quota_cu_s: 300, lending_limit_cu_s: 50}
  - {id: alice, parent: ml, weight: 1, home_site: a, family_quota_cu_s: {NVIDIA: 100}, borrowing_limit_cu_s: 20}
  - {id: bob, parent: acme, weight: 1}
  - {id: solo, weight: 3}
"""
)


def load(tmp_path: Path, text: str) -> Scenario:
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    return load_scenario(str(path), known_accelerators={"V100"}, known_families={"NVIDIA", "Huawei"})


def test_scenario_declares_the_tree(tmp_path: Path) -> None:
    sc = load(tmp_path, TREE_FILE)
    tree = sc.tenant_tree
    assert tree.path("alice") == ("acme", "ml", "alice")
    assert tree.roots() == ("acme", "solo")
    assert tree.node("acme").budget == Budget(1200.0, BudgetUnit.CU, BudgetPeriod.MONTH)
    alice = tree.node("alice")
    assert (alice.family_quota_cu_s, alice.borrowing_limit_cu_s, alice.home_site) == ({"NVIDIA": 100.0}, 20.0, "a")
    assert tree.node("ml").lending_limit_cu_s == 50.0
    assert set(sc.tenants) == {"alice", "bob", "solo"}  # orgs and teams submit no jobs
    assert sc.tenants["solo"] == Tenant("solo", 3.0)


def test_old_flat_form_still_loads(tmp_path: Path) -> None:
    sc = load(tmp_path, HEAD + "  - {id: x, weight: 1}\n  - {id: y, weight: 2, home_site: a}\n")
    assert sc.tenants == {"x": Tenant("x", 1.0), "y": Tenant("y", 2.0, "a")}
    assert sc.tenant_tree.roots() == ("x", "y")


def test_bundled_scenarios_get_a_flat_tree() -> None:
    sc = load_scenario("east-data-west-compute")
    assert set(sc.tenant_tree.tenants()) == set(sc.tenants)
    assert sc.tenant_tree.quota_dimensions() == frozenset()


@pytest.mark.parametrize(
    ("old", "new", "field", "words"),
    [
        ("parent: ml, weight: 1, home", "parent: mll, weight: 1, home", "tenants[2].parent", "unknown parent 'mll'; expected an org or team id: acme, ml"),
        ("parent: acme, weight: 1}", "parent: alice, weight: 1}", "tenants[3].parent", "parent 'alice' is a tenant"),
        ("quota_cu_s: 400", "quota_cu_s: 250", "tenants[0].quota_cu_s", "add up to 300 CU/s, more than this org's 250"),
        ("{NVIDIA: 100}", "{Nvidia: 100}", "tenants[2].family_quota_cu_s.Nvidia", "unknown accelerator family 'Nvidia'; expected a vendor: Huawei, NVIDIA"),
        ("kind: team", "kind: group", "tenants[1].kind", "'org', 'team' or 'tenant'"),
        ("unit: cu", "unit: kwh", "tenants[0].budget.unit", "'cu' or 'usd'"),
        ("period: month", "period: year", "tenants[0].budget.period", "'day', 'week' or 'month'"),
        ("lending_limit_cu_s: 50", "lending_limit_cu_s: -5", "tenants[1].lending_limit_cu_s", "greater than or equal to 0"),
        ("{id: bob, parent", "{id: ml, parent", "tenants[3].id", "duplicate tenant id 'ml'"),
        ("period: month}", "period: month, every: 2}", "tenants[0].budget.every", "unknown field 'every'; expected one of: amount, unit, period"),
    ],
)
def test_tree_errors_name_the_line(tmp_path: Path, old: str, new: str, field: str, words: str) -> None:
    assert TREE_FILE.count(old) == 1
    text = TREE_FILE.replace(old, new)
    line = next(i for i, row in enumerate(text.splitlines(), start=1) if new in row)
    with pytest.raises(InputError) as info:
        load(tmp_path, text)
    err = info.value
    assert (err.line, err.field) == (line, field), str(err)
    assert words in str(err)


def test_team_without_members_names_its_line(tmp_path: Path) -> None:
    text = TREE_FILE + "  - {id: empty, kind: team, parent: acme, weight: 1}\n"
    with pytest.raises(InputError) as info:
        load(tmp_path, text)
    assert (info.value.line, info.value.field) == (len(text.splitlines()), "tenants[5].kind")
    assert "team 'empty' has no members; every leaf of the tree is a tenant" in str(info.value)


def test_weights_inside_a_team_split_the_teams_part() -> None:
    def tree(alice: float, carol: float) -> TenantTree:
        return TenantTree(
            (
                TenantNode("acme", NodeKind.ORG, weight=2.0),
                TenantNode("vision", NodeKind.TEAM, "acme"),
                TenantNode("nlp", NodeKind.TEAM, "acme"),
                TenantNode("alice", parent="vision", weight=alice),
                TenantNode("carol", parent="vision", weight=carol),
                TenantNode("bob", parent="nlp"),
                TenantNode("solo", weight=3.0),  # a tenant of its own: its weight as it is
            )
        )

    w = {t: m.weight for t, m in tree(1.0, 1.0).tenant_models().items()}
    assert w == {"alice": 0.5, "carol": 0.5, "bob": 1.0, "solo": 3.0}  # 2 x 1/2 x 1/2, 2 x 1/2 x 1/2, 2 x 1/2 x 1
    raised = {t: m.weight for t, m in tree(100.0, 100.0).tenant_models().items()}
    assert raised == w  # a team admin cannot raise its team's share by raising its tenants' weights
    assert tree(3.0, 1.0).effective_weight("alice") == 0.75 and tree(3.0, 1.0).effective_weight("carol") == 0.25
