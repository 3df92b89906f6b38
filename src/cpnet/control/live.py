"""The reconciler's live view of the store, kept current by reading only what changed.

`LiveJobs` holds the active jobs (waiting, placed, running, or cancelled and not yet released)
from the store's change feed (`Store.job_changes`): the first refresh reads them all, each later
one only the jobs named by events since the last, so a step costs what changed, not the backlog.
It also keeps what the scheduler's Snapshot needs of them, updated per changed job: each job's
JobView in arrival order ((submitted_s, seq), the order the scheduler reads) and the devices that
placed jobs hold per pool.

`LiveSites` holds the site records: one aggregate query tells whether any site changed, and
only the rows whose version moved are read again.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType

from cpnet.control.store.store import JobRecord, SiteRecord, Store
from cpnet.core.snapshot import JobView
from cpnet.core.states import JobState

Pool = tuple[str, str]
# A job's view, and whether it may be kept until the job changes (False: it depends on `now`).
ViewOf = Callable[[JobRecord, float], tuple[JobView | None, bool]]

_LIVE = frozenset((JobState.PENDING, JobState.SCHEDULED, JobState.RUNNING))
_HOLDING = frozenset((JobState.SCHEDULED, JobState.RUNNING))


def is_active(job: JobRecord) -> bool:
    return job.state in _LIVE or not job.released


def held_pool(job: JobRecord) -> tuple[Pool, int] | None:
    """The pool and device count a job holds: placed or running, or cancelled with its process not yet gone."""
    holding = job.state in _HOLDING or (job.state == JobState.CANCELLED and not job.released)
    if holding and job.site is not None and job.accelerator is not None and job.num_devices:
        return (job.site, job.accelerator), job.num_devices
    return None


def _order(job: JobRecord) -> tuple[float, int]:
    return (job.submitted_s, job.seq)


class LiveJobs:
    """Active jobs by id, their views in arrival order and the devices they hold, from the feed.

    `view_of` makes a job's view (None: the scheduler does not see it); it is called again for a job
    only when the job changed, when `invalidate` names it, or at every `views` when it said the view
    depends on `now`.
    """

    def __init__(self, store: Store, view_of: ViewOf) -> None:
        self._store = store
        self._view_of = view_of
        self._seq: int | None = None  # feed position applied
        self._jobs: dict[str, JobRecord] = {}
        self._keys: list[tuple[float, int]] = []  # (submitted_s, seq) of the jobs with a view, sorted
        self._views: list[JobView] = []  # their views, in the same order
        self._stale: set[str] = set()  # views to make again at the next `views`
        self._volatile: set[str] = set()  # views made again at every `views`
        self._held: dict[Pool, int] = {}
        self._tuple: tuple[JobView, ...] = ()
        self._dropped = False  # a view left the lists since `_tuple` was made
        self.pending = 0  # how many of the jobs are PENDING

    @property
    def jobs(self) -> Mapping[str, JobRecord]:
        return MappingProxyType(self._jobs)

    @property
    def held(self) -> Mapping[Pool, int]:
        """(site, accelerator) -> devices held there by the active jobs (`held_pool`)."""
        return MappingProxyType(self._held)

    def refresh(self) -> list[JobRecord]:
        """Apply the changes committed since the last refresh; returns the jobs new to the active set."""
        self._seq, changed = self._store.job_changes(self._seq)
        new: list[JobRecord] = []
        for job in changed:
            old = self._jobs.get(job.id)
            if old is not None:
                self._forget(old)
            if is_active(job):
                self._jobs[job.id] = job
                self._count(job, 1)
                self._stale.add(job.id)
                if old is None:
                    new.append(job)
            elif old is not None:
                self._drop_view(old)
        return new

    def invalidate(self, job_ids: Iterable[str]) -> None:
        """Make these jobs' views again at the next `views` (something `view_of` reads changed)."""
        self._stale.update(j for j in job_ids if j in self._jobs)

    def views(self, now: float) -> tuple[JobView, ...]:
        """The views of the active jobs the scheduler sees, in arrival order (submitted_s, then seq)."""
        todo = self._stale | self._volatile
        if not todo and not self._dropped:
            return self._tuple
        if len(todo) > len(self._keys) // 4 + 64:  # many changed (the first read): one sort beats many inserts
            self._rebuild(todo, now)
        else:
            for job_id in todo:
                self._place(self._jobs[job_id], now)
        self._stale.clear()
        self._dropped = False
        self._tuple = tuple(self._views)
        return self._tuple

    def view(self, job_id: str) -> JobView | None:
        """The job's view as of the last `views` (None: not active, or not seen by the scheduler)."""
        job = self._jobs.get(job_id)
        if job is None:
            return None
        key = _order(job)
        i = bisect_left(self._keys, key)
        return self._views[i] if i < len(self._keys) and self._keys[i] == key else None

    # -- internals --------------------------------------------------------------------------------
    def _forget(self, old: JobRecord) -> None:
        self._count(old, -1)
        self._stale.discard(old.id)
        self._volatile.discard(old.id)
        del self._jobs[old.id]

    def _count(self, job: JobRecord, sign: int) -> None:
        if job.state == JobState.PENDING:
            self.pending += sign
        held = held_pool(job)
        if held is not None:
            pool, n = held
            left = self._held.get(pool, 0) + sign * n
            if left:
                self._held[pool] = left
            else:
                del self._held[pool]

    def _drop_view(self, job: JobRecord) -> None:
        key = _order(job)
        i = bisect_left(self._keys, key)
        if i < len(self._keys) and self._keys[i] == key:
            del self._keys[i]
            del self._views[i]
            self._dropped = True

    def _make(self, job: JobRecord, now: float) -> JobView | None:
        view, keep = self._view_of(job, now)
        if keep:
            self._volatile.discard(job.id)
        else:
            self._volatile.add(job.id)
        return view

    def _place(self, job: JobRecord, now: float) -> None:
        view = self._make(job, now)
        key = _order(job)
        i = bisect_left(self._keys, key)
        present = i < len(self._keys) and self._keys[i] == key
        if view is None:
            if present:
                del self._keys[i]
                del self._views[i]
        elif present:
            self._views[i] = view
        else:
            self._keys.insert(i, key)
            self._views.insert(i, view)

    def _rebuild(self, todo: set[str], now: float) -> None:
        kept = {v.spec.id: v for v in self._views}
        rows: list[tuple[tuple[float, int], JobView]] = []
        for job_id, job in self._jobs.items():
            view = self._make(job, now) if job_id in todo else kept.get(job_id)
            if view is not None:
                rows.append((_order(job), view))
        rows.sort(key=lambda r: r[0])
        self._keys = [k for k, _ in rows]
        self._views = [v for _, v in rows]


class LiveSites:
    """The store's site records, in id order: a read costs one aggregate query, and when a site
    changed, the (id, version) list and the rows that moved."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._stamp: tuple[int, int] | None = None
        self._versions: dict[str, int] = {}
        self._records: dict[str, SiteRecord] = {}
        self._list: tuple[SiteRecord, ...] = ()

    def records(self) -> tuple[SiteRecord, ...]:
        """Every site as committed now; the same tuple object while no site changed."""
        stamp = self._store.sites_stamp()
        if stamp == self._stamp:
            return self._list
        # The stamp is read first: a write after it moves it again, and the next call re-reads.
        self._stamp = stamp
        versions = self._store.site_versions()
        moved = [s for s, v in versions.items() if self._versions.get(s) != v]
        for rec in self._store.list_sites(None if len(moved) > len(versions) // 2 else moved):
            self._records[rec.site.id] = rec
        self._versions = versions
        self._records = {s: self._records[s] for s in versions}
        self._list = tuple(self._records.values())
        return self._list
