"""The register's states, transitions, fields and table layout (shared by both stores)."""

from __future__ import annotations

import time

SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 30.0

STATES: tuple[str, ...] = (
    "planned",  # 规划储备
    "ready",  # 具备供地条件 (净地, 三通一平)
    "listed",  # 挂牌 / 招拍挂公告
    "transferred",  # 已出让 (合同签订)
    "started",  # 已动工
    "completed",  # 已竣工
    "output_verified",  # 达产复核通过
    "idle",  # 闲置 (认定)
    "reclaimed",  # 已收回
)
STATE_ZH = dict(
    zip(
        STATES,
        (
            "规划储备",
            "具备供地条件",
            "已挂牌",
            "已出让",
            "已动工",
            "已竣工",
            "已达产",
            "闲置",
            "已收回",
        ),
        strict=True,
    )
)
#: the only transitions ``record`` accepts: current state → allowed next states
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "planned": ("ready",),
    "ready": ("listed", "planned"),  # back to planned when a prerequisite lapses
    "listed": ("transferred", "ready"),  # 流拍: back to ready
    "transferred": ("started", "idle"),
    "started": ("completed", "idle"),
    "completed": ("output_verified",),
    "output_verified": (),
    "idle": ("started", "reclaimed"),  # 动工 after 处置, or 无偿收回
    "reclaimed": ("planned",),  # back into the land reserve; contract and progress cleared
}
SUPPLIED_STATES = ("transferred", "started", "completed", "output_verified", "idle")
BUILT_STATES = ("completed", "output_verified")

DATE_FIELDS = (
    "transferred_on",
    "agreed_start_date",
    "agreed_completion_date",
    "started_on",
    "completed_on",
    "halted_since",
)
SHARE_FIELDS = ("developed_area_share", "invested_share")
SETTABLE = (
    "contract_no",
    *DATE_FIELDS,
    "land_price_wan",
    "committed",
    *SHARE_FIELDS,
    "note",
)
#: fields a row must hold once it reaches the state
REQUIRED = {"transferred": ("agreed_start_date", "agreed_completion_date", "land_price_wan")}
#: the date field an event sets (from ``on``) unless the caller gives it
EVENT_FIELD = {
    "transferred": "transferred_on",
    "started": "started_on",
    "completed": "completed_on",
}
CONTRACT_FIELDS = tuple(f for f in SETTABLE if f != "note")

_STATE_LIST = ", ".join(f"'{s}'" for s in STATES)
DDL = f"""
CREATE TABLE IF NOT EXISTS register_meta (
  fid INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS register (
  fid INTEGER PRIMARY KEY AUTOINCREMENT,
  parcel_id TEXT NOT NULL UNIQUE,
  state TEXT NOT NULL CHECK (state IN ({_STATE_LIST})),
  version INTEGER NOT NULL CHECK (version >= 1),
  state_since DATE,
  contract_no TEXT,
  transferred_on DATE,
  agreed_start_date DATE,
  agreed_completion_date DATE,
  land_price_wan REAL CHECK (land_price_wan >= 0),
  committed TEXT NOT NULL DEFAULT '{{}}',
  started_on DATE,
  completed_on DATE,
  developed_area_share REAL CHECK (developed_area_share BETWEEN 0 AND 1),
  invested_share REAL CHECK (invested_share BETWEEN 0 AND 1),
  halted_since DATE,
  note TEXT,
  updated_at DATETIME NOT NULL,
  updated_by TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS register_audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  parcel_id TEXT NOT NULL,
  at DATETIME NOT NULL,
  who TEXT NOT NULL,
  action TEXT NOT NULL,
  before TEXT,
  after TEXT);
CREATE INDEX IF NOT EXISTS register_audit_parcel ON register_audit (parcel_id);
"""
TABLES = {
    "register": "地块全生命周期登记 parcel lifecycle register",
    "register_audit": "登记变更记录 register audit trail",
    "register_meta": "登记表结构版本 register schema version",
}
COLUMNS = (
    "parcel_id",
    "state",
    "version",
    "state_since",
    "contract_no",
    "transferred_on",
    "agreed_start_date",
    "agreed_completion_date",
    "land_price_wan",
    "committed",
    "started_on",
    "completed_on",
    "developed_area_share",
    "invested_share",
    "halted_since",
    "note",
    "updated_at",
    "updated_by",
)


# ----------------------------------------------------------------------------- values


#: what a storage's ``verdict`` returns when the workspace has no analysis results
NO_RESULTS = object()


def utc_now() -> str:
    """UTC time in the GeoPackage DATETIME form (``2025-01-31T08:15:02.123Z``)."""
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"
