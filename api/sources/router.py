"""HTTP routes for /v1/sources."""

from api.routes import ResourceApi, build_router
from api.sources import service
from api.sources.models import SourceCreate, SourceListParams, SourceRead, SourceUpdate

router = build_router(
    ResourceApi(
        res=service.RESOURCE,
        read_model=SourceRead,
        create_model=SourceCreate,
        update_model=SourceUpdate,
        params_model=SourceListParams,
        filters=service.filters,
        sort_fields=service.SORT_FIELDS,
        default_sort="slug",
    )
)
