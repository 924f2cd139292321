import logging

from uhealthsec.server.logs import QueryStringRedaction


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
