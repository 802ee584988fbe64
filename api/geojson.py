"""GeoJSON response bodies from features the store already serialised.

Stores return each Feature as JSON text (PostGIS builds it in SQL), so re-parsing a page only
to dump it again would double the cost of every items request.  These helpers are the one
place where that text is placed into a document: every other member is written by
:func:`json.dumps`, and the spliced texts are checked to be JSON objects.  Routes call these
and never build JSON out of strings themselves.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

_MARK = "\x00features\x00"


def _object_text(text: str) -> str:
    body = text.strip()
    if not (body.startswith("{") and body.endswith("}")):
        raise ValueError("a stored feature is not a JSON object")
    return body


def feature_collection(features: Sequence[str], /, **members) -> bytes:
    """``{"type": "FeatureCollection", "features": [...], **members}`` as UTF-8 bytes."""
    doc = {"type": "FeatureCollection", "features": _MARK, **members}
    head, tail = json.dumps(doc, ensure_ascii=False).split(json.dumps(_MARK), 1)
    return (head + "[" + ",".join(_object_text(f) for f in features) + "]" + tail).encode()


def feature(text: str, /, **members) -> bytes:
    """A stored Feature with ``members`` (e.g. ``links``) added, as UTF-8 bytes."""
    body = _object_text(text)
    if not members:
        return body.encode()
    extra = json.dumps(members, ensure_ascii=False)[1:-1]
    inner = body[1:-1].strip()
    return ("{" + inner + ("," if inner else "") + extra + "}").encode()
