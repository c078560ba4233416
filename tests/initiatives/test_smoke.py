def test_list(api):
    r = api.get("/v1/initiatives")
    assert r.status_code == 200
    assert r.json()["total"] > 5
