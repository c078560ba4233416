"""The policy-tracker command: results on stdout, messages on stderr, exit codes."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from api.config import get_settings


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[CliRunner]:
    monkeypatch.setenv("TRACKER_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_migrate_seed_and_seed_again(runner: CliRunner) -> None:
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    first = runner.invoke(app, ["seed"])
    assert first.exit_code == 0
    assert "initiatives created:" in first.stdout
    second = runner.invoke(app, ["seed"])
    assert second.exit_code == 0
    assert "created" not in second.stdout and "nothing changed" in second.stderr
    empty_only = runner.invoke(app, ["seed", "--if-empty"])
    assert empty_only.exit_code == 0 and empty_only.stdout == ""


def test_migrate_down_and_up(runner: CliRunner) -> None:
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    assert runner.invoke(app, ["migrate", "--to", "base"]).exit_code == 0
    assert runner.invoke(app, ["seed"]).exit_code != 0
    assert runner.invoke(app, ["migrate", "--to", "0001"]).exit_code == 0
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    assert runner.invoke(app, ["seed"]).exit_code == 0


def test_keys_reindex_export_import(runner: CliRunner, tmp_path: Path) -> None:
    runner.invoke(app, ["migrate"])
    runner.invoke(app, ["seed"])
    made = runner.invoke(app, ["keys", "create", "--name", "ana", "--role", "editor"])
    assert made.exit_code == 0
    assert made.stdout.strip().startswith("pt_") and len(made.stdout.strip().splitlines()) == 1
    bad_role = runner.invoke(app, ["keys", "create", "--name", "bo", "--role", "king"])
    assert bad_role.exit_code != 0 and bad_role.stdout == ""
    listed = runner.invoke(app, ["keys", "list"])
    assert "ana\teditor\tactive" in listed.stdout and made.stdout.strip() not in listed.stdout
    assert runner.invoke(app, ["keys", "revoke", "ana"]).exit_code == 0
    assert "revoked" in runner.invoke(app, ["keys", "list"]).stdout
    assert runner.invoke(app, ["keys", "revoke", "nobody"]).exit_code == 1
    reindexed = runner.invoke(app, ["reindex"])
    assert reindexed.exit_code == 0 and reindexed.stdout.startswith("indexed:")
    out = tmp_path / "all.ndjson"
    assert runner.invoke(app, ["export", str(out)]).exit_code == 0
    lines = out.read_bytes().splitlines()
    assert {json.loads(line)["resource"] for line in lines} == {
        "sources",
        "sectors",
        "organizations",
        "initiatives",
    }
    again = runner.invoke(app, ["import", str(out)])
    assert again.exit_code == 0
    assert f"unchanged: {len(lines)}" in again.stdout
    bad = tmp_path / "bad.ndjson"
    bad.write_bytes(lines[0] + b"\n{not json\n")
    refused = runner.invoke(app, ["import", str(bad)])
    assert refused.exit_code == 1 and "line 2" in refused.stderr
