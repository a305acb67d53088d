"""The hub database: SQLAlchemy 2 models and engines (SQLite embedded, PostgreSQL in production)."""
