from tests.server.records.conftest import practice, report  # noqa: F401  (shared fixtures)
