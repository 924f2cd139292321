"""Logging rules: a request line is logged without its query string, which may carry
one-time codes (the identity provider's answer, OAuth state); the server's own records
are shown from INFO up when it runs from the command line."""

from __future__ import annotations

import logging


class QueryStringRedaction(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn.access records: (client, method, path with query, http version, status).
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            path, _, query = args[2].partition("?")
            if query:
                record.args = (args[0], args[1], path + "?…", args[3], args[4])
        return True


def redact_access_log() -> None:
    logging.getLogger("uvicorn.access").addFilter(QueryStringRedaction())


def show_server_log() -> None:
    """The server's own records on stderr, beside uvicorn's: where the configuration
    came from, mail written to the outbox, what a job did."""
    logger = logging.getLogger("uhealthsec")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
