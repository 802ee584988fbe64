"""landplan: industrial-park land planning for China, from the files a land bureau already has.

For every parcel (地块): how much land is really available, whether it can be transferred (出让)
now, and if not, every reason, with the measured value, the threshold, the legal basis and a
message in Chinese and English.

>>> import landplan  # doctest: +SKIP
>>> result = landplan.analyze(parcels, id_field="DKBH",
...                           constraints={"red_line": red, "basic_farmland": farmland},
...                           networks={"road": roads, "water": water}, policy="national")  # doctest: +SKIP
>>> result.parcels          # GeoDataFrame: areas, exclusions, distances, verdicts, reasons  # doctest: +SKIP
>>> result.summary          # per park and per 片区 group  # doctest: +SKIP
>>> result.reasons          # one row per (parcel, reason)  # doctest: +SKIP
>>> result.explore()        # a folium map in the notebook  # doctest: +SKIP
>>> result.to_workspace("out/")   # or "postgresql:///db?workspace=name"  # doctest: +SKIP

The names below are the public API; everything else is importable from its sub-package
(:mod:`landplan.core`, :mod:`landplan.io`, :mod:`landplan.analysis`, :mod:`landplan.raster`,
:mod:`landplan.indicators`, :mod:`landplan.planning`, :mod:`landplan.store`) but not promised.
They load on first use, so ``import landplan`` (and the ``landplan`` command) start fast.
"""

from __future__ import annotations

from importlib import import_module

#: public name → the module that defines it
_EXPORTS = {
    "analyze": "landplan.analysis.run",
    "Result": "landplan.analysis.run",
    "read_manifest": "landplan.io.manifest",
    "read_vector": "landplan.io.vector",
    "load_policy": "landplan.core.policy",
    "Policy": "landplan.core.policy",
    "Reason": "landplan.core.reasons",
    "open_workspace": "landplan.store.model",
    "Workspace": "landplan.store.model",
    "LandplanError": "landplan.core.errors",
}
_ALIASES = {"read_manifest": "load_manifest"}

__all__ = ["__version__", *_EXPORTS]


def _version() -> str:
    # importlib.metadata costs ~20 ms to import: only ``--version`` and callers who ask pay it
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("landplan")
    except PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"


def __getattr__(name: str):
    if name == "__version__":
        value = _version()
    elif name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), _ALIASES.get(name, name))
    else:
        raise AttributeError(f"module 'landplan' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
