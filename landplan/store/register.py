"""The parcel lifecycle register: 规划 → 具备供地条件 → 挂牌 → 出让 → 动工 → 竣工 → 达产, or 闲置 / 收回.

:class:`Register` holds the lifecycle rules and the write flow; it is composed with a storage
object, one per store: :class:`landplan.store.register_sqlite.SqliteRegisterStorage` (the
workspace's ``workspace.gpkg``) or :class:`landplan.store.pgregister.PgRegisterStorage` (PostGIS).
Both keep two tables, so QGIS lists them beside the layers:

``register``        one row per parcel: ``state``, ``version``, the contract (约定动工/竣工日期,
                    ``land_price_wan``, ``committed`` indicators as JSON) and the progress
                    (``developed_area_share``, ``invested_share``, ``halted_since``).
``register_audit``  one row per change: ``at`` (UTC), ``who``, ``action``, ``before`` and
                    ``after`` (JSON of the whole row).

Every change is one ``BEGIN IMMEDIATE`` transaction that checks the row's
``version`` (optimistic concurrency) and writes the audit row; nothing is left
half-written.  Writers wait for each other (SQLite ``busy_timeout``); only a stale
``expected_version`` makes a write fail, with :class:`~landplan.core.errors.ConflictError`.

Idle land (闲置土地) follows 《闲置土地处置办法》 (国土资源部令第53号, 2012), see
DOMAIN.md §1.5 and §11; periods are counted as 《民法典》 第二百零一、二百零二条 say.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from pathlib import Path

import pandas as pd

from landplan.core.errors import ConflictError, RegisterError, StateError
from landplan.store.lifecycle_rules import (
    DEFAULT_LOWER_IS_BETTER,
    OutputCheck,
    detect_idle,
    parse_date,
    verify_output,
)
from landplan.store.register_schema import *  # noqa: F403  (the states and fields are part of this API)
from landplan.store.register_schema import (
    COLUMNS,
    CONTRACT_FIELDS,
    DATE_FIELDS,
    EVENT_FIELD,
    NO_RESULTS,
    REQUIRED,
    SETTABLE,
    SHARE_FIELDS,
    STATE_ZH,
    STATES,
    TRANSITIONS,
    utc_now,
)
from landplan.store.register_sqlite import carry_register, freeze_register  # noqa: F401


def _clean(name: str, value):
    """One settable field, checked and converted to what the table stores."""
    if name not in SETTABLE:
        raise RegisterError(
            f"unknown register field {name!r}; settable fields: {', '.join(SETTABLE)}"
        )
    if value is None or (isinstance(value, str) and not value.strip()):
        return "{}" if name == "committed" else None
    if name in DATE_FIELDS:
        return parse_date(value, name=name).isoformat()
    if name == "committed":
        data = json.loads(value) if isinstance(value, str) else dict(value)
        if not isinstance(data, dict):
            raise RegisterError(
                f"committed must be a JSON object of indicator → value, got {value!r}"
            )
        try:
            return json.dumps(
                {str(k): float(v) for k, v in data.items()}, ensure_ascii=False, sort_keys=True
            )
        except (TypeError, ValueError):
            raise RegisterError(f"committed indicators must be numbers, got {data!r}") from None
    if name in ("contract_no", "note"):
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RegisterError(f"{name} = {value!r} is not a number") from None
    if name in SHARE_FIELDS and not 0.0 <= number <= 1.0:
        raise RegisterError(f"{name} = {value!r}: give a share between 0 and 1 (0.3 for 30 %)")
    if number < 0:
        raise RegisterError(f"{name} = {value!r} must not be negative")
    return number


def _check_row(row: Mapping, state: str) -> None:
    missing = [f for f in REQUIRED.get(state, ()) if row.get(f) is None]
    if missing:
        raise RegisterError(
            f"parcel {row['parcel_id']}: state {state!r} needs {', '.join(missing)}; "
            f"give them with --set {missing[0]}=..."
        )
    start, end = row.get("agreed_start_date"), row.get("agreed_completion_date")
    if start and end and end < start:
        raise RegisterError(
            f"parcel {row['parcel_id']}: agreed_completion_date {end} is before agreed_start_date {start}"
        )


# ----------------------------------------------------------------------------- transitions


def first_row(pid: str, expected_version: int | None, /) -> dict:
    """The row of a parcel entering the register (version 1), or ConflictError."""
    if expected_version not in (None, 0):
        raise ConflictError(
            f"parcel {pid} is not in the register (expected version {expected_version}); "
            "someone may have removed it, or the id is wrong",
            current=None,
        )
    new = dict.fromkeys(COLUMNS)
    new.update(parcel_id=pid, committed="{}", version=1)
    return new


def next_row(current: dict, to: str, expected_version: int | None, /) -> dict:
    """The row after moving a registered parcel to ``to`` (version + 1), or State/ConflictError."""
    _check_version(current, expected_version)
    allowed = TRANSITIONS[current["state"]]
    if to not in allowed:
        raise StateError(
            f"parcel {current['parcel_id']} is {current['state']!r} ({STATE_ZH[current['state']]}); "
            f"it cannot move to {to!r} ({STATE_ZH[to]}). Allowed from "
            f"{current['state']!r}: {', '.join(allowed) or 'none (final state)'}",
            current=current["state"],
            requested=to,
            allowed=allowed,
        )
    new = dict(current, version=current["version"] + 1)
    if current["state"] == "reclaimed":  # a new lifecycle: the old contract is history
        new.update(dict.fromkeys(CONTRACT_FIELDS), committed="{}")
    if current["state"] == "idle" and to == "started":
        new["halted_since"] = None  # work resumed
    return new


def finish_row(new: dict, to: str, values: Mapping, event: str, who: str, /) -> dict:
    """Apply the fields, state, dates and author of a change, and check the row."""
    new.update(values, state=to, state_since=event, updated_at=utc_now(), updated_by=who)
    if to in EVENT_FIELD and EVENT_FIELD[to] not in values:
        new[EVENT_FIELD[to]] = event
    _check_row(new, to)
    return new


def check_not_blocked(pid: str, transferable, reason_codes, reasons_json, /) -> None:
    """``ready`` needs a transfer verdict without any block reason (净地, 三通一平, no red line)."""
    if transferable is None or transferable:
        return
    blocks = [x["code"] for x in json.loads(reasons_json or "[]") if x["severity"] == "block"]
    raise StateError(
        f"parcel {pid} cannot become 'ready': its transfer verdict is blocked by "
        f"{', '.join(blocks) or reason_codes} (see result_parcels.reasons_zh)",
        requested="ready",
    )


# ----------------------------------------------------------------------------- the register


class Register:
    """The lifecycle register of one workspace: the rules and the audited write flow over a storage.

    ``Register(workspace_dir)`` opens the GeoPackage storage; ``Register(storage)`` takes any
    storage object (:class:`~landplan.store.pgregister.PgRegisterStorage` for PostGIS).  Each
    call opens its own connection, so one ``Register`` may be used from many threads.
    """

    def __init__(self, storage, /) -> None:
        if isinstance(storage, str | Path):
            from landplan.store.register_sqlite import SqliteRegisterStorage

            storage = SqliteRegisterStorage(storage)
        self.storage = storage

    # ------------------------------------------------------------------ reading

    def get(self, parcel_id: str, /) -> dict | None:
        """The register row of a parcel (``committed`` decoded), or ``None``."""
        row = self.storage.read_row(str(parcel_id))
        if row is not None:
            row["committed"] = json.loads(row["committed"] or "{}")
        return row

    def entries(self, *, state: str | None = None) -> pd.DataFrame:
        """Every register row (``committed`` as JSON text), optionally of one state."""
        if state is not None and state not in STATES:
            raise RegisterError(f"unknown state {state!r}; states: {', '.join(STATES)}")
        return self.storage.entries(state)

    def audit(self, *, parcel_id: str | None = None) -> pd.DataFrame:
        """The audit trail, oldest first, optionally of one parcel."""
        return self.storage.audit(parcel_id)

    # ------------------------------------------------------------------ checks

    def _require_ready(self, conn, parcel_id: str) -> None:
        """``ready`` needs a transfer verdict without any block reason (净地, 三通一平, no red line)."""
        found = self.storage.verdict(conn, parcel_id)
        if found is NO_RESULTS:
            raise StateError(
                f"parcel {parcel_id}: no transfer verdict in the workspace; run `landplan analyze` first",
                requested="ready",
            )
        if found is not None:
            check_not_blocked(parcel_id, *found)

    # ------------------------------------------------------------------ writing

    def record(
        self,
        parcel_id: str,
        /,
        *,
        to: str,
        by: str,
        on: date | str | None = None,
        expected_version: int | None = None,
        fields: Mapping[str, object] | None = None,
        evidence: Mapping[str, object] | None = None,
    ) -> dict:
        """Move a parcel to state ``to`` (or register it there), in one audited transaction.

        ``on`` is the date of the event (default today): it becomes ``state_since`` and,
        for transferred / started / completed, ``transferred_on`` / ``started_on`` /
        ``completed_on`` unless ``fields`` gives them.  ``expected_version`` is the version
        the caller last read (0 or ``None`` for a parcel not yet registered; ``None`` skips
        the check).  A parcel not yet registered may start in any state (onboarding
        parcels transferred before the register existed).  ``evidence`` (e.g. a 达产复核
        result) is kept in the audit row under ``after["check"]``.  Returns the new row.

        Raises ``StateError`` for a transition not in :data:`TRANSITIONS`,
        ``ConflictError`` (with ``.current``) when the version moved on, and
        ``RegisterError`` for an unknown parcel or a bad field.
        """
        if to not in STATES:
            raise StateError(f"unknown state {to!r}; states: {', '.join(STATES)}", requested=to)
        who = _who(by)
        event = parse_date(on if on is not None else date.today(), name="--date").isoformat()
        values = {k: _clean(k, v) for k, v in (fields or {}).items()}
        pid = str(parcel_id)
        with self.storage.transaction() as conn:
            current = self.storage.row(conn, pid)
            if current is None:
                new, action = first_row(pid, expected_version), "create"
                self.storage.require_parcel(conn, pid)
                if to in ("ready", "listed"):
                    self._require_ready(conn, pid)
            else:
                new, action = next_row(current, to, expected_version), "transition"
                if to == "ready":
                    self._require_ready(conn, pid)
            finish_row(new, to, values, event, who)
            self.storage.store(conn, new, current)
            after = {**new, "check": dict(evidence)} if evidence else new
            self.storage.write_audit(conn, pid, who, action, current, after)
        return self.get(pid)

    def update(
        self,
        parcel_id: str,
        /,
        *,
        by: str,
        fields: Mapping[str, object],
        expected_version: int | None = None,
    ) -> dict:
        """Change contract or progress fields without a state change (audited, version + 1)."""
        if not fields:
            raise RegisterError("nothing to update: give at least one --set key=value")
        who = _who(by)
        values = {k: _clean(k, v) for k, v in fields.items()}
        pid = str(parcel_id)
        with self.storage.transaction() as conn:
            current = self.storage.row(conn, pid)
            if current is None:
                raise RegisterError(
                    f"parcel {pid} is not in the register; record it first (landplan register record)"
                )
            _check_version(current, expected_version)
            new = dict(current, **values, version=current["version"] + 1)
            new.update(updated_at=utc_now(), updated_by=who)
            _check_row(new, new["state"])
            self.storage.store(conn, new, current)
            self.storage.write_audit(conn, pid, who, "update", current, new)
        return self.get(pid)

    def log_check(
        self, parcel_id: str, /, *, by: str, action: str, result: Mapping, expected_version=None
    ) -> None:
        """An audit row for a check that changes no field (e.g. a failed 达产复核)."""
        pid = str(parcel_id)
        with self.storage.transaction() as conn:
            current = self.storage.row(conn, pid)
            if current is None:
                raise RegisterError(f"parcel {pid} is not in the register")
            _check_version(current, expected_version)
            self.storage.write_audit(
                conn, pid, _who(by), action, current, {**current, "check": dict(result)}
            )

    def idle(self, *, as_of: date | str | None = None) -> pd.DataFrame:
        """Idle-land findings as of a date (default today); see :func:`detect_idle`."""
        return detect_idle(self.entries(), as_of=as_of)

    def check_output(
        self,
        parcel_id: str,
        /,
        *,
        actual: Mapping[str, float],
        by: str | None = None,
        on: date | str | None = None,
        expected_version: int | None = None,
        tolerance_pct: float = 0.0,
        lower_is_better: frozenset[str] | set[str] = DEFAULT_LOWER_IS_BETTER,
    ) -> OutputCheck:
        """达产复核 of a registered parcel against its ``committed`` indicators.

        With ``by`` the check is recorded: a pass moves a ``completed`` parcel to
        ``output_verified``; a fail (or a pass in another state) adds an audit row
        ``output_check`` holding the result and changes nothing else.
        """
        row = self.get(parcel_id)
        if row is None:
            raise RegisterError(f"parcel {parcel_id} is not in the register")
        check = verify_output(
            row["committed"],
            actual,
            tolerance_pct=tolerance_pct,
            lower_is_better=lower_is_better,
        )
        if by is None:
            return check
        version = row["version"] if expected_version is None else expected_version
        if check.passed and row["state"] == "completed":
            self.record(
                parcel_id,
                to="output_verified",
                by=by,
                on=on,
                expected_version=version,
                evidence=check.to_dict(),
            )
        else:
            self.log_check(
                parcel_id,
                by=by,
                action="output_check",
                result=check.to_dict(),
                expected_version=version,
            )
        return check


def _who(by: str) -> str:
    who = str(by or "").strip()
    if not who:
        raise RegisterError("say who records the change (--by NAME)")
    return who


def _check_version(current: dict, expected: int | None) -> None:
    if expected is not None and int(expected) != current["version"]:
        raise ConflictError(
            f"parcel {current['parcel_id']} was changed by {current['updated_by']} at "
            f"{current['updated_at']}: it is now version {current['version']} "
            f"({current['state']}), not {expected}; re-read it (landplan register show) and retry",
            current=dict(current),
        )
