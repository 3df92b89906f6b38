"""Durable state of the control plane (SQLAlchemy Core; SQLite by default, PostgreSQL alike)."""

from cpnet.control.store.store import JobRecord, Principal, SiteRecord, Store

__all__ = ["JobRecord", "Principal", "SiteRecord", "Store"]
