"""Shapefile specifics: the sidecar files, the ``.cpg`` and the encoding of the ``.dbf``.

Only a bounded prefix of the ``.dbf`` is read (:data:`PREFIX_BYTES`), from a file or
streamed out of a zip member, so a huge or bomb-like archive costs no more than that.
A ``.cpg`` is checked against the bytes: a code page that does not decode the text, or
text that is clearly another encoding (valid UTF-8 under a ``.cpg`` saying GBK), is
refused with the encoding that works and the manifest line that sets it.
"""

from __future__ import annotations

import codecs
import re
import zipfile
from pathlib import Path

from landplan.core.errors import DataSourceError, EncodingError

#: the most bytes of a .dbf read to detect or check its encoding
PREFIX_BYTES = 1 << 20
#: sidecar files a Shapefile cannot be read without, and what each one holds
REQUIRED_PARTS = {".shx": "the index of the shapes", ".dbf": "the attribute table"}


def _sibling(path: Path, suffix: str) -> Path | None:
    for s in (suffix, suffix.upper()):
        p = path.with_suffix(s)
        if p.exists():
            return p
    return None


def check_parts(path: Path, layer: str | None = None) -> None:
    """Refuse a Shapefile (or zipped Shapefile) whose ``.shx`` or ``.dbf`` is missing."""
    suffix = path.suffix.lower()
    if suffix == ".shp":
        present = {s for s in REQUIRED_PARTS if _sibling(path, s) is not None}
        stems = [(path.stem, present)]
    elif suffix == ".zip":
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError) as exc:
            raise DataSourceError(
                f"{path.name} is not a valid zip archive; re-create the archive"
            ) from exc
        lower = {n.lower() for n in names}
        shps = [n for n in names if n.lower().endswith(".shp")]
        if layer is not None:
            shps = [n for n in shps if Path(n).stem == layer] or shps
        stems = [
            (n[:-4], {s for s in REQUIRED_PARTS if (n[:-4] + s).lower() in lower}) for n in shps
        ]
    else:
        return
    if suffix == ".shp":
        with path.open("rb") as f:
            _check_length(path.name, f.read(100), path.stat().st_size)
    else:
        with zipfile.ZipFile(path) as zf:
            for n in shps:
                with zf.open(n) as f:
                    _check_length(f"{path.name}/{n}", f.read(100), zf.getinfo(n).file_size)
    for stem, present in stems:
        missing = [s for s in REQUIRED_PARTS if s not in present]
        if missing:
            what = ", ".join(f"{Path(stem).name}{s} ({REQUIRED_PARTS[s]})" for s in missing)
            raise DataSourceError(
                f"{path.name}: the Shapefile {Path(stem).name}.shp lacks {what}; a Shapefile is "
                "several files: copy .shp, .shx, .dbf, .prj and .cpg together (or zip them all)"
            )


def _check_length(name: str, header: bytes, size: int) -> None:
    """Refuse a .shp shorter than its header says (a cut-off copy or download)."""
    if len(header) < 100 or int.from_bytes(header[:4], "big") != 9994:
        raise DataSourceError(
            f"{name} is not a Shapefile (its 100-byte header is missing or wrong); export it again"
        )
    declared = int.from_bytes(header[24:28], "big") * 2
    if size < declared:
        raise DataSourceError(
            f"{name} is truncated: its header says {declared} bytes but the file has {size}; "
            "the copy or download was cut off: copy or export it again"
        )


def dbf_prefix(path: Path, layer: str | None) -> tuple[bytes | None, str | None]:
    """Up to :data:`PREFIX_BYTES` of the ``.dbf`` and the text of the ``.cpg`` (or ``None``)."""
    suffix = path.suffix.lower()
    if suffix == ".shp":
        dbf = _sibling(path, ".dbf")
        cpg = _sibling(path, ".cpg")
        head = None
        if dbf is not None:
            with dbf.open("rb") as f:
                head = f.read(PREFIX_BYTES)
        text = cpg.read_bytes()[:200].decode("ascii", "replace") if cpg is not None else None
        return head, text
    if suffix == ".zip":
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
                dbfs = [n for n in names if n.lower().endswith(".dbf")]
                if layer is not None:
                    dbfs = [n for n in dbfs if Path(n).stem == layer] or dbfs
                if not dbfs:
                    return None, None
                stem = dbfs[0][:-4]
                cpgs = [n for n in names if n.lower() == (stem + ".cpg").lower()]
                with zf.open(dbfs[0]) as f:  # streamed: never the whole member
                    head = f.read(PREFIX_BYTES)
                text = None
                if cpgs:
                    with zf.open(cpgs[0]) as f:
                        text = f.read(200).decode("ascii", "replace")
                return head, text
        except (zipfile.BadZipFile, OSError, EOFError, zipfile.LargeZipFile) as exc:
            raise DataSourceError(
                f"{path.name} is not a valid zip archive ({type(exc).__name__}); re-create the archive"
            ) from exc
    return None, None


def dbf_text_bytes(dbf: bytes) -> bytes:
    """The record area of a DBF file (header skipped), where attribute text lives."""
    if len(dbf) < 32:
        raise DataSourceError("the .dbf file is truncated (shorter than its 32-byte header)")
    header_len = int.from_bytes(dbf[8:10], "little")
    return dbf[header_len:]


def decodes(body: bytes, encoding: str) -> bool:
    """True when ``body`` (maybe cut mid-character at its end) is valid ``encoding``."""
    try:
        codecs.getincrementaldecoder(encoding)().decode(body, final=False)
        return True
    except UnicodeDecodeError:
        return False


def detect_dbf_encoding(dbf: bytes, /) -> str:
    """Guess the encoding of a DBF's attribute text: ``"ASCII"``, ``"UTF-8"`` or ``"GB18030"``.

    GB18030 is a superset of GBK and GB2312, so a GBK file decodes with it.

    Examples
    --------
    >>> head = bytes(8) + (32).to_bytes(2, "little") + bytes(22)
    >>> detect_dbf_encoding(head + "金山".encode("gbk"))
    'GB18030'
    >>> detect_dbf_encoding(head + "金山".encode("utf-8"))
    'UTF-8'
    """
    body = dbf_text_bytes(dbf)
    if body.isascii():
        return "ASCII"
    if decodes(body, "utf-8"):
        return "UTF-8"
    if decodes(body, "gb18030"):
        return "GB18030"
    try:
        body.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise EncodingError(
            f"attribute text is neither UTF-8 nor GBK/GB18030 (bad byte at offset {exc.start}); "
            'state the encoding of this layer with encoding = "..." in the manifest'
        ) from exc
    return "GB18030"  # pragma: no cover - decodes() and decode() agree


_CODE_PAGES = {"65001": "utf-8", "936": "gbk", "54936": "gb18030", "950": "big5"}


def cpg_codec(text: str, /) -> str | None:
    """The Python codec a ``.cpg`` names (``"GBK"``, ``"936"``, ``"ANSI 936"``, ``"UTF-8"``...).

    >>> cpg_codec("ANSI 936"), cpg_codec("UTF-8"), cpg_codec("88591"), cpg_codec("nonsense")
    ('gbk', 'utf-8', 'iso8859-1', None)
    """
    value = text.strip().strip("\x00").upper()
    value = re.sub(r"^(ANSI|OEM)\s*", "", value)
    if value in _CODE_PAGES:
        return _CODE_PAGES[value]
    m = re.fullmatch(r"8859(\d+)|ISO-?8859-(\d+)", value)
    if m:
        value = f"iso8859-{m.group(1) or m.group(2)}"
    elif value.isdigit():
        value = f"cp{value}"
    try:
        return codecs.lookup(value).name
    except LookupError:
        return None


def _label(codec: str) -> str:
    return {"utf-8": "UTF-8", "gb18030": "GB18030", "gbk": "GBK"}.get(codec, codec.upper())


def resolve_encoding(
    path: Path, layer: str | None, stated: str | None, *, name: str, role: str
) -> tuple[str | None, str | None]:
    """``(encoding to read with, finding)``; raises :class:`EncodingError` when the text contradicts
    the stated encoding or the ``.cpg``.

    ``None`` as encoding lets GDAL use the ``.cpg`` (or no recoding at all for ASCII text).
    ``finding`` is a warning message to report, or ``None``.
    """
    dbf, cpg = dbf_prefix(path, layer)
    if dbf is None:
        return stated, None
    body = dbf_text_bytes(dbf)
    section = "[parcels]" if role == "parcels" else f"the {name!r} entry"
    where = f"layer {name!r} ({path.name})"
    if stated is not None:
        try:
            codecs.lookup(stated)
        except LookupError as exc:
            raise EncodingError(
                f'{where}: unknown encoding {stated!r}; use e.g. "GBK" or "UTF-8"'
            ) from exc
        if not decodes(body, stated):
            guess = _guess(body)
            hint = (
                f'; it decodes as {guess}: set encoding = "{guess}" in {section}' if guess else ""
            )
            raise EncodingError(f"{where}: attribute text is not valid {stated}{hint}")
        return stated, None
    if body.isascii():
        return None, None
    if cpg is not None:
        codec = cpg_codec(cpg)
        if codec is None:
            guess = _guess(body)
            if guess is None:
                raise EncodingError(
                    f"{where}: the .cpg names an unknown code page {cpg.strip()!r} and the text is "
                    f'neither UTF-8 nor GBK; set encoding = "..." in {section}'
                )
            return (
                guess,
                f"the .cpg names an unknown code page {cpg.strip()!r}; the text decodes as {guess}",
            )
        label = _label(codec)
        if not decodes(body, codec):
            guess = _guess(body)
            works = f"the text decodes as {guess}" if guess else "no common encoding decodes it"
            raise EncodingError(
                f"{where}: the .cpg says {label} but the attribute text is not valid {label}; "
                f'{works}: set encoding = "{guess or "..."}" in {section} of the manifest, '
                "or correct the .cpg"
            )
        if _single_byte(codec) and _looks_chinese(body):
            sample = _mojibake_sample(body, codec)
            raise EncodingError(
                f"{where}: the .cpg says {label} but the attribute text is Chinese in GBK/GB18030 (read "
                f'as {label} it would be mojibake such as {sample!r}); set encoding = "GB18030" in '
                f"{section} of the manifest, or correct the .cpg"
            )
        if codec != "utf-8" and decodes(body, "utf-8"):
            sample = _mojibake_sample(body, codec)
            raise EncodingError(
                f"{where}: the .cpg says {label} but the attribute text is UTF-8 (read as {label} it "
                f'would be mojibake such as {sample!r}); set encoding = "UTF-8" in {section} of the '
                "manifest, or correct the .cpg"
            )
        return label, None  # decoded here, not by GDAL, which does not know every .cpg spelling
    try:
        detected = detect_dbf_encoding(dbf)
    except EncodingError as exc:
        raise EncodingError(f"{where}: {exc}") from exc
    if detected == "GB18030":
        return (
            detected,
            "no .cpg file: attribute text detected as GBK/GB18030; add a .cpg containing GBK to "
            "make it explicit",
        )
    return detected, None


def _single_byte(codec: str) -> bool:
    """Code pages with one byte per character (latin-1, cp1252, ...): they decode any bytes."""
    try:
        alone = sum(len(bytes([b]).decode(codec, errors="ignore")) == 1 for b in range(0x80, 0x100))
    except LookupError:
        return False
    return alone >= 100  # a multi-byte code page decodes (almost) no high byte on its own


def _looks_chinese(body: bytes) -> bool:
    """Non-ASCII text that decodes as GB18030 into (almost only) CJK characters and punctuation."""
    if not decodes(body, "gb18030"):
        return False
    text = codecs.getincrementaldecoder("gb18030")().decode(body, final=False)
    wide = [c for c in text if ord(c) > 0x7F]
    cjk = sum(
        1
        for c in wide
        if "\u4e00" <= c <= "\u9fff" or "\u3000" <= c <= "\u303f" or "\uff00" <= c <= "\uffef"
    )
    return len(wide) >= 2 and cjk >= 0.9 * len(wide)


def _guess(body: bytes) -> str | None:
    for enc in ("utf-8", "gb18030"):
        if decodes(body, enc):
            return _label(enc)
    return None


def _mojibake_sample(body: bytes, codec: str) -> str:
    start = next((i for i, b in enumerate(body) if b >= 0x80), 0)
    chunk = body[start : start + 12]
    return codecs.getincrementaldecoder(codec)(errors="replace").decode(chunk)
