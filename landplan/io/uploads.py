"""Checking uploaded files before they touch a workspace.

Zip archives are inspected before anything is extracted: entries with absolute paths, drive
letters, ``..`` components or symlinks are refused, as are archives whose uncompressed size or
entry count exceeds the limits (zip bombs).  Formats: zipped Shapefile, GeoPackage, GeoJSON,
GeoTIFF — detected from the content's magic bytes, not only the file name.
"""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path, PurePosixPath

from landplan.core.errors import UploadError

MAX_ENTRIES = 200
MAX_UNZIPPED_BYTES = 2 * 1024**3
MAX_RATIO = 200.0
LAYER_NAME = r"^[a-z][a-z0-9_]{0,62}$"
PROTECTED = ("result_parcels", "park_summary", "reason_counts", "validation_issues", "scenarios")


def detect_format(path: Path, /) -> str:
    """``zip``, ``gpkg``, ``geojson`` or ``tiff`` from the first bytes."""
    head = path.read_bytes()[:64] if path.stat().st_size < 64 else path.open("rb").read(64)
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head.startswith(b"SQLite format 3\x00"):
        return "gpkg"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"{"):
        return "geojson"
    raise UploadError(
        "the upload is not a zipped Shapefile, GeoPackage, GeoJSON or GeoTIFF (checked its first bytes)"
    )


def _unsafe(name: str) -> bool:
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return True
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return any(p == ".." for p in parts)


def safe_extract(archive: Path, dest: Path, /) -> list[Path]:
    """Extract ``archive`` into ``dest`` after checking every entry; returns the files."""
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise UploadError(f"the zip archive is corrupt ({exc})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ENTRIES:
            raise UploadError(f"the zip holds {len(infos)} entries; the limit is {MAX_ENTRIES}")
        bad = [i.filename for i in infos if _unsafe(i.filename)]
        if bad:
            raise UploadError(
                f"the zip holds entries with absolute paths or '..': {bad[:5]}; refused"
            )
        links = [i.filename for i in infos if stat.S_ISLNK(i.external_attr >> 16)]
        if links:
            raise UploadError(f"the zip holds symbolic links: {links[:5]}; refused")
        total = sum(i.file_size for i in infos)
        packed = max(1, sum(i.compress_size for i in infos))
        if total > MAX_UNZIPPED_BYTES or total / packed > MAX_RATIO:
            raise UploadError(
                f"the zip expands to {total:,} bytes ({total / packed:.0f}× its size); refused as unsafe"
            )
        out = []
        root = dest.resolve()
        for info in infos:
            if info.is_dir():
                continue
            target = (dest / info.filename).resolve()
            if not target.is_relative_to(root):
                raise UploadError(
                    f"zip entry {info.filename!r} escapes the extraction folder; refused"
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, target.open("wb") as dst:
                written = 0
                while chunk := src.read(1 << 20):
                    written += len(chunk)
                    if written > info.file_size:
                        raise UploadError(
                            f"zip entry {info.filename!r} is larger than it declares; refused"
                        )
                    dst.write(chunk)
            out.append(target)
    return out


def vector_in(files: list[Path], /) -> Path:
    """The one dataset among extracted files (a .shp, .gpkg or .geojson)."""
    for suffix in (".shp", ".gpkg", ".geojson", ".json"):
        found = [f for f in files if f.suffix.lower() == suffix and not f.name.startswith("._")]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise UploadError(
                f"the zip holds {len(found)} {suffix} files; upload one layer at a time"
            )
    raise UploadError("the zip holds no .shp, .gpkg or .geojson file")
