"""API keys: the `policy-tracker keys` commands and /v1/keys, on both databases.

A key is printed once (alone on stdout by the CLI, in the 201 body over HTTP), only its hash is
kept, `list` never shows a secret, and a revoked or expired key is refused with 401 at once.
"""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import Result
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from typer.testing import CliRunner

from api.auth.service import create_key
from api.auth.tables import ApiKey, Role
from api.cli import app as cli_app
from api.config import Settings, get_settings
from api.main import create_app
from api.tables import metadata

KEYS = ApiKey.__table__
SOURCE = "lse-ideas-techno-nationalism-2021"

Cli = Callable[..., Result]


@pytest.fixture
def cli(api, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    """Run `policy-tracker ...` against the test's own database."""
    monkeypatch.setenv("TRACKER_DATABASE_URL", api.db.url)
    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(cli_app, list(args))

    yield run
    get_settings.cache_clear()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def draft_body(slug: str) -> dict:
    return {"slug": slug, "name": f"Test initiative {slug}", "kind": "plan", "country": "CN"}


def can_write(api, key: str, slug: str) -> int:
    """Status of a contributor-level write (create a draft) made with ``key``."""
    return api.post("/v1/initiatives", json=draft_body(slug), headers=bearer(key)).status_code


def key_rows(api) -> list[dict]:
    with api.db.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(KEYS).order_by(KEYS.c.name))]


def database_text(api) -> str:
    """Every row of every table, as one string (to prove a secret is stored nowhere)."""
    parts = []
    with api.db.engine.connect() as conn:
        for table in metadata.sorted_tables:
            parts.extend(repr(tuple(row)) for row in conn.execute(select(table)))
    return "\n".join(parts)


def assert_401(response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"].lower().startswith("bearer")
    assert response.json()["status"] == 401


# --- the CLI ---------------------------------------------------------------------------------


def test_cli_create_prints_only_the_key_on_stdout(api, cli):
    result = cli("keys", "create", "--name", "jane-doe", "--role", "contributor")
    assert result.exit_code == 0, result.stderr
    key = result.stdout.strip()
    assert result.stdout == key + "\n"  # the key alone, one line
    assert key.startswith("pt_")
    assert " " not in key
    assert len(key) >= 40
    assert key not in result.stderr

    assert can_write(api, key, "cli-key-works") == 201
    history = api.get("/v1/initiatives/cli-key-works/history", headers=bearer(key)).json()
    assert history["items"][0]["actor"] == "jane-doe"


def test_cli_create_defaults_to_contributor(api, cli):
    result = cli("keys", "create", "--name", "default-role")
    assert result.exit_code == 0, result.stderr
    key = result.stdout.strip()
    assert [r["role"] for r in key_rows(api) if r["name"] == "default-role"] == ["contributor"]
    assert can_write(api, key, "default-role-draft") == 201
    publish = api.post("/v1/initiatives/made-in-china-2025/retract", headers=bearer(key))
    assert publish.status_code == 403


def test_cli_created_key_has_its_role(api, cli):
    for role, retract, keys in [
        ("contributor", 403, 403),
        ("editor", 200, 403),
        ("admin", 200, 200),
    ]:
        result = cli("keys", "create", "--name", f"cli-{role}", "--role", role)
        assert result.exit_code == 0, result.stderr
        key = bearer(result.stdout.strip())
        assert api.post("/v1/initiatives/juguo-system/retract", headers=key).status_code == retract
        assert api.get("/v1/keys", headers=key).status_code == keys


def test_cli_create_rejects_unknown_role(api, cli):
    before = key_rows(api)
    result = cli("keys", "create", "--name", "someone", "--role", "superuser")
    assert result.exit_code != 0
    assert result.stdout == ""
    assert "superuser" in result.stderr
    assert key_rows(api) == before


def test_cli_create_refuses_a_taken_name(api, cli):
    first = cli("keys", "create", "--name", "twice", "--role", "editor")
    assert first.exit_code == 0
    rows = key_rows(api)
    second = cli("keys", "create", "--name", "twice", "--role", "admin")
    assert second.exit_code != 0
    assert second.stdout == ""
    assert "twice" in second.stderr
    assert key_rows(api) == rows
    assert can_write(api, first.stdout.strip(), "first-twice-still-works") == 201


def test_cli_list_never_shows_secrets(api, cli):
    secrets = [cli("keys", "create", "--name", f"lister-{n}").stdout.strip() for n in range(2)]
    result = cli("keys", "list")
    assert result.exit_code == 0, result.stderr
    out = result.stdout + result.stderr
    for name in ("lister-0", "lister-1", "test-admin", "test-editor", "test-contributor"):
        assert name in out
    for secret in [*secrets, *api.keys.values()]:
        assert secret not in out
        assert secret.split("_", 2)[2] not in out  # not even the random part
    for row in key_rows(api):
        assert row["key_hash"] not in out
    lines = {line.split("\t")[0]: line.split("\t") for line in result.stdout.splitlines()}
    assert lines["lister-0"][1] == "contributor"
    assert lines["test-admin"][1] == "admin"
    assert lines["lister-0"][2] == "active"


def test_cli_revoke_refuses_the_key_on_its_next_write(api, cli):
    key = cli("keys", "create", "--name", "leaver", "--role", "editor").stdout.strip()
    assert can_write(api, key, "before-revoking") == 201

    result = cli("keys", "revoke", "leaver")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""

    response = api.post("/v1/initiatives", json=draft_body("after-revoking"), headers=bearer(key))
    assert_401(response)
    assert "revoked" in response.json()["detail"]
    assert api.get("/v1/initiatives/after-revoking", headers=api.auth(Role.editor)).status_code == (
        404
    )
    # a sent key must be a good one, on reads too
    assert_401(api.get("/v1/initiatives", headers=bearer(key)))
    # other keys are untouched
    assert can_write(api, api.keys[Role.contributor], "others-still-work") == 201

    listed = cli("keys", "list").stdout.splitlines()
    assert [line.split("\t")[2] for line in listed if line.startswith("leaver\t")] == ["revoked"]
    assert cli("keys", "revoke", "leaver").exit_code == 0  # revoking twice is harmless
    assert_401(api.post("/v1/initiatives", json=draft_body("still-revoked"), headers=bearer(key)))


def test_cli_revoke_unknown_key_fails(api, cli):
    result = cli("keys", "revoke", "nobody-has-this-name")
    assert result.exit_code != 0
    assert "nobody-has-this-name" in result.stderr


def test_cli_list_shows_expired_keys_as_expired(api, cli):
    create_key(api.db.engine, "lapsed", Role.editor, datetime.now(UTC) - timedelta(days=1))
    lines = cli("keys", "list").stdout.splitlines()
    assert [line.split("\t")[2] for line in lines if line.startswith("lapsed\t")] == ["expired"]


# --- what is stored --------------------------------------------------------------------------


def test_only_a_hash_of_each_key_is_stored(api, cli, admin):
    from_cli = cli("keys", "create", "--name", "stored-cli", "--role", "editor").stdout.strip()
    over_http = api.post("/v1/keys", json={"name": "stored-http", "role": "admin"}, headers=admin)
    assert over_http.status_code == 201
    secrets = [from_cli, over_http.json()["key"], *api.keys.values()]

    rows = {r["name"]: r for r in key_rows(api)}
    assert {"stored-cli", "stored-http", "test-admin"} <= set(rows)
    for row in rows.values():
        assert len(row["key_hash"]) == 64
        assert row["prefix"]
    everything = database_text(api)
    for secret in secrets:
        assert secret not in everything
        assert secret.split("_", 2)[2] not in everything
    # each key's public prefix is the one stored, so keys can be told apart without secrets
    assert from_cli.split("_")[1] == rows["stored-cli"]["prefix"]
    assert over_http.json()["prefix"] == rows["stored-http"]["prefix"]


# --- expiry and bad keys ---------------------------------------------------------------------


def test_expired_key_gets_401(api):
    past = datetime.now(UTC) - timedelta(minutes=1)
    key, _ = create_key(api.db.engine, "expired-editor", Role.editor, past)
    response = api.post("/v1/initiatives", json=draft_body("by-expired"), headers=bearer(key))
    assert_401(response)
    assert "expired" in response.json()["detail"]
    assert_401(api.get("/v1/initiatives", headers=bearer(key)))
    assert api.get("/v1/initiatives/by-expired", headers=api.auth(Role.editor)).status_code == 404


def test_key_works_until_it_expires(api, admin):
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    created = api.post(
        "/v1/keys", json={"name": "temp", "role": "contributor", "expires_at": soon}, headers=admin
    )
    assert created.status_code == 201, created.text
    assert created.json()["expires_at"] is not None
    key = created.json()["key"]
    assert can_write(api, key, "before-expiry") == 201

    with api.db.engine.begin() as conn:
        conn.execute(
            update(KEYS)
            .where(KEYS.c.name == "temp")
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert_401(api.post("/v1/initiatives", json=draft_body("after-expiry"), headers=bearer(key)))


BAD_HEADERS = [
    "Bearer not-a-key",
    "Bearer pt_deadbeef_" + "x" * 43,
    "Bearer ",
    "Basic dXNlcjpwYXNz",
    "pt_deadbeef_abc",
    "Bearer " + "pt_" + "a" * 300,
]


def test_bad_keys_get_401(api):
    for header in BAD_HEADERS:
        response = api.post(
            "/v1/initiatives", json=draft_body("bad-key"), headers={"Authorization": header}
        )
        assert_401(response)
    assert api.get("/v1/initiatives/bad-key", headers=api.auth(Role.editor)).status_code == 404


def test_tampered_key_gets_401(api):
    """Right prefix, wrong secret: the hash decides, not the prefix."""
    good = api.keys[Role.admin]
    tampered = good[:-1] + ("A" if good[-1] != "A" else "B")
    assert_401(api.post("/v1/initiatives", json=draft_body("tampered"), headers=bearer(tampered)))
    assert_401(api.get("/v1/keys", headers=bearer(tampered)))


# --- /v1/keys over HTTP ----------------------------------------------------------------------


def test_keys_endpoints_are_admin_only(api):
    before = key_rows(api)
    for method, path, body in [
        ("GET", "/v1/keys", None),
        ("POST", "/v1/keys", {"name": "sneaky", "role": "admin"}),
        ("POST", "/v1/keys/test-admin/revoke", None),
    ]:
        assert_401(api.request(method, path, json=body))
        for role in (Role.contributor, Role.editor):
            response = api.request(method, path, json=body, headers=api.auth(role))
            assert response.status_code == 403, (method, path, role, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
    assert key_rows(api) == before


def test_admin_creates_lists_and_revokes_keys(api, admin):
    created = api.post("/v1/keys", json={"name": "new-editor", "role": "editor"}, headers=admin)
    assert created.status_code == 201, created.text
    body = created.json()
    secret = body["key"]
    assert body["name"] == "new-editor"
    assert body["role"] == "editor"
    assert body["revoked_at"] is None
    assert secret.startswith("pt_")

    # the new key works, with its role
    assert api.post("/v1/initiatives/juguo-system/retract", headers=bearer(secret)).status_code == (
        200
    )
    assert api.get("/v1/keys", headers=bearer(secret)).status_code == 403

    listed = api.get("/v1/keys", headers=admin)
    assert listed.status_code == 200
    page = listed.json()
    names = [k["name"] for k in page["items"]]
    assert {"new-editor", "test-admin", "test-editor", "test-contributor"} <= set(names)
    assert page["total"] == len(page["items"])
    assert secret not in listed.text
    for value in api.keys.values():
        assert value not in listed.text
    for item in page["items"]:
        assert "key" not in item
        assert "key_hash" not in item
    assert all(row["key_hash"] not in listed.text for row in key_rows(api))

    revoked = api.post("/v1/keys/new-editor/revoke", headers=admin)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"] is not None
    assert "key" not in revoked.json()
    assert_401(api.post("/v1/initiatives/juguo-system/publish", headers=bearer(secret)))
    assert api.get("/v1/initiatives/juguo-system").status_code == 404  # still retracted

    relisted = {k["name"]: k for k in api.get("/v1/keys", headers=admin).json()["items"]}
    assert relisted["new-editor"]["revoked_at"] is not None
    assert relisted["test-editor"]["revoked_at"] is None


def test_http_created_key_is_shown_once(api, admin):
    secret = api.post("/v1/keys", json={"name": "once", "role": "contributor"}, headers=admin)
    secret = secret.json()["key"]
    for response in (
        api.get("/v1/keys", headers=admin),
        api.post("/v1/keys/once/revoke", headers=admin),
    ):
        assert secret not in response.text


def test_admin_key_creation_is_validated(api, admin):
    before = key_rows(api)
    for body, status in [
        ({"name": "test-editor", "role": "contributor"}, 409),
        ({"name": "x", "role": "superuser"}, 422),
        ({"name": "", "role": "editor"}, 422),
        ({"name": "has space", "role": "editor"}, 422),
        ({"name": "ok", "role": "editor", "extra": 1}, 422),
        ({"role": "editor"}, 422),
        ({"name": "ok", "role": "editor", "expires_at": "tomorrow"}, 422),
    ]:
        response = api.post("/v1/keys", json=body, headers=admin)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert key_rows(api) == before
    assert api.post("/v1/keys/no-such-key/revoke", headers=admin).status_code == 404


def test_reads_can_be_closed_to_anonymous_users(database):
    settings = Settings(database_url=database.url, anonymous_reads=False)
    app = create_app(settings)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            for path in (
                "/v1/initiatives",
                "/v1/initiatives/made-in-china-2025",
                "/v1/initiatives/made-in-china-2025/history",
                "/v1/sectors",
            ):
                assert_401(client.get(path))
                with_key = client.get(path, headers=bearer(database.keys[Role.contributor]))
                assert with_key.status_code == 200, path
            assert_401(client.get("/v1/initiatives", headers=bearer("pt_deadbeef_nope")))
    finally:
        app.state.engine.dispose()
