"""Revisions: written in the same transaction as the change they describe."""

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, desc, func, insert, select

from api.errors import NotFound
from api.history.tables import Action, Revision
from api.http import DEFAULT_LIMIT, SortField, SortKey, decode_cursor, encode_cursor
from api.records import rfc3339, utcnow

revision_table = Revision.__table__  # type: ignore[attr-defined]
# Bookkeeping fields that change on every write; the diff leaves them out.
UNTRACKED = frozenset({"version", "updated_at", "created_at"})


def diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """Fields that differ, each as ``{"before": ..., "after": ...}``."""
    if before is None and after is not None:  # a new record: every field is a change
        return {f: {"before": None, "after": after[f]} for f in sorted(after) if f not in UNTRACKED}
    old, new = before or {}, after or {}
    changed = {}
    for field in sorted(set(old) | set(new)):
        if field in UNTRACKED:
            continue
        if old.get(field) != new.get(field):
            changed[field] = {"before": old.get(field), "after": new.get(field)}
    return changed


def record_revision(
    conn: Connection,
    *,
    resource: str,
    record_id: int,
    slug: str,
    version: int,
    action: Action,
    actor: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    at: datetime | None = None,
) -> None:
    conn.execute(
        insert(revision_table).values(
            resource=resource,
            record_id=record_id,
            slug=slug,
            version=version,
            action=action.value,
            actor=actor,
            at=at or utcnow(),
            changes=diff(before, after),
            # A delete keeps the last state, so the record can be read as of then and restored.
            snapshot=after if after is not None else before,
        )
    )


def _public(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "version": row.version,
        "action": row.action,
        "actor": row.actor,
        "at": rfc3339(row.at),
        "changes": row.changes,
    }


def list_history(
    conn: Connection,
    resource: str,
    slug: str,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Revisions of one record, newest first."""
    t = revision_table
    where = [t.c.resource == resource, t.c.slug == slug]
    total = conn.execute(select(func.count()).select_from(t).where(*where)).scalar_one()
    if total == 0:
        raise NotFound(f"no {resource} record {slug!r} has any history")
    keys = [SortKey(SortField("id", t.c.id, int), descending=True)]
    query = select(t, t.c.id.label("sort_id")).where(*where)
    if cursor:
        (last_id,) = decode_cursor(cursor, keys)
        query = query.where(t.c.id < last_id)
    rows = conn.execute(query.order_by(desc(t.c.id)).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(keys, dict(rows[-1]._mapping)) if more and rows else None
    return {"items": [_public(r) for r in rows], "total": total, "next_cursor": next_cursor}


def state_as_of(conn: Connection, resource: str, slug: str, as_of: datetime) -> dict[str, Any]:
    """The record as it was at ``as_of`` (404 if it did not exist then)."""
    t = revision_table
    row = conn.execute(
        select(t.c.action, t.c.snapshot)
        .where(t.c.resource == resource, t.c.slug == slug, t.c.at <= as_of)
        .order_by(desc(t.c.at), desc(t.c.id))
        .limit(1)
    ).first()
    if row is None or row.action == Action.delete.value or row.snapshot is None:
        raise NotFound(f"{resource} {slug!r} did not exist at {rfc3339(as_of)}")
    snapshot: dict[str, Any] = row.snapshot
    return snapshot


def last_revision(conn: Connection, resource: str, slug: str) -> Any:
    t = revision_table
    return conn.execute(
        select(t).where(t.c.resource == resource, t.c.slug == slug).order_by(desc(t.c.id)).limit(1)
    ).first()


def slug_was_used(conn: Connection, resource: str, slug: str) -> bool:
    t = revision_table
    found = conn.execute(
        select(t.c.id).where(t.c.resource == resource, t.c.slug == slug).limit(1)
    ).first()
    return found is not None
