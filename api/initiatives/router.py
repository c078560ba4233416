"""HTTP routes for /v1/initiatives."""

from api.initiatives import service
from api.initiatives.models import (
    InitiativeCreate,
    InitiativeListParams,
    InitiativeRead,
    InitiativeUpdate,
)
from api.routes import ResourceApi, build_router

router = build_router(
    ResourceApi(
        res=service.RESOURCE,
        read_model=InitiativeRead,
        create_model=InitiativeCreate,
        update_model=InitiativeUpdate,
        params_model=InitiativeListParams,
        filters=service.filters,
        sort_fields=service.SORT_FIELDS,
    )
)
