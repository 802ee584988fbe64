"""Reading real files in real formats, and every kind of bad input."""

import zipfile

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from landplan.core.errors import (
    CRSError,
    DataSourceError,
    DuplicateIdError,
    EmptyLayerError,
    EncodingError,
    GeometryError,
    ManifestError,
)
from landplan.io.vector import detect_dbf_encoding, read_vector
from tests.helpers import GK, box

NAMES = ["金山片区一号地块", "东山片区（标准地）", "玉龙·二号"]


def _parcels(names=NAMES):
    return gpd.GeoDataFrame(
        {"DKBH": ["A", "B", "C"], "DKMC": names},
        geometry=[box(0, 0, 100, 100), box(100, 0, 100, 100), box(200, 0, 100, 100)],
        crs=GK,
    )


def _write_gbk_shapefile(folder, gdf, *, cpg=False):
    path = folder / "parcels.shp"
    pyogrio.write_dataframe(gdf, path, encoding="GBK")
    if not cpg:
        path.with_suffix(".cpg").unlink(missing_ok=True)
    return path


def read(path, **kw):
    kw.setdefault("role", "parcels")
    kw.setdefault("workspace_crs", gpd.GeoSeries(crs=GK).crs)
    if kw["role"] == "parcels":
        kw.setdefault("id_field", "DKBH")
    return read_vector(path, **kw)


def test_gbk_shapefile_without_cpg_round_trips_chinese(tmp_path):
    path = _write_gbk_shapefile(tmp_path, _parcels())
    raw = path.with_suffix(".dbf").read_bytes()
    assert "金山".encode("gbk") in raw and "金山".encode() not in raw
    gdf, report = read(path)
    assert gdf["DKMC"].tolist() == NAMES
    assert report.encoding == "GB18030"
    assert [i.code for i in report.issues] == ["ENCODING_DETECTED"]


def test_zipped_gbk_shapefile(tmp_path):
    shp = _write_gbk_shapefile(tmp_path, _parcels())
    zpath = tmp_path / "parcels.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for f in tmp_path.glob("parcels.*"):
            if f.suffix != ".zip":
                zf.write(f, f.name)
    gdf, _ = read(zpath)
    assert gdf["DKMC"].tolist() == NAMES
    assert shp.exists()


def test_stated_wrong_encoding_is_a_clear_error(tmp_path):
    path = tmp_path / "utf8.shp"
    pyogrio.write_dataframe(_parcels(), path, encoding="UTF-8")
    with pytest.raises(EncodingError, match=r"not valid GBK.*UTF-8"):
        read(path, encoding="GBK")


def test_undecodable_text_is_refused():
    head = bytes(8) + (32).to_bytes(2, "little") + bytes(22)
    with pytest.raises(EncodingError, match="neither UTF-8 nor GBK"):
        detect_dbf_encoding(head + b"\x81\x20\xff\xfe\x80")


@pytest.mark.parametrize(
    "driver,suffix", [("GPKG", ".gpkg"), ("GeoJSON", ".geojson"), ("OpenFileGDB", ".gdb")]
)
def test_other_formats_read_the_same(tmp_path, driver, suffix):
    src = _parcels()
    path = tmp_path / f"p{suffix}"
    if driver == "GeoJSON":  # RFC 7946: longitude/latitude
        pyogrio.write_dataframe(src.to_crs(4326), path, driver=driver)
    else:
        pyogrio.write_dataframe(src, path, driver=driver, layer="parcels")
    gdf, _ = read(path)
    assert gdf["DKMC"].tolist() == NAMES
    np.testing.assert_allclose(gdf.area, 10_000, atol=0.01)


def test_geographic_input_gives_the_same_areas_as_gauss_kruger(tmp_path):
    src = _parcels()
    pyogrio.write_dataframe(src.to_crs(4490), tmp_path / "geo.gpkg")
    pyogrio.write_dataframe(src, tmp_path / "gk.gpkg")
    a, _ = read(tmp_path / "geo.gpkg")
    b, _ = read(tmp_path / "gk.gpkg")
    np.testing.assert_allclose(a.area, b.area, atol=0.01)


def test_no_crs_is_refused_unless_stated(tmp_path):
    path = tmp_path / "nocrs.shp"
    pyogrio.write_dataframe(_parcels().set_crs(None, allow_override=True), path)
    with pytest.raises(CRSError, match=r"no CRS.*crs = \"EPSG:4542\""):
        read(path)
    gdf, _ = read(path, crs="EPSG:4542")
    assert gdf.crs.to_epsg() == 4542


def test_degrees_in_a_projected_crs_are_refused(tmp_path):
    path = tmp_path / "deg.gpkg"
    pyogrio.write_dataframe(_parcels().to_crs(4490).set_crs(GK, allow_override=True), path)
    with pytest.raises(CRSError, match="look like degrees"):
        read(path)


def test_zone_prefixed_eastings_are_repaired_and_reported(tmp_path):
    src = _parcels()
    prefixed = src.set_geometry(
        shapely.transform(src.geometry.values, lambda xy: xy + np.array([33_000_000.0, 0.0]))
    )
    path = tmp_path / "prefixed.gpkg"
    pyogrio.write_dataframe(prefixed, path)  # still says EPSG:4542 (CM form)
    gdf, report = read(path)
    np.testing.assert_allclose(gdf.total_bounds, src.total_bounds, atol=1e-6)
    assert any(
        i.code == "ZONE_PREFIXED_EASTING" and i.severity == "repaired" for i in report.issues
    )


def test_corrupt_file_is_a_data_source_error(tmp_path):
    path = tmp_path / "broken.gpkg"
    path.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    with pytest.raises(DataSourceError, match=r"broken\.gpkg"):
        read(path)
    with pytest.raises(DataSourceError, match="not found"):
        read(tmp_path / "missing.shp")


def test_duplicate_ids_are_refused_or_suffixed(tmp_path):
    src = _parcels()
    src["DKBH"] = ["A", "A", "C"]
    path = tmp_path / "dup.gpkg"
    pyogrio.write_dataframe(src, path)
    with pytest.raises(DuplicateIdError, match=r"A ×2.*duplicate_ids = \"suffix\""):
        read(path)
    gdf, report = read(path, duplicate_ids="suffix")
    assert gdf["parcel_id"].tolist() == ["A", "A-2", "C"]
    assert gdf["DKBH"].tolist() == ["A", "A", "C"]  # the source attribute is left as it was
    assert report.issues[0].code == "DUPLICATE_ID"


def test_empty_layer_is_refused(tmp_path):
    path = tmp_path / "empty.gpkg"
    pyogrio.write_dataframe(_parcels().iloc[:0], path)
    with pytest.raises(EmptyLayerError, match="no features"):
        read(path)


def test_invalid_geometry_is_repaired_and_the_area_change_reported(tmp_path):
    src = _parcels()
    x, y = src.geometry.iat[0].bounds[:2]
    bowtie = shapely.Polygon([(x, y), (x + 100, y + 100), (x + 100, y), (x, y + 100)])
    src.loc[0, "geometry"] = bowtie
    path = tmp_path / "invalid.gpkg"
    pyogrio.write_dataframe(src, path)
    gdf, report = read(path)
    assert gdf.is_valid.all()
    assert gdf.area.iat[0] == pytest.approx(5000.0)  # the two triangles of the bow-tie
    issue = next(i for i in report.issues if i.code == "INVALID_GEOMETRY")
    assert issue.feature_ids == ["A"] and "area changed by" in issue.message


def test_empty_parcel_geometry_is_kept_and_reported(tmp_path):
    src = _parcels()
    src.loc[1, "geometry"] = None
    path = tmp_path / "hole.gpkg"
    pyogrio.write_dataframe(src, path)
    gdf, report = read(path)
    assert len(gdf) == 3
    assert gdf.geometry.iat[1] is None or gdf.geometry.iat[1].is_empty
    assert any(i.code == "EMPTY_GEOMETRY" and i.feature_ids == ["B"] for i in report.issues)


def test_lines_in_a_parcel_layer_are_refused(tmp_path):
    src = gpd.GeoDataFrame(
        {"DKBH": ["A"]},
        geometry=[shapely.LineString([(619000, 2977000), (619100, 2977000)])],
        crs=GK,
    )
    path = tmp_path / "lines.gpkg"
    pyogrio.write_dataframe(src, path)
    with pytest.raises(GeometryError, match="must hold polygons"):
        read(path)


def test_multilayer_file_needs_a_layer_name(tmp_path):
    path = tmp_path / "multi.gpkg"
    pyogrio.write_dataframe(_parcels(), path, layer="a")
    pyogrio.write_dataframe(_parcels(), path, layer="b")
    with pytest.raises(ManifestError, match=r"2 layers.*layer ="):
        read(path)
    with pytest.raises(ManifestError, match="no layer 'c'"):
        read(path, layer="c")


def test_missing_id_field_lists_the_fields(tmp_path):
    path = tmp_path / "p.gpkg"
    pyogrio.write_dataframe(_parcels(), path)
    with pytest.raises(ManifestError, match="DKMC"):
        read(path, id_field="BH")


def test_encoding_detection_streams_a_bounded_prefix_of_a_zip_member(tmp_path):
    """A .dbf padded to 64 MB inside a zip: detection reads at most PREFIX_BYTES of it."""
    import tracemalloc

    from landplan.io.shapefile import PREFIX_BYTES, resolve_encoding

    shp = _write_gbk_shapefile(tmp_path, _parcels())
    raw = shp.with_suffix(".dbf").read_bytes()
    zpath = tmp_path / "bomb.zip"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
        for s in (".shp", ".shx", ".prj"):
            zf.write(shp.with_suffix(s), "parcels" + s)
        zf.writestr("parcels.dbf", raw + b"\x1a" + b" " * (64 << 20))
    assert zpath.stat().st_size < 1 << 20
    tracemalloc.start()
    enc, finding = resolve_encoding(zpath, None, None, name="parcels", role="parcels")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert enc == "GB18030" and "GBK" in finding
    assert peak < 16 * PREFIX_BYTES, peak  # the member is 64 × PREFIX_BYTES
    gdf, _ = read(zpath)
    assert gdf["DKMC"].tolist() == NAMES


def test_cpg_spellings_are_understood():
    from landplan.io.shapefile import cpg_codec

    assert [cpg_codec(t) for t in ("GBK", "936", "ANSI 936", "cp936\n", "UTF-8", "65001", "utf8")] == [
        "gbk", "gbk", "gbk", "gbk", "utf-8", "utf-8", "utf-8"
    ]  # fmt: skip
    assert cpg_codec("GB2312") == "gb2312" and cpg_codec("no such page") is None


def test_a_lying_cpg_is_refused_with_the_encoding_that_works(tmp_path):
    path = tmp_path / "parcels.shp"
    pyogrio.write_dataframe(_parcels(), path, encoding="UTF-8")
    path.with_suffix(".cpg").write_text("GBK")
    with pytest.raises(EncodingError, match=r'\.cpg says GBK.*encoding = "UTF-8"'):
        read(path)
    gdf, report = read(path, encoding="UTF-8")  # the manifest's encoding overrides the .cpg
    assert gdf["DKMC"].tolist() == NAMES and report.encoding == "UTF-8"


def test_missing_sidecars_are_named(tmp_path):
    path = tmp_path / "parcels.shp"
    pyogrio.write_dataframe(_parcels(), path, encoding="UTF-8")
    path.with_suffix(".shx").unlink()
    with pytest.raises(DataSourceError, match=r"lacks parcels\.shx \(the index of the shapes\)"):
        read(path)


def test_parcel_id_is_landplans_column_and_a_source_parcel_id_is_kept(tmp_path):
    src = _parcels()
    src["parcel_id"] = ["x", "y", "z"]
    path = tmp_path / "p.gpkg"
    pyogrio.write_dataframe(src, path)
    gdf, report = read(path)
    assert list(gdf.columns[:2]) == ["parcel_id", "geometry_status"]
    assert gdf["parcel_id"].tolist() == ["A", "B", "C"]
    assert gdf["src_parcel_id"].tolist() == ["x", "y", "z"]
    assert "COLUMN_RENAMED" in {i.code for i in report.issues}


def test_non_finite_coordinates_are_findings_naming_the_features(tmp_path):
    src = _parcels()
    src.loc[1, "geometry"] = shapely.Polygon([(0, 0), (np.nan, 1), (1, 1)])
    src.loc[2, "geometry"] = shapely.box(1e300, 0, 2e300, 1)
    path = tmp_path / "p.gpkg"
    pyogrio.write_dataframe(src, path)
    gdf, report = read(path)
    issue = next(i for i in report.issues if i.code == "BAD_COORDINATES")
    assert issue.count == 2 and issue.feature_ids == ["B", "C"]
    assert gdf["geometry_status"].tolist() == ["ok", "invalid", "invalid"]
    assert gdf.geometry.iloc[1].is_empty and gdf.geometry.iloc[0].area == 10_000


def test_overlapping_parcels_are_a_finding_with_the_area(tmp_path):
    src = _parcels()
    src.loc[2, "geometry"] = box(150, 0, 150, 100)  # C overlaps B by 50 m × 100 m
    path = tmp_path / "p.gpkg"
    pyogrio.write_dataframe(src, path)
    _, report = read(path)
    issue = next(i for i in report.issues if i.code == "PARCELS_OVERLAP")
    assert issue.count == 1 and "5000.00 m²" in issue.message and issue.feature_ids == ["B", "C"]


def test_parcel_overlaps_on_several_threads_match_brute_force(monkeypatch):
    """The interior test runs on one thread per core in slices of the candidate pairs: the
    pairs and areas are those a brute-force intersection of every pair gives."""
    from landplan.io import checks

    rng = np.random.default_rng(11)
    x, y = np.meshgrid(np.arange(40) * 50.0, np.arange(40) * 50.0)
    geoms = shapely.box(x.ravel(), y.ravel(), x.ravel() + 50, y.ravel() + 50)  # edges shared
    for k in rng.choice(len(geoms), 25, replace=False):  # shifted, grown, duplicated parcels
        geoms[k] = shapely.affinity.translate(geoms[k], *rng.uniform(-20, 20, 2))
    geoms[7] = shapely.buffer(geoms[7], 3.0)
    geoms[900] = geoms[901]
    monkeypatch.setattr(checks, "_PAIRS_PER_THREAD", 500)
    monkeypatch.setattr(checks.os, "cpu_count", lambda: 4)  # four slices on any machine
    i, j, area = checks.parcel_overlaps(geoms)
    bi, bj = np.triu_indices(len(geoms), 1)
    shared = shapely.area(shapely.intersection(geoms[bi], geoms[bj]))
    want = shared > checks.OVERLAP_NOISE_M2
    assert len(i) > 25
    got = {(int(a), int(b)): s for a, b, s in zip(i, j, area, strict=True)}
    brute = {(int(a), int(b)): s for a, b, s in zip(bi[want], bj[want], shared[want], strict=True)}
    assert sorted(got) == sorted(brute)
    assert all(abs(got[k] - brute[k]) < 1e-6 for k in brute)
