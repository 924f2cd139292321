"""Outgoing mail and how it leaves the server."""
