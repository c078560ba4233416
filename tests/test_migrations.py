"""Alembic is the only way the schema is made: every revision goes up and down on both
databases, a round trip leaves a working schema, and the models match it (no drift)."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from api.cli import alembic_config
from api.db import build_engine
from api.schema_filter import include_object
from api.seed import seed
from api.tables import metadata


def _tables(url: str) -> set[str]:
    engine = build_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _drift(url: str) -> list[object]:
    engine = build_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"include_object": include_object, "compare_type": True}
            )
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def test_every_revision_steps_up_and_down(empty_database_url: str) -> None:
    config = alembic_config(empty_database_url)
    revisions = list(reversed(list(ScriptDirectory.from_config(config).walk_revisions())))
    assert revisions, "no migrations found"
    for revision in revisions:
        command.upgrade(config, revision.revision)
        command.downgrade(config, revision.down_revision or "base")
        command.upgrade(config, revision.revision)
    assert {"initiative", "sector", "organization", "source", "revision"} <= _tables(
        empty_database_url
    )


def test_round_trip_leaves_a_working_schema_without_drift(empty_database_url: str) -> None:
    config = alembic_config(empty_database_url)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    assert _tables(empty_database_url) <= {"alembic_version"}
    command.upgrade(config, "head")
    assert _drift(empty_database_url) == []
    engine = build_engine(empty_database_url)
    try:
        counts = seed(engine)
    finally:
        engine.dispose()
    assert counts["initiatives created"] > 0


def test_search_index_objects_follow_the_dialect(empty_database_url: str) -> None:
    command.upgrade(alembic_config(empty_database_url), "head")
    engine = build_engine(empty_database_url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                names = {
                    row[0]
                    for row in conn.exec_driver_sql(
                        "SELECT name FROM sqlite_master WHERE name LIKE 'search_fts%'"
                    )
                }
                assert "search_fts" in names
            else:
                columns = {c["name"] for c in inspect(conn).get_columns("search_document")}
                assert "tsv" in columns
    finally:
        engine.dispose()
