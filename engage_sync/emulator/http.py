"""Requests, errors and small HTTP helpers shared by the emulator's endpoints."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs

import httpx


class DropConnection(httpx.RemoteProtocolError):
    """Raised in-process (no socket) when a fault asks to drop the connection."""


class HttpError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        text: str | None = None,
        retry_after: float | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.text = status, code, message, text
        self.retry_after = retry_after
        self.body = body  # a JSON answer in place of the usual error body


def too_many(what: str, wait: float) -> HttpError:
    """A 429 with Retry-After: not documented for Engage (clients must cope without), sent here
    so that separate runs close together wait as long as the window needs."""
    return HttpError(429, "TOO_MANY_REQUESTS", f"Rate limit exceeded for {what}", retry_after=wait)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError as e:
            raise HttpError(400, "BAD_REQUEST", f"request body is not JSON: {e}") from e

    def form(self) -> dict[str, str]:
        values = dict(self.query)
        if self.body and "json" not in self.headers.get("content-type", ""):
            values.update(
                {k: v[0] for k, v in parse_qs(self.body.decode("utf-8", "replace")).items()}
            )
        return values


def echo(req: Request) -> HttpError:
    """A 500 that copies the request into its answer, as a careless server or proxy may: its
    credential first, then its body (lists, the leads, first; JSON-escaped, as a server that
    quotes JSON would), then every header. What a client keeps of it must hold none of them."""
    text = req.body.decode("utf-8", "replace")
    try:
        parsed: Any = json.loads(text) if text else None
    except ValueError:
        parsed = text
    if isinstance(parsed, dict):
        parsed = dict(sorted(parsed.items(), key=lambda item: not isinstance(item[1], list)))
    credential = req.headers.get("authorization") or req.headers.get("x-auth-token") or ""
    copy = f"{credential} {json.dumps(parsed)} failed: {req.method} {req.path} {req.headers}"
    return HttpError(
        500,
        copy,
        copy,
        body={
            "errorCode": copy,
            "generalMessage": copy,
            "details": copy,
            "message": copy,
            "request": {"headers": req.headers, "body": text},
            "requestUri": req.path,
            "timestamp": now(),
        },
    )


ADMIN = "/_emulator"  # the inspection and fault controls: not part of the Engage API


def is_admin(path: str) -> bool:
    return path.startswith(ADMIN)


def paging(req: Request, default_rows: int) -> tuple[int, int]:
    try:
        page = int(req.query.get("page", 0))
        rows = int(req.query.get("maxRows", default_rows))
    except ValueError as e:
        raise HttpError(400, "BAD_REQUEST", "page and maxRows must be whole numbers") from e
    if page < 0 or rows < 1:
        raise HttpError(400, "BAD_REQUEST", "page must be >= 0 and maxRows >= 1")
    return page, rows


def page_of(req: Request, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if "page" not in req.query and "maxRows" not in req.query:
        return items
    page, rows = paging(req, default_rows=len(items) or 1)
    return items[page * rows : (page + 1) * rows]


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    415: "Unsupported Media Type",
    421: "Misdirected Request",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
