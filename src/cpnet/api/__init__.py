"""The REST API: `create_app(services)` builds the FastAPI app; routers per resource."""

from cpnet.api.app import Services, create_app

__all__ = ["Services", "create_app"]
