# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Weight interpolation with the CLIP anchor: Open-VCLIP's Interpolated Weight Optimization (Weng et al., ICML 2023).

Three uses of one formula, `θ_r = r·θ_CLIP + (1 − r)·θ` with `r` the weight on the CLIP anchor:

* test-time patching (method doc section 3.3): `interpolate_weights`, `patch_model_` and the
  `interpolated_parameters` context manager;
* stochastic weight averaging along the training trajectory (section 3.2): `average_checkpoints`, streaming, with
  `select_epoch_checkpoints` (epochs 2..22 by default) and the checkpoint reader `load_checkpoint_state_dict`;
* the training-time regularizer (section 3.1): `InterpolatedWeightRegularizer`.

The formula lives once, in `_interpolate`. Imports only torch, safetensors and the standard library.
"""

import json
import math
import random
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file as load_safetensors
from torch import nn

__all__ = [
    "CheckpointError",
    "InterpolatedLoss",
    "InterpolatedWeightRegularizer",
    "average_checkpoints",
    "check_same_keys_and_shapes",
    "epoch_of_checkpoint",
    "interpolate_weights",
    "interpolated_parameters",
    "load_checkpoint_state_dict",
    "patch_model_",
    "select_epoch_checkpoints",
]

# Prefixes that wrappers add to parameter names: DistributedDataParallel and torch.compile.
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")
_TORCH_SUFFIXES = (".pth", ".pyth", ".pt", ".bin")
_MAX_LISTED_KEYS = 10


# --------------------------------------------------------------------------------------------------------------------
# The formula and the checks around it
# --------------------------------------------------------------------------------------------------------------------


def _check_ratio(ratio: float, what: str = "ratio") -> float:
    ratio = float(ratio)
    if not 0.0 <= ratio <= 1.0:  # also rejects NaN
        raise ValueError(f"{what} must lie in [0, 1] (it is the weight on the CLIP anchor), got {ratio}")
    return ratio


def _interpolate(weight: torch.Tensor, anchor: torch.Tensor, ratio: float) -> torch.Tensor:
    """`ratio·anchor + (1 − ratio)·weight`, computed in (at least) float32 and returned in `weight`'s dtype/device.

    Rounded exactly as the official expression `clip * patch_ratio + weights * (1 - patch_ratio)` (method doc 3.1 and
    3.3), not as `torch.lerp` or a fused multiply-add: with float32 tensors the result is bit-identical to the
    official training code's θ_r, and ratio 0 and 1 return the two ends exactly. (The official *test* code multiplies
    the float16 JIT anchor by the ratio in float16 before adding; for r = 0.5 that product is exact, for r = 0.6 it
    can differ by one float16 rounding of r·θ_CLIP. Here the anchor is always promoted first.)
    """
    compute_dtype = torch.promote_types(weight.dtype, torch.float32)
    promoted = anchor.to(device=weight.device, dtype=compute_dtype)
    # A converted anchor (float16, another device) is already a fresh tensor: scale it in place, one buffer fewer.
    mixed = promoted.mul_(ratio) if promoted is not anchor else anchor * ratio
    mixed += weight.to(compute_dtype) * (1.0 - ratio)  # in place: one temporary fewer, same rounding
    return mixed.to(weight.dtype)


def _listed(keys: Sequence[str]) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:_MAX_LISTED_KEYS])
    return shown + (f", ... ({len(keys)} in total)" if len(keys) > _MAX_LISTED_KEYS else "")


def check_same_keys_and_shapes(
    first: Mapping[str, torch.Tensor], second: Mapping[str, torch.Tensor], first_name: str, second_name: str
) -> None:
    """Raise a ValueError naming the keys when the two state dicts differ in keys or in shapes."""
    only_first = first.keys() - second.keys()
    only_second = second.keys() - first.keys()
    problems = []
    if only_first:
        problems.append(f"keys only in {first_name}: {_listed(only_first)}")
    if only_second:
        problems.append(f"keys only in {second_name}: {_listed(only_second)}")
    mismatched = [
        f"{key} {tuple(first[key].shape)} vs {tuple(second[key].shape)}"
        for key in sorted(first.keys() & second.keys())
        if first[key].shape != second[key].shape
    ]
    if mismatched:
        problems.append(f"shape mismatch ({first_name} vs {second_name}): {_listed(mismatched)}")
    if problems:
        raise ValueError(f"{first_name} and {second_name} do not match: " + "; ".join(problems))


# --------------------------------------------------------------------------------------------------------------------
# Test-time patching (method doc section 3.3)
# --------------------------------------------------------------------------------------------------------------------


def interpolate_weights(
    weights: Mapping[str, torch.Tensor], anchor: Mapping[str, torch.Tensor], ratio: float
) -> dict[str, torch.Tensor]:
    """Patched weights `ratio·anchor + (1 − ratio)·weights` (method doc 3.3).

    Args:
        weights: the fine-tuned state dict θ (e.g. the SWA weights).
        anchor: the CLIP state dict θ_CLIP, same keys and shapes (any float dtype, any device).
        ratio: weight on the CLIP anchor, in [0, 1]; 0 returns θ, 1 returns θ_CLIP. The released Open-VCLIP
            models are evaluated at 0.5 (B/32, B/16) and 0.6 (L/14).

    Returns:
        A new state dict: floating tensors interpolated in float32 (float64 stays float64) and cast back to the
        dtype and device of `weights`; non-floating tensors (integer buffers) copied from `weights` unchanged.

    Raises:
        ValueError: `ratio` outside [0, 1], or key sets / shapes differ (the message names the keys).
    """
    ratio = _check_ratio(ratio)
    check_same_keys_and_shapes(weights, anchor, "weights", "anchor")
    return {
        key: _interpolate(tensor, anchor[key], ratio) if tensor.is_floating_point() else tensor.clone()
        for key, tensor in weights.items()
    }


def patch_model_(model: nn.Module, anchor_state_dict: Mapping[str, torch.Tensor], ratio: float) -> None:
    """Patch `model` in place to `ratio·θ_CLIP + (1 − ratio)·θ` over its whole state dict (method doc 3.3).

    Same semantics, checks and formula as `interpolate_weights`, but tensor by tensor (one temporary at a time, no
    second copy of the model). `anchor_state_dict` must have exactly the keys of `model.state_dict()`.
    """
    ratio = _check_ratio(ratio)
    state = model.state_dict()
    check_same_keys_and_shapes(state, anchor_state_dict, "model", "anchor")
    patched_storages = set()
    with torch.no_grad():
        for key, tensor in state.items():
            # A tied weight appears under several keys with one storage; patching it twice would apply r twice.
            storage = (tensor.untyped_storage().data_ptr(), tensor.storage_offset())
            if not tensor.is_floating_point() or storage in patched_storages:
                continue
            patched_storages.add(storage)
            tensor.copy_(_interpolate(tensor, anchor_state_dict[key], ratio))


def _anchor_key(name: str, anchor: Mapping[str, Any]) -> str | None:
    """The anchor key of parameter `name`, ignoring wrapper prefixes (`module.` of DDP, `_orig_mod.` of compile)."""
    while name not in anchor and name.startswith(_WRAPPER_PREFIXES):
        name = name.split(".", 1)[1]
    return name if name in anchor else None


def _matched_parameters(
    model: nn.Module, anchor: Mapping[str, torch.Tensor], trainable_only: bool
) -> tuple[list[tuple[str, nn.Parameter, torch.Tensor]], list[str]]:
    """(name, parameter, anchor tensor) for every parameter found in the anchor, and the names of those not found.

    Frozen parameters are left out (not even listed as missing) when `trainable_only`. Raises a ValueError naming the
    parameters whose shape differs from the anchor's, or when no parameter at all is found in the anchor (almost
    always an anchor in another key convention, e.g. OpenAI names instead of transformers names).
    """
    matched, missing, mismatched = [], [], []
    for name, param in model.named_parameters():
        if trainable_only and not param.requires_grad:
            continue
        key = _anchor_key(name, anchor)
        if key is None:
            missing.append(name)
        elif anchor[key].shape != param.shape:
            mismatched.append(f"{name} {tuple(param.shape)} vs anchor {key} {tuple(anchor[key].shape)}")
        else:
            matched.append((name, param, anchor[key]))
    if mismatched:
        raise ValueError(f"parameter shapes differ from the CLIP anchor: {_listed(mismatched)}")
    if not matched:
        raise ValueError(
            f"no {'trainable ' if trainable_only else ''}parameter of the model has an entry in the CLIP anchor "
            f"(model parameters: {_listed(missing)}; anchor keys: {_listed(list(anchor))})"
        )
    return matched, missing


def _loaded(module: str, name: str) -> Any:
    """`module.name` if torch has imported `module`, else None. A DTensor or an FSDP2 module cannot exist before the
    module that defines it is imported, and importing `torch.distributed.tensor` takes about a second."""
    return getattr(sys.modules.get(module), name, None)


def _is_dtensor(tensor: torch.Tensor) -> bool:
    """A parameter sharded by FSDP2 (`fully_shard`) or tensor parallelism: a `torch.distributed.tensor.DTensor`."""
    dtensor = _loaded("torch.distributed.tensor", "DTensor")
    return dtensor is not None and isinstance(tensor, dtensor)


def _is_sharded(param: nn.Parameter) -> bool:
    """A DTensor of which this process holds only a part (a `Shard` placement on some mesh dimension)."""
    return _is_dtensor(param) and not all(placement.is_replicate() for placement in param.placements)


def _local(param: nn.Parameter) -> torch.Tensor:
    """What this process holds of `param`: the local shard of a DTensor (a view: writes reach the parameter, and
    FSDP2 gathers the parameter from it), the parameter itself otherwise. Call under `torch.no_grad()`."""
    return param.to_local() if _is_dtensor(param) else param


def _local_anchor(param: nn.Parameter, anchor: torch.Tensor) -> torch.Tensor:
    """The entries of the (full) `anchor` that match `_local(param)`: for a DTensor parameter the anchor is sharded
    exactly like it (same device mesh and placements, cut locally: no communication) and only the local shard is
    returned; otherwise `anchor` itself."""
    if not _is_dtensor(param):
        return anchor
    from torch.distributed.tensor import distribute_tensor

    sharded = distribute_tensor(anchor.detach(), param.device_mesh, param.placements, src_data_rank=None)
    return sharded.to_local()


def _reshard(model: nn.Module) -> None:
    """Make every FSDP2 module of `model` hold its sharded parameters (a no-op for anything else, and for a module
    already sharded). The swap writes the shards; a module still holding gathered parameters (the root after a
    forward without backward, or with `reshard_after_backward=False`) would not gather them again."""
    fsdp_module = _loaded("torch.distributed.fsdp", "FSDPModule")
    if fsdp_module is not None:
        for module in model.modules():
            if isinstance(module, fsdp_module):
                module.reshard()


@contextmanager
def _parameters_at_ratio(
    model: nn.Module, pairs: Sequence[tuple[nn.Parameter, torch.Tensor]], ratio: float
) -> Iterator[None]:
    """The swap. Inside the block every parameter of `pairs` (parameters of `model`, each with the anchor of its local
    part, see `_local_anchor`) holds `ratio·anchor + (1 − ratio)·θ`, rounded as `_interpolate`; on exit (also on an
    exception) it holds θ again, bit for bit: θ_r cannot be inverted exactly in floating point, so θ is backed up
    first (a copy of what this process holds of the parameters in `pairs`, only the local shards of sharded ones;
    freed on exit). Elementwise, so a sharded parameter is swapped shard by shard, nothing gathered."""
    backups = []
    try:
        _reshard(model)
        with torch.no_grad():
            for param, anchor in pairs:
                weight = _local(param)
                backups.append(weight.clone())
                weight.copy_(_interpolate(weight, anchor, ratio))
        yield
    finally:
        with torch.no_grad():
            for (param, _), backup in zip(pairs, backups):
                _local(param).copy_(backup)
        _reshard(model)


@contextmanager
def interpolated_parameters(
    model: nn.Module, anchor_state_dict: Mapping[str, torch.Tensor], ratio: float
) -> Iterator[nn.Module]:
    """Temporarily set the parameters of `model` to `θ_r = ratio·θ_CLIP + (1 − ratio)·θ` (method doc 3.1/3.3).

    Every parameter with an entry in `anchor_state_dict` is swapped in place (wrapper prefixes `module.` /
    `_orig_mod.` are ignored; buffers are not touched); θ is restored bit-exactly when the block exits, also on an
    exception. Useful to evaluate a sweep of patch ratios without reloading the model; the training regularizer
    (`InterpolatedWeightRegularizer`) runs its pass at θ_r through the same swap. Costs one backup copy of the swapped
    parameters while the block runs. Parameters sharded by FSDP2 (DTensors) are swapped shard by shard: the anchor is
    cut like each parameter (same mesh and placements) and only local shards are read, written and backed up. Yields
    `model`.
    """
    ratio = _check_ratio(ratio)
    _reshard(model)  # FSDP2: `named_parameters` then yields the sharded parameters
    matched, _ = _matched_parameters(model, anchor_state_dict, trainable_only=False)
    with _parameters_at_ratio(model, [(param, _local_anchor(param, anchor)) for _, param, anchor in matched], ratio):
        yield model


# --------------------------------------------------------------------------------------------------------------------
# Reading checkpoints and streaming SWA (method doc section 3.2)
# --------------------------------------------------------------------------------------------------------------------


class CheckpointError(RuntimeError):
    """A checkpoint file exists but cannot be read (truncated download, corrupt file, unexpected content)."""


def _read_torch_file(path: Path) -> Mapping[str, Any]:
    state = torch.load(path, map_location="cpu", weights_only=True)
    # PySlowFast epoch checkpoints and the official `swa_2_22.pth` wrap the weights: {'model_state': {...}}.
    if isinstance(state, Mapping) and "model_state" in state:
        state = state["model_state"]
    return state


def _read_file(path: Path) -> Mapping[str, Any]:
    if path.suffix == ".safetensors":
        return load_safetensors(path, device="cpu")
    if path.suffix in _TORCH_SUFFIXES:
        return _read_torch_file(path)
    raise CheckpointError(f"{path}: unknown checkpoint format (expected .safetensors, {', '.join(_TORCH_SUFFIXES)})")


def _read_sharded(index_path: Path) -> dict[str, Any]:
    weight_map = json.loads(index_path.read_text())["weight_map"]
    state = {}
    for shard in sorted(set(weight_map.values())):
        state.update(_read_file(index_path.parent / shard))
    return state


def _read_folder(folder: Path) -> Mapping[str, Any]:
    """A `save_pretrained` folder (single or sharded, safetensors or torch) or an `accelerate` `save_state` folder
    (its first model is `model.safetensors` or `pytorch_model.bin`)."""
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (folder / name).is_file():
            return _read_file(folder / name)
        if (folder / f"{name}.index.json").is_file():
            return _read_sharded(folder / f"{name}.index.json")
    raise CheckpointError(
        f"{folder}: no model.safetensors, pytorch_model.bin or sharded index (*.index.json) in this folder"
    )


def load_checkpoint_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read one checkpoint into a CPU state dict.

    Accepts a `.safetensors` file, a torch file (`.pth`, `.pyth`, `.pt`, `.bin`, read with
    `torch.load(map_location="cpu", weights_only=True)`; a `{'model_state': ...}` wrapper as in PySlowFast's
    `checkpoint_epoch_00005.pyth` and the official `swa_2_22.pth` is unwrapped), a `save_pretrained` folder
    (`model.safetensors` or `pytorch_model.bin`, possibly sharded with an `*.index.json`) or an `accelerate`
    `save_state` folder.

    Raises:
        FileNotFoundError: the path does not exist (or a shard listed in an index is missing).
        CheckpointError: the file cannot be read (e.g. truncated), or it holds something other than a mapping of
            names to tensors. The message names the file.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        state = _read_folder(path) if path.is_dir() else _read_file(path)
    except (FileNotFoundError, CheckpointError):
        raise
    except Exception as error:  # every reader has its own error types for a damaged file
        raise CheckpointError(
            f"{path}: cannot read checkpoint ({type(error).__name__}: {error}). The file may be truncated or corrupt;"
            " compare its size and SHA256 with the source."
        ) from error
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{path}: expected a state dict (names to tensors), got {type(state).__name__}")
    not_tensors = [key for key, value in state.items() if not isinstance(value, torch.Tensor)]
    if not_tensors:
        raise CheckpointError(f"{path}: entries that are not tensors: {_listed([str(key) for key in not_tensors])}")
    return dict(state)


def epoch_of_checkpoint(path: str | Path) -> int:
    """The epoch number of a checkpoint: the last number in its name (`checkpoint_epoch_00005.pyth` -> 5)."""
    path = Path(path)
    name = path.stem if path.suffix in (*_TORCH_SUFFIXES, ".safetensors") else path.name
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


# --------------------------------------------------------------------------------------------------------------------
# The training-time regularizer (method doc section 3.1)
# --------------------------------------------------------------------------------------------------------------------


def _compact_anchor(anchor: torch.Tensor) -> torch.Tensor:
    """A private copy of a float32 anchor tensor, stored as float16 when that holds every value exactly.

    OpenAI released CLIP in float16, so a θ_CLIP read from its checkpoints (or from the starting weights of a model
    converted from them) is float16 in disguise: half the memory, and the same θ_r, since `_interpolate` promotes the
    anchor to float32 before it multiplies."""
    half = anchor.to(torch.float16)
    return half if torch.equal(half.to(torch.float32), anchor) else anchor.clone()


@dataclass(frozen=True)
class InterpolatedLoss:
    """What `InterpolatedWeightRegularizer.backward` did: `loss` = L(θ_r) (detached, before the weight β) at
    the sampled patch ratio `ratio`; `weight · loss` is what was back-propagated."""

    loss: torch.Tensor
    ratio: float


class InterpolatedWeightRegularizer:
    """Interpolated Weight Optimization, the training regularizer of Open-VCLIP, with the official code's semantics
    (method doc 3.1, `tools/train_net.py:352-397, 515-545`).

    For a batch it samples a patch ratio `r ~ U(low, high)`, evaluates the loss at `θ_r = r·θ_CLIP + (1 − r)·θ` and
    adds `weight · ∇_{θ'} L(θ')|_{θ'=θ_r}` to the gradients of θ. This is a straight-through gradient: the exact
    derivative of `L(θ_r)` with respect to θ has a factor `(1 − r)` that the official code drops on purpose (its
    commented-out `* (1-patch_ratio)`, method doc 3.1). Together with the plain loss the update direction is

        g = ∇L(θ) + β · ∇_{θ'} L(θ')|_{θ'=θ_r},        β = 0.5, r ~ U(0, 0.6) in all released runs.

    Implementation, the official procedure as an in-place swap (`interpolated_parameters`): back up θ, write θ_r into
    the trainable parameters under `no_grad` (rounded as the official expression, `_interpolate`), run the weighted
    loss forward and backward (its gradient, taken at θ_r, accumulates into `.grad` unchanged: the straight-through
    gradient), then restore θ from the backup, bit for bit, also when the loss function raises. The training step
    then back-propagates the plain loss into the same `.grad`. Whatever the model does with its parameters sees θ_r
    during the pass: DDP, `torch.compile`, activation checkpointing (reentrant or not; the recomputation runs before
    θ is restored), mixed precision.

    Use, once per micro-batch, before the plain backward::

        regularizer = InterpolatedWeightRegularizer(model, clip_state_dict)  # model as returned by accelerator.prepare
        for batch in loader:
            with accelerator.accumulate(model):
                loss_fn = lambda m: criterion(m(**batch.inputs).logits_per_video, batch.labels)
                regularizer.backward(loss_fn, accelerator)  # pass 1 at θ_r, never all-reduced
                accelerator.backward(loss_fn(model))        # pass 2 at θ, all-reduces the sum on sync steps
                ...clip grad norm, optimizer.step(), optimizer.zero_grad()

    Data parallel: pass 1 runs inside `accelerator.no_sync(model)` (or, without an accelerator, `model.no_sync()` for
    a `DistributedDataParallel` model and `set_requires_gradient_sync(False)` for an FSDP2 root), forward included,
    so its gradient only accumulates locally; the plain backward then all-reduces (DDP) or reduce-scatters (FSDP2)
    the accumulated gradient. The reduction being linear, the result is the rank average of
    `∇L(θ) + β·∇L(θ_r_rank)`, exactly the official 2-pass code. The regularizer never forces a sync: on non-final
    accumulation micro-steps `accelerator.accumulate` already disables it for both passes.

    Sharded training (FSDP2, `torch.distributed.fsdp.fully_shard`): a sharded parameter is a DTensor; its anchor is
    sharded exactly like it (same device mesh and placements) and only the local shard is kept, and the swap reads,
    backs up and writes local shards only (`to_local()`), never a gathered parameter: θ_r is elementwise, so each
    rank swaps its own shard and FSDP2 gathers θ_r for the pass. Hence one r for all ranks: a weight gathered from
    shards written with different ratios would be none of the θ_r, so sharded parameters need `share_ratio=True` (or
    a fixed `ratio`); the per-rank r of the official code remains the default under DDP. Parameters that FSDP2
    leaves alone (e.g. a 0-dim `logit_scale` passed as `ignored_params`) are swapped whole, as without sharding.
    Under `no_sync` FSDP2 keeps pass 1's gradients unsharded until the plain pass reduce-scatters them (as on
    accumulation micro-steps). DeepSpeed ZeRO-3 partitions parameters its own way and is refused (use FSDP2).

    Mixed precision: both passes go through `accelerator.backward` (GradScaler, 1/accumulation-steps loss scaling);
    the forward of a model prepared by accelerate runs under its autocast, otherwise wrap the body of `loss_fn` in
    `accelerator.autocast()`.

    Patch ratio sampling: by default each process draws its own r with its own `random.Random()` (seeded by the OS),
    like the official code whose Python `random` is never seeded, so the all-reduced gradient mixes one r per rank.
    Pass a seeded `random.Random` or `torch.Generator` for reproducibility, `share_ratio=True` to broadcast rank
    0's r to all ranks (one tiny collective per call; required with sharded parameters), or a fixed `ratio`.

    Memory (N = number of trainable parameters found in the anchor, per rank: the local shards under FSDP2): the
    θ_CLIP anchor is copied once at construction, only for those parameters, in float32 (4N bytes: ≈0.35 GB for the
    ViT-B/16 vision tower, ≈1.2 GB for ViT-L/14's) or, per tensor, in float16 where that is exact (2N bytes for
    OpenAI's float16 release), on each parameter's device or on `anchor_device` (e.g. "cpu": the anchor then crosses
    to the accelerator tensor by tensor when θ_r is written). During pass 1 the backup of θ is one more copy (4N
    bytes), freed when θ is restored. It does not raise the step's peak, which comes later: the gradients of pass 1
    are complete while the plain pass holds its activations (exactly as on the second micro-step of gradient
    accumulation), one copy of the trainable weights. Compute: 2 forward + 2 backward passes per step, plus two
    elementwise passes over the weights (write θ_r, restore θ). `benchmarks/bench_training_step.py` measures both
    (README, "Fine-tune on your videos").

    Differences from the official code, by design: only trainable parameters are interpolated (the official code
    swaps the whole state dict, but frozen tensors such as the Open-VCLIP text tower equal θ_CLIP, where θ_r = θ), and
    trainable parameters absent from the anchor stay at θ (`skipped_names`; Open-VCLIP has none).

    Args:
        model: the model being trained, preferably as returned by `accelerator.prepare` (the module whose forward
            the training step calls, so that its `no_sync` applies).
        anchor_state_dict: θ_CLIP in the model's parameter names (wrapper prefixes are ignored); a path is read
            with `load_checkpoint_state_dict`. Only the trainable parameters' entries are kept (copied; under FSDP2
            only the local shards).
        low, high: bounds of the uniform patch ratio distribution, `0 <= low <= high <= 1`.
        weight: β, the weight of the interpolated loss.
        ratio: a fixed patch ratio instead of sampling.
        generator: a `random.Random` or `torch.Generator` to draw r from (default: a fresh `random.Random()`).
        share_ratio: draw r on rank 0 and broadcast it when `torch.distributed` is initialized (required when
            parameters are sharded, unless `ratio` is fixed).
        anchor_device: where to keep the anchor (default: on the device of each parameter).
    """

    def __init__(
        self,
        model: nn.Module,
        anchor_state_dict: Mapping[str, torch.Tensor] | str | Path,
        low: float = 0.0,
        high: float = 0.6,
        weight: float = 0.5,
        ratio: float | None = None,
        generator: random.Random | torch.Generator | None = None,
        *,
        share_ratio: bool = False,
        anchor_device: torch.device | str | None = None,
    ):
        self.low, self.high = _check_ratio(low, "low"), _check_ratio(high, "high")
        if self.low > self.high:
            raise ValueError(f"low ({low}) must not exceed high ({high})")
        if not (math.isfinite(weight) and weight >= 0):
            raise ValueError(f"weight must be a finite number >= 0, got {weight}")
        if ratio is not None and (generator is not None or share_ratio):
            raise ValueError("a fixed ratio is not sampled: do not combine it with generator or share_ratio")
        partitioned = [name for name, param in model.named_parameters() if hasattr(param, "ds_id")]
        if partitioned:
            raise ValueError(
                "the Interpolated Weight Optimization regularizer does not support DeepSpeed ZeRO-3 (partitioned "
                f"parameters: {_listed(partitioned)}); shard with FSDP2 (torch.distributed.fsdp.fully_shard) instead."
            )
        self.model = model
        self.weight = float(weight)
        self.ratio = None if ratio is None else _check_ratio(ratio)
        self.generator = random.Random() if generator is None else generator
        self.share_ratio = share_ratio
        if not isinstance(anchor_state_dict, Mapping):
            anchor_state_dict = load_checkpoint_state_dict(anchor_state_dict)
        _reshard(model)  # FSDP2: `named_parameters` then yields the sharded parameters
        matched, skipped = _matched_parameters(model, anchor_state_dict, trainable_only=True)
        self.interpolated_names = tuple(name for name, _, _ in matched)
        self.skipped_names = tuple(skipped)
        sharded = [name for name, param, _ in matched if _is_sharded(param)]
        if sharded and self.ratio is None and not share_ratio:
            raise ValueError(
                "sharded parameters need one patch ratio on every rank: each rank writes θ_r into its own shard of "
                "every weight and FSDP2 gathers the shards for the pass, so ratios drawn per rank would mix in one "
                f"weight ({_listed(sharded)}). Pass share_ratio=True (or a fixed ratio)."
            )
        self._pairs = [
            (param, _compact_anchor(_local_anchor(param, anchor).to(anchor_device or param.device, torch.float32)))
            for _, param, anchor in matched
        ]

    @property
    def anchor_num_bytes(self) -> int:
        """Bytes held by the θ_CLIP anchor copy on this process (trainable parameters only, local shards under
        FSDP2; float16 where that is exact)."""
        return sum(anchor.numel() * anchor.element_size() for _, anchor in self._pairs)

    def sample_ratio(self) -> float:
        """The patch ratio for the next pass: the fixed `ratio`, or a draw from U(low, high) (rank 0's draw on every
        rank with `share_ratio`)."""
        if self.ratio is not None:
            return self.ratio
        if isinstance(self.generator, torch.Generator):
            unit = torch.rand((), generator=self.generator, dtype=torch.float64).item()
            ratio = self.low + (self.high - self.low) * unit
        else:
            ratio = self.generator.uniform(self.low, self.high)  # the official `random.uniform` (train_net.py:358)
        if self.share_ratio and torch.distributed.is_available() and torch.distributed.is_initialized():
            shared = torch.tensor([ratio], dtype=torch.float64, device=self._pairs[0][0].device)
            torch.distributed.broadcast(shared, src=0)
            ratio = shared.item()
        return ratio

    def interpolated_parameters(self, ratio: float) -> Iterator[None]:
        """Context manager: the swap of `interpolated_parameters` with this regularizer's anchor. Inside the block the
        trainable parameters hold θ_r = ratio·θ_CLIP + (1 − ratio)·θ; on exit θ is restored bit for bit, also on an
        exception."""
        return _parameters_at_ratio(self.model, self._pairs, _check_ratio(ratio))

    @contextmanager
    def _no_sync(self, accelerator: Any) -> Iterator[None]:
        """Disable the gradient reduction for pass 1. On a non-final accumulation micro-step accelerate has already
        disabled it; entering `no_sync` again would be harmless for DDP but would re-enable sync on exit for FSDP2."""
        if accelerator is not None:
            with accelerator.no_sync(self.model) if accelerator.sync_gradients else nullcontext():
                yield
        elif isinstance(self.model, nn.parallel.DistributedDataParallel):
            with self.model.no_sync():
                yield
        elif isinstance(self.model, _loaded("torch.distributed.fsdp", "FSDPModule") or ()):
            self.model.set_requires_gradient_sync(False)
            try:
                yield
            finally:
                self.model.set_requires_gradient_sync(True)
        else:
            yield

    def backward(self, loss_fn: Callable[[nn.Module], torch.Tensor], accelerator: Any = None) -> InterpolatedLoss:
        """Pass 1 of an Interpolated Weight Optimization step: back-propagate `weight · loss_fn(model)` at θ_r.

        Samples r, swaps θ_r into the trainable parameters, adds `weight · ∇_{θ'} L(θ')|_{θ'=θ_r}` to their `.grad`
        (straight-through, no `(1 − r)` factor; frozen parameters keep `grad=None`) and restores θ, bit-exactly, also
        if `loss_fn` raises. Forward and backward run inside the model's `no_sync`, so nothing is reduced here; the
        plain pass, which must follow in the same step, reduces the sum.

        Args:
            loss_fn: computes the scalar training loss of the current batch from the model it is given (the
                regularizer's `model`); called once, at θ_r.
            accelerator: an `accelerate.Accelerator` (its `no_sync` and `backward`, hence GradScaler and gradient
                accumulation scaling). Without it: `model.no_sync()` for a DDP model,
                `set_requires_gradient_sync(False)` for an FSDP2 model, and `loss.backward()`.

        Returns:
            `InterpolatedLoss(loss=L(θ_r) detached, ratio=r)`.
        """
        ratio = self.sample_ratio()
        with self._no_sync(accelerator), self.interpolated_parameters(ratio):
            loss = loss_fn(self.model)
            weighted = self.weight * loss
            if accelerator is not None:
                accelerator.backward(weighted)
            else:
                weighted.backward()
        return InterpolatedLoss(loss=loss.detach(), ratio=ratio)
