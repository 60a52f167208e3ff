# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Zero-shot evaluation loop: decode in DataLoader workers, sum the logits of the views, score with the top-k metric.

The pieces are the ones the pipeline uses (method doc section 5): [`OpenVCLIPProcessor`] with `sampling="dense"`,
`num_clips=3` (8 frames 16 apart at 30 fps, at the start, middle and end of the video, short side 224 + centre
crop), [`build_class_embeddings`] (the 28-template ensemble, computed once per class list and weight setting) and
`OpenVCLIPModel(pixel_values=..., text_embeds=...)`; logits are summed over the views of a video.

Several *runs* can share one pass over the videos: test-time patch ratios `r` (weights `r·θ_CLIP + (1−r)·θ`,
method doc 3.3, swapped in and out per batch with `weights.interpolated_parameters`) and, with `frame_wise`,
each of them with temporal attention off (every frame encoded alone, the frozen-CLIP style baseline). Videos are
decoded once for all runs.
"""

import math
import time
from collections.abc import Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..data import VideoList
from ..modeling_open_vclip import OpenVCLIPNeighborFrameAttention
from ..prompts import PROMPT_TEMPLATES, build_class_embeddings
from ..weights import check_same_keys_and_shapes, interpolated_parameters

TOPK_ACCURACY_PATH = Path(__file__).parent / "metrics" / "topk_accuracy"
TOP_K = (1, 5)
# The official evaluation (method doc section 5): 8 frames x stride 16 at 30 fps, 3 temporal views x 1 centre crop.
OFFICIAL_SAMPLING = {"num_frames": 8, "sampling": "dense", "num_clips": 3, "frame_stride": 16, "target_fps": 30}


def load_topk_accuracy():
    """The shipped `evaluate` metric module (works offline): `metric.compute(predictions=scores, references=labels,
    k=[1, 5])` -> `{"top1", "top5", "num_samples"}`, fractions in [0, 1]."""
    import evaluate

    return evaluate.load(str(TOPK_ACCURACY_PATH))


# ---------------------------------------------------------------------------------------------------------- decoding


class VideoClipsDataset(Dataset):
    """`dataset[i]` = `(i, pixel_values, None)` with `pixel_values` of shape `(views, frames, 3, H, W)` from the
    processor, or `(i, None, "ErrorType: message")` when video `i` cannot be read: failures are returned, never
    raised or skipped, so the runner can list every one of them."""

    def __init__(self, videos: Sequence, processor, **sampling):
        self.videos = list(videos)
        self.processor = processor
        self.sampling = sampling

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, index: int):
        try:
            pixel_values = self.processor(videos=[self.videos[index]], return_tensors="pt", **self.sampling)[
                "pixel_values"
            ]
        except Exception as error:  # any unreadable video (missing, corrupt, exotic codec) is recorded by the caller
            return index, None, f"{type(error).__name__}: {error}"
        return index, pixel_values.reshape(-1, *pixel_values.shape[-4:]), None


def collate_clips(items):
    """Batch of [`VideoClipsDataset`] items -> `{"indices", "pixel_values" (videos, views, T, 3, H, W) or None,
    "failures": [(index, error), ...]}`."""
    decoded = [(index, pixel_values) for index, pixel_values, error in items if error is None]
    return {
        "indices": [index for index, _ in decoded],
        "pixel_values": torch.stack([pixel_values for _, pixel_values in decoded]) if decoded else None,
        "failures": [(index, error) for index, _, error in items if error is not None],
    }


def _single_thread_worker(_):
    torch.set_num_threads(1)  # workers decode; the main process owns the cores for the model


def clip_loader(dataset: Dataset, batch_size: int, num_workers: int, collate_fn=collate_clips) -> DataLoader:
    """Batches of `dataset` in order, decoded in `num_workers` single-threaded worker processes (0: here)."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=num_workers,
        collate_fn=collate_fn,
        worker_init_fn=_single_thread_worker if num_workers else None,
        prefetch_factor=2 if num_workers else None,
    )


def process_state(device: str | torch.device | None = None):
    """accelerate's `PartialState`: under `accelerate launch` this process's index, the number of processes and its
    device; a single process otherwise. Processes on CPUs (`device="cpu"`, or no CUDA) talk through gloo."""
    from accelerate import PartialState

    return PartialState(cpu=str(device).startswith("cpu") or not torch.cuda.is_available())


# ---------------------------------------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class Run:
    """One weight / attention setting evaluated on the same videos.

    `patch_ratio`: weight `r` of θ_CLIP (`None`: the model's weights as loaded). `temporal_attention`: `"neighbor"`
    (Open-VCLIP) or `"none"` (frame-wise: every frame encoded alone, then the same mean pooling).
    """

    name: str
    patch_ratio: float | None = None
    temporal_attention: str = "neighbor"


def make_runs(
    patch_ratios: Sequence[float] | None = None, frame_wise: bool = False, temporal_attention: str = "neighbor"
) -> list[Run]:
    """The runs of a sweep over `patch_ratios` (or of the model as loaded), each also frame-wise if asked."""
    ratios = list(patch_ratios) if patch_ratios else [None]
    if len(set(ratios)) != len(ratios):
        raise ValueError(f"duplicate patch ratios: {ratios}")
    runs = []
    for ratio in ratios:
        base = "open-vclip" if ratio is None else f"r={ratio:g}"
        runs.append(Run(base, ratio, temporal_attention))
        if frame_wise and temporal_attention != "none":
            runs.append(Run(f"{base} frame-wise", ratio, "none"))
    return runs


@contextmanager
def temporal_attention(model: torch.nn.Module, mode: str):
    """Temporarily set the temporal attention of every vision layer (`"neighbor"` or `"none"`) and the config."""
    configs = [model.config, getattr(model.config, "vision_config", None)]
    layers = [m for m in model.modules() if isinstance(m, OpenVCLIPNeighborFrameAttention)]
    saved = [c.temporal_attention for c in configs if c is not None], [m.temporal_attention for m in layers]
    try:
        for config in configs:
            if config is not None:
                config.temporal_attention = mode
        for layer in layers:
            layer.temporal_attention = mode
        yield model
    finally:
        for config, value in zip([c for c in configs if c is not None], saved[0]):
            config.temporal_attention = value
        for layer, value in zip(layers, saved[1]):
            layer.temporal_attention = value


def _text_weights_equal(model: torch.nn.Module, anchor: Mapping[str, torch.Tensor]) -> bool:
    return all(
        torch.equal(param.detach().float().cpu(), anchor[name].float().cpu())
        for name, param in model.named_parameters()
        if name.startswith(("text_model.", "text_projection.", "logit_scale"))
    )


# ---------------------------------------------------------------------------------------------------------- results


@dataclass
class SplitResult:
    """Everything measured on one split: the split, the videos that failed and, per run, the view-summed logits.

    `logits[run.name]` is `(num_evaluated, num_classes)` in the order of `evaluated` (indices into `split.videos`).
    `metrics[run.name]` holds `top1`, `top5` (percent over the decoded videos), `top1_failures_as_wrong`,
    `top5_failures_as_wrong` (percent over all listed videos, failures counted as wrong) and `num_evaluated`.
    """

    split: VideoList
    evaluated: list[int] = field(default_factory=list)
    failures: list[tuple[int, str]] = field(default_factory=list)
    logits: dict[str, np.ndarray] = field(default_factory=dict)
    metrics: dict[str, dict] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def labels(self) -> np.ndarray:
        """Labels of the evaluated videos, aligned with `logits`."""
        return np.asarray([self.split.labels[i] for i in self.evaluated], dtype=np.int64)


@dataclass
class EvaluationResult:
    runs: list[Run]
    splits: list[SplitResult]
    settings: dict


# ---------------------------------------------------------------------------------------------------------- runner


def _percent(value):
    return None if value is None or math.isnan(value) else 100.0 * value  # NaN: nothing was evaluated


@torch.no_grad()  # not inference_mode: parameters are swapped in place between runs
def evaluate_splits(
    model: torch.nn.Module,
    processor,
    splits: Sequence[VideoList],
    runs: Sequence[Run] | None = None,
    clip_anchor: Mapping[str, torch.Tensor] | None = None,
    batch_size: int = 8,
    num_workers: int = 2,
    limit: int | None = None,
    templates: Sequence[str] = PROMPT_TEMPLATES,
    sampling: Mapping | None = None,
    progress: bool = True,
    metric=None,
) -> EvaluationResult:
    """Evaluate `model` zero-shot on `splits` (from [`read_protocol`]), all `runs` on one pass over the videos.

    Args:
        model: an [`OpenVCLIPModel`] (eval mode is set here); its device and dtype are used.
        processor: an [`OpenVCLIPProcessor`]; decoding runs in `num_workers` DataLoader worker processes.
        splits: the splits; each is evaluated against its own class names.
        runs: settings to evaluate (default: the model as loaded), see [`make_runs`].
        clip_anchor: θ_CLIP in Hugging Face names (needed when a run has a `patch_ratio`).
        batch_size: videos per forward pass (each has `num_clips` views).
        num_workers: decoding processes (0 decodes in this process).
        limit: at most this many videos per split, evenly spaced through the list.
        templates: prompt templates (default: the 28 of the official code).
        sampling: processor sampling settings, default [`OFFICIAL_SAMPLING`] (8 x 16 dense, 3 views).
        progress: show a progress bar with the throughput (videos/s) on stderr.
        metric: an `evaluate` top-k metric (default: the shipped one, [`load_topk_accuracy`]).

    Returns an [`EvaluationResult`]. Videos that cannot be decoded are listed per split (`failures`) and excluded
    from `top1` / `top5`; `top*_failures_as_wrong` count them as errors.
    """
    from tqdm.auto import tqdm

    runs = list(runs) if runs else make_runs(temporal_attention=getattr(model.config, "temporal_attention", "neighbor"))
    if len({run.name for run in runs}) != len(runs):
        raise ValueError("run names must be unique")
    sampling = dict(OFFICIAL_SAMPLING if sampling is None else sampling)
    model.eval()
    device, dtype = model.device, model.dtype
    state = process_state(device)
    if any(run.patch_ratio is not None for run in runs):
        if clip_anchor is None:
            raise ValueError("patch ratios need the CLIP anchor θ_CLIP (clip_anchor / --clip-anchor)")
        check_same_keys_and_shapes(model.state_dict(), clip_anchor, "the model", "the CLIP anchor")
        clip_anchor = {key: value.to(device) for key, value in clip_anchor.items()}
    text_follows_ratio = clip_anchor is not None and not _text_weights_equal(model, clip_anchor)
    metric = metric if metric is not None else load_topk_accuracy()

    def weights(ratio):
        return nullcontext() if ratio is None else interpolated_parameters(model, clip_anchor, ratio)

    embeddings_memo = {}

    def class_embeddings(class_names, ratio):
        key = (tuple(class_names), ratio if text_follows_ratio else None)
        if key not in embeddings_memo:
            with weights(ratio if text_follows_ratio else None):
                embeddings_memo[key] = build_class_embeddings(model, processor, class_names, templates)
        return embeddings_memo[key]

    results = []
    for split in splits:
        split = split.subset(limit)
        result = SplitResult(split)
        embeds = {run.name: class_embeddings(split.class_names, run.patch_ratio) for run in runs}
        chunks = {run.name: [] for run in runs}
        # Under `accelerate launch` each process takes a contiguous slice of the videos.
        with state.split_between_processes(list(range(len(split.videos)))) as mine:
            clips = VideoClipsDataset([split.videos[i] for i in mine], processor, **sampling)
        loader = clip_loader(clips, batch_size, num_workers)
        start = time.perf_counter()
        show = progress and state.is_main_process
        bar = tqdm(total=len(mine), desc=f"split {split.name}", unit="video", disable=not show, dynamic_ncols=True)
        for batch in loader:
            result.failures.extend((mine[index], error) for index, error in batch["failures"])
            if batch["pixel_values"] is not None:
                pixel_values = batch["pixel_values"]
                num_videos, num_views = pixel_values.shape[:2]
                flat = pixel_values.flatten(0, 1).to(device=device, dtype=dtype)
                for ratio in dict.fromkeys(run.patch_ratio for run in runs):  # each weight setting once per batch
                    with weights(ratio):
                        for run in (run for run in runs if run.patch_ratio == ratio):
                            with temporal_attention(model, run.temporal_attention):
                                logits = model(pixel_values=flat, text_embeds=embeds[run.name]).logits_per_video
                            # Sum over the views of each video (`DATA.ENSEMBLE_METHOD="sum"`, method doc section 5).
                            chunks[run.name].append(logits.view(num_videos, num_views, -1).sum(dim=1).float().cpu())
                result.evaluated.extend(mine[index] for index in batch["indices"])
            bar.update(len(batch["indices"]) + len(batch["failures"]))
            if result.failures:
                bar.set_postfix(failed=len(result.failures))
        bar.close()
        empty = np.zeros((0, len(split.class_names)), np.float32)
        result.logits = {name: torch.cat(chunk).numpy() if chunk else empty for name, chunk in chunks.items()}
        if state.num_processes > 1:  # every process receives all slices, in process order: the order of the list
            from accelerate.utils import gather_object

            parts = gather_object([(result.evaluated, result.failures, result.logits)])
            result.evaluated = [index for part in parts for index in part[0]]
            result.failures = [failure for part in parts for failure in part[1]]
            result.logits = {name: np.concatenate([part[2][name] for part in parts]) for name in result.logits}
        result.seconds = time.perf_counter() - start

        labels = result.labels
        for run in runs:
            logits = result.logits[run.name]
            if len(labels):
                scores = metric.compute(predictions=logits, references=labels, k=list(TOP_K))
            else:  # every video failed: no accuracy, the failures are in the report
                scores = {f"top{k}": math.nan for k in TOP_K}
            total = len(split.videos)
            entry = {"num_evaluated": len(labels)}
            for k in TOP_K:
                value = scores[f"top{k}"]
                entry[f"top{k}"] = _percent(value)
                correct = 0.0 if math.isnan(value) else value * len(labels)
                entry[f"top{k}_failures_as_wrong"] = _percent(correct / total) if total else None
            result.metrics[run.name] = entry
        results.append(result)

    settings = {
        **sampling,
        "spatial_crops": 1,
        "view_reduction": "sum of logits",
        "num_templates": len(templates),
        "batch_size": batch_size,
        "num_workers": num_workers,
        "num_processes": state.num_processes,
        "limit": limit,
        "device": str(device),
        "dtype": str(dtype).removeprefix("torch."),
    }
    return EvaluationResult(runs=list(runs), splits=results, settings=settings)


__all__ = [
    "OFFICIAL_SAMPLING",
    "TOPK_ACCURACY_PATH",
    "EvaluationResult",
    "Run",
    "SplitResult",
    "VideoClipsDataset",
    "clip_loader",
    "collate_clips",
    "evaluate_splits",
    "load_topk_accuracy",
    "make_runs",
    "process_state",
    "temporal_attention",
]
