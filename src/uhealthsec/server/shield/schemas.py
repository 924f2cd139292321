"""API models of the shield."""

from __future__ import annotations

from pydantic import BaseModel


class ChallengeOut(BaseModel):
    """An ALTCHA (v1) challenge: find ``number`` <= ``maxnumber`` such that
    SHA-256(``salt`` || number) is ``challenge``, then send the payload in the
    ``UHS-Proof-Of-Work`` header."""

    algorithm: str
    challenge: str
    maxnumber: int
    salt: str
    signature: str


class ProofRequiredOut(BaseModel):
    """The problem document (429) that asks for a proof of work."""

    type: str
    title: str
    status: int
    detail: str
    challenge: ChallengeOut


class MetricOut(BaseModel):
    name: str
    value: int
    help: str
