"""Group-commit submissions and the incremental active-job view, on SQLite and PostgreSQL."""

from __future__ import annotations

from cpnet.control.store import Store
from cpnet.core.states import JobState


def test_submit_jobs_one_transaction_keeps_idempotency(store: Store) -> None:
    store.create_tenant("a", 1.0, 0.0)
    store.create_tenant("b", 1.0, 0.0)
    first = store.submit_jobs(
        [("a", "k1", {"command": ["x"]}, 1.0), ("a", "k2", {"command": ["x"]}, 1.0), ("a", "k1", {"command": ["y"]}, 1.0), ("b", "k1", {"command": ["z"]}, 1.0)]
    )
    assert [new for _, new in first] == [True, True, False, True]
    assert first[2][0].id == first[0][0].id and first[2][0].spec == {"command": ["x"]}
    assert first[3][0].id != first[0][0].id
    again = store.submit_jobs([("a", "k2", {"command": ["q"]}, 2.0), ("a", "k3", {"command": ["x"]}, 2.0)])
    assert again[0] == (store.get_job(first[1][0].id), False)
    assert again[1][1] and again[1][0].seq > first[3][0].seq
    assert store.count_jobs() == 4
    assert [e["kind"] for e in store.job_events(first[0][0].id)] == ["submitted"]


def test_active_jobs_follow_changes_made_elsewhere(store: Store, db_url: str) -> None:
    other = Store(db_url)  # another process's view, e.g. an API worker
    try:
        store.create_tenant("a", 1.0, 0.0)
        j1, _ = other.submit_job("a", "k1", {"command": ["x"]}, 1.0)
        assert [j.id for j in store.active_jobs()] == [j1.id]  # first call: full read
        j2, _ = other.submit_job("a", "k2", {"command": ["x"]}, 2.0)
        j3 = other.submit_jobs([("a", "k3", {"command": ["x"]}, 3.0)])[0][0]
        assert [j.id for j in store.active_jobs()] == [j1.id, j2.id, j3.id]  # seq order

        assert store.transition(store.get_job(j1.id), JobState.SCHEDULED, 4.0, "scheduled", site="s", accelerator="CPU", num_devices=1, released=False)  # type: ignore[arg-type]
        other.cancel_job(j2.id, 5.0)  # a pending job cancelled: it leaves the active set
        other.cancel_job(j1.id, 5.0)  # a placed job cancelled: stays until its process is released
        active = {j.id: j for j in store.active_jobs()}
        assert list(active) == [j1.id, j3.id]
        assert active[j1.id].state == JobState.CANCELLED and not active[j1.id].released
        assert store.update_job(active[j1.id], 6.0, "released", "gone", released=True)
        assert [j.id for j in store.active_jobs()] == [j3.id]
        assert store.active_jobs() == [store.get_job(j3.id)]  # nothing new: same answer
    finally:
        other.close()
