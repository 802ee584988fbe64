"""The ``landplan`` command.  The composition root: it may import ``maps`` (lazily).

Exit codes: 0 success, 2 the input could not be used (the message says what and how to fix it).
``analyze``, ``demo`` and ``validate`` never show a traceback: an unexpected failure is reported
in one line naming the manifest (``LANDPLAN_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer

from landplan.cli.options import SchedulerOpt, WorkersOpt, root_options

#: numpy has not been imported yet.  landplan calls no threaded BLAS (one small eigenproblem
#: for AHP weights), and OpenBLAS's threads, started with numpy in each process of a job
#: (spawned workers inherit this), only spin: ~0.2 CPU-s a job in ``perf``.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

app = typer.Typer(
    name="landplan",
    help="Industrial-park land planning: available land and transfer verdicts (可出让) with reasons.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    callback=root_options,  # landplan --version
)

EXIT_BAD_INPUT = 2
STEPS = (
    "parcels",
    "constraints",
    "networks",
    "areas",
    "overlay",
    "networks",
    "terrain",  # the next three only run with a DEM; the bar then jumps
    "suitability",
    "zonal",
    "verdicts",
    "writing",
)


def _console():
    from rich.console import Console

    return Console(stderr=False, highlight=False, width=120)


def _run_with_progress(
    manifest: Path,
    out: Path | str,
    policy_name: str | None,
    *,
    lang: str,
    scheduler: str | None = None,
    workers: int | None = None,
) -> None:
    from functools import partial

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from landplan.analysis.cluster import dask_client
    from landplan.analysis.pipeline import load_inputs
    from landplan.core.parallel import freeze_long_lived, heap_trimmer
    from landplan.core.policy import load_policy
    from landplan.io.manifest import load_manifest
    from landplan.store.model import is_dsn, write_streamed

    console = _console()
    policy = load_policy(policy_name)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task("analysing", total=len(STEPS))

        def step(name: str) -> None:
            bar.update(task, advance=1, description=name)

        def dashboard(link: str) -> None:
            console.print(f"dask dashboard 集群面板: {link}")

        with (
            _raster_scratch(out) as tmp,
            dask_client(scheduler=scheduler, workers=workers, on_dashboard=dashboard) as client,
            ExitStack() as stack,
        ):
            m = load_manifest(manifest)
            _one_sync_per_file()
            stack.enter_context(heap_trimmer())  # freed memory back to the OS as the job runs
            # chunks computed here (and by a worker process when there are several), or on Dask
            chunks = _chunk_source(client, m, stack)
            inputs = load_inputs(m, on_step=step, on_layers=_handover(chunks, policy))
            freeze_long_lived()  # the imports and the inputs live for the whole job
            parts = _ResultMap(inputs)
            # rows written chunk by chunk as they are made: memory bounded by a chunk
            result = write_streamed(
                out,
                inputs,
                policy,
                lang=lang,
                sinks=[parts.add],
                extras={"map.html": partial(_write_map, parts, lang=lang)},
                on_step=step,
                raster_dir=Path(tmp),
                chunks=chunks,
                on_rasters=_prepare_overlays,  # drawn while the chunks are written
            )
        bar.update(task, completed=len(STEPS), description="done")
    _print_summary(console, result, out if is_dsn(out) else Path(out).resolve())


def _raster_scratch(out: str):
    """The job's temporary raster folder: beside the workspace when it is a folder whose parent
    exists and takes it (its rasters are then linked into the workspace, not copied), else in
    the system's temporary folder."""
    from landplan.core.types import JOB_RASTERS
    from landplan.store.model import is_dsn

    if not is_dsn(out):
        with contextlib.suppress(OSError):
            return tempfile.TemporaryDirectory(
                prefix=f".{JOB_RASTERS}", dir=Path(out).resolve().parent
            )
    return tempfile.TemporaryDirectory(prefix=JOB_RASTERS)


def _chunk_source(client, manifest, stack: ExitStack):
    """Dask's workers, or a chunk worker process started now (its start-up overlaps the reading
    of the inputs), or None (the job decides)."""
    if client is not None:
        from landplan.analysis.partitioned import DaskChunks

        return DaskChunks(client)
    from landplan.analysis.chunkpool import early_pool

    pool = early_pool(manifest)
    return None if pool is None else stack.enter_context(pool)


def _handover(chunks, policy):
    """``load_inputs``'s ``on_layers`` for a chunk worker: it prepares the constraint layers and
    networks while this process reads and validates the parcels."""
    start = getattr(chunks, "start", None)
    return None if start is None else (lambda layers: start(layers, policy))


#: above this many parcels ``map.html`` draws the parcels from ``landplan serve``'s vector tiles
#: (one standalone page of a county that size is hundreds of MB, which no browser opens)
MAP_INLINE_PARCELS = 200_000
SERVE_URL = "http://127.0.0.1:8000"
MAP_OVERLAYS = ("slope", "suitability")  # the rasters the result map overlays


def _map_limit() -> int:
    """``LANDPLAN_MAP_INLINE_PARCELS`` or :data:`MAP_INLINE_PARCELS`."""
    from landplan.core.parallel import env_int

    return env_int("LANDPLAN_MAP_INLINE_PARCELS", MAP_INLINE_PARCELS)


def _one_sync_per_file() -> None:
    """This one-job process lets SQLite skip its sync after every transaction of the staged
    GeoPackages: the stage is synced once, file by file, before it replaces the workspace
    (:func:`landplan.store.workspace.staged_directory`), so a crash still leaves the previous
    workspace or the whole new one.  The appends of the streamed job no longer wait for the disk."""
    import pyogrio

    pyogrio.set_gdal_config_options({"OGR_SQLITE_SYNCHRONOUS": "OFF"})


class _ResultMap:
    """The streamed job's ``map.html`` in the making: the parcel data gathered from the chunks
    (:meth:`add`), and the context layers (constraints, networks) reprojected and simplified in
    a thread meanwhile (they were the last second of a county's job)."""

    def __init__(self, inputs) -> None:
        from concurrent.futures import Future

        from landplan.maps.layers import preload_folium
        from landplan.maps.streamed import ResultMapParts

        preload_folium()  # imported while the first chunk is computed, not after the last
        self.parts = ResultMapParts(crs=inputs.crs, tiles_only=len(inputs.parcels) > _map_limit())
        self._context: Future = Future()
        threading.Thread(
            target=self._prepare, args=(inputs,), name="landplan-map-context", daemon=True
        ).start()

    def _prepare(self, inputs) -> None:
        from landplan.maps.layers import to_wgs84

        try:
            constraints = {k: to_wgs84(g) for k, g in inputs.constraints.items()}
            networks = None if inputs.networks is None else to_wgs84(inputs.networks)
            self._context.set_result((constraints, networks))
        except BaseException as exc:  # the map is built from the layers as they are instead
            self._context.set_exception(exc)

    def add(self, parcels) -> None:
        self.parts.add(parcels)

    def context(self, inputs):
        """``(constraints, networks)`` in EPSG:4326, made ahead; ``inputs``' own if that failed
        (the map then reports the problem itself)."""
        try:
            return self._context.result()
        except Exception:
            return inputs.constraints, inputs.networks


def _prepare_overlays(rasters: dict[str, Path]) -> None:
    """Start drawing the map's raster overlays as soon as the DEM step has written them."""
    from landplan.maps.rasters import prepare_overlay
    from landplan.maps.result_map import OVERLAY_STYLES

    for name in MAP_OVERLAYS:
        if name in rasters:
            prepare_overlay(rasters[name], OVERLAY_STYLES[name])


def _write_map(result_map: _ResultMap, stage: Path, result, *, lang: str) -> None:
    """``map.html`` of the streamed job, from the gathered parcel data."""
    from landplan.maps import save_map
    from landplan.maps.assets import assets_installed

    overlays = {k: v for k, v in result.rasters.items() if k in MAP_OVERLAYS}
    constraints, networks = result_map.context(result.inputs)
    m = result_map.parts.build(
        constraints=constraints,
        networks=networks,
        lang=lang,
        title=result.name,
        overlays=overlays,
        # a file map is inline (it has no server to ask), but for a county above the limit
        vector_tile_threshold=None,
        api_base=SERVE_URL if result_map.parts.tiles_only else "",
        assets="inline" if assets_installed() else "cdn",  # opens offline when installed
    )
    save_map(m, stage / "map.html")


def _map_writer(result, *, lang: str):
    """``map.html`` of an in-memory result: the page the streamed job writes for the same rows."""

    def write(stage: Path) -> None:
        parts = _ResultMap(result.inputs)
        parts.add(result.parcels)
        _write_map(parts, stage, result, lang=lang)

    return write


def _print_summary(console, result, out: Path | str) -> None:
    from rich.table import Table

    s = result.summary
    table = Table(
        title=f"{result.name} · {result.crs.to_string()} · policy {result.policy.profile.name}"
    )
    for col in (
        "group 片区",
        "parcels 宗",
        "gross 亩",
        "excluded 亩",
        "net 亩",
        "transferable 宗",
        "transferable 亩",
    ):
        table.add_column(col, justify="left" if col.startswith("group") else "right")
    for _, r in s.iterrows():
        table.add_row(
            str(r["group"]),
            f"{r['parcels']:,}",
            f"{r['gross_mu']:,.2f}",
            f"{r['excluded_mu']:,.2f}",
            f"{r['net_available_mu']:,.2f}",
            f"{r['transferable_parcels']:,}",
            f"{r['transferable_net_mu']:,.2f}",
        )
    console.print(table)
    if len(result.reasons):
        rt = Table(title="reasons 原因")
        for col in ("code", "severity", "parcels", "area 亩"):
            rt.add_column(col)
        for _, r in result.reasons.iterrows():
            rt.add_row(r["code"], r["severity"], f"{r['parcels']:,}", f"{r['area_mu']:,.2f}")
        console.print(rt)
    n_issues = sum(len(r.issues) for r in result.inputs.reports)
    console.print(f"validation findings 数据检查: {n_issues} (see validation_report.json)")
    if isinstance(out, str):  # a PostGIS workspace
        console.print(f"workspace 工作空间: {out}")
        console.print(f"serve 发布: landplan serve --store '{out}'")
        return
    console.print(f"results 结果: {out / 'results.gpkg'}")
    console.print(f"summary 汇总: {out / 'park_summary.xlsx'}")
    console.print(f"map 地图:     {out / 'map.html'}")
    if len(result.parcels) > (limit := _map_limit()):
        console.print(
            f"  地块超过 {limit:,} 宗，地图从本机服务读取地块 / more than "
            f"{limit:,} parcels: the map draws them from `landplan serve --store "
            f"{out}` ({SERVE_URL})"
        )


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def _guarded(run, what: str) -> None:
    """Run ``run()``; a LandplanError or any unexpected failure becomes one line and exit code 2."""
    from landplan.core.errors import LandplanError

    try:
        run()
    except (typer.Exit, KeyboardInterrupt):
        raise
    except LandplanError as exc:
        _fail(exc)
    except Exception as exc:  # a failure no check foresaw: still no traceback for the user
        if os.environ.get("LANDPLAN_DEBUG"):
            raise
        typer.secho(
            f"error: {what} failed unexpectedly ({type(exc).__name__}: {exc}); nothing was written. "
            "Run `landplan validate` on the manifest; if it passes, please report this "
            "(LANDPLAN_DEBUG=1 shows the traceback)",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(EXIT_BAD_INPUT) from None


@app.command()
def analyze(
    manifest: Annotated[
        Path, typer.Argument(help="manifest TOML naming the input files and their roles")
    ],
    out: Annotated[
        str,
        typer.Option(
            "--out",
            "-o",
            help="workspace to write (replaced atomically): a directory, or a PostGIS DSN "
            "postgresql://...?workspace=NAME",
        ),
    ],
    policy: Annotated[
        str | None, typer.Option(help="policy profile: a TOML path or a shipped name")
    ] = None,
    lang: Annotated[
        str, typer.Option(help="first language of the map and tables: zh or en")
    ] = "zh",
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
) -> None:
    """Available land and transfer verdicts for the files a manifest names."""
    _guarded(
        lambda: _run_with_progress(
            manifest, out, policy, lang=lang, scheduler=scheduler, workers=workers
        ),
        f"analysing {manifest}",
    )


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="workspace directory to write")],
    seed: Annotated[int, typer.Option(help="seed of the sample generator")] = 2025,
    lang: Annotated[
        str, typer.Option(help="first language of the map and tables: zh or en")
    ] = "zh",
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
) -> None:
    """Generate the Lijiang sample park and run the whole analysis on it."""
    from landplan.data.sample import generate_sample

    out = out.resolve()
    inputs_dir = out.parent / f"{out.name}-inputs"

    def run() -> None:
        manifest = generate_sample(inputs_dir, seed=seed)
        typer.echo(f"sample inputs 示例数据: {inputs_dir}")
        _run_with_progress(manifest, out, None, lang=lang, scheduler=scheduler, workers=workers)

    _guarded(run, "the demo")


@app.command()
def validate(
    manifest: Annotated[Path, typer.Argument(help="manifest TOML")],
    policy: Annotated[
        str | None,
        typer.Option(help="policy profile (decides which network kinds are required)"),
    ] = None,
) -> None:
    """Check everything analyze reads (layers, extents, DEM) and print the findings (writes nothing)."""
    _guarded(lambda: _validate(manifest, policy), f"validating {manifest}")


def _validate(manifest: Path, policy_name: str | None) -> None:
    from rich.table import Table

    from landplan.analysis.pipeline import load_inputs
    from landplan.core.policy import load_policy
    from landplan.io.manifest import load_manifest

    policy = load_policy(policy_name)
    m = load_manifest(manifest)
    inputs = load_inputs(m)
    table = Table(title=f"validation · workspace CRS {inputs.crs.to_string()}")
    for col in ("layer", "features", "encoding", "code", "severity", "message"):
        table.add_column(col)
    for r in inputs.reports:
        n = "-" if r.role == "dem" else str(r.n_features)
        enc = "-" if r.role == "dem" else str(r.encoding)
        if not r.issues:
            table.add_row(r.name, n, enc, "-", "ok", "")
        for i in r.issues:
            table.add_row(r.name, n, enc, i.code, i.severity, i.message)
    console = _console()
    console.print(table)
    given = {e.kind for e in m.networks}
    missing = [k for k in policy.required_networks() if k not in given]
    if missing:
        labels = ", ".join(
            f"{k} ({policy.networks[k].label_zh} {policy.networks[k].label_en})" for k in missing
        )
        console.print(
            f"missing required network layers 缺少必需的管网图层: {labels}; every parcel will carry "
            "NETWORK_DATA_NOT_PROVIDED:<kind> (数据未提供) until a [[networks]] entry names them",
            markup=False,
        )
    if m.dem is None:
        console.print("no DEM 未提供高程: slope, suitability and earthwork are not computed")


def _register_groups() -> None:
    from landplan.cli.registry import load_groups, load_top_level

    for name, help_text, sub in load_groups():
        app.add_typer(sub, name=name, help=help_text)
    for func in load_top_level():
        app.command()(func)


_register_groups()


def _app_for(argv: list[str]) -> typer.Typer:
    """The whole command, or, for ``landplan GROUP ...`` / ``landplan COMMAND ...`` of a
    registry module, a command holding only that group or command.

    Typer builds (and evaluates the annotations of) every registered command when it starts;
    building only the one asked for keeps ``landplan terrain slope`` and ``landplan distance``
    as quick to start as the tools they are compared with.  Help and errors read the same.
    """
    from landplan.cli.registry import GROUPS, group_app, top_level_command

    first = next((a for a in argv if not a.startswith("-")), None)
    groups = {name: (module, help_text) for module, name, help_text in GROUPS}
    command = None if first is None or first in groups else top_level_command(first)
    if first is None or (first not in groups and command is None):
        return app
    only = typer.Typer(
        name="landplan",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        callback=root_options,
    )
    if command is not None:
        only.command()(command)
    else:
        module, help_text = groups[first]
        only.add_typer(group_app(module), name=first, help=help_text)
    return only


def main() -> None:
    """Entry point of the ``landplan`` console script."""
    from landplan.core.errors import LandplanError

    try:
        _app_for(sys.argv[1:])()
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)
    except LandplanError as exc:  # bad input in any command: the message says what to fix
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(EXIT_BAD_INPUT)
    except Exception as exc:  # a bug: one line, never a traceback (LANDPLAN_DEBUG=1 shows it)
        if os.environ.get("LANDPLAN_DEBUG"):
            raise
        typer.secho(
            f"internal error 内部错误: {type(exc).__name__}: {str(exc)[:300]} — please report it "
            "(LANDPLAN_DEBUG=1 shows the traceback)",
            fg=typer.colors.RED,
            err=True,
        )
        sys.exit(1)
