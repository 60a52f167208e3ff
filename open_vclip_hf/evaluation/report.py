# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Evaluation reports: a JSON summary (schema below), a markdown table and, for patch sweeps, a PNG plot.

JSON (`"format": "open-vclip-evaluation/1"`); accuracies are percentages, `null` when nothing was evaluated:

```
{
  "format", "protocol", "model", "clip_anchor", "created", "versions": {...},
  "settings": {num_frames, sampling, num_clips, frame_stride, target_fps, spatial_crops, view_reduction,
               num_templates, batch_size, num_workers, num_processes, limit, device, dtype},
  "std_definition": "...",
  "splits": [{"name", "source", "num_videos", "num_classes", "num_evaluated", "num_failed", "seconds",
              "videos_per_second", "notes": [str], "failed": [{"video", "error"}]}],
  "runs": [{"name", "patch_ratio", "temporal_attention",
            "splits": {<split name>: {"num_evaluated", "top1", "top5", "top1_failures_as_wrong",
                                       "top5_failures_as_wrong"}},
            "mean": {"top1", "top5"}, "std": {"top1", "top5"}}],
  "warnings": [str]
}
```
"""

import json
import math
import platform
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .runner import TOP_K, EvaluationResult

REPORT_FORMAT = "open-vclip-evaluation/1"
STD_DEFINITION = "population standard deviation over the splits (numpy.std, ddof=0)"
PROTOCOL_TITLES = {
    "ucf101": "UCF101",
    "hmdb51": "HMDB51",
    "k600": "Kinetics-600 new classes (3 x 160)",
    "k400": "Kinetics-400 validation (closed set)",
    "custom": "custom data set",
}


def mean_std(values) -> tuple[float | None, float | None]:
    """Mean and population std (ddof=0) of the non-missing values; `(None, None)` if there are none."""
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return float(np.mean(values)), float(np.std(values))


def _versions() -> dict:
    import torch
    import transformers

    from .. import __version__

    return {
        "open_vclip_hf": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
    }


def summarize(
    result: EvaluationResult,
    protocol: str,
    model: str,
    clip_anchor: str | None = None,
    warnings: list[str] | None = None,
) -> dict:
    """The JSON-ready summary of `result` (schema in the module docstring)."""
    splits = []
    for split_result in result.splits:
        split = split_result.split
        seconds = split_result.seconds
        splits.append(
            {
                "name": split.name,
                "source": split.source,
                "num_videos": len(split.videos),
                "num_classes": len(split.class_names),
                "num_evaluated": len(split_result.evaluated),
                "num_failed": len(split_result.failures),
                "seconds": round(seconds, 3),
                "videos_per_second": round(len(split.videos) / seconds, 3) if seconds > 0 else None,
                "notes": list(split.notes),
                "failed": [
                    {"video": split.videos[index], "error": error} for index, error in sorted(split_result.failures)
                ],
            }
        )
    runs = []
    for run in result.runs:
        per_split = {r.split.name: dict(r.metrics[run.name]) for r in result.splits}
        mean, std = {}, {}
        for k in TOP_K:
            mean[f"top{k}"], std[f"top{k}"] = mean_std(entry[f"top{k}"] for entry in per_split.values())
        runs.append(
            {
                "name": run.name,
                "patch_ratio": run.patch_ratio,
                "temporal_attention": run.temporal_attention,
                "splits": per_split,
                "mean": mean,
                "std": std,
            }
        )
    return {
        "format": REPORT_FORMAT,
        "protocol": protocol,
        "model": model,
        "clip_anchor": clip_anchor,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
        "settings": dict(result.settings),
        "std_definition": STD_DEFINITION,
        "splits": splits,
        "runs": runs,
        "warnings": list(warnings or []),
    }


def _fmt(value, digits=2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _mean_std_cell(mean, std, several: bool) -> str:
    if mean is None:
        return "–"
    return f"{mean:.2f} ± {std:.2f}" if several else f"{mean:.2f}"


def _cell(text) -> str:
    """`text` as one markdown table cell: pipes escaped (also inside code spans), line breaks as spaces."""
    return " ".join(str(text).replace("|", "\\|").splitlines())


def markdown_report(summary: dict) -> str:
    """A markdown page: settings, one table row per run, video counts and the list of failed videos."""
    settings = summary["settings"]
    split_names = [split["name"] for split in summary["splits"]]
    several = len(split_names) > 1
    lines = [
        f"# Open-VCLIP zero-shot evaluation: {PROTOCOL_TITLES.get(summary['protocol'], summary['protocol'])}",
        "",
        f"- model: `{summary['model']}`"
        + (f"; CLIP anchor: `{summary['clip_anchor']}`" if summary["clip_anchor"] else ""),
        (
            f"- input: {settings['num_frames']} frames ({settings['sampling']}, stride {settings['frame_stride']} at "
            f"{settings['target_fps']:g} fps) x {settings['num_clips']} temporal views x {settings['spatial_crops']} "
            f"centre crop, {settings['view_reduction']}; {settings['num_templates']}-template prompt ensemble"
        ),
        "- accuracies in %, over the decoded videos"
        + (f"; mean ± std over splits {', '.join(split_names)} ({summary['std_definition']})" if several else ""),
    ]
    if settings.get("limit"):
        lines.append(f"- **--limit {settings['limit']}**: a subset of each split, not the full protocol")
    lines += ["", ""]
    header = ["run", "r (CLIP weight)", "temporal attention"]
    header += [f"split {name} top-1 / top-5" for name in split_names]
    header += ["top-1" + (" mean ± std" if several else ""), "top-5" + (" mean ± std" if several else "")]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for run in summary["runs"]:
        cells = [
            run["name"],
            "as loaded" if run["patch_ratio"] is None else f"{run['patch_ratio']:g}",
            run["temporal_attention"],
        ]
        cells += [f"{_fmt(run['splits'][n]['top1'])} / {_fmt(run['splits'][n]['top5'])}" for n in split_names]
        cells += [_mean_std_cell(run["mean"][f"top{k}"], run["std"][f"top{k}"], several) for k in (1, 5)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "| split | videos listed | evaluated | failed | classes | videos/s | source |",
        "|---|---|---|---|---|---|---|",
    ]
    for split in summary["splits"]:
        lines.append(
            f"| {split['name']} | {split['num_videos']} | {split['num_evaluated']} | {split['num_failed']} | "
            f"{split['num_classes']} | {_fmt(split['videos_per_second'], 1)} | {_cell(split['source'])} |"
        )
    notes = [f"split {split['name']}: {note}" for split in summary["splits"] for note in split["notes"]]
    if notes or summary["warnings"]:
        lines += ["", "Notes:", ""] + [f"- {text}" for text in [*summary["warnings"], *notes]]
    failed = [(split["name"], item) for split in summary["splits"] for item in split["failed"]]
    if failed:
        lines += [
            "",
            f"## Videos that could not be decoded ({len(failed)})",
            "",
            "They are left out of top-1 / top-5 above; the JSON also gives the accuracies with them counted as wrong.",
            "",
            "| split | video | error |",
            "|---|---|---|",
        ]
        lines += [f"| {_cell(name)} | `{_cell(item['video'])}` | {_cell(item['error'])} |" for name, item in failed]
    return "\n".join(lines) + "\n"


def plot_patch_sweep(summary: dict, path: str | Path) -> Path:
    """PNG of mean top-1 / top-5 accuracy (± std over splits) against the patch ratio r; frame-wise runs dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for attention, style in (("neighbor", "-"), ("none", "--")):
        runs = sorted(
            (
                run
                for run in summary["runs"]
                if run["patch_ratio"] is not None and run["temporal_attention"] == attention
            ),
            key=lambda run: run["patch_ratio"],
        )
        if not runs:
            continue
        ratios = [run["patch_ratio"] for run in runs]
        for k, marker, color in ((1, "o", "C0"), (5, "s", "C1")):
            means = [math.nan if run["mean"][f"top{k}"] is None else run["mean"][f"top{k}"] for run in runs]
            stds = [0.0 if run["std"][f"top{k}"] is None else run["std"][f"top{k}"] for run in runs]
            label = f"top-{k}" + (" (frame-wise)" if attention == "none" else "")
            axis.errorbar(
                ratios,
                means,
                yerr=stds,
                linestyle=style,
                marker=marker,
                color=color,
                capsize=3,
                label=label,
                markerfacecolor="white" if attention == "none" else color,
            )
    title = PROTOCOL_TITLES.get(summary["protocol"], summary["protocol"])
    axis.set_title(f"{title}: accuracy vs test-time patch ratio")
    axis.set_xlabel("r  (weights = r·θ_CLIP + (1 − r)·θ)")
    axis.set_ylabel("accuracy (%)" + (", mean ± std over splits" if len(summary["splits"]) > 1 else ""))
    axis.grid(True, alpha=0.3)
    axis.legend()
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, format="png")
    plt.close(figure)
    return path


def write_report(summary: dict, out_dir: str | Path, stem: str | None = None) -> dict[str, Path]:
    """Write `<stem>.json`, `<stem>.md` and, if the runs sweep patch ratios, `<stem>_patch_sweep.png` into
    `out_dir` (created); returns the paths by kind (`"json"`, `"markdown"`, `"plot"`)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = stem or summary["protocol"]
    paths = {"json": out_dir / f"{stem}.json", "markdown": out_dir / f"{stem}.md"}
    paths["json"].write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    paths["markdown"].write_text(markdown_report(summary), encoding="utf-8")
    if any(run["patch_ratio"] is not None for run in summary["runs"]):
        paths["plot"] = plot_patch_sweep(summary, out_dir / f"{stem}_patch_sweep.png")
    return paths


__all__ = ["REPORT_FORMAT", "markdown_report", "mean_std", "plot_patch_sweep", "summarize", "write_report"]
