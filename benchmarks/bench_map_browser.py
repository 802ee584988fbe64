"""Map of N parcels in a real Chromium: vector tiles from the API vs the same layer inline.

Measures, per variant: HTML bytes, time from navigation to the first drawn parcel, time to
network idle, JS heap after load (CDP ``Performance.getMetrics``), and panning smoothness
(frames per second and the longest frame while ``map.panBy`` animates 20 times).

    python benchmarks/bench_map_browser.py --parcels 100000

Variants: ``tiles`` = ``landplan serve`` page ``/maps/result`` (parcels above the threshold
come as Mapbox Vector Tiles, popups fetched per click); ``inline`` = ``build_result_map`` with
``vector_tile_threshold=None`` (all parcels as compact data in the page, drawn on a canvas,
popups built on click), served as a
static file by the same kind of local HTTP server.  Both use the offline Leaflet assets and no
basemap, so nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import shapely
from geopandas import GeoDataFrame

ROOT = Path(__file__).resolve().parents[1]
MAP_JS = "window[Object.keys(window).find(k => k.startsWith('map_') && window[k] && window[k].getCenter)]"
PAN_JS = """async (map) => {
  const frames = []; let last = performance.now(); let on = true;
  const tick = (t) => { frames.push(t - last); last = t; if (on) requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  for (let i = 0; i < 20; i++) {
    map.panBy([i % 2 ? -300 : 300, i % 4 < 2 ? 200 : -200], {animate: true, duration: 0.25});
    await new Promise(r => setTimeout(r, 300));
  }
  on = false;
  const total = frames.reduce((a, b) => a + b, 0);
  return {fps: frames.length / (total / 1000), max_frame_ms: Math.max(...frames)};
}"""


def make_parcels(n: int, seed: int = 7) -> GeoDataFrame:
    """A jittered grid of ~50 × 60 m parcels near Lijiang (EPSG:4542) with result columns."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n)))
    i = np.arange(n)
    x0 = 620_000 + (i % side) * 55.0 + rng.uniform(-2, 2, n)
    y0 = 2_977_000 + (i // side) * 65.0 + rng.uniform(-2, 2, n)
    geoms = shapely.box(x0, y0, x0 + 50, y0 + 60)
    verdict = rng.choice(
        ["transferable", "transferable_with_warnings", "blocked"], n, p=[0.7, 0.1, 0.2]
    )
    area_mu = shapely.area(geoms) * 0.0015
    reasons = np.where(
        verdict == "blocked",
        json.dumps(
            [
                {
                    "code": "RED_LINE_OVERLAP",
                    "severity": "block",
                    "value": 100.0,
                    "threshold": 0.0,
                    "unit": "m²",
                    "basis": "《生态保护红线管理办法》",
                    "message_zh": "与生态保护红线重叠",
                    "message_en": "overlaps the ecological red line",
                }
            ],
            ensure_ascii=False,
        ),
        "[]",
    )
    return GeoDataFrame(
        {
            "parcel_id": [f"B-{k:07d}" for k in range(n)],
            "verdict": verdict,
            "transferable": verdict != "blocked",
            "area_m2": shapely.area(geoms),
            "area_mu": area_mu,
            "net_available_mu": np.where(verdict == "blocked", 0.0, area_mu),
            "reasons": reasons,
        },
        geometry=geoms,
        crs="EPSG:4542",
    )


def write_workspace(parcels: GeoDataFrame, folder: Path) -> Path:
    from landplan.store.workspace import MARKER, write_layer

    folder.mkdir(parents=True)
    write_layer(folder / "workspace.gpkg", "result_parcels", parcels)
    meta = {
        "format_version": 1,
        "name": f"bench {len(parcels)} parcels",
        "crs": "EPSG:4542",
        "parcels": len(parcels),
    }
    (folder / MARKER).write_text(json.dumps(meta), encoding="utf-8")
    return folder


def start_server(workspace: Path, port: int, assets: Path) -> subprocess.Popen:
    env = dict(os.environ, LANDPLAN_STORE=str(workspace), LANDPLAN_ASSETS_DIR=str(assets))
    exe = Path(sys.executable).with_name("landplan")
    proc = subprocess.Popen(
        [str(exe), "serve", "--port", str(port), "--log-level", "warning"], env=env
    )
    import httpx

    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def static_server(folder: Path, port: int) -> ThreadingHTTPServer:
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    handler = partial(Quiet, directory=str(folder))
    httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def measure(browser, url: str, first_drawn_js: str, timeout_s: float) -> dict:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable")
    start = time.perf_counter()
    out: dict = {"url": url}
    try:
        page.goto(url, wait_until="commit", timeout=timeout_s * 1000)
        page.wait_for_function(
            f"!!({MAP_JS}) && ({first_drawn_js})", timeout=timeout_s * 1000, polling=50
        )
        out["first_render_s"] = round(time.perf_counter() - start, 2)
        try:
            page.wait_for_load_state("networkidle", timeout=timeout_s * 1000)
            out["network_idle_s"] = round(time.perf_counter() - start, 2)
        except Exception:
            out["network_idle_s"] = None
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        out["js_heap_mb"] = round(metrics.get("JSHeapUsedSize", 0) / 2**20, 1)
        out["dom_nodes"] = int(metrics.get("Nodes", 0))
        out |= page.evaluate(f"(async () => ({PAN_JS})({MAP_JS}))()")
        out["fps"], out["max_frame_ms"] = round(out["fps"], 1), round(out["max_frame_ms"], 1)
    except Exception as exc:
        out["failed"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        out["elapsed_s"] = round(time.perf_counter() - start, 1)
    out["page_errors"] = errors[:3]
    context.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parcels", type=int, default=100_000)
    ap.add_argument(
        "--timeout", type=float, default=300.0, help="seconds per page before it counts as frozen"
    )
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/map_browser.json")
    args = ap.parse_args()

    from landplan.maps import build_result_map, save_map
    from landplan.maps.assets import default_asset_dir, install_assets
    from playwright.sync_api import sync_playwright

    install_assets()
    assets = default_asset_dir()
    tmp = Path(tempfile.mkdtemp(prefix="landplan-mapbench-"))
    t0 = time.perf_counter()
    parcels = make_parcels(args.parcels)
    ws = write_workspace(parcels, tmp / "ws")
    print(f"generated and wrote {len(parcels):,} parcels in {time.perf_counter() - t0:.1f} s")

    t0 = time.perf_counter()
    site = tmp / "site"
    site.mkdir()
    shutil.copytree(assets, site / "assets")
    m = build_result_map(
        parcels,
        vector_tile_threshold=None,
        assets="offline",
        assets_base_url="/assets",
        basemap="none",
        title="inline GeoJSON",
    )
    inline_html = save_map(m, site / "inline.html")
    inline_build_s = time.perf_counter() - t0
    print(
        f"built the inline page in {inline_build_s:.1f} s ({inline_html.stat().st_size / 2**20:.1f} MB)"
    )

    api_port, static_port = 18731, 18732
    proc = start_server(ws, api_port, assets)
    httpd = static_server(site, static_port)
    import httpx

    tiled_bytes = len(
        httpx.get(f"http://127.0.0.1:{api_port}/maps/result?basemap=none", timeout=120).content
    )
    results = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=args.chromium, args=["--no-sandbox", "--disable-gpu"]
            )
            results["tiles"] = measure(
                browser,
                f"http://127.0.0.1:{api_port}/maps/result?basemap=none",
                "document.querySelectorAll('.leaflet-tile-loaded').length > 0",
                args.timeout,
            )
            results["tiles"]["html_mb"] = round(tiled_bytes / 2**20, 2)
            results["inline"] = measure(
                browser,
                f"http://127.0.0.1:{static_port}/inline.html",
                "Object.keys(window).some(k => k.startsWith('parcel_layer_'))",
                args.timeout,
            )
            results["inline"]["html_mb"] = round(inline_html.stat().st_size / 2**20, 2)
            results["inline"]["build_s"] = round(inline_build_s, 1)
            browser.close()
    finally:
        proc.terminate()
        httpd.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)

    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    record = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpu": cpu, "cores": os.cpu_count(), "load_avg": os.getloadavg()},
        "chromium": subprocess.run(
            [args.chromium, "--version"], capture_output=True, text=True
        ).stdout.strip(),
        "parcels": args.parcels,
        "results": results,
    }
    args.out.write_text(json.dumps(record, ensure_ascii=False, indent=2), encoding="utf-8")
    print(
        f"\n{'variant':8} {'HTML MB':>8} {'first render s':>15} {'idle s':>7} {'heap MB':>8} {'fps':>6} {'max frame ms':>13}"
    )
    for name, r in results.items():
        if "failed" in r:
            print(f"{name:8} {r['html_mb']:>8} FAILED after {r['elapsed_s']} s: {r['failed']}")
            continue
        print(
            f"{name:8} {r['html_mb']:>8} {r['first_render_s']:>15} {'-' if r['network_idle_s'] is None else r['network_idle_s']:>7} {r['js_heap_mb']:>8} {r['fps']:>6} {r['max_frame_ms']:>13}"
        )
    print(f"\nwritten {args.out}")


if __name__ == "__main__":
    main()
