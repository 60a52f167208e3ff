# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Weights: the interpolation formula of Open-VCLIP (method doc 3.1, 3.3), the one state-dict matcher
(`check_same_keys_and_shapes`), reading checkpoints without running code, and folders written atomically."""

import collections
import fnmatch
import io
import json
import os
import pickle
import re
import shutil
import sys
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file as load_safetensors
from torch import nn

# Prefixes that wrappers add to parameter names: DistributedDataParallel and torch.compile.
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
CHECKPOINT_SUFFIXES = (".safetensors", ".pth", ".pyth", ".pt", ".bin")
TORCH_SUFFIXES = CHECKPOINT_SUFFIXES[1:]  # read with `torch.load`


def check_ratio(ratio: float, what: str = "ratio") -> float:
    """`ratio` as a float, or a ValueError unless it lies in [0, 1] (NaN included)."""
    ratio = float(ratio)
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"{what} must lie in [0, 1] (it is the weight on the CLIP anchor), got {ratio}")
    return ratio


def _interpolate(weight: torch.Tensor, anchor: torch.Tensor, ratio: float) -> torch.Tensor:
    """`ratio·anchor + (1 − ratio)·weight` in (at least) float32, returned in `weight`'s dtype and device.

    Rounded as the official `clip * patch_ratio + weights * (1 - patch_ratio)` (method doc 3.1, 3.3), not as
    `torch.lerp`: bit-identical to the official θ_r in float32, and ratios 0 and 1 return the two ends exactly. The
    official *test* code multiplies the fp16 anchor by r in fp16 (exact for r = 0.5, one fp16 rounding off for 0.6);
    here the anchor is promoted first, so the result is the float32 one whatever the anchor's dtype."""
    compute_dtype = torch.promote_types(weight.dtype, torch.float32)
    promoted = anchor.to(device=weight.device, dtype=compute_dtype)
    mixed = promoted.mul_(ratio) if promoted is not anchor else anchor * ratio
    mixed += weight.to(compute_dtype) * (1.0 - ratio)
    return mixed.to(weight.dtype)


def listed_names(names: Iterable[str], limit: int = 10) -> str:
    """The sorted names, comma-separated; only the first `limit` and the total when there are more."""
    names = sorted(names)
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in total)" if len(names) > limit else "")


def check_same_keys_and_shapes(
    first: Mapping[str, torch.Tensor], second: Mapping[str, torch.Tensor], first_name: str, second_name: str
) -> None:
    """Raise a ValueError naming the keys when the two state dicts differ in keys or in shapes."""
    problems = []
    for name, only in ((first_name, first.keys() - second.keys()), (second_name, second.keys() - first.keys())):
        if only:
            problems.append(f"keys only in {name}: {listed_names(only)}")
    mismatched = [
        f"{key} {tuple(first[key].shape)} vs {tuple(second[key].shape)}"
        for key in first.keys() & second.keys()
        if first[key].shape != second[key].shape
    ]
    if mismatched:
        problems.append(f"shape mismatch ({first_name} vs {second_name}): {listed_names(mismatched)}")
    if problems:
        raise ValueError(f"{first_name} and {second_name} do not match: " + "; ".join(problems))


def interpolate_weights(
    weights: Mapping[str, torch.Tensor], anchor: Mapping[str, torch.Tensor], ratio: float
) -> dict[str, torch.Tensor]:
    """Patched weights `ratio·anchor + (1 − ratio)·weights` (method doc 3.3; the released models use 0.5 for B/32 and
    B/16, 0.6 for L/14): a new state dict in the dtypes and devices of `weights`, non-floating tensors copied."""
    ratio = check_ratio(ratio)
    check_same_keys_and_shapes(weights, anchor, "weights", "anchor")
    return {
        key: _interpolate(tensor, anchor[key], ratio) if tensor.is_floating_point() else tensor.clone()
        for key, tensor in weights.items()
    }


def patch_model_(model: nn.Module, anchor_state_dict: Mapping[str, torch.Tensor], ratio: float) -> None:
    """`interpolate_weights` in place over `model`'s whole state dict (method doc 3.3), one tensor at a time (no
    second copy of the weights); a tied tensor is patched once."""
    ratio = check_ratio(ratio)
    state = model.state_dict(keep_vars=True)
    check_same_keys_and_shapes(state, anchor_state_dict, "weights", "anchor")
    patched = set()
    with torch.no_grad():
        for key, tensor in state.items():
            if tensor.is_floating_point() and id(tensor) not in patched:
                patched.add(id(tensor))
                tensor.copy_(_interpolate(tensor, anchor_state_dict[key], ratio))


def is_dtensor(tensor: torch.Tensor) -> bool:
    """A parameter sharded by FSDP2 (`fully_shard`) or tensor parallelism: a `torch.distributed.tensor.DTensor`."""
    dtensor = getattr(sys.modules.get("torch.distributed.tensor"), "DTensor", None)  # none before that import
    return dtensor is not None and isinstance(tensor, dtensor)


def _local(param: nn.Parameter) -> torch.Tensor:
    """What this process holds of `param`: the local shard (a view) of a DTensor, else `param`."""
    return param.to_local() if is_dtensor(param) else param


def _reshard(model: nn.Module) -> None:
    """Make every FSDP2 module of `model` hold its sharded parameters: the swap writes the shards."""
    fsdp_module = getattr(sys.modules.get("torch.distributed.fsdp"), "FSDPModule", None)  # none before that import
    for module in model.modules():
        if fsdp_module is not None and isinstance(module, fsdp_module):
            module.reshard()


def _local_anchor(param: nn.Parameter, anchor: torch.Tensor) -> torch.Tensor:
    """The entries of `anchor` that match `_local(param)`: a DTensor's are cut like it (same mesh and placements)."""
    if not is_dtensor(param):
        return anchor
    from torch.distributed.tensor import distribute_tensor

    return distribute_tensor(anchor.detach(), param.device_mesh, param.placements, src_data_rank=None).to_local()


def matched_parameters(
    model: nn.Module, anchor: Mapping[str, torch.Tensor], trainable_only: bool = False
) -> tuple[list[tuple[str, nn.Parameter, torch.Tensor]], list[str]]:
    """`(name, parameter, anchor of its local part)` for every parameter found in `anchor` (wrapper prefixes ignored,
    frozen ones left out if `trainable_only`; a DTensor's anchor cut like it), and the names not found. Raises a
    ValueError (`check_same_keys_and_shapes`) for shapes that differ, or when no parameter is in the anchor."""
    _reshard(model)
    found, missing = {}, []
    for name, param in model.named_parameters():
        if trainable_only and not param.requires_grad:
            continue
        key = name
        while key not in anchor and key.startswith(WRAPPER_PREFIXES):
            key = key.split(".", 1)[1]
        if key in anchor:
            found[key] = (name, param)
        else:
            missing.append(name)
    parameters = {key: param for key, (_, param) in found.items()}
    check_same_keys_and_shapes(parameters, {key: anchor[key] for key in found}, "the model", "the CLIP anchor")
    if not found:
        raise ValueError(
            f"no {'trainable ' if trainable_only else ''}parameter of the model has an entry in the CLIP anchor "
            f"(model parameters: {listed_names(missing)}; anchor keys: {listed_names(anchor)})"
        )
    return [(name, param, _local_anchor(param, anchor[key])) for key, (name, param) in found.items()], missing


@contextmanager
def parameters_at_ratio(
    model: nn.Module, pairs: Sequence[tuple[nn.Parameter, torch.Tensor]], ratio: float
) -> Iterator[None]:
    """The swap: inside the block each parameter of `pairs` (with the anchor of its local part, see
    `matched_parameters`) holds θ_r, rounded as `_interpolate`; on exit, also on an exception, θ again, bit for bit,
    from a backup of the local parts (θ_r cannot be inverted exactly). Elementwise: shards are swapped in place."""
    ratio, backups = check_ratio(ratio), []
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
    """Temporarily set the parameters of `model` found in `anchor_state_dict` to `θ_r = ratio·θ_CLIP + (1 − ratio)·θ`
    (method doc 3.1/3.3; buffers untouched), restored bit-exactly on exit, also on an exception. Yields `model`."""
    matched, _ = matched_parameters(model, anchor_state_dict)
    with parameters_at_ratio(model, [(param, anchor) for _, param, anchor in matched], ratio):
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
    """Stands for an object of a TorchScript class (`__torch__.*`) in `data.pkl`: only its tensors are kept, by name."""

    def __setstate__(self, state):
        self.tensors = {}
        for name, value in state.items() if isinstance(state, dict) else ():
            if isinstance(value, torch.Tensor):
                self.tensors[name] = value
            elif isinstance(value, _ScriptedObject):
                self.tensors.update({f"{name}.{key}": tensor for key, tensor in value.tensors.items()})


def _rebuild_tensor(storage, offset, size, stride, *_):  # the arguments of `torch._utils._rebuild_tensor_v2`
    return storage.as_strided(size, stride, offset)


class _TensorOnlyUnpickler(pickle.Unpickler):
    """Unpickles `data.pkl` of a TorchScript archive (e.g. OpenAI's `ViT-B-16.pt`) rebuilding only tensors and module
    attribute dicts: any other global is refused, no code of the archive (`code/`, `__setstate__`) runs."""

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


def _read_torchscript(archive: zipfile.ZipFile) -> dict[str, torch.Tensor]:
    """The tensors of a TorchScript archive, named as `torch.jit.load(...).state_dict()` names them, never run."""
    names = archive.namelist()
    prefix = next((name[:-8] for name in names if name.endswith("/data.pkl") and name.count("/") == 1), None)
    if prefix is None:
        raise CheckpointError(f"{archive.filename}: a TorchScript archive without data.pkl")
    if f"{prefix}byteorder" in names and archive.read(f"{prefix}byteorder").decode() != sys.byteorder:
        raise CheckpointError(f"{archive.filename}: the archive was written on a machine of the other byte order")
    root = _TensorOnlyUnpickler(archive, prefix).load()
    return root.tensors if isinstance(root, _ScriptedObject) else {}


def _read_file(path: Path) -> Mapping[str, Any]:
    if path.suffix not in CHECKPOINT_SUFFIXES:
        raise CheckpointError(f"{path}: unknown checkpoint format (expected {', '.join(CHECKPOINT_SUFFIXES)})")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: the file is empty (0 bytes); the download or copy probably failed")
    if path.suffix == ".safetensors":
        return load_safetensors(path, device="cpu")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            # torch stores every record uncompressed but TorchScript's code/ (never read here); compressed, a record
            # torch reads whole (data.pkl, a tensor, version) could inflate ~1000x: a zip bomb
            packed = [item.filename for item in archive.infolist() if item.compress_type != zipfile.ZIP_STORED]
            if any("/code/" not in name for name in packed):
                raise CheckpointError(f"{path}: its records are stored compressed, which torch never writes; refused")
            if any(name.endswith("/constants.pkl") or "/code/" in name for name in archive.namelist()):
                return _read_torchscript(archive)
    state = torch.load(path, map_location="cpu", weights_only=True)
    # PySlowFast epoch checkpoints and the official `swa_2_22.pth` wrap the weights: {'model_state': {...}}.
    return state["model_state"] if isinstance(state, Mapping) and "model_state" in state else state


def _read_folder(folder: Path) -> Mapping[str, Any]:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (folder / name).is_file():
            return _read_file(folder / name)
        if (folder / f"{name}.index.json").is_file():
            weight_map = json.loads((folder / f"{name}.index.json").read_text())["weight_map"]
            return {
                key: value
                for shard in sorted(set(weight_map.values()))
                for key, value in _read_file(folder / shard).items()
            }
    raise CheckpointError(
        f"{folder}: no model.safetensors, pytorch_model.bin or sharded index (*.index.json) in this folder"
    )


def load_checkpoint_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read one checkpoint into a CPU state dict: a `.safetensors` or torch file (`weights_only=True`, a
    `{'model_state': ...}` wrapper unwrapped), an OpenAI TorchScript archive (its tensors, no code run), or a
    `save_pretrained` / `accelerate` `save_state` folder. Raises FileNotFoundError or CheckpointError."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        state = _read_folder(path) if path.is_dir() else _read_file(path)
    except (FileNotFoundError, CheckpointError):
        raise
    except Exception as error:  # every reader has its own error types for a damaged file
        refused = re.search(r"GLOBAL ([\w.]+)", str(error))  # torch.load(weights_only=True) refused an object
        if isinstance(error, pickle.UnpicklingError) and refused:
            raise CheckpointError(f"{path}: refusing to unpickle {refused[1]} (not a tensor): no code is run") from None
        raise CheckpointError(
            f"{path}: cannot read checkpoint ({type(error).__name__}: {error}). The file may be truncated or corrupt;"
            " compare its size and SHA256 with the source."
        ) from error
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{path}: expected a state dict (names to tensors), got {type(state).__name__}")
    not_tensors = [str(key) for key, value in state.items() if not isinstance(value, torch.Tensor)]
    if not_tensors:
        raise CheckpointError(f"{path}: entries that are not tensors: {listed_names(not_tensors)}")
    return dict(state)


# The files a model folder owns (what `save_pretrained` of the model and its processor write): `--overwrite` replaces
# these and nothing else. The weights make a folder a model folder; their shard indexes are the model's too.
_WEIGHTS = ("model.safetensors", "model-*.safetensors", "pytorch_model.bin", "pytorch_model-*.bin")
_WEIGHT_FILES = (*_WEIGHTS, "model.safetensors.index.json", "pytorch_model.bin.index.json")
MODEL_FOLDER_FILES = (
    *_WEIGHT_FILES, "config.json", "generation_config.json", "processor_config.json", "preprocessor_config.json",
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.json",
    "merges.txt", "chat_template.json",
)  # fmt: skip


def _matches(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def model_folder_files(path: str | Path) -> list[Path] | None:
    """The files of `path` that a model folder owns ([`MODEL_FOLDER_FILES`]), or `None` when `path` is not a model
    folder: a `config.json` of a CLIP or Open-VCLIP model next to weights."""
    path = Path(path)
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        files = [entry for entry in path.iterdir() if entry.is_file() and _matches(entry.name, MODEL_FOLDER_FILES)]
    except (OSError, ValueError):
        return None
    ours = isinstance(config, dict) and config.get("model_type") in ("clip", "open_vclip")
    return files if ours and any(_matches(file.name, _WEIGHTS) for file in files) else None


def check_output_folder(path: str | Path, overwrite: bool) -> None:
    """Refuse an existing output folder unless `overwrite`, and always one [`commit_directory`] would not replace."""
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
    """The sibling `.<name>.partial` where `path` is written before [`commit_directory`] (`.<name>.old`: where the
    files it replaces wait to be deleted). A fixed name: the next writer removes what a killed one left."""
    path = Path(path).absolute()
    return path.parent / f".{path.name}.{kind}"


def fresh_staging_directory(path: str | Path, kind: str = "partial") -> Path:
    """[`staging_directory`], emptied of what a killed writer left and created (with the parent folders of `path`)."""
    staging = staging_directory(path, kind)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def write_atomically(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """`write(temporary)` at the [`staging_directory`] name of the file `path`, then renamed onto it: never half a
    file, a symlink at `path` is replaced rather than written through, and a failed write leaves nothing."""
    path = Path(path).absolute()
    temporary = staging_directory(path)
    temporary.unlink(missing_ok=True)  # left by a killed writer (a symlink there would be written through)
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


@contextmanager
def staged_directory(path: str | Path, replace_whole: bool = False) -> Iterator[Path]:
    """A fresh [`staging_directory`] of `path` to write into, [`commit_directory`]-ed to `path` when the block ends;
    removed if the block or the commit raises, so that a failed write leaves nothing behind."""
    staging = fresh_staging_directory(path)
    try:
        yield staging
        commit_directory(staging, path, replace_whole)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def save_pretrained_atomically(
    model: nn.Module, output_dir: str | Path, *extra_savables, extra_files_from: str | Path | None = None
) -> Path:
    """`save_pretrained` `model` and `extra_savables` (e.g. a processor) into a [`staged_directory`] of `output_dir`,
    with the non-model files of the folder `extra_files_from` not written already (nor replacing a non-model file of
    `output_dir`)."""
    output_dir = Path(output_dir).absolute()
    with staged_directory(output_dir) as staging:
        for savable in (model, *extra_savables):
            savable.save_pretrained(staging)
        if extra_files_from is not None and Path(extra_files_from).is_dir():
            for entry in Path(extra_files_from).iterdir():
                model_file = _matches(entry.name, ("config.json", "README.md", *_WEIGHT_FILES))
                theirs = (output_dir / entry.name).exists() and not _matches(entry.name, MODEL_FOLDER_FILES)
                if entry.is_file() and not model_file and not theirs and not (staging / entry.name).exists():
                    shutil.copy2(entry, staging / entry.name)
    return output_dir


def commit_directory(staging: str | Path, path: str | Path, replace_whole: bool = False) -> Path:
    """Move the complete folder `staging` to `path`: by one rename if `path` is new, empty or a model folder holding
    only its own files; a model folder holding other files too keeps them (its own files are swapped one rename each).
    Any other existing `path` is refused (ValueError), unless `replace_whole` (a folder the caller owns)."""
    staging, path = Path(staging), Path(path).absolute()
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
