"""uvicorn's httptools protocol plus the transport limits uvicorn does not offer.

uvicorn 0.54 with httptools has no cap on header size or count (httptools grows a partial header by
bytes concatenation: a 64 MiB header cost 8 s of event loop) and no deadline for a client that sends
its request slowly (only the idle time between requests is bounded, by `timeout_keep_alive`). This
subclass adds, from `cpnet.api.limits.Limits`:

- header bytes (request line and header lines, counted as they arrive, before the parser sees them)
  and header fields: past either, 431 and the connection is closed;
- a deadline for the headers (from the connection's start, or a request's first byte, to the end of
  its headers) and one for the body (end of headers to end of body): past it, 408 where no answer
  was started yet, and the connection is closed (an application waiting for the body then reads
  `http.disconnect`). Deadlines are timestamps checked by one sweep per server every 0.5 s, so a
  request costs two `loop.time()` reads and no timer;
- SIGTERM: a connection whose body is still arriving is answered 503 and closed at once (uvicorn
  would wait for that client, forever without `timeout_graceful_shutdown`).

Everything else is uvicorn's own code path.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from cpnet.api.limits import Limits

SWEEP_S = 0.5


class _Refused(Exception):
    """Raised in a parser callback to stop parsing; `_refusal` says how to answer."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    limits: ClassVar[Limits] = Limits()  # `protocol_class()` binds the server's

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head = True  # reading a request line and headers, or waiting for a request's first byte
        self._head_bytes = 0  # bytes received in this head so far
        self._fields = 0
        self._heads = 0  # requests whose headers ended (tells whether a split feed ended a head)
        self._in_message = False  # a request's first byte has arrived and its end has not
        self._deadline = 0.0  # loop.time() by which the current phase must end; 0.0: none
        self._refusal = 0

    # -- connection ------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline = self.loop.time() + self.limits.header_timeout_s
        _ensure_sweep(self.loop, self.server_state)

    def connection_lost(self, exc: Exception | None) -> None:
        self._deadline = 0.0
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        while self._head:  # count head bytes before the parser sees them
            room = self.limits.max_header_bytes - self._head_bytes
            if len(data) <= room:
                self._head_bytes += len(data)
                break
            heads = self._heads
            if not self._feed(data[:room]):
                return
            if self._heads == heads:
                self._answer(431, f"request headers over {self.limits.max_header_bytes} bytes")
                return
            data = data[room:]
        self._feed(data)

    def _feed(self, data: bytes) -> bool:
        """uvicorn's `data_received` body; False when the connection was answered and closed."""
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return False
        except httptools.HttpParserError:
            if self._refusal:
                self._answer(self._refusal, f"more than {self.limits.max_header_fields} header fields")
            else:
                msg = "Invalid HTTP request received."
                self.logger.warning(msg)
                self.send_400_response(msg)
            return False
        return True

    # -- parser callbacks ------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_message = True
        self._fields = 0
        if not self._deadline:  # a connection's first request keeps the deadline set at connect
            self._deadline = self.loop.time() + self.limits.header_timeout_s

    def on_header(self, name: bytes, value: bytes) -> None:
        # uvicorn's on_header, inlined (it is called per header line), plus the count.
        self._fields += 1
        if self._fields > self.limits.max_header_fields:
            self._refusal = 431
            raise _Refused
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._head = False
        self._heads += 1
        self._deadline = self.loop.time() + self.limits.body_timeout_s
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._head = True
        self._head_bytes = 0
        self._in_message = False
        self._deadline = 0.0  # the application's turn; then uvicorn's keep-alive timeout
        super().on_message_complete()

    # -- deadlines and shutdown ------------------------------------------------------------------
    def expire(self) -> None:
        """The current phase ran past its deadline: answer 408 if possible, close."""
        self._deadline = 0.0
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if self._head:
            if not self._in_message:  # idle, nothing of a request received: just close
                self.transport.close()
                return
            can_answer = cycle is None or cycle.response_complete
            what = f"request headers not received within {self.limits.header_timeout_s:g} s"
        else:
            can_answer = cycle is not None and not cycle.response_started
            what = f"request body not received within {self.limits.body_timeout_s:g} s"
            self._abandon()
        if can_answer:
            self._answer(408, what)
        else:
            self.transport.close()

    def shutdown(self) -> None:
        cycle = self.cycle
        if cycle is not None and not self._head and not cycle.response_complete:
            # The body is still arriving: waiting for this client could take until its deadline.
            started = cycle.response_started
            self._abandon()
            if not started:
                self._answer(503, "the server is shutting down")
            else:
                self.transport.close()
            return
        super().shutdown()

    def _abandon(self) -> None:
        """The application stops receiving body (it reads `http.disconnect`) and sending."""
        cycle = self.cycle
        if cycle is not None:
            cycle.disconnected = True
            cycle.message_event.set()

    def _answer(self, status: int, msg: str) -> None:
        self._deadline = 0.0
        cycle = self.cycle
        if self.pipeline or (cycle is not None and cycle.response_started and not cycle.response_complete):
            self.transport.close()  # an answer is being (or is still to be) written: do not interleave another
            return
        self.logger.info("%s: %d %s", self.client, status, msg)
        body = msg.encode()
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.append(b"content-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body))
        content.append(body)
        self.transport.write(b"".join(content))
        self.transport.close()


def _ensure_sweep(loop: asyncio.AbstractEventLoop, state: Any) -> None:
    """One periodic check of every connection's deadline per server (uvicorn's ServerState)."""
    if getattr(state, "_cpnet_sweep", False):
        return
    state._cpnet_sweep = True

    def sweep() -> None:
        now = loop.time()
        for conn in list(state.connections):
            deadline = getattr(conn, "_deadline", 0.0)
            if deadline and now >= deadline:
                conn.expire()
        loop.call_later(SWEEP_S, sweep)

    loop.call_later(SWEEP_S, sweep)


def protocol_class(limits: Limits) -> type[LimitedHttpToolsProtocol]:
    """The protocol class for uvicorn's `http=`, bound to `limits`."""
    return type("LimitedHttpToolsProtocol", (LimitedHttpToolsProtocol,), {"limits": limits})
