"""Every table, imported in one place so the metadata is complete (Alembic, tests)."""

from api.auth.tables import ApiKey
from api.cache.tables import WriteGeneration
from api.db import metadata
from api.history.tables import Revision
from api.initiatives.tables import (
    Evidence,
    Initiative,
    InitiativeOrganization,
    InitiativeRelation,
    InitiativeSector,
)
from api.organizations.tables import Organization
from api.ratelimit.tables import RateLimitWindow
from api.search.tables import SearchDocument
from api.sectors.tables import Sector
from api.sources.tables import Excerpt, Source

__all__ = [
    "ApiKey",
    "Evidence",
    "Excerpt",
    "Initiative",
    "InitiativeOrganization",
    "InitiativeRelation",
    "InitiativeSector",
    "Organization",
    "RateLimitWindow",
    "Revision",
    "SearchDocument",
    "Sector",
    "Source",
    "WriteGeneration",
    "metadata",
]
