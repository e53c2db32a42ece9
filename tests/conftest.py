"""Suite-wide set-up: real PostgreSQL and Redis, fast hashing, plain static files."""

import pytest
from django.conf import settings


def pytest_configure(config: pytest.Config) -> None:
    # The suite runs on the real services only; SQLite or a local-memory cache would hide
    # behaviour (locks, constraints, concurrency) that production depends on.
    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        raise pytest.UsageError(
            f"The tests need PostgreSQL, but DATABASE_URL points at {engine}. "
            "Run them with `make test`, or set DATABASE_URL=postgres://... and REDIS_URL=redis://..."
        )
    if not settings.REDIS_URL:
        raise pytest.UsageError(
            "The tests need Redis: set REDIS_URL, or run them with `make test`."
        )
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Nobody must enrol in a second factor by default, so that the personas sign in with a
    # password as in the demo; tests/accounts/test_mfa.py sets MFA_REQUIRED_ROLES itself.
    settings.MFA_REQUIRED_ROLES = []
    # Tests do not run collectstatic, so pages link to unhashed static names.
    settings.WHITENOISE_USE_FINDERS = True
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    _let_the_test_runner_flush_the_audit_trail()


def _let_the_test_runner_flush_the_audit_trail() -> None:
    """Transactional tests end with a flush, one TRUNCATE of every table, which the audit
    tables refuse (funds 0026, accounts 0006). The test runner connects as a superuser, who
    may turn ordinary triggers off for its own transaction (``session_replication_role``);
    the application's role never can (docs/operations.md)."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    sql_flush = DatabaseOperations.sql_flush

    def flush_past_the_audit_triggers(self, style, tables, **kwargs):  # type: ignore[no-untyped-def]
        statements = sql_flush(self, style, tables, **kwargs)
        if not statements:
            return statements
        return ["SET LOCAL session_replication_role = replica", *statements]

    DatabaseOperations.sql_flush = flush_past_the_audit_triggers  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    from django.core.cache import cache

    cache.clear()
