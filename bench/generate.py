"""Deterministic synthetic datasets for the benchmark harness.

One pass of a seeded RNG writes every size at once: the 10k dataset is the first 10k
initiatives of the 100k one, which is the first 100k of the 1M one (relations only point to
earlier initiatives, so every prefix is complete). Per size N it writes, under ``--out``:

- ``initiatives-N.ndjson``: the project's export/import format, one
  ``{"resource": ..., "record": ...}`` a line, sources, sectors, organizations, initiatives, in
  that order, every record shaped like the API's create body plus ``review_status``;
- ``flat-N.ndjson`` and ``flat-N.csv``: the same initiatives as one flat row each (lists as JSON
  text), for ``sqlite-utils insert`` and Datasette;
- ``meta-N.json``: counts, the search query chosen for the "two-word search" workload (two
  words that occur together in about 7.5% of initiatives), a sector and a deep slug.

Text: a Zipf-distributed vocabulary (s = 1.07) of 50,000 words, the 300 commonest real English
words and the rest English-like pseudo-words made from syllables; Chinese names of 2-6
characters drawn from the 500 commonest Han characters; 40 sectors, 300 organizations and 6
sources with 200 excerpts each.

Usage: python bench/generate.py --sizes 10000,100000 --out bench/work/data
"""

from __future__ import annotations

import argparse
import bisect
import csv
import itertools
import json
import random
import string
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

SEED = 20260929
VOCABULARY_SIZE = 50_000
ZIPF_S = 1.07
N_SECTORS, N_ORGANIZATIONS, N_SOURCES, EXCERPTS_PER_SOURCE = 40, 300, 6, 200
SEARCH_MATCH_TARGET = 0.075  # share of initiatives a two-word query should match

COMMON_WORDS = """
the of and to in a is that for it as was with be by on not he this are or his from at which
but have an they you were her she there been one all we their has would when if more no out
so said what up its about into than them can only other new some could time these two may
then do first any my now such like our over man me even most made after also did many before
must through back years where much your way well down should because each just those people
how too little state good very make world still own see men work long get here between both
life being under never day same another know while last might us great old year off come since
against go came right used take three states himself few house use during without again place
american around however home small found thought went say part once general high upon school
every does got united left number course war until always away something fact though water
less public put think almost hand enough far took head yet government system better set told
nothing night end why called didn find look going asked later knew point next program city
business give group toward young days let room president side social given present several
order national possible rather second face per among form important often things looked early
white case john become large big need four within felt along children saw best church ever
least power development light thing seemed family interest want members others mind country
area done turned although open god service certain kind problem began different door thus help
sense means whole matter perhaps itself york times human law line above name example action
company hands local show whether five history gave today either act feet across taken past
quite anything seen having death week experience
""".split()  # noqa: SIM905 - a word list reads better as text

# Domain words ranked just below the commonest function words, as in real policy prose.
POLICY_WORDS = """
development technology national industrial innovation science research digital security
economic infrastructure manufacturing energy investment capacity strategic advanced support
""".split()  # noqa: SIM905

SYLLABLES_START = [
    "b",
    "br",
    "c",
    "ch",
    "cl",
    "cr",
    "d",
    "dr",
    "f",
    "fl",
    "fr",
    "g",
    "gr",
    "h",
    "j",
    "k",
    "l",
    "m",
    "n",
    "p",
    "pl",
    "pr",
    "qu",
    "r",
    "s",
    "sc",
    "sh",
    "sl",
    "sp",
    "st",
    "str",
    "t",
    "th",
    "tr",
    "v",
    "w",
    "wh",
    "y",
    "z",
    "",
]
SYLLABLE_VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "ee", "io", "ou", "oa", "y"]
SYLLABLE_END = ["", "", "", "n", "r", "s", "t", "l", "m", "nd", "nt", "st", "ck", "ng", "rt", "x"]
SUFFIXES = ["", "", "", "", "ing", "ion", "ment", "ity", "al", "ive", "ed", "er", "ism", "ics"]

# The 500 commonest Han characters (by frequency in modern text), as one string.
HAN = (
    "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家"
    "学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见"
    "经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话"
    "儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真"
    "听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立"
    "马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制"
    "解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎"
    "元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武"
    "半候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱"
    "党倒未持取设始版双病医随离云船片刚调准史选断改形类照河态复乐布格较土验环质装视千商线议置"
)

KINDS = ["plan", "strategy", "policy", "programme", "system", "measure", "regulation", "proposal"]
KIND_WEIGHTS = [20, 12, 25, 15, 5, 10, 8, 5]
STATUSES = ["proposed", "active", "completed", "superseded", "unknown"]
STATUS_WEIGHTS = [5, 40, 30, 10, 15]
COUNTRIES = ["CN", "US", "JP", "KR", "DE", "FR", "GB", "IN", "TW", "SG", "IL", "CA", "AU", "NL"]
COUNTRY_WEIGHTS = [60, 10, 5, 5, 4, 3, 3, 3, 2, 1, 1, 1, 1, 1]
ROLES = ["lead", "funder", "implementer", "participant", "target"]
RELATIONS = [
    "predecessor_of",
    "successor_of",
    "part_of",
    "has_part",
    "implements",
    "responds_to",
    "related_to",
]
ORG_KINDS = [
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
]
NAME_TAILS = {
    "plan": "Plan",
    "strategy": "Strategy",
    "policy": "Policy",
    "programme": "Programme",
    "system": "System",
    "measure": "Measures",
    "regulation": "Regulations",
    "proposal": "Proposal",
}
FLAT_COLUMNS = [
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
]


class Zipf:
    """Draws from a ranked vocabulary with weight 1/rank**s."""

    def __init__(self, words: list[str], s: float) -> None:
        self.words = words
        self.cum = list(itertools.accumulate(1.0 / (r**s) for r in range(1, len(words) + 1)))
        self.total = self.cum[-1]

    def draw(self, rng: random.Random, k: int) -> list[str]:
        words, cum, total, hi = self.words, self.cum, self.total, len(self.words) - 1
        rand = rng.random
        return [words[bisect.bisect(cum, rand() * total, 0, hi)] for _ in range(k)]


def vocabulary(rng: random.Random) -> list[str]:
    words = list(dict.fromkeys(COMMON_WORDS[:8] + POLICY_WORDS + COMMON_WORDS[8:]))
    seen = set(words)
    while len(words) < VOCABULARY_SIZE:
        parts = [
            rng.choice(SYLLABLES_START) + rng.choice(SYLLABLE_VOWELS) + rng.choice(SYLLABLE_END)
            for _ in range(rng.choice((1, 2, 2, 2, 3, 3, 4)))
        ]
        word = "".join(parts) + rng.choice(SUFFIXES)
        if 3 <= len(word) <= 16 and word not in seen and word.isalpha():
            seen.add(word)
            words.append(word)
    # Shuffle the pseudo-words among themselves, so rank does not follow generation order.
    head = len(set(COMMON_WORDS) | set(POLICY_WORDS))
    tail = words[head:]
    rng.shuffle(tail)
    return words[:head] + tail


def sentence(rng: random.Random, zipf: Zipf, n: int) -> str:
    words = zipf.draw(rng, n)
    return words[0].capitalize() + " " + " ".join(words[1:]) + "."


def prose(rng: random.Random, zipf: Zipf, n_words: int) -> str:
    out, left = [], n_words
    while left > 0:
        n = min(left, rng.randint(6, 18))
        out.append(sentence(rng, zipf, max(n, 2)))
        left -= n
    return " ".join(out)


def han_name(rng: random.Random) -> str:
    return "".join(rng.choice(HAN) for _ in range(rng.randint(2, 6)))


def title(words: list[str]) -> str:
    return " ".join(w.capitalize() for w in words)


def slugify(words: list[str]) -> str:
    slug = "-".join("".join(c for c in w if c in string.ascii_lowercase) for w in words)
    return slug[:60].strip("-")


def make_sources(rng: random.Random, zipf: Zipf) -> list[dict[str, Any]]:
    sources = []
    for n in range(N_SOURCES):
        words = zipf.draw(rng, 4)
        excerpts = [
            {
                "id": f"excerpt-{k:03d}",
                "quote": prose(rng, zipf, rng.randint(15, 40)),
                "locator": f"para {k + 1}",
            }
            for k in range(EXCERPTS_PER_SOURCE)
        ]
        sources.append(
            {
                "slug": f"bench-source-{n}-{slugify(words[:2])}",
                "title": f"Report on {title(words)}",
                "authors": [title(zipf.draw(rng, 2)) for _ in range(rng.randint(1, 3))],
                "publisher": title(zipf.draw(rng, 2)) + " Institute",
                "published_on": f"{rng.randint(2000, 2024)}-{rng.randint(1, 12):02d}-"
                f"{rng.randint(1, 28):02d}",
                "url": f"https://example.org/reports/{n}",
                "excerpts": excerpts,
                "review_status": "published",
            }
        )
    return sources


def evidence(rng: random.Random, sources: list[dict[str, Any]], k: int) -> list[dict[str, str]]:
    out, seen = [], set()
    for _ in range(k):
        src = rng.choice(sources)
        ex = rng.randrange(EXCERPTS_PER_SOURCE)
        if (src["slug"], ex) not in seen:
            seen.add((src["slug"], ex))
            out.append({"source": src["slug"], "excerpt": f"excerpt-{ex:03d}"})
    return out


def make_sectors(rng: random.Random, zipf: Zipf, sources: list[Any]) -> list[dict[str, Any]]:
    out = []
    for n in range(N_SECTORS):
        words = zipf.draw(rng, rng.randint(1, 3))
        out.append(
            {
                "slug": f"sector-{n:02d}-{slugify(words)}".strip("-"),
                "name": title(words),
                "name_zh": han_name(rng),
                "kind": rng.choice(["industry", "technology"]),
                "description": prose(rng, zipf, rng.randint(20, 60)),
                "evidence": evidence(rng, sources, 1),
                "review_status": "published",
            }
        )
    return out


def make_organizations(rng: random.Random, zipf: Zipf, sources: list[Any]) -> list[dict[str, Any]]:
    out = []
    for n in range(N_ORGANIZATIONS):
        kind = rng.choice(ORG_KINDS)
        words = zipf.draw(rng, rng.randint(2, 4))
        name = f"{title(words)} {kind.capitalize()}"
        out.append(
            {
                "slug": f"org-{n:03d}-{slugify(words)}".strip("-"),
                "name": name,
                "name_zh": han_name(rng),
                "aliases": ["".join(w[0] for w in name.split()).upper()],
                "kind": kind,
                "country": rng.choices(COUNTRIES, COUNTRY_WEIGHTS)[0],
                "city": title(zipf.draw(rng, 1)),
                "founded_year": rng.randint(1900, 2020),
                "description": prose(rng, zipf, rng.randint(15, 50)),
                "evidence": evidence(rng, sources, 1),
                "review_status": "published",
            }
        )
    return out


def make_initiative(
    i: int,
    rng: random.Random,
    zipf: Zipf,
    sources: list[Any],
    sectors: list[str],
    orgs: list[str],
    earlier: list[str],
) -> dict[str, Any]:
    kind = rng.choices(KINDS, KIND_WEIGHTS)[0]
    words = zipf.draw(rng, rng.randint(2, 5))
    name = f"{title(words)} {NAME_TAILS[kind]}"
    start = None if rng.random() < 0.05 else min(2025, int(2025 - rng.expovariate(1 / 12)))
    start = None if start is not None and start < 1900 else start
    end = None
    if start is not None and rng.random() < 0.6:
        end = min(2100, start + rng.randint(0, 15))
    aliases = []
    if rng.random() < 0.4:
        aliases.append("".join(w[0] for w in name.split()).upper())
    if rng.random() < 0.1:
        aliases.append(title(zipf.draw(rng, 2)))
    related = []
    if earlier and rng.random() < 0.3:
        for slug in sorted({rng.choice(earlier) for _ in range(rng.randint(1, 2))}):
            related.append({"slug": slug, "relation": rng.choice(RELATIONS)})
    org_links = {}
    for org in rng.sample(orgs, rng.randint(1, 3)):
        org_links[org] = rng.choice(ROLES)
    return {
        "slug": f"{slugify(words[:3])}-{i:07d}".lstrip("-"),
        "name": name,
        "name_zh": han_name(rng) + rng.choice(["计划", "战略", "政策", "工程", "规划"])
        if rng.random() < 0.8
        else None,
        "aliases": aliases,
        "kind": kind,
        "status": rng.choices(STATUSES, STATUS_WEIGHTS)[0],
        "country": rng.choices(COUNTRIES, COUNTRY_WEIGHTS)[0],
        "summary": prose(rng, zipf, rng.randint(25, 80)),
        "start_year": start,
        "end_year": end,
        "sectors": sorted(rng.sample(sectors, rng.choice((1, 1, 2, 2, 3)))),
        "organizations": [{"slug": s, "role": r} for s, r in org_links.items()],
        "related": related,
        "evidence": evidence(rng, sources, rng.randint(1, 2)),
        "review_status": "published",
    }


def flat_row(record: dict[str, Any]) -> dict[str, Any]:
    row = {c: record[c] for c in FLAT_COLUMNS}
    for c in ("aliases", "sectors", "organizations", "related", "evidence"):
        row[c] = json.dumps(record[c], ensure_ascii=False)
    return row


def line(resource: str, record: dict[str, Any]) -> str:
    return json.dumps({"resource": resource, "record": record}, ensure_ascii=False) + "\n"


def choose_query(docs: list[set[str]]) -> tuple[list[str], float]:
    """Two content words that co-occur in about SEARCH_MATCH_TARGET of the sampled docs."""
    df = Counter(w for d in docs for w in d)
    candidates = [w for w in POLICY_WORDS if 0.1 < df[w] / len(docs) < 0.6]
    best: tuple[float, list[str], float] | None = None
    for a, b in itertools.combinations(candidates, 2):
        share = sum(1 for d in docs if a in d and b in d) / len(docs)
        score = abs(share - SEARCH_MATCH_TARGET)
        if best is None or score < best[0]:
            best = (score, [a, b], share)
    assert best is not None
    return best[1], best[2]


def tokens(record: dict[str, Any]) -> set[str]:
    text = f"{record['name']} {record['summary']}".lower()
    return {"".join(c for c in w if c.isalpha()) for w in text.split()}


def generate(sizes: list[int], out: Path) -> dict[int, dict[str, Any]]:
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    zipf = Zipf(vocabulary(rng), ZIPF_S)
    sources = make_sources(rng, zipf)
    sectors = make_sectors(rng, zipf, sources)
    orgs = make_organizations(rng, zipf, sources)
    sector_slugs = [s["slug"] for s in sectors]
    org_slugs = [o["slug"] for o in orgs]
    biggest = max(sizes)
    files: dict[int, tuple[TextIO, TextIO, Any]] = {}
    for n in sizes:
        nd = (out / f"initiatives-{n}.ndjson").open("w", encoding="utf-8")
        flat = (out / f"flat-{n}.ndjson").open("w", encoding="utf-8")
        csv_fh = (out / f"flat-{n}.csv").open("w", encoding="utf-8", newline="")
        writer = csv.DictWriter(csv_fh, FLAT_COLUMNS)
        writer.writeheader()
        files[n] = (nd, flat, (csv_fh, writer))
        for resource, records in (("sources", sources), ("sectors", sectors)):
            for r in records:
                nd.write(line(resource, r))
        for r in orgs:
            nd.write(line("organizations", r))
    earlier: list[str] = []
    sample: list[set[str]] = []
    slugs_sorted_sample: dict[int, str] = {}
    read_slugs: dict[int, str] = {}
    with_related = ""
    started = time.monotonic()
    for i in range(biggest):
        record = make_initiative(i, rng, zipf, sources, sector_slugs, org_slugs, earlier)
        earlier.append(record["slug"])
        if len(record["related"]) >= 2:
            with_related = record["slug"]
        if i < 10_000:
            sample.append(tokens(record))
        text = line("initiatives", record)
        flat = flat_row(record)
        flat_text = json.dumps(flat, ensure_ascii=False) + "\n"
        for n, (nd, fl, (_, writer)) in files.items():
            if i < n:
                nd.write(text)
                fl.write(flat_text)
                writer.writerow(flat)
        if (i + 1) % 100_000 == 0:
            rate = (i + 1) / (time.monotonic() - started)
            print(f"  {i + 1:,} initiatives ({rate:,.0f}/s)", file=sys.stderr)
        if i + 1 in files:
            slugs_sorted_sample[i + 1] = sorted(earlier)[(i + 1) // 2]
            read_slugs[i + 1] = with_related
    for nd, fl, (csv_fh, _) in files.values():
        nd.close()
        fl.close()
        csv_fh.close()
    words, share = choose_query(sample)
    metas = {}
    for n in sizes:
        meta = {
            "size": n,
            "seed": SEED,
            "sources": len(sources),
            "sectors": len(sectors),
            "organizations": len(orgs),
            "initiatives": n,
            "search_words": words,
            "search_share_in_sample": round(share, 4),
            "sector": sector_slugs[0],
            "year_range": [2010, 2015],
            "deep_slug": slugs_sorted_sample[n],
            "read_slug": read_slugs[n],
        }
        (out / f"meta-{n}.json").write_text(json.dumps(meta, indent=2) + "\n")
        metas[n] = meta
    return metas


def iter_lines(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for raw in fh:
            yield json.loads(raw)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--out", type=Path, default=Path("bench/work/data"))
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    started = time.monotonic()
    metas = generate(sizes, args.out)
    elapsed = time.monotonic() - started
    for n, meta in metas.items():
        size = (args.out / f"initiatives-{n}.ndjson").stat().st_size
        print(f"{n:>9,} initiatives: {size / 1e6:,.1f} MB NDJSON; query {meta['search_words']}")
    print(f"generated in {elapsed:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
