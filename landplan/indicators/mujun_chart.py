"""PNG bar chart of the 亩均 class distribution (matplotlib; Chinese labels with a CJK font)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from landplan.indicators.mujun import NOT_GRADED, NOT_SET

if TYPE_CHECKING:
    from landplan.indicators.mujun import MujunResult


def find_cjk_font() -> str | None:
    """Path of an installed font with Chinese glyphs (``fc-list :lang=zh``), or None."""
    if shutil.which("fc-list") is None:
        return None
    try:
        text = subprocess.run(
            ["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=20, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    files = sorted({line.split(":")[0].strip() for line in text.splitlines() if line.strip()})
    sans = [f for f in files if "Sans" in f or "Hei" in f] or files
    regular = [f for f in sans if "Regular" in f] or sans
    return regular[0] if regular else None


def class_chart(result: MujunResult, path: str | Path, /) -> tuple[Path, bool]:
    """Bar chart (PNG) of firms per class; Chinese labels when a CJK font is installed.

    Returns the path and whether Chinese labels were used (False: English labels).
    Needs matplotlib (``pip install matplotlib``).
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager
    from matplotlib import pyplot as plt
    from matplotlib.ticker import MaxNLocator

    path = Path(path)
    font = find_cjk_font()
    props = None
    if font is not None:
        try:
            font_manager.fontManager.addfont(font)
            props = font_manager.FontProperties(fname=font)
        except (OSError, RuntimeError, ValueError):
            props = None
    zh = props is not None
    rule = result.preset.classes
    labels = [*rule.labels, NOT_SET, NOT_GRADED]
    counts = result.firms["class"].value_counts()
    labels = [lab for lab in labels if lab in counts.index or lab in rule.labels]
    values = [int(counts.get(lab, 0)) for lab in labels]
    names = dict(zip(rule.labels, rule.names_zh, strict=False)) if rule.names_zh else {}
    if zh:
        ticks = [
            f"{lab}\n{names[lab]}"
            if lab in names
            else {NOT_GRADED: "不参评", NOT_SET: "未设分类"}.get(lab, lab)
            for lab in labels
        ]
        title = f"亩均效益评价分类分布（{result.preset.preset.name}）"
        ylabel = "企业数（家）"
    else:
        ticks = labels
        title = f"mu-average evaluation: firms per class ({result.preset.preset.name})"
        ylabel = "firms"
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    colors = ["#1a9850", "#91cf60", "#fee08b", "#d73027", "#bdbdbd", "#9e9e9e"]
    bars = ax.bar(range(len(labels)), values, color=colors[: len(labels)])
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(ticks, fontproperties=props)
    ax.set_title(title, fontproperties=props)
    ax.set_ylabel(ylabel, fontproperties=props)
    ax.bar_label(bars, labels=[str(v) for v in values])
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path, zh
