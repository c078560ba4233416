"""Operations: /healthz, /readyz, /metrics, request ids and the JSON access log, over HTTP."""

import io
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic import command
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.cli import alembic_config
from api.config import Settings
from api.main import create_app
from api.ops.logging import (
    ACCESS_LOGGER,
    JsonFormatter,
    TextFormatter,
    configure_logging,
    redact,
    request_id_var,
)
from api.ops.metrics import MULTIPROC_ENV, prepare_multiprocess_dir
from api.ops.router import migration_heads

ROOT = Path(__file__).resolve().parents[2]
HEX32 = re.compile(r"[0-9a-f]{32}")


def ops_app(database_url: str) -> FastAPI:
    return create_app(Settings(database_url=database_url))


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    command.upgrade(alembic_config(url), "head")
    app = ops_app(url)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
    app.state.engine.dispose()


def test_healthz_answers_without_touching_the_database() -> None:
    app = ops_app("postgresql+psycopg://nobody@127.0.0.1:1/nowhere")
    with TestClient(app) as test_client:
        response = test_client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["cache-control"] == "no-store"


def test_readyz_is_200_with_the_head_revision_when_migrated(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "revision": ", ".join(sorted(migration_heads()))}


def _assert_not_ready(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == 503
    assert problem["type"].endswith("/not-ready")
    assert problem["title"]
    assert reason in problem["detail"]


def test_readyz_is_503_until_migrated_then_200_without_a_restart(
    empty_database_url: str,
) -> None:
    app = ops_app(empty_database_url)
    with TestClient(app) as test_client:
        _assert_not_ready(test_client.get("/readyz"), "not migrated")
        command.upgrade(alembic_config(empty_database_url), "head")
        assert test_client.get("/readyz").status_code == 200
        command.downgrade(alembic_config(empty_database_url), "base")
        _assert_not_ready(test_client.get("/readyz"), "not migrated")
    app.state.engine.dispose()


def test_readyz_is_503_when_the_database_is_behind_the_scripts(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'behind.db'}"
    command.upgrade(alembic_config(url), "head")
    app = ops_app(url)
    with app.state.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'an_old_revision'")
    with TestClient(app) as test_client:
        _assert_not_ready(test_client.get("/readyz"), "an_old_revision")
    app.state.engine.dispose()


def test_readyz_is_503_when_postgresql_is_unreachable() -> None:
    app = ops_app("postgresql+psycopg://nobody@127.0.0.1:1/nowhere")
    with TestClient(app) as test_client:
        _assert_not_ready(test_client.get("/readyz"), "database unreachable")


def test_readyz_recovers_when_the_database_comes_back(tmp_path: Path) -> None:
    db = tmp_path / "flaky.db"
    url = f"sqlite:///{db}"
    command.upgrade(alembic_config(url), "head")
    app = ops_app(url)
    with TestClient(app) as test_client:
        assert test_client.get("/readyz").status_code == 200
        # The database goes away: its file is moved and a directory stands in its place.
        app.state.engine.dispose()
        db.rename(tmp_path / "elsewhere.db")
        db.mkdir()
        _assert_not_ready(test_client.get("/readyz"), "database unreachable")
        _assert_not_ready(test_client.get("/readyz"), "database unreachable")
        # ...and comes back: the same app answers 200 again.
        db.rmdir()
        (tmp_path / "elsewhere.db").rename(db)
        assert test_client.get("/readyz").status_code == 200
    app.state.engine.dispose()


def test_ops_routes_are_documented(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert paths["/healthz"]["get"]["operationId"] == "healthz"
    assert paths["/readyz"]["get"]["operationId"] == "readyz"
    assert "application/problem+json" in paths["/readyz"]["get"]["responses"]["503"]["content"]
    assert paths["/metrics"]["get"]["operationId"] == "metrics"


def _sample(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_requests_by_route_template_and_status(client: TestClient) -> None:
    before = client.get("/metrics").text
    client.get("/v1/initiatives/no-such-initiative")
    client.get("/v1/initiatives/another-missing-one")
    client.get("/no/such/path")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    counter = "policy_tracker_http_requests_total"
    by_slug = {"method": "GET", "route": "/v1/initiatives/{slug}", "status": "404"}
    assert _sample(text, counter, **by_slug) - _sample(before, counter, **by_slug) == 2
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert _sample(text, counter, **unmatched) - _sample(before, counter, **unmatched) == 1
    assert "no-such-initiative" not in text
    assert 'policy_tracker_http_request_duration_seconds_bucket{le="0.005",method="GET"' in text
    assert 'policy_tracker_db_pool_connections{state="checked_out"}' in text
    assert "policy_tracker_db_pool_size" in text


def test_request_id_is_returned_as_given(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "abc.DEF_123-xyz"})
    assert response.headers["x-request-id"] == "abc.DEF_123-xyz"


def test_request_id_is_generated_when_absent(client: TestClient) -> None:
    first = client.get("/healthz").headers["x-request-id"]
    second = client.get("/healthz").headers["x-request-id"]
    assert HEX32.fullmatch(first)
    assert HEX32.fullmatch(second)
    assert first != second


@pytest.mark.parametrize("bad", ["x" * 129, "has space", "semi;colon", "ünï", ""])
def test_invalid_request_id_is_replaced(client: TestClient, bad: str) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": bad.encode()})
    assert HEX32.fullmatch(response.headers["x-request-id"])


def test_request_id_reaches_problem_responses(client: TestClient) -> None:
    response = client.get("/v1/initiatives/missing-one", headers={"X-Request-ID": "trace-42"})
    assert response.status_code == 404
    assert response.headers["x-request-id"] == "trace-42"


def test_one_json_access_line_per_request_with_no_secret(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "ptk_live_0123456789abcdef"
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        response = client.get(
            "/v1/initiatives/not-there?api_key=" + secret,
            headers={"X-Request-ID": "req-7", "Authorization": f"Bearer {secret}"},
        )
    records = [r for r in caplog.records if r.name == ACCESS_LOGGER]
    assert len(records) == 1
    line = JsonFormatter().format(records[0])
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["method"] == "GET"
    assert entry["route"] == "/v1/initiatives/{slug}"
    assert entry["path"] == "/v1/initiatives/not-there"
    assert entry["status"] == response.status_code
    assert entry["request_id"] == "req-7"
    assert entry["client"] == "testclient"
    assert isinstance(entry["duration_ms"], float)
    assert entry["level"] == "INFO"
    assert entry["ts"].endswith("+00:00")
    every_line = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert secret not in every_line


def test_configure_logging_writes_json_off_a_terminal_and_text_on_request() -> None:
    stream = io.StringIO()
    configure_logging(Settings(log_format="auto"), stream=stream)
    token = request_id_var.set("rid-1")
    try:
        logging.getLogger("api.test").warning("hello %s", "world", extra={"answer": 42})
    finally:
        request_id_var.reset(token)
    entry = json.loads(stream.getvalue().splitlines()[-1])
    assert entry == {
        "ts": entry["ts"],
        "level": "WARNING",
        "logger": "api.test",
        "msg": "hello world",
        "request_id": "rid-1",
        "answer": 42,
    }
    text_stream = io.StringIO()
    configure_logging(Settings(log_format="text"), stream=text_stream)
    logging.getLogger("api.test").warning("plain words")
    assert "WARNING api.test: plain words" in text_stream.getvalue()
    root = logging.getLogger()
    assert sum(type(h).__name__ == "OpsStreamHandler" for h in root.handlers) == 1
    configure_logging(Settings(log_format="json"))


def test_text_formatter_adds_the_request_id() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "GET / 200", None, None)
    record.request_id = "rid-9"
    assert TextFormatter().format(record).endswith("GET / 200 [rid-9]")


def test_redact_masks_bearer_tokens_and_keys() -> None:
    assert redact("Authorization: Bearer abcdef123456") == "Authorization: [redacted]"
    assert redact('{"api_key": "k-123456789"}') == '{"api_key": "[redacted]"}'
    assert redact("sent bearer abcdef123456 twice") == "sent bearer [redacted] twice"
    assert redact("authorization failed for key named ci") == (
        "authorization failed for key named ci"
    )


def test_prepare_multiprocess_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MULTIPROC_ENV, "")  # recorded, so teardown restores the real value
    monkeypatch.delenv(MULTIPROC_ENV)
    assert prepare_multiprocess_dir(1) is None
    made = prepare_multiprocess_dir(2)
    assert made is not None
    assert made.is_dir()
    assert os.environ[MULTIPROC_ENV] == str(made)
    shutil.rmtree(made)
    given = tmp_path / "metrics"
    given.mkdir()
    (given / "counter_123.db").write_bytes(b"stale")
    monkeypatch.setenv(MULTIPROC_ENV, str(given))
    assert prepare_multiprocess_dir(4) == given
    assert list(given.iterdir()) == []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_metrics_add_up_over_several_workers(tmp_path: Path) -> None:
    """Two uvicorn workers, requests spread over both: /metrics counts every one of them."""
    url = f"sqlite:///{tmp_path / 'workers.db'}"
    command.upgrade(alembic_config(url), "head")
    (tmp_path / "ops_workers_app.py").write_text(
        textwrap.dedent(
            f"""
            from api.config import Settings
            from api.main import create_app

            def make():
                return create_app(Settings(database_url={url!r}, log_level="WARNING"))
            """
        )
    )
    port = _free_port()
    script = textwrap.dedent(
        f"""
        import uvicorn
        from api.config import Settings
        from api.ops import prepare_multiprocess_dir, uvicorn_log_config
        prepare_multiprocess_dir(2)
        uvicorn.run("ops_workers_app:make", factory=True, host="127.0.0.1", port={port},
                    workers=2, access_log=False,
                    log_config=uvicorn_log_config(Settings(log_level="WARNING")))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != MULTIPROC_ENV}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(ROOT)])
    server = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not become ready"
            assert server.poll() is None, "server exited early"
            time.sleep(0.2)
        for _ in range(40):
            # A new connection each time, so the kernel spreads them over both workers.
            with httpx.Client() as one_shot:
                one_shot.get(f"{base}/healthz", headers={"Connection": "close"})
        for _ in range(6):
            with httpx.Client() as one_shot:
                text = one_shot.get(f"{base}/metrics").text
            count = _sample(
                text,
                "policy_tracker_http_requests_total",
                method="GET",
                route="/healthz",
                status="200",
            )
            assert count == 40, text
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert server.returncode == 0, server.stderr.read() if server.stderr else ""


def test_uvicorn_log_config_sends_uvicorn_lines_through_our_json_handler() -> None:
    script = textwrap.dedent(
        """
        import logging, logging.config
        from api.config import Settings
        from api.ops import uvicorn_log_config
        logging.config.dictConfig(uvicorn_log_config(Settings(log_format="json")))
        logging.getLogger("uvicorn.error").info("Started server process")
        logging.getLogger("uvicorn.access").info("must not appear")
        """
    )
    env = {k: v for k, v in os.environ.items() if k != MULTIPROC_ENV}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert [line["msg"] for line in lines] == ["Started server process"]
    assert lines[0]["logger"] == "uvicorn.error"
