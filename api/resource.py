"""The shape every resource shares, and the operations on it.

A domain (initiatives, sectors, organizations, sources) describes itself with a ``Resource``:
its table, writable columns, sort fields and the hooks for its links. The functions here do
the rest the same way for all of them, on a connection whose transaction the caller owns, so
one HTTP request, a seed run or a bulk import is all-or-nothing.
"""

from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, delete, func, insert, select, update
from sqlalchemy import Date as SQLDate

from api.cache.service import QueryCache
from api.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed, field_error
from api.evidence import load_evidence, replace_evidence, resolve_evidence
from api.history.service import diff, last_revision, record_revision, slug_was_used
from api.history.tables import Action
from api.http import SortKey, after_cursor, decode_cursor, encode_cursor, order_by, sort_columns
from api.records import ReviewStatus, rfc3339, utcnow
from api.search import index as search_index

Errors = list[dict[str, Any]]
Record = dict[str, Any]
META_FIELDS = ("review_status", "version", "created_at", "updated_at")


@dataclass
class WriteContext:
    """Who is writing, and which other records the write changed the representation of."""

    actor: str
    touched: set[tuple[str, int]] = field(default_factory=set)  # (resource name, id)


@dataclass(frozen=True)
class Resource:
    name: str  # the path segment, also the name in history and exports: "initiatives"
    singular: str
    table: Table
    columns: tuple[str, ...]  # writable scalar columns, in the order records show them
    link_fields: tuple[str, ...] = ()  # payload keys the hooks below handle
    search_type: str | None = None
    evidence_column: str | None = None
    # ids -> {id: {link field: value}}; public_only hides links to unpublished records
    embed: Callable[[Connection, list[int], bool], dict[int, Record]] | None = None
    # payload -> (resolved links, field errors); the id is None on create
    resolve: Callable[[Connection, Record, int | None], tuple[Record, Errors]] | None = None
    write: Callable[[Connection, int, Record, WriteContext], None] | None = None
    check: Callable[[Record], Errors] | None = None  # cross-field rules on the merged scalars
    before_delete: Callable[[Connection, int, bool, WriteContext], None] | None = None
    # record -> its links in write form, to tell whether a payload changes anything
    links_write_form: Callable[[Record], Record] | None = None
    # Fields other records show (an initiative's related[].name, a source's title in
    # evidence), and who shows them: changing one changes those records too.
    shown_by_others: tuple[str, ...] = ()
    dependents: Callable[[Connection, int], set[tuple[str, int]]] | None = None

    @property
    def c(self) -> Any:
        return self.table.c


REGISTRY: dict[str, Resource] = {}


def register(res: Resource) -> Resource:
    REGISTRY[res.name] = res
    return res


# --- reading -----------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _records(
    conn: Connection, res: Resource, rows: Sequence[Any], public_only: bool
) -> list[Record]:
    ids = [r.id for r in rows]
    links = res.embed(conn, ids, public_only) if res.embed and ids else {}
    evidence = (
        load_evidence(conn, res.evidence_column, ids, public_only)
        if res.evidence_column and ids
        else {}
    )
    out = []
    for row in rows:
        record: Record = {"slug": row.slug}
        for col in res.columns:
            record[col] = _plain(getattr(row, col))
        record.update(links.get(row.id, {}))
        if res.evidence_column:
            record["evidence"] = evidence.get(row.id, [])
        for col in META_FIELDS:
            record[col] = _plain(getattr(row, col))
        out.append(record)
    return out


def row_by_slug(conn: Connection, res: Resource, slug: str) -> Any:
    row = conn.execute(select(res.table).where(res.c.slug == slug)).first()
    if row is None:
        raise NotFound(f"no {res.singular} has the slug {slug!r}")
    return row


def read_record(conn: Connection, res: Resource, slug: str, public_only: bool) -> Record:
    row = row_by_slug(conn, res, slug)
    if public_only and row.review_status != ReviewStatus.published.value:
        raise NotFound(f"no {res.singular} has the slug {slug!r}")
    return _records(conn, res, [row], public_only)[0]


def read_by_id(conn: Connection, res: Resource, record_id: int) -> Record:
    row = conn.execute(select(res.table).where(res.c.id == record_id)).one()
    return _records(conn, res, [row], False)[0]


def list_records(
    conn: Connection,
    res: Resource,
    where: Sequence[ColumnElement[bool]],
    keys: Sequence[SortKey],
    limit: int,
    cursor: str | None,
    public_only: bool,
    with_total: bool = True,
    cache: QueryCache | None = None,
    filters_key: Hashable = None,
) -> Record:
    """One page in the sort order, with the total over all pages.

    The total counts every match, so it is kept in ``cache`` under ``filters_key`` (what
    ``where`` was built from) until the next write."""
    total = None
    if with_total:
        count = select(func.count()).select_from(res.table).where(*where)

        def count_matches() -> int:
            return int(conn.execute(count).scalar_one())

        if cache is not None and filters_key is not None:
            total = cache.fetch(conn, ("total", res.name, filters_key), count_matches)
        else:
            total = count_matches()
    query = select(res.table, *sort_columns(keys)).where(*where)
    if cursor:
        query = query.where(after_cursor(keys, decode_cursor(cursor, keys)))
    rows = conn.execute(query.order_by(*order_by(keys)).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(keys, dict(rows[-1]._mapping)) if more and rows else None
    items = _records(conn, res, rows, public_only)
    return {"items": items, "total": total, "next_cursor": next_cursor}


def iter_records(
    conn: Connection,
    res: Resource,
    where: Sequence[ColumnElement[bool]],
    keys: Sequence[SortKey],
    public_only: bool,
    batch: int = 500,
) -> Iterator[Record]:
    """Every matching record in the sort order, one batch of rows in memory at a time."""
    cursor = None
    while True:
        page = list_records(conn, res, where, keys, batch, cursor, public_only, with_total=False)
        yield from page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return


# --- comparing a payload with a record ---------------------------------------------------


def write_form(res: Resource, record: Record) -> Record:
    """The record as a create payload would state it."""
    out = {"slug": record["slug"], **{c: record[c] for c in res.columns}}
    if res.links_write_form:
        out.update(res.links_write_form(record))
    if res.evidence_column:
        out["evidence"] = [
            {"source": e["source"], "excerpt": e["excerpt"]} for e in record["evidence"]
        ]
    return out


def changes_anything(res: Resource, record: Record, payload: Mapping[str, Any]) -> bool:
    current = write_form(res, record)
    proposed = write_form(res, {**record, **_read_shaped(res, payload, record)})
    return any(current.get(k) != proposed.get(k) for k in payload if k in current)


def _read_shaped(res: Resource, payload: Mapping[str, Any], record: Record) -> Record:
    """A payload's fields in the shape the read model has them (enough for write_form)."""
    shaped = dict(payload)
    if "evidence" in payload:
        shaped["evidence"] = [
            {"source": e["source"], "excerpt": e["excerpt"]} for e in payload["evidence"]
        ]
    return shaped


# --- writing -----------------------------------------------------------------------------


def _check_payload(
    conn: Connection, res: Resource, scalars: Record, payload: Record, record_id: int | None
) -> tuple[Record, list[int] | None]:
    errors: Errors = list(res.check(scalars)) if res.check else []
    resolved: Record = {}
    if res.resolve and any(k in payload for k in res.link_fields):
        resolved, link_errors = res.resolve(conn, payload, record_id)
        errors += link_errors
    excerpt_ids = None
    if res.evidence_column and "evidence" in payload:
        excerpt_ids, ev_errors = resolve_evidence(conn, payload["evidence"])
        errors += ev_errors
    if errors:
        raise ValidationFailed("; ".join(e["msg"] for e in errors[:5]), errors)
    return resolved, excerpt_ids


def _after_write(conn: Connection, res: Resource, record_id: int, ctx: WriteContext) -> Record:
    if res.search_type:
        search_index.index_record(conn, res.search_type, record_id)
    return read_by_id(conn, res, record_id)


def touch_records(conn: Connection, ctx: WriteContext, skip: tuple[str, int] | None = None) -> None:
    """Records whose representation another write changed get a version and a revision."""
    for name, other_id in sorted(ctx.touched - ({skip} if skip else set())):
        res = REGISTRY[name]
        row = conn.execute(select(res.table).where(res.c.id == other_id)).first()
        if row is None:
            continue
        previous = last_revision(conn, res.name, row.slug)
        before = previous.snapshot if previous is not None else None
        if not diff(before, read_by_id(conn, res, other_id)):
            continue
        now = _bump(conn, res, row, {})
        after = read_by_id(conn, res, other_id)
        if res.search_type:
            search_index.index_record(conn, res.search_type, other_id)
        record_revision(
            conn,
            resource=res.name,
            record_id=other_id,
            slug=row.slug,
            version=after["version"],
            action=Action.update,
            actor=ctx.actor,
            before=before,
            after=after,
            at=now,
        )


def create_record(
    conn: Connection,
    res: Resource,
    payload: Record,
    actor: str,
    *,
    review_status: ReviewStatus = ReviewStatus.draft,
    action: Action = Action.create,
    version: int = 1,
    timestamps: tuple[datetime, datetime] | None = None,
) -> Record:
    """Insert a record with its links; ``timestamps`` (created, updated) keep an imported
    record's own times."""
    slug = payload["slug"]
    if conn.execute(select(res.c.id).where(res.c.slug == slug)).first():
        raise Conflict(
            f"a {res.singular} with the slug {slug!r} exists already",
            errors=[field_error(["body", "slug"], "already taken")],
        )
    if action is Action.create and slug_was_used(conn, res.name, slug):
        raise Conflict(
            f"the slug {slug!r} belonged to a deleted {res.singular}; slugs are never reused "
            f"(restore it with POST /v1/{res.name}/{slug}/restore, or choose another slug)",
            errors=[field_error(["body", "slug"], "used before")],
        )
    scalars = {c: payload.get(c) for c in res.columns if c in payload}
    resolved, excerpt_ids = _check_payload(conn, res, scalars, payload, None)
    now = utcnow()
    created_at, updated_at = timestamps or (now, now)
    result = conn.execute(
        insert(res.table).values(
            slug=slug,
            **_db_values(res, scalars),
            review_status=review_status.value,
            version=version,
            created_at=created_at,
            updated_at=updated_at,
        )
    )
    assert result.inserted_primary_key is not None
    record_id = int(result.inserted_primary_key[0])
    ctx = WriteContext(actor)
    if res.write:
        res.write(conn, record_id, resolved, ctx)
    if excerpt_ids is not None and res.evidence_column:
        replace_evidence(conn, res.evidence_column, record_id, excerpt_ids)
    after = _after_write(conn, res, record_id, ctx)
    record_revision(
        conn,
        resource=res.name,
        record_id=record_id,
        slug=slug,
        version=version,
        action=action,
        actor=actor,
        before=None,
        after=after,
        at=now,
    )
    touch_records(conn, ctx, (res.name, record_id))
    return after


def _db_values(res: Resource, scalars: Record) -> Record:
    """JSON-shaped values as the columns take them (dates arrive as ISO strings)."""
    out = dict(scalars)
    for name, value in scalars.items():
        if isinstance(value, str) and isinstance(res.c[name].type, SQLDate):
            out[name] = date.fromisoformat(value)
    return out


def _check_version(res: Resource, row: Any, versions: set[int] | None) -> None:
    if versions is not None and row.version not in versions:
        raise PreconditionFailed(
            f"{res.singular} {row.slug!r} is at version {row.version}, not the one your If-Match "
            "names; read it again and reapply your change"
        )


def _bump(conn: Connection, res: Resource, row: Any, values: Record) -> datetime:
    """Move to the next version, but only from the version just read (lost-update guard)."""
    now = utcnow()
    result = conn.execute(
        update(res.table)
        .where(res.c.id == row.id, res.c.version == row.version)
        .values(**values, version=row.version + 1, updated_at=now)
    )
    if result.rowcount != 1:
        raise PreconditionFailed(
            f"{res.singular} {row.slug!r} was changed by someone else meanwhile; read it again"
        )
    return now


def update_record(
    conn: Connection,
    res: Resource,
    slug: str,
    patch: Record,
    versions: set[int] | None,
    actor: str,
    action: Action = Action.update,
) -> Record:
    row = row_by_slug(conn, res, slug)
    _check_version(res, row, versions)
    before = _records(conn, res, [row], False)[0]
    if not changes_anything(res, before, patch):
        return before
    scalars = {c: patch[c] for c in res.columns if c in patch}
    merged = {c: before[c] for c in res.columns} | scalars
    resolved, excerpt_ids = _check_payload(conn, res, merged, patch, row.id)
    now = _bump(conn, res, row, _db_values(res, scalars))
    ctx = WriteContext(actor)
    if res.write:
        res.write(conn, row.id, resolved, ctx)
    if excerpt_ids is not None and res.evidence_column:
        replace_evidence(conn, res.evidence_column, row.id, excerpt_ids)
    after = _after_write(conn, res, row.id, ctx)
    if res.dependents and any(before[f] != after[f] for f in res.shown_by_others):
        ctx.touched |= res.dependents(conn, row.id)
    record_revision(
        conn,
        resource=res.name,
        record_id=row.id,
        slug=slug,
        version=after["version"],
        action=action,
        actor=actor,
        before=before,
        after=after,
        at=now,
    )
    touch_records(conn, ctx, (res.name, row.id))
    return after


def set_review_status(
    conn: Connection,
    res: Resource,
    slug: str,
    status: ReviewStatus,
    versions: set[int] | None,
    actor: str,
) -> Record:
    row = row_by_slug(conn, res, slug)
    _check_version(res, row, versions)
    if row.review_status == status.value:
        return _records(conn, res, [row], False)[0]
    before = _records(conn, res, [row], False)[0]
    if status is ReviewStatus.published and res.evidence_column and not before["evidence"]:
        raise Conflict(
            f"{res.singular} {slug!r} cites no evidence; add at least one excerpt before publishing"
        )
    now = _bump(conn, res, row, {"review_status": status.value})
    after = _after_write(conn, res, row.id, WriteContext(actor))
    if res.name == "sources":
        # A source's quotes are searchable only while it is published.
        search_index.index_citing(conn, row.id)
    action = Action.publish if status is ReviewStatus.published else Action.retract
    record_revision(
        conn,
        resource=res.name,
        record_id=row.id,
        slug=slug,
        version=after["version"],
        action=action,
        actor=actor,
        before=before,
        after=after,
        at=now,
    )
    return after


def delete_record(
    conn: Connection,
    res: Resource,
    slug: str,
    versions: set[int] | None,
    actor: str,
    detach: bool = False,
) -> None:
    row = row_by_slug(conn, res, slug)
    _check_version(res, row, versions)
    before = _records(conn, res, [row], False)[0]
    ctx = WriteContext(actor)
    if res.before_delete:
        res.before_delete(conn, row.id, detach, ctx)
    if res.search_type:
        search_index.remove_record(conn, res.search_type, row.id)
    conn.execute(delete(res.table).where(res.c.id == row.id))
    record_revision(
        conn,
        resource=res.name,
        record_id=row.id,
        slug=slug,
        version=row.version + 1,
        action=Action.delete,
        actor=actor,
        before=before,
        after=None,
    )
    touch_records(conn, ctx, (res.name, row.id))


def restore_record(conn: Connection, res: Resource, slug: str, actor: str) -> Record:
    """Bring a deleted record back as it was, minus links to records that are gone."""
    if conn.execute(select(res.c.id).where(res.c.slug == slug)).first():
        raise Conflict(f"{res.singular} {slug!r} exists; only a deleted record can be restored")
    last = last_revision(conn, res.name, slug)
    if last is None or last.action != Action.delete.value or last.snapshot is None:
        raise NotFound(f"no deleted {res.singular} has the slug {slug!r}")
    payload = _drop_dangling(conn, res, write_form(res, last.snapshot))
    return create_record(
        conn,
        res,
        payload,
        actor,
        review_status=ReviewStatus(last.snapshot["review_status"]),
        action=Action.restore,
        version=last.version + 1,
        timestamps=(datetime.fromisoformat(last.snapshot["created_at"]), utcnow()),
    )


def _drop_dangling(conn: Connection, res: Resource, payload: Record) -> Record:
    """Leave out links and citations to records or excerpts that no longer exist."""
    errors: Errors = res.resolve(conn, payload, None)[1] if res.resolve else []
    if res.evidence_column:
        errors += resolve_evidence(conn, payload["evidence"])[1]
    for err in sorted(errors, key=lambda e: (e["loc"][1], e["loc"][-1]), reverse=True):
        loc = err["loc"]
        if len(loc) == 3 and isinstance(loc[2], int):
            del payload[loc[1]][loc[2]]
    return payload


def upsert_record(
    conn: Connection,
    res: Resource,
    payload: Record,
    actor: str,
    review_status: ReviewStatus,
    *,
    imported: bool = False,
    version: int = 1,
    timestamps: tuple[datetime, datetime] | None = None,
) -> str:
    """Create or bring up to date by slug; says which: created, updated or unchanged.

    ``imported`` records the change as an import and lets a new record keep the version and
    times it had where it came from."""
    row = conn.execute(select(res.table).where(res.c.slug == payload["slug"])).first()
    if row is None:
        create_record(
            conn,
            res,
            payload,
            actor,
            review_status=review_status,
            action=Action.import_ if imported else Action.create,
            version=version if imported else 1,
            timestamps=timestamps if imported else None,
        )
        return "created"
    current = _records(conn, res, [row], False)[0]
    fields = {k: v for k, v in payload.items() if k != "slug"}
    changed = changes_anything(res, current, fields)
    if changed:
        action = Action.import_ if imported else Action.update
        update_record(conn, res, payload["slug"], fields, None, actor, action=action)
    if current["review_status"] != review_status.value:
        set_review_status(conn, res, payload["slug"], review_status, None, actor)
        changed = True
    return "updated" if changed else "unchanged"
