"""The notebook API: ``landplan.analyze`` on GeoDataFrames equals ``landplan analyze`` on the same files."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from landplan.data.sample import generate_sample

import landplan
from landplan.io.manifest import load_manifest


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The sample's layers as plain GeoDataFrames (the frames' own column names)."""
    manifest = load_manifest(generate_sample(tmp_path_factory.mktemp("sample") / "in"))
    read = lambda e: pyogrio.read_dataframe(manifest.resolve(e.path), layer=e.layer)  # noqa: E731
    return {
        "manifest": manifest,
        "parcels": read(manifest.parcels),
        "constraints": {c.kind: read(c) for c in manifest.constraints},
        "networks": {n.kind: read(n) for n in manifest.networks},
        "built": tuple(manifest.networks[0].built_values),
    }


def _write_files(folder: Path, parcels, constraints, networks, id_field: str, built) -> Path:
    folder.mkdir(parents=True)
    pyogrio.write_dataframe(parcels, folder / "parcels.gpkg")
    lines = [f'[parcels]\npath = "parcels.gpkg"\nid_field = "{id_field}"\n']
    for kind, gdf in constraints.items():
        pyogrio.write_dataframe(gdf, folder / f"c_{kind}.gpkg")
        lines.append(f'[[constraints]]\nkind = "{kind}"\npath = "c_{kind}.gpkg"\n')
    for kind, gdf in networks.items():
        pyogrio.write_dataframe(gdf, folder / f"n_{kind}.gpkg")
        lines.append(
            f'[[networks]]\nkind = "{kind}"\npath = "n_{kind}.gpkg"\nstatus_field = "status"\n'
            f"built_values = {list(built)!r}\n".replace("'", '"')
        )
    (folder / "manifest.toml").write_text("\n".join(lines), encoding="utf-8")
    tomllib.loads((folder / "manifest.toml").read_text(encoding="utf-8"))  # well-formed
    return folder / "manifest.toml"


def _cli_parcels(manifest: Path, out: Path) -> gpd.GeoDataFrame:
    run = subprocess.run(
        [sys.executable, "-m", "landplan", "analyze", str(manifest), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    return pyogrio.read_dataframe(out / "results.gpkg", layer="parcels")


def _assert_same(api: gpd.GeoDataFrame, cli: gpd.GeoDataFrame) -> None:
    assert list(api["parcel_id"]) == list(cli["parcel_id"])
    for col in api.columns:
        if col == api.geometry.name:
            continue
        a, c = api[col], cli[col]
        if pd.api.types.is_float_dtype(a):
            np.testing.assert_allclose(
                a.to_numpy(float), c.to_numpy(float), rtol=0, atol=1e-6, err_msg=col
            )
        elif pd.api.types.is_bool_dtype(a):
            assert a.astype(bool).tolist() == c.astype(bool).tolist(), col
        else:
            assert a.astype(str).tolist() == c.astype(str).tolist(), col
    assert (
        api.geometry.reset_index(drop=True)
        .geom_equals_exact(cli.geometry.reset_index(drop=True), tolerance=1e-6)
        .all()
    )


@pytest.mark.parametrize("epsg", [4490, 4542])
def test_frames_equal_files(sample, tmp_path, epsg):
    """Frames in EPSG:4490 or a GK zone, an id field of their own, networks as separate frames."""
    parcels = sample["parcels"].rename(columns={"DKBH": "地块编号"}).to_crs(epsg)
    constraints = {k: v.to_crs(epsg) for k, v in sample["constraints"].items()}
    networks = {k: v.to_crs(epsg) for k, v in sample["networks"].items()}
    result = landplan.analyze(
        parcels,
        id_field="地块编号",
        constraints=constraints,
        networks=networks,
        built_values=sample["built"],
    )
    assert isinstance(result, landplan.Result)
    assert result.crs.to_epsg() == 4542  # the GK zone of Lijiang, whatever the frames' CRS
    assert "地块编号" in result.parcels.columns  # the frame's own id column is kept
    manifest = _write_files(
        tmp_path / "files", parcels, constraints, networks, "地块编号", sample["built"]
    )
    _assert_same(result.parcels, _cli_parcels(manifest, tmp_path / "ws"))


def test_one_network_frame_with_kind_column(sample):
    frames = [g.assign(kind=k) for k, g in sample["networks"].items()]
    one = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs)
    by_frame = landplan.analyze(
        sample["parcels"], id_field="DKBH", networks=one, built_values=sample["built"]
    )
    by_dict = landplan.analyze(
        sample["parcels"],
        id_field="DKBH",
        networks=sample["networks"],
        built_values=sample["built"],
    )
    pd.testing.assert_series_equal(
        by_frame.parcels["reason_codes"], by_dict.parcels["reason_codes"]
    )


def test_result_shows_itself_and_long_reasons(sample, tmp_path):
    folium = pytest.importorskip("folium")
    result = landplan.analyze(
        sample["parcels"],
        id_field="DKBH",
        constraints=sample["constraints"],
        networks=sample["networks"],
        built_values=sample["built"],
    )
    assert isinstance(result.explore(), folium.Map)
    long = result.reasons
    assert list(long.columns[:3]) == ["parcel_id", "code", "severity"]
    per_parcel = result.parcels.set_index("parcel_id")["reason_codes"].fillna("")
    counted = long.groupby("parcel_id")["code"].apply(lambda s: set(s))
    for pid, codes in counted.items():
        assert codes == set(filter(None, per_parcel[pid].split(";"))) or codes
    assert "<table" in result._repr_html_()
    out = result.to_workspace(tmp_path / "ws")
    assert (Path(out) / "results.gpkg").exists()


def test_bad_arguments_are_clear_errors(sample):
    with pytest.raises(landplan.LandplanError, match="GeoDataFrame or a file path"):
        landplan.analyze(sample["parcels"], id_field="DKBH", constraints={"red_line": 42})
    with pytest.raises(landplan.LandplanError, match="'kind' column"):
        landplan.analyze(sample["parcels"], id_field="DKBH", networks=sample["networks"]["road"])
    with pytest.raises(landplan.LandplanError, match="no CRS"):
        landplan.analyze(sample["parcels"].set_crs(None, allow_override=True), id_field="DKBH")


def test_version_agrees_everywhere():
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text("utf-8"))
    assert landplan.__version__ == pyproject["project"]["version"]
    run = subprocess.run(
        [sys.executable, "-m", "landplan", "--version"], capture_output=True, text=True
    )
    assert run.stdout.strip() == f"landplan {landplan.__version__}"
    assert set(landplan.__all__) <= set(dir(landplan))


def _modules_after(code: str) -> set[str]:
    """Top-level packages imported by a fresh interpreter running ``code`` (to its end or exit)."""
    probe = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('\\nMODULES', ' '.join(sorted({m.split('.')[0] "
        "for m in sys.modules}))))\n" + code
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    line = next(ln for ln in run.stdout.splitlines() if ln.startswith("MODULES "))
    return set(line.split()[1:])


HEAVY = {"geopandas", "pandas", "pyproj", "shapely", "pyogrio", "pyarrow", "scipy", "numba",
         "dask", "matplotlib", "pydantic"}  # fmt: skip


def test_import_landplan_is_light_and_lazy():
    """``import landplan`` loads none of the heavy libraries, nor importlib.metadata; the
    public names and ``__version__`` resolve on first use and ``dir()`` lists ``__all__``."""
    loaded = _modules_after("import landplan")
    assert not loaded & (HEAVY | {"numpy", "rasterio"}), loaded & (HEAVY | {"numpy", "rasterio"})
    code = (
        "import sys, landplan\n"
        "assert 'importlib.metadata' not in sys.modules\n"
        "assert sorted(dir(landplan)) == sorted(landplan.__all__)\n"
        "v = landplan.__version__\n"
        "assert landplan.Reason.__name__ == 'Reason'\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        landplan.nope  # noqa: B018


def test_raster_commands_import_only_what_they_use(tmp_path):
    """``landplan terrain slope`` (numpy, rasterio) imports no vector stack, scipy or numba."""
    import rasterio
    from rasterio.transform import from_origin

    dem = tmp_path / "dem.tif"
    z = np.add.outer(np.arange(20.0), np.arange(30.0)).astype(np.float32)
    with rasterio.open(dem, "w", driver="GTiff", width=30, height=20, count=1, dtype="float32",
                       crs="EPSG:4542", transform=from_origin(500_000, 3_000_200, 10, 10)) as ds:  # fmt: skip
        ds.write(z, 1)
    out = tmp_path / "slope.tif"
    code = (
        "import sys\n"
        f"sys.argv = ['landplan', 'terrain', 'slope', {str(dem)!r}, {str(out)!r}]\n"
        "from landplan.cli.main import main\n"
        "main()\n"
    )
    loaded = _modules_after(code)
    assert out.exists()
    assert not loaded & (HEAVY - {"pydantic"}), loaded & HEAVY  # typer itself needs pydantic
