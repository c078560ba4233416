"""Request parameters and response body of GET /v1/search."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.http import DEFAULT_LIMIT, MAX_LIMIT
from api.search.query import MAX_QUERY_LENGTH

SearchType = Literal["initiative", "sector", "organization"]


class SearchParams(BaseModel):
    """Query parameters of a search."""

    model_config = ConfigDict(extra="forbid")

    q: str = Field(
        max_length=MAX_QUERY_LENGTH,
        description=(
            "What to search for. Words must all match (a Latin word also matches the words it "
            'begins, and pinyin with or without spaces matches the characters); `"a phrase"`; '
            '`-word` or `-"a phrase"` excludes; `OR` between two terms matches either. Case, '
            "accents and tones do not matter."
        ),
        examples=["juguo", "举国", "dual circulation", '"made in china" -2025'],
    )
    type: list[str] = Field(
        default_factory=list,
        description=(
            "Only these kinds of record: `initiative`, `sector`, `organization`; a comma list "
            "or repeated (default: all three)."
        ),
        examples=[["initiative,organization"]],
    )
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Page size.")
    cursor: str | None = Field(
        None, max_length=2000, description="The `next_cursor` of the previous page."
    )


class SearchHit(BaseModel):
    """One matching record."""

    type: SearchType = Field(description="Which resource it is; its URL is /v1/{type}s/{slug}.")
    slug: str
    name: str
    name_zh: str | None
    snippet: str = Field(
        description=(
            "HTML: a short passage of the record's best matching text (name, aliases, summary "
            "or description, or a quote it cites), as written, with each match in `<mark>` and "
            "everything else escaped."
        )
    )
    score: float = Field(
        description="Relevance, higher is better; comparable within one response only."
    )


class SearchFacets(BaseModel):
    """Counts over the whole result set (every page), largest first."""

    type: dict[str, int] = Field(description="Hits per record type.")
    sector: dict[str, int] = Field(
        description="Matching initiatives per sector slug (an initiative counts in each of its)."
    )
    country: dict[str, int] = Field(
        description="Matching initiatives and organizations per country."
    )
    kind: dict[str, int] = Field(description="Hits per kind (of initiative, sector, organization).")


class SearchPage(BaseModel):
    """A page of hits, best first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "type": "initiative",
                            "slug": "juguo-system",
                            "name": "Jǔguó system",
                            "name_zh": "举国体制",
                            "snippet": "<mark>Jǔguó</mark> system",
                            "score": 12.7,
                        }
                    ],
                    "total": 1,
                    "next_cursor": None,
                    "facets": {
                        "type": {"initiative": 1},
                        "sector": {"general-purpose-technologies": 1},
                        "country": {"CN": 1},
                        "kind": {"system": 1},
                    },
                }
            ]
        }
    )

    items: list[SearchHit]
    total: int = Field(description="How many records match, over all pages.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` (same q and type) for the next page; null at the end."
    )
    facets: SearchFacets
