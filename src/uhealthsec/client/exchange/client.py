"""The exchange client: one object for everything a device does with documents."""

from __future__ import annotations

from uhealthsec.client.exchange.pending import PendingSharing
from uhealthsec.client.exchange.rotation import KeyRotation
from uhealthsec.client.exchange.sharing import DocumentSharing


class ExchangeClient(PendingSharing, DocumentSharing, KeyRotation):
    """Sends, receives, shares and revokes documents for the signed-in account, every
    secret handled on this device (see the package's description). Each part lives in
    its own module: the session (``session``), the signed history (``history``),
    sending, receiving, sharing and pending shares (which sending falls back on for a
    patient with no keys yet)."""
