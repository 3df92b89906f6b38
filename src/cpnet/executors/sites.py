"""`sites`: one server drives several sites, each on its own engine, from one sites file.

    # sites.yaml (cpnet serve --sites sites.yaml)
    sites:
      - id: local                      # this machine's CPUs and GPUs, as processes
        engine: local
      - id: edge-sh                    # a Ray cluster (on-prem or KubeRay)
        engine: ray
        address: ray://head:10001      # or host:port on a cluster node, or auto
      - id: hpc                        # a Slurm cluster, through its own commands
        engine: slurm
        cluster: hpc1                  # its ClusterName; if not this slurm.conf's: --clusters=hpc1 (slurmdbd routes)
        partitions: {A100: gpu-a100}   # accelerator model -> partition
        gres: {A100: "gpu:a100"}       # accelerator model -> GRES name
        slurm_conf: /etc/slurm/slurm.conf
        bin_dir: /usr/bin              # where sinfo, sbatch, ... are (default: PATH)
      - id: hpc-rest                   # a Slurm cluster, through its REST daemon (slurmrestd)
        engine: slurm
        slurmrestd: unix:/run/slurmrestd.socket   # or http://host:6820 with a JWT in $SLURM_JWT
        partitions: {H100: gpu-h100}
        gres: {H100: "gpu:h100"}
        # tier, region, lat, lon, pue, price_usd_per_kwh, carbon_g_per_kwh, power_cap_kw: how the
        # site is shown and scheduled (optional, any engine)

A slurm site is driven by Slurm's commands, or with `slurmrestd` by that REST daemon's OpenAPI
v0.0.38 (Slurm 22.05's; on a unix socket slurmrestd serves the user cpnet runs as, over HTTP the
user of the JWT in $SLURM_JWT); `slurm_conf`, `bin_dir` and `sbatch_args` are about the commands,
so a slurmrestd site takes none of them. See cpnet.executors.slurm for `cluster`.

Each engine is checked when the server starts (`check_site`): a missing engine, a Ray address
nobody answers at, Slurm commands that are absent or fail, a Slurm cluster that cannot be reached
from here, or a slurmrestd URL that is malformed, unreachable or refuses the credentials are one
line naming the site, before anything starts. One process can join one Ray cluster: Ray sites
share one address (with several, the nodes carry `cpnet_site:<id>` resources, see the README). A
site's inventory is what its engine reports; sites an engine reports beyond the file's are ignored.

A handle is `<site>|<engine's handle>`, so a restarted server re-attaches each job through the
engine that runs it.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cpnet.core.errors import CpnetError, InputError
from cpnet.core.model import Site, Tier
from cpnet.executors.base import Executor, LaunchRequest, Observation
from cpnet.executors.registry import make_executor, register_executor
from cpnet.executors.slurm import SlurmExecutor
from cpnet.scenario.yaml_source import format_loc, parse_yaml

SiteId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
CHECK_TIMEOUT_S = 5.0


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: SiteId
    tier: Tier = Tier.CLOUD
    region: str = "unknown"
    lat: float = Field(0.0, ge=-90, le=90)
    lon: float = Field(0.0, ge=-180, le=180)
    pue: float = Field(1.2, ge=1.0, le=5.0)
    price_usd_per_kwh: float = Field(0.1, ge=0, le=100)
    carbon_g_per_kwh: float = Field(500.0, ge=0, le=10_000)
    power_cap_kw: float | None = Field(None, gt=0)


class LocalSite(_Entry):
    engine: Literal["local"]


class RaySite(_Entry):
    engine: Literal["ray"]
    address: str = Field(min_length=1, description="ray://head:10001, host:port, or auto")


class SlurmSite(_Entry):
    engine: Literal["slurm"]
    cluster: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$", description="the cluster's ClusterName")
    partitions: dict[str, str] = Field(default_factory=dict)
    gres: dict[str, str] = Field(default_factory=dict)
    slurmrestd: str | None = Field(None, min_length=1, description="unix:/PATH/TO/SOCKET or http(s)://HOST:PORT")
    slurm_conf: str | None = None
    bin_dir: str | None = None
    sbatch_args: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _commands_or_rest(self) -> SlurmSite:
        given = [n for n in ("slurm_conf", "bin_dir", "sbatch_args") if getattr(self, n)]
        if self.slurmrestd and given:
            raise ValueError(
                f"{' and '.join(given)} {'applies' if len(given) == 1 else 'apply'} to Slurm's commands; a site with slurmrestd takes none of them"
            )
        return self


SiteEntry = Annotated[LocalSite | RaySite | SlurmSite, Field(discriminator="engine")]


class SitesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sites: list[SiteEntry] = Field(min_length=1)


ENGINES = ("local", "ray", "slurm")


def load_sites_file(path: str) -> list[LocalSite | RaySite | SlurmSite]:
    """The file's sites; InputError naming the file, line and field of the first problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(path, f"cannot read the sites file ({exc.strerror or exc})") from None
    doc = parse_yaml(text, path)
    if not isinstance(doc.data, dict):
        raise InputError(path, "expected a mapping with a list `sites` (each: id, engine and the engine's settings)", line=1)
    try:
        spec = SitesFile.model_validate(doc.data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = [p for p in err["loc"] if p not in ENGINES and p != "[key]"]
        if err["type"] == "union_tag_invalid" or (err["type"] == "union_tag_not_found"):
            problem = f"engine must be one of: {', '.join(ENGINES)}"
            loc = [*loc, "engine"] if loc[-1:] != ["engine"] else loc
        elif err["type"] == "missing":
            problem = f"missing required field '{loc[-1]}'"
        elif err["type"] == "extra_forbidden":
            problem = f"unknown field '{loc[-1]}' for this engine"
        else:
            problem = err["msg"].removeprefix("Value error, ")
        raise InputError(path, problem, line=doc.line_of(loc), field=format_loc(loc) or None) from None
    seen: dict[str, int] = {}
    for i, site in enumerate(spec.sites):
        if site.id in seen:
            raise InputError(
                path, f"site '{site.id}' is declared twice (also sites[{seen[site.id]}])", line=doc.line_of(["sites", i, "id"]), field=f"sites[{i}].id"
            )
        seen[site.id] = i
    addresses = {s.address for s in spec.sites if isinstance(s, RaySite)}
    if len(addresses) > 1:
        raise InputError(path, f"Ray sites name {len(addresses)} addresses ({', '.join(sorted(addresses))}); one server joins one Ray cluster")
    return list(spec.sites)


def site_record(entry: _Entry, inventory: Mapping[str, int]) -> Site:
    """The site as the store and scheduler see it."""
    return Site(
        entry.id,
        entry.tier,
        entry.region,
        entry.lat,
        entry.lon,
        dict(inventory),
        entry.pue,
        entry.price_usd_per_kwh,
        entry.carbon_g_per_kwh,
        power_cap_kw=entry.power_cap_kw,
    )


def check_site(entry: LocalSite | RaySite | SlurmSite) -> None:
    """CpnetError (one line, naming the site) when its engine cannot be reached from here."""
    where = f"site '{entry.id}' (engine {entry.engine})"
    if isinstance(entry, RaySite):
        try:
            import ray  # noqa: F401
        except ImportError:
            raise CpnetError(f"{where}: Ray is not installed; install the engines extra: pip install -e '.[engines]'") from None
        if entry.address != "auto":
            host, port = _host_port(entry.address, where)
            try:
                socket.create_connection((host, port), timeout=CHECK_TIMEOUT_S).close()
            except OSError as exc:
                raise CpnetError(f"{where}: no Ray cluster answers at {entry.address} ({exc.strerror or exc.__class__.__name__})") from None
    elif isinstance(entry, SlurmSite):
        try:
            ex = slurm_executor(entry)
            try:
                ex.check()
            finally:
                ex.close()
        except CpnetError as exc:
            raise CpnetError(f"{where}: {exc}") from None


def slurm_executor(entry: SlurmSite, script_dir: str = ".cpnet/slurm") -> SlurmExecutor:
    """The Slurm executor of a slurm site (nothing started, nothing asked yet)."""
    return SlurmExecutor(
        site=entry.id,
        cluster=entry.cluster,
        partitions=entry.partitions,
        gres=entry.gres,
        slurmrestd=entry.slurmrestd,
        slurm_conf=entry.slurm_conf,
        bin_dir=entry.bin_dir,
        sbatch_args=entry.sbatch_args,
        script_dir=script_dir,
    )


def _host_port(address: str, where: str) -> tuple[str, int]:
    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise CpnetError(f"{where}: address '{address}' is not ray://HOST:PORT, HOST:PORT or auto")
    return host, int(port)


@dataclass
class _Child:
    executor: Executor
    sites: frozenset[str]


@register_executor("sites")
class SitesExecutor:
    """Several engines behind the one executor interface the reconciler drives, routed by site."""

    name = "sites"

    def __init__(self, path: str, local: Mapping[str, Any] | None = None, check: bool = True) -> None:
        self.entries = load_sites_file(path)
        if check:
            for entry in self.entries:
                check_site(entry)
        self._children: list[_Child] = []
        self._by_site: dict[str, _Child] = {}
        self._site_of: dict[str, str] = {}  # job -> the site it was launched at (or adopted)
        locals_ = [e for e in self.entries if isinstance(e, LocalSite)]
        if len(locals_) > 1:
            raise InputError(path, f"{len(locals_)} local sites; this machine is one site")
        for lo in locals_:
            self._add(make_executor("local", site_id=lo.id, **dict(local or {})), [lo.id])
        rays = [e for e in self.entries if isinstance(e, RaySite)]
        if rays:
            try:
                ex = make_executor("ray", address=rays[0].address, site=rays[0].id if len(rays) == 1 else None)
            except CpnetError:
                raise
            except Exception as exc:  # ray.init's own errors (ConnectionError, RuntimeError, ...)
                raise CpnetError(f"site '{rays[0].id}' (engine ray): cannot join the cluster at {rays[0].address}: {exc}") from None
            self._add(ex, [e.id for e in rays])
        for entry in self.entries:
            if isinstance(entry, SlurmSite):
                script_dir = str(Path(str((local or {}).get("run_dir", ".cpnet/runs"))).parent / "slurm")
                self._add(slurm_executor(entry, script_dir), [entry.id])

    def _add(self, ex: Executor, sites: Sequence[str]) -> None:
        child = _Child(ex, frozenset(sites))
        self._children.append(child)
        for s in sites:
            self._by_site[s] = child

    def sites(self) -> list[Site]:
        """The file's sites with their engines' inventories now (for the store)."""
        inv = self.inventory()
        return [site_record(e, inv.get(e.id, {})) for e in self.entries]

    def _child(self, site: str) -> _Child:
        child = self._by_site.get(site)
        if child is None:
            raise CpnetError(f"site '{site}' is not in the sites file")
        return child

    @staticmethod
    def _split(handle: str) -> tuple[str, str]:
        site, sep, inner = handle.partition("|")
        if not sep:
            raise CpnetError(f"handle '{handle}' names no site")
        return site, inner

    def launch(self, request: LaunchRequest) -> str:
        site = request.placement.site
        handle = self._child(site).executor.launch(request)
        self._site_of[request.job_id] = site
        return f"{site}|{handle}"

    def observe(self) -> list[Observation]:
        out = []
        for child in self._children:
            only = next(iter(child.sites)) if len(child.sites) == 1 else None
            for o in child.executor.observe():
                site = self._site_of.get(o.job_id, only)
                out.append(replace(o, handle=f"{site}|{o.handle}") if site is not None else o)
        return out

    def cancel(self, job_id: str, handle: str) -> None:
        site, inner = self._split(handle)
        self._child(site).executor.cancel(job_id, inner)

    def adopt(self, job_id: str, attempt: int, handle: str) -> bool:
        site, inner = self._split(handle)
        child = self._by_site.get(site)
        if child is None or not child.executor.adopt(job_id, attempt, inner):
            return False
        self._site_of[job_id] = site
        return True

    def forget(self, job_id: str) -> None:
        site = self._site_of.pop(job_id, None)
        for child in self._children if site is None else [self._by_site[site]]:
            child.executor.forget(job_id)

    def inventory(self) -> Mapping[str, Mapping[str, int]]:
        out: dict[str, Mapping[str, int]] = {}
        for child in self._children:
            for site, inv in child.executor.inventory().items():
                if site in child.sites:
                    out[site] = inv
        for site in self._by_site:
            out.setdefault(site, {})  # reported by nobody now: the site is down
        return out

    def serve_tenants(self, tenants: Any) -> None:
        for child in self._children:
            hook = getattr(child.executor, "serve_tenants", None)
            if hook is not None:
                hook(tenants)
