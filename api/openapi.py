"""The OpenAPI document: every error response documented as the problem+json it really is."""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

from api.errors import PROBLEM_MEDIA_TYPE
from api.query_params import COMPONENTS as QUERY_COMPONENTS

COMMON_ERRORS = {
    "400": "Bad request (for example a cursor that is not valid for this list)",
    "401": "A bad, revoked or expired key (or none, where one is needed)",
    "422": "Invalid parameters or body; `errors` names each bad field",
    "429": "Too many requests; see Retry-After",
    "500": "Unexpected server error",
    "503": "The database cannot take the request now; see Retry-After",
}


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="Where: e.g. ['body', 'sectors', 0].")
    msg: str


class Problem(BaseModel):
    """An RFC 9457 problem."""

    type: str = Field(description="A URI naming the kind of problem.")
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = Field(default=None, description="For 422: each bad field.")


def _problem_content() -> dict[str, Any]:
    return {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _specifics(operation_id: str, responses: dict[str, Any]) -> None:
    """Responses particular to some operations."""
    if operation_id.startswith("list_") and not operation_id.endswith("_history"):
        responses.setdefault("403", {"description": "review_status asked for by a non-editor"})
        ok = responses.get("200", {}).setdefault("content", {})
        ok["text/csv"] = {"schema": {"type": "string"}}
        ok["application/x-ndjson"] = {"schema": {"type": "string"}}
    if operation_id == "search" or (
        operation_id.startswith("list_") and not operation_id.endswith("_history")
    ):
        responses.setdefault("304", {"description": "Not modified (If-None-Match)"})
    if operation_id.startswith(("update_", "retract_", "import_")):
        responses.setdefault(
            "409", {"description": "It conflicts with another record or a concurrent write"}
        )
    if operation_id.startswith("create_"):
        responses.setdefault("409", {"description": "The slug or name is taken (or was)"})
    if operation_id.startswith("publish_"):
        responses.setdefault("409", {"description": "It cites no evidence yet"})
    if operation_id == "revoke_key":
        responses.setdefault("404", {"description": "No key has this name"})


def build_openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, component in QUERY_COMPONENTS.items():
        components.setdefault(name, component)
    components.update(
        Problem.model_json_schema(ref_template="#/components/schemas/{model}").pop("$defs", {})
    )
    components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components["Problem"].pop("$defs", None)
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    schema["components"]["securitySchemes"] = {
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key from `policy-tracker keys create` or POST /v1/keys.",
        }
    }
    for methods in schema.get("paths", {}).values():
        for operation in methods.values():
            # Writes need a key; reads take one optionally (editors see drafts).
            guarded = "x-required-role" in operation
            operation["security"] = [{"bearerAuth": []}] if guarded else [{}, {"bearerAuth": []}]
            responses = operation.setdefault("responses", {})
            for status, description in COMMON_ERRORS.items():
                responses.setdefault(status, {"description": description})
            _specifics(operation.get("operationId", ""), responses)
            for status, response in responses.items():
                if status[0] in "45":
                    response["content"] = _problem_content()
    app.openapi_schema = schema
    return schema
