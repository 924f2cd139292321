import json
import logging
import pickle
from collections.abc import Iterator

import pytest
import uvicorn
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError

from uhealthsec.server.app import ServedApi
from uhealthsec.server.cli import serving_config
from uhealthsec.server.logs import ACCESS_LOGGER, REQUEST_ID, QueryStringRedaction, logging_config
from uhealthsec.server.problems import unavailable
from uhealthsec.server.settings import Settings
from uhealthsec.server.storage.db import make_engine


def access_record(path: str) -> logging.LogRecord:
    return logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", path, "1.1", 302),
        None,
    )


def test_query_strings_never_reach_the_access_log():
    record = access_record("/auth/federated/callback?code=one-time-secret&state=xyz")
    assert QueryStringRedaction().filter(record)
    line = record.getMessage()
    assert "one-time-secret" not in line and "xyz" not in line
    assert "/auth/federated/callback?…" in line


def test_paths_without_query_are_logged_unchanged():
    record = access_record("/health")
    QueryStringRedaction().filter(record)
    assert '"GET /health HTTP/1.1" 302' in record.getMessage()


def test_a_database_failure_is_logged_without_the_values_of_its_statement(tmp_path, caplog):
    """A database down, locked or full is logged for the operator (problems.py), with
    the error SQLAlchemy raised: it must not carry the statement's values (an address,
    a keystore, a token's hash), only its SQL."""
    engine = make_engine(f"sqlite:///{tmp_path / 'down.db'}")
    with pytest.raises(OperationalError) as failed, engine.connect() as connection:
        connection.execute(
            text("INSERT INTO accounts_gone (email) VALUES (:email)"),
            {"email": "camille.petit@example.org"},
        )
    with caplog.at_level(logging.WARNING):
        assert unavailable("database", failed.value).status_code == 503
    assert "INSERT INTO accounts_gone" in caplog.text
    assert "camille" not in caplog.text
    engine.dispose()


# -- the configuration every worker applies -----------------------------------------------

_CONFIGURED = ("uvicorn", "uvicorn.error", "uvicorn.access", "uhealthsec", ACCESS_LOGGER)


@pytest.fixture(autouse=True)
def _restore_loggers() -> Iterator[None]:
    kept = {}
    for name in _CONFIGURED:
        logger = logging.getLogger(name)
        kept[name] = (list(logger.handlers), list(logger.filters), logger.level, logger.propagate)
    yield
    for name, (handlers, filters, level, propagate) in kept.items():
        logger = logging.getLogger(name)
        logger.handlers[:], logger.filters[:] = handlers, filters
        logger.setLevel(level)
        logger.propagate = propagate


def _worker_config(tmp_path, log_format: str) -> uvicorn.Config:
    """The configuration `uhs-server serve --workers 2` hands a worker, as the worker
    receives it (pickled) and applies it."""
    settings = Settings(_env_file=None, data_dir=tmp_path, log_format=log_format, workers=2)
    config = pickle.loads(pickle.dumps(serving_config(ServedApi(settings), "127.0.0.1", 8000)))
    config.configure_logging()
    return config


def test_each_worker_redacts_query_strings_from_its_request_lines(tmp_path, capsys):
    config = _worker_config(tmp_path, "text")
    assert config.workers == 2
    logging.getLogger("uvicorn.access").info(*_access_args("/auth/callback?code=secret-code"))
    line = capsys.readouterr().err
    assert "/auth/callback?…" in line and "secret-code" not in line


def _access_args(path: str) -> tuple:
    record = access_record(path)
    return (record.msg, *record.args)


def test_each_worker_writes_json_lines_with_route_templates_not_paths(tmp_path, capsys):
    _worker_config(tmp_path, "json")
    # uvicorn's own request line (the path asked) is not written in JSON...
    logging.getLogger("uvicorn.access").info(*_access_args("/documents/1234"))
    # ...the server's is, with the template, inside the request that made it.
    token = REQUEST_ID.set("0123456789abcdef")
    try:
        logging.getLogger(ACCESS_LOGGER).info(
            "GET /documents/{document_id} 200 1.5 ms",
            extra={
                "method": "GET",
                "route": "/documents/{document_id}",
                "status": 200,
                "duration_ms": 1.5,
            },
        )
        try:
            raise RuntimeError("the store is down")
        except RuntimeError:
            logging.getLogger("uhealthsec.server").exception("a failure")
    finally:
        REQUEST_ID.reset(token)
    access, failure = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert access["route"] == "/documents/{document_id}" and access["status"] == 200
    assert access["request_id"] == failure["request_id"] == "0123456789abcdef"
    assert {
        "time",
        "level",
        "logger",
        "process",
        "message",
        "method",
        "duration_ms",
    } <= access.keys()
    assert failure["level"] == "ERROR" and "the store is down" in failure["exception"]


def test_an_unknown_log_format_is_refused_naming_the_setting():
    with pytest.raises(ValueError, match="text, json"):
        logging_config("xml")
    with pytest.raises(ValidationError, match="log_format"):
        Settings(_env_file=None, log_format="xml")


def test_a_database_error_logged_holds_the_statement_never_its_values(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'log.db'}")
    with pytest.raises(DBAPIError) as failure, engine.connect() as connection:
        connection.execute(
            text("SELECT * FROM no_such_table WHERE email = :email"),
            {"email": "camille.petit@example.org"},
        )
    engine.dispose()
    logged = str(failure.value)
    assert "no_such_table" in logged and "camille" not in logged
