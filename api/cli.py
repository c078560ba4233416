"""The policy-tracker command: serve, migrate, seed, reindex, keys (and export/import).

Results go to stdout, messages and progress to stderr; failures exit non-zero.
"""

import sys
from pathlib import Path
from typing import Annotated

import typer
from alembic import command
from alembic.config import Config

from api.config import get_settings
from api.db import build_engine, write_transaction

app = typer.Typer(
    help="policy-tracker: technology-policy initiatives over HTTP.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
ROOT = Path(__file__).resolve().parent.parent


def _err(message: str) -> None:
    typer.echo(message, err=True)


def alembic_config(url: str | None = None) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["url"] = url or get_settings().database_url
    config.attributes["configure_logger"] = False
    return config


@app.command()
def migrate(
    to: Annotated[str, typer.Option("--to", help="Target revision (default: head).")] = "head",
) -> None:
    """Bring the database schema to the head revision (or --to REV, up or down)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = alembic_config()
    engine = build_engine(config.attributes["url"])
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    engine.dispose()
    script = ScriptDirectory.from_config(config)
    target = script.get_revision(to) if to not in ("head", "base") else None
    target_rev = to if target is None else target.revision
    going_down = to == "base" or (
        current is not None
        and target is not None
        and current != target.revision
        and target.revision in {r.revision for r in script.iterate_revisions(current, "base")}
    )
    if going_down:
        command.downgrade(config, target_rev)
    else:
        command.upgrade(config, target_rev)
    _err(f"database at revision {to}")


@app.command()
def seed(
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Only seed an empty database.")
    ] = False,
) -> None:
    """Upsert the bundled sources and fixtures (idempotent)."""
    from sqlalchemy import func, select

    from api.seed import SeedError
    from api.seed import seed as run_seed
    from api.tables import Initiative

    engine = build_engine()
    if if_empty:
        with engine.connect() as conn:
            if conn.execute(select(func.count()).select_from(Initiative)).scalar_one():
                _err("database holds records already; not seeding")
                return
    try:
        counts = run_seed(engine)
    except SeedError as exc:
        _err(f"seed refused, nothing written: {exc}")
        raise typer.Exit(1) from exc
    changed = sum(v for k, v in counts.items() if not k.endswith("unchanged"))
    if changed:
        from api.db import refresh_statistics

        refresh_statistics(engine)
    for key in sorted(counts):
        typer.echo(f"{key}: {counts[key]}")
    _err("nothing changed" if changed == 0 else f"{changed} records created or updated")


@app.command()
def reindex() -> None:
    """Rebuild the full-text search index from the records."""
    from api.search.index import reindex_all

    with write_transaction(build_engine()) as conn:
        count = reindex_all(conn)
    typer.echo(f"indexed: {count}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    reload: Annotated[bool, typer.Option(help="Reload on code changes (development).")] = False,
) -> None:
    """Serve the API with uvicorn."""
    import uvicorn

    from api.db import ensure_statistics
    from api.ops import prepare_multiprocess_dir, uvicorn_log_config

    if ensure_statistics(build_engine()):
        _err("gathered the planner's statistics (ANALYZE)")
    # Workers share metrics through a directory; made before they spawn, so they inherit it.
    prepare_multiprocess_dir(workers)
    _err(f"serving on http://{host}:{port} (docs at /docs)")
    uvicorn.run(
        "api.app:app",
        host=host,
        port=port,
        workers=None if reload else workers,
        reload=reload,
        proxy_headers=True,
        timeout_graceful_shutdown=20,
        log_config=uvicorn_log_config(get_settings()),
        access_log=False,
    )


@app.command("export")
def export_(
    file: Annotated[Path, typer.Argument(help="Where to write; '-' for stdout.")],
    resource: Annotated[
        list[str] | None, typer.Option("--resource", "-r", help="Only this resource (repeat).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="ndjson (importable) or csv.")] = "ndjson",
) -> None:
    """Export records (every review state) as NDJSON in import order, or one resource as CSV."""
    from api.bulk.export import write_export

    try:
        count = write_export(build_engine(), file, resource or [], fmt)
    except ValueError as exc:
        _err(str(exc))
        raise typer.Exit(2) from exc
    _err(f"exported {count} records to {file}")


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="NDJSON in the export format; '-' for stdin.")],
    actor: Annotated[str, typer.Option(help="Name recorded in history.")] = "cli-import",
) -> None:
    """Upsert records by slug in one transaction: every line applies, or none does."""
    from api.bulk.export import run_import

    summary, errors = run_import(build_engine(), file, actor)
    if errors:
        for err in errors[:50]:
            _err(f"line {err['loc'][2]}: {err['msg']}")
        _err(f"import refused, nothing written: {len(errors)} problem(s)")
        raise typer.Exit(1)
    for key in ("created", "updated", "unchanged"):
        typer.echo(f"{key}: {summary[key]}")
    _err(f"imported {summary['lines']} lines")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="Who the key is for (shown in history).")],
    role: Annotated[str, typer.Option(help="contributor, editor or admin.")] = "contributor",
) -> None:
    """Make a key; it is printed once, alone on stdout."""
    from api.auth.service import create_key
    from api.auth.tables import Role
    from api.errors import ApiError

    try:
        secret, _ = create_key(build_engine(), name, Role(role))
    except ValueError as exc:
        _err(f"unknown role {role!r}: choose contributor, editor or admin")
        raise typer.Exit(2) from exc
    except ApiError as exc:
        _err(exc.detail)
        raise typer.Exit(1) from exc
    typer.echo(secret)


@keys_app.command("list")
def keys_list() -> None:
    """List keys (names, roles, state; never the secrets)."""
    from api.auth.service import list_keys
    from api.records import rfc3339, utcnow

    now = rfc3339(utcnow())
    for key in list_keys(build_engine()):
        expired = key["expires_at"] is not None and key["expires_at"] <= now
        state = "revoked" if key["revoked_at"] else "expired" if expired else "active"
        typer.echo(f"{key['name']}\t{key['role']}\t{state}\t{key['created_at']}")


@keys_app.command("revoke")
def keys_revoke(name: Annotated[str, typer.Argument(help="The key's name.")]) -> None:
    """Revoke a key at once."""
    from api.auth.service import revoke_key
    from api.errors import ApiError

    try:
        revoke_key(build_engine(), name)
    except ApiError as exc:
        _err(exc.detail)
        raise typer.Exit(1) from exc
    _err(f"revoked {name}")


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
