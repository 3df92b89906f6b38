"""HTTP client of the control plane, shared by the `job`, `site` and `usage` commands.

Server URL and token: flags, else $CPNET_URL / $CPNET_TOKEN, else the config file
($CPNET_CONFIG, default ~/.config/cpnet/config.yaml, keys `url` and `token`), else
http://127.0.0.1:8080 and no token. Every failure becomes a CpnetError: one line, exit 2.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from cpnet.core.errors import CpnetError, InputError

if TYPE_CHECKING:
    import httpx

DEFAULT_URL = "http://127.0.0.1:8080"


def config_path() -> Path:
    return Path(os.environ.get("CPNET_CONFIG") or Path.home() / ".config" / "cpnet" / "config.yaml")


def resolve(url: str | None, token: str | None) -> tuple[str, str | None]:
    file: dict[str, Any] = {}
    path = config_path()
    if path.exists():
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise InputError(str(path), f"not valid YAML ({exc.__class__.__name__}); expected keys url and token") from exc
        if not isinstance(loaded, dict):
            raise InputError(str(path), "expected a mapping with keys url and token")
        file = loaded
    url = url or os.environ.get("CPNET_URL") or file.get("url") or DEFAULT_URL
    token = token or os.environ.get("CPNET_TOKEN") or file.get("token")
    return str(url).rstrip("/"), token


_TOKEN_HELP = (
    "pass --token or set CPNET_TOKEN; an operator makes one with `cpnet admin create-tenant NAME` "
    "(a new tenant) or `cpnet admin create-token NAME` on the server's database"
)


def _field_problem(e: dict[str, Any]) -> str:
    """One validation error as `field: what is wrong`, in the user's words (not pydantic's)."""
    loc = [str(x) for x in e.get("loc", ()) if x not in ("body", "query", "path") and not isinstance(x, int)]
    msg = str(e.get("msg", "invalid"))
    prefix = "Input should be "
    if msg.startswith(prefix):
        choices = msg[len(prefix) :].split("'")[1::2]  # the quoted names
        msg = "must be one of " + ", ".join(choices) if len(choices) > 1 else "must be " + msg[len(prefix) :]
    return f"{'.'.join(loc) or 'request'}: {msg}"


def user_message(r: httpx.Response, url: str) -> str:
    """The server's refusal as one line a user can act on."""
    try:
        body = r.json()
    except ValueError:
        body = {}
    msg = str(body.get("error") or r.text.strip() or r.reason_phrase) if isinstance(body, dict) else r.text.strip()
    if r.status_code == 401:
        return f"not signed in to {url}: {msg}; {_TOKEN_HELP}"
    if r.status_code == 403:
        return f"not allowed: {msg}"
    if r.status_code == 422 and isinstance(body, dict) and isinstance(body.get("detail"), list):
        return "; ".join(_field_problem(e) for e in body["detail"] if isinstance(e, dict)) or msg
    if r.status_code >= 500:
        return f"the cpnet server at {url} failed ({r.status_code}): {msg}"
    return msg


class Client:
    def __init__(self, url: str | None = None, token: str | None = None, timeout_s: float = 30.0) -> None:
        self.url, self.token = resolve(url, token)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        import httpx  # here: commands that never call a server (catalog, simulate, --help) start without it

        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s)

    def request(self, method: str, path: str, *, retries: int = 0, **kw: Any) -> httpx.Response:
        import httpx

        for attempt in range(retries + 1):
            try:
                r = self._http.request(method, path, **kw)
                break
            except httpx.TransportError as exc:
                if attempt == retries:
                    why = str(exc).split("] ")[-1] or exc.__class__.__name__
                    raise CpnetError(f"cannot reach the cpnet server at {self.url}: {why}") from exc
                time.sleep(0.5 * (attempt + 1))
        if r.status_code >= 400:
            raise CpnetError(user_message(r, self.url))
        return r

    def json(self, method: str, path: str, **kw: Any) -> Any:
        return self.request(method, path, **kw).json()
