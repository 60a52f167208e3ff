# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Stochastic weight averaging along the training trajectory (method doc section 3.2) and test-time patching of a
model folder (section 3.3): what `open-vclip average` and `open-vclip patch` and the end of training run."""

import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch

from ..weights import (
    TORCH_SUFFIXES,
    check_output_folder,
    check_same_keys_and_shapes,
    load_checkpoint_state_dict,
    patch_model_,
    save_pretrained_atomically,
    staging_directory,
)


def epoch_of_checkpoint(path: str | Path) -> int:
    """The epoch number of a checkpoint: the last number in its name (`checkpoint_epoch_00005.pyth` -> 5)."""
    path = Path(path)
    name = path.stem if path.suffix in (*TORCH_SUFFIXES, ".safetensors") else path.name
    numbers = re.findall(r"\d+", name)
    if not numbers:
        raise ValueError(f"{path}: no epoch number in the checkpoint name")
    return int(numbers[-1])


def select_epoch_checkpoints(paths: Sequence[str | Path], start: int = 2, end: int = 22) -> list[Path]:
    """The checkpoints of epochs `start..end` (inclusive), in epoch order (method doc 3.2).

    The official `weight_average_tool.py` averages epochs 2..22 of 22: every epoch after the two warm-up epochs.
    The epoch is the last number in each name (`checkpoint_epoch_00005.pyth`, `epoch_5/`, `ckpt-5.safetensors`).

    Raises:
        ValueError: a name without a number, two checkpoints of one epoch, `start > end`, or an epoch of the range
            without a checkpoint.
    """
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
    """Uniform mean of the checkpoints' state dicts: Open-VCLIP's SWA (method doc 3.2, `weight_average_tool.py`).

    Streaming: checkpoints are read one at a time and added into a running sum, so at most two state dicts are in
    memory at once (the accumulator and the checkpoint being read; with the default float64 accumulator the
    accumulator is twice the size of a float32 state dict, `accumulator_dtype=torch.float32` halves it).

    Args:
        paths: the checkpoints, in any form `load_checkpoint_state_dict` reads (see `select_epoch_checkpoints`).
        accumulator_dtype: dtype of the running sum of floating tensors.
        loader: reads one path into a state dict (for other formats or key renaming).

    Returns:
        The mean state dict on CPU; every floating tensor in the dtype it has in the first checkpoint; non-floating
        tensors (integer buffers) are taken from the first checkpoint.

    Raises:
        ValueError: no paths, or a checkpoint whose keys or shapes differ from the first one (both files named).
        FileNotFoundError, CheckpointError: from `loader`, naming the file.
    """
    paths = [Path(path) for path in paths]
    if not paths:
        raise ValueError("average_checkpoints needs at least one checkpoint")
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
        del state  # release it before the next checkpoint is read: never three state dicts at once
    return {
        key: (tensor / len(paths)).to(dtypes[key]) if tensor.is_floating_point() else tensor
        for key, tensor in total.items()
    }


def _save_state_dict_file(state_dict: Mapping[str, torch.Tensor], output: Path) -> Path:
    """`.safetensors` as is; `.pth` / `.pyth` / `.pt` / `.bin` as `{'model_state': ...}` like the official
    `swa_2_22.pth` (readable by `open-vclip convert`). Written to `.<name>.partial` (one a killed run left is
    replaced), then renamed."""
    from safetensors.torch import save_file

    temporary = staging_directory(output)
    try:
        if output.suffix == ".safetensors":
            save_file({key: value.contiguous() for key, value in state_dict.items()}, temporary)
        else:
            torch.save({"model_state": dict(state_dict)}, temporary)
        os.replace(temporary, output)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return output


_STATE_DICT_SUFFIXES = (".safetensors", *TORCH_SUFFIXES)


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
    if output.suffix not in _STATE_DICT_SUFFIXES:
        check_output_folder(output, overwrite)
    elif output.exists() and not overwrite:
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
    from ..modeling_open_vclip import OpenVCLIPModel
    from ..processing_open_vclip import OpenVCLIPProcessor

    model = OpenVCLIPModel.from_pretrained(template, dtype=torch.float32)
    model.load_state_dict(average, strict=True)
    # The mean of θ_i = r_i·θ_CLIP + (1 − r_i)·θ'_i puts the mean of the r_i on CLIP (unpatched: r_i = 0).
    configs = [path / "config.json" for path in checkpoints]
    if all(config.is_file() for config in configs):
        ratios = [json.loads(config.read_text(encoding="utf-8")).get("patch_ratio") for config in configs]
        if any(ratio is not None for ratio in ratios):
            model.config.patch_ratio = sum(ratio or 0.0 for ratio in ratios) / len(ratios)
    processor = processor or OpenVCLIPProcessor.from_pretrained(template)  # its own, or the default one of its model
    save_pretrained_atomically(model, output, processor, extra_files_from=template)
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
    from ..convert import clip_anchor_state_dict
    from ..modeling_open_vclip import OpenVCLIPModel
    from ..processing_open_vclip import OpenVCLIPProcessor

    if not 0.0 <= ratio <= 1.0:  # checked before anything is loaded
        raise ValueError(f"ratio must lie in [0, 1] (it is the weight on CLIP), got {ratio}")
    output_dir = Path(output_dir).absolute()
    check_output_folder(output_dir, overwrite)
    model = OpenVCLIPModel.from_pretrained(model_dir, dtype=torch.float32)
    patch_model_(model, clip_anchor_state_dict(clip_anchor), ratio)
    previous = model.config.patch_ratio or 0.0
    model.config.patch_ratio = 1.0 - (1.0 - previous) * (1.0 - float(ratio))
    processor = processor or OpenVCLIPProcessor.from_pretrained(model_dir)  # its own, or the default one of its model
    extra_from = Path(model_dir) if Path(model_dir).is_dir() else None
    save_pretrained_atomically(model, output_dir, processor, extra_files_from=extra_from)
    return model
