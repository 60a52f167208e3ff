# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Evaluation reports: a JSON summary (`"format": "open-vclip-evaluation/1"`; settings, splits with their failed
videos, runs with per-split top-1 / top-5 in percent, `null` when nothing was evaluated, and their mean and std over
the splits), a markdown table and, for patch sweeps, a PNG plot."""

import json
import platform
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import numpy as np
import torch
import transformers

from .. import __version__
from ..weights import write_atomically
from .runner import TOP_K, EvaluationResult

REPORT_FORMAT = "open-vclip-evaluation/1"
STD_DEFINITION = "population standard deviation over the splits (numpy.std, ddof=0)"
PROTOCOL_TITLES = {
    "ucf101": "UCF101", "hmdb51": "HMDB51", "k600": "Kinetics-600 new classes (3 x 160)",
    "k400": "Kinetics-400 validation (closed set)", "custom": "custom data set",
}  # fmt: skip


def summarize(result: EvaluationResult, protocol: str, model: str, clip_anchor=None, warnings=None) -> dict:
    """The JSON-ready summary of `result`."""
    splits = []
    for split_result in result.splits:
        split, seconds = split_result.split, split_result.seconds
        failed = [{"video": split.videos[index], "error": error} for index, error in sorted(split_result.failures)]
        splits.append({
            "name": split.name, "source": split.source, "num_videos": len(split), "num_classes": len(split.class_names),
            "num_evaluated": len(split_result.evaluated), "num_failed": len(failed), "seconds": round(seconds, 3),
            "videos_per_second": round(len(split) / seconds, 3) if seconds > 0 else None,
            "notes": list(split.notes), "failed": failed,
        })  # fmt: skip
    runs = []
    for run in result.runs:
        per_split = {r.split.name: dict(r.metrics[run.name]) for r in result.splits}
        values = {f"top{k}": [e[f"top{k}"] for e in per_split.values() if e[f"top{k}"] is not None] for k in TOP_K}
        runs.append({
            "name": run.name, "patch_ratio": run.patch_ratio, "temporal_attention": run.temporal_attention,
            "splits": per_split, "mean": {key: float(np.mean(v)) if v else None for key, v in values.items()},
            "std": {key: float(np.std(v)) if v else None for key, v in values.items()},  # population std, ddof=0
        })  # fmt: skip
    versions = {"open_vclip_hf": __version__, "torch": torch.__version__, "transformers": transformers.__version__}
    return {
        "format": REPORT_FORMAT, "protocol": protocol, "model": model, "clip_anchor": clip_anchor,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": {**versions, "python": platform.python_version()}, "settings": dict(result.settings),
        "std_definition": STD_DEFINITION, "splits": splits, "runs": runs, "warnings": list(warnings or []),
    }  # fmt: skip


def _fmt(value, digits=2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _table(header: list, rows: list) -> list[str]:
    """A markdown table; pipes in a cell are escaped (also inside code spans), line breaks become spaces."""

    def row(cells):
        return "| " + " | ".join(" ".join(str(cell).replace("|", "\\|").splitlines()) for cell in cells) + " |"

    return [row(header), "|" + "---|" * len(header), *map(row, rows)]


def markdown_report(summary: dict) -> str:
    """A markdown page: settings, one table row per run, video counts and the list of failed videos."""
    settings, title = summary["settings"], PROTOCOL_TITLES.get(summary["protocol"], summary["protocol"])
    split_names = [split["name"] for split in summary["splits"]]
    several = len(split_names) > 1
    anchor = f"; CLIP anchor: `{summary['clip_anchor']}`" if summary["clip_anchor"] else ""
    lines = [
        f"# Open-VCLIP zero-shot evaluation: {title}",
        "",
        f"- model: `{summary['model']}`{anchor}",
        f"- input: {settings['num_frames']} frames ({settings['sampling']}, stride {settings['frame_stride']} at "
        f"{settings['target_fps']:g} fps) x {settings['num_clips']} temporal views x {settings['spatial_crops']} "
        f"centre crop, {settings['view_reduction']}; {settings['num_templates']}-template prompt ensemble",
        "- accuracies in %, over the decoded videos"
        + (f"; mean ± std over splits {', '.join(split_names)} ({summary['std_definition']})" if several else ""),
    ]
    if settings.get("limit"):
        lines.append(f"- **--limit {settings['limit']}**: a subset of each split, not the full protocol")
    mean = " mean ± std" if several else ""
    header = ["run", "r (CLIP weight)", "temporal attention", *(f"split {name} top-1 / top-5" for name in split_names)]
    rows = []
    for run in summary["runs"]:
        ratio = "as loaded" if run["patch_ratio"] is None else f"{run['patch_ratio']:g}"
        cells = [run["name"], ratio, run["temporal_attention"]]
        cells += [f"{_fmt(run['splits'][n]['top1'])} / {_fmt(run['splits'][n]['top5'])}" for n in split_names]
        for k in TOP_K:
            value, std = run["mean"][f"top{k}"], run["std"][f"top{k}"]
            cells.append(f"{value:.2f} ± {std:.2f}" if several and value is not None else _fmt(value))
        rows.append(cells)
    lines += ["", "", *_table([*header, f"top-1{mean}", f"top-5{mean}"], rows), ""]
    header = ["split", "videos listed", "evaluated", "failed", "classes", "videos/s", "source"]
    counts = ("num_videos", "num_evaluated", "num_failed", "num_classes")
    rows = [
        [s["name"], *(s[key] for key in counts), _fmt(s["videos_per_second"], 1), s["source"]]
        for s in summary["splits"]
    ]
    lines += _table(header, rows)
    notes = summary["warnings"] + [f"split {s['name']}: {note}" for s in summary["splits"] for note in s["notes"]]
    if notes:
        lines += ["", "Notes:", ""] + [f"- {text}" for text in notes]
    failed = [
        [split["name"], f"`{item['video']}`", item["error"]] for split in summary["splits"] for item in split["failed"]
    ]
    if failed:
        lines += ["", f"## Videos that could not be decoded ({len(failed)})", ""]
        lines += ["Left out of top-1 / top-5 above; the JSON also gives the accuracies with them counted as wrong.", ""]
        lines += _table(["split", "video", "error"], failed)
    return "\n".join(lines) + "\n"


def plot_patch_sweep(summary: dict, path: str | Path) -> Path:
    """PNG of mean top-1 / top-5 accuracy (± std over splits) against the patch ratio r; frame-wise runs dashed."""
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure to close

    figure = Figure(figsize=(6.4, 4.2), dpi=120)
    axis = figure.subplots()
    sweep = sorted((run for run in summary["runs"] if run["patch_ratio"] is not None), key=lambda r: r["patch_ratio"])
    styles = {"neighbor": {"linestyle": "-"}, "none": {"linestyle": "--", "markerfacecolor": "white"}}
    for attention, style in styles.items():
        runs = [run for run in sweep if run["temporal_attention"] == attention]
        if not runs:
            continue
        for k, marker, color in ((1, "o", "C0"), (5, "s", "C1")):
            means = np.array([run["mean"][f"top{k}"] for run in runs], dtype=float)  # None (no accuracy) -> NaN
            stds = np.nan_to_num(np.array([run["std"][f"top{k}"] for run in runs], dtype=float))
            label = f"top-{k}" + (" (frame-wise)" if attention == "none" else "")
            ratios = [run["patch_ratio"] for run in runs]
            axis.errorbar(ratios, means, yerr=stds, marker=marker, color=color, capsize=3, label=label, **style)
    title = PROTOCOL_TITLES.get(summary["protocol"], summary["protocol"])
    axis.set_title(f"{title}: accuracy vs test-time patch ratio")
    axis.set_xlabel("r  (weights = r·θ_CLIP + (1 − r)·θ)")
    axis.set_ylabel("accuracy (%)" + (", mean ± std over splits" if len(summary["splits"]) > 1 else ""))
    axis.grid(True, alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, format="png")
    return Path(path)


def write_report(summary: dict, out_dir: str | Path) -> dict[str, Path]:
    """Write `<protocol>.json`, `.md` and, for a patch sweep, `_patch_sweep.png` into `out_dir`; the paths by kind."""
    out_dir, stem = Path(out_dir), summary["protocol"]
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / f"{stem}.json", "markdown": out_dir / f"{stem}.md"}
    texts = {"json": json.dumps(summary, indent=2, ensure_ascii=False) + "\n", "markdown": markdown_report(summary)}
    for kind, text in texts.items():
        write_atomically(paths[kind], lambda path: path.write_text(text, encoding="utf-8"))
    if any(run["patch_ratio"] is not None for run in summary["runs"]):
        paths["plot"] = out_dir / f"{stem}_patch_sweep.png"
        write_atomically(paths["plot"], partial(plot_patch_sweep, summary))
    return paths
