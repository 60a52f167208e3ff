# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""One call per benchmark: read the official split files, evaluate, write the JSON / markdown / PNG reports
(`open-vclip evaluate`; `examples/evaluate_zero_shot.py` from Python)."""

import os
from collections.abc import Sequence

import torch

from .protocols import read_protocol
from .report import summarize, write_report
from .runner import evaluate_splits, make_runs, process_state


def parse_ratios(text: str) -> list[float]:
    """`"0,0.1,0.5"` -> `[0.0, 0.1, 0.5]`; every ratio must lie in [0, 1]."""
    try:
        ratios = [float(item) for item in text.split(",") if item.strip()]
    except ValueError as error:
        raise ValueError(f"--patch-sweep takes comma-separated numbers such as 0,0.25,0.5, got {text!r}") from error
    if not ratios or any(not 0.0 <= r <= 1.0 for r in ratios):
        raise ValueError(f"patch ratios must lie in [0, 1] (the weight on CLIP), got {text!r}")
    return ratios


def load_model_and_processor(model: str | os.PathLike, device: str | None = None, dtype: torch.dtype | None = None):
    """[`OpenVCLIPModel`] and its [`OpenVCLIPProcessor`] from a `save_pretrained` folder or Hub id (a CLIP one too);
    a folder without processor files gets its model's default one ([`OpenVCLIPProcessor.from_pretrained`])."""
    from .. import OpenVCLIPModel, OpenVCLIPProcessor

    loaded = OpenVCLIPModel.from_pretrained(model, **({"dtype": dtype} if dtype is not None else {}))
    if device is not None:
        loaded = loaded.to(device)
    return loaded.eval(), OpenVCLIPProcessor.from_pretrained(model)


def evaluate_protocol(
    model,
    protocol: str,
    data_root: str | os.PathLike | None = None,
    split: str = "all",
    split_file: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    processor=None,
    patch_ratios: Sequence[float] | None = None,
    clip_anchor=None,
    frame_wise: bool = False,
    limit: int | None = None,
    batch_size: int = 8,
    num_workers: int = 2,
    device: str | None = None,
    dtype: torch.dtype | None = None,
    progress: bool = True,
):
    """Zero-shot evaluation of `model` on an official protocol, as in the paper (method doc sections 5 and 7).

    Args:
        model: a `save_pretrained` folder / Hub id, or an [`OpenVCLIPModel`] (then pass `processor` too, or the
            default processor is used).
        protocol: `"ucf101"`, `"hmdb51"`, `"k600"`, `"k400"` or `"custom"`; `data_root`, `split`, `split_file` as
            in [`read_protocol`].
        out_dir: where to write `<protocol>.json`, `<protocol>.md` (and `<protocol>_patch_sweep.png`); `None`
            writes nothing. Under `accelerate launch` the videos are divided between the processes, every process
            receives all logits, and only the main process writes.
        patch_ratios: evaluate `r·θ_CLIP + (1−r)·θ` for each `r` (needs `clip_anchor`: an OpenAI CLIP file, a CLIP
            folder / Hub id or a loaded model).
        frame_wise: also evaluate every setting with temporal attention off (frames encoded alone).
        limit, batch_size, num_workers, progress: see [`evaluate_splits`].
        device, dtype: where and in which precision to run a model loaded from a path.

    Returns `(summary, paths, result)`: the JSON summary (see `report.py`), the written files by kind and the
    [`EvaluationResult`] (with the view-summed logits of every run and split).
    """
    if patch_ratios and clip_anchor is None:
        raise ValueError(
            "--patch-sweep interpolates toward CLIP: give θ_CLIP with --clip-anchor (OpenAI .pt file or CLIP folder)"
        )
    if clip_anchor is not None and not patch_ratios:
        raise ValueError(
            "--clip-anchor is only used with --patch-sweep (e.g. --patch-sweep 0.5 for the paper's B/16 ratio)"
        )
    splits = read_protocol(protocol, data_root, split, split_file)  # read first: a wrong path fails before loading

    model_name = str(model) if isinstance(model, (str, os.PathLike)) else type(model).__name__
    state = process_state(device)
    if state.num_processes > 1 and state.device.type != "cpu":  # `accelerate launch` on GPUs: one GPU per process
        device = state.device
    if isinstance(model, (str, os.PathLike)):
        model, loaded_processor = load_model_and_processor(model, device, dtype)
        processor = processor or loaded_processor
    elif processor is None:
        from .. import OpenVCLIPProcessor

        processor = OpenVCLIPProcessor.for_model(model.config)

    warnings = []
    config_ratio = getattr(model.config, "patch_ratio", None)
    if patch_ratios and config_ratio:
        warnings.append(
            f"the model's config says its weights are already patched (patch_ratio={config_ratio}); the sweep "
            "interpolates these weights again. Sweep the raw SWA weights (convert with --ratio 0) instead."
        )
    attention = getattr(model.config, "temporal_attention", "neighbor")
    if frame_wise and attention == "none":
        warnings.append("the model already has temporal_attention='none': --frame-wise adds nothing")

    anchor = anchor_name = None
    if clip_anchor is not None:
        from ..convert import clip_anchor_state_dict

        anchor_name = str(clip_anchor) if isinstance(clip_anchor, (str, os.PathLike)) else type(clip_anchor).__name__
        anchor = clip_anchor_state_dict(clip_anchor)

    result = evaluate_splits(
        model,
        processor,
        splits,
        runs=make_runs(patch_ratios, frame_wise, attention),
        clip_anchor=anchor,
        batch_size=batch_size,
        num_workers=num_workers,
        limit=limit,
        progress=progress,
    )
    summary = summarize(result, protocol, model_name, clip_anchor=anchor_name, warnings=warnings)
    paths = write_report(summary, out_dir) if out_dir is not None and state.is_main_process else {}
    return summary, paths, result
