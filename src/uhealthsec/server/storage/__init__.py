"""Database engine and sessions, column types, migrations."""
