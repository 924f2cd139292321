from tests.server.records.conftest import practice  # noqa: F401  (shared fixtures)
