"""Checks of the seed and fixture YAML files on their own: no application, no database."""

import re
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).parents[1]
SOURCE_SLUG = "lse-ideas-techno-nationalism-2021"
SEED_FILE = REPO_ROOT / "seeds" / f"{SOURCE_SLUG}.yaml"
FIXTURES = REPO_ROOT / "fixtures"
ARTICLE = REPO_ROOT.parent / "shared" / "sources" / "techno-nationalism-2021-09-28.txt"

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
LOCATOR_RE = re.compile(r"^para ([1-9][0-9]*)$")
YEAR_MIN, YEAR_MAX = 1900, 2100

SECTOR_KINDS = {"industry", "technology"}
ORGANIZATION_KINDS = {
    "ministry",
    "agency",
    "academy",
    "university",
    "lab",
    "park",
    "government",
    "international",
    "party",
    "company",
    "other",
}
INITIATIVE_KINDS = {
    "plan",
    "strategy",
    "policy",
    "programme",
    "system",
    "measure",
    "regulation",
    "proposal",
}
STATUSES = {"proposed", "active", "completed", "superseded", "unknown"}
ROLES = {"lead", "funder", "implementer", "participant", "target"}
INVERSE = {
    "predecessor_of": "successor_of",
    "successor_of": "predecessor_of",
    "part_of": "has_part",
    "has_part": "part_of",
    "implements": "implemented_by",
    "implemented_by": "implements",
    "responds_to": "responded_to_by",
    "responded_to_by": "responds_to",
    "related_to": "related_to",
}

SECTOR_KEYS = {"slug", "name", "name_zh", "kind", "description", "evidence"}
ORGANIZATION_KEYS = {
    "slug",
    "name",
    "name_zh",
    "aliases",
    "kind",
    "country",
    "city",
    "founded_year",
    "description",
    "evidence",
}
INITIATIVE_KEYS = {
    "slug",
    "name",
    "name_zh",
    "aliases",
    "kind",
    "status",
    "country",
    "summary",
    "start_year",
    "end_year",
    "sectors",
    "organizations",
    "related",
    "evidence",
}

# Paragraph headings of the article that are not counted as body paragraphs.
HEADINGS = {
    "Innovation Mercantilist Policies: patching technological gaps of today",
    "China’s Innovation Infrastructure: investing for the future",
    "Conclusion",
}
BULLET = "  • "
BODY_PARAGRAPHS = 20
LAST_PARAGRAPH_START = "It is certain that China’s competitors"

MUST_HAVE_SECTORS = {
    "new-advanced-information-technology",
    "automated-machine-tools-and-robotics",
    "aerospace-and-aeronautical-equipment",
    "maritime-equipment-and-high-tech-shipping",
    "modern-rail-transport-equipment",
    "new-energy-vehicles-and-equipment",
    "power-equipment",
    "agricultural-equipment",
    "new-materials",
    "biopharma-and-advanced-medical-products",
    "artificial-intelligence",
    "5g",
    "semiconductors",
}
MUST_HAVE_ORGANIZATIONS = {
    "ministry-of-science-and-technology",
    "national-natural-science-foundation-of-china",
    "chinese-academy-of-sciences",
    "nyu-shanghai",
    "shanghaitech-university",
    "caltech",
    "chinese-national-laboratories",
    "chinese-science-and-technology-parks",
    "chinese-communist-party",
    "world-trade-organization",
    "us-government",
}
MUST_HAVE_INITIATIVES = {
    "made-in-china-2025",
    "national-medium-and-long-term-plan-for-science-and-technology",
    "thirteenth-five-year-plan",
    "dual-circulation-strategy",
    "juguo-system",
    "innovation-mercantilist-policies",
    "higher-education-revamp",
    "us-tariffs-on-chinese-exports",
    "biden-tough-on-china-policy",
    "like-minded-nations-coalition",
}


def _load(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@cache
def seed() -> dict[str, Any]:
    data = _load(SEED_FILE)
    assert isinstance(data, dict)
    return data


@cache
def records(name: str) -> list[dict[str, Any]]:
    data = _load(FIXTURES / f"{name}.yaml")
    assert isinstance(data, list)
    assert all(isinstance(item, dict) for item in data)
    return data


def slugs(name: str) -> set[str]:
    return {record["slug"] for record in records(name)}


def excerpt_ids() -> set[str]:
    return {excerpt["id"] for excerpt in seed()["excerpts"]}


def all_records() -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, record)
        for name in ("sectors", "organizations", "initiatives")
        for record in records(name)
    ]


def article_paragraphs(text: str) -> dict[int, str]:
    """Body paragraphs numbered as locators count them: bullets 1-3, then each body line."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(BULLET))
    paragraphs: dict[int, str] = {}
    for line in lines[start:]:
        if not line.strip() or line.strip() in HEADINGS:
            continue
        number = len(paragraphs) + 1
        paragraphs[number] = line.removeprefix(BULLET) if line.startswith(BULLET) else line
        if number == BODY_PARAGRAPHS:
            break
    return paragraphs


# --- the source seed -------------------------------------------------------------------------


def test_seed_bibliographic_record() -> None:
    data = seed()
    assert data["slug"] == SOURCE_SLUG
    assert data["title"] == "Techno-nationalism: China’s bid for global technological leadership"
    assert data["authors"] == ["Efekan Bilgin", "Alphonse Loh"]
    assert data["publisher"]
    assert data["published_on"] == "2021-09-28"
    assert data["url"].startswith("https://blogs.lse.ac.uk/cff/2021/09/28/")
    assert set(data) == {"slug", "title", "authors", "publisher", "published_on", "url", "excerpts"}


def test_excerpts_are_well_formed_and_unique() -> None:
    excerpts = seed()["excerpts"]
    assert excerpts
    ids = [excerpt["id"] for excerpt in excerpts]
    duplicates = [key for key, count in Counter(ids).items() if count > 1]
    assert not duplicates, f"duplicate excerpt ids: {duplicates}"
    for excerpt in excerpts:
        assert set(excerpt) == {"id", "locator", "quote"}, excerpt
        assert _is_slug(excerpt["id"]), excerpt["id"]
        assert LOCATOR_RE.match(excerpt["locator"]), excerpt
        number = int(LOCATOR_RE.match(excerpt["locator"]).group(1))  # type: ignore[union-attr]
        assert 1 <= number <= BODY_PARAGRAPHS, excerpt
        quote = excerpt["quote"]
        assert isinstance(quote, str)
        assert 40 <= len(quote) <= 500, f"{excerpt['id']}: quote should be short ({len(quote)})"
        assert quote == quote.strip(), excerpt["id"]
        assert "\n" not in quote, excerpt["id"]


def test_quotes_are_verbatim_from_the_located_paragraph() -> None:
    if not ARTICLE.exists():
        pytest.skip(f"source article not found at {ARTICLE}")
    paragraphs = article_paragraphs(ARTICLE.read_text(encoding="utf-8"))
    assert len(paragraphs) == BODY_PARAGRAPHS
    assert paragraphs[4].startswith("The COVID-19 pandemic")
    assert paragraphs[5].startswith("The fundamental idea")
    assert paragraphs[BODY_PARAGRAPHS].startswith(LAST_PARAGRAPH_START)
    for excerpt in seed()["excerpts"]:
        number = int(excerpt["locator"].removeprefix("para "))
        assert excerpt["quote"] in paragraphs[number], (
            f"{excerpt['id']}: quote is not verbatim in {excerpt['locator']}"
        )


def test_every_excerpt_is_cited() -> None:
    cited = {evidence["excerpt"] for _, record in all_records() for evidence in record["evidence"]}
    uncited = excerpt_ids() - cited
    assert not uncited, f"excerpts no record cites: {sorted(uncited)}"


# --- every record -----------------------------------------------------------------------------


def _is_slug(value: object) -> bool:
    return isinstance(value, str) and 2 <= len(value) <= 80 and bool(SLUG_RE.match(value))


@pytest.mark.parametrize("name", ["sectors", "organizations", "initiatives"])
def test_slugs_are_valid_and_unique(name: str) -> None:
    all_slugs = [record["slug"] for record in records(name)]
    assert all_slugs
    bad = [slug for slug in all_slugs if not _is_slug(slug)]
    assert not bad, f"invalid slugs in {name}: {bad}"
    duplicates = [slug for slug, count in Counter(all_slugs).items() if count > 1]
    assert not duplicates, f"duplicate slugs in {name}: {duplicates}"


def test_every_record_cites_existing_excerpts() -> None:
    known = excerpt_ids()
    for name, record in all_records():
        evidence = record["evidence"]
        assert isinstance(evidence, list), record["slug"]
        assert evidence, f"{name}/{record['slug']} cites no excerpt"
        for item in evidence:
            assert set(item) == {"source", "excerpt"}, (record["slug"], item)
            assert item["source"] == SOURCE_SLUG, (record["slug"], item)
            assert item["excerpt"] in known, f"{name}/{record['slug']}: unknown {item['excerpt']}"
        cited = [item["excerpt"] for item in evidence]
        assert len(cited) == len(set(cited)), f"{name}/{record['slug']} cites an excerpt twice"


def _check_text(record: dict[str, Any], key: str) -> None:
    value = record[key]
    assert isinstance(value, str), (record["slug"], key)
    assert value.strip(), (record["slug"], key)


def _check_optional_text(record: dict[str, Any], key: str) -> None:
    value = record[key]
    assert value is None or (isinstance(value, str) and value.strip()), (record["slug"], key)


def _check_aliases(record: dict[str, Any]) -> None:
    aliases = record["aliases"]
    assert isinstance(aliases, list), record["slug"]
    assert all(isinstance(alias, str) and alias.strip() for alias in aliases), record["slug"]
    assert len(aliases) == len(set(aliases)), f"{record['slug']}: duplicate alias"


def test_sectors_fields() -> None:
    for record in records("sectors"):
        assert set(record) == SECTOR_KEYS, record["slug"]
        _check_text(record, "name")
        _check_optional_text(record, "name_zh")
        _check_text(record, "description")
        assert record["kind"] in SECTOR_KINDS, record["slug"]


def test_organizations_fields() -> None:
    for record in records("organizations"):
        slug = record["slug"]
        assert set(record) == ORGANIZATION_KEYS, slug
        _check_text(record, "name")
        _check_optional_text(record, "name_zh")
        _check_optional_text(record, "city")
        _check_text(record, "description")
        _check_aliases(record)
        assert record["kind"] in ORGANIZATION_KINDS, slug
        country = record["country"]
        if record["kind"] == "international":
            assert country is None, slug
        else:
            assert isinstance(country, str), slug
            assert COUNTRY_RE.match(country), slug
        founded = record["founded_year"]
        assert founded is None or (type(founded) is int and 1000 <= founded <= YEAR_MAX), slug


def test_initiatives_fields() -> None:
    for record in records("initiatives"):
        slug = record["slug"]
        assert set(record) == INITIATIVE_KEYS, slug
        _check_text(record, "name")
        _check_optional_text(record, "name_zh")
        _check_text(record, "summary")
        _check_aliases(record)
        assert record["kind"] in INITIATIVE_KINDS, slug
        assert record["status"] in STATUSES, slug
        assert isinstance(record["country"], str), slug
        assert COUNTRY_RE.match(record["country"]), slug
        start, end = record["start_year"], record["end_year"]
        for year in (start, end):
            assert year is None or (type(year) is int and YEAR_MIN <= year <= YEAR_MAX), slug
        if start is not None and end is not None:
            assert start <= end, slug


def test_initiative_links_point_at_existing_records() -> None:
    sectors, organizations, initiatives = (
        slugs("sectors"),
        slugs("organizations"),
        slugs("initiatives"),
    )
    for record in records("initiatives"):
        slug = record["slug"]
        assert isinstance(record["sectors"], list), slug
        assert len(record["sectors"]) == len(set(record["sectors"])), slug
        unknown = set(record["sectors"]) - sectors
        assert not unknown, f"{slug}: unknown sectors {unknown}"
        links = [(link["slug"], link["role"]) for link in record["organizations"]]
        assert len(links) == len(set(links)), f"{slug}: duplicate organization link"
        for link in record["organizations"]:
            assert set(link) == {"slug", "role"}, slug
            assert link["slug"] in organizations, f"{slug}: unknown organization {link['slug']}"
            assert link["role"] in ROLES, f"{slug}: bad role {link['role']}"
        for link in record["related"]:
            assert set(link) == {"slug", "relation"}, slug
            assert link["slug"] in initiatives, f"{slug}: unknown initiative {link['slug']}"
            assert link["relation"] in INVERSE, f"{slug}: bad relation {link['relation']}"
            assert link["slug"] != slug, f"{slug} is related to itself"


def test_each_relation_is_written_on_one_side_only() -> None:
    pairs: Counter[frozenset[str]] = Counter()
    for record in records("initiatives"):
        for link in record["related"]:
            pairs[frozenset((record["slug"], link["slug"]))] += 1
    repeated = [sorted(pair) for pair, count in pairs.items() if count > 1]
    assert not repeated, f"relations written more than once (or on both sides): {repeated}"


# --- coverage of the article ------------------------------------------------------------------


def test_coverage_of_the_article() -> None:
    for name, wanted in (
        ("sectors", MUST_HAVE_SECTORS),
        ("organizations", MUST_HAVE_ORGANIZATIONS),
        ("initiatives", MUST_HAVE_INITIATIVES),
    ):
        missing = wanted - slugs(name)
        assert not missing, f"{name} missing: {sorted(missing)}"


def test_key_facts() -> None:
    by_slug = {record["slug"]: record for record in records("initiatives")}
    mic = by_slug["made-in-china-2025"]
    assert (mic["name_zh"], mic["start_year"], mic["end_year"]) == ("中国制造2025", 2015, 2025)
    assert "MIC2025" in mic["aliases"]
    assert set(mic["sectors"]) >= MUST_HAVE_SECTORS - {
        "artificial-intelligence",
        "5g",
        "semiconductors",
    }
    mlp = by_slug["national-medium-and-long-term-plan-for-science-and-technology"]
    assert {"slug": "made-in-china-2025", "relation": "predecessor_of"} in mlp["related"]
    assert (mlp["start_year"], mlp["end_year"]) == (2006, 2020)
    assert by_slug["juguo-system"]["name_zh"] == "举国体制"
    assert by_slug["dual-circulation-strategy"]["name_zh"] == "国内国际双循环"
    tariffs = by_slug["us-tariffs-on-chinese-exports"]
    assert {"slug": "innovation-mercantilist-policies", "relation": "responds_to"} in tariffs[
        "related"
    ]
    assert by_slug["like-minded-nations-coalition"]["status"] == "proposed"
    sectors_zh = {record["slug"]: record["name_zh"] for record in records("sectors")}
    assert sectors_zh["new-advanced-information-technology"] == "新一代信息技术产业"
    assert sectors_zh["biopharma-and-advanced-medical-products"] == "生物医药及高性能医疗器械"
