"""The REST API: `create_app(services)` builds the FastAPI app; routers per resource.

`Services` and `create_app` are imported on first use, so that importing a light module of this
package (e.g. `cpnet.api.limits`, for the CLI's option defaults) does not import FastAPI."""

from typing import Any

__all__ = ["Services", "create_app"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from cpnet.api import app

        return getattr(app, name)
    raise AttributeError(f"module 'cpnet.api' has no attribute '{name}'")
