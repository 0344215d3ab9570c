"""One account's callback URL: WeChat's GET verification and POST pushes, answered in time
whatever the request holds (a refusal with its status, never a 500 or a traceback)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ..config import AccountConfig, Config
from ..core import (
    AccountKeys,
    BaseMessage,
    BodyTooLarge,
    CryptoError,
    Decoded,
    EncryptionRequired,
    ParseError,
    ProtocolError,
    ReplayError,
    SignatureError,
    WrongAddressee,
    decode,
    seal,
    verify_url,
)
from ..dispatch.observer import HandlerRuns, handler_runs
from ..dispatcher import Dispatcher, Outcome
from ..logs import FastLine, client_errors
from ..metrics import Metrics
from ..stores import NonceGuard

log = logging.getLogger("wxhook.server")
access = logging.getLogger("wxhook.access")
access_line = FastLine(access)

XML = "application/xml; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
# Built once: aiohttp would otherwise build and parse the Content-Type header per response.
_HEADERS = {XML: {"Content-Type": XML}, TEXT: {"Content-Type": TEXT}}


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """An HTTP answer: status, body and content type."""

    status: int
    body: bytes
    content_type: str = TEXT


EMPTY = HttpAnswer(200, b"")
HEALTHY = HttpAnswer(200, b"ok\n")  # /healthz: the event loop answers


def to_response(answer: HttpAnswer) -> web.Response:
    """The aiohttp response for an HttpAnswer."""
    headers = _HEADERS.get(answer.content_type) or {"Content-Type": answer.content_type}
    return web.Response(status=answer.status, body=answer.body, headers=headers)


class Watcher(Protocol):
    """Who is told of each push answered or refused (the console's live view)."""

    def answered(
        self,
        account: str,
        message: BaseMessage,
        outcome: Outcome,
        label: str,
        latency: float,
        runs: HandlerRuns,
    ) -> None:
        """A push was answered: `label` as in the access line, `runs` its handlers so far."""

    def refused(self, account: str, reason: str, status: int, error: str) -> None:
        """A request was refused with `status` for `reason`."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One account's callback URL: what it answers, independent of the HTTP layer."""

    account: AccountConfig
    keys: AccountKeys
    config: Config
    metrics: Metrics
    dispatcher: Dispatcher
    watcher: Watcher | None = None  # None: nothing is built for anyone to watch

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The aiohttp view: GET is the URL verification; POST is a push."""
        try:
            if request.method == "GET":
                return to_response(self.verify(request.query, request.path))
            return await self._handle_post(request)
        except (ConnectionError, HttpProcessingError) as exc:
            # The client went away, or broke HTTP, before its body was in: nothing was handled
            # and nobody is left to answer. The client's doing, so one gated INFO line.
            return self._aborted(exc)
        except Exception:
            log.exception("unexpected error on %s %s; answered empty", request.method, request.path)
            return to_response(EMPTY)

    def _aborted(self, exc: BaseException) -> web.Response:
        metrics = self.metrics
        metrics.child(metrics.requests, self.account.name, "", "", "aborted", "disconnect").inc()
        if client_errors.allow("aborted"):
            log.info(
                "request to %s aborted before its body was read: %s",
                self.account.path,
                str(exc) or type(exc).__name__,
            )
        return to_response(HttpAnswer(400, b"incomplete request\n"))

    async def _handle_post(self, request: web.Request) -> web.StreamResponse:
        arrived, arrived_wall = time.monotonic(), time.time()
        limit = self.config.server.max_body_bytes
        try:
            if request.content_length is not None and request.content_length > limit:
                raise BodyTooLarge(f"body of {request.content_length} bytes over {limit}")
            try:
                if request.content.is_eof():  # all here already (a push fits in one packet)
                    body = await request.read()
                else:
                    async with asyncio.timeout(self.config.server.read_timeout):
                        body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                raise BodyTooLarge(f"body over server.max_body_bytes={limit}") from None
            except TimeoutError:
                raise self.read_timed_out() from None
        except ProtocolError as exc:
            return to_response(self.reject(exc))
        return to_response(await self.push(request.query, body, arrived, arrived_wall))

    def read_timed_out(self) -> ProtocolError:
        """The error for a body that did not arrive within server.read_timeout (408)."""
        return ProtocolError(
            f"body not received within server.read_timeout={self.config.server.read_timeout:g}s",
            hint="a slow or stalled client",
            status=408,
        )

    def verify(self, query: Mapping[str, str], path: str) -> HttpAnswer:
        """GET: WeChat's URL verification, the echostr back if the signature holds; never
        raises (an unexpected error is logged and answered empty)."""
        try:
            return self._verify(query, path)
        except Exception:
            log.exception("unexpected error on GET %s; answered empty", path)
            return EMPTY

    def _verify(self, query: Mapping[str, str], path: str) -> HttpAnswer:
        metrics = self.metrics
        try:
            echostr = verify_url(self.keys, query, now=time.time())
        except SignatureError as exc:
            metrics.child(
                metrics.requests, self.account.name, "", "", "rejected", "signature"
            ).inc()
            if client_errors.allow("rejected:verify"):
                log.warning("GET %s refused: %s", path, exc)
            return HttpAnswer(exc.status, b"invalid signature")
        metrics.child(metrics.requests, self.account.name, "verify", "", "replied", "").inc()
        log.info("URL verification for account %s answered", self.account.name)
        return HttpAnswer(200, echostr.encode(), "text/plain")

    async def push(
        self, query: Mapping[str, str], body: bytes, arrived: float, arrived_wall: float
    ) -> HttpAnswer:
        """POST: one push, its body read. Whatever goes wrong, WeChat gets an answer that
        neither retries nor shows an error (never a 500)."""
        try:
            return await self._push(query, body, arrived, arrived_wall)
        except Exception:
            log.exception("unexpected error on a push to %s; answered empty", self.account.path)
            return EMPTY

    async def _push(
        self, query: Mapping[str, str], body: bytes, arrived: float, arrived_wall: float
    ) -> HttpAnswer:
        metrics, config = self.metrics, self.config
        name = self.account.name
        try:
            decoded = decode(
                self.keys,
                query,
                body,
                max_bytes=config.server.max_body_bytes,
                now=arrived_wall,
                max_skew=config.security.timestamp_tolerance,
            )
        except ProtocolError as exc:
            return self.reject(exc)

        message = decoded.message
        msg_type, event = metrics.observe_type(message)
        runs = None
        if self.watcher is not None:
            runs = HandlerRuns()
            handler_runs.set(runs)  # this request's task and the handler tasks it starts
        try:
            outcome = await self.dispatcher.dispatch(
                name,
                message,
                arrived=arrived,
                arrived_wall=arrived_wall,
                guard=None if decoded.encrypted else self._guard(decoded, body, config),
                keep_until=self._keep_until(decoded, config),
            )
        except ReplayError as exc:
            return self.reject(exc)
        try:
            payload = seal(self.keys, outcome.reply, decoded, now=int(time.time()))
        except CryptoError as exc:
            log.error("encrypting the reply failed, answering empty: %s", exc)
            payload = b""
        latency = time.monotonic() - arrived
        label = outcome.kind if outcome.kind in ("duplicate", "shed") or payload else "empty"
        metrics.child(metrics.requests, name, msg_type, event, label, "").inc()
        metrics.child(metrics.request_seconds, name).observe(latency)
        access_line.info(
            "callback",
            {
                "account": name,
                "type": message.type,
                "event": event,
                "dedup_key": outcome.dedup_key,
                "outcome": label,
                "handlers": outcome.handlers,
                "latency_ms": round(latency * 1000, 1),
            },
        )
        if runs is not None and self.watcher is not None:
            self.watcher.answered(name, message, outcome, label, latency, runs)
        if not payload:
            return EMPTY
        return HttpAnswer(200, payload, XML)

    def _guard(self, decoded: Decoded, body: bytes, config: Config) -> NonceGuard:
        # Plain mode's signature leaves the body uncovered: remember which body each signed URL
        # came with, for as long as its timestamp is accepted; another body is counted (or
        # refused with security.refuse_url_reuse: genuine pushes can share a URL).
        url = f"{self.account.name}|{decoded.timestamp}|{decoded.nonce}"
        return NonceGuard(
            key=hashlib.blake2b(url.encode(), digest_size=16).hexdigest(),
            digest=hashlib.blake2b(body, digest_size=16).hexdigest(),
            ttl=math.ceil(2 * config.security.timestamp_tolerance) or 600,
            refuse=config.security.refuse_url_reuse,
        )

    @staticmethod
    def _keep_until(decoded: Decoded, config: Config) -> float | None:
        # Until then a replay of this request passes the timestamp check: dedup must remember it.
        tolerance = config.security.timestamp_tolerance
        try:
            return int(decoded.timestamp) + tolerance if tolerance else None
        except ValueError:
            return None

    def reject(self, exc: ProtocolError) -> HttpAnswer:
        """The answer to a refused request; the reason goes to the log and the metrics."""
        metrics = self.metrics
        if isinstance(exc, ReplayError):
            reason = "replay"
        elif isinstance(exc, EncryptionRequired):
            reason = "unencrypted"
        elif isinstance(exc, WrongAddressee):
            reason = "addressee"
        elif isinstance(exc, SignatureError):
            reason = "signature"
        elif isinstance(exc, CryptoError):
            reason = "crypto"
            metrics.crypto_failures.labels(str(int(exc.code))).inc()
        elif isinstance(exc, BodyTooLarge):
            reason = "too_large"
        elif isinstance(exc, ParseError):
            reason = "malformed"
        elif exc.status == 408:
            reason = "timeout"
        else:
            reason = "bad_request"
        metrics.child(metrics.requests, self.account.name, "", "", "rejected", reason).inc()
        # The reason goes to the log with its hint; the client gets a short line, no traceback.
        # Anyone can send refused requests by the thousand: the log line is gated, not the count.
        if client_errors.allow(f"rejected:{reason}"):
            self._log_rejected(exc, reason)
        if self.watcher is not None:
            self.watcher.refused(self.account.name, reason, exc.status, str(exc))
        return HttpAnswer(exc.status, f"{reason}\n".encode())

    def _log_rejected(self, exc: ProtocolError, reason: str) -> None:
        access.warning(
            "rejected",
            extra={
                "fields": {
                    "account": self.account.name,
                    "outcome": "rejected",
                    "reason": reason,
                    "status": exc.status,
                    "error": str(exc),
                }
            },
        )
