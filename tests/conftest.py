"""Every database test runs twice: on SQLite and on PostgreSQL.

Per test run, each database kind is migrated with the real Alembic revisions and seeded once
into a template; each test then gets its own copy (a file copy on SQLite, CREATE DATABASE ...
TEMPLATE on PostgreSQL), so tests are isolated and can write freely. The PostgreSQL databases
are throwaway ones, dropped at the end. Where no PostgreSQL answers, its half is skipped with
a one-line reason, except in CI (CI=true), where that is a failure.
"""

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from api.auth.service import create_key
from api.auth.tables import Role
from api.cli import alembic_config
from api.config import Settings
from api.db import build_engine
from api.main import create_app
from api.seed import seed

PG_ADMIN_URL = os.environ.get(
    "TRACKER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() == "true"
ROLES = (Role.contributor, Role.editor, Role.admin)


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _pg_admin() -> psycopg.Connection:
    return psycopg.connect(_libpq(PG_ADMIN_URL), autocommit=True, connect_timeout=3)


def _pg_available() -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        with _pg_admin() as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL not reachable at {make_url(PG_ADMIN_URL).host}: {str(exc).strip()[:80]}"
    return None


def migrate(url: str, target: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), target)


@dataclass
class Template:
    kind: str
    url: str
    keys: dict[Role, str]


def _make_template(url: str) -> dict[Role, str]:
    migrate(url)
    engine = build_engine(url)
    try:
        seed(engine)
        keys = {role: create_key(engine, f"test-{role.value}", role)[0] for role in ROLES}
    finally:
        engine.dispose()
    return keys


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def run_id() -> str:
    return f"{_worker()}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    url = f"sqlite:///{path}"
    keys = _make_template(url)
    return Template("sqlite", url, keys)


@pytest.fixture(scope="session")
def pg_template(run_id: str) -> Iterator[Template]:
    reason = _pg_available()
    if reason:
        if IN_CI:
            pytest.fail(f"CI needs PostgreSQL: {reason}")
        pytest.skip(reason)
    name = f"pt_test_{run_id}_template"
    with _pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        keys = _make_template(url)
        yield Template("postgresql", url, keys)
    finally:
        with _pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Database:
    """One test's own seeded database."""

    kind: str
    url: str
    keys: dict[Role, str]
    engine: Engine


def _copy_sqlite(template: Template, tmp_path: Path) -> str:
    source = Path(make_url(template.url).database or "")
    target = tmp_path / "test.db"
    shutil.copyfile(source, target)
    return f"sqlite:///{target}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path, run_id: str) -> Iterator[Database]:
    """A seeded database of each kind, private to the test."""
    if request.param == "sqlite":
        template: Template = request.getfixturevalue("sqlite_template")
        engine = build_engine(_copy_sqlite(template, tmp_path))
        try:
            yield Database("sqlite", str(engine.url), template.keys, engine)
        finally:
            engine.dispose()
        return
    template = request.getfixturevalue("pg_template")
    name = f"pt_test_{run_id}_{uuid.uuid4().hex[:8]}"
    template_name = make_url(template.url).database
    with _pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"')
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    engine = build_engine(url)
    try:
        yield Database("postgresql", url, template.keys, engine)
    finally:
        engine.dispose()
        with _pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(
    request: pytest.FixtureRequest, tmp_path: Path, run_id: str
) -> Iterator[str]:
    """An empty database (no schema) of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    reason = _pg_available()
    if reason:
        if IN_CI:
            pytest.fail(f"CI needs PostgreSQL: {reason}")
        pytest.skip(reason)
    name = f"pt_test_{run_id}_{uuid.uuid4().hex[:8]}"
    with _pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with _pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Api(TestClient):
    """A test client that knows the test database's keys."""

    keys: dict[Role, str]
    db: Database

    def auth(self, role: Role | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"} if role else {}


@pytest.fixture
def api(database: Database) -> Iterator[Api]:
    settings = Settings(database_url=database.url, cors_origins=["https://app.example.org"])
    app = create_app(settings)
    with Api(app, raise_server_exceptions=False) as client:
        client.keys = database.keys
        client.db = database
        yield client
    app.state.engine.dispose()


@pytest.fixture
def editor(api: Api) -> dict[str, str]:
    return api.auth(Role.editor)


@pytest.fixture
def contributor(api: Api) -> dict[str, str]:
    return api.auth(Role.contributor)


@pytest.fixture
def admin(api: Api) -> dict[str, str]:
    return api.auth(Role.admin)
