# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Weights: the interpolation formula of Open-VCLIP, the one state-dict matcher, reading checkpoints, writing folders.

* `θ_r = r·θ_CLIP + (1 − r)·θ` with `r` the weight on the CLIP anchor, written once in `_interpolate`: test-time
  patching (method doc section 3.3: `interpolate_weights`, `patch_model_`), the weight swap `interpolated_parameters`
  (patch sweeps in evaluation, and the training regularizer of section 3.1 in `training.regularizer`);
* `check_same_keys_and_shapes`: every comparison of two state dicts (conversion, anchors, SWA);
* `load_checkpoint_state_dict`: safetensors, torch files (`weights_only=True`), TorchScript archives (tensors only,
  no code runs) and `save_pretrained` folders;
* `save_pretrained_atomically` / `commit_directory`: folders that never exist half-written, replacing only a model
  folder's own files (`model_folder_files`).
"""

import collections
import fnmatch
import io
import json
import os
import pickle
import shutil
import sys
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file as load_safetensors
from torch import nn

# Prefixes that wrappers add to parameter names: DistributedDataParallel and torch.compile.
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
TORCH_SUFFIXES = (".pth", ".pyth", ".pt", ".bin")
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
    while name not in anchor and name.startswith(WRAPPER_PREFIXES):
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


class CheckpointError(RuntimeError):
    """A checkpoint file exists but cannot be read (truncated download, corrupt file, unexpected content)."""


# Storage classes named in a TorchScript `data.pkl`, and the dtype of their bytes.
_STORAGE_DTYPES = {
    f"{name}Storage": dtype
    for name, dtype in (("Float", torch.float32), ("Half", torch.float16), ("BFloat16", torch.bfloat16),
                        ("Double", torch.float64), ("Long", torch.int64), ("Int", torch.int32),
                        ("Short", torch.int16), ("Char", torch.int8), ("Byte", torch.uint8), ("Bool", torch.bool))
}  # fmt: skip


class _ScriptedObject:
    """Stands for an object of a TorchScript class (`__torch__.*`) in `data.pkl`: only its state is kept."""

    def __setstate__(self, state):
        self.state = state


def _rebuild_tensor(storage, offset, size, stride, *_):  # the arguments of `torch._utils._rebuild_tensor_v2`
    return storage.as_strided(size, stride, offset)


class _TensorOnlyUnpickler(pickle.Unpickler):
    """Unpickles `data.pkl` of a TorchScript archive (`torch.jit.save`, e.g. OpenAI's `ViT-B-16.pt`) rebuilding only
    tensors (from the archive's `data/<key>` records) and the attribute dicts of modules: any other global is refused,
    no code of the archive (`code/`, `__setstate__`) runs."""

    def __init__(self, archive: zipfile.ZipFile, prefix: str):
        super().__init__(io.BytesIO(archive.read(f"{prefix}data.pkl")))
        self.archive, self.prefix, self.storages = archive, prefix, {}

    def find_class(self, module, name):
        if module == "__torch__" or module.startswith("__torch__."):
            return _ScriptedObject
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        raise CheckpointError(
            f"{self.archive.filename}: refusing to unpickle {module}.{name} (not a tensor): a TorchScript archive is "
            "read without running any of its code, and this one holds more than weights"
        )

    def persistent_load(self, pid):
        _, dtype, key, _, _ = pid  # ('storage', dtype (from find_class), key, location, numel)
        if key not in self.storages:
            data = bytearray(self.archive.read(f"{self.prefix}data/{key}"))
            self.storages[key] = torch.frombuffer(data, dtype=dtype) if data else torch.empty(0, dtype=dtype)
        return self.storages[key]


def _named_tensors(obj: _ScriptedObject, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    for name, value in obj.state.items() if isinstance(obj.state, dict) else ():
        if isinstance(value, torch.Tensor):
            yield prefix + name, value
        elif isinstance(value, _ScriptedObject):
            yield from _named_tensors(value, f"{prefix}{name}.")


def _read_torchscript(archive: zipfile.ZipFile) -> dict[str, torch.Tensor]:
    """The tensors of a TorchScript archive by dotted attribute path, as `torch.jit.load(...).state_dict()` names them
    (for a traced module such as OpenAI's files: exactly its state dict), without executing the archive."""
    names = archive.namelist()
    prefix = next((name[:-8] for name in names if name.endswith("/data.pkl") and name.count("/") == 1), None)
    if prefix is None:
        raise CheckpointError(f"{archive.filename}: a TorchScript archive without data.pkl")
    if f"{prefix}byteorder" in names and archive.read(f"{prefix}byteorder").decode() != sys.byteorder:
        raise CheckpointError(f"{archive.filename}: the archive was written on a machine of the other byte order")
    root = _TensorOnlyUnpickler(archive, prefix).load()
    return dict(_named_tensors(root)) if isinstance(root, _ScriptedObject) else {}


def _read_torch_file(path: Path) -> Mapping[str, Any]:
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if any(name.endswith("/constants.pkl") or "/code/" in name for name in archive.namelist()):
                return _read_torchscript(archive)
    state = torch.load(path, map_location="cpu", weights_only=True)
    # PySlowFast epoch checkpoints and the official `swa_2_22.pth` wrap the weights: {'model_state': {...}}.
    if isinstance(state, Mapping) and "model_state" in state:
        state = state["model_state"]
    return state


def _read_file(path: Path) -> Mapping[str, Any]:
    if path.suffix == ".safetensors":
        return load_safetensors(path, device="cpu")
    if path.suffix in TORCH_SUFFIXES:
        return _read_torch_file(path)
    raise CheckpointError(f"{path}: unknown checkpoint format (expected .safetensors, {', '.join(TORCH_SUFFIXES)})")


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
    `checkpoint_epoch_00005.pyth` and the official `swa_2_22.pth` is unwrapped; a TorchScript archive such as OpenAI's
    `ViT-B-16.pt` gives its tensors, unpickled without running any code of the archive), a `save_pretrained` folder
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


# The files a model folder of this package owns: what `save_pretrained` of the model and of its processor write.
# `--overwrite` replaces these and nothing else; the first ones are the model itself.
_WEIGHT_FILES = ("model.safetensors", "model-*.safetensors", "pytorch_model.bin", "pytorch_model-*.bin", "*.index.json")
MODEL_FOLDER_FILES = (
    *_WEIGHT_FILES, "config.json", "generation_config.json", "processor_config.json", "preprocessor_config.json",
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.json",
    "merges.txt", "chat_template.json",
)  # fmt: skip


def _matches(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def model_folder_files(path: str | Path) -> list[Path] | None:
    """The files of `path` that a model folder of this package owns ([`MODEL_FOLDER_FILES`]: config, weights,
    processor and tokenizer files), or `None` when `path` is not a model folder: a `config.json` of a CLIP or
    Open-VCLIP model (`model_type` `clip` / `open_vclip`) next to weights."""
    path = Path(path)
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        files = [entry for entry in path.iterdir() if entry.is_file() and _matches(entry.name, MODEL_FOLDER_FILES)]
    except (OSError, ValueError):
        return None
    ours = isinstance(config, dict) and config.get("model_type") in ("clip", "open_vclip")
    return files if ours and any(_matches(file.name, _WEIGHT_FILES[:-1]) for file in files) else None


def check_output_folder(path: str | Path, overwrite: bool) -> None:
    """Refuse an output folder that exists (unless `overwrite`) or that [`commit_directory`] would not replace: a
    non-empty folder that is not a model folder. Writers call it before any work."""
    path = Path(path).absolute()
    if not path.exists():
        return
    if not overwrite:
        raise ValueError(f"{path} already exists; pass overwrite=True (--overwrite) to replace it")
    if not (path.is_dir() and (not any(path.iterdir()) or model_folder_files(path) is not None)):
        raise ValueError(
            f"{path} is not a model folder (config.json of a CLIP / Open-VCLIP model and its weights): --overwrite "
            "replaces only a model folder's own files, never other files; write to a new or empty folder"
        )


def staging_directory(path: str | Path, kind: str = "partial") -> Path:
    """The sibling `.<name>.partial` where `path` is written before [`commit_directory`] moves it into place (and
    `.<name>.old`, where the files it replaces wait to be deleted). Fixed names: a writer killed half-way leaves one,
    which the next writer of `path` removes first (one writer per output at a time)."""
    path = Path(path).absolute()
    return path.parent / f".{path.name}.{kind}"


def fresh_staging_directory(path: str | Path, kind: str = "partial") -> Path:
    """[`staging_directory`], emptied of what a killed writer left and created."""
    staging = staging_directory(path, kind)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    return staging


def save_pretrained_atomically(
    model: nn.Module, output_dir: str | Path, *extra_savables, extra_files_from: str | Path | None = None
) -> Path:
    """`save_pretrained` `model` (and e.g. a processor) into [`staging_directory`], add the files of the model
    folder `extra_files_from` that are not the model itself (processor, tokenizer, remote code) and not written
    already, then [`commit_directory`] it to `output_dir`."""
    output_dir = Path(output_dir).absolute()
    check_output_folder(output_dir, overwrite=True)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = fresh_staging_directory(output_dir)
    try:
        model.save_pretrained(staging)
        for savable in extra_savables:
            savable.save_pretrained(staging)
        if extra_files_from is not None and Path(extra_files_from).is_dir():
            for entry in Path(extra_files_from).iterdir():
                target = staging / entry.name
                model_file = _matches(entry.name, ("config.json", "README.md", *_WEIGHT_FILES))
                if entry.is_file() and not model_file and not target.exists():
                    shutil.copy2(entry, target)
        return commit_directory(staging, output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def default_permissions(path: str | Path) -> None:
    """Give a file or folder made by `tempfile` (0600 / 0700) the permissions of a plain `open` / `mkdir`."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if Path(path).is_dir() else 0o666) & ~umask)


def commit_directory(staging: str | Path, path: str | Path, replace_whole: bool = False) -> Path:
    """Move the complete folder `staging` ([`staging_directory`]) to `path`.

    A new or empty `path` is replaced by one rename, so it never exists half-written; so is a model folder holding
    nothing but its own files ([`model_folder_files`]). A model folder holding other files too (notes, data, the
    source checkpoint) keeps them: only its own files are moved aside, then the new ones moved in, one rename each.
    Any other existing `path` is refused (ValueError), unless `replace_whole` (a folder the caller owns entirely,
    such as the training script's `step_N` states).
    """
    staging, path = Path(staging), Path(path).absolute()
    default_permissions(staging)
    if not path.exists():
        os.replace(staging, path)
        return path
    own = None if replace_whole or not path.is_dir() else model_folder_files(path)
    if not replace_whole:
        check_output_folder(path, overwrite=True)
    retired = fresh_staging_directory(path, "old")
    if own is None or len(own) == len(os.listdir(path)):
        os.replace(path, retired / path.name)
        os.replace(staging, path)
    else:
        for file in own:
            os.replace(file, retired / file.name)
        for file in staging.iterdir():
            os.replace(file, path / file.name)
        staging.rmdir()
    shutil.rmtree(retired)
    return path
