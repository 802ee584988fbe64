"""``GET /parcels/{id}/sheet.pdf``: the same PDF as ``landplan sheet`` (directory store)."""

from __future__ import annotations

import pyogrio
import pytest

from tests.api.conftest import auth


def test_parcel_sheet_pdf(client, store_spec):
    if "://" in store_spec:  # PostGIS: sheets read a workspace directory
        r = client.get("/parcels/x/sheet.pdf", headers=auth("viewer"))
        assert r.status_code == 409 and "landplan sheet" in r.json()["detail"]
        return
    from landplan.maps.sheets import load_sheet_context, sheet_pdf

    ids = pyogrio.read_dataframe(
        f"{store_spec}/results.gpkg", layer="parcels", read_geometry=False, columns=["parcel_id"]
    )["parcel_id"]
    pid = str(ids.iat[0])
    r = client.get(f"/parcels/{pid}/sheet.pdf", headers=auth("viewer"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert r.content == sheet_pdf(load_sheet_context(store_spec), pid)
    again = client.get(f"/parcels/{pid}/sheet.pdf?lang=en", headers=auth("viewer"))
    assert again.status_code == 200 and again.content != r.content
    missing = client.get("/parcels/nope/sheet.pdf", headers=auth("viewer"))
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("query", ["lang=fr", "table=../x"])
def test_parcel_sheet_bad_query(client, query):
    r = client.get(f"/parcels/x/sheet.pdf?{query}", headers=auth("viewer"))
    assert r.status_code in (400, 422)
