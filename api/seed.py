"""Seeding: the source documents in seeds/ and the records in fixtures/, upserted by slug in
one transaction, so a broken fixture leaves the database exactly as it was."""

from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine

from api.db import write_transaction
from api.errors import ApiError
from api.initiatives.models import InitiativeCreate
from api.initiatives.service import RESOURCE as INITIATIVES
from api.initiatives.tables import INVERSE_RELATION, Relation
from api.organizations.models import OrganizationCreate
from api.organizations.service import RESOURCE as ORGANIZATIONS
from api.records import ReviewStatus
from api.resource import Resource, upsert_record
from api.sectors.models import SectorCreate
from api.sectors.service import RESOURCE as SECTORS
from api.sources.models import SourceCreate
from api.sources.service import RESOURCE as SOURCES

ROOT = Path(__file__).resolve().parent.parent
SEED_ACTOR = "seed"
# Loaded in this order: each may cite or link only what came before (initiatives also link
# each other, which a second pass writes).
FIXTURES: list[tuple[str, Resource, type[BaseModel]]] = [
    ("sectors.yaml", SECTORS, SectorCreate),
    ("organizations.yaml", ORGANIZATIONS, OrganizationCreate),
    ("initiatives.yaml", INITIATIVES, InitiativeCreate),
]


class SeedError(Exception):
    """A fixture breaks a rule; the message names the file and the record."""


def _load_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except (OSError, yaml.YAMLError) as exc:
        raise SeedError(f"{path}: cannot read: {exc}") from exc


def _validated(path: Path, model: type[BaseModel], data: Any) -> dict[str, Any]:
    slug = data.get("slug", "?") if isinstance(data, dict) else "?"
    try:
        return model.model_validate(data).model_dump(mode="json")
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise SeedError(f"{path}: record {slug!r}: {problems}") from exc


def load_sources(seeds_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    out = []
    for path in sorted(seeds_dir.glob("*.yaml")):
        out.append((path, _validated(path, SourceCreate, _load_yaml(path))))
    return out


def load_records(path: Path, model: type[BaseModel]) -> list[dict[str, Any]]:
    data = _load_yaml(path)
    if not isinstance(data, list):
        raise SeedError(f"{path}: expected a list of records")
    records = [_validated(path, model, item) for item in data]
    for record in records:
        if not record.get("evidence"):
            raise SeedError(f"{path}: record {record['slug']!r} cites no evidence")
    return records


def symmetric_relations(initiatives: list[dict[str, Any]]) -> dict[str, list[dict[str, str]]]:
    """Every initiative's full relation list, the inverses of one-sided fixtures added."""
    full: dict[str, dict[str, str]] = {i["slug"]: {} for i in initiatives}
    for item in initiatives:
        for link in item["related"]:
            full[item["slug"]][link["slug"]] = link["relation"]
            inverse = INVERSE_RELATION[Relation(link["relation"])].value
            full.setdefault(link["slug"], {})[item["slug"]] = inverse
    return {
        slug: [{"slug": s, "relation": r} for s, r in sorted(links.items())]
        for slug, links in full.items()
    }


def _apply(conn: Any, res: Resource, path: Path, payload: dict[str, Any]) -> str:
    try:
        return upsert_record(conn, res, payload, SEED_ACTOR, ReviewStatus.published)
    except ApiError as exc:
        where = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors or []
        )
        raise SeedError(f"{path}: record {payload['slug']!r}: {where or exc.detail}") from exc


def seed(
    engine: Engine, fixtures_dir: Path | None = None, seeds_dir: Path | None = None
) -> Counter[str]:
    """Upsert every seed and fixture; returns counts like {'initiatives created': 13}."""
    fixtures_dir = fixtures_dir or ROOT / "fixtures"
    seeds_dir = seeds_dir or ROOT / "seeds"
    sources = load_sources(seeds_dir)
    loaded = [
        (fixtures_dir / name, res, load_records(fixtures_dir / name, model))
        for name, res, model in FIXTURES
    ]
    counts: Counter[str] = Counter()
    with write_transaction(engine) as conn:
        for path, source in sources:
            counts[f"sources {_apply(conn, SOURCES, path, source)}"] += 1
        for path, res, records in loaded:
            if res is not INITIATIVES:
                for record in records:
                    counts[f"{res.name} {_apply(conn, res, path, record)}"] += 1
                continue
            # Links between initiatives need both ends, so they go in once all exist.
            relations = symmetric_relations(records)
            outcomes = {
                r["slug"]: _apply(conn, res, path, {k: v for k, v in r.items() if k != "related"})
                for r in records
            }
            for record in records:
                links = {"slug": record["slug"], "related": relations[record["slug"]]}
                if (
                    _apply(conn, res, path, links) == "updated"
                    and outcomes[record["slug"]] == "unchanged"
                ):
                    outcomes[record["slug"]] = "updated"
            counts.update(f"{res.name} {o}" for o in outcomes.values())
    return counts
