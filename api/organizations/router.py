"""HTTP routes for /v1/organizations."""

from api.organizations import service
from api.organizations.models import (
    OrganizationCreate,
    OrganizationListParams,
    OrganizationRead,
    OrganizationUpdate,
)
from api.routes import ResourceApi, build_router

router = build_router(
    ResourceApi(
        res=service.RESOURCE,
        read_model=OrganizationRead,
        create_model=OrganizationCreate,
        update_model=OrganizationUpdate,
        params_model=OrganizationListParams,
        filters=service.filters,
        sort_fields=service.SORT_FIELDS,
    )
)
