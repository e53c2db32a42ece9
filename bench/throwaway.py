"""A throwaway PostgreSQL database for a benchmark: ``<DATABASE_URL's name>_bench``."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import dj_database_url
import psycopg


@contextmanager
def throwaway_database() -> Iterator[None]:
    """Point DATABASE_URL at a new, empty database for the block; drop it afterwards.

    Call before django.setup(), which reads DATABASE_URL.
    """
    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/casetracker")
    config = dj_database_url.parse(url)
    if "postgresql" not in config["ENGINE"]:
        sys.exit("The benchmark needs PostgreSQL: set DATABASE_URL=postgres://...")
    name = f"{config['NAME']}_bench"
    admin = psycopg.connect(
        host=config["HOST"] or None,
        port=config["PORT"] or None,
        user=config["USER"] or None,
        password=config["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )
    admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = url.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield
    finally:
        from django.db import connections

        connections.close_all()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()
