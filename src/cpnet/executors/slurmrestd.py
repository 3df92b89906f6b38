"""`SlurmRest`: the Slurm executor's transport through slurmrestd, Slurm's REST daemon.

Where it listens (`slurmrestd: URL` of a slurm site):
- `unix:/path/to/socket`: slurmrestd started on a unix socket authenticates the connecting process
  (rest_auth/local): requests run as the user cpnet runs as, who must be slurmrestd's own user;
- `http://host:port` (or https): rest_auth/jwt; each request carries X-SLURM-USER-TOKEN, the JWT in
  $SLURM_JWT (`scontrol token`, or one your site mints with the cluster's jwt key), and
  X-SLURM-USER-NAME, the token's user (its `sun` claim, else the user cpnet runs as). A token there
  is sent on a unix socket too.

It speaks OpenAPI v0.0.38, the newest one Slurm 22.05 ships (`slurmrestd -s openapi/v0.0.38`, with
`openapi/dbv0.0.38` for slurmdbd's records); field names are the ones that daemon serves at
/openapi/v3. What differs from the commands, and how it is met:
- Node states are `state` plus `state_flags`; they become sinfo's %T form ("idle+drain"), leaving
  out the flags sinfo shows as a suffix mark (NOT_RESPONDING `*`, POWERED_DOWN `~`, ...), so that
  the executor's one rule on usable nodes applies to both.
- A submitted job's environment is the script's exports plus PATH and LANG of the cpnet process
  (sbatch would copy its whole environment), its working directory the job's (or cpnet's), and
  `no_requeue` stands for --no-requeue (v0.0.38 reads `requeue: false` as --requeue).
- slurmctld keeps a job's exit status as wait(2) does (code << 8 | signal). Slurm 22.05's slurmdbd
  records (dbv0.0.38) dump every normal exit as status SUCCESS, return code 0, so a FAILED job's
  code there is taken as unknown and read from slurmctld's record while it has one.
- There is no completion log: that is a file on the controller's host.
- v0.0.38 serves its own cluster only; `cluster`, when set, is checked against the cluster its jobs
  name.
"""

from __future__ import annotations

import base64
import binascii
import getpass
import json
import os
import re
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from cpnet.core.errors import CpnetError
from cpnet.executors.slurm import ACTIVE, SUCCEEDED, SlurmRecord, Submission, tres_count, wait_status_code

API = "v0.0.38"
TIMEOUT = httpx.Timeout(30.0, connect=5.0)
# sinfo marks these with a suffix (`*`, `~`, `#`, `%`, ...) that the executor strips: not a state of their own
MARK_FLAGS = frozenset({"NOT_RESPONDING", "POWERED_DOWN", "POWERING_DOWN", "POWER_DOWN", "POWERING_UP", "CLOUD", "DYNAMIC_NORM"})


class SlurmRestError(CpnetError):
    """slurmrestd answered, and Slurm reported an error (an unknown job, a rejected submission)."""


class NotServed(CpnetError):
    """slurmrestd does not serve that path (the OpenAPI plugin is not loaded)."""


class SlurmRest:
    """The SlurmBackend of slurmrestd at `url` (unix:/PATH or http(s)://HOST:PORT)."""

    def __init__(self, url: str, cluster: str | None = None, token: str | None = None, timeout: httpx.Timeout = TIMEOUT) -> None:
        self.url = url
        self.cluster = cluster
        self.token = (token if token is not None else os.environ.get("SLURM_JWT", "")).strip()
        self.claims = jwt_claims(self.token) if self.token else {}
        parts = urlsplit(url)
        if parts.scheme == "unix" and parts.path and not parts.netloc:
            transport: httpx.HTTPTransport | None = httpx.HTTPTransport(uds=parts.path)
            base = "http://slurmrestd"
        elif parts.scheme in ("http", "https") and parts.hostname:
            if not self.token:
                raise CpnetError(f"slurmrestd {url} needs a JWT: set SLURM_JWT (e.g. `scontrol token`), or use its unix socket (unix:/PATH)")
            transport, base = None, url.rstrip("/")
        else:
            raise CpnetError(f"slurmrestd URL '{url}' is neither unix:/PATH/TO/SOCKET nor http(s)://HOST:PORT")
        headers = {}
        if self.token:
            user = self.claims.get("sun")
            headers = {"X-SLURM-USER-TOKEN": self.token, "X-SLURM-USER-NAME": user if isinstance(user, str) and user else getpass.getuser()}
        self._client = httpx.Client(base_url=base, transport=transport, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._client.close()

    # -- requests ----------------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The answer's JSON; CpnetError naming slurmrestd when it cannot be had, SlurmRestError when
        Slurm reports an error, NotServed for a path slurmrestd does not serve."""
        try:
            resp = self._client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise CpnetError(f"no slurmrestd answers at {self.url} ({_why(exc)})") from None
        text = resp.text.strip()
        if resp.status_code in (401, 403):
            hint = (
                "check $SLURM_JWT (scontrol token) and its user"
                if self.token
                else "on a unix socket slurmrestd (rest_auth/local) serves only the user it runs as; else set SLURM_JWT"
            )
            raise CpnetError(f"slurmrestd at {self.url} refused the credentials (HTTP {resp.status_code} {text[:80] or resp.reason_phrase}); {hint}")
        if resp.status_code == 404 and "Unable find requested URL" in text:
            raise NotServed(f"slurmrestd at {self.url} does not serve {path}: start it with -s openapi/{API} (and openapi/db{API} for accounting)")
        try:
            doc = resp.json()
        except ValueError:
            raise CpnetError(f"slurmrestd at {self.url} answered {method} {path} with HTTP {resp.status_code} and no JSON: {text[:100]!r}") from None
        if not isinstance(doc, dict):
            raise CpnetError(f"slurmrestd at {self.url} answered {method} {path} with {type(doc).__name__}, not an object")
        errors = [e for e in doc.get("errors") or [] if isinstance(e, dict)]
        if errors:
            raise SlurmRestError(f"slurmrestd {method} {path}: {_error_text(errors[0])}")
        if resp.status_code >= 400:
            raise SlurmRestError(f"slurmrestd {method} {path}: HTTP {resp.status_code}")
        return doc

    def _lookup(self, path: str) -> dict[str, Any] | None:
        """A GET whose Slurm-side errors (an unknown job) mean "no record"."""
        try:
            return self._call("GET", path)
        except (SlurmRestError, NotServed):
            return None

    # -- SlurmBackend ------------------------------------------------------------------------------
    def check(self, partitions: Collection[str]) -> None:
        exp = self.claims.get("exp")
        if isinstance(exp, int | float) and exp < datetime.now(UTC).timestamp():
            when = datetime.fromtimestamp(exp, UTC).isoformat(timespec="seconds")
            raise CpnetError(f"the JWT in $SLURM_JWT expired at {when}; mint a new one (scontrol token)")
        try:
            ping = self._call("GET", f"/slurm/{API}/ping")
        except SlurmRestError as exc:
            why = str(exc).partition(": ")[2]
            hint = " (Slurm 22.05 answers so for a token slurmctld does not accept: check $SLURM_JWT)" if self.token else ""
            raise CpnetError(f"slurmrestd at {self.url} cannot reach slurmctld for us: {why}{hint}") from None
        down = [p for p in ping.get("pings") or [] if isinstance(p, dict) and p.get("ping") != "UP"]
        if down and len(down) == len(ping.get("pings") or []):
            raise CpnetError(
                f"slurmrestd at {self.url}: slurmctld does not answer ({', '.join(str(p.get('hostname')) + ' ' + str(p.get('ping')) for p in down)})"
            )
        if partitions:
            parts = {str(p.get("name")) for p in self._call("GET", f"/slurm/{API}/partitions").get("partitions") or [] if isinstance(p, dict)}
            missing = sorted(set(partitions) - parts)
            if missing:
                raise CpnetError(
                    f"no partition {', '.join(missing)} on the cluster behind slurmrestd {self.url} (it has: {', '.join(sorted(parts)) or 'none'})"
                )
        if self.cluster:
            clusters = {str(j.get("cluster")) for j in self._call("GET", f"/slurm/{API}/jobs").get("jobs") or [] if isinstance(j, dict) and j.get("cluster")}
            if clusters and self.cluster.lower() not in {c.lower() for c in clusters}:
                raise CpnetError(
                    f"slurmrestd at {self.url} serves Slurm cluster {', '.join(sorted(clusters))}, not '{self.cluster}' (slurmrestd {API} routes to no other cluster)"
                )

    def nodes(self, partition: str | None) -> list[tuple[str, str, str]]:
        out = []
        for n in self._call("GET", f"/slurm/{API}/nodes").get("nodes") or []:
            if isinstance(n, dict) and (partition is None or partition in (n.get("partitions") or [])):
                out.append((str(n.get("name", "")), node_state(str(n.get("state", "")), n.get("state_flags") or []), str(n.get("gres") or "")))
        return out

    def submit(self, job: Submission) -> str:
        env = {k: os.environ[k] for k in ("PATH", "LANG") if os.environ.get(k)}
        props: dict[str, Any] = {
            "name": job.name,
            "nodes": str(job.nodes),
            "tasks": job.nodes,
            "gres": job.gres,
            "no_requeue": True,
            "environment": env or {"PATH": "/usr/local/bin:/usr/bin:/bin"},
            "current_working_directory": job.chdir or os.getcwd(),
        }
        if job.partition:
            props["partition"] = job.partition
        if job.output:
            props.update(standard_output=job.output, open_mode="append")
        try:
            doc = self._call("POST", f"/slurm/{API}/job/submit", {"script": job.script.read_text(), "job": props})
        except SlurmRestError as exc:
            raise CpnetError(f"slurm: {exc}") from None
        if not isinstance(doc.get("job_id"), int):
            raise CpnetError(f"slurm: slurmrestd at {self.url} accepted the job but named no job_id")
        return str(doc["job_id"])

    def queue(self) -> dict[str, tuple[str, str]]:
        jobs = self._call("GET", f"/slurm/{API}/jobs").get("jobs") or []
        return {str(j["job_id"]): (str(j.get("job_state", "")), str(j.get("name", ""))) for j in jobs if isinstance(j, dict) and "job_id" in j}

    def cancel(self, slurm_id: str) -> None:
        try:
            self._call("DELETE", f"/slurm/{API}/job/{slurm_id}")
        except SlurmRestError:
            pass  # like scancel: a job that already ended is no error

    def accounting(self) -> bool:
        return self._lookup(f"/slurmdb/{API}/diag") is not None

    def accounted(self, slurm_id: str, gres: str) -> SlurmRecord | None:
        doc = self._lookup(f"/slurmdb/{API}/job/{slurm_id}")
        jobs = [j for j in (doc or {}).get("jobs") or [] if isinstance(j, dict) and str(j.get("job_id")) == slurm_id]
        if self.cluster:
            jobs = [j for j in jobs if str(j.get("cluster", "")).lower() == self.cluster.lower()] or jobs
        if not jobs:
            return None
        j = max(jobs, key=lambda j: _int((j.get("time") or {}).get("submission")) or 0)  # job ids are reused across clusters and resets
        state = (str((j.get("state") or {}).get("current", "")).split() or [""])[0]
        elapsed = _int((j.get("time") or {}).get("elapsed"))
        code = db_exit_code(j.get("exit_code"), state)
        if code is None and state not in ACTIVE:
            shown = self.in_memory(slurm_id, gres)
            code = shown.exit_code if shown is not None else None
        return SlurmRecord(
            state, code, float(elapsed) if elapsed is not None else None, db_gres_count((j.get("tres") or {}).get("allocated"), gres), "slurmdbd via slurmrestd"
        )

    def in_memory(self, slurm_id: str, gres: str) -> SlurmRecord | None:
        doc = self._lookup(f"/slurm/{API}/job/{slurm_id}")
        jobs = [j for j in (doc or {}).get("jobs") or [] if isinstance(j, dict) and str(j.get("job_id")) == slurm_id]
        if not jobs:
            return None
        j = jobs[0]
        status, start, end = _int(j.get("exit_code")), _int(j.get("start_time")), _int(j.get("end_time"))
        elapsed = float(end - start) if start and end and end >= start else None
        code = wait_status_code(status) if status is not None else None
        return SlurmRecord(str(j.get("job_state", "")), code, elapsed, tres_count(str(j.get("tres_alloc_str") or ""), gres), "slurmctld via slurmrestd")

    def completion_log(self, slurm_id: str) -> SlurmRecord | None:
        return None  # a file on the controller's host


# -- parsing slurmrestd's answers -----------------------------------------------------------------------
def node_state(state: str, flags: Collection[Any]) -> str:
    """v0.0.38's `state` + `state_flags` -> sinfo's %T form: "idle", "mixed+drain", ..."""
    return "+".join([state.lower(), *(str(f).lower() for f in flags if str(f).upper() not in MARK_FLAGS)])


def db_exit_code(value: Any, state: str) -> int | None:
    """dbv0.0.38's {"status": ..., "return_code": ..., "signal": {"signal_id": ...}} -> the exit
    code (128 + signal when signalled). Slurm 22.05 dumps every normal exit as SUCCESS/0, so that
    is believed only of a COMPLETED job."""
    if not isinstance(value, dict):
        return None
    status = str(value.get("status", "")).upper()
    signal = _int((value.get("signal") or {}).get("signal_id")) if isinstance(value.get("signal"), dict) else None
    if status == "SIGNALED" and signal:
        return 128 + signal
    code = _int(value.get("return_code"))
    if code is None or (status == "SUCCESS" and code == 0 and state not in SUCCEEDED):
        return None
    return code


def db_gres_count(tres: Any, gres: str) -> int | None:
    """Allocated GRES `gres` ("gpu" or "gpu:a100") in dbv0.0.38's tres.allocated list; the untyped
    count first, as typed ones are subsets of it (like `tres_count`)."""
    counts = {str(t.get("name")): _int(t.get("count")) for t in tres or [] if isinstance(t, dict) and t.get("type") == "gres"}
    for key in (gres.split(":")[0], gres):
        if counts.get(key) is not None:
            return counts[key]
    return None


def jwt_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT (not verified: slurmctld does that), or {} when it is not one."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, dict):  # later OpenAPI versions: {"set": true, "infinite": false, "number": N}
        number = value.get("number")
        return int(number) if value.get("set") and isinstance(number, int) else None
    return None


def _error_text(err: Mapping[str, Any]) -> str:
    parts = [str(err[k]) for k in ("error", "description") if err.get(k) and str(err[k]) != "request failed"]
    source = f" ({err['source']})" if err.get("source") else ""
    return ": ".join(dict.fromkeys(parts)) + source if parts else f"error {err.get('error_number', err.get('error_code', '?'))}{source}"


def _why(exc: httpx.HTTPError) -> str:
    cause: BaseException | None = exc
    while cause is not None and cause.__cause__ is not None:
        cause = cause.__cause__
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    return re.sub(r"^\[Errno -?\d+\] ", "", str(exc)) or exc.__class__.__name__
