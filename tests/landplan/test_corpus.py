"""Every case of the generated corpus (tests/landplan/corpus.py) gives its exact outcome.

Results are checked in-process (values asserted by the case); refusals go through the real
``landplan analyze`` command (in-process runner): exit code 2, one line naming the file and the
problem, no traceback, nothing written.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter

import pytest
from typer.testing import CliRunner

from landplan.analysis.job import run_manifest
from landplan.cli.main import app
from landplan.core import errors
from tests.landplan.corpus import cases

CASES = list(cases())


def test_the_corpus_is_large_and_names_are_unique():
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))
    counts = Counter(c.expected.outcome for c in CASES)
    assert len(CASES) >= 60 and counts["result"] >= 20 and counts["refusal"] >= 20, counts


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_case(case, tmp_path):
    manifest = case.build(tmp_path / case.name)
    exp = case.expected
    if exp.outcome == "result":
        res = run_manifest(manifest)
        ok = exp.check(res)
        assert ok is None or ok is True
        return
    with pytest.raises(errors.LandplanError) as info:
        run_manifest(manifest)
    assert type(info.value).__name__ == exp.error, info.value
    message = str(info.value)
    for pattern in exp.match:
        assert re.search(pattern, message), (pattern, message)
    files = {p.name for p in (tmp_path / case.name).rglob("*")} | {"manifest", "nowhere"}
    assert any(name in message for name in files), f"names no file: {message}"
    out = tmp_path / "out"
    run = CliRunner().invoke(app, ["analyze", str(manifest), "--out", str(out)])
    assert run.exit_code == 2, run.output
    assert "Traceback" not in run.output and str(info.value)[:60] in " ".join(run.output.split())
    assert not out.exists()


def _digest(folder):
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_a_bad_run_leaves_an_existing_workspace_byte_identical(tmp_path):
    by_name = {c.name: c for c in CASES}
    good = by_name["gpkg_layer_named"].build(tmp_path / "good")
    out = tmp_path / "ws"
    run = CliRunner().invoke(app, ["analyze", str(good), "--out", str(out)])
    assert run.exit_code == 0, run.output
    before = _digest(out)
    assert "results.gpkg" in before
    for name in ("shp_utf8_but_cpg_says_gbk", "network_wrong_gk_zone_label", "dem_of_ratios_with_56pct_nodata",
                 "parcels_are_points"):  # fmt: skip
        bad = by_name[name].build(tmp_path / name)
        run = CliRunner().invoke(app, ["analyze", str(bad), "--out", str(out)])
        assert run.exit_code == 2, run.output
        assert _digest(out) == before, name
