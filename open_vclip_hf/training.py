# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""The pieces of Open-VCLIP fine-tuning (method doc section 4) that `examples/train_openvclip.py` puts together.

* Data: [`VideoClassificationDataset`] reads a CSV of `path,label`, a folder tree `root/<class name>/<video>` or a
  `datasets` video dataset (e.g. `load_dataset("videofolder", data_dir=root)`), decodes with the library's one
  decoder ([`load_video`], dense 8 x 16 clips at a random temporal position) and augments with
  [`TrainAugmentation`] (short side U[224, 256], random 224 crop, random horizontal flip, CLIP mean/std).
  All randomness of an example is a function of `(seed, epoch, index)`, so a resumed run sees the same clips.
* Optimisation: [`parameter_groups`] (weight decay 0 for 1-D parameters and biases), [`official_lr_lambda`] (linear
  warm-up then cosine, PySlowFast's `lr_policy.py`), [`freeze_text_tower`].
* Checkpoints: [`TrainingProgress`] (where a resumed run continues), [`commit_directory`] (atomic folders, from `convert`),
  [`write_swa_model`] and [`write_patched_model`] (SWA over epoch checkpoints and patching toward CLIP, also used by
  `open-vclip average` / `open-vclip patch`).

Interpolated Weight Optimization, SWA and patching themselves live in `interpolation.py`.
"""

import csv
import json
import logging
import math
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset
from transformers.image_utils import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD

from .convert import default_permissions, save_pretrained_atomically
from .interpolation import average_checkpoints, epoch_of_checkpoint, patch_model_, select_epoch_checkpoints
from .prompts import check_labels, folder_name_to_class_name
from .video_decoding import VideoDecodingError, load_video

logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".gif", ".flv", ".wmv", ".ts")
# The official jitter range for 224 crops, `DATA.TRAIN_JITTER_SCALES [224, 256]` (method doc section 4).
JITTER_SCALE = 256 / 224


# --------------------------------------------------------------------------------------------------------------------
# Spatial augmentation (method doc section 4)
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AugmentationParams:
    """One draw of [`TrainAugmentation`]: resize to `(height, width)` (short side `short_side`), crop the
    `crop_size` square at `(top, left)`, then flip horizontally if `flip`."""

    short_side: int
    height: int
    width: int
    top: int
    left: int
    flip: bool


class TrainAugmentation:
    """Open-VCLIP's training-time spatial augmentation, applied identically to every frame of a clip.

    PySlowFast `spatial_sampling` with `DATA.TRAIN_JITTER_SCALES [224, 256]`, `TRAIN_CROP_SIZE 224` and
    `RANDOM_FLIP True` (no RandAugment, mixup or random erasing; method doc section 4):

    1. short side `s = round(U(min_short_side, max_short_side))`, aspect ratio kept (long side floored);
    2. a random `crop_size` x `crop_size` crop, uniform over all positions;
    3. a horizontal flip with probability `flip_prob`;
    4. `(pixel / 255 - mean) / std` with CLIP's mean and std.

    Resizing is bilinear with antialiasing, on uint8 frames. The official code does not antialias, but it trained on
    videos already scaled to a short side of 256, where this makes almost no difference; on full-HD videos it avoids
    aliasing, and the evaluation processor's bicubic PIL resize antialiases too.

    Args:
        crop_size: side of the square crop, the model's `image_size` (224).
        min_short_side, max_short_side: range of the short side; default `crop_size` and `round(crop_size * 256/224)`,
            i.e. [224, 256] for 224 crops.
        flip_prob: probability of a horizontal flip.
        mean, std: per-channel normalisation (CLIP's).

    Call with `(frames, generator)`: `frames` is `uint8` `(T, H, W, 3)`, `generator` a `np.random.Generator`;
    returns `float32` `(T, 3, crop_size, crop_size)`.
    """

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

    def apply(self, frames: np.ndarray, params: AugmentationParams) -> torch.Tensor:
        """Resize, crop, flip and normalise `frames` (`uint8` `(T, H, W, 3)`) with the given draw."""
        # Resized in uint8 (channels-last, like PIL): 16x less memory than float for full-HD frames, and fast.
        video = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
        if (params.height, params.width) != tuple(video.shape[-2:]):
            video = nn.functional.interpolate(
                video, size=(params.height, params.width), mode="bilinear", align_corners=False, antialias=True
            )
        video = video[..., params.top : params.top + self.crop_size, params.left : params.left + self.crop_size]
        if params.flip:
            video = video.flip(-1)
        return ((video.float() / 255.0 - self.mean) / self.std).contiguous()

    def __call__(self, frames: np.ndarray, generator: np.random.Generator) -> torch.Tensor:
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"expected uint8 frames of shape (T, H, W, 3), got {frames.shape}")
        return self.apply(frames, self.sample_params(frames.shape[1], frames.shape[2], generator))


# --------------------------------------------------------------------------------------------------------------------
# Class names and sample lists
# --------------------------------------------------------------------------------------------------------------------


def read_class_names(path: str | Path) -> list[str]:
    """Class names from a text file (one per line; blank lines and `#` comments ignored) or a JSON file: a list, a
    `{"0": "abseiling", ...}` index -> name mapping (the official `INDEX_LABEL_MAPPING_FILE`) or a name -> index
    mapping. Raises a ValueError on duplicates or gaps in the indices."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data = json.loads(text)
        if isinstance(data, dict):
            if all(isinstance(value, int) for value in data.values()):  # name -> index
                pairs = {index: name for name, index in data.items()}
            else:  # index -> name
                pairs = {int(key): str(value) for key, value in data.items()}
            if sorted(pairs) != list(range(len(pairs))):
                raise ValueError(f"{path}: class indices must be 0..{len(pairs) - 1}, got {sorted(pairs)[:10]}...")
            names = [pairs[index] for index in range(len(pairs))]
        else:
            names = [str(name) for name in data]
    else:
        names = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not names:
        raise ValueError(f"{path}: no class names")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"{path}: duplicate class names {duplicates[:10]}")
    return names


@dataclass(frozen=True)
class VideoSample:
    """One training example: `video` is anything [`load_video`] reads (a path, bytes...), `label` a class index."""

    video: str | bytes
    label: int


def _parse_label(value: str, class_names: Sequence[str], where: str) -> int:
    value = value.strip()
    if value in class_names:
        return class_names.index(value)
    try:
        label = int(value)
    except ValueError:
        raise ValueError(f"{where}: label {value!r} is neither a class name nor an index") from None
    if not 0 <= label < len(class_names):
        raise ValueError(f"{where}: label {label} outside 0..{len(class_names) - 1}")
    return label


def read_video_csv(
    path: str | Path, class_names: Sequence[str], video_root: str | Path | None = None
) -> list[VideoSample]:
    """Samples from a CSV of `path,label` rows (an optional `path,label` header), or PySlowFast's space-separated
    `path label` lists. A label is a class name or a class index; relative paths are resolved against `video_root`
    (default: the CSV's folder)."""
    path = Path(path)
    root = Path(video_root) if video_root is not None else path.parent
    samples = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 text ({error})") from None
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "," in line:
            row = next(csv.reader([line]))
            video, label = ",".join(row[:-1]), row[-1]
        else:
            video, _, label = line.rpartition(" ")
        if number == 1 and (video.strip(), label.strip()) == ("path", "label"):
            continue
        if not video:
            raise ValueError(f"{path}:{number}: expected 'path,label', got {line!r}")
        video_path = Path(video.strip())
        samples.append(
            VideoSample(str(video_path if video_path.is_absolute() else root / video_path),
                        _parse_label(label, class_names, f"{path}:{number}"))
        )
    if not samples:
        raise ValueError(f"{path}: no samples")
    return samples


def scan_video_folder(root: str | Path) -> tuple[list[VideoSample], list[str]]:
    """Samples and class names of a folder tree `root/<class name>/<video>` (the `videofolder` layout). Classes are
    the sub-folders in sorted order (as `datasets` numbers them); their names with `_` read as spaces. Videos are
    files with a known video extension, searched recursively."""
    root = Path(root)
    folders = sorted(entry for entry in root.iterdir() if entry.is_dir() and not entry.name.startswith("."))
    samples = [
        VideoSample(str(video), label)
        for label, folder in enumerate(folders)
        for video in sorted(folder.rglob("*"))
        if video.suffix.lower() in VIDEO_EXTENSIONS and video.is_file()
    ]
    if not samples:
        raise ValueError(f"{root}: no videos in class sub-folders (expected root/<class name>/<video>.mp4)")
    return samples, check_labels([folder_name_to_class_name(folder.name) for folder in folders], distinct=True)


def samples_from_hf_dataset(
    dataset, video_column: str = "video", label_column: str = "label"
) -> tuple[list[VideoSample], list[str] | None]:
    """Samples of a `datasets.Dataset` whose `video_column` is a `Video` feature (or holds paths) and whose
    `label_column` holds class indices. Videos are not decoded by `datasets`: the column is cast to
    `Video(decode=False)` and each file is read by [`load_video`]. Returns the class names of a `ClassLabel` label
    column (underscores read as spaces), else `None`."""
    import datasets

    for column in (video_column, label_column):
        if column not in dataset.column_names:
            raise ValueError(f"the dataset has no column {column!r} (columns: {dataset.column_names})")
    if isinstance(dataset.features[video_column], datasets.Video):
        dataset = dataset.cast_column(video_column, datasets.Video(decode=False))
    samples = []
    for row in dataset.select_columns([video_column, label_column]):
        video = row[video_column]
        if isinstance(video, Mapping):
            video = video["path"] if video.get("path") and os.path.isfile(video["path"]) else video.get("bytes")
        if video is None:
            raise ValueError(f"a row of column {video_column!r} has neither a readable path nor bytes")
        samples.append(VideoSample(video, int(row[label_column])))
    feature = dataset.features[label_column]
    names = [folder_name_to_class_name(name) for name in feature.names] if hasattr(feature, "names") else None
    return samples, names


# --------------------------------------------------------------------------------------------------------------------
# The dataset
# --------------------------------------------------------------------------------------------------------------------


class VideoClassificationDataset(Dataset):
    """Training clips: dense sampling at a random temporal position, then [`TrainAugmentation`].

    `dataset[i]` is `{"pixel_values": float32 (num_frames, 3, crop, crop), "labels": int}`. Example `i` in epoch `e`
    draws its temporal position and its augmentation from `np.random.default_rng((seed, e, i))`: independent of the
    DataLoader worker that decodes it and identical when a run is resumed. Call [`set_epoch`] before each epoch.

    A video that cannot be decoded is reported (a warning naming it) and replaced by another example drawn from the
    same generator, up to `max_retries` times, as PySlowFast's loader does.

    Args:
        samples: [`VideoSample`]s, e.g. from [`read_video_csv`], [`scan_video_folder`], [`samples_from_hf_dataset`].
        class_names: names of the labels, in label order.
        transform: `(frames, generator) -> tensor`; default [`TrainAugmentation`]`()`.
        num_frames, sampling, frame_stride, target_fps: passed to [`load_video`] (8 frames, dense, stride 16 at
            30 fps: method doc section 4).
        seed: base seed of the per-example generators.
    """

    def __init__(
        self,
        samples: Sequence[VideoSample],
        class_names: Sequence[str],
        transform: Callable[[np.ndarray, np.random.Generator], torch.Tensor] | None = None,
        num_frames: int = 8,
        sampling: str = "dense",
        frame_stride: int = 16,
        target_fps: float = 30,
        seed: int = 0,
        max_retries: int = 10,
    ):
        if not samples:
            raise ValueError("no training samples")
        self.samples = list(samples)
        self.class_names = list(class_names)
        bad = [sample.label for sample in self.samples if not 0 <= sample.label < len(self.class_names)]
        if bad:
            raise ValueError(f"labels {sorted(set(bad))[:10]} outside 0..{len(self.class_names) - 1}")
        self.transform = TrainAugmentation() if transform is None else transform
        self.video_kwargs = dict(
            num_frames=num_frames, sampling=sampling, frame_stride=frame_stride, target_fps=target_fps
        )
        self.seed = int(seed)
        self.epoch = 0
        self.max_retries = max_retries

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict:
        generator = np.random.default_rng((self.seed, self.epoch, int(index)))
        for attempt in range(self.max_retries + 1):
            sample = self.samples[index]
            try:
                frames = load_video(sample.video, generator=generator, **self.video_kwargs)[0]
            except (VideoDecodingError, FileNotFoundError) as error:
                if attempt == self.max_retries:
                    raise
                logger.warning("skipping an unreadable training video (%s); using another one", error)
                index = int(generator.integers(len(self.samples)))
                continue
            return {"pixel_values": self.transform(frames, generator), "labels": sample.label}


def collate_videos(examples: Sequence[dict]) -> dict[str, torch.Tensor]:
    """Stack examples of [`VideoClassificationDataset`] into `pixel_values` `(B, T, 3, H, W)` and `labels` `(B,)`."""
    return {
        "pixel_values": torch.stack([example["pixel_values"] for example in examples]),
        "labels": torch.tensor([example["labels"] for example in examples], dtype=torch.long),
    }


# --------------------------------------------------------------------------------------------------------------------
# Optimisation (method doc section 4)
# --------------------------------------------------------------------------------------------------------------------


def freeze_text_tower(model: nn.Module) -> None:
    """Freeze CLIP's text tower and text projection (method doc section 2: the class embeddings are computed once,
    no gradient reaches the text side). The vision tower, the visual projection and `logit_scale` stay trainable,
    as in the official code."""
    model.text_model.requires_grad_(False)
    model.text_projection.requires_grad_(False)


def enable_activation_checkpointing(model: nn.Module, use_reentrant: bool = False) -> None:
    """Recompute every transformer layer in the backward (the official ViT-L/14 run's `MODEL.USE_CHECKPOINT`).

    `activation_checkpointing_enable` is the name in recent transformers 5 releases; 5.0 has only
    `gradient_checkpointing_enable` (same behaviour), which later releases keep as a deprecated alias."""
    kwargs = {"use_reentrant": use_reentrant}
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups of the trainable parameters: no weight decay for 1-D parameters and biases
    (`SOLVER.ZERO_WD_1D_PARAM`, `slowfast/models/optimizer.py`), `weight_decay` for the rest. Like the official
    code, the 0-dim `logit_scale` is in the decayed group."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (no_decay if param.ndim == 1 or name.endswith(".bias") else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def official_lr_lambda(
    warmup_steps: float, total_steps: int, base_lr: float, warmup_start_lr: float, end_lr: float
) -> Callable[[int], float]:
    """Multiplier of `base_lr` after `step` optimizer steps (for `torch.optim.lr_scheduler.LambdaLR`): PySlowFast's
    `cosine` policy with `COSINE_AFTER_WARMUP` and linear warm-up (`slowfast/utils/lr_policy.py`), counted in steps
    instead of fractional epochs:

        step <  warmup_steps: warmup_start_lr + (base_lr - warmup_start_lr) * step / warmup_steps
        otherwise:            end_lr + (base_lr - end_lr) * (1 + cos(pi * (step - warmup_steps) / cosine_steps)) / 2

    with `cosine_steps = total_steps - warmup_steps`.

    Open-VCLIP: base 3.33e-6, warm-up from 3.33e-8 over 2 epochs, cosine to 3.33e-8 at epoch 22.
    """
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


# --------------------------------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class TrainingProgress:
    """Where training stands; saved with `accelerator.register_for_checkpointing` so that a resumed run continues at
    the same batch of the same epoch. `batches_done` counts batches of `epoch` already trained on."""

    epoch: int = 0
    batches_done: int = 0
    completed_steps: int = 0

    def state_dict(self) -> dict[str, int]:
        return asdict(self)

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        for key, value in state.items():
            setattr(self, key, int(value))


def staging_directory(path: str | Path) -> Path:
    """The temporary sibling `.<name>.partial` where `path` is written before [`commit_directory`] renames it."""
    path = Path(path).absolute()
    return path.parent / f".{path.name}.partial"


def numbered_folders(parent: str | Path, prefix: str) -> dict[int, Path]:
    """`{N: parent/<prefix>N}` for the complete folders `<prefix><integer>` in `parent` (staging folders, which
    start with a dot, are ignored)."""
    parent = Path(parent)
    if not parent.is_dir():
        return {}
    found = {}
    for entry in parent.iterdir():
        suffix = entry.name.removeprefix(prefix)
        if entry.is_dir() and entry.name.startswith(prefix) and suffix.isdigit():
            found[int(suffix)] = entry
    return dict(sorted(found.items()))


def _save_state_dict_file(state_dict: Mapping[str, torch.Tensor], output: Path) -> Path:
    """`.safetensors` as is; `.pth` / `.pyth` / `.pt` / `.bin` as `{'model_state': ...}` like the official
    `swa_2_22.pth` (readable by `open-vclip convert`). Written to a temporary file, then renamed."""
    from safetensors.torch import save_file

    handle, temporary = tempfile.mkstemp(prefix=f".{output.name}.partial-", dir=output.parent)
    os.close(handle)
    try:
        if output.suffix == ".safetensors":
            save_file({key: value.contiguous() for key, value in state_dict.items()}, temporary)
        else:
            torch.save({"model_state": dict(state_dict)}, temporary)
        default_permissions(temporary)
        os.replace(temporary, output)
    except BaseException:
        os.unlink(temporary)
        raise
    return output


_STATE_DICT_SUFFIXES = (".safetensors", ".pth", ".pyth", ".pt", ".bin")


def write_swa_model(
    checkpoints: Sequence[str | Path],
    output: str | Path,
    start: int | None = None,
    end: int | None = None,
    processor=None,
    overwrite: bool = False,
) -> list[Path]:
    """SWA (method doc 3.2): the uniform mean of `checkpoints`, written to `output`.

    Args:
        checkpoints: `save_pretrained` folders (e.g. the `epoch_N` folders of the training script), or files that
            `load_checkpoint_state_dict` reads (PySlowFast `checkpoint_epoch_000NN.pyth`, `.safetensors`...).
        output: a folder (a `save_pretrained` folder: config from the last checkpoint, processor and other
            non-weight files copied from it or saved from `processor`; `patch_ratio` the mean of the checkpoints'),
            or a file ending in `.safetensors` or `.pth`
            (a bare state dict; `.pth` wrapped as `{'model_state': ...}` like the official `swa_2_22.pth`). Written
            atomically.
        start, end: average only epochs `start..end` (the last number in each name; both default to the whole
            range found), like the official `weight_average_tool.py` (2..22).

    Returns the checkpoints that were averaged, in order.
    """
    checkpoints = [Path(path) for path in checkpoints]
    if start is not None or end is not None:
        epochs = [epoch_of_checkpoint(path) for path in checkpoints]
        checkpoints = select_epoch_checkpoints(
            checkpoints, min(epochs) if start is None else start, max(epochs) if end is None else end
        )
    output = Path(output).absolute()
    if output.exists() and not overwrite:
        raise ValueError(f"{output} already exists; pass overwrite=True (--overwrite) to replace it")
    output.parent.mkdir(parents=True, exist_ok=True)
    average = average_checkpoints(checkpoints)
    if output.suffix in _STATE_DICT_SUFFIXES:
        _save_state_dict_file(average, output)
        return checkpoints
    template = checkpoints[-1]
    if not (template.is_dir() and (template / "config.json").is_file()):
        raise ValueError(
            f"{template} is not a save_pretrained folder, so there is no config for a model folder: give the "
            "checkpoints as save_pretrained folders (e.g. the epoch_N folders of the training script), or write "
            "a state dict file (an output ending in .safetensors or .pth) in the checkpoints' own key names"
        )
    from .modeling_open_vclip import OpenVCLIPModel

    model = OpenVCLIPModel.from_pretrained(template, dtype=torch.float32)
    model.load_state_dict(average, strict=True)
    # The mean of θ_i = r_i·θ_CLIP + (1 − r_i)·θ'_i puts the mean of the r_i on CLIP (unpatched: r_i = 0).
    configs = [path / "config.json" for path in checkpoints]
    if all(config.is_file() for config in configs):
        ratios = [json.loads(config.read_text(encoding="utf-8")).get("patch_ratio") for config in configs]
        if any(ratio is not None for ratio in ratios):
            model.config.patch_ratio = sum(ratio or 0.0 for ratio in ratios) / len(ratios)
    save_pretrained_atomically(model, output, *([processor] if processor is not None else []), extra_files_from=template)
    return checkpoints


def write_patched_model(
    model_dir: str | Path,
    clip_anchor,
    ratio: float,
    output_dir: str | Path,
    processor=None,
    overwrite: bool = False,
):
    """Test-time patching (method doc 3.3): `θ = ratio·θ_CLIP + (1 − ratio)·θ` over the whole state dict of the
    model in `model_dir`, written atomically to `output_dir` with every non-weight file of `model_dir` (processor,
    tokenizer, remote code) or `processor`.

    `clip_anchor` is anything `convert.clip_anchor_state_dict` reads (an OpenAI `.pt` file, a CLIP folder or Hub
    id, a loaded model). `config.patch_ratio` records the total weight on CLIP: `ratio` for an unpatched model,
    `1 − (1 − r₀)(1 − ratio)` for a model already patched with `r₀` toward the same anchor. Returns the model.
    """
    from .convert import clip_anchor_state_dict
    from .modeling_open_vclip import OpenVCLIPModel

    if not 0.0 <= ratio <= 1.0:  # checked before anything is loaded
        raise ValueError(f"ratio must lie in [0, 1] (it is the weight on CLIP), got {ratio}")
    output_dir = Path(output_dir).absolute()
    if output_dir.exists() and not overwrite:
        raise ValueError(f"{output_dir} already exists; pass overwrite=True (--overwrite) to replace it")
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    model = OpenVCLIPModel.from_pretrained(model_dir, dtype=torch.float32)
    patch_model_(model, clip_anchor_state_dict(clip_anchor), ratio)
    previous = model.config.patch_ratio or 0.0
    model.config.patch_ratio = 1.0 - (1.0 - previous) * (1.0 - float(ratio))
    extra_from = Path(model_dir) if Path(model_dir).is_dir() else None
    save_pretrained_atomically(
        model, output_dir, *([processor] if processor is not None else []), extra_files_from=extra_from
    )
    return model


__all__ = [
    "AugmentationParams",
    "TrainAugmentation",
    "TrainingProgress",
    "VideoClassificationDataset",
    "VideoSample",
    "collate_videos",
    "folder_name_to_class_name",
    "freeze_text_tower",
    "numbered_folders",
    "official_lr_lambda",
    "parameter_groups",
    "read_class_names",
    "read_video_csv",
    "samples_from_hf_dataset",
    "scan_video_folder",
    "staging_directory",
    "write_patched_model",
    "write_swa_model",
]
