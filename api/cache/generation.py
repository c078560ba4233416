"""The write generation: read in a reader's snapshot, peeked at outside one, moved on by
every write transaction (see api/cache/service.py for what it is for)."""

from typing import Any

from sqlalchemy import Connection, Engine, select, update

from api.cache.tables import WriteGeneration

generation_table = WriteGeneration.__table__  # type: ignore[attr-defined]
_PEEK = "SELECT value FROM write_generation WHERE id = 1"
_read = select(generation_table.c.value).where(generation_table.c.id == 1)
_bump = (
    update(generation_table)
    .where(generation_table.c.id == 1)
    .values(value=generation_table.c.value + 1)
)


def current_generation(conn: Connection) -> int | None:
    """The generation of the reader's snapshot (None on a database without the counter)."""
    value = conn.execute(_read).scalar()
    return None if value is None else int(value)


def peek_generation(engine: Engine) -> int | None:
    """The newest committed generation, read in one statement on a pooled connection; None
    when it cannot be read (no counter in a database not migrated yet, or no database: the
    read that follows then reports what is wrong, through SQLAlchemy's error handling)."""
    # On PostgreSQL one statement outside a transaction is one round trip (no BEGIN, and
    # nothing for the pool to roll back); SQLite connections are in autocommit already.
    postgres = engine.dialect.name == "postgresql"
    try:
        raw = engine.raw_connection()
    except Exception:
        return None
    try:
        driver: Any = raw.driver_connection
        if postgres:
            driver.autocommit = True
        cursor = raw.cursor()
        try:
            cursor.execute(_PEEK)
            row = cursor.fetchone()
        finally:
            cursor.close()
            if postgres:
                driver.autocommit = False
    except Exception:
        raw.invalidate()  # whatever failed, this connection is not handed out again
        return None
    finally:
        raw.close()
    return None if row is None else int(row[0])


def bump(conn: Connection) -> None:
    """Move the generation on, as the last statement of a write transaction: on PostgreSQL
    the row lock then orders the writers' commits, so generations become visible in order,
    and it is held only from here to the commit."""
    conn.execute(_bump)
