"""HTTP routes for /v1/sectors."""

from api.routes import ResourceApi, build_router
from api.sectors import service
from api.sectors.models import SectorCreate, SectorListParams, SectorRead, SectorUpdate

router = build_router(
    ResourceApi(
        res=service.RESOURCE,
        read_model=SectorRead,
        create_model=SectorCreate,
        update_model=SectorUpdate,
        params_model=SectorListParams,
        filters=service.filters,
        sort_fields=service.SORT_FIELDS,
    )
)
