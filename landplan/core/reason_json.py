"""The ``reasons`` JSON column parsed by Arrow: every reason of many parcels as flat arrays.

``reasons`` holds, per parcel, a JSON list of reason objects (``code``, ``severity``,
``value``, ``threshold``, ``unit``, ``basis``, ``message_zh``, ``message_en``; see
:class:`~landplan.core.reasons.Reason`).  Parsing 50,000 of them with ``json.loads`` one by
one costs seconds; Arrow's JSON reader parses them all at once, in blocks.  The result map
(:mod:`landplan.maps.compact`) and the summary workbook (:mod:`landplan.export.labels`) both
read the column this way, and fall back to ``json.loads`` wherever Arrow refuses a text.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

REASON_FIELDS = (
    ("code", pa.string()),
    ("severity", pa.string()),
    ("value", pa.float64()),
    ("threshold", pa.float64()),
    ("unit", pa.string()),
    ("basis", pa.string()),
    ("message_zh", pa.string()),
    ("message_en", pa.string()),
)
FIELD = {name: i for i, (name, _) in enumerate(REASON_FIELDS)}
_SCHEMA = pa.schema([pa.field("r", pa.list_(pa.list_(pa.struct(REASON_FIELDS))))])
_BLOCK_BYTES = 1 << 20  # Arrow JSON blocks, parsed in parallel
#: Arrow memory for the large temporary arrays here.  The system allocator, not Arrow's default
#: mimalloc: mimalloc's first large arenas in a process cost 0.4-0.7 s of kernel time on the
#: 2-core VM measured (benchmarks/bench_map_write.py), the system allocator 0.1 s.
POOL = pa.system_memory_pool()


def fill_nulls(arr, value):
    """``arr`` with nulls replaced by ``value`` (no copy when there is none)."""
    if not arr.null_count:
        return arr
    return pc.coalesce(arr, pa.scalar(value, arr.type), memory_pool=POOL)


def format_floats(values, render, /) -> pa.Array:
    """``render(floats)`` (their texts, one each) of every value as Arrow strings, each distinct
    value rendered once; distinct by its bits, so -0.0 is not 0.0 and every NaN is one value."""
    values = np.ascontiguousarray(values, dtype=float)
    codes, bits = pd.factorize(values.view(np.int64), use_na_sentinel=False)
    return pa.array(render(bits.view(float)), pa.large_string()).take(pa.array(codes))


def parse_reason_items(texts: pa.Array, /) -> tuple[np.ndarray, pa.Array] | None:
    """Parse JSON texts ('' for none) with Arrow's JSON reader: ``(owner, items)``, or ``None``
    if it refuses.

    ``items`` is a struct array of every reason object, in order (fields as
    :data:`REASON_FIELDS`; a missing key is null); ``owner[j]`` is the index of the text reason
    ``j`` came from.  Each text becomes the line ``{"r":[TEXT]}``, so that '' gives no list and
    a JSON list exactly one; anything else (two values, ``null``, a number given as text, a
    value of another type, ``NaN``/``Infinity``, ...) is refused.  Null items (``[null]``)
    are left out, as ``json.loads`` readers that skip non-objects do.
    """
    import pyarrow.json as paj

    large = pa.large_string()
    lines = pc.binary_join_element_wise(
        pa.scalar('{"r":[', large),
        texts,
        pa.scalar("]}\n", large),
        pa.scalar("", large),
        memory_pool=POOL,
    )
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)
    start, stop = int(offsets[lines.offset]), int(offsets[lines.offset + len(lines)])
    data = lines.buffers()[2].slice(start, stop - start)
    table = None
    for multiline in (False, True):  # texts with line breaks of their own need the slow chunker
        try:
            table = paj.read_json(
                pa.BufferReader(data),
                memory_pool=POOL,
                read_options=paj.ReadOptions(use_threads=True, block_size=_BLOCK_BYTES),
                parse_options=paj.ParseOptions(
                    explicit_schema=_SCHEMA,
                    unexpected_field_behavior="ignore",
                    newlines_in_values=multiline,
                ),
            )
            break
        except pa.ArrowException:
            pass
    if table is None:
        return None  # not lists of objects with the expected types: the Python path decides
    outer = table.column("r")  # one chunk per block: kept chunked (no copy of it all)
    if len(outer) != len(texts) or outer.null_count:
        return None
    text_bytes = np.frombuffer(texts.buffers()[1], dtype=np.int64)
    text_bytes = np.diff(text_bytes[texts.offset : texts.offset + len(texts) + 1])
    if not np.array_equal(pc.list_value_length(outer).to_numpy(), (text_bytes > 0)):
        return None  # whitespace only, or more than one JSON value
    lists = pc.list_flatten(outer, memory_pool=POOL)
    if lists.null_count:
        return None  # "null"
    items = pc.list_flatten(lists, memory_pool=POOL)
    owner = pc.list_parent_indices(outer).to_numpy()[pc.list_parent_indices(lists).to_numpy()]
    if items.null_count:
        keep = items.is_valid()
        items = pc.filter(items, keep, memory_pool=POOL)
        owner = owner[keep.to_numpy(zero_copy_only=False)]
    return owner.astype(np.int64), items
