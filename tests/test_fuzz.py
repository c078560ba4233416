"""Property-based fuzzing of the whole OpenAPI surface with schemathesis, on both databases.

Every operation of the app's own ``/openapi.json`` gets a test item per database kind that runs
all of schemathesis's phases on it: the document's examples, the coverage phase (boundary
values and every kind of invalid value, deterministic) and random fuzzing, valid and invalid
data both (``generation.mode = all``). Every response must pass the six checks in
``CHECK_NAMES``.

Every request is sent as the operation's principal, the least privileged role that may use it
fully (editor for the record and operations endpoints; editors also see drafts; admin for
``/v1/keys``), and once more as one of the other callers (anonymous, a key that is not valid,
and the other roles), chosen by a hash of the request so each caller gets a quarter of all
requests. Generating a request costs far more than sending it, so this is how every caller gets
hundreds of requests within CI's budget.

``FUZZ_EXAMPLES=n`` (``make fuzz``) runs ``n`` random examples per operation instead of
``CI_EXAMPLES`` and sends every request as every caller. ``FUZZ_SEED=n`` replays a run.

One seeded database per kind serves all the items of a test process: writes accumulate as they
would on a real server (a delete really deletes, a create really takes the slug). To make
requests reach records rather than 404, valid requests name seeded slugs for ``{slug}`` about
half the time, and writes that need ``If-Match`` get ``*`` or a version tag most of the time
(the header is not in the OpenAPI document, so schemathesis would never send it).

Known bugs: ``BUGS`` lists each API bug the fuzzing found, with the exact failure it causes
(dropped from the fuzz results by ``filter_failure``, so the rest of that operation is still
fuzzed) and a minimal reproduction that runs as a strict xfail. When a bug is fixed its
reproduction XPASSes and fails the suite: move its reproduction to ``FIXED``, where it keeps
running as a plain regression test, and the fuzzing covers the operation fully again.
"""

import json
import os
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import checks as builtin_checks

from api.auth.service import create_key
from api.auth.tables import Role
from tests.fuzz_support import app_over, bearer, known_slugs, shared_database

LONG = bool(os.environ.get("FUZZ_EXAMPLES"))
CI_EXAMPLES = 10
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or CI_EXAMPLES)
SEED = os.environ.get("FUZZ_SEED")
CHECK_NAMES = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "ignored_auth",
)
CALLERS = ("anonymous", "bad-key", "contributor", "editor", "admin")
BAD_KEY = "pt_0badc0de_" + "x" * 43
VICTIM_KEY = "fuzz-victim"
WRITES_WITH_IF_MATCH = ("update_", "delete_", "publish_", "retract_")


def _config() -> schemathesis.Config:
    data: dict[str, Any] = {
        "generation": {"mode": "all"},
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": False},
        },
    }
    if SEED:
        data["seed"] = int(SEED)
    return schemathesis.Config.from_dict(data)


class Dispatch:
    """The one ASGI app schemathesis knows: forwards each request to the current test's app.

    Schemathesis keeps every app it has called alive for the whole process; going through this
    one, the apps (and their database engines) go away with their fixture.
    """

    def __init__(self) -> None:
        self.app: FastAPI | None = None
        self.requests = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":  # the real app's lifespan runs in the fixture
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        assert self.app is not None, "no app under test"
        self.requests += 1
        await self.app(scope, receive, send)


DISPATCH = Dispatch()
KNOWN: dict[str, list[str]] = {}
SENT: dict[str, int] = {}


def _load() -> Any:
    """The OpenAPI document as the app serves it (serving it touches no database)."""
    url = f"sqlite:///{Path(tempfile.gettempdir()) / 'policy-tracker-fuzz-unused.db'}"
    with app_over(url) as app:
        DISPATCH.app = app
        try:
            return schemathesis.openapi.from_asgi("/openapi.json", DISPATCH, config=_config())
        finally:
            DISPATCH.app = None


SCHEMA = _load()


@schemathesis.serializer("application/x-ndjson")
def _ndjson(ctx: Any, value: Any) -> bytes:
    """The import body is a string in the document; anything else is sent as JSON text."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return json.dumps(value).encode()


@SCHEMA.hook
def flatmap_case(context: Any, case: Any) -> Any:
    """Point valid requests at records that exist, and send If-Match where it matters."""
    from schemathesis.core.parameters import ParameterLocation

    op_id = _op_id(case)
    path_is_negative = case.meta is not None and case.meta.is_negative_at(ParameterLocation.PATH)
    strategy = st.just(case)
    params = case.path_parameters or {}
    if not path_is_negative and "slug" in params:
        resource = case.operation.path.split("/")[2]

        def known(i: int) -> Any:
            choices = KNOWN.get(resource) or [params["slug"]]
            return _with_path(case, {**params, "slug": choices[i % len(choices)]})

        strategy = st.one_of(strategy, st.integers(0, 1 << 16).map(known))
    if not path_is_negative and "name" in params:
        victim = {**params, "name": VICTIM_KEY}
        strategy = st.one_of(strategy, st.just(victim).map(lambda p: _with_path(case, p)))
    if op_id.startswith(WRITES_WITH_IF_MATCH):
        tags = st.sampled_from([None, "*", "*", '"1"', '"2-0", W/"1-x"', '"3-abc"'])
        return st.tuples(strategy, tags).map(lambda pair: _with_header(*pair, "If-Match"))
    if op_id.startswith("get_"):
        tags = st.sampled_from([None, None, "*", '"1"'])
        return st.tuples(strategy, tags).map(lambda pair: _with_header(*pair, "If-None-Match"))
    return strategy


def _with_path(case: Any, params: dict[str, Any]) -> Any:
    case.path_parameters = params
    return case


def _with_header(case: Any, value: str | None, name: str) -> Any:
    if value is not None:
        case.headers = {**(case.headers or {}), name: value}
    return case


# --- known bugs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Bug:
    """An API bug the fuzzing found: what it looks like, and how to show it in one request."""

    id: str
    reason: str
    # (failure, case, response) -> this is the bug (the failure is dropped from the fuzzing)
    matches: Callable[[Any, Any, Any], bool]
    # (client, keys, openapi) -> asserts what the contract wants; fails while the bug is there
    reproduce: Callable[[TestClient, "Keys", "Doc"], None]


Keys = dict[Role, str]
Doc = dict[str, Any]


def _op_id(case: Any) -> str:
    return str(case.operation.definition.raw.get("operationId", ""))


def _kind(failure: Any) -> str:
    return type(failure).__name__


def _documented(openapi: Doc, method: str, path: str, status: int) -> dict[str, Any]:
    """The documented response for ``status``; fails when there is none."""
    responses = openapi["paths"][path][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {path} answered {status}: not documented"
    return responses[str(status)]


def _assert_documented(
    openapi: Doc, method: str, path: str, response: Any, ok: tuple[int, ...] = ()
) -> None:
    if ok:
        assert response.status_code in ok, (response.status_code, response.text[:300])
    documented = _documented(openapi, method, path, response.status_code)
    media = response.headers.get("content-type", "").split(";")[0].strip()
    if response.content:
        content = documented.get("content", {})
        assert media in content, f"{method} {path} answered {media}; documented: {list(content)}"


def _repro_list_403(client: TestClient, keys: Keys, openapi: Doc) -> None:
    r = client.get("/v1/initiatives", params={"review_status": "draft"})
    _assert_documented(openapi, "GET", "/v1/initiatives", r, (403,))


def _repro_list_formats(client: TestClient, keys: Keys, openapi: Doc) -> None:
    for fmt in ("csv", "ndjson"):
        r = client.get("/v1/sectors", params={"format": fmt})
        _assert_documented(openapi, "GET", "/v1/sectors", r, (200,))


def _repro_create_409(client: TestClient, keys: Keys, openapi: Doc) -> None:
    body = {"slug": "5g", "name": "Again", "kind": "technology"}
    r = client.post("/v1/sectors", json=body, headers=bearer(keys[Role.contributor]))
    _assert_documented(openapi, "POST", "/v1/sectors", r, (409,))


def _repro_publish_409(client: TestClient, keys: Keys, openapi: Doc) -> None:
    editor = bearer(keys[Role.editor])
    body = {"slug": "no-evidence-yet", "name": "No evidence yet", "kind": "industry"}
    assert client.post("/v1/sectors", json=body, headers=editor).status_code == 201
    r = client.post("/v1/sectors/no-evidence-yet/publish", headers=editor)
    _assert_documented(openapi, "POST", "/v1/sectors/{slug}/publish", r, (409,))


def _repro_key_409(client: TestClient, keys: Keys, openapi: Doc) -> None:
    body = {"name": "test-editor", "role": "editor"}
    r = client.post("/v1/keys", json=body, headers=bearer(keys[Role.admin]))
    _assert_documented(openapi, "POST", "/v1/keys", r, (409,))


def _repro_revoke_404(client: TestClient, keys: Keys, openapi: Doc) -> None:
    r = client.post("/v1/keys/no-such-key/revoke", headers=bearer(keys[Role.admin]))
    _assert_documented(openapi, "POST", "/v1/keys/{name}/revoke", r, (404,))


def _repro_dates_as_numbers(client: TestClient, keys: Keys, openapi: Doc) -> None:
    key = {"name": "epoch", "role": "contributor", "expires_at": 0}
    r = client.post("/v1/keys", json=key, headers=bearer(keys[Role.admin]))
    source = {"slug": "epoch-source", "title": "Epoch", "published_on": 0}
    r2 = client.post("/v1/sources", json=source, headers=bearer(keys[Role.editor]))
    assert (r.status_code, r2.status_code) == (422, 422), (r.text[:300], r2.text[:300])


def _repro_read_401(client: TestClient, keys: Keys, openapi: Doc) -> None:
    r = client.get("/v1/initiatives", headers=bearer(BAD_KEY))
    _assert_documented(openapi, "GET", "/v1/initiatives", r, (401,))


def _repro_keys_security(client: TestClient, keys: Keys, openapi: Doc) -> None:
    operation = openapi["paths"]["/v1/keys"]["get"]
    r = client.get("/v1/keys")
    assert r.status_code == 401, r.text
    assert {} not in operation["security"], (
        "GET /v1/keys refuses anonymous callers but its security allows them: "
        f"{operation['security']}"
    )


def _repro_nul(client: TestClient, keys: Keys, openapi: Doc) -> None:
    body = {"slug": "nul-name", "name": "made\x00in", "kind": "industry"}
    r = client.post("/v1/sectors", json=body, headers=bearer(keys[Role.editor]))
    assert r.status_code == 422, f"NUL in a name: {r.status_code} {r.text[:300]}"


def _repro_integers_as_text(client: TestClient, keys: Keys, openapi: Doc) -> None:
    editor = bearer(keys[Role.editor])
    base = {"name": "Lax", "kind": "plan", "country": "CN"}
    statuses = []
    for i, year in enumerate(("2015", 2015.0)):
        body = {**base, "slug": f"lax-{i}", "start_year": year}
        statuses.append(client.post("/v1/initiatives", json=body, headers=editor).status_code)
    assert statuses == [422, 422], f"start_year '2015' and 2015.0 (not integers): {statuses}"


def _is_integral_non_int(value: Any) -> bool:
    """A value lax validation turns into an int: "2015", 2015.0."""
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, str) and value.strip().lstrip("+-").isdigit()


INTEGER_FIELDS = ("start_year", "end_year", "founded_year")

BUGS: tuple[Bug, ...] = ()

# Bugs found earlier and fixed since: their reproductions now guard against a regression.
FIXED: dict[str, Callable[[TestClient, Keys, Doc], None]] = {
    "list-403-documented": _repro_list_403,
    "list-formats-documented": _repro_list_formats,
    "create-409-documented": _repro_create_409,
    "create-key-409-documented": _repro_key_409,
    "revoke-key-404-documented": _repro_revoke_404,
    "dates-refuse-numbers": _repro_dates_as_numbers,
    "read-401-documented": _repro_read_401,
    "keys-list-needs-a-key": _repro_keys_security,
    "nul-in-strings-refused": _repro_nul,
    "publish-409-documented": _repro_publish_409,
    "integers-as-text": _repro_integers_as_text,
}


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure except the exact ones known bugs cause (see BUGS)."""
    return not any(bug.matches(failure, case, response) for bug in BUGS)


# --- the fuzzing ---------------------------------------------------------------------------

HYPOTHESIS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
CHECKS = [getattr(builtin_checks, name) for name in CHECK_NAMES]


@dataclass
class Target:
    """The app over one database, and the Authorization header of each caller."""

    app: FastAPI
    headers: dict[str, dict[str, str] | None]

    def callers(self, case: Any) -> list[str]:
        principal = "admin" if case.operation.path.startswith("/v1/keys") else "editor"
        others = [c for c in CALLERS if c != principal]
        if LONG:
            return [*others, principal]
        # The same request always goes to the same other caller (Hypothesis replays it).
        key = repr((case.operation.label, case.path_parameters, case.query, case.body))
        return [others[zlib.crc32(key.encode()) % len(others)], principal]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, run_id: str) -> Iterator[Target]:
    with shared_database(request, request.param, run_id) as database:
        create_key(database.engine, VICTIM_KEY, Role.contributor)
        headers: dict[str, dict[str, str] | None] = {
            "anonymous": None,
            "bad-key": bearer(BAD_KEY),
            **{role.value: bearer(key) for role, key in database.keys.items()},
        }
        with app_over(database.url) as app, TestClient(app):
            KNOWN.clear()
            KNOWN.update(known_slugs(database.engine))
            DISPATCH.app = app
            try:
                yield Target(app, headers)
            finally:
                DISPATCH.app = None


def _credentials(case: Any, headers: dict[str, str] | None) -> dict[str, str] | None:
    """The caller's Authorization, unless schemathesis made the case's own one the invalid
    part of the request (left out or malformed): the key would undo that."""
    from schemathesis.core.parameters import ParameterLocation

    if case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER):
        return None
    return headers


@SCHEMA.parametrize()
@HYPOTHESIS
def test_fuzz(case: Any, target: Target) -> None:
    for caller in target.callers(case):
        SENT[caller] = SENT.get(caller, 0) + 1
        headers = _credentials(case, target.headers[caller])
        try:
            case.call_and_validate(headers=headers, checks=CHECKS)
        except Exception as exc:
            exc.add_note(f"sent as: {caller}")
            raise


# --- the known bugs, one request each ----------------------------------------------------


if BUGS:  # (an empty parameter set would show as a skipped test)

    @pytest.mark.parametrize(
        "bug",
        [
            pytest.param(b, id=b.id, marks=pytest.mark.xfail(strict=True, reason=b.reason))
            for b in BUGS
        ],
    )
    def test_known_bug(bug: Bug, api: Any) -> None:
        bug.reproduce(api, api.keys, api.app.openapi())


@pytest.mark.parametrize("name", sorted(FIXED))
def test_fixed_bug_stays_fixed(name: str, api: Any) -> None:
    FIXED[name](api, api.keys, api.app.openapi())


def teardown_module() -> None:
    if SENT:
        print(f"\nfuzz requests by caller: {SENT} (total {sum(SENT.values())})")
