"""cProfile of ``landplan analyze`` end to end (the CLI command, in this process).

    .venv/bin/python benchmarks/profile_main_job.py --parcels 50000 [--dem 4000] [--top 30]
    .venv/bin/python benchmarks/profile_main_job.py --manifest path/to/manifest.toml

Builds ``bench_main_job.py``'s scenario (or takes a manifest), runs the ``analyze`` command under
cProfile, and prints the time spent in each stage of the job (cumulative time of the functions
that do it) and the top functions by cumulative and by own time.  Writes the full listing to
``benchmarks/results/profile_main_job_<N>.txt``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import resource
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

# stage → (file suffix, function name) whose cumulative time is the stage's time
STAGES = [
    ("read + validate inputs", ("pipeline.py", "load_inputs")),
    ("write the inputs", ("store/streamed.py", "write_inputs")),
    ("DEM step (rasters + zonal)", ("job.py", "terrain_step")),
    ("chunks, computed here", ("job.py", "analyze_chunk")),
    ("  of which ellipsoidal areas", ("units.py", "ellipsoidal_area_m2")),
    ("  of which overlay", ("constraints.py", "exclusions_for")),
    ("  of which network distances", ("networks.py", "distances_to")),
    ("  of which verdicts + reasons", ("transfer.py", "assess")),
    ("chunks, waiting for the worker", ("chunkpool.py", "__call__")),
    ("append rows to the GeoPackages", ("store/streamed.py", "add")),
    ("feed the workbook", ("workbook_feed.py", "add")),
    ("feed the map", ("maps/streamed.py", "add")),
    ("summary + counts", ("pipeline.py", "whole_park")),
    ("close the workbook (wait)", ("workbook_feed.py", "close")),
    ("map (build + save)", ("main.py", "_write_map")),
    ("whole command", ("main.py", "_run_with_progress")),
]


def stage_times(stats: pstats.Stats) -> list[tuple[str, float]]:
    out: dict[str, float] = {}
    for label, (suffix, name) in STAGES:
        total = 0.0
        for (file, _, func), (_, _, _, ct, _) in stats.stats.items():
            if func == name and file.endswith(suffix):
                total = max(total, ct)  # recursive entries repeat the same cumulative time
        out[label] = max(out.get(label, 0.0), total)
    return list(out.items())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parcels", type=int, default=50_000)
    ap.add_argument("--dem", type=int, default=0, help="DEM size in cells (0 = none)")
    ap.add_argument("--manifest", type=Path, default=None, help="profile this manifest instead")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--out", type=Path, default=HERE / "results")
    args = ap.parse_args(argv)

    from landplan.cli.main import app

    with tempfile.TemporaryDirectory(prefix="landplan-profile-") as tmp:
        manifest = args.manifest
        if manifest is None:
            from bench_main_job import build_scenario

            t = time.perf_counter()
            manifest, _ = build_scenario(args.parcels, Path(tmp) / "in", dem_size=args.dem)
            print(
                f"scenario: {args.parcels} parcels, DEM {args.dem or 'none'} ({time.perf_counter() - t:.1f} s)"
            )
        prof = cProfile.Profile()
        t = time.perf_counter()
        prof.enable()
        try:
            app(["analyze", str(manifest), "--out", str(Path(tmp) / "ws")], standalone_mode=False)
        finally:
            prof.disable()
        wall = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    text = io.StringIO()
    stats = pstats.Stats(prof, stream=text)
    print(f"\nlandplan analyze under cProfile: {wall:.1f} s wall, peak RSS {peak:.0f} MiB")
    print(f"\n{'stage':32s} {'seconds':>8s}")
    for label, s in stage_times(stats):
        print(f"{label:32s} {s:8.2f}")
    stats.sort_stats("cumulative").print_stats(args.top)
    stats.sort_stats("tottime").print_stats(args.top)
    listing = text.getvalue()
    keep = [ln for ln in listing.splitlines() if ln.strip()]
    print("\n".join(keep[: 2 * args.top + 30]))
    args.out.mkdir(parents=True, exist_ok=True)
    name = args.manifest.stem if args.manifest else f"{args.parcels}{'_dem' if args.dem else ''}"
    (args.out / f"profile_main_job_{name}.txt").write_text(listing)
    prof.dump_stats(args.out / f"profile_main_job_{name}.prof")  # for pstats / snakeviz
    return 0


if __name__ == "__main__":
    sys.exit(main())
