"""Seeding: an idempotent upsert by slug; a broken fixture is refused whole, naming itself."""

import shutil
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from api.resource import REGISTRY
from api.seed import ROOT, SeedError, seed
from api.tables import Revision
from tests.conftest import Database


def _counts(database: Database) -> dict[str, int]:
    with database.engine.connect() as conn:
        counts = {
            name: conn.execute(select(func.count()).select_from(res.table)).scalar_one()
            for name, res in REGISTRY.items()
        }
        counts["revisions"] = conn.execute(select(func.count()).select_from(Revision)).scalar_one()
    return counts


@pytest.fixture
def fixture_copy(tmp_path: Path) -> tuple[Path, Path]:
    fixtures, seeds = tmp_path / "fixtures", tmp_path / "seeds"
    shutil.copytree(ROOT / "fixtures", fixtures)
    shutil.copytree(ROOT / "seeds", seeds)
    return fixtures, seeds


def _edit(path: Path, slug: str, **changes: object) -> None:
    records = yaml.safe_load(path.read_text(encoding="utf-8"))
    for record in records:
        if record["slug"] == slug:
            record.update(changes)
    path.write_text(yaml.safe_dump(records, allow_unicode=True), encoding="utf-8")


def test_seeding_again_changes_nothing(database: Database) -> None:
    before = _counts(database)
    counts = seed(database.engine)
    assert all(key.endswith("unchanged") for key in counts), counts
    assert _counts(database) == before


def test_a_fixture_edit_applies_exactly_that_edit(
    database: Database, fixture_copy: tuple[Path, Path]
) -> None:
    fixtures, seeds = fixture_copy
    _edit(fixtures / "initiatives.yaml", "made-in-china-2025", summary="A shorter summary.")
    before = _counts(database)
    counts = seed(database.engine, fixtures, seeds)
    assert counts["initiatives updated"] == 1
    assert sum(v for k, v in counts.items() if k.endswith("updated")) == 1
    after = _counts(database)
    assert after["revisions"] == before["revisions"] + 1
    assert {k: v for k, v in after.items() if k != "revisions"} == {
        k: v for k, v in before.items() if k != "revisions"
    }


@pytest.mark.parametrize(
    ("file", "slug", "change", "message"),
    [
        ("initiatives.yaml", "made-in-china-2025", {"sectors": ["no-such-sector"]}, "sectors.0"),
        ("initiatives.yaml", "made-in-china-2025", {"evidence": []}, "cites no evidence"),
        (
            "sectors.yaml",
            "new-materials",
            {"evidence": [{"source": "lse-ideas-techno-nationalism-2021", "excerpt": "nope"}]},
            "no excerpt 'nope'",
        ),
        ("organizations.yaml", "chinese-academy-of-sciences", {"kind": "bank"}, "kind"),
    ],
)
def test_a_broken_fixture_is_refused_and_nothing_is_written(
    database: Database,
    fixture_copy: tuple[Path, Path],
    file: str,
    slug: str,
    change: dict[str, object],
    message: str,
) -> None:
    fixtures, seeds = fixture_copy
    _edit(fixtures / "initiatives.yaml", "dual-circulation-strategy", summary="Changed first.")
    _edit(fixtures / file, slug, **change)
    before = _counts(database)
    with pytest.raises(SeedError) as caught:
        seed(database.engine, fixtures, seeds)
    text = str(caught.value)
    assert file in text and slug in text and message in text
    assert _counts(database) == before


def test_seeded_data_cites_the_article(api) -> None:  # type: ignore[no-untyped-def]
    for resource in ("initiatives", "sectors", "organizations"):
        page = api.get(f"/v1/{resource}", params={"limit": 200}).json()
        assert page["total"] > 0
        for record in page["items"]:
            assert record["evidence"], f"{resource}/{record['slug']} cites nothing"
            for item in record["evidence"]:
                assert item["source"] == "lse-ideas-techno-nationalism-2021"
                assert item["quote"] and item["locator"].startswith("para ")
