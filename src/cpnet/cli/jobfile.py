"""Job files: what `cpnet job submit -f job.yaml` reads (examples/job.yaml is one).

A YAML mapping with any of these fields (all optional; a command comes from the file or after `--`):

    name: resnet-sweep-3          # shown by `cpnet job list`; not unique
    command: [python, train.py]   # a list, or one string split as a shell would (shlex, no shell runs it)
    accelerator: A100             # one model (or CPU); a list of one is the same; absent: any model
    devices: 2                    # a gang: that many devices of one model at one site
    job_type: "ResNet-50 (batch size 64)"
    data_site: beijing            # where the input data lives
    data_gb: 120
    deadline: 2025-06-01T18:00:00+08:00   # or Unix seconds; a date-time without an offset is local time
    sites: [beijing, ningxia]     # where it may run; absent: anywhere
    env: {EPOCHS: 3}              # extra environment (numbers are written as text)
    workdir: /data/train          # absolute, on the site
    checkpointing: on             # the job checkpoints into $CPNET_CHECKPOINT_DIR; it runs with CPNET_CHECKPOINT=1
    preemptible: on               # spot-like: billed at the tariff's discount, preempted before other jobs
    total_steps: 10000            # the scheduler's estimate of the work
    priority_weight: 1.0          # within the tenant

Flags of `cpnet job submit` override the file's fields (`--env` per variable). Every problem is one
InputError naming the file, the line and the field (`job.yaml, line 4, field 'devices': ...`), read
with the scenario files' YAML reader (cpnet.scenario.yaml_source) and checked, once the flags are
merged in, against the API's own request schema (cpnet.api.schemas.JobSubmit).

The API takes one accelerator model per job: a list of several is refused here (naming them)
rather than sent as "any model".
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from cpnet.cli.times import unix_time
from cpnet.core.errors import CpnetError, InputError
from cpnet.scenario.yaml_source import Loc, YamlDocument, format_loc, parse_yaml, validation_error

# Job file field -> JobSubmit field, where the names differ.
API_FIELD = {"deadline": "deadline_s", "checkpointing": "checkpoint"}
FILE_FIELD = {v: k for k, v in API_FIELD.items()}


class JobFile(BaseModel):
    """The job file's schema: strict types, no unknown field. Bounds are JobSubmit's (checked after the merge)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    name: str | None = None
    command: Any = None
    accelerator: Any = None
    devices: int | None = None
    job_type: str | None = None
    data_site: str | None = None
    data_gb: float | None = None
    deadline: Any = None
    sites: list[str] | None = None
    env: dict[str, Any] | None = None
    workdir: str | None = None
    checkpointing: bool | None = None
    preemptible: bool | None = None
    total_steps: float | None = None
    priority_weight: float | None = None

    @field_validator("command")
    @classmethod
    def _command(cls, v: Any) -> list[str] | None:
        if v is None:
            return None
        if isinstance(v, str):
            try:
                return shlex.split(v)
            except ValueError as exc:
                raise ValueError(f"cannot split {v!r} as a shell would: {exc}") from None
        if isinstance(v, list) and all(isinstance(a, str) for a in v):
            return v
        raise ValueError("expected a list of strings (the argv) or one string split as a shell would; quote numbers")

    @field_validator("accelerator")
    @classmethod
    def _accelerator(cls, v: Any) -> str | None:
        if v is None or isinstance(v, str):
            return v
        if isinstance(v, list) and all(isinstance(a, str) for a in v):
            if len(set(v)) == 1:
                return str(v[0])
            if not v:
                raise ValueError("an empty list; leave accelerator out for any model")
            raise ValueError(f"the server takes one accelerator model per job (or none: any model), not a choice of {', '.join(v)}; keep one")
        raise ValueError("expected a model name such as A100 (or CPU)")

    @field_validator("deadline")
    @classmethod
    def _deadline(cls, v: Any) -> float | None:
        return None if v is None else unix_time(v)

    @field_validator("env")
    @classmethod
    def _env(cls, v: dict[str, Any] | None) -> dict[str, str] | None:
        if v is None:
            return None
        out = {}
        for k, val in v.items():
            if isinstance(val, bool) or not isinstance(val, str | int | float):
                raise ValueError(f"{k}: expected a string or a number, got {val!r}; quote it")
            out[k] = val if isinstance(val, str) else str(val)
        return out


@dataclass
class JobBody:
    """A JobSubmit body being put together, and where each field came from (a file location or a flag)."""

    fields: dict[str, Any] = field(default_factory=dict)
    doc: YamlDocument | None = None
    file_locs: dict[str, Loc] = field(default_factory=dict)  # API field -> its location in the file
    flags: dict[str, str] = field(default_factory=dict)  # API field -> the flag that set it
    env_flags: set[str] = field(default_factory=set)  # variables set by --env (over the file's)

    def set_flag(self, api_field: str, value: Any, flag: str) -> None:
        """A flag's value (None: not given) in place of the file's."""
        if value is not None:
            self.fields[api_field] = value
            self.flags[api_field] = flag
            self.file_locs.pop(api_field, None)

    def set_env(self, env: Mapping[str, str]) -> None:
        """`--env` variables over the file's (each replaces the file's variable of that name)."""
        if env:
            self.fields["env"] = {**self.fields.get("env", {}), **env}
            self.env_flags |= set(env)

    def validate(self) -> dict[str, Any]:
        """The body as JobSubmit accepts it (strict), or an InputError naming the file line or flag of the first problem."""
        from cpnet.api.schemas import JobSubmit  # the server's own schema and bounds

        try:
            JobSubmit.model_validate(self.fields)
        except ValidationError as exc:
            raise self._problem(exc) from None
        return dict(self.fields)

    def _problem(self, exc: ValidationError) -> InputError:
        errors = exc.errors(include_url=False)
        err = errors[0]
        loc: Loc = tuple(p for p in err["loc"] if p != "[key]")
        msg = err["msg"].removeprefix("Value error, ")
        if len(errors) > 1:
            msg += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        top = str(loc[0]) if loc else ""
        if top == "env" and self.env_flags and (loc[1] in self.env_flags if len(loc) > 1 else "env" not in self.file_locs):
            return InputError("--env", f"{loc[1]}: {msg}" if len(loc) > 1 else msg)
        if top in self.flags:
            return InputError(self.flags[top], msg)
        if self.doc is not None and top in self.file_locs:
            file_loc = (*self.file_locs[top], *loc[1:])
            return InputError(self.doc.path, msg, line=self.doc.line_of(file_loc), field=format_loc(file_loc))
        return InputError("job", f"{format_loc(loc) or 'request'}: {msg}")


def refusal_of_file_field(body: JobBody, exc: CpnetError) -> CpnetError:
    """The server's refusal of a field the file gave (its 422 reads `field: problem`, cpnet.cli.client),
    as an InputError naming the file's line; any other refusal as it is."""
    text = str(exc)
    if body.doc is not None:
        for api_field, loc in body.file_locs.items():
            if text.startswith(f"{api_field}: "):
                return InputError(body.doc.path, text[len(api_field) + 2 :], line=body.doc.line_of(loc), field=format_loc(loc))
    return exc


def load_job_file(path: str) -> JobBody:
    """Read and check a job file; its fields as JobSubmit fields, with their locations."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(path, "file not found; expected a job YAML file (examples/job.yaml is one)") from None
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise InputError(path, f"cannot read file ({exc.strerror})") from None
    doc = parse_yaml(text, path)
    if doc.data is None:
        doc = YamlDocument(path, {}, doc.root)
    if not isinstance(doc.data, dict):
        raise InputError(path, f"expected a YAML mapping with fields such as {', '.join(list(JobFile.model_fields)[:4])}", line=1)
    try:
        spec = JobFile.model_validate(doc.data)
    except ValidationError as exc:
        raise _file_problem(doc, exc) from None
    body = JobBody(doc=doc)
    for name in spec.model_fields_set:
        value = getattr(spec, name)
        if value is not None:
            api = API_FIELD.get(name, name)
            body.fields[api] = value
            body.file_locs[api] = (name,)
    return body


def _file_problem(doc: YamlDocument, exc: ValidationError) -> InputError:
    return validation_error(doc, exc, lambda _loc: list(JobFile.model_fields), name_missing=False)
