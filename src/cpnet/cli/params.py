"""`--policy-param` parsing shared by `cpnet serve` and `cpnet simulate`.

A value is read as YAML (`yaml.safe_load`), so `round_s=60` is the int 60, `second_phase=false`
the bool False, `x=null` None and anything else a string.
"""

from __future__ import annotations

from collections.abc import Sequence

from cpnet.core.errors import InputError

OPTION = "--policy-param"


def parse_value(text: str) -> object:
    """One parameter value, as YAML reads it."""
    import yaml

    return yaml.safe_load(text)


def parse_params(pairs: Sequence[str]) -> dict[str, object]:
    """`KEY=VALUE` pairs -> {KEY: value}; a later pair for the same KEY wins."""
    out: dict[str, object] = {}
    for p in pairs:
        k, sep, v = p.partition("=")
        if not sep or not k:
            raise InputError(OPTION, f"'{p}' is not KEY=VALUE")
        out[k] = parse_value(v)
    return out


def parse_policy_params(pairs: Sequence[str], policies: Sequence[str]) -> dict[str, dict[str, object]]:
    """`NAME=VALUE` (for every policy) or `POLICY:NAME=VALUE` (for one) -> {policy: {NAME: value}}.

    Pairs apply in the order given, so a targeted pair after a general one overrides it for that
    policy. A POLICY that is not in `policies` is an error.
    """
    out: dict[str, dict[str, object]] = {name: {} for name in policies}
    for p in pairs:
        key, sep, v = p.partition("=")
        target, colon, name = key.rpartition(":")
        if not sep or not name or (colon and not target):
            raise InputError(OPTION, f"'{p}' is not NAME=VALUE or POLICY:NAME=VALUE")
        value = parse_value(v)
        if not colon:
            for params in out.values():
                params[name] = value
        elif target in out:
            out[target][name] = value
        else:
            raise InputError(OPTION, f"'{p}' names policy '{target}', which is not a --policy here ({', '.join(policies)})")
    return out
