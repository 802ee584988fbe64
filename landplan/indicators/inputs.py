"""Reading the projects / firms tables: CSV in UTF-8 (with or without BOM) or GBK, or XLSX.

Also the small helpers that name offending rows (``row 3 (project_id P-3)``) and turn
text into numbers, shared by :mod:`landplan.indicators.check` and :mod:`landplan.indicators.mujun`.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from landplan.core.errors import EncodingError, InputTableError, UnitsError

#: identifier-like columns always read as text (keeps leading zeros of industry codes)
STRING_COLUMNS = (
    "project_id",
    "firm_id",
    "industry_code",
    "industry_code_version",
    "park",
    "region_class",
    "county",
    "scale",
)


def read_input_table(path: str | Path, /) -> tuple[pd.DataFrame, str]:
    """Read a CSV (UTF-8 with or without BOM, or GBK/GB18030 as Excel in China saves it) or XLSX.

    Returns the frame (identifier columns kept as text) and the encoding used.
    """
    path = Path(path)
    if not path.is_file():
        raise InputTableError(f"input table not found: {path}")
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        df = pd.read_excel(path, dtype=dict.fromkeys(STRING_COLUMNS, str))
        return _clean_headers(df), "xlsx"
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        text, enc = raw[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    else:
        try:
            text, enc = raw.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            try:
                text, enc = raw.decode("gb18030"), "gbk"
            except UnicodeDecodeError as exc:
                raise EncodingError(
                    f"{path}: neither UTF-8 nor GBK/GB18030 (bad byte at offset {exc.start}); "
                    "save it from Excel as 'CSV UTF-8'"
                ) from exc
    try:
        header = pd.read_csv(io.StringIO(text), nrows=0).columns
        dtype = {c: str for c in header if c.strip() in STRING_COLUMNS}
        df = pd.read_csv(io.StringIO(text), dtype=dtype, keep_default_na=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputTableError(f"{path}: not a readable CSV table ({exc})") from exc
    return _clean_headers(df), enc


def _clean_headers(df: pd.DataFrame) -> pd.DataFrame:
    return df.rename(columns=lambda c: str(c).strip())


def row_label(df: pd.DataFrame, i: int, id_col: str = "project_id") -> str:
    """``row 3 (project_id P-3)``: the 1-based data row and the id."""
    pid = df[id_col].iloc[i] if id_col in df else None
    return f"row {i + 1} ({id_col} {pid})" if pid is not None else f"row {i + 1}"


def describe_rows(df: pd.DataFrame, mask, id_col: str, limit: int = 5) -> str:
    idx = np.flatnonzero(np.asarray(mask, dtype=bool))
    parts = [row_label(df, int(i), id_col) for i in idx[:limit]]
    more = f" and {len(idx) - limit} more" if len(idx) > limit else ""
    return ", ".join(parts) + more


def require_columns(df: pd.DataFrame, required, /, *, what: str) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputTableError(
            f"{what}: missing required column(s) {missing}; present: {list(df.columns)}"
        )


def coerce_numeric(df: pd.DataFrame, columns, /, *, id_col: str, percent_ok=()) -> pd.DataFrame:
    """Numbers from text (``12,985.88`` allowed; ``30%`` only in ``percent_ok`` columns)."""
    out = df.copy()
    for c in columns:
        if c not in out:
            continue
        s = out[c]
        if s.dtype == object or pd.api.types.is_string_dtype(s):
            txt = s.astype("string").str.strip().str.replace(",", "", regex=False)
            pct = txt.str.endswith("%").fillna(False)
            if pct.any() and c not in percent_ok:
                raise UnitsError(
                    f"column {c} {describe_rows(df, pct, id_col)} holds a percentage; "
                    "give the number in the column's unit"
                )
            num = pd.Series(
                pd.to_numeric(txt.str.rstrip("%"), errors="coerce").to_numpy(
                    dtype="float64", na_value=np.nan
                ),
                index=s.index,
            )
            num = num.where(~pct, num / 100.0)
            bad = num.isna() & txt.notna() & (txt != "")
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise InputTableError(
                    f"column {c} {row_label(df, i, id_col)}: {s.iloc[i]!r} is not a number"
                )
            out[c] = num.astype("float64")
        else:
            out[c] = pd.to_numeric(s, errors="coerce").astype("float64")
    return out
