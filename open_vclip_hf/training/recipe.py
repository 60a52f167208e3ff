# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""The fine-tuning recipe of Open-VCLIP (method doc section 4) that `examples/train_openvclip.py` puts together:
the training dataset and augmentation, the optimizer groups and learning-rate schedule, resumable run folders."""

import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset
from transformers.image_utils import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD

from ..data import VideoList
from ..video_decoding import VideoDecodingError, load_video

logger = logging.getLogger(__name__)

# The official jitter range for 224 crops, `DATA.TRAIN_JITTER_SCALES [224, 256]` (method doc section 4).
JITTER_SCALE = 256 / 224


@dataclass(frozen=True)
class AugmentationParams:
    """One draw of [`TrainAugmentation`]: resize to `(height, width)`, crop at `(top, left)`, flip if `flip`."""

    short_side: int
    height: int
    width: int
    top: int
    left: int
    flip: bool


class TrainAugmentation:
    """Open-VCLIP's training augmentation (method doc section 4; PySlowFast `spatial_sampling`, no RandAugment):
    short side `round(U(min_short_side, max_short_side))` (default `[crop_size, round(crop_size * 256/224)]`, aspect
    kept, bilinear with antialiasing), a random `crop_size` square, a flip with probability `flip_prob`, CLIP's
    mean/std. `uint8` `(T, H, W, 3)` in, `float32` `(T, 3, crop_size, crop_size)` out, one draw per clip. The official
    code does not antialias; harmless, as it trained on videos already scaled to short side 256 (almost no difference),
    and on full-HD input it avoids aliasing, like the evaluation processor's bicubic PIL resize."""

    def __init__(
        self,
        crop_size: int = 224,
        min_short_side: int | None = None,
        max_short_side: int | None = None,
        flip_prob: float = 0.5,
        mean: Sequence[float] = OPENAI_CLIP_MEAN,
        std: Sequence[float] = OPENAI_CLIP_STD,
    ):
        self.crop_size = int(crop_size)
        self.min_short_side = self.crop_size if min_short_side is None else int(min_short_side)
        self.max_short_side = round(self.crop_size * JITTER_SCALE) if max_short_side is None else int(max_short_side)
        if not self.crop_size <= self.min_short_side <= self.max_short_side:
            raise ValueError(
                f"need crop_size <= min_short_side <= max_short_side, got {self.crop_size}, {self.min_short_side}, "
                f"{self.max_short_side}"
            )
        if not 0.0 <= flip_prob <= 1.0:
            raise ValueError(f"flip_prob must lie in [0, 1], got {flip_prob}")
        self.flip_prob = flip_prob
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)

    def sample_params(self, height: int, width: int, generator: np.random.Generator) -> AugmentationParams:
        """Draw the short side, the crop position and the flip for frames of `height` x `width`."""
        short_side = int(round(generator.uniform(self.min_short_side, self.max_short_side)))
        if width <= height:
            new_width, new_height = short_side, int(math.floor(height / width * short_side))
        else:
            new_width, new_height = int(math.floor(width / height * short_side)), short_side
        top = int(generator.integers(0, new_height - self.crop_size + 1))
        left = int(generator.integers(0, new_width - self.crop_size + 1))
        flip = bool(generator.uniform() < self.flip_prob)
        return AugmentationParams(short_side, new_height, new_width, top, left, flip)

    def __call__(self, frames: np.ndarray, generator: np.random.Generator) -> torch.Tensor:
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"expected uint8 frames of shape (T, H, W, 3), got {frames.shape}")
        return self.apply(frames, self.sample_params(frames.shape[1], frames.shape[2], generator))

    def apply(self, frames: np.ndarray, params: AugmentationParams) -> torch.Tensor:
        """Resize, crop, flip and normalise `frames` (`uint8` `(T, H, W, 3)`) with the given draw."""
        video = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
        if (params.height, params.width) != tuple(video.shape[-2:]):
            video = nn.functional.interpolate(
                video, size=(params.height, params.width), mode="bilinear", align_corners=False, antialias=True
            )
        video = video[..., params.top : params.top + self.crop_size, params.left : params.left + self.crop_size]
        if params.flip:
            video = video.flip(-1)
        return ((video.float() / 255.0 - self.mean) / self.std).contiguous()


class VideoClassificationDataset(Dataset):
    """Training clips of a [`VideoList`]: [`load_video`] (8 frames, dense, stride 16 at 30 fps; method doc section
    4), then `transform`; `dataset[i]` is `{"pixel_values", "labels"}`. Example `i` of epoch `e` (see `set_epoch`)
    draws from `np.random.default_rng((seed, e, i))`: the same clip in any worker and on resume. An unreadable video
    is replaced by another drawn example, up to `max_retries` times, as PySlowFast's loader does."""

    def __init__(
        self,
        videos: VideoList,
        transform: Callable[[np.ndarray, np.random.Generator], torch.Tensor] | None = None,
        num_frames: int = 8,
        sampling: str = "dense",
        frame_stride: int = 16,
        target_fps: float = 30,
        seed: int = 0,
        max_retries: int = 10,
    ):
        if not len(videos):
            raise ValueError("no training videos")
        self.videos, self.class_names = videos, videos.class_names
        self.transform = TrainAugmentation() if transform is None else transform
        self.video_kwargs = dict(
            num_frames=num_frames, sampling=sampling, frame_stride=frame_stride, target_fps=target_fps
        )
        self.seed, self.epoch, self.max_retries = int(seed), 0, max_retries

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, index: int) -> dict:
        generator = np.random.default_rng((self.seed, self.epoch, int(index)))
        for attempt in range(self.max_retries + 1):
            try:
                frames = load_video(self.videos.videos[index], generator=generator, **self.video_kwargs)[0]
            except (VideoDecodingError, FileNotFoundError) as error:
                if attempt == self.max_retries:
                    raise
                logger.warning("skipping an unreadable training video (%s); using another one", error)
                index = int(generator.integers(len(self.videos)))
                continue
            return {"pixel_values": self.transform(frames, generator), "labels": self.videos.labels[index]}


def collate_videos(examples: Sequence[dict]) -> dict[str, torch.Tensor]:
    """Stack examples of [`VideoClassificationDataset`] into `pixel_values` `(B, T, 3, H, W)` and `labels` `(B,)`."""
    return {
        "pixel_values": torch.stack([example["pixel_values"] for example in examples]),
        "labels": torch.tensor([example["labels"] for example in examples], dtype=torch.long),
    }


def freeze_text_tower(model: nn.Module) -> None:
    """Freeze the text tower and text projection (method doc section 2); the rest stays trainable, as officially."""
    model.text_model.requires_grad_(False)
    model.text_projection.requires_grad_(False)


def enable_activation_checkpointing(model: nn.Module, use_reentrant: bool = False) -> None:
    """Recompute every transformer layer in the backward (the official ViT-L/14 run's `MODEL.USE_CHECKPOINT`);
    transformers 5.0 names it `gradient_checkpointing_enable`."""
    kwargs = {"use_reentrant": use_reentrant}
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups of the trainable parameters: no weight decay for 1-D parameters and biases
    (`SOLVER.ZERO_WD_1D_PARAM`); like the official code, the 0-dim `logit_scale` is decayed."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (no_decay if param.ndim == 1 or name.endswith(".bias") else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def official_lr_lambda(
    warmup_steps: float, total_steps: int, base_lr: float, warmup_start_lr: float, end_lr: float
) -> Callable[[int], float]:
    """Multiplier of `base_lr` after `step` optimizer steps, for `LambdaLR`: PySlowFast's linear warm-up then
    `cosine` policy (`slowfast/utils/lr_policy.py`), in steps instead of fractional epochs. Open-VCLIP: base 3.33e-6,
    warm-up from 3.33e-8 over 2 epochs, cosine to 3.33e-8 at epoch 22."""
    if base_lr <= 0:
        raise ValueError(f"base_lr must be positive, got {base_lr}")
    cosine_steps = max(total_steps - warmup_steps, 1e-12)

    def multiplier(step: int) -> float:
        if step < warmup_steps:
            lr = warmup_start_lr + (base_lr - warmup_start_lr) * step / warmup_steps
        else:
            progress = min((step - warmup_steps) / cosine_steps, 1.0)
            lr = end_lr + (base_lr - end_lr) * (math.cos(math.pi * progress) + 1.0) * 0.5
        return lr / base_lr

    return multiplier


@dataclass
class TrainingProgress:
    """Where training stands (`batches_done` of `epoch`), saved as `training_progress.json` in each training state
    folder. JSON, not accelerate's `register_for_checkpointing`, which unpickles with `weights_only=False`."""

    epoch: int = 0
    batches_done: int = 0
    completed_steps: int = 0

    FILE = "training_progress.json"

    def save(self, folder: str | Path) -> None:
        (Path(folder) / self.FILE).write_text(json.dumps(asdict(self)), encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path) -> "TrainingProgress":
        path = Path(folder) / cls.FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: not a training state of this script")
        state = json.loads(path.read_text(encoding="utf-8"))
        return cls(**{name: int(state[name]) for name in ("epoch", "batches_done", "completed_steps")})


def numbered_folders(parent: str | Path, prefix: str) -> dict[int, Path]:
    """`{N: parent/<prefix>N}` for the folders `<prefix><integer>` in `parent`, in order."""
    parent = Path(parent)
    found = {}
    for entry in parent.iterdir() if parent.is_dir() else ():
        suffix = entry.name.removeprefix(prefix)
        if entry.is_dir() and entry.name.startswith(prefix) and suffix.isdigit():
            found[int(suffix)] = entry
    return dict(sorted(found.items()))
