"""Outgoing mail: queued in the request's transaction, delivered once it committed."""
