"""A generated corpus of real-world-ish bad inputs: every case writes its own files (no binaries here).

Use it from any test (the upload endpoint's tests drive it too)::

    from tests.landplan.corpus import cases

    for case in cases():                      # 100-odd Case objects, in a fixed order
        manifest = case.build(tmp_path / case.name)   # writes the files, returns the manifest
        case.expected.outcome                 # "result" or "refusal"
        case.expected.error                   # refusals: the LandplanError class name
        case.expected.match                   # refusals: regexes the message must all match
                                              #   (the file or layer, and the problem)
        case.expected.check(result)           # results: asserts specific values of the
                                              #   AnalysisResult (landplan.analysis.pipeline)
        case.upload                           # None, or Upload(layer, file, fields, refused):
                                              #   the single file to POST to /uploads/layers/{layer}
                                              #   (``file`` relative to the case folder; a zipped
                                              #   Shapefile where the case is a Shapefile) and
                                              #   whether the endpoint must refuse it (4xx)

The scene: three 100 m × 100 m parcels A, B, C in a row near Lijiang (EPSG:4542, CGCS2000 GK
CM 99°E), a red line over x 50–150 m (A and B lose 5 000 m² each), and built road, water and
power lines 10, 20 and 50 m south of the parcels.  Unless a case changes it, A and B are
blocked by RED_LINE_OVERLAP and C is transferable.
"""

from __future__ import annotations

import math
import textwrap
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely

X0, Y0 = 619_000.0, 2_977_000.0
GK = "EPSG:4542"
NAMES = ["金山片区一号地块", "东山片区（标准地）", "玉龙·二号"]
MU = 1.5e-3  # 亩 per m²


@dataclass(frozen=True)
class Expected:
    """What a case must give: a result with these values, or a refusal naming file and problem."""

    outcome: str  # "result" | "refusal"
    error: str | None = None
    match: tuple[str, ...] = ()
    check: Callable | None = None


@dataclass(frozen=True)
class Upload:
    """The single file of a case that the upload endpoint takes, and whether it must refuse it."""

    layer: str
    file: str
    fields: dict = field(default_factory=dict)
    refused: bool = False


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Path], Path]
    expected: Expected
    upload: Upload | None = None


def result(check: Callable) -> Expected:
    return Expected("result", check=check)


def refusal(error: str, *match: str) -> Expected:
    return Expected("refusal", error=error, match=match)


# --------------------------------------------------------------------------- builders


def box(x: float, y: float, w: float, h: float) -> shapely.Polygon:
    return shapely.box(X0 + x, Y0 + y, X0 + x + w, Y0 + y + h)


def line(y: float, x0: float = -10, x1: float = 310) -> shapely.LineString:
    return shapely.LineString([(X0 + x0, Y0 + y), (X0 + x1, Y0 + y)])


def parcels(**extra) -> gpd.GeoDataFrame:
    cols = {"DKBH": ["A", "B", "C"], "DKMC": NAMES, "DLMC": ["工业用地", "工业用地", "仓储用地"]}
    cols.update(extra)
    geoms = cols.pop(
        "geometry", [box(0, 0, 100, 100), box(100, 0, 100, 100), box(200, 0, 100, 100)]
    )
    return gpd.GeoDataFrame(cols, geometry=list(geoms), crs=GK)


def red_line() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"MC": ["生态保护红线"]}, geometry=[box(50, 0, 100, 100)], crs=GK)


def network(y: float, **kw) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"ZT": ["已建"]}, geometry=[line(y, **kw)], crs=GK)


NETS = {"road": 10.0, "water": 20.0, "power": 50.0}


def write(gdf: gpd.GeoDataFrame, path: Path, **kw) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pyogrio.write_dataframe(gdf, path, **kw)


def manifest(
    folder: Path,
    *,
    parcels_path: str = "parcels.gpkg",
    id_field: str = "DKBH",
    parcels_extra: str = "",
    constraints: tuple = (("red_line", "red.gpkg", ""),),
    networks: tuple = (
        ("road", "road.gpkg", ""),
        ("water", "water.gpkg", ""),
        ("power", "power.gpkg", ""),
    ),
    dem: str | None = None,
    top: str = "",
) -> Path:
    text = f'name = "corpus"\n{top}\n[parcels]\npath = "{parcels_path}"\nid_field = "{id_field}"\n{parcels_extra}\n'
    for kind, path, extra in constraints:
        text += f'\n[[constraints]]\nkind = "{kind}"\npath = "{path}"\n{extra}\n'
    for kind, path, extra in networks:
        text += f'\n[[networks]]\nkind = "{kind}"\npath = "{path}"\nstatus_field = "ZT"\nbuilt_values = ["已建"]\n{extra}\n'
    if dem is not None:
        text += f'\n[dem]\npath = "{dem}"\n'
    out = folder / "m.toml"
    out.write_text(textwrap.dedent(text), encoding="utf-8")
    return out


def scene(
    folder: Path,
    *,
    p: gpd.GeoDataFrame | None = None,
    red: gpd.GeoDataFrame | None = None,
    nets: dict | None = None,
    write_parcels: bool = True,
    **kw,
) -> Path:
    """Write the standard scene (parts replaced by arguments) and its manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    if write_parcels:
        write(parcels() if p is None else p, folder / "parcels.gpkg")
    write(red_line() if red is None else red, folder / "red.gpkg")
    for kind, layer in (
        nets if nets is not None else {k: network(-y) for k, y in NETS.items()}
    ).items():
        write(layer, folder / f"{kind}.gpkg")
    return manifest(folder, **kw)


def shapefile(folder: Path, gdf: gpd.GeoDataFrame, *, encoding: str = "GBK", cpg: str | None = "keep",
              name: str = "parcels") -> Path:  # fmt: skip
    """Write a Shapefile with attribute text in ``encoding``; ``cpg`` None removes the .cpg."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.shp"
    pyogrio.write_dataframe(gdf, path, encoding=encoding)
    if cpg is None:
        path.with_suffix(".cpg").unlink(missing_ok=True)
    elif cpg != "keep":
        path.with_suffix(".cpg").write_text(cpg, encoding="ascii")
    return path


def zip_parts(folder: Path, stem: str = "parcels", out: str = "upload.zip", skip=()) -> Path:
    target = folder / out
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.glob(f"{stem}.*")):
            if f.suffix.lower() not in (".zip", *skip):
                zf.write(f, f.name)
    return target


def dem(folder: Path, *, values=None, x0=-100.0, y0=-100.0, cells=(30, 50), size=10.0, nodata=-9999.0,
        crs: str | None = GK, name: str = "dem.tif", declare_nodata: bool = True) -> str:  # fmt: skip
    """A small GeoTIFF; default a plane rising 0.05 m per m eastwards from 1 000 m."""
    import rasterio
    from rasterio.transform import from_origin

    rows, cols = cells
    if values is None:
        xs = x0 + size * (np.arange(cols) + 0.5)
        values = np.tile(1000.0 + 0.05 * xs, (rows, 1))
    values = np.asarray(values, dtype="float32")
    profile = {"driver": "GTiff", "width": cols, "height": rows, "count": 1, "dtype": "float32",
               "transform": from_origin(X0 + x0, Y0 + y0 + rows * size, size, size)}  # fmt: skip
    if crs is not None:
        profile["crs"] = crs
    if declare_nodata:
        profile["nodata"] = nodata
    with rasterio.open(folder / name, "w", **profile) as ds:
        ds.write(values, 1)
    return name


# --------------------------------------------------------------------------- checks


def col(res, name: str) -> dict:
    return dict(zip(res.parcels["parcel_id"], res.parcels[name], strict=True))


def codes(res) -> dict[str, set[str]]:
    return {k: set(filter(None, v.split(";"))) for k, v in col(res, "reason_codes").items()}


def issues(res, layer: str) -> set[str]:
    return {i.code for r in res.inputs.reports if r.name == layer for i in r.issues}


#: the scene gives no sewer, telecom or gas layer: the national profile warns about each
UNSTATED = {f"NETWORK_DATA_NOT_PROVIDED:{k}" for k in ("sewer", "telecom", "gas")}


def baseline(res) -> None:
    """The standard scene's answer."""
    assert col(res, "transferable") == {"A": False, "B": False, "C": True}
    assert codes(res) == {"A": {"RED_LINE_OVERLAP"} | UNSTATED, "B": {"RED_LINE_OVERLAP"} | UNSTATED,
                          "C": UNSTATED}  # fmt: skip
    assert math.isclose(col(res, "net_available_m2")["A"], 5000.0, abs_tol=1e-6)
    assert col(res, "dist_road_m") == {"A": 10.0, "B": 10.0, "C": 10.0}


def with_names(res) -> None:
    baseline(res)
    assert col(res, "DKMC") == dict(zip("ABC", NAMES, strict=True))


def _all(*checks) -> Callable:
    def check(res) -> None:
        for c in checks:
            ok = c(res)
            assert ok is None or ok is True, c

    return check


# --------------------------------------------------------------------------- cases


def cases() -> Iterator[Case]:
    """Every case of the corpus, in a fixed order (names are unique)."""
    from tests.landplan import corpus_data, corpus_files

    for group in (
        corpus_files.encoding_cases,
        corpus_files.sidecar_cases,
        corpus_files.file_cases,
        corpus_files.layer_cases,
        corpus_data.id_cases,
        corpus_data.geometry_cases,
        corpus_data.crs_cases,
        corpus_data.plausibility_cases,
    ):
        yield from group()
