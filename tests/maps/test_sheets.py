"""Parcel condition sheets: one A4 PDF per parcel, real text (pdftotext), fonts embedded, same bytes.

Oracles: poppler's ``pdftotext``/``pdffonts``/``pdfinfo`` read the PDFs; the numbers are
compared with the workspace's GeoPackage read back by pyogrio.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyogrio
import pytest
from landplan.maps.sheets import SheetError, load_sheet_context, select_parcels, sheet_pdf

from landplan.store.workspace import GpkgWorkspace

LANDPLAN = str(Path(sys.executable).with_name("landplan"))


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed in CI: .ci/run must install poppler-utils")
        pytest.skip(f"{name} is not installed")
    return path


@pytest.fixture(scope="module")
def workspace(sample_result, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sheets") / "ws"
    GpkgWorkspace(out).write_result(sample_result)
    return out


@pytest.fixture(scope="module")
def parcels(workspace):
    gdf = pyogrio.read_dataframe(workspace / "results.gpkg", layer="parcels", read_geometry=False)
    return gdf.set_index("parcel_id")


@pytest.fixture(scope="module")
def chosen(parcels) -> list[str]:
    """The blocked parcel with the most reasons, a parcel with warnings, a transferable one."""
    n = parcels["reason_codes"].fillna("").str.count(";")
    blocked = n[parcels["verdict"] == "blocked"].idxmax()
    out = [blocked]
    for verdict in ("transferable_with_warnings", "transferable"):
        ids = parcels.index[parcels["verdict"] == verdict]
        if len(ids):
            out.append(ids[0])
    return out


@pytest.fixture(scope="module")
def written(workspace, chosen, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sheet-out")
    args = [
        LANDPLAN,
        "sheet",
        str(workspace),
        "--out",
        str(out),
        "--industry",
        "13",
        "--table",
        "national-2008",
    ]
    for pid in chosen:
        args += ["--parcel", pid]
    run = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert "sheets/s" in run.stdout
    return out


def _text(pdf: Path) -> str:
    return subprocess.run(
        [_tool("pdftotext"), str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout


def test_one_pdf_per_parcel_with_id_area_reasons_and_indicators(written, chosen, parcels):
    pdfs = sorted(written.glob("*.pdf"))
    assert [p.stem for p in pdfs] == sorted(chosen)
    for pid in chosen:
        pdf = written / f"{pid}.pdf"
        info = subprocess.run([_tool("pdfinfo"), str(pdf)], capture_output=True, text=True).stdout
        assert re.search(r"Pages:\s+1\n", info) and "(A4)" in info, info
        text = _text(pdf)
        row = parcels.loc[pid]
        assert pid in text
        assert f"{row['net_available_mu']:,.2f}" in text  # net 亩, as in the GeoPackage to 0.01
        assert f"{row['area_mu']:,.2f}" in text and f"{row['area_ellipsoidal_mu']:,.2f}" in text
        for reason in json.loads(row["reasons"]):
            assert reason["code"] in text
            assert reason["basis"][:12] in text.replace("\n", "")
        # national-2008, industry 13: FAR ≥ 1, coverage ≥ 30 %, green ≤ 20 %, admin ≤ 7 %
        compact = text.replace(" ", "")
        for value in ("≥1", "≥30%", "≤20%", "≤7%"):
            assert value in compact, value
        assert "national-2008" in text and "容积率" in text and "建筑系数" in text
        for kind in ("道路", "给水", "电力"):
            assert kind in text
        if "slope_mean_deg" in row and row["slope_mean_deg"] == row["slope_mean_deg"]:
            assert "平均坡度" in text and "开发费用" in text


def test_fonts_embedded_and_bytes_deterministic(written, chosen, workspace):
    pdf = written / f"{chosen[0]}.pdf"
    fonts = subprocess.run([_tool("pdffonts"), str(pdf)], capture_output=True, text=True).stdout
    rows = [line.split() for line in fonts.splitlines()[2:] if line.strip()]
    assert rows and all("yes" in r[-5:-2] for r in rows), fonts  # emb column
    ctx = load_sheet_context(workspace, industry="13", table="national-2008")
    first = sheet_pdf(ctx, chosen[0])
    assert first == sheet_pdf(ctx, chosen[0]) == pdf.read_bytes()
    english = sheet_pdf(ctx, chosen[0], lang="en")
    assert english != first and b"%PDF" == english[:4]


def test_selection_and_bad_input(workspace, parcels, tmp_path):
    ctx = load_sheet_context(workspace)
    blocked = select_parcels(ctx, where="blocked")
    assert sorted(blocked) == sorted(parcels.index[parcels["verdict"] == "blocked"])
    assert len(select_parcels(ctx, all_parcels=True)) == len(parcels)
    with pytest.raises(SheetError, match="--where"):
        select_parcels(ctx, where="maybe")
    with pytest.raises(SheetError, match="exactly one"):
        select_parcels(ctx)
    run = subprocess.run(
        [
            LANDPLAN,
            "sheet",
            str(workspace),
            "--out",
            str(tmp_path / "o"),
            "--parcel",
            "no-such-parcel",
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and "no-such-parcel" in run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / "o").exists()


def test_parallel_sheets_are_the_same_bytes(workspace, written, chosen, parcels, tmp_path):
    from landplan.maps.sheets import write_sheets_parallel

    ctx = load_sheet_context(workspace, industry="13", table="national-2008")
    ids = [*chosen, *[p for p in parcels.index[:4] if p not in chosen]][:4]
    paths = write_sheets_parallel(ctx, ids, tmp_path, jobs=2, industry="13", table="national-2008")
    assert [p.stem for p in paths] == ids
    for p in paths:
        if (written / p.name).exists():
            assert p.read_bytes() == (written / p.name).read_bytes()
        assert p.read_bytes() == sheet_pdf(ctx, p.stem)
