"""Encrypted search indexes: the server stores and answers opaque labels; it never
sees a keyword (docs/PROTOCOL.md, section 18)."""
