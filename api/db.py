"""Engine, connection dependencies and per-dialect connection set-up.

Everything talks to the database through SQLAlchemy Core connections; the tables are SQLModel
classes (their metadata is what Alembic compares against).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from api.cache.generation import bump
from api.config import get_settings
from api.records import metadata

__all__ = ["metadata"]


def _sqlite_setup(engine: Engine, busy_timeout_ms: int, cache_mb: int, mmap_mb: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite so BEGIN is ours (see _on_begin).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        # Pages are read through each connection's own cache, bounded in size; memory-mapping
        # the file instead would count every page a scan touches in the server's RSS.
        cur.execute(f"PRAGMA mmap_size={int(mmap_mb) * 1024 * 1024}")
        cur.execute(f"PRAGMA cache_size=-{int(cache_mb) * 1024}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the write lock up front: a deferred transaction that reads and then
        # writes can fail with SQLITE_BUSY at once instead of waiting out busy_timeout.
        write = conn.get_execution_options().get("write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


LOCK_TIMEOUT_MS = 10_000


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def build_engine(url: str | None = None) -> Engine:
    settings = get_settings()
    url = url or settings.database_url
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False},
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
            pool_size=settings.db_pool_size,
            max_overflow=20,
        )
        _sqlite_setup(
            engine,
            settings.sqlite_busy_timeout_ms,
            settings.sqlite_cache_mb,
            settings.sqlite_mmap_mb,
        )
        return engine
    return create_engine(
        url,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
        pool_size=settings.db_pool_size,
        max_overflow=10,
        # No ping before each checkout (a round trip per request): a connection that died
        # fails its request with a 503, and that error makes the pool drop every connection
        # made before it, so the next requests connect afresh.
        pool_recycle=1800,
    )


@lru_cache
def get_engine() -> Engine:
    return build_engine()


def dialect_name(conn: Connection) -> str:
    return conn.dialect.name


@contextmanager
def read_connection(engine: Engine | None = None) -> Iterator[Connection]:
    """A connection inside a transaction, for one consistent read of several queries.

    On PostgreSQL the transaction is REPEATABLE READ, so a record and its links, read by
    several queries, come from one snapshot (READ COMMITTED could mix two commits). A SQLite
    read transaction is a snapshot already."""
    eng = engine or get_engine()
    with eng.connect() as conn:
        if eng.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


@contextmanager
def write_transaction(engine: Engine | None = None) -> Iterator[Connection]:
    """A connection in a write transaction: committed on success, rolled back on any error.

    Its last statement moves the write generation on (api/cache), which is what tells every
    API process that results computed before it are out of date."""
    eng = engine or get_engine()
    with eng.connect().execution_options(write=True) as conn, conn.begin():
        if eng.dialect.name == "postgresql":
            # A write stuck behind another's row lock gives up (503) rather than hang.
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_MS}ms'")
        yield conn
        bump(conn)


def refresh_statistics(engine: Engine) -> None:
    """After a bulk load: SQLite's planner chooses indexes from ANALYZE's statistics, which
    it never gathers by itself (PostgreSQL's autovacuum does)."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")


def ensure_statistics(engine: Engine) -> bool:
    """Gather SQLite's statistics if nobody has (a database loaded by other means, or made
    before the project analyzed after imports); whether it did. A read-only database is
    served as it is."""
    if engine.dialect.name != "sqlite":
        return False
    with engine.connect() as conn:
        found = conn.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'"
        ).first()
        if found and conn.exec_driver_sql("SELECT 1 FROM sqlite_stat1 LIMIT 1").first():
            return False
        try:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
        except OperationalError:
            return False
    return True
