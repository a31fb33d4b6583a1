"""The waitress server for the app, with the errors waitress answers itself in the contract's JSON.

waitress refuses some requests before the app sees them: a body over its own cap (413, whether the
Content-Length says so up front or a chunked body grows past it), headers over its header cap
(431), a request it cannot parse (400), a Transfer-Encoding it does not implement (501). It writes
those as text/plain; here its error task renders them as ``{"error": {"code", "message"}}`` like
every other error, keeping waitress' status line and its closing of the connection afterwards.

The hook is waitress' own extension point: ``HTTPChannel.error_task_class`` is the task that
writes ``request.error.to_response()``; a channel subclass swaps in a task that wraps the error
so its ``to_response`` answers JSON. Each listener gets that channel through its
``channel_class``. The channel also holds back waitress' "100 Continue" for a request it has
already refused, so a client that waits for it (curl, for big uploads) gets the 413 at once
instead of sending the body up to the cap first. Should a waitress version lack either attribute,
the server still runs, with waitress' plain-text errors, and says so in the log.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import waitress

from serving.errors import HTTP_CODES, _too_large_message

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)

# Statuses waitress answers itself that the app never does, so serving.errors has no code for them.
WAITRESS_CODES: dict[int, str] = {431: "headers_too_large", 501: "not_implemented"}
# waitress buffers a whole body (spilling to a temp file past its inbuf_overflow) before the app
# sees it, so it needs its own cap. It sits well above the app's limit so that a body merely too
# large reaches Flask, whose 413 can tell a too-large body from a form the parser refused; only
# absurd bodies are cut off by waitress, after reading no more than this many times the limit.
BODY_CAP_FACTOR = 4


class JsonError:
    """A waitress error (``waitress.utilities.Error``) whose ``to_response`` answers JSON."""

    def __init__(self, error: Any, messages: dict[int, str]):
        self.error = error
        self.messages = messages

    def __getattr__(self, name: str) -> Any:  # code, reason, body ...: whatever waitress reads
        return getattr(self.error, name)

    def to_response(self, ident: str | None = None) -> tuple[str, list[tuple[str, str]], bytes]:
        status, headers, text = self.error.to_response(ident)
        try:
            code = int(str(status).split(" ", 1)[0])
            message = self.messages.get(code) or self._describe(code, status)
            payload = {
                "error": {"code": HTTP_CODES.get(code) or WAITRESS_CODES.get(code, f"http_{code}"), "message": message}
            }
            body = (json.dumps(payload, separators=(",", ":")) + "\n").encode()
        except Exception:  # an error page must never fail: keep waitress' own
            log.exception("could not render waitress error %r as JSON", status)
            return status, headers, text
        headers = [(k, v) for k, v in headers if k.lower() != "content-type"]
        return status, [*headers, ("Content-Type", "application/json")], body

    def _describe(self, code: int, status: str) -> str:
        if code == 500:  # waitress' body may be a traceback (expose_tracebacks): never shown
            return "internal server error; see the server log"
        reason = getattr(self.error, "reason", None) or str(status).partition(" ")[2] or "error"
        detail = getattr(self.error, "body", None)
        return f"{reason.lower()}: {detail}" if detail else reason.lower()


def json_error_channel(base: type, messages: dict[int, str]) -> type | None:
    """A subclass of the waitress channel ``base`` whose own error answers are JSON (``messages``
    overrides the message for a status), or None if ``base`` has not the expected hook."""
    base_task = getattr(base, "error_task_class", None)
    if not isinstance(base_task, type) or not callable(getattr(base_task, "execute", None)):
        return None

    class JsonErrorTask(base_task):
        def execute(self) -> None:
            error = getattr(self.request, "error", None)
            if error is not None and not isinstance(error, JsonError):
                self.request.error = JsonError(error, messages)
            super().execute()

    class JsonErrorChannel(base):
        error_task_class = JsonErrorTask

        def send_continue(self) -> None:
            # waitress would invite the body of a request it has already refused (a Content-Length
            # over the cap with "Expect: 100-continue", as curl sends for big uploads) and read it
            # up to the cap before answering; answer the refusal at once instead.
            if getattr(self.request, "error", None) is None:
                super().send_continue()

    return JsonErrorChannel


def create_server(app: Flask, host: str = "127.0.0.1", port: int = 8080, threads: int = 8):
    """A waitress server for ``app`` (not yet running) whose every error answer is JSON."""
    limit = app.config.get("MAX_CONTENT_LENGTH")
    options: dict[str, Any] = {"max_request_body_size": BODY_CAP_FACTOR * limit} if limit else {}
    listeners: dict = {}  # waitress registers each listening socket (and its trigger) here
    server = waitress.create_server(app, map=listeners, host=host, port=port, threads=threads, **options)
    adj = server.adj
    messages = {
        # The limit clients must respect is the app's, whichever cap caught the body.
        413: _too_large_message(app) or f"upload too large; the limit is {adj.max_request_body_size:,} bytes",
        431: f"request headers too large; the limit is {adj.max_request_header_size:,} bytes",
    }
    servers = [s for s in listeners.values() if isinstance(getattr(s, "channel_class", None), type)]
    installed = 0
    for srv in servers:
        channel = json_error_channel(srv.channel_class, messages)
        if channel is not None:
            srv.channel_class = channel
            installed += 1
    if not servers or installed < len(servers):
        log.warning(
            "this waitress version has no error_task_class/channel_class hook: errors waitress answers "
            "itself (413 over %s bytes, 400, 431) stay plain text",
            f"{adj.max_request_body_size:,}",
        )
    return server
