"""Concurrency against a real uvicorn server (2 worker processes) on loopback, both databases.

- Many clients PATCH one record with the same If-Match: exactly one 200 per version, every
  loser gets 412, and the history holds exactly the winners' changes.
- Many clients create distinct records at once: all 201, none lost, none duplicated; many
  clients create the same slug at once: exactly one 201, the rest 409.
- Readers during writes never see a half-written record: fields written together are read
  together, a relation is shown on both sides or on neither, and a record's links match its
  version (writers PATCH name and summary to f"... v{version}"; a toggler links and unlinks
  two records, one version each, so the link is there exactly at odd version offsets).
- A write waiting for a database lock does not stall the other requests of its worker.

Every loop is bounded in count and in time; requests time out after REQUEST_TIMEOUT seconds.
"""

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from api.auth.service import create_key
from api.auth.tables import Role
from api.initiatives.tables import INVERSE_RELATION
from tests.conftest import Database
from tests.reliability.server import ApiServer

CLIENTS = 16
ROUNDS = 6
CREATES_PER_CLIENT = 8
READ_WRITE_SECONDS = 6.0
REQUEST_TIMEOUT = 30.0


@pytest.fixture
def server(database: Database, tmp_path: Path) -> Iterator[ApiServer]:
    with ApiServer(database.url, workers=2, log_dir=tmp_path / "server") as srv:
        yield srv


@pytest.fixture
def editor_key(database: Database) -> str:
    return create_key(database.engine, f"concurrency-{uuid.uuid4().hex[:8]}", Role.editor)[0]


def _clients(server: ApiServer, key: str, n: int) -> list[httpx.Client]:
    return [
        httpx.Client(
            base_url=server.url,
            headers={"Authorization": f"Bearer {key}"},
            timeout=REQUEST_TIMEOUT,
        )
        for _ in range(n)
    ]


def _all_at_once(
    clients: list[httpx.Client], call: Callable[[int, httpx.Client], httpx.Response]
) -> list[httpx.Response]:
    """Run ``call`` once per client, all released together by a barrier."""
    barrier = threading.Barrier(len(clients), timeout=REQUEST_TIMEOUT)

    def one(i: int) -> httpx.Response:
        barrier.wait()
        return call(i, clients[i])

    with ThreadPoolExecutor(len(clients)) as pool:
        return list(pool.map(one, range(len(clients))))


def _version_of(etag: str) -> int:
    return int(etag.strip('"').removeprefix("W/").strip('"').split("-")[0])


def _first_initiatives(client: httpx.Client, n: int = 1) -> list[dict[str, Any]]:
    resp = client.get("/v1/initiatives", params={"limit": n})
    assert resp.status_code == 200, resp.text
    items: list[dict[str, Any]] = resp.json()["items"]
    assert len(items) == n
    return items


def _history(client: httpx.Client, slug: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(50):
        params: dict[str, Any] = {"limit": 200}
        if cursor:
            params["cursor"] = cursor
        resp = client.get(f"/v1/initiatives/{slug}/history", params=params)
        assert resp.status_code == 200, resp.text
        page = resp.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    return items


def _draft_slugs(client: httpx.Client, prefix: str) -> tuple[list[str], int]:
    """Every draft initiative slug with ``prefix`` (following cursors), and the list total."""
    slugs: list[str] = []
    cursor = None
    total = -1
    for _ in range(100):
        params: dict[str, Any] = {"limit": 200, "review_status": "draft"}
        if cursor:
            params["cursor"] = cursor
        resp = client.get("/v1/initiatives", params=params)
        assert resp.status_code == 200, resp.text
        page = resp.json()
        total = page["total"]
        slugs += [i["slug"] for i in page["items"] if i["slug"].startswith(prefix)]
        cursor = page["next_cursor"]
        if not cursor:
            break
    return slugs, total


def test_same_if_match_exactly_one_winner_per_version(
    server: ApiServer, editor_key: str, database: Database
) -> None:
    clients = _clients(server, editor_key, CLIENTS)
    try:
        reader = clients[0]
        slug = _first_initiatives(reader)[0]["slug"]
        start = reader.get(f"/v1/initiatives/{slug}")
        assert start.status_code == 200
        version0 = start.json()["version"]
        winners: list[str] = []
        for rnd in range(ROUNDS):
            current = reader.get(f"/v1/initiatives/{slug}")
            etag = current.headers["ETag"]
            assert _version_of(etag) == version0 + rnd

            def patch(i: int, client: httpx.Client, rnd: int = rnd, etag: str = etag) -> Any:
                return client.patch(
                    f"/v1/initiatives/{slug}",
                    json={"name": f"race round {rnd} client {i}"},
                    headers={"If-Match": etag},
                )

            responses = _all_at_once(clients, patch)
            statuses = Counter(r.status_code for r in responses)
            assert statuses == {200: 1, 412: CLIENTS - 1}, (rnd, statuses)
            for resp in responses:
                if resp.status_code == 412:
                    assert resp.headers["content-type"].startswith("application/problem+json")
                    assert resp.json()["status"] == 412
            (win,) = [r for r in responses if r.status_code == 200]
            assert win.json()["version"] == version0 + rnd + 1
            assert _version_of(win.headers["ETag"]) == version0 + rnd + 1
            winners.append(win.json()["name"])

        final = reader.get(f"/v1/initiatives/{slug}").json()
        assert final["version"] == version0 + ROUNDS
        assert final["name"] == winners[-1]

        revisions = [r for r in _history(reader, slug) if r["version"] > version0]
        revisions.sort(key=lambda r: r["version"])
        assert [r["version"] for r in revisions] == list(range(version0 + 1, version0 + ROUNDS + 1))
        assert [r["changes"]["name"]["after"] for r in revisions] == winners
        assert all(r["action"] == "update" for r in revisions)
        # Each revision starts from the previous winner: no loser's write slipped in between.
        befores = [r["changes"]["name"]["before"] for r in revisions[1:]]
        assert befores == winners[:-1]
    finally:
        for c in clients:
            c.close()


def test_concurrent_creates_none_lost_none_duplicated(
    server: ApiServer, editor_key: str, database: Database
) -> None:
    prefix = f"conc-{uuid.uuid4().hex[:6]}-"
    clients = _clients(server, editor_key, CLIENTS)
    try:
        _, total_before = _draft_slugs(clients[0], prefix)

        def create_many(i: int, client: httpx.Client) -> list[httpx.Response]:
            out = []
            for j in range(CREATES_PER_CLIENT):
                out.append(
                    client.post(
                        "/v1/initiatives",
                        json={
                            "slug": f"{prefix}{i}-{j}",
                            "name": f"Concurrent create {i}/{j}",
                            "kind": "programme",
                            "country": "CN",
                        },
                    )
                )
            return out

        barrier = threading.Barrier(CLIENTS, timeout=REQUEST_TIMEOUT)

        def one(i: int) -> list[httpx.Response]:
            barrier.wait()
            return create_many(i, clients[i])

        with ThreadPoolExecutor(CLIENTS) as pool:
            results = [r for batch in pool.map(one, range(CLIENTS)) for r in batch]
        statuses = Counter(r.status_code for r in results)
        assert statuses == {201: CLIENTS * CREATES_PER_CLIENT}, [
            (r.status_code, r.text[:200]) for r in results if r.status_code != 201
        ][:5]
        expected = {f"{prefix}{i}-{j}" for i in range(CLIENTS) for j in range(CREATES_PER_CLIENT)}
        assert {r.json()["slug"] for r in results} == expected
        assert all(r.headers["Location"] == f"/v1/initiatives/{r.json()['slug']}" for r in results)

        slugs, total_after = _draft_slugs(clients[0], prefix)
        assert len(slugs) == len(expected), Counter(slugs).most_common(3)
        assert set(slugs) == expected
        assert total_after == total_before + len(expected)
        for slug in sorted(expected)[:: CREATES_PER_CLIENT * 2]:
            history = _history(clients[0], slug)
            assert [h["action"] for h in history] == ["create"]
    finally:
        for c in clients:
            c.close()


def test_concurrent_creates_of_one_slug_exactly_one_wins(
    server: ApiServer, editor_key: str
) -> None:
    clients = _clients(server, editor_key, CLIENTS)
    try:
        for rnd in range(3):
            slug = f"same-{uuid.uuid4().hex[:6]}-{rnd}"

            def create(i: int, client: httpx.Client, slug: str = slug) -> httpx.Response:
                return client.post(
                    "/v1/initiatives",
                    json={"slug": slug, "name": f"Claimed by {i}", "kind": "plan", "country": "CN"},
                )

            responses = _all_at_once(clients, create)
            statuses = Counter(r.status_code for r in responses)
            assert statuses == {201: 1, 409: CLIENTS - 1}, (
                statuses,
                [r.text[:200] for r in responses if r.status_code not in (201, 409)][:3],
            )
            for resp in responses:
                if resp.status_code == 409:
                    assert resp.headers["content-type"].startswith("application/problem+json")
            (win,) = [r for r in responses if r.status_code == 201]
            record = clients[0].get(f"/v1/initiatives/{slug}").json()
            assert record["name"] == win.json()["name"]
            assert [h["action"] for h in _history(clients[0], slug)] == ["create"]
    finally:
        for c in clients:
            c.close()


class Violations:
    """What readers saw that they should not have (thread-safe, kept short)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[str] = []
        self.reads = 0

    def add(self, msg: str) -> None:
        with self.lock:
            if len(self.items) < 20:
                self.items.append(msg)

    def count_read(self) -> None:
        with self.lock:
            self.reads += 1


def _related(record: dict[str, Any], slug: str) -> set[str]:
    return {r["relation"] for r in record["related"] if r["slug"] == slug}


def _create_drafts(client: httpx.Client, slugs: list[str]) -> None:
    for slug in slugs:
        resp = client.post(
            "/v1/initiatives",
            json={
                "slug": slug,
                "name": "race name v1",
                "summary": "race summary v1",
                "kind": "plan",
                "country": "CN",
            },
        )
        assert resp.status_code == 201, resp.text


class Workload:
    """Writer and reader threads sharing a deadline, a stop flag and their findings."""

    def __init__(self, server: ApiServer, key: str, seconds: float, stop_on_violation: bool):
        self.server, self.key = server, key
        self.deadline = time.monotonic() + seconds
        self.seconds = seconds
        self.stop = threading.Event()
        self.stop_on_violation = stop_on_violation
        self.seen = Violations()
        self.lock = threading.Lock()
        self.writes = Counter[str]()
        self.errors: list[str] = []

    def running(self) -> bool:
        return not self.stop.is_set() and time.monotonic() < self.deadline

    def violation(self, msg: str) -> None:
        self.seen.add(msg)
        if self.stop_on_violation:
            self.stop.set()

    def unexpected(self, resp: httpx.Response, what: str) -> None:
        with self.lock:
            if len(self.errors) < 20:
                self.errors.append(f"{what}: {resp.status_code} {resp.text[:200]}")
        self.stop.set()

    def wrote(self, what: str) -> None:
        with self.lock:
            self.writes[what] += 1

    def run(self, roles: list[Callable[[httpx.Client], None]]) -> None:
        clients = _clients(self.server, self.key, len(roles))
        try:
            with ThreadPoolExecutor(len(roles)) as pool:
                futures = [pool.submit(fn, c) for fn, c in zip(roles, clients, strict=True)]
                for fut in futures:
                    fut.result(timeout=self.seconds + 2 * REQUEST_TIMEOUT)
        finally:
            self.stop.set()
            for c in clients:
                c.close()

    # --- roles -----------------------------------------------------------------------------

    def name_writer(self, slug: str) -> Callable[[httpx.Client], None]:
        """PATCH name and summary to the version the write will make, with If-Match."""

        def work(client: httpx.Client) -> None:
            for _ in range(2000):
                if not self.running():
                    return
                cur = client.get(f"/v1/initiatives/{slug}")
                if cur.status_code != 200:
                    self.unexpected(cur, "writer read")
                    return
                k = cur.json()["version"] + 1
                resp = client.patch(
                    f"/v1/initiatives/{slug}",
                    json={"name": f"race name v{k}", "summary": f"race summary v{k}"},
                    headers={"If-Match": cur.headers["ETag"]},
                )
                if resp.status_code == 200:
                    self.wrote(slug)
                elif resp.status_code != 412:
                    self.unexpected(resp, "writer patch")
                    return

        return work

    def toggler(self, a: str, b: str) -> Callable[[httpx.Client], None]:
        """Link a to b (part_of) and unlink again, one version of each per toggle."""

        def work(client: httpx.Client) -> None:
            for _ in range(2000):
                if not self.running():
                    return
                cur = client.get(f"/v1/initiatives/{a}")
                if cur.status_code != 200:
                    self.unexpected(cur, "toggler read")
                    return
                linked = bool(_related(cur.json(), b))
                resp = client.patch(
                    f"/v1/initiatives/{a}",
                    json={"related": [] if linked else [{"slug": b, "relation": "part_of"}]},
                    headers={"If-Match": cur.headers["ETag"]},
                )
                if resp.status_code != 200:
                    self.unexpected(resp, "toggler patch")
                    return
                self.wrote("toggle")

        return work

    def reader(
        self, reads: list[tuple[str, Callable[[dict[str, Any], str], None]]], lists: bool
    ) -> Callable[[httpx.Client], None]:
        """GET each slug in turn (and a list page of drafts) and check what comes back."""
        checks = dict(reads)

        def work(client: httpx.Client) -> None:
            for n in range(100_000):
                if not self.running():
                    return
                step = n % (len(reads) + int(lists))
                if step == len(reads):
                    params = {"review_status": "draft", "limit": 200}
                    resp = client.get("/v1/initiatives", params=params)
                    if resp.status_code != 200:
                        self.unexpected(resp, "list")
                        return
                    items = {i["slug"]: i for i in resp.json()["items"]}
                    for slug, check in checks.items():
                        if slug in items:
                            check(items[slug], "list")
                    self.check_symmetric(items)
                else:
                    slug, check = reads[step]
                    resp = client.get(f"/v1/initiatives/{slug}")
                    if resp.status_code != 200:
                        self.unexpected(resp, f"read {slug}")
                        return
                    rec = resp.json()
                    if _version_of(resp.headers["ETag"]) != rec["version"]:
                        self.violation(f"{slug}: ETag {resp.headers['ETag']} vs {rec['version']}")
                    check(rec, "read")
                self.seen.count_read()

        return work

    def check_symmetric(self, items: dict[str, dict[str, Any]]) -> None:
        """In one list page, every relation between two listed records shows on both sides."""
        for slug, rec in items.items():
            for link in rec["related"]:
                other = items.get(link["slug"])
                if other is None:
                    continue
                back = {r["relation"] for r in other["related"] if r["slug"] == slug}
                if INVERSE[link["relation"]] not in back:
                    self.violation(f"list: {slug} {link['relation']} {link['slug']} one-sided")

    def check_name(self, rec: dict[str, Any], where: str) -> None:
        v = rec["version"]
        if rec["name"] != f"race name v{v}" or rec["summary"] != f"race summary v{v}":
            self.violation(
                f"{where}: version {v} with name {rec['name']!r}, summary {rec['summary']!r}"
            )

    def check_toggled(
        self, other: str, relation: str, version0: int
    ) -> Callable[[dict[str, Any], str], None]:
        """Each toggle bumps the version by one: the link is there exactly at odd offsets."""

        def check(rec: dict[str, Any], where: str) -> None:
            shown = _related(rec, other)
            want = {relation} if (rec["version"] - version0) % 2 == 1 else set()
            if shown != want:
                self.violation(
                    f"{where}: {rec['slug']} at version {rec['version']} (start {version0}) "
                    f"shows {sorted(shown)} for {other}, expected {sorted(want)}"
                )

        return check


INVERSE = {k.value: v.value for k, v in INVERSE_RELATION.items()}


def test_readers_never_see_half_written_records(server: ApiServer, editor_key: str) -> None:
    """Fields written together are read together; list pages show relations on both sides."""
    tag = uuid.uuid4().hex[:6]
    x, a, b = f"rw-{tag}-x", f"rw-{tag}-a", f"rw-{tag}-b"
    with _clients(server, editor_key, 1)[0] as setup:
        _create_drafts(setup, [x, a, b])
    load = Workload(server, editor_key, READ_WRITE_SECONDS, stop_on_violation=False)
    reads = [(x, load.check_name)]
    load.run(
        [load.name_writer(x), load.name_writer(x), load.toggler(a, b)]
        + [load.reader(reads, lists=True) for _ in range(4)]
    )
    assert not load.errors, load.errors
    assert load.writes[x] >= 3 and load.writes["toggle"] >= 2, load.writes
    assert load.seen.reads >= 20, load.seen.reads
    assert not load.seen.items, f"torn reads in {load.seen.reads} reads: {load.seen.items}"
    with _clients(server, editor_key, 1)[0] as client:
        final_x = client.get(f"/v1/initiatives/{x}").json()
    assert final_x["version"] - 1 == load.writes[x]


RELATION_SECONDS = 15.0


def test_reads_show_links_as_of_the_records_version(
    server: ApiServer, editor_key: str, database: Database
) -> None:
    """A record read in one request is one state: its links match its version."""
    tag = uuid.uuid4().hex[:6]
    a, b = f"tr-{tag}-a", f"tr-{tag}-b"
    with _clients(server, editor_key, 1)[0] as setup:
        _create_drafts(setup, [a, b])
        a0 = setup.get(f"/v1/initiatives/{a}").json()["version"]
        b0 = setup.get(f"/v1/initiatives/{b}").json()["version"]
    # Stops at the first torn read; without one it runs RELATION_SECONDS.
    load = Workload(server, editor_key, RELATION_SECONDS, stop_on_violation=True)
    reads = [
        (a, load.check_toggled(b, "part_of", a0)),
        (b, load.check_toggled(a, "has_part", b0)),
    ]
    load.run([load.toggler(a, b)] + [load.reader(reads, lists=True) for _ in range(4)])
    assert not load.errors, load.errors
    assert not load.seen.items, f"torn reads in {load.seen.reads} reads: {load.seen.items}"
    assert load.writes["toggle"] >= 2 and load.seen.reads >= 20, (load.writes, load.seen.reads)
    with _clients(server, editor_key, 1)[0] as client:
        final_a = client.get(f"/v1/initiatives/{a}").json()
        final_b = client.get(f"/v1/initiatives/{b}").json()
    assert final_a["version"] - a0 == load.writes["toggle"]
    assert final_b["version"] - b0 == load.writes["toggle"]


LOCK_SECONDS = 4.0
STALL_LIMIT = 2.0


@contextmanager
def _hold_write_lock(database: Database, slug: str) -> Iterator[None]:
    """Another client (a CLI import, say) holds the lock a PATCH of ``slug`` needs."""
    with database.engine.connect().execution_options(write=True) as conn, conn.begin() as tx:
        # SQLite: the engine's BEGIN IMMEDIATE takes the write lock; PostgreSQL: the row lock.
        if database.kind == "postgresql":
            conn.execute(text("SELECT id FROM initiative WHERE slug = :s FOR UPDATE"), {"s": slug})
        try:
            yield
        finally:
            tx.rollback()


def test_a_write_waiting_for_a_lock_does_not_stall_readers(
    database: Database, editor_key: str, tmp_path: Path
) -> None:
    with (
        ApiServer(database.url, workers=1, log_dir=tmp_path / "server") as server,
        httpx.Client(base_url=server.url, timeout=REQUEST_TIMEOUT) as anonymous,
        _clients(server, editor_key, 1)[0] as editor,
    ):
        first, second = (i["slug"] for i in _first_initiatives(anonymous, 2))
        etag = editor.get(f"/v1/initiatives/{first}").headers["ETag"]
        outcome: dict[str, Any] = {}

        def write() -> None:
            resp = editor.patch(
                f"/v1/initiatives/{first}", json={"name": "waits"}, headers={"If-Match": etag}
            )
            outcome["status"] = resp.status_code

        with _hold_write_lock(database, first):
            writer = threading.Thread(target=write, daemon=True)
            writer.start()
            time.sleep(0.5)  # the PATCH is now waiting for the lock
            started = time.monotonic()
            try:
                resp = anonymous.get(f"/v1/initiatives/{second}", timeout=LOCK_SECONDS - 1)
                status, took = resp.status_code, time.monotonic() - started
            except httpx.TimeoutException:
                status, took = None, float("inf")  # still stuck behind the waiting write
            time.sleep(max(0.0, LOCK_SECONDS - (time.monotonic() - started)))
        writer.join(REQUEST_TIMEOUT)
        assert outcome.get("status") in (200, 503), outcome
        assert took < STALL_LIMIT, f"a read waited {took:.1f} s behind a write waiting for a lock"
        assert status == 200
