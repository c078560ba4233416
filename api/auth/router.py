"""HTTP routes for /v1/keys (admins only)."""

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.auth import service
from api.auth.deps import EngineDep, write_route
from api.auth.tables import Role
from api.records import TextDateTime

router = APIRouter(prefix="/v1/keys", tags=["keys"])
KeyName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[\w.@-]+$")]


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: KeyName = Field(
        examples=["jane-doe"], description="Who the key is for; shown in history."
    )
    role: Role
    expires_at: TextDateTime | None = Field(default=None, description="RFC 3339; none: never.")


class KeyRead(BaseModel):
    name: str
    role: Role
    prefix: str = Field(description="The key's public prefix, to tell keys apart.")
    created_at: str
    expires_at: str | None
    revoked_at: str | None


class KeyCreated(KeyRead):
    key: str = Field(description="The secret. Shown this once; only a hash is kept.")


class KeyList(BaseModel):
    items: list[KeyRead]
    total: int
    next_cursor: str | None


@router.get(
    "",
    operation_id="list_keys",
    summary="List API keys",
    response_model=KeyList,
    **write_route(Role.admin),
)
async def list_keys(engine: EngineDep) -> KeyList:
    items = [KeyRead(**k) for k in service.list_keys(engine)]
    return KeyList(items=items, total=len(items), next_cursor=None)


@router.post(
    "",
    operation_id="create_key",
    summary="Create an API key",
    status_code=201,
    response_model=KeyCreated,
    **write_route(Role.admin),
)
def create_key(engine: EngineDep, body: KeyCreate) -> KeyCreated:
    secret, key = service.create_key(engine, body.name, body.role, body.expires_at)
    return KeyCreated(**key, key=secret)


@router.post(
    "/{name}/revoke",
    operation_id="revoke_key",
    summary="Revoke an API key",
    response_model=KeyRead,
    **write_route(Role.admin),
)
def revoke_key(engine: EngineDep, name: Annotated[str, Path(max_length=100)]) -> KeyRead:
    return KeyRead(**service.revoke_key(engine, name))
