"""The README's "Writing" section, step by step, as a researcher would follow it.

An operator makes two keys with the CLI (an editor's and a contributor's); the contributor
submits a draft, the editor finds it in the review queue and publishes it, the contributor
corrects it with a JSON merge patch and If-Match, and anyone reads its history and the record
as it was before the correction. Then the editor deletes it and brings it back.
"""

import json
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from api.cli import app as cli_app
from api.config import get_settings

SOURCE = "lse-ideas-techno-nationalism-2021"
DRAFT = {
    "slug": "example-plan",
    "name": "Example plan",
    "kind": "plan",
    "country": "CN",
    "start_year": 2021,
    "sectors": ["new-materials"],
    "evidence": [{"source": SOURCE, "excerpt": "mic2025-and-predecessor"}],
}
CORRECTION = {
    "end_year": 2030,
    "related": [{"slug": "made-in-china-2025", "relation": "successor_of"}],
}


@pytest.fixture
def policy_tracker(api, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """`policy-tracker`, configured (like the server) by TRACKER_DATABASE_URL."""
    monkeypatch.setenv("TRACKER_DATABASE_URL", api.db.url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def make_key(runner: CliRunner, name: str, role: str) -> str:
    """EDITOR=$(policy-tracker keys create --name NAME --role ROLE)"""
    result = runner.invoke(cli_app, ["keys", "create", "--name", name, "--role", role])
    assert result.exit_code == 0, result.stderr
    return result.stdout.strip()


def test_a_researcher_follows_the_readme(api, policy_tracker):
    # An operator makes the first keys (printed once; only a hash is stored).
    editor = {"Authorization": f"Bearer {make_key(policy_tracker, 'ed', 'editor')}"}
    jane = {"Authorization": f"Bearer {make_key(policy_tracker, 'jane', 'contributor')}"}
    listing = policy_tracker.invoke(cli_app, ["keys", "list"]).stdout
    assert "ed\teditor\tactive" in listing
    assert "jane\tcontributor\tactive" in listing

    # Create a draft.
    created = api.post("/v1/initiatives", json=DRAFT, headers=jane)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/v1/initiatives/example-plan"
    draft = created.json()
    assert draft["review_status"] == "draft"
    assert draft["version"] == 1
    assert draft["evidence"][0]["quote"]  # the cited sentence, verbatim

    # Nobody else sees it yet; the editor finds it in the review queue.
    assert api.get("/v1/initiatives/example-plan").status_code == 404
    public = api.get("/v1/initiatives?limit=200").json()["items"]
    assert "example-plan" not in [i["slug"] for i in public]
    queue = api.get("/v1/initiatives?review_status=draft", headers=editor).json()
    assert [i["slug"] for i in queue["items"]] == ["example-plan"]
    # a contributor can neither see the queue nor publish
    assert api.get("/v1/initiatives?review_status=draft", headers=jane).status_code == 403
    assert api.post("/v1/initiatives/example-plan/publish", headers=jane).status_code == 403

    # An editor publishes it; then it shows in public lists.
    published = api.post("/v1/initiatives/example-plan/publish", headers=editor)
    assert published.status_code == 200, published.text
    assert published.json()["review_status"] == "published"
    public = api.get("/v1/initiatives?sector=new-materials&limit=200").json()["items"]
    assert "example-plan" in [i["slug"] for i in public]

    # Change it: a JSON merge patch, with the ETag you read (428 without it, 412 if stale).
    read = api.get("/v1/initiatives/example-plan")
    assert read.status_code == 200
    etag = read.headers["etag"]
    merge_patch = {**jane, "Content-Type": "application/merge-patch+json"}
    missing = api.patch("/v1/initiatives/example-plan", json=CORRECTION, headers=jane)
    assert missing.status_code == 428
    stale = api.patch(
        "/v1/initiatives/example-plan",
        json=CORRECTION,
        headers={**jane, "If-Match": created.headers["etag"]},
    )
    assert stale.status_code == 412
    corrected = api.patch(
        "/v1/initiatives/example-plan",
        content=json.dumps(CORRECTION).encode(),
        headers={**merge_patch, "If-Match": etag},
    )
    assert corrected.status_code == 200, corrected.text
    record = corrected.json()
    assert record["end_year"] == 2030
    assert record["version"] == 3
    assert record["review_status"] == "published"
    assert [(r["slug"], r["relation"]) for r in record["related"]] == [
        ("made-in-china-2025", "successor_of")
    ]
    assert corrected.headers["etag"] != etag
    # relations are kept symmetric
    other = api.get("/v1/initiatives/made-in-china-2025").json()
    assert ("example-plan", "predecessor_of") in [
        (r["slug"], r["relation"]) for r in other["related"]
    ]

    # Who changed what, newest first.
    history = api.get("/v1/initiatives/example-plan/history")
    assert history.status_code == 200
    items = history.json()["items"]
    assert [(i["action"], i["actor"], i["version"]) for i in items] == [
        ("update", "jane", 3),
        ("publish", "ed", 2),
        ("create", "jane", 1),
    ]
    assert items[0]["changes"]["end_year"] == {"before": None, "after": 2030}
    assert items[0]["changes"]["related"]["before"] == []
    assert items[1]["changes"] == {"review_status": {"before": "draft", "after": "published"}}

    # And the record as it was at a moment: when it was published, before the correction.
    then = api.get("/v1/initiatives/example-plan", params={"as_of": items[1]["at"]})
    assert then.status_code == 200
    assert then.json() == published.json()
    assert then.json()["end_year"] is None

    # Delete (history is kept), and bring it back.
    etag = api.get("/v1/initiatives/example-plan").headers["etag"]
    deleted = api.delete("/v1/initiatives/example-plan", headers={**editor, "If-Match": etag})
    assert deleted.status_code == 204
    assert api.get("/v1/initiatives/example-plan").status_code == 404
    assert api.get("/v1/initiatives/example-plan/history", headers=editor).json()["total"] == 4
    restored = api.post("/v1/initiatives/example-plan/restore", headers=editor)
    assert restored.status_code == 200, restored.text
    back = api.get("/v1/initiatives/example-plan")
    assert back.status_code == 200
    assert back.json()["end_year"] == 2030
    assert back.json()["related"] == record["related"]
    actions = [i["action"] for i in api.get("/v1/initiatives/example-plan/history").json()["items"]]
    assert actions == ["restore", "delete", "update", "publish", "create"]
