"""Benchmark ``park_summary.xlsx`` with a large per-parcel sheet against a plain pandas dump.

    .venv/bin/python benchmarks/bench_xlsx.py --parcels 50000

The parcel table is synthetic but shaped like ``landplan analyze``'s (seeded): the columns
``landplan.export.park.parcel_table`` keeps (id, areas, exclusions per kind, network statuses,
development cost, verdict) and ``reasons`` JSON built from the reason objects the pipeline
writes (code, severity, value, threshold, unit, basis, message_zh/en, with per-parcel numbers,
so almost every non-empty reasons text is unique).  ``--reason-share`` of the parcels get 1–6
reasons (the bundled sample has 7 %; the default 35 % is heavier).  The summary, reason counts
and validation sheets come from landplan's own functions on that table.

Timed in the same process, best of ``--repeat``:

* ``landplan``: ``write_park_summary`` (every sheet, formatted; ``lang="zh"``);
* ``pandas``: ``parcel_table(parcels).to_excel(engine="openpyxl", index=False)``, the per-parcel
  sheet alone, unformatted (machine names, raw JSON).

Writes ``benchmarks/results/xlsx_<N>.json`` with both times (wall clock and this process's CPU
time, which other processes on the machine inflate less), their ratios, the file sizes and the
machine (cores, load average before and after).

``--stream`` (``--parcels 200000 --chunk 20000``) instead measures the chunked writer,
``landplan.export.park.ParkWorkbookWriter``, against ``write_park_summary`` on the same rows,
each in a fresh process (peak RSS is per process: ``ru_maxrss``): realistic rows made from the
bundled sample's real result (its 70 columns; the parcels whose reasons JSON is at least 1,000
characters, ~2 KB of UTF-8 each, with the ids, areas and reason values varied per row so no
two reasons texts are equal), fed in chunks from a generator (the streamed run never holds more
than a chunk) or concatenated for the one-shot run.  Also a streamed run of a quarter of the
rows, to show that the peak does not grow with the number of chunks.  ``peak_rss_making_rows_only``:
the peak of making the rows alone (the streamed runs make and drop them once before writing),
so the writer's own share is the difference.  Both files are compared
part by part (everything but ``docProps/core.xml``).  Writes
``benchmarks/results/xlsx_stream_<N>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from landplan.analysis.pipeline import park_summary
from landplan.analysis.transfer import reason_counts
from landplan.export.park import parcel_table, write_park_summary

KINDS = ("red_line", "basic_farmland", "urban_boundary", "inundation")
NETWORKS = ("road", "water", "power", "sewer", "telecom", "gas")
NET_ZH = {"road": "道路", "water": "给水", "power": "供电", "sewer": "排水", "telecom": "通信",
          "gas": "燃气"}  # fmt: skip
NET_EN = {"road": "road", "water": "water supply", "power": "power", "sewer": "sewer",
          "telecom": "telecom", "gas": "gas"}  # fmt: skip
NET_BASIS = {
    "road": "三通一平（通路）；距离阈值为默认值，可按地方规定修改",
    "water": "三通一平（通水）；距离阈值为默认值，可按地方规定修改",
    "power": "三通一平（通电）；距离阈值为默认值，可按地方规定修改",
    "sewer": "五通一平/七通一平（通排水）；国家标准未规定",
    "telecom": "四通一平及以上（通讯）；国家标准未规定",
    "gas": "七通一平（通燃气）；国家标准未规定",
}
OVERLAP = {  # code, Chinese and English layer names, basis (as the pipeline writes them)
    "red_line": (
        "RED_LINE_OVERLAP",
        "生态保护红线",
        "ecological protection red line",
        "《关于加强生态保护红线管理的通知（试行）》（2022）：红线内禁止开发性、生产性建设活动",
    ),
    "basic_farmland": (
        "BASIC_FARMLAND_OVERLAP",
        "永久基本农田",
        "permanent basic farmland",
        "《土地管理法》永久基本农田保护条款：不得擅自占用或改变用途（条文号待核实）",
    ),
    "inundation": (
        "INUNDATION_OVERLAP",
        "水库淹没区",
        "reservoir inundation zone",
        "水库淹没线以下禁止新建工业建设用地（无国家数值来源，按排除处理）",
    ),
}
UDB_BASIS = (
    "《城镇开发边界管理办法（试行）》：边界外不得规划建设开发区、非农产业园区等集中城镇建设用地"
)


def _overlap(kind: str, m2: float, share: float) -> dict:
    code, zh, en, basis = OVERLAP[kind]
    return {
        "code": code,
        "severity": "block",
        "value": round(m2, 4),
        "threshold": 10.0,
        "unit": "m2",
        "basis": basis,
        "message_zh": f"与{zh}重叠 {m2:.2f} m²（{m2 / 666.667:.3f} 亩，占地块 {share:.1%}），"
        "超过容差 10.00 m²",
        "message_en": f"overlaps the {en} by {m2:.2f} m² ({m2 / 666.667:.3f} mu, "
        f"{share:.1%} of the parcel), above the 10.00 m² tolerance",
    }


def _network(kind: str, dist: float, planned: float, severity: str) -> dict:
    limit = 200.0 if kind in ("road", "water", "sewer") else 300.0
    zh, en = NET_ZH[kind], NET_EN[kind]
    return {
        "code": f"NETWORK_MISSING:{kind}",
        "severity": severity,
        "value": round(dist, 4),
        "threshold": limit,
        "unit": "m",
        "basis": NET_BASIS[kind],
        "message_zh": f"{zh}未通：最近已建{zh}距地块 {dist:.0f} m，超过可接入距离 {limit:.0f} m；"
        f"规划{zh}距 {planned:.0f} m",
        "message_en": f"no {en}: the nearest built {en} is {dist:.0f} m away, beyond the "
        f"{limit:.0f} m connectable distance; a planned {en} runs {planned:.0f} m away",
    }


def make_parcels(n: int, /, *, seed: int = 2025, reason_share: float = 0.35) -> pd.DataFrame:
    """``n`` parcels with the columns analyze writes that the summary and the parcel sheet use."""
    rng = np.random.default_rng(seed)
    area_m2 = rng.lognormal(np.log(3000.0), 0.5, n)
    ell = area_m2 * (1 - rng.uniform(1e-4, 6e-4, n))
    df = pd.DataFrame({"parcel_id": [f"530702-GY-{i:05d}" for i in range(1, n + 1)]})
    df["area_m2"] = area_m2
    df["area_mu"] = area_m2 / 666.667
    df["area_ha"] = area_m2 / 10_000
    df["area_ellipsoidal_m2"] = ell
    df["area_ellipsoidal_mu"] = ell / 666.667
    df["area_ellipsoidal_ha"] = ell / 10_000
    with_reasons = rng.random(n) < reason_share
    excluded = np.zeros(n)
    for kind in KINDS:
        hit = with_reasons & (rng.random(n) < 0.15)
        share = np.where(hit, rng.uniform(0.01, 1.0, n), 0.0)
        df[f"excluded_{kind}_m2"] = share * area_m2
        excluded = np.maximum(excluded, share * area_m2)  # overlapping exclusions count once
    df["excluded_m2"] = excluded
    for kind in KINDS:
        df[f"excluded_{kind}_mu"] = df[f"excluded_{kind}_m2"] / 666.667
    df["excluded_mu"] = excluded / 666.667
    df["net_available_mu"] = (area_m2 - excluded) / 666.667
    df["net_available_ha"] = (area_m2 - excluded) / 10_000
    dist = {k: rng.gamma(2.0, 80.0, n) for k in NETWORKS}
    planned = {k: rng.uniform(0.0, 3600.0, n) for k in NETWORKS}
    for k in NETWORKS:
        limit = 200.0 if k in ("road", "water", "sewer") else 300.0
        status = np.where(dist[k] < 30, "connected", "connectable")
        status = np.where(dist[k] > limit, "needs_extension", status)
        df[f"net_{k}_status"] = np.where(rng.random(n) < 0.01, "not_provided", status)
    df["dev_cost_wan"] = df["area_mu"] * rng.uniform(8.0, 20.0, n)
    reasons, verdicts = [], []
    for i in range(n):
        rs: list[dict] = []
        if with_reasons[i]:
            for kind in ("red_line", "basic_farmland", "inundation"):
                m2 = df.at[i, f"excluded_{kind}_m2"]
                if m2 > 10:
                    rs.append(_overlap(kind, m2, m2 / area_m2[i]))
            udb = df.at[i, "excluded_urban_boundary_m2"]
            if udb > 10:
                rs.append({"code": "OUTSIDE_URBAN_BOUNDARY", "severity": "block",
                           "value": round(udb, 4), "threshold": 10.0, "unit": "m2",
                           "basis": UDB_BASIS,
                           "message_zh": f"有 {udb:.2f} m²（{udb / area_m2[i]:.1%}）位于城镇开发边界之外",
                           "message_en": f"{udb:.2f} m² ({udb / area_m2[i]:.1%}) lies outside "
                           "the urban development boundary"})  # fmt: skip
            for k in rng.permutation(NETWORKS)[: rng.integers(1, 5)]:
                sev = "block" if k in ("road", "water", "power") else "warn"
                rs.append(_network(str(k), 200 + dist[k][i], planned[k][i], sev))
            rs = rs[:6]
        blocked = any(r["severity"] == "block" for r in rs)
        verdicts.append(
            "blocked" if blocked else ("transferable_with_warnings" if rs else "transferable")
        )
        reasons.append(json.dumps(rs, ensure_ascii=False))
    df["verdict"] = verdicts
    df["transferable"] = df["verdict"] != "blocked"
    df["reasons"] = reasons
    return df


def _validation() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "layer": ["parcels", "red_line", "dem"],
            "code": ["INVALID_GEOMETRY_FIXED", "CRS_ASSUMED", "NODATA_CELLS"],
            "severity": ["warn", "info", "warn"],
            "count": [12, 0, 340],
            "message": [
                "12 features had invalid geometry and were repaired (make_valid)",
                "红线图层未声明坐标系，按 CGCS2000 / 3-degree GK CM 102E 处理",
                "340 DEM cells are nodata inside the park",
            ],
        }
    )


def _best(fn, repeat: int) -> tuple[float, float]:
    """Best wall-clock and best CPU seconds (this process) of ``repeat`` runs."""
    wall, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return min(wall), min(cpu)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parcels", type=int, default=50_000)
    ap.add_argument("--reason-share", type=float, default=0.35)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--seed", type=int, default=2025)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument(
        "--stream", action="store_true", help="chunked writer vs one-shot (RSS, rows/s)"
    )
    ap.add_argument("--chunk", type=int, default=20_000, help="rows per chunk with --stream")
    ap.add_argument(
        "--_child", nargs=3, metavar=("MODE", "TEMPLATE", "XLSX"), help=argparse.SUPPRESS
    )
    args = ap.parse_args(argv)
    if args._child:
        return _child(*args._child, parcels=args.parcels, chunk=args.chunk, seed=args.seed)
    if args.stream:
        return _stream_main(args)

    load_before = os.getloadavg()
    t0 = time.perf_counter()
    parcels = make_parcels(args.parcels, seed=args.seed, reason_share=args.reason_share)
    summary = park_summary(parcels, list(KINDS), None)
    reasons = reason_counts(parcels["reasons"].tolist(), parcels["net_available_mu"].tolist())
    table = parcel_table(parcels)
    build_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        ours = Path(tmp) / "park_summary.xlsx"
        peer = Path(tmp) / "peer.xlsx"
        landplan_s, landplan_cpu = _best(
            lambda: write_park_summary(ours, summary, reasons, _validation(), parcels),
            args.repeat,
        )
        pandas_s, pandas_cpu = _best(
            lambda: table.to_excel(peer, engine="openpyxl", index=False), args.repeat
        )
        sizes = {"landplan_bytes": ours.stat().st_size, "pandas_bytes": peer.stat().st_size}
        check = pd.read_excel(ours, sheet_name="地块", header=1, usecols=["parcel_id"])
        assert len(check) == args.parcels, len(check)
    load_after = os.getloadavg()
    result = {
        "parcels": args.parcels,
        "columns": list(table.columns),
        "reason_share": args.reason_share,
        "parcels_with_reasons": int((parcels["reasons"] != "[]").sum()),
        "unique_reasons_texts": int(parcels["reasons"].nunique()),
        "repeat": args.repeat,
        "build_data_s": round(build_s, 3),
        "landplan_write_park_summary_s": round(landplan_s, 3),
        "pandas_to_excel_openpyxl_s": round(pandas_s, 3),
        "ratio_pandas_over_landplan": round(pandas_s / landplan_s, 2),
        "landplan_cpu_s": round(landplan_cpu, 3),
        "pandas_cpu_s": round(pandas_cpu, 3),
        "ratio_cpu": round(pandas_cpu / landplan_cpu, 2),
        **sizes,
        "machine": _machine(load_before, load_after),
        "versions": _versions(),
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"xlsx_{args.parcels}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{args.parcels:,} parcels ({result['parcels_with_reasons']:,} with reasons)")
    print("                                  wall s   CPU s")
    print(f"landplan write_park_summary      {landplan_s:7.2f} {landplan_cpu:7.2f}  (all sheets)")
    print(f"pandas to_excel(engine=openpyxl) {pandas_s:7.2f} {pandas_cpu:7.2f}  (parcels, raw)")
    print(
        f"ratio pandas / landplan          {pandas_s / landplan_s:7.2f} {pandas_cpu / landplan_cpu:7.2f}"
    )
    print(f"load average before/after: {load_before[0]:.2f} / {load_after[0]:.2f}; -> {path}")
    return 0


def _template(folder: Path) -> Path:
    """The sample's real result: parcels with long reasons (all columns), summary, reason counts."""
    from landplan.data.sample import generate_sample

    from landplan.analysis.job import run_manifest

    result = run_manifest(generate_sample(folder / "sample"))
    parcels = pd.DataFrame(result.parcels.drop(columns="geometry"))
    long = parcels[parcels["reasons"].str.len() >= 1000].reset_index(drop=True)
    path = folder / "template.pkl"
    pd.to_pickle({"parcels": long, "summary": result.summary, "reasons": result.reasons}, path)
    return path


def realistic_chunks(template: pd.DataFrame, n: int, chunk: int, *, seed: int):
    """``n`` result rows in chunks of ``chunk``: template rows drawn at random, each with its own
    id, areas and reason values (so every reasons text is unique, as in a real result)."""
    rng = np.random.default_rng(seed)
    parsed = [json.loads(t) for t in template["reasons"]]
    floats = [c for c in template.columns if template[c].dtype.kind == "f"]
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        pick = rng.integers(0, len(template), m)
        df = template.iloc[pick].reset_index(drop=True)
        jitter = rng.uniform(0.9, 1.1, m)
        df[floats] = df[floats].to_numpy() * jitter[:, None]
        df["parcel_id"] = pd.array(
            [f"530702-GY-{i:07d}" for i in range(start, start + m)], dtype="string"
        )
        texts = []
        for p, j in zip(pick.tolist(), jitter.tolist(), strict=True):
            rs = [
                {**r, "value": round(r["value"] * j, 4)}
                if isinstance(r.get("value"), int | float)
                else r
                for r in parsed[p]
            ]
            texts.append(json.dumps(rs, ensure_ascii=False))
        df["reasons"] = pd.array(texts, dtype="string")
        yield df


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _child(mode: str, template: str, xlsx: str, *, parcels: int, chunk: int, seed: int) -> int:
    """One measured write in this (fresh) process; prints a JSON line."""
    from landplan.export.park import ParkWorkbookWriter

    data = pd.read_pickle(template)
    chunks = realistic_chunks(data["parcels"], parcels, chunk, seed=seed)
    if mode != "oneshot":  # the rows alone, made and dropped: the peak without any writing
        for df in realistic_chunks(data["parcels"], parcels, chunk, seed=seed):
            del df
    tables = (data["summary"], data["reasons"], _validation())
    reason_bytes = 0
    if mode == "oneshot":
        frame = pd.concat(list(chunks), ignore_index=True)
        reason_bytes = int(frame["reasons"].str.encode("utf-8").str.len().sum())
        before = _rss_mib()
        t0, c0 = time.perf_counter(), time.process_time()
        making = _peak_mib()  # the rows alone
        write_park_summary(xlsx, *tables, frame)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    else:
        before, making = _rss_mib(), _peak_mib()
        wall = cpu = 0.0
        with ParkWorkbookWriter(xlsx) as book:
            for df in chunks:  # made here, one at a time; the time to make them is not counted
                reason_bytes += int(df["reasons"].str.encode("utf-8").str.len().sum())
                t0, c0 = time.perf_counter(), time.process_time()
                book.add_parcels(df)
                wall, cpu = wall + time.perf_counter() - t0, cpu + time.process_time() - c0
                del df
            t0, c0 = time.perf_counter(), time.process_time()
            book.close(*tables)
            wall, cpu = wall + time.perf_counter() - t0, cpu + time.process_time() - c0
    peak = _peak_mib()
    print(json.dumps({
        "mode": mode, "parcels": parcels, "chunk": chunk if mode == "stream" else None,
        "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
        "rows_per_s": round(parcels / wall), "rss_before_write_mib": round(before, 1),
        "peak_rss_mib": round(peak, 1), "peak_rss_making_rows_only_mib": round(making, 1),
        "reasons_bytes_per_parcel": round(reason_bytes / parcels),
        "xlsx_bytes": Path(xlsx).stat().st_size,
    }))  # fmt: skip
    return 0


def _parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist() if n != "docProps/core.xml"}


def _stream_main(args) -> int:
    load_before = os.getloadavg()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        template = _template(folder)
        plan = [
            ("stream", args.parcels, "stream.xlsx"),
            ("oneshot", args.parcels, "oneshot.xlsx"),
            ("stream", max(args.chunk, args.parcels // 4), "stream_quarter.xlsx"),
        ]
        for mode, n, name in plan:
            cmd = [sys.executable, __file__, "--_child", mode, str(template), str(folder / name),
                   "--parcels", str(n), "--chunk", str(args.chunk), "--seed", str(args.seed)]  # fmt: skip
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            runs.append(json.loads(out.strip().splitlines()[-1]))
            print(runs[-1], flush=True)
        same = _parts(folder / "stream.xlsx") == _parts(folder / "oneshot.xlsx")
    load_after = os.getloadavg()
    result = {
        "parcels": args.parcels,
        "chunk": args.chunk,
        "runs": runs,
        "stream_equals_one_shot_all_parts_but_core_xml": same,
        "machine": _machine(load_before, load_after),
        "versions": _versions(),
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"xlsx_stream_{args.parcels}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"stream == one-shot: {same}; load average {load_before[0]:.2f} / {load_after[0]:.2f}")
    print(f"-> {path}")
    return 0 if same else 1


def _machine(load_before, load_after) -> dict:
    return {
        "nproc": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in load_after],
    }


def _versions() -> dict[str, str]:
    import openpyxl
    import xlsxwriter

    return {"pandas": pd.__version__, "openpyxl": openpyxl.__version__,
            "xlsxwriter": xlsxwriter.__version__, "numpy": np.__version__}  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
