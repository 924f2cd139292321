"""Binary values in JSON: unpadded base64url (RFC 4648 §5), strictly decoded."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_ALPHABET = re.compile(r"^[A-Za-z0-9_-]*$")


def b64u_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text: str) -> bytes:
    if not _ALPHABET.match(text) or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError("not unpadded base64url") from exc
    if b64u_encode(data) != text:  # refuse non-canonical trailing bits
        raise ValueError("not canonical base64url")
    return data


def _decode_field(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a base64url string")
    return b64u_decode(value)


def Base64Url(max_bytes: int, min_bytes: int = 0) -> object:
    """A ``bytes`` field carried as base64url text, ``min_bytes`` to ``max_bytes`` once
    decoded."""

    def check(value: object) -> bytes:
        if isinstance(value, str) and len(value) > (max_bytes * 4 + 2) // 3:
            raise ValueError(f"longer than {max_bytes} bytes")
        data = _decode_field(value)
        if len(data) > max_bytes:
            raise ValueError(f"longer than {max_bytes} bytes")
        if len(data) < min_bytes:
            raise ValueError(f"shorter than {min_bytes} bytes")
        return data

    return Annotated[
        bytes,
        BeforeValidator(check),
        PlainSerializer(b64u_encode, return_type=str),
        WithJsonSchema(
            {
                "type": "string",
                "pattern": "^[A-Za-z0-9_-]*$",
                "minLength": (min_bytes * 4 + 2) // 3,
                "maxLength": (max_bytes * 4 + 2) // 3,
                "contentEncoding": "base64url",
            }
        ),
    ]
