"""NUL and other control characters in any text input are refused with a 400 problem.

The routes and their fields come from the application's own OpenAPI document, so a
route added later is covered without touching this file. Run on SQLite and PostgreSQL
(which cannot store NUL in text: before the edge check, a NUL in an address gave a 500
at /auth/prelogin and /auth/login).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from uhealthsec.server.text_input import has_forbidden_character

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Target:
    """One text input of one operation: a body field, a query or a path parameter."""

    method: str
    path: str
    content_type: str | None
    where: str  # "body", "query" or "path"
    location: Path  # the field's path in the body, or the parameter's name

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.where}:{'.'.join(map(str, self.location))}"


class _Schemas:
    def __init__(self, document: dict[str, Any]) -> None:
        self.components = document.get("components", {}).get("schemas", {})

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.components[schema["$ref"].rsplit("/", 1)[1]]
        for combined in ("anyOf", "oneOf", "allOf"):
            if combined in schema:
                variants = [v for v in schema[combined] if v.get("type") != "null"]
                return self.resolve(variants[0]) if variants else {"type": "null"}
        return schema

    def example(self, schema: dict[str, Any], depth: int = 0) -> Any:
        """A plausible value for ``schema``, every optional property included."""
        schema = self.resolve(schema)
        if "enum" in schema:
            return schema["enum"][0]
        if "const" in schema:
            return schema["const"]
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            if depth > 6:
                return {}
            properties = schema.get("properties", {})
            value = {name: self.example(s, depth + 1) for name, s in properties.items()}
            if not properties and isinstance(schema.get("additionalProperties"), dict):
                value = {"key": self.example(schema["additionalProperties"], depth + 1)}
            return value
        if kind == "array":
            return [self.example(schema.get("items", {}), depth + 1)] if depth <= 6 else []
        if kind in ("integer", "number"):
            return max(1, schema.get("minimum", 1))
        if kind == "boolean":
            return False
        if kind == "null":
            return None
        formats = {
            "uuid": str(uuid.uuid4()),
            "email": "someone@demo.test",
            "date-time": "2026-01-01T00:00:00Z",
            "date": "2026-01-01",
        }
        return formats.get(schema.get("format", ""), "x" * max(1, schema.get("minLength", 1)))


def _string_paths(value: Any, prefix: Path = ()) -> list[Path]:
    if isinstance(value, str):
        return [prefix]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _string_paths(v, (*prefix, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _string_paths(v, (*prefix, i))]
    return []


def _targets(document: dict[str, Any]) -> tuple[list[Target], dict[Target, Any]]:
    """Every text input of every operation, with a plausible body to carry it."""
    schemas = _Schemas(document)
    targets: list[Target] = []
    bodies: dict[Target, Any] = {}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] in ("query", "path"):
                    where = parameter["in"]
                    targets.append(Target(method, path, None, where, (parameter["name"],)))
            content = operation.get("requestBody", {}).get("content", {})
            for content_type in ("application/json", "application/x-www-form-urlencoded"):
                if content_type in content:
                    body = schemas.example(content[content_type]["schema"])
                    for location in _string_paths(body):
                        target = Target(method, path, content_type, "body", location)
                        targets.append(target)
                        bodies[target] = body
    return targets, bodies


def _placed(body: Any, location: Path, text: str) -> Any:
    body = json.loads(json.dumps(body))
    holder = body
    for step in location[:-1]:
        holder = holder[step]
    holder[location[-1]] = text
    return body


def _send(client, token: str, document: dict[str, Any], bodies, target: Target, text: str):
    operation = document["paths"][target.path][target.method]
    path_values = {
        p["name"]: str(uuid.uuid4()) for p in operation.get("parameters", []) if p["in"] == "path"
    }
    query: dict[str, str] = {}
    if target.where == "path":
        path_values[target.location[0]] = text
    elif target.where == "query":
        query[str(target.location[0])] = text
    url = target.path
    for name, value in path_values.items():
        url = url.replace("{" + name + "}", quote(value, safe=""))
    headers = {"Authorization": f"Bearer {token}"}
    content: bytes | None = None
    body = bodies.get(target)
    if target.where == "body":
        body = _placed(body, target.location, text)
    if body is not None and target.content_type == "application/x-www-form-urlencoded":
        return client.request(target.method.upper(), url, params=query, headers=headers, data=body)
    if body is not None:
        # Serialised here: a lone surrogate is written as its \u escape, as an attacker would.
        content = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    return client.request(
        target.method.upper(), url, params=query, headers=headers, content=content
    )


def _assert_refused(response, target: Target, text: str) -> None:
    # A "/" in a path parameter makes another path, which no route may match: 404.
    expected = {400, 404} if target.where == "path" and "/" in text else {400}
    assert response.status_code in expected, (str(target), response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "\\u0000" not in response.text and "\x00" not in response.text


@pytest.fixture
def signed_in_token(users) -> str:
    return users.signed_in("nul@demo.test").tokens.access_token


def test_nul_in_every_text_input_of_every_route_is_refused(client, signed_in_token):
    document = client.app.openapi()
    targets, bodies = _targets(document)
    assert len({(t.method, t.path) for t in targets}) >= 60
    for target in targets:
        text = "a\x00b@demo.test"
        _assert_refused(
            _send(client, signed_in_token, document, bodies, target, text), target, text
        )


_FORBIDDEN = st.characters(categories=["Cc", "Cs"], exclude_characters="\t\n\r")


def test_any_control_character_anywhere_is_refused(client, signed_in_token):
    document = client.app.openapi()
    targets, bodies = _targets(document)

    @given(
        target=st.sampled_from(targets),
        text=st.tuples(st.text(max_size=5), _FORBIDDEN, st.text(max_size=5)).map("".join),
    )
    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
    def check(target: Target, text: str) -> None:
        if target.content_type != "application/json" or target.where != "body":
            # A URL or a form carries UTF-8 only: no lone surrogate can be sent there.
            text = text.encode("utf-8", "replace").decode()
            if not has_forbidden_character(text):
                return
        response = _send(client, signed_in_token, document, bodies, target, text)
        _assert_refused(response, target, text)

    check()


def test_tab_and_line_breaks_are_text():
    assert not has_forbidden_character("ligne 1\r\nligne 2\tfin")
    assert has_forbidden_character("\x7f") and has_forbidden_character("\x85")


@pytest.mark.parametrize("path", ["/auth/prelogin", "/auth/login"])
def test_nul_in_an_address_at_sign_in_is_refused(client, path):
    """Before the edge check PostgreSQL failed on the NUL, answering 500."""
    response = client.post(path, json={"email": "camille\x00@demo.test", "auth_secret": "A" * 43})
    assert response.status_code == 400
    assert "body.email" in response.json()["detail"]
