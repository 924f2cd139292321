import logging

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from uhealthsec.server.logs import QueryStringRedaction
from uhealthsec.server.problems import unavailable
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
