"""API keys: made once, kept only as a hash, checked in constant time."""

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update

from api.auth.tables import ROLE_RANK, ApiKey, Role
from api.db import read_connection, write_transaction
from api.errors import Conflict, NotFound, Unauthorized
from api.records import as_utc, rfc3339, utcnow

KEY_PREFIX = "pt_"
KEY_SHAPE = re.compile(r"pt_[0-9a-f]{8}_[A-Za-z0-9_-]{20,100}")
PREFIX_CHARS = 8
key_table = ApiKey.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key's name and role."""

    name: str
    role: Role

    def can(self, role: Role) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _public(row: Any) -> dict[str, Any]:
    return {
        "name": row.name,
        "role": row.role,
        "prefix": row.prefix,
        "created_at": rfc3339(row.created_at),
        "expires_at": rfc3339(row.expires_at) if row.expires_at else None,
        "revoked_at": rfc3339(row.revoked_at) if row.revoked_at else None,
    }


def create_key(
    engine: Engine, name: str, role: Role, expires_at: datetime | None = None
) -> tuple[str, dict[str, Any]]:
    """Make a key; the secret is returned here once and never again."""
    prefix = secrets.token_hex(PREFIX_CHARS // 2)
    secret = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    with write_transaction(engine) as conn:
        if conn.execute(select(key_table.c.id).where(key_table.c.name == name)).first():
            raise Conflict(f"a key named {name!r} exists already")
        conn.execute(
            insert(key_table).values(
                name=name,
                role=role.value,
                prefix=prefix,
                key_hash=_hash(secret),
                created_at=utcnow(),
                expires_at=expires_at,
            )
        )
        row = conn.execute(select(key_table).where(key_table.c.name == name)).one()
    return secret, _public(row)


def list_keys(engine: Engine) -> list[dict[str, Any]]:
    with read_connection(engine) as conn:
        rows = conn.execute(select(key_table).order_by(key_table.c.name)).all()
    return [_public(r) for r in rows]


def revoke_key(engine: Engine, name: str) -> dict[str, Any]:
    with write_transaction(engine) as conn:
        row = conn.execute(select(key_table).where(key_table.c.name == name)).first()
        if row is None:
            raise NotFound(f"no key named {name!r}")
        if row.revoked_at is None:
            conn.execute(
                update(key_table).where(key_table.c.id == row.id).values(revoked_at=utcnow())
            )
        row = conn.execute(select(key_table).where(key_table.c.id == row.id)).one()
    return _public(row)


def authenticate(engine: Engine, secret: str) -> Principal:
    """The principal a bearer key stands for; 401 for a bad, revoked or expired key."""
    if not KEY_SHAPE.fullmatch(secret):
        raise Unauthorized("the API key is not valid")
    parts = secret.split("_")
    prefix = parts[1]
    with read_connection(engine) as conn:
        row = conn.execute(
            select(
                key_table.c.name,
                key_table.c.role,
                key_table.c.key_hash,
                key_table.c.expires_at,
                key_table.c.revoked_at,
            ).where(key_table.c.prefix == prefix)
        ).first()
    # Compare a hash even when no key has this prefix, so timing says nothing either way.
    expected = row.key_hash if row else _hash("")
    if not hmac.compare_digest(expected, _hash(secret)) or row is None:
        raise Unauthorized("the API key is not valid")
    if row.revoked_at is not None:
        raise Unauthorized("the API key has been revoked")
    if row.expires_at is not None and as_utc(row.expires_at) <= utcnow():
        raise Unauthorized("the API key has expired")
    return Principal(name=row.name, role=Role(row.role))
