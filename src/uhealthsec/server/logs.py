"""Logging rules: a request line is logged without its query string, which may carry
one-time codes (the identity provider's answer, OAuth state); the server's own records
are shown from INFO up when it runs from the command line; with ``UHS_LOG_FORMAT=json``
every record is one JSON object per line, and a request's line names its route
template, never the path asked (which may hold an id or an address).

The whole configuration is one ``logging.config`` dictionary, handed to uvicorn as its
``log_config``: uvicorn applies it again in each worker process it starts, so the
redaction and the format hold in every worker, not only in the process that was asked.
"""

from __future__ import annotations

import json
import logging
import logging.config
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

#: The formats of ``UHS_LOG_FORMAT``.
LOG_FORMATS = ("text", "json")
#: Where each answered request is recorded, as its route template (JSON format only:
#: the text format keeps uvicorn's own request line).
ACCESS_LOGGER = "uhealthsec.access"
#: A random id of the request being answered, for the records made while answering it.
REQUEST_ID: ContextVar[str | None] = ContextVar("uhs_request_id", default=None)
#: What a request's record carries besides its message (RequestMetrics sets them).
_REQUEST_FIELDS = ("method", "route", "status", "duration_ms")


class QueryStringRedaction(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn.access records: (client, method, path with query, http version, status).
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            path, _, query = args[2].partition("?")
            if query:
                record.args = (args[0], args[1], path + "?…", args[3], args[4])
        return True


class JsonLines(logging.Formatter):
    """One JSON object per record: time, level, logger, process id (workers write to one
    log), message, and the request's id, method, route template, status and duration
    when it was made answering one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": record.process,
            "message": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            line["request_id"] = request_id
        for name in _REQUEST_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def logging_config(log_format: str) -> dict[str, Any]:
    """The configuration of every logger the server writes to, in ``log_format``."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"the log format is one of {', '.join(LOG_FORMATS)}")
    as_json = log_format == "json"
    stderr = {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}
    formatters: dict[str, Any] = (
        {"json": {"()": JsonLines}}
        if as_json
        else {
            "uvicorn": {
                "()": "uvicorn.logging.DefaultFormatter",
                "fmt": "%(levelprefix)s %(message)s",
            },
            "access": {
                "()": "uvicorn.logging.AccessFormatter",
                "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
            },
            "server": {"format": "%(levelname)s:     %(name)s: %(message)s"},
        }
    )
    handlers = {
        name: {**stderr, "formatter": "json" if as_json else name}
        for name in ("uvicorn", "access", "server")
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": formatters,
        "filters": {"query_strings": {"()": QueryStringRedaction}},
        "handlers": handlers,
        "loggers": {
            "uvicorn": {"handlers": ["uvicorn"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            # In JSON, the request's record is ACCESS_LOGGER's (route template, duration).
            "uvicorn.access": {
                "handlers": ["access"],
                "level": "WARNING" if as_json else "INFO",
                "filters": ["query_strings"],
                "propagate": False,
            },
            "uhealthsec": {"handlers": ["server"], "level": "INFO", "propagate": False},
            ACCESS_LOGGER: {"level": "INFO" if as_json else "WARNING"},
        },
    }


def configure_logging(log_format: str) -> None:
    """The server's records on stderr, beside uvicorn's: where the configuration came
    from, mail written to the outbox, what a job did, and in JSON each request."""
    logging.config.dictConfig(logging_config(log_format))
