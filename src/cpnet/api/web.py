"""The web dashboard: `/` answers the single page, `/ui/...` its files from the package (no CDN).

The files hold no data and need no token; the page asks the API with the token the user pastes,
kept in the browser's sessionStorage, so a tenant's page shows what that tenant's token may read."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

import cpnet.web

STATIC = Path(cpnet.web.__file__).resolve().parent / "static"


def install(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/ui", StaticFiles(directory=STATIC), name="ui")
