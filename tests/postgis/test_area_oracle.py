"""PostGIS as an independent oracle for the available-land areas (ST_Area, ST_Intersection, geography)."""

import uuid

import numpy as np
import pytest
import shapely

psycopg = pytest.importorskip("psycopg")

pytestmark = pytest.mark.postgis


@pytest.fixture(scope="module")
def loaded(postgis_dsn, sample_result):
    """Load the sample's parcels and constraint layers into a fresh schema."""
    schema = f"lp_oracle_{uuid.uuid4().hex[:8]}"
    srid = sample_result.crs.to_epsg()
    conn = psycopg.connect(postgis_dsn, autocommit=True)
    conn.execute(f"CREATE SCHEMA {schema}")
    conn.execute(f"SET search_path = {schema}, public")

    def load(name, ids, geoms):
        conn.execute(f"CREATE TABLE {name} (id text, geom geometry(Geometry, {srid}))")
        with conn.cursor().copy(f"COPY {name} (id, geom) FROM STDIN") as copy:
            for i, wkb in zip(
                ids, shapely.to_wkb(geoms, hex=True, include_srid=False), strict=True
            ):
                copy.write_row((i, f"SRID={srid};{wkb}" if wkb else None))
        conn.execute(f"CREATE INDEX ON {name} USING gist (geom)")

    p = sample_result.parcels
    load("parcels", p["parcel_id"], np.asarray(p.geometry.values))
    for kind, layer in sample_result.inputs.constraints.items():
        load(kind, [str(i) for i in range(len(layer))], np.asarray(layer.geometry.values))
    yield conn
    conn.execute(f"DROP SCHEMA {schema} CASCADE")
    conn.close()


def _by_id(conn, sql):
    return dict(conn.execute(sql).fetchall())


def test_planar_areas_match_st_area(loaded, sample_result):
    oracle = _by_id(loaded, "SELECT id, ST_Area(geom) FROM parcels")
    p = sample_result.parcels
    got = p.set_index("parcel_id")["area_m2"]
    np.testing.assert_allclose([oracle[i] for i in got.index], got.to_numpy(), atol=0.01)


@pytest.mark.parametrize("kind", ["red_line", "basic_farmland", "inundation"])
def test_excluded_area_per_kind_matches_st_intersection(loaded, sample_result, kind):
    oracle = _by_id(
        loaded,
        f"""
        WITH u AS (SELECT ST_Union(geom) AS g FROM {kind})
        SELECT p.id, COALESCE(ST_Area(ST_Intersection(p.geom, u.g)), 0) FROM parcels p, u""",
    )
    got = sample_result.parcels.set_index("parcel_id")[f"excluded_{kind}_m2"]
    assert got.sum() > 100  # the sample really overlaps this layer
    np.testing.assert_allclose([oracle[i] for i in got.index], got.to_numpy(), atol=0.01)


def test_outside_boundary_and_net_available_match_postgis(loaded, sample_result):
    oracle = loaded.execute("""
        WITH inside AS (SELECT ST_Union(geom) AS g FROM urban_boundary),
             excl AS (SELECT ST_Union(geom) AS g FROM (
                 SELECT geom FROM red_line UNION ALL SELECT geom FROM basic_farmland
                 UNION ALL SELECT geom FROM inundation) s)
        SELECT p.id,
               ST_Area(p.geom) - ST_Area(ST_Intersection(p.geom, inside.g)),
               ST_Area(ST_Difference(ST_Intersection(p.geom, inside.g), excl.g))
        FROM parcels p, inside, excl""").fetchall()
    got = sample_result.parcels.set_index("parcel_id")
    ids = [r[0] for r in oracle]
    np.testing.assert_allclose(
        [r[1] for r in oracle], got.loc[ids, "excluded_urban_boundary_m2"], atol=0.01
    )
    np.testing.assert_allclose([r[2] for r in oracle], got.loc[ids, "net_available_m2"], atol=0.01)


def test_ellipsoidal_areas_match_postgis_geography_on_cgcs2000(loaded, sample_result):
    # geography in SRID 4490 uses the CGCS2000 (GRS80) spheroid; edges are geodesics between the vertices,
    # densified to 20 m in the plane first as landplan does, so both measure the same outline
    oracle = _by_id(
        loaded,
        """
        SELECT id, ST_Area(ST_Transform(ST_Segmentize(geom, 20), 4490)::geography, true) FROM parcels""",
    )
    got = sample_result.parcels.set_index("parcel_id")["area_ellipsoidal_m2"]
    np.testing.assert_allclose([oracle[i] for i in got.index], got.to_numpy(), rtol=1e-7, atol=0.01)
