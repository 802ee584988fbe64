"""A small CJK font for the parcel sheets, subset once and cached on disk.

matplotlib embeds TrueType/OpenType fonts in PDFs as subsets (``pdf.fonttype`` 42), and
subsetting the 20 MB Noto Sans CJK collection takes seconds per PDF.  The sheets instead
use a font cut down once to the characters they can contain (the sheet's own labels, ASCII
and every character of the workspace's text), so each PDF subsets a small font quickly.
Every character a sheet prints comes from those sources, so the cut alone (DejaVu Sans
behind it) draws the whole sheet.

The cut is converted to TrueType outlines (``glyf``), which matplotlib subsets for each PDF
about five times faster than CFF.  It is deterministic for a given character set and source
font (no timestamps), so the same workspace gives the same PDF bytes.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

FAMILY = "Landplan Sheet CJK"
_registered: dict[str, str] = {}


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/landplan/fonts`` (or ``~/.cache/...``; a temp dir when not writable)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    path = Path(base) / "landplan" / "fonts"
    try:
        path.mkdir(parents=True, exist_ok=True)
        return path
    except OSError:
        path = Path(tempfile.gettempdir()) / "landplan-fonts"
        path.mkdir(parents=True, exist_ok=True)
        return path


def _source_font(family: str) -> tuple[str, int]:
    from matplotlib import font_manager

    for f in font_manager.fontManager.ttflist:
        if f.name == family and f.weight in (400, "normal", "regular") and f.style == "normal":
            return f.fname, 0
    path = font_manager.findfont(font_manager.FontProperties(family=family))
    return path, 0


def _font_number(path: str, family: str) -> int:
    """Index of ``family`` inside a .ttc collection (0 for a single font)."""
    if not path.lower().endswith((".ttc", ".otc")):
        return 0
    from fontTools.ttLib import TTCollection

    coll = TTCollection(path, lazy=True)
    for i, font in enumerate(coll.fonts):
        if font["name"].getDebugName(1) == family:
            return i
    return 0


def sheet_font(family: str, chars: str, /) -> str:
    """Register (once per process) a cut of ``family`` holding ``chars``; return its family name."""
    from matplotlib import font_manager

    path, _ = _source_font(family)
    wanted = "".join(sorted(set(chars) | {chr(c) for c in range(0x20, 0x7F)}))
    stat = os.stat(path)
    key = hashlib.sha256(f"{path}|{stat.st_size}|{family}|{wanted}".encode()).hexdigest()[:16]
    if key in _registered:
        return _registered[key]
    target = cache_dir() / f"landplan-sheet-{key}.ttf"
    if not target.exists():
        _cut(path, family, wanted, target)
    name = f"{FAMILY} {key[:8]}"
    font_manager.fontManager.addfont(str(target))
    _registered[key] = name
    return name


def _cut(path: str, family: str, chars: str, target: Path) -> None:
    from fontTools import subset
    from fontTools.ttLib import TTFont

    key = target.stem.removeprefix("landplan-sheet-")
    font = TTFont(path, fontNumber=_font_number(path, family), recalcTimestamp=False)
    opts = subset.Options()
    opts.layout_features = []
    opts.name_IDs = [0, 1, 2, 3, 4, 5, 6]
    opts.notdef_outline = True
    opts.recalc_timestamp = False
    sub = subset.Subsetter(opts)
    sub.populate(unicodes=[ord(c) for c in chars])
    sub.subset(font)
    name = f"{FAMILY} {key[:8]}"
    for record in font["name"].names:
        if record.nameID in (1, 16):
            record.string = name
        elif record.nameID == 4:
            record.string = f"{name} Regular"
        elif record.nameID == 6:
            record.string = f"LandplanSheetCJK{key[:8]}-Regular"
        elif record.nameID == 3:
            record.string = f"landplan-sheet-{key}"
    _to_truetype(font)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        font.save(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)  # concurrent writers produce the same bytes
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _to_truetype(font) -> None:
    """Replace the CFF outlines by quadratic TrueType ones (``glyf``), in place.

    matplotlib subsets the embedded font once per PDF; fontTools subsets ``glyf`` about five
    times faster than CFF (no charstring interpretation), which is most of a sheet's time.
    """
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import newTable

    if "CFF " not in font:
        return
    order = font.getGlyphOrder()
    glyphs = font.getGlyphSet()
    glyf = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = {}
    for name in order:
        pen = TTGlyphPen(glyphs)
        glyphs[name].draw(Cu2QuPen(pen, 1.0, reverse_direction=True))
        glyf[name] = pen.glyph()
    font["glyf"] = glyf
    font["loca"] = newTable("loca")
    maxp = font["maxp"]
    maxp.tableVersion = 0x00010000
    for attr in (
        "maxTwilightPoints", "maxStorage", "maxFunctionDefs", "maxInstructionDefs",
        "maxStackElements", "maxSizeOfInstructions", "maxComponentElements",
    ):  # fmt: skip
        setattr(maxp, attr, 0)
    maxp.maxZones = 1
    font["head"].glyphDataFormat = 0
    for tag in ("CFF ", "VORG"):
        if tag in font:
            del font[tag]
    font["post"].formatType = 3.0
    font.sfntVersion = "\x00\x01\x00\x00"
