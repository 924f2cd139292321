"""API models of the shield."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ChallengeDataOut(BaseModel):
    """What the challenge is bound to, signed with it."""

    endpoint: str
    subject: str
    cost: int


class ChallengeParametersOut(BaseModel):
    """ALTCHA v2 challenge parameters (Argon2id): find a counter such that
    Argon2id(nonce || uint32_be(counter), salt) starts with ``keyPrefix``."""

    model_config = ConfigDict(populate_by_name=True)

    algorithm: str
    cost: int
    data: ChallengeDataOut
    expires_at: int = Field(alias="expiresAt")
    key_length: int = Field(alias="keyLength")
    key_prefix: str = Field(alias="keyPrefix")
    key_signature: str = Field(alias="keySignature")
    memory_cost: int = Field(alias="memoryCost")
    nonce: str
    parallelism: int
    salt: str


class ChallengeOut(BaseModel):
    """An ALTCHA v2 challenge; its solution goes in the ``UHS-Proof-Of-Work`` header
    (docs/PROTOCOL.md, section 14)."""

    parameters: ChallengeParametersOut
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
