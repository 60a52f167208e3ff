# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Stochastic weight averaging along the training trajectory (method doc section 3.2): what `open-vclip average` and
the end of training run."""

import json
import re
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path

import torch
from safetensors.torch import save_file

from ..convert import write_patched_model  # noqa: F401  (re-exported: it lived here)
from ..modeling_open_vclip import OpenVCLIPModel
from ..processing_open_vclip import OpenVCLIPProcessor
from ..weights import (
    CHECKPOINT_SUFFIXES,
    check_output_folder,
    check_same_keys_and_shapes,
    listed_names,
    load_checkpoint_state_dict,
    save_pretrained_atomically,
    write_atomically,
)


def epoch_of_checkpoint(path: str | Path) -> int:
    """The epoch number of a checkpoint: the last number in its name (`checkpoint_epoch_00005.pyth` -> 5)."""
    path = Path(path)
    numbers = re.findall(r"\d+", path.stem if path.suffix in CHECKPOINT_SUFFIXES else path.name)
    if not numbers:
        raise ValueError(f"{path}: no epoch number in the checkpoint name")
    return int(numbers[-1])


def select_epoch_checkpoints(paths: Sequence[str | Path], start: int = 2, end: int = 22) -> list[Path]:
    """The checkpoints of epochs `start..end` (inclusive) in epoch order; the official `weight_average_tool.py`
    averages epochs 2..22 of 22, every epoch after the warm-up (method doc 3.2)."""
    if start > end:
        raise ValueError(f"start ({start}) must not exceed end ({end})")
    by_epoch: dict[int, Path] = {}
    for path in map(Path, paths):
        epoch = epoch_of_checkpoint(path)
        if epoch in by_epoch:
            raise ValueError(f"two checkpoints for epoch {epoch}: {by_epoch[epoch]} and {path}")
        by_epoch[epoch] = path
    missing = [epoch for epoch in range(start, end + 1) if epoch not in by_epoch]
    if missing:
        raise ValueError(f"no checkpoint for epochs {missing} (averaging epochs {start}..{end})")
    return [by_epoch[epoch] for epoch in range(start, end + 1)]


def average_checkpoints(
    paths: Sequence[str | Path],
    *,
    accumulator_dtype: torch.dtype = torch.float64,
    loader: Callable[[Path], Mapping[str, torch.Tensor]] = load_checkpoint_state_dict,
) -> dict[str, torch.Tensor]:
    """Uniform mean of the checkpoints' state dicts: Open-VCLIP's SWA (method doc 3.2, `weight_average_tool.py`),
    streamed (one checkpoint read at a time) into a sum in `accumulator_dtype`, returned in the first one's dtypes;
    non-floating tensors are the first checkpoint's."""
    paths = [Path(path) for path in paths]
    if not paths:
        raise ValueError("average_checkpoints needs at least one checkpoint")
    resolved = [path.resolve() for path in paths]
    twice = [str(path) for index, path in enumerate(paths) if resolved.index(resolved[index]) < index]
    if twice:  # it would weigh twice in the uniform mean
        raise ValueError(f"checkpoints given more than once: {listed_names(twice)}")
    first = loader(paths[0])
    dtypes = {key: tensor.dtype for key, tensor in first.items()}
    total = {
        key: tensor.to(accumulator_dtype, copy=True) if tensor.is_floating_point() else tensor.clone()
        for key, tensor in first.items()
    }
    del first
    for path in paths[1:]:
        state = loader(path)
        check_same_keys_and_shapes(total, state, str(paths[0]), str(path))
        for key, tensor in total.items():
            if tensor.is_floating_point():
                tensor.add_(state[key].to(accumulator_dtype))
        del state  # released before the next checkpoint is read: never three state dicts at once
    return {
        key: (tensor / len(paths)).to(dtypes[key]) if tensor.is_floating_point() else tensor
        for key, tensor in total.items()
    }


def write_swa_model(
    checkpoints: Sequence[str | Path],
    output: str | Path,
    start: int | None = None,
    end: int | None = None,
    processor=None,
    overwrite: bool = False,
) -> list[Path]:
    """SWA (method doc 3.2): the uniform mean of `checkpoints`, written atomically to `output`.

    `checkpoints`: `save_pretrained` folders (the training script's `epoch_N`) or files `load_checkpoint_state_dict`
    reads; only epochs `start..end` if given (the official 2..22). `output`: a `save_pretrained` folder (config of the
    last checkpoint, `patch_ratio` the checkpoints' mean) or a `.safetensors` / `.pth` file. Returns the checkpoints
    averaged, in order."""
    checkpoints = [Path(path) for path in checkpoints]
    if start is not None or end is not None:
        epochs = [epoch_of_checkpoint(path) for path in checkpoints]
        checkpoints = select_epoch_checkpoints(
            checkpoints, min(epochs) if start is None else start, max(epochs) if end is None else end
        )
    output = Path(output).absolute()
    if output.suffix not in CHECKPOINT_SUFFIXES:
        check_output_folder(output, overwrite)
    elif output.exists() and not overwrite:
        raise ValueError(f"{output} already exists; pass overwrite=True (--overwrite) to replace it")
    output.parent.mkdir(parents=True, exist_ok=True)
    average = average_checkpoints(checkpoints)
    if output.suffix in CHECKPOINT_SUFFIXES:
        if output.suffix == ".safetensors":
            write_atomically(output, partial(save_file, {key: value.contiguous() for key, value in average.items()}))
        else:  # like the official `swa_2_22.pth`
            write_atomically(output, partial(torch.save, {"model_state": average}))
        return checkpoints
    template = checkpoints[-1]
    if not (template.is_dir() and (template / "config.json").is_file()):
        raise ValueError(
            f"{template} is not a save_pretrained folder (no config for a model folder): give save_pretrained folders "
            "(e.g. the training script's epoch_N) or write a state dict file (an output ending in .safetensors or .pth)"
        )
    model = OpenVCLIPModel.from_pretrained(template, dtype=torch.float32)
    model.load_state_dict(average, strict=True)
    # The mean of θ_i = r_i·θ_CLIP + (1 − r_i)·θ'_i puts the mean of the r_i on CLIP (unpatched: r_i = 0).
    configs = [path / "config.json" for path in checkpoints]
    if all(config.is_file() for config in configs):
        ratios = [json.loads(config.read_text(encoding="utf-8")).get("patch_ratio") for config in configs]
        if any(ratio is not None for ratio in ratios):
            model.config.patch_ratio = sum(ratio or 0.0 for ratio in ratios) / len(ratios)
    processor = processor or OpenVCLIPProcessor.from_pretrained(template)
    save_pretrained_atomically(model, output, processor, extra_files_from=template)
    return checkpoints
