"""The write guard cannot be forgotten.

The first tests walk the app's own OpenAPI document: every operation that is not a GET is called
anonymously, with a bad key, and with every role below the one it declares, and must answer
401/403 and leave the database exactly as it was. Each call carries a request that the right role
would see succeed (checked at the end), so a missing guard would show up as a change.

The last tests prove the app refuses to start when a write route has no guard.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from starlette.requests import Request
from starlette.responses import JSONResponse

import api.main
from api.auth.deps import READ_METHODS, REQUIRED_ROLE, assert_writes_guarded, write_route
from api.auth.service import create_key
from api.auth.tables import ROLE_RANK, Role
from api.config import Settings
from api.errors import install_error_handlers
from api.main import create_app
from api.tables import metadata

SOURCE = "lse-ideas-techno-nationalism-2021"
EVIDENCE = [{"source": SOURCE, "excerpt": "two-pronged-approach"}]
SEEDED = {
    "initiatives": "made-in-china-2025",
    "sectors": "5g",
    "organizations": "caltech",
    "sources": SOURCE,
}
BAD_KEY = "pt_deadbeef_" + "A" * 43
EXPECTED_SUCCESS = {
    "create": 201,
    "update": 200,
    "delete": 204,
    "publish": 200,
    "retract": 200,
    "restore": 200,
}


def create_body(resource: str, slug: str) -> dict[str, Any]:
    return {
        "initiatives": {
            "slug": slug,
            "name": "Guard test",
            "kind": "plan",
            "country": "CN",
            "evidence": EVIDENCE,
        },
        "sectors": {"slug": slug, "name": "Guard test", "kind": "industry", "evidence": EVIDENCE},
        "organizations": {
            "slug": slug,
            "name": "Guard test",
            "kind": "agency",
            "evidence": EVIDENCE,
        },
        "sources": {"slug": slug, "title": "Guard test"},
    }[resource]


def patch_body(resource: str) -> dict[str, Any]:
    return {"title": "Changed"} if resource == "sources" else {"name": "Changed"}


@dataclass
class Call:
    """One write operation of the OpenAPI document, with a request that would succeed."""

    method: str
    template: str
    operation_id: str
    required: Role
    path: str
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    success: int | None = None  # the status the required role gets; None: not known here

    def __str__(self) -> str:
        return f"{self.method} {self.template} ({self.operation_id})"


@pytest.fixture
def client(database) -> Iterator[TestClient]:
    """The app over the test database, with rate limits off (this test fails auth a lot)."""
    settings = Settings(
        database_url=database.url,
        cors_origins=["https://app.example.org"],
        auth_failure_limit=0,
        write_rate_limit=0,
    )
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
    app.state.engine.dispose()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def write_routes(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    """(method, full path, route) of every write route, routers included at any depth."""
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            found.extend(
                (m, context.path, route) for m in (context.methods or set()) - READ_METHODS
            )
    return found


def database_state(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but the rate-limit counters, in primary-key order."""
    state = {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name.startswith("rate_limit"):
                continue
            query = select(table).order_by(*table.primary_key.columns)
            state[table.name] = [tuple(row) for row in conn.execute(query)]
    return state


def prepare_targets(client: TestClient, database) -> bytes:
    """Records each write operation can act on: drafts to publish or delete, deleted records
    to restore, a key to revoke; returns an import body that would change a record."""
    editor = bearer(database.keys[Role.editor])
    for resource in SEEDED:
        for kind in ("draft", "doomed", "gone"):
            slug = f"guard-{kind}-{resource}"
            response = client.post(
                f"/v1/{resource}", json=create_body(resource, slug), headers=editor
            )
            assert response.status_code == 201, response.text
        gone = client.delete(
            f"/v1/{resource}/guard-gone-{resource}", headers={**editor, "If-Match": "*"}
        )
        assert gone.status_code == 204, gone.text
    create_key(database.engine, "guard-victim", Role.contributor)
    exported = client.get("/v1/export?resource=sources", headers=editor)
    assert exported.status_code == 200, exported.text
    line = json.loads(exported.text.splitlines()[0])
    line["record"]["title"] = "Changed by import"
    return json.dumps(line).encode() + b"\n"


def plan(
    operation_id: str, method: str, template: str, required: Role, op: dict, import_body: bytes
) -> Call:
    verb = operation_id.split("_", 1)[0]
    resource = template.split("/")[2]
    call = Call(method, template, operation_id, required, template)
    if operation_id == "import_database":
        call.content, call.success = import_body, 200
        call.headers = {"Content-Type": "application/x-ndjson"}
        return call
    if resource == "keys":
        call.path = template.replace("{name}", "guard-victim")
        if operation_id == "create_key":
            call.json, call.success = {"name": "guard-intruder", "role": "admin"}, 201
        elif operation_id == "revoke_key":
            call.success = 200
        return call
    if resource not in SEEDED or verb not in EXPECTED_SUCCESS:
        # An operation this test does not know yet: still must refuse callers below its role.
        call.path = template.replace("{slug}", SEEDED.get(resource, "guard-unknown"))
        for name in ("{name}", "{id}"):
            call.path = call.path.replace(name, "guard-unknown")
        if "requestBody" in op:
            call.json = {}
        return call
    slug = {
        "update": SEEDED[resource],
        "retract": SEEDED[resource],
        "delete": f"guard-doomed-{resource}",
        "publish": f"guard-draft-{resource}",
        "restore": f"guard-gone-{resource}",
    }.get(verb)
    if slug:
        call.path = template.replace("{slug}", slug)
    if verb == "create":
        call.json = create_body(resource, f"guard-new-{resource}")
    if verb == "update":
        call.json = patch_body(resource)
    if verb in ("update", "delete"):
        call.headers = {"If-Match": "*"}
        if verb == "delete":
            call.path += "?detach=true"
    call.success = EXPECTED_SUCCESS[verb]
    return call


def write_operations(client: TestClient, import_body: bytes) -> list[Call]:
    document = client.get("/openapi.json").json()
    calls = []
    for template, item in document["paths"].items():
        for method, op in item.items():
            if method.upper() in READ_METHODS or method.startswith("x-"):
                continue
            role = op.get(REQUIRED_ROLE)
            assert role in {r.value for r in Role}, (
                f"{method.upper()} {template} declares no valid {REQUIRED_ROLE}: {role!r}"
            )
            call = plan(op["operationId"], method.upper(), template, Role(role), op, import_body)
            calls.append(call)
    return calls


def test_every_write_operation_refuses_anonymous_and_lesser_callers(client, database):
    import_body = prepare_targets(client, database)
    calls = write_operations(client, import_body)
    assert len(calls) >= 27  # 6 per resource, 2 for keys, import
    before = database_state(database.engine)
    failures = []

    def send(call: Call, headers: dict[str, str]) -> Any:
        return client.request(
            call.method,
            call.path,
            json=call.json,
            content=call.content,
            headers={**call.headers, **headers},
        )

    def attempt(call: Call, who: str, headers: dict[str, str], expected: int) -> None:
        response = send(call, headers)
        now = database_state(database.engine)
        if now != before:
            failures.append(f"{call} as {who}: the database changed")
            before.clear()
            before.update(now)  # report each change once
        if response.status_code != expected:
            failures.append(f"{call} as {who}: {response.status_code}, expected {expected}")
            return
        if not response.headers.get("content-type", "").startswith("application/problem+json"):
            failures.append(f"{call} as {who}: not a problem+json response")
        if expected == 401 and "bearer" not in response.headers.get("www-authenticate", "").lower():
            failures.append(f"{call} as {who}: 401 without WWW-Authenticate: Bearer")

    for call in calls:
        attempt(call, "anonymous", {}, 401)
        attempt(call, "a bad key", bearer(BAD_KEY), 401)
        attempt(call, "a malformed header", {"Authorization": "Token abc"}, 401)
        for role in Role:
            if ROLE_RANK[role] < ROLE_RANK[call.required]:
                attempt(call, role.value, bearer(database.keys[role]), 403)
    assert not failures, "\n".join(failures)

    # The same requests succeed for the role each operation asks for, so the refusals above
    # were the guard's doing and not a bad request.
    for call in calls:
        response = send(call, bearer(database.keys[call.required]))
        if call.success is not None and response.status_code != call.success:
            failures.append(f"{call} as {call.required.value}: {response.status_code}")
        elif response.status_code in (401, 403):
            failures.append(f"{call} as {call.required.value}: refused ({response.status_code})")
    assert not failures, "\n".join(failures)


def test_every_write_route_is_in_the_openapi_document(client):
    """The walk above sees every write route the app serves (none is hidden from the schema)."""
    document = client.get("/openapi.json").json()
    documented = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    for method, path, _ in write_routes(client.app):
        assert (method, path) in documented, f"{method} {path} is hidden from /openapi.json"


def test_write_operations_document_401_and_403(client):
    document = client.get("/openapi.json").json()
    for path, item in document["paths"].items():
        for method, op in item.items():
            if method.upper() not in READ_METHODS:
                assert {"401", "403"} <= set(op["responses"]), f"{method} {path}"


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "as_contributor"),
    [
        ("PATCH", "/v1/initiatives/made-in-china-2025", {"name": "x"}, {}, 428),
        ("DELETE", "/v1/initiatives/made-in-china-2025", None, {}, 403),
        ("POST", "/v1/initiatives", {"slug": "Not A Slug!", "kind": "nonsense"}, {}, 422),
        ("PATCH", "/v1/initiatives/no-such-initiative", {"name": "x"}, {"If-Match": "*"}, 404),
        ("POST", "/v1/initiatives/no-such-initiative/publish", None, {}, 403),
        ("DELETE", "/v1/initiatives/no-such-initiative", None, {"If-Match": "*"}, 403),
    ],
)
def test_the_guard_answers_before_anything_else(api, method, path, body, headers, as_contributor):
    """Callers without the right learn nothing about records, versions or validation: the
    guard's 401/403 comes before 404, 422 and 428."""
    response = api.request(method, path, json=body, headers=headers)
    assert response.status_code == 401, response.text
    headers = {**headers, **api.auth(Role.contributor)}
    response = api.request(method, path, json=body, headers=headers)
    assert response.status_code == as_contributor, response.text


# --- the app refuses to start with an unguarded write route ----------------------------------


async def handler() -> dict[str, str]:
    return {"ok": "yes"}


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_an_unguarded_write_route_is_refused(method):
    app = FastAPI()
    app.add_api_route("/things/{slug}", handler, methods=[method])
    with pytest.raises(RuntimeError, match="/things/"):
        assert_writes_guarded(app.routes)


def test_a_route_that_also_writes_is_refused():
    app = FastAPI()
    app.add_api_route("/things", handler, methods=["GET", "POST"])
    with pytest.raises(RuntimeError, match="/things"):
        assert_writes_guarded(app.routes)


def test_an_unguarded_write_route_in_a_router_is_refused():
    router = APIRouter(prefix="/v1/widgets")
    router.add_api_route("", handler, methods=["GET"])
    router.add_api_route("/{slug}", handler, methods=["DELETE"])
    app = FastAPI()
    app.include_router(router)
    with pytest.raises(RuntimeError, match="/v1/widgets/"):
        assert_writes_guarded(app.routes)


def test_guarded_writes_and_plain_reads_pass():
    app = FastAPI()
    app.add_api_route("/things", handler, methods=["GET"])
    app.add_api_route("/things", handler, methods=["POST"], **write_route(Role.contributor))
    app.add_api_route("/things/{slug}", handler, methods=["DELETE"], **write_route(Role.editor))
    assert_writes_guarded(app.routes)


def test_create_app_refuses_to_start_with_an_unguarded_write_route(monkeypatch, tmp_path: Path):
    careless = APIRouter()
    careless.include_router(api.main.keys_router)
    careless.add_api_route("/v1/keys/{name}/rotate", handler, methods=["POST"])
    monkeypatch.setattr(api.main, "keys_router", careless)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'never-used.db'}")
    with pytest.raises(RuntimeError, match="rotate"):
        create_app(settings)


def test_create_app_starts_when_every_write_is_guarded(tmp_path: Path):
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'never-used.db'}"))
    try:
        writes = write_routes(app)
        assert len(writes) >= 26
        for method, path, route in writes:
            role = (route.openapi_extra or {}).get(REQUIRED_ROLE)
            assert role in {r.value for r in Role}, f"{method} {path}"
            guards = [d.dependency.__name__ for d in route.dependencies]
            assert f"requires_{role}" in guards, f"{method} {path} has no {role} guard"
    finally:
        app.state.engine.dispose()


def test_a_write_route_marked_but_without_its_guard_is_refused():
    app = FastAPI()
    app.add_api_route(
        "/things", handler, methods=["POST"], openapi_extra={REQUIRED_ROLE: Role.editor.value}
    )
    with pytest.raises(RuntimeError, match="/things"):
        assert_writes_guarded(app.routes)


def test_a_plain_starlette_write_route_is_refused():
    async def endpoint(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    app = FastAPI()
    app.add_route("/raw", endpoint, methods=["POST"])
    with pytest.raises(RuntimeError, match="/raw"):
        assert_writes_guarded(app.routes)


def test_the_guard_dependency_really_runs(tmp_path: Path):
    """write_route() attaches a dependency that refuses a caller without a key."""
    app = FastAPI()
    app.state.settings = Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}")
    app.state.engine = None  # the guard asks for it, but refuses before using it
    install_error_handlers(app)
    app.add_api_route("/things", handler, methods=["POST"], **write_route(Role.editor))
    with TestClient(app, raise_server_exceptions=False) as c:
        response = c.post("/things")
    assert response.status_code == 401
    assert response.json()["status"] == 401
