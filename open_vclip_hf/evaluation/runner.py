# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Zero-shot evaluation loop (method doc section 5) with the pipeline's pieces: videos decoded once in DataLoader
workers for all *runs* (test-time patch ratios, method doc 3.3, frame-wise baselines), logits summed over views."""

import functools
import os
import time
from collections.abc import Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm.auto import tqdm

from ..data import VideoList
from ..modeling_open_vclip import OpenVCLIPModel, OpenVCLIPNeighborFrameAttention
from ..processing_open_vclip import OpenVCLIPProcessor
from ..prompts import PROMPT_TEMPLATES, build_class_embeddings
from ..video_decoding import read_source
from ..weights import check_same_keys_and_shapes, interpolated_parameters

TOPK_ACCURACY_PATH = Path(__file__).parent / "metrics" / "topk_accuracy"
TOP_K = (1, 5)
# The official evaluation (method doc section 5): 8 frames x stride 16 at 30 fps, 3 temporal views x 1 centre crop.
OFFICIAL_SAMPLING = {"num_frames": 8, "sampling": "dense", "num_clips": 3, "frame_stride": 16, "target_fps": 30}


def load_topk_accuracy():
    """The shipped `evaluate` top-k metric module (works offline)."""
    import evaluate

    return evaluate.load(str(TOPK_ACCURACY_PATH))


class VideoClipsDataset(Dataset):
    """`dataset[i]` = `(i, pixel_values (views, frames, 3, H, W), None, header)`, or `(i, None, "ErrorType: message",
    None)` when video `i` cannot be read: failures are returned, never raised, so that every one can be reported.
    `header(source)`, if given, also reads the video's path or bytes (a URL is downloaded once, for both)."""

    def __init__(self, videos: Sequence, processor, header=None, **sampling):
        self.videos, self.processor, self.header, self.sampling = list(videos), processor, header, sampling

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, index: int):
        try:
            video = self.videos[index] if self.header is None else read_source(self.videos[index])[0]
            pixel_values = self.processor(videos=[video], return_tensors="pt", **self.sampling).pixel_values
            header = None if self.header is None else self.header(video)
        except Exception as error:  # missing, corrupt, exotic codec: recorded by the caller
            return index, None, f"{type(error).__name__}: {error}", None
        return index, pixel_values.reshape(-1, *pixel_values.shape[-4:]), None, header


def collate_clips(items):
    """[`VideoClipsDataset`] items -> `{"indices", "pixel_values" (videos, views, T, 3, H, W) or None, "failures",
    "headers"}`."""
    decoded = [(index, pixel_values, header) for index, pixel_values, error, header in items if error is None]
    return {
        "indices": [index for index, _, _ in decoded],
        "pixel_values": torch.stack([pixel_values for _, pixel_values, _ in decoded]) if decoded else None,
        "failures": [(index, error) for index, _, error, _ in items if error is not None],
        "headers": [header for _, _, header in decoded],
    }


def process_state(device: str | torch.device | None = None):
    """accelerate's `PartialState` (this process under `accelerate launch`); processes on CPUs talk through gloo."""
    from accelerate import PartialState  # the [eval] / [collection] extra; `serve` imports this module without it

    return PartialState(cpu=str(device).startswith("cpu") or not torch.cuda.is_available())


def load_model_and_processor(model, processor=None, device=None, dtype: torch.dtype | None = None):
    """[`OpenVCLIPModel`] (eval mode, on `device` or this process's GPU under `accelerate launch`) and its processor
    (default: the saved one, or one for the config): `model` is a folder or Hub id (a CLIP one too) loaded in `dtype`,
    or a model (not cast)."""
    state = process_state(device)
    if state.num_processes > 1 and state.device.type != "cpu":  # `accelerate launch` on GPUs: one GPU per process
        device = state.device
    if isinstance(model, (str, os.PathLike)):
        processor = processor or OpenVCLIPProcessor.from_pretrained(model)
        model = OpenVCLIPModel.from_pretrained(model, **({"dtype": dtype} if dtype is not None else {}))
    processor = processor or OpenVCLIPProcessor.for_model(model.config)
    return model.to(device).eval(), processor


def decoded_batches(
    state, videos, processor, sampling, batch_size, num_workers, desc, progress, indices=None, header=None
):
    """This process's share of `videos[indices]` (a contiguous slice under `accelerate launch`) in batches of
    [`collate_clips`] (indices into `videos`), decoded in `num_workers` worker processes (0: here)."""
    with state.split_between_processes(list(range(len(videos)) if indices is None else indices)) as mine:
        clips = Subset(VideoClipsDataset(videos, processor, header, **sampling), list(mine))
    bar = tqdm(total=len(clips), desc=desc, unit="video", disable=not (progress and state.is_main_process))
    failed = 0
    # DataLoader workers run torch with 1 thread each.
    for batch in DataLoader(clips, batch_size, num_workers=num_workers, collate_fn=collate_clips):
        yield batch
        failed += len(batch["failures"])
        bar.update(len(batch["indices"]) + len(batch["failures"]))
        bar.set_postfix(failed=failed, refresh=False)
    bar.close()


@dataclass(frozen=True)
class Run:
    """One setting evaluated on the same videos: `patch_ratio` is the weight `r` of θ_CLIP (`None`: the weights as
    loaded); `temporal_attention` is `"neighbor"` (Open-VCLIP) or `"none"` (frame-wise: frames encoded alone)."""

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
    """Temporarily set the temporal attention (`"neighbor"` or `"none"`) of `model`'s config and attention layers."""
    targets = [model.config, *(m for m in model.modules() if isinstance(m, OpenVCLIPNeighborFrameAttention))]
    saved = [target.temporal_attention for target in targets]  # the config passes it on to its vision config
    try:
        for target in targets:
            target.temporal_attention = mode
        yield model
    finally:
        for target, value in zip(targets, saved):
            target.temporal_attention = value


@dataclass
class SplitResult:
    """One split: `logits[run.name]` `(num_evaluated, num_classes)` view-summed, in the order of `evaluated`
    (indices into `split.videos`); `metrics[run.name]`: `top1`, `top5` (% of the decoded videos),
    `top1_failures_as_wrong`, `top5_failures_as_wrong` (% of all listed videos) and `num_evaluated`."""

    split: VideoList
    evaluated: list[int]
    failures: list[tuple[int, str]]
    logits: dict[str, np.ndarray]
    metrics: dict[str, dict]
    seconds: float


@dataclass
class EvaluationResult:
    """Every run on every split, and the settings of the evaluation."""

    runs: list[Run]
    splits: list[SplitResult]
    settings: dict


def _metrics(metric, logits: np.ndarray, labels: np.ndarray, num_listed: int) -> dict:
    """Top-k in % of the decoded videos, and of all `num_listed` videos with the failures counted as wrong."""
    entry = {"num_evaluated": len(labels)}
    scores = metric.compute(predictions=logits, references=labels, k=list(TOP_K)) if len(labels) else {}
    for k in TOP_K:
        value = scores.get(f"top{k}")  # None: every video failed, there is no accuracy
        entry[f"top{k}"] = None if value is None else 100.0 * value
        entry[f"top{k}_failures_as_wrong"] = 100.0 * (value or 0.0) * len(labels) / num_listed if num_listed else None
    return entry


@torch.no_grad()  # not inference_mode: parameters are swapped in place between runs
def evaluate_splits(
    model: torch.nn.Module, processor, splits: Sequence[VideoList], runs: Sequence[Run] | None = None,
    clip_anchor: Mapping[str, torch.Tensor] | None = None, batch_size: int = 8, num_workers: int = 2,
    limit: int | None = None, templates: Sequence[str] = PROMPT_TEMPLATES, sampling: Mapping | None = None,
    progress: bool = True, metric=None,
) -> EvaluationResult:  # fmt: skip
    """Evaluate `model` zero-shot on `splits`, all `runs` (default: as loaded; `clip_anchor`: θ_CLIP for patch ratios)
    on one pass over the videos (`sampling`: default [`OFFICIAL_SAMPLING`]), at most `limit` per split. Under
    `accelerate launch` each process decodes a slice and all receive every result, in list order. Videos that cannot
    be decoded are listed per split (`failures`) and left out of `top1` / `top5`."""
    from accelerate.utils import gather_object

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
    text_follows_ratio = clip_anchor is not None and not all(  # else the class embeddings are computed once
        torch.equal(param.float().cpu(), clip_anchor[name].float().cpu())
        for name, param in model.named_parameters()
        if name.startswith(("text_model.", "text_projection.", "logit_scale"))
    )
    metric = metric if metric is not None else load_topk_accuracy()

    def weights(ratio):
        return nullcontext() if ratio is None else interpolated_parameters(model, clip_anchor, ratio)

    @functools.cache  # per class list, and per ratio if the text tower moves with it
    def class_embeddings(class_names: tuple, ratio):
        with weights(ratio):
            return build_class_embeddings(model, processor, list(class_names), templates)

    def batch_logits(pixel_values, embeds) -> dict[str, np.ndarray]:
        """The view-summed logits of every run for a batch `(videos, views, T, 3, H, W)`."""
        num_videos, num_views = pixel_values.shape[:2]
        pixel_values = pixel_values.flatten(0, 1).to(device=device, dtype=dtype)
        logits = {}
        for ratio in dict.fromkeys(run.patch_ratio for run in runs):  # one swap per ratio
            with weights(ratio):
                for run in [run for run in runs if run.patch_ratio == ratio]:
                    with temporal_attention(model, run.temporal_attention):
                        output = model(pixel_values=pixel_values, text_embeds=embeds[run.name]).logits_per_video
                    # Sum over the views of each video (`DATA.ENSEMBLE_METHOD="sum"`, method doc section 5).
                    logits[run.name] = output.view(num_videos, num_views, -1).sum(dim=1).float().cpu().numpy()
        return logits

    results = []
    for split in splits:
        split = split.subset(limit)
        names = tuple(split.class_names)
        embeds = {run.name: class_embeddings(names, run.patch_ratio if text_follows_ratio else None) for run in runs}
        evaluated, failures, chunks = [], [], []
        start = time.perf_counter()
        desc = f"split {split.name}"
        for batch in decoded_batches(state, split.videos, processor, sampling, batch_size, num_workers, desc, progress):
            failures += batch["failures"]
            evaluated += batch["indices"]
            if batch["pixel_values"] is not None:
                chunks.append(batch_logits(batch["pixel_values"], embeds))
        parts = gather_object([(evaluated, failures, chunks)])  # every process's slice, in process order
        evaluated = [index for part in parts for index in part[0]]
        labels = np.asarray([split.labels[index] for index in evaluated], dtype=np.int64)
        empty = np.zeros((0, len(split.class_names)), np.float32)
        logits = {
            run.name: np.concatenate([empty, *(chunk[run.name] for p in parts for chunk in p[2])]) for run in runs
        }
        metrics = {name: _metrics(metric, value, labels, len(split)) for name, value in logits.items()}
        failures = [failure for part in parts for failure in part[1]]
        results.append(SplitResult(split, evaluated, failures, logits, metrics, time.perf_counter() - start))

    settings = {**sampling, "spatial_crops": 1, "view_reduction": "sum of logits", "num_templates": len(templates)}
    settings |= {"batch_size": batch_size, "num_workers": num_workers, "num_processes": state.num_processes}
    settings |= {"limit": limit, "device": str(device), "dtype": str(dtype).removeprefix("torch.")}
    return EvaluationResult(runs=list(runs), splits=results, settings=settings)
