"""Text input is checked once, at the edge, for characters no field may hold.

Every route depends on ``refuse_control_characters`` (installed on the application),
which reads the path, the query string and the body the route parsed (JSON or form)
and refuses, with a 400 problem, any string (or JSON key) holding a control character
other than tab, line feed and carriage return, or a lone surrogate. PostgreSQL cannot
store NUL in text and no surrogate is valid UTF-8, so such a value would otherwise
fail deep in the database as a 500 after part of the work was done; and nothing in
this API is meant to carry them.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator

from fastapi import Request
from fastapi.routing import APIRoute

from uhealthsec.server.errors import InvalidInput

#: Allowed although they are control characters: free text may hold them.
_ALLOWED_CONTROLS = frozenset("\t\n\r")
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs"})


def has_forbidden_character(text: str) -> bool:
    """True when ``text`` holds a control character (C0, DEL, C1) other than tab, line
    feed and carriage return, or a lone surrogate."""
    return any(
        unicodedata.category(c) in _FORBIDDEN_CATEGORIES and c not in _ALLOWED_CONTROLS
        for c in text
    )


def _strings(value: object, where: str) -> Iterator[tuple[str, str]]:
    """Every string in a parsed JSON document (keys included), with where it is."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield where, key
            yield from _strings(item, f"{where}.{key}" if isinstance(key, str) else where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{where}[{index}]")


async def _body_strings(request: Request) -> Iterator[tuple[str, str]]:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or route.body_field is None:
        # The route reads no parsed body (none, or a stream such as an upload).
        return iter(())
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form()  # already parsed, and cached, by the route
        fields = form.multi_items()
        return iter(
            [(f"body.{k}", k) for k, _ in fields]
            + [(f"body.{k}", v) for k, v in fields if isinstance(v, str)]
        )
    body = await request.body()  # already read, and cached, by the route
    try:
        parsed = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        return iter(())  # the route's own validation answers 422
    return _strings(parsed, "body")


async def refuse_control_characters(request: Request) -> None:
    """Application-wide dependency: 400 for a forbidden character in any text input."""
    found = [("path", request.scope.get("path", ""))]
    found += [(f"query.{k}", k) for k in request.query_params]
    found += [(f"query.{k}", v) for k, v in request.query_params.multi_items()]
    for where, text in [*found, *await _body_strings(request)]:
        if has_forbidden_character(text):
            # Say where, never echo the value.
            raise InvalidInput(
                f"{where} holds a control character or an invalid code point; "
                "text input may hold tab, line feed and carriage return only"
            )
