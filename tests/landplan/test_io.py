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
    assert gdf["DKBH"].tolist() == ["A", "A-2", "C"]
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
