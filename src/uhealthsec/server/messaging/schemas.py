"""API models of secure messaging: all of them are the wire models the SDK shares
(protocol/messaging.py)."""

from __future__ import annotations

from uhealthsec.protocol.messaging import (
    MemberIO,
    MembershipIn,
    MembershipOut,
    MessageIn,
    MessageKeyIn,
    MessageOut,
    MessageRewrapsIn,
    ParticipantOut,
    ReadIn,
    ThreadIn,
    ThreadOut,
)

__all__ = [
    "MemberIO",
    "MembershipIn",
    "MembershipOut",
    "MessageIn",
    "MessageKeyIn",
    "MessageOut",
    "MessageRewrapsIn",
    "ParticipantOut",
    "ReadIn",
    "ThreadIn",
    "ThreadOut",
]
