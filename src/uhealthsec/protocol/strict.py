"""The base of request bodies: a field the receiver does not know is refused, not
silently dropped (a misspelt optional field would otherwise pass unseen)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
