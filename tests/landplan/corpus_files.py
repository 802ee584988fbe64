"""Corpus cases about files: encodings, Shapefile sidecars, broken files, manifests, empty layers."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

from tests.landplan.corpus import (
    GK,
    Case,
    Upload,
    _all,
    baseline,
    col,
    issues,
    network,
    parcels,
    red_line,
    refusal,
    result,
    scene,
    shapefile,
    with_names,
    write,
    zip_parts,
)


def encoding_cases() -> Iterator[Case]:
    def shp(enc, cpg, manifest_enc=None):
        def build(f: Path) -> Path:
            shapefile(f, parcels(), encoding=enc, cpg=cpg)
            zip_parts(f)
            extra = f'encoding = "{manifest_enc}"' if manifest_enc else ""
            return scene(f, write_parcels=False, parcels_path="parcels.shp", parcels_extra=extra)

        return build

    def shp_latin1(f: Path) -> Path:  # a .cpg of 1252 that is right: accented Latin text
        shapefile(f, parcels(DKMC=["café", "naïve", "über"]), encoding="ISO-8859-1", cpg="1252")
        zip_parts(f)
        return scene(f, write_parcels=False, parcels_path="parcels.shp")

    up = {"id_field": "DKBH"}
    yield Case("shp_gbk_without_cpg", shp("GBK", None),
               result(_all(with_names, lambda r: "ENCODING_DETECTED" in issues(r, "parcels"))),
               Upload("parcels", "upload.zip", up))  # fmt: skip
    yield Case(
        "shp_gbk_with_cpg",
        shp("GBK", "keep"),
        result(with_names),
        Upload("parcels", "upload.zip", up),
    )
    yield Case(
        "shp_utf8_with_cpg",
        shp("UTF-8", "keep"),
        result(with_names),
        Upload("parcels", "upload.zip", up),
    )
    yield Case("shp_gbk_cpg_ansi_936", shp("GBK", "ANSI 936"), result(with_names))
    yield Case("shp_gbk_cpg_cp936_lowercase", shp("GBK", "cp936\n"), result(with_names))
    yield Case("shp_utf8_cpg_65001", shp("UTF-8", "65001"), result(with_names))
    yield Case(
        "shp_utf8_but_cpg_says_gbk",
        shp("UTF-8", "GBK"),
        refusal(
            "EncodingError", r"parcels\.shp", r"\.cpg says GBK", r"UTF-8", r'encoding = "UTF-8"'
        ),
        Upload("parcels", "upload.zip", up, refused=True),
    )
    yield Case(
        "shp_gbk_but_cpg_says_utf8",
        shp("GBK", "UTF-8"),
        refusal("EncodingError", r"parcels\.shp", r"\.cpg says UTF-8", r'encoding = "GB18030"'),
        Upload("parcels", "upload.zip", up, refused=True),
    )
    yield Case(
        "shp_gbk_but_cpg_says_1252",
        shp("GBK", "1252"),
        refusal("EncodingError", r"parcels\.shp", r"\.cpg says CP1252", r'encoding = "GB18030"'),
        Upload("parcels", "upload.zip", up, refused=True),
    )
    yield Case(
        "shp_latin1_text_cpg_says_1252",
        shp_latin1,
        result(lambda r: col(r, "DKMC") == {"A": "café", "B": "naïve", "C": "über"}),
    )
    yield Case(
        "shp_lying_cpg_overridden_in_manifest", shp("UTF-8", "GBK", "UTF-8"), result(with_names)
    )
    yield Case(
        "shp_stated_encoding_wrong",
        shp("GBK", None, "UTF-8"),
        refusal("EncodingError", r"parcels\.shp", r"not valid UTF-8", r'encoding = "GB18030"'),
    )
    yield Case("shp_stated_encoding_unknown", shp("GBK", None, "KLINGON"),
               refusal("EncodingError", r"parcels\.shp", r"unknown encoding 'KLINGON'"))  # fmt: skip
    yield Case(
        "shp_unknown_cpg_gbk_text",
        shp("GBK", "WHATEVER-42"),
        result(_all(with_names, lambda r: "ENCODING_DETECTED" in issues(r, "parcels"))),
    )

    def latin(f: Path) -> Path:  # bytes that are neither UTF-8 nor GB18030
        p = parcels(DKMC=["caf\u00e9", "na\u00efve", "\u00fcber"])
        shapefile(f, p, encoding="ISO-8859-1", cpg=None)
        raw = bytearray((f / "parcels.dbf").read_bytes())
        raw[raw.index(b"caf") + 3] = 0xFF  # 0xFF is invalid as a GB18030 lead byte
        (f / "parcels.dbf").write_bytes(bytes(raw))
        return scene(f, write_parcels=False, parcels_path="parcels.shp")

    yield Case("shp_undecodable_text", latin,
               refusal("EncodingError", r"neither UTF-8 nor GBK", r'encoding = "\.\.\."'))  # fmt: skip

    def zipped(enc, cpg):
        def build(f: Path) -> Path:
            shapefile(f, parcels(), encoding=enc, cpg=cpg)
            zip_parts(f, out="parcels.zip")
            return scene(f, write_parcels=False, parcels_path="parcels.zip")

        return build

    yield Case(
        "zip_gbk_without_cpg",
        zipped("GBK", None),
        result(with_names),
        Upload("parcels", "parcels.zip", up),
    )
    yield Case("zip_utf8_but_cpg_says_gbk", zipped("UTF-8", "GBK"),
               refusal("EncodingError", r"parcels\.zip", r"\.cpg says GBK", r'encoding = "UTF-8"'),
               Upload("parcels", "parcels.zip", up, refused=True))  # fmt: skip

    def bomb(f: Path) -> Path:
        """A zipped Shapefile whose .dbf carries 64 MB of padding after its records (a small bomb)."""
        shapefile(f, parcels(), encoding="GBK", cpg=None)
        raw = (f / "parcels.dbf").read_bytes()
        with zipfile.ZipFile(f / "parcels.zip", "w", zipfile.ZIP_DEFLATED) as zf:
            for s in (".shp", ".shx", ".prj"):
                zf.write(f / f"parcels{s}", f"parcels{s}")
            zf.writestr("parcels.dbf", raw + b"\x1a" + b" " * (64 << 20))
        for s in (".shp", ".shx", ".prj", ".dbf"):
            (f / f"parcels{s}").unlink()
        return scene(f, write_parcels=False, parcels_path="parcels.zip")

    yield Case("zip_bomb_padding_in_dbf", bomb, result(with_names))


def sidecar_cases() -> Iterator[Case]:
    def missing(part: str, zipped: bool = False):
        def build(f: Path) -> Path:
            shapefile(f, parcels(), encoding="UTF-8")
            if zipped:
                zip_parts(f, out="parcels.zip", skip=(part,))
                for x in f.glob("parcels.[!z]*"):
                    x.unlink()
            else:
                (f / f"parcels{part}").unlink()
            zip_parts(f, skip=(part,))
            return scene(
                f, write_parcels=False, parcels_path="parcels.zip" if zipped else "parcels.shp"
            )

        return build

    up = {"id_field": "DKBH"}
    for part, what in ((".shx", "index"), (".dbf", "attribute table")):
        tag = part[1:]
        yield Case(f"shp_missing_{tag}", missing(part),
                   refusal("DataSourceError", rf"parcels\{part}", what, r"copy \.shp, \.shx, \.dbf"),
                   Upload("parcels", "upload.zip", up, refused=True))  # fmt: skip
        yield Case(f"zip_missing_{tag}", missing(part, True),
                   refusal("DataSourceError", r"parcels\.zip", rf"parcels\{part}", what))  # fmt: skip

    def no_prj(stated: bool):
        def build(f: Path) -> Path:
            shapefile(f, parcels(), encoding="UTF-8")
            (f / "parcels.prj").unlink()
            extra = f'crs = "{GK}"' if stated else ""
            return scene(f, write_parcels=False, parcels_path="parcels.shp", parcels_extra=extra)

        return build

    yield Case("shp_missing_prj", no_prj(False),
               refusal("CRSError", r"parcels\.shp", r"no CRS", r'crs = "EPSG:4542"'))  # fmt: skip
    yield Case("shp_missing_prj_crs_stated", no_prj(True), result(with_names))

    def truncated(cut: int, zipped: bool = False):
        def build(f: Path) -> Path:
            shp = shapefile(f, parcels(), encoding="UTF-8")
            raw = shp.read_bytes()
            shp.write_bytes(raw[: len(raw) - cut])
            if zipped:
                zip_parts(f, out="parcels.zip")
            return scene(
                f, write_parcels=False, parcels_path="parcels.zip" if zipped else "parcels.shp"
            )

        return build

    yield Case("shp_truncated_last_record", truncated(40),
               refusal("DataSourceError", r"parcels\.shp", r"truncated", r"header says \d+ bytes"))  # fmt: skip
    yield Case("shp_truncated_to_header", truncated(408),
               refusal("DataSourceError", r"parcels\.shp", r"truncated"))  # fmt: skip
    yield Case("zip_with_truncated_shp", truncated(40, True),
               refusal("DataSourceError", r"parcels\.zip/parcels\.shp", r"truncated"))  # fmt: skip

    def not_shp(f: Path) -> Path:
        f.mkdir(parents=True, exist_ok=True)
        shapefile(f, parcels(), encoding="UTF-8")
        (f / "parcels.shp").write_bytes(b"this is not a shapefile" * 10)
        return scene(f, write_parcels=False, parcels_path="parcels.shp")

    yield Case(
        "shp_garbage_bytes",
        not_shp,
        refusal("DataSourceError", r"parcels\.shp", r"not a Shapefile"),
    )


def file_cases() -> Iterator[Case]:
    def raw(name: str, data: bytes):
        def build(f: Path) -> Path:
            f.mkdir(parents=True, exist_ok=True)
            (f / name).write_bytes(data)
            return scene(f, write_parcels=False, parcels_path=name)

        return build

    yield Case("gpkg_zero_bytes", raw("parcels.gpkg", b""),
               refusal("DataSourceError", r"parcels\.gpkg", r"not a readable vector file"))  # fmt: skip
    yield Case("geojson_garbage", raw("parcels.geojson", b'{"type": "FeatureCollection", "features": [oops'),
               refusal("DataSourceError", r"parcels\.geojson"),
               Upload("parcels", "parcels.geojson", {"id_field": "DKBH"}, refused=True))  # fmt: skip
    yield Case("zip_not_a_zip", raw("parcels.zip", b"PK\x03\x04 broken archive" + bytes(100)),
               refusal("DataSourceError", r"parcels\.zip", r"not a valid zip"))  # fmt: skip
    yield Case("parcels_file_missing", lambda f: scene(f, write_parcels=False, parcels_path="nowhere.gpkg"),
               refusal("DataSourceError", r"nowhere\.gpkg", r"not found"))  # fmt: skip

    def two_layers(layer: str | None):
        def build(f: Path) -> Path:
            f.mkdir(parents=True, exist_ok=True)
            write(parcels(), f / "parcels.gpkg", layer="dk2024")
            write(parcels(), f / "parcels.gpkg", layer="dk2023")
            extra = f'layer = "{layer}"' if layer else ""
            return scene(f, write_parcels=False, parcels_extra=extra)

        return build

    yield Case("gpkg_two_layers_unnamed", two_layers(None),
               refusal("ManifestError", r"parcels\.gpkg", r"holds 2 layers", r'layer = "\.\.\."'))  # fmt: skip
    yield Case("gpkg_layer_misnamed", two_layers("dk2025"),
               refusal("ManifestError", r"parcels\.gpkg", r"no layer 'dk2025'"))  # fmt: skip
    yield Case("gpkg_layer_named", two_layers("dk2024"), result(baseline))

    def manifest_text(text: bytes):
        def build(f: Path) -> Path:
            scene(f)
            (f / "m.toml").write_bytes(text)
            return f / "m.toml"

        return build

    yield Case("manifest_not_utf8", manifest_text('[parcels]\npath = "政.gpkg"\n'.encode("gbk")),
               refusal("ManifestError", r"m\.toml", r"not UTF-8"))  # fmt: skip
    yield Case("manifest_toml_syntax", manifest_text(b'[parcels\npath = "parcels.gpkg"\n'),
               refusal("ManifestError", r"m\.toml"))  # fmt: skip
    yield Case("manifest_unknown_key", manifest_text(b'[parcels]\npath = "parcels.gpkg"\nid_field = "DKBH"\nidfield = "x"\n'),
               refusal("ManifestError", r"m\.toml", r"idfield"))  # fmt: skip


def layer_cases() -> Iterator[Case]:
    def empty(which: str):
        def build(f: Path) -> Path:
            m = scene(f)
            if which == "parcels":
                write(parcels().iloc[:0], f / "parcels.gpkg")
            elif which == "red":
                write(red_line().iloc[:0], f / "red.gpkg")
            else:
                write(network(-10).iloc[:0], f / "road.gpkg")
            return m

        return build

    yield Case("empty_parcels_layer", empty("parcels"),
               refusal("EmptyLayerError", r"parcels\.gpkg", r"no features"),
               Upload("parcels", "parcels.gpkg", {"id_field": "DKBH"}, refused=True))  # fmt: skip
    yield Case("empty_constraint_layer", empty("red"),
               refusal("EmptyLayerError", r"red\.gpkg", r"constraint:red_line", r"no features"))  # fmt: skip
    yield Case("empty_network_layer", empty("road"),
               refusal("EmptyLayerError", r"road\.gpkg", r"network:road", r"no features"))  # fmt: skip
