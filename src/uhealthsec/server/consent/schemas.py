"""API models of consent directives and rights requests: all of them are the wire
models the SDK shares (protocol/consent.py)."""

from __future__ import annotations

from uhealthsec.protocol.consent import (
    AccountDeletionIn,
    AccountDeletionOut,
    DirectiveIn,
    DirectiveOut,
    DirectiveRecordedOut,
    InformationIn,
    InformationOut,
    NoteIn,
    NoticeIn,
    NoticeOut,
    ReasonIn,
    RightsRequestIn,
    RightsRequestOut,
    StudyIn,
    StudyOut,
)

__all__ = [
    "AccountDeletionIn",
    "AccountDeletionOut",
    "DirectiveIn",
    "DirectiveOut",
    "DirectiveRecordedOut",
    "InformationIn",
    "InformationOut",
    "NoteIn",
    "NoticeIn",
    "NoticeOut",
    "ReasonIn",
    "RightsRequestIn",
    "RightsRequestOut",
    "StudyIn",
    "StudyOut",
]
