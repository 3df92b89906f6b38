"""The durable store, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from cpnet.control.store import Store
from cpnet.control.store import schema as t
from cpnet.control.store.store import StoreError
from cpnet.core.model import Site, Tier
from cpnet.core.states import InvalidSiteTransition, InvalidTransition, JobState, SiteState


def test_migrate_is_idempotent_and_records_head(store: Store) -> None:
    store.migrate()
    with store.engine.connect() as c:
        assert c.execute(text("select version_num from alembic_version")).scalar_one() == "0008"


def test_migrations_build_exactly_the_declared_schema(store: Store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with store.engine.connect() as c:
        diffs = compare_metadata(MigrationContext.configure(c), t.metadata)
    assert diffs == []


def test_tokens_are_stored_only_as_hashes(store: Store) -> None:
    token = store.create_tenant("acme", 2.0, 0.0)
    admin = store.create_token(None, 0.0)
    with store.engine.connect() as c:
        stored = [r.hash for r in c.execute(select(t.tokens.c.hash))]
    assert token not in stored and admin not in stored and len(stored) == 2
    assert store.principal(token).tenant_id == "acme" and not store.principal(token).admin
    assert store.principal(admin).admin and store.principal(admin).tenant_id is None
    assert store.principal("cpt_wrong") is None
    assert store.tenants() == {"acme": 2.0}
    with pytest.raises(StoreError, match="already exists"):
        store.create_tenant("acme", 1.0, 0.0)


def test_submit_is_idempotent_per_tenant(store: Store) -> None:
    store.create_tenant("a", 1.0, 0.0)
    store.create_tenant("b", 1.0, 0.0)
    j1, new1 = store.submit_job("a", "k", {"command": ["true"]}, 1.0)
    j2, new2 = store.submit_job("a", "k", {"command": ["false"]}, 2.0)
    j3, new3 = store.submit_job("b", "k", {"command": ["true"]}, 3.0)
    assert (new1, new2, new3) == (True, False, True)
    assert j2.id == j1.id and j2.spec["command"] == ["true"]
    assert j3.id != j1.id
    assert store.count_jobs() == 2
    assert [e["kind"] for e in store.job_events(j1.id)] == ["submitted"]


def test_list_filters_and_paginates(store: Store) -> None:
    store.create_tenant("a", 1.0, 0.0)
    store.create_tenant("b", 1.0, 0.0)
    ids = [store.submit_job("a" if i % 2 == 0 else "b", f"k{i}", {"command": ["x"]}, float(i))[0].id for i in range(7)]
    page1 = store.list_jobs("a", limit=2)
    page2 = store.list_jobs("a", after_seq=page1[-1].seq, limit=2)
    page3 = store.list_jobs("a", after_seq=page2[-1].seq, limit=2)
    assert [j.id for j in page1 + page2 + page3] == ids[0::2]
    store.cancel_job(ids[1], 9.0)
    assert [j.id for j in store.list_jobs(None, ["cancelled"])] == [ids[1]]
    assert len(store.list_jobs(None)) == 7


# (path of states applied from PENDING, whether the last step is allowed)
TRANSITIONS = [
    ([JobState.SCHEDULED, JobState.RUNNING, JobState.SUCCEEDED], True),
    ([JobState.SCHEDULED, JobState.RUNNING, JobState.PENDING], True),
    ([JobState.CANCELLED], True),
    ([JobState.RUNNING], False),
    ([JobState.SUCCEEDED], False),
    ([JobState.CANCELLED, JobState.PENDING], False),
    ([JobState.SCHEDULED, JobState.RUNNING, JobState.FAILED, JobState.RUNNING], False),
]


@pytest.mark.parametrize(("path", "allowed"), TRANSITIONS)
def test_transitions_follow_the_table(store: Store, path: list[JobState], allowed: bool) -> None:
    store.create_tenant("a", 1.0, 0.0)
    job, _ = store.submit_job("a", "k", {"command": ["x"]}, 0.0)
    for dst in path[:-1]:
        assert store.transition(job, dst, 1.0, "step")
        job = store.get_job(job.id)
    before = store.job_events(job.id)
    if allowed:
        assert store.transition(job, path[-1], 2.0, "step")
        assert store.get_job(job.id).state == path[-1]
    else:
        with pytest.raises(InvalidTransition):
            store.transition(job, path[-1], 2.0, "step")
        assert store.get_job(job.id).state == job.state  # nothing applied
        assert store.job_events(job.id) == before


def test_stale_version_does_not_overwrite(store: Store) -> None:
    store.create_tenant("a", 1.0, 0.0)
    job, _ = store.submit_job("a", "k", {"command": ["x"]}, 0.0)
    store.cancel_job(job.id, 1.0)  # a concurrent cancel bumps the version
    assert store.transition(job, JobState.SCHEDULED, 2.0, "scheduled") is False
    assert store.get_job(job.id).state == JobState.CANCELLED


def test_apply_decision_is_one_transaction(store: Store) -> None:
    store.create_tenant("a", 1.0, 0.0)
    j1, _ = store.submit_job("a", "k1", {"command": ["x"]}, 0.0)
    j2, _ = store.submit_job("a", "k2", {"command": ["x"]}, 0.0)
    with pytest.raises(InvalidTransition):  # the second change is invalid: nothing is written
        store.apply_decision(
            1.0,
            "fifo",
            {"placements": [], "preemptions": [], "infeasible": []},
            [(j1, JobState.SCHEDULED, "scheduled", "", {}), (j2, JobState.SUCCEEDED, "x", "", {})],
        )
    assert store.get_job(j1.id).state == JobState.PENDING and store.decisions() == []
    ok = store.apply_decision(
        1.0,
        "fifo",
        {"placements": [["x"]], "preemptions": [], "infeasible": []},
        [(j1, JobState.SCHEDULED, "scheduled", "", {"site": "s"}), (j2, JobState.FAILED, "infeasible", "", {})],
    )
    assert ok == [True, True] and store.get_job(j1.id).site == "s" and len(store.decisions()) == 1


def test_site_states_and_heartbeats(store: Store) -> None:
    store.upsert_site(Site("s1", Tier.EDGE, "r", 0.0, 0.0, {"CPU": 4}), "api", 0.0, heartbeat_timeout_s=5.0)
    assert store.get_site("s1").state == SiteState.UP
    assert store.set_site_state("s1", SiteState.DOWN)
    rec = store.heartbeat("s1", 10.0, {"CPU": 8})
    assert rec.state == SiteState.UP and rec.site.inventory == {"CPU": 8} and rec.heartbeat_s == 10.0
    assert store.set_site_state("s1", SiteState.DRAINED)
    with pytest.raises(InvalidSiteTransition):
        store.set_site_state("s1", SiteState.DOWN)
    with pytest.raises(StoreError):
        store.heartbeat("nope", 1.0)


def test_devices_in_use_sums_scheduled_and_running_jobs_per_pool(store: Store) -> None:
    store.create_tenant("a", 1.0, 0.0)
    placed = dict(site="s1", accelerator="V100")
    for i, (dst, n) in enumerate([(JobState.SCHEDULED, 2), (JobState.RUNNING, 3), (JobState.FAILED, 5)]):
        job, _ = store.submit_job("a", f"k{i}", {"command": ["x"]}, 0.0)
        assert store.transition(job, JobState.SCHEDULED, 1.0, "scheduled", num_devices=n, **placed)
        if dst != JobState.SCHEDULED:
            job = store.get_job(job.id)
            assert job is not None and store.transition(job, dst, 2.0, dst.value)
    other, _ = store.submit_job("a", "k9", {"command": ["x"]}, 0.0)
    assert store.transition(other, JobState.SCHEDULED, 1.0, "scheduled", site="s2", accelerator="CPU", num_devices=1)
    assert store.devices_in_use() == {("s1", "V100"): 5, ("s2", "CPU"): 1}
