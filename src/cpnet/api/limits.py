"""Every limit the API enforces, in one place (`cpnet serve` options set them).

Transport (per connection, `cpnet.api.http_protocol`): header size and count, the time a client may
take to send its headers and its body, idle keep-alive, and how long a SIGTERM waits for requests in
flight. Requests (`cpnet.api.app.ControlPlaneApp`): body size caps, checked after the token and
before the body is read. Tenants (`cpnet.api.ratelimit`, `cpnet.api.batcher`): submissions per
second (token bucket) and jobs queued (pending + scheduled + running). Reads: the byte budget of one
page of a list. Tokens: how long a worker may trust a token it looked up (revocation delay).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

LIMITS_ENV = "CPNET_API_LIMITS"  # the leader hands its limits to its API workers through this


@dataclass(frozen=True)
class Limits:
    # transport
    max_header_bytes: int = 64 << 10  # request line + header lines; past it: 431
    max_header_fields: int = 100  # past it: 431
    header_timeout_s: float = 10.0  # first byte of a request (or the connection) -> end of its headers; then 408
    body_timeout_s: float = 30.0  # end of headers -> end of body; then 408 (or a close)
    keepalive_timeout_s: float = 5.0  # idle between requests
    shutdown_grace_s: float = 10.0  # SIGTERM: requests in flight get this long; bodies still arriving get a 503 at once
    # request bodies
    max_submit_body_bytes: int = 8 << 20  # POST /v1/jobs and /v1/jobs:batch (the largest valid JobSubmit, JSON-escaped, fits)
    max_body_bytes: int = 1 << 20  # every other route
    # tenants (0 turns a limit off)
    submit_rate_per_s: float = 100.0
    submit_burst: int = 200
    max_queued_jobs: int = 10_000
    queue_full_retry_s: int = 5  # Retry-After of a 429 for a full queue
    # reads
    list_page_bytes: int = 1 << 20  # a list page stops at about this much JSON (at least one row)
    # tokens
    token_cache_s: float = 0.5  # a revoked token is refused by every worker within this (+ one DB read)
    # layout, set by the server: API processes that share the database (the queued-job check allows for the others)
    api_processes: int = 1

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Limits:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in json.loads(text).items() if k in known})
