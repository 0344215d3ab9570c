"""Logging setup: one line per callback, as text or JSON; no secrets or bodies above debug."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable
from typing import Any

from .config import LogConfig

_PLAIN = re.compile(r"[^\s\"'=\x00-\x1f\x7f]*")


class TextFormatter(logging.Formatter):
    """`time level logger message key=value ...`."""

    # Rendered `key=value` pairs of short values, which repeat from line to line (accounts,
    # types, events, outcomes, counts); unique values such as dedup keys are longer.
    MEMO_SIZE, MEMO_VALUE = 1024, 32

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")
        # (second, its strftime text, millisecond, the whole stamp), replaced as one tuple so
        # that a line formatted in another thread never reads half of an update.
        self._cached: tuple[int, str, int, str] = (-1, "", -1, "")
        self._pairs: dict[tuple[str, str | int], str] = {}

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return self.stamp(record.created)

    def stamp(self, created: float) -> str:
        """The time as logging writes it, strftime'd once a second and formatted once a
        millisecond, not once a line."""
        second = int(created)
        millis = int((created - second) * 1000)
        cached_second, seconds, cached_millis, stamp = self._cached
        if second == cached_second:
            if millis == cached_millis:
                return stamp
        else:
            seconds = time.strftime("%Y-%m-%d %H:%M:%S", self.converter(created))
        stamp = f"{seconds},{millis:03d}"
        self._cached = (second, seconds, millis, stamp)
        return stamp

    def line(self, name: str, levelname: str, msg: str, fields: dict[str, Any]) -> str:
        """The line format() writes for a record without exception, built without one."""
        parts = [self.stamp(time.time()), levelname, name, msg]
        pairs = self._pairs
        for k, v in fields.items():
            kind = type(v)
            if kind is str or kind is int:
                part = pairs.get((k, v))
                if part is None:
                    part = f"{k}={_value(v)}"
                    if len(pairs) < self.MEMO_SIZE and (kind is int or len(v) <= self.MEMO_VALUE):
                        pairs[k, v] = part
            else:
                part = f"{k}={_value(v)}"
            parts.append(part)
        return " ".join(parts)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields: dict[str, Any] | None = getattr(record, "fields", None)
        if fields:
            line += " " + " ".join(f"{k}={_value(v)}" for k, v in fields.items())
        return line


def _value(value: Any) -> str:
    # Quote anything with spaces, quotes or control characters: one record stays one line.
    kind = type(value)
    if kind is int or kind is float:
        return str(value)
    text = value if kind is str else str(value)
    # Printable text holds no whitespace but " " and no control character: what _PLAIN allows,
    # found without the regular expression for nearly every value.
    if text.isprintable() and not (" " in text or '"' in text or "'" in text or "=" in text):
        return text
    if _PLAIN.fullmatch(text):
        return text
    return json.dumps(text, ensure_ascii=False)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the callback's fields at the top level."""

    def format(self, record: logging.LogRecord) -> str:
        out = self._object(record.created, record.levelname, record.name, record.getMessage())
        out.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)

    @staticmethod
    def _object(created: float, levelname: str, name: str, msg: str) -> dict[str, Any]:
        return {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
            + f".{int((created - int(created)) * 1000):03d}Z",
            "level": levelname,
            "logger": name,
            "msg": msg,
        }

    def line(self, name: str, levelname: str, msg: str, fields: dict[str, Any]) -> str:
        """The line format() writes for a record without exception, built without one."""
        out = self._object(time.time(), levelname, name, msg)
        out.update(fields)
        return json.dumps(out, ensure_ascii=False, default=str)


class BatchingHandler(logging.Handler):
    """Writes lines to a file descriptor in batches: at most every `interval` seconds (see
    `flush_soon`), at once for warnings and errors, and whenever a batch is large.

    One write system call per batch instead of one per line; each write stays under PIPE_BUF
    and ends on a line, so the lines of several worker processes never interleave mid-line.
    """

    CHUNK = 4096

    def __init__(self, fd: int = 2, interval: float = 0.25) -> None:
        super().__init__()
        self.fd = fd
        self.interval = interval
        self._lines: list[bytes] = []
        self._size = 0
        self._last = time.monotonic()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self.add(line, record.levelno)

    def add(self, line: str, levelno: int) -> None:
        """Queue one formatted line (emit, or FastLine without a LogRecord)."""
        data = (line + "\n").encode("utf-8", "replace")
        self.acquire()
        try:
            self._lines.append(data)
            self._size += len(data)
            due = time.monotonic() - self._last >= self.interval
            if levelno >= logging.WARNING or self._size >= self.CHUNK or due:
                self._write()
        finally:
            self.release()

    def flush(self) -> None:
        self.acquire()
        try:
            self._write()
        finally:
            self.release()

    def _write(self) -> None:
        self._last = time.monotonic()
        chunk: list[bytes] = []
        size = 0
        for line in self._lines:
            if chunk and size + len(line) > self.CHUNK:
                self._out(b"".join(chunk))
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)
        if chunk:
            self._out(b"".join(chunk))
        self._lines.clear()
        self._size = 0

    def _out(self, data: bytes) -> None:
        try:
            while data:
                data = data[os.write(self.fd, data) :]
        except OSError:
            pass  # nowhere to log to; never break a request over it


class FastLine:
    """The per-callback INFO line at a fraction of logging's cost (no LogRecord, no caller
    lookup), written exactly as logging would write it, when logging is wxhook's own set-up
    (setup_logging: one BatchingHandler on the root logger, no filters, the logger without
    handlers of its own). Otherwise, e.g. under pytest's caplog, it goes through logging."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self._root = logging.getLogger()

    def info(self, msg: str, fields: dict[str, Any]) -> None:
        logger = self.logger
        if not logger.isEnabledFor(logging.INFO):
            return
        root = self._root
        handlers = root.handlers
        if (
            len(handlers) == 1
            and type(handler := handlers[0]) is BatchingHandler
            and not handler.filters
            and handler.level <= logging.INFO
            and isinstance(formatter := handler.formatter, (TextFormatter, JsonFormatter))
            and not root.filters
            and self._plain_path()
        ):
            level = logging.getLevelName(logging.INFO)  # as logging names it, renamed or not
            handler.add(formatter.line(logger.name, level, msg, fields), logging.INFO)
            return
        logger.info(msg, extra={"fields": fields})

    def _plain_path(self) -> bool:
        # Between the logger and the root: no handlers, no filters, propagation on.
        node: logging.Logger | None = self.logger
        while node is not None and node is not self._root:
            if node.handlers or node.filters or not node.propagate:
                return False
            node = node.parent
        return True


class FloodGate:
    """At most `burst` lines of one kind at once, refilled at `rate` a second; what is held
    back is counted and said in one summary line per kind at most every `summary_every`
    seconds. Anyone on the internet can send bad requests by the thousand: the metrics count
    every one, the log says enough to act on without paging the operator for each."""

    MAX_KINDS = 256  # kinds come from wxhook's own reasons and exception classes: a few dozen

    def __init__(
        self,
        logger: logging.Logger,
        *,
        rate: float = 2.0,
        burst: int = 5,
        summary_every: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.rate = rate
        self.burst = burst
        self.summary_every = summary_every
        self._clock = clock
        self._tokens: dict[str, tuple[float, float]] = {}  # kind -> (tokens, when counted)
        self._held: dict[str, int] = {}
        self._last_summary = clock()

    def allow(self, kind: str) -> bool:
        """True if a line of this kind may be written now; False counts it as held back."""
        now = self._clock()
        found = self._tokens.get(kind)
        if found is None:
            if len(self._tokens) >= self.MAX_KINDS:
                kind = "other"
                found = self._tokens.get(kind)
            tokens = float(self.burst) if found is None else found[0]
            last = now if found is None else found[1]
        else:
            tokens, last = found
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._tokens[kind] = (tokens - 1.0, now)
            return True
        self._tokens[kind] = (tokens, now)
        self._held[kind] = self._held.get(kind, 0) + 1
        return False

    def summarise(self, *, force: bool = False) -> None:
        """One WARNING line per kind with lines held back since the last summary, when
        `summary_every` seconds have passed (or `force`)."""
        now = self._clock()
        if not self._held or (not force and now - self._last_summary < self.summary_every):
            return
        seconds = now - self._last_summary
        self._last_summary = now
        held, self._held = self._held, {}
        for kind, count in sorted(held.items()):
            self.logger.warning(
                "suppressed %d log lines of kind %s in the last %.0fs (metrics count them all)",
                count,
                kind,
                seconds,
            )


# Lines a client can cause (refused requests, malformed HTTP, disconnects), one gate per process.
client_errors = FloodGate(logging.getLogger("wxhook.flood"))


def flush_logs() -> None:
    """Write what the root logger's handlers hold (a periodic task calls this)."""
    for handler in logging.getLogger().handlers:
        handler.flush()


def setup_logging(config: LogConfig) -> None:
    """Configure the root logger once, from [log]."""
    handler = BatchingHandler(sys.stderr.fileno())
    handler.setFormatter(JsonFormatter() if config.format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(config.level.upper())
    # aiohttp's access log repeats our per-callback line with the full query (signatures).
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
