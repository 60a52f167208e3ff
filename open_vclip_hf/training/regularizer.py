# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Interpolated Weight Optimization, the training regularizer of Open-VCLIP (method doc section 3.1)."""

import math
import random
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.modules.module import (
    register_module_forward_hook,
    register_module_forward_pre_hook,
)
from torch.overrides import (  # as torch.utils.checkpoint does
    TorchFunctionMode,
    _get_current_function_mode_stack,
)

from ..weights import _check_ratio, _interpolate, _listed, _matched_parameters, load_checkpoint_state_dict

# --------------------------------------------------------------------------------------------------------------------
# The training-time regularizer (method doc section 3.1)
# --------------------------------------------------------------------------------------------------------------------


class _StraightThroughInterpolation(torch.autograd.Function):
    """θ_r = ratio·anchor + (1 − ratio)·θ forward, identity backward: θ receives ∇_{θ_r}L as is, without the
    `(1 − r)` factor of the exact derivative (the official code's straight-through gradient, method doc 3.1)."""

    @staticmethod
    def forward(ctx, weight: torch.Tensor, anchor: torch.Tensor, ratio: float) -> torch.Tensor:
        return _interpolate(weight, anchor, ratio)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad, None, None


@dataclass(frozen=True)
class _RecomputedWeight:
    """What the autograd graph keeps of a saved θ_r (or of a view of it): enough to rebuild it in the backward."""

    parameter: nn.Parameter
    anchor: torch.Tensor
    size: torch.Size
    stride: tuple[int, ...]
    storage_offset: int


class _InterpolatedWeightsMode(TorchFunctionMode):
    """Inside this mode every torch operation that receives one of the given parameters receives
    `θ_r = ratio·θ_CLIP + (1 − ratio)·θ` in its place, computed for that operation (under autograd through
    `_StraightThroughInterpolation`); θ itself is never modified. Property reads (`.shape`, `.dtype`, `.data`,
    `.grad`, ...) see θ, except the ones computed from the values (`.T`, `.mT`, ...). The mode is also a pair of
    saved-tensor hooks (`pack`, `unpack`, for `torch.autograd.graph.saved_tensors_hooks`) that keep no θ_r for the
    backward: a saved θ_r (e.g. the weight of a linear layer, needed for the input gradient) is stored as a
    reference to (θ, θ_CLIP) and recomputed, bit for bit, when the backward needs it.

    Why not swap the parameters in place like `interpolated_parameters`: θ_r cannot be inverted exactly in floating
    point, so a swap needs a backup of θ, one more copy of the weights for the whole pass. Here the weights exist as
    θ (the parameters), θ_CLIP (the anchor) and, transiently, the θ_r of the operation at hand.

    Scope: parameters used by torch operations in Python (every module of transformers, `nn.Linear`, ...; also in a
    `torch.compile`d model). A forward re-run by the backward (gradient checkpointing) sees θ_r when it is a module
    call, as in transformers (`_weights_interpolated_per_operation`); a checkpointed plain function that reads
    parameters itself would see θ in its recomputation. Sharded parameters (FSDP, DeepSpeed ZeRO-3) are replaced by
    gathered copies at run time, which this mode cannot recognise: the regularizer refuses them.
    """

    _PROPERTY_ACCESS = frozenset({"__get__", "__set__", "__delete__"})
    _VALUE_PROPERTIES = frozenset({"T", "mT", "H", "mH", "real", "imag"})  # properties that compute from the values

    def __init__(self, pairs: Sequence[tuple[nn.Parameter, torch.Tensor]], ratio: float):
        super().__init__()
        self._anchors = {id(param): (param, anchor) for param, anchor in pairs}
        self._ratio = ratio
        # Storage address of every θ_r alive -> its (θ, θ_CLIP). An entry is removed when its θ_r is garbage
        # collected; the storage outlives the Python tensor, so an address cannot be re-used while it is listed.
        self._live: dict[int, tuple[nn.Parameter, torch.Tensor]] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__name__", None) not in self._PROPERTY_ACCESS or self._reads_values(func):
            args, kwargs = self._substitute(args), self._substitute(kwargs)
        return func(*args, **kwargs)  # the mode is off while its handler runs: no recursion

    def _reads_values(self, func) -> bool:
        """`param.T` (a property computing from the values) sees θ_r; `param.shape`, `.data`, `.grad` see θ."""
        return func.__name__ == "__get__" and getattr(func.__self__, "__name__", None) in self._VALUE_PROPERTIES

    def _substitute(self, value):
        if isinstance(value, nn.Parameter):
            entry = self._anchors.get(id(value))
            return value if entry is None or entry[0] is not value else self._interpolated(*entry)
        if type(value) in (tuple, list):  # e.g. torch.cat([class_embedding, patches])
            return type(value)(self._substitute(item) for item in value)
        if type(value) is dict:
            return {key: self._substitute(item) for key, item in value.items()}
        return value

    def _interpolated(self, param: nn.Parameter, anchor: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and param.requires_grad:
            weight = _StraightThroughInterpolation.apply(param, anchor, self._ratio)
        else:
            weight = _interpolate(param.detach(), anchor, self._ratio)
        if weight.numel():
            address = weight.untyped_storage().data_ptr()
            self._live[address] = (param, anchor)
            weakref.finalize(weight, self._live.pop, address, None)
        return weight

    def pack(self, tensor: torch.Tensor):
        """Saved-tensor hook: a θ_r (or a view of one) becomes a `_RecomputedWeight`; anything else is kept."""
        if type(tensor) is not torch.Tensor or not tensor.numel() or not self._live:
            return tensor
        entry = self._live.get(tensor.untyped_storage().data_ptr())
        if entry is None or tensor.dtype != entry[0].dtype:
            return tensor
        return _RecomputedWeight(*entry, tensor.size(), tensor.stride(), tensor.storage_offset())

    def unpack(self, packed):
        """Saved-tensor hook: rebuild a θ_r packed by `pack` from θ and θ_CLIP (θ has not changed since: the
        optimizer steps after the backward)."""
        if not isinstance(packed, _RecomputedWeight):
            return packed
        with torch.no_grad():
            # `.data` is a property read, which the mode passes through: the interpolation starts from θ, not θ_r.
            weight = _interpolate(packed.parameter.data, packed.anchor, self._ratio)
        return weight.as_strided(packed.size, packed.stride, packed.storage_offset)


@contextmanager
def _weights_interpolated_per_operation(
    pairs: Sequence[tuple[nn.Parameter, torch.Tensor]], ratio: float
) -> Iterator[None]:
    """Inside the block, forward *and* backward: every use of a parameter of `pairs` sees θ_r (see
    `_InterpolatedWeightsMode`); θ is not touched and no copy of the weights is made.

    The autograd engine runs the backward without the caller's torch-function modes, so a forward that the backward
    runs again (gradient checkpointing, reentrant or not) would see θ. Global module hooks therefore re-enter the
    mode for every module call made while it is off, and leave it when that call returns (also on an exception).
    """
    mode = _InterpolatedWeightsMode(pairs, ratio)
    entered: list[bool] = []  # per module call in progress: did its pre-hook enter the mode?

    def enter_if_off(module, args):
        off = not any(active is mode for active in _get_current_function_mode_stack())
        if off:
            mode.__enter__()
        entered.append(off)

    def leave_if_entered(module, args, output):
        if entered.pop():
            mode.__exit__(None, None, None)

    hooks = (
        register_module_forward_pre_hook(enter_if_off),
        register_module_forward_hook(leave_if_entered, always_call=True),
    )
    try:
        with mode, torch.autograd.graph.saved_tensors_hooks(mode.pack, mode.unpack):
            yield
    finally:
        for hook in hooks:
            hook.remove()


def _compact_anchor(anchor: torch.Tensor) -> torch.Tensor:
    """A private copy of a float32 anchor tensor, stored as float16 when that holds every value exactly.

    OpenAI released CLIP in float16, so a θ_CLIP read from its checkpoints (or from the starting weights of a model
    converted from them) is float16 in disguise: half the memory, and the same θ_r, since `_interpolate` promotes the
    anchor to float32 before it multiplies."""
    half = anchor.to(torch.float16)
    return half if torch.equal(half.to(torch.float32), anchor) else anchor.clone()


def _is_sharded(param: nn.Parameter) -> bool:
    """FSDP2 / tensor-parallel parameters are DTensors (a `device_mesh`); DeepSpeed ZeRO-3 empties `param.data`
    (its shape check against the anchor fails first)."""
    return hasattr(param, "device_mesh") or hasattr(param, "ds_id")


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

    Implementation: θ is never modified. While the weighted loss is computed and back-propagated, every torch
    operation that uses a trainable parameter receives θ_r instead, computed for that operation, and its gradient
    flows to θ unchanged (the straight-through gradient, accumulated into `.grad`); the autograd graph stores no θ_r
    but recomputes the ones the backward needs (`_InterpolatedWeightsMode`). The training step then back-propagates
    the plain loss into the same `.grad`. Only one autograd graph is alive at a time, and the model can be wrapped
    (DDP) and use gradient checkpointing (the recomputed forward sees θ_r again).

    Use, once per micro-batch, before the plain backward::

        regularizer = InterpolatedWeightRegularizer(model, clip_state_dict)  # model as returned by accelerator.prepare
        for batch in loader:
            with accelerator.accumulate(model):
                loss_fn = lambda m: criterion(m(**batch.inputs).logits_per_video, batch.labels)
                regularizer.backward(loss_fn, accelerator)  # pass 1 at θ_r, never all-reduced
                accelerator.backward(loss_fn(model))        # pass 2 at θ, all-reduces the sum on sync steps
                ...clip grad norm, optimizer.step(), optimizer.zero_grad()

    Distributed data parallel: pass 1 runs inside `accelerator.no_sync(model)` (or `model.no_sync()` for a bare
    `DistributedDataParallel` model), forward included, so its gradient only accumulates locally; the plain backward
    then all-reduces the accumulated `.grad`. All-reduce being linear, the result is the rank average of
    `∇L(θ) + β·∇L(θ_r_rank)`, exactly the official 2-pass code. The regularizer never forces a sync: on non-final
    accumulation micro-steps `accelerator.accumulate` already disables sync for both passes.

    Mixed precision: both passes go through `accelerator.backward` (GradScaler, 1/accumulation-steps loss scaling);
    the forward of a model prepared by accelerate runs under its autocast, otherwise wrap the body of `loss_fn` in
    `accelerator.autocast()`.

    Patch ratio sampling: by default each process draws its own r with its own `random.Random()` (seeded by the OS),
    like the official code whose Python `random` is never seeded, so the all-reduced gradient mixes one r per rank.
    Pass a seeded `random.Random` or `torch.Generator` for reproducibility, `share_ratio=True` to broadcast rank
    0's r to all ranks (one tiny collective per call), or a fixed `ratio`.

    Memory (N = number of trainable parameters found in the anchor): the θ_CLIP anchor is copied once at
    construction, only for those parameters, in float32 (4N bytes: ≈0.35 GB for the ViT-B/16 vision tower, ≈1.2 GB
    for ViT-L/14's) or, per tensor, in float16 where that is exact (2N bytes for OpenAI's float16 release), on each parameter's device or on `anchor_device` (e.g. "cpu": the anchor then crosses to the
    accelerator tensor by tensor when it is used). That is the only copy of the weights the regularizer adds: no
    backup of θ, no θ_r kept for the backward; the transient θ_r of the layer at hand is the only other weight
    memory. Under mixed precision, the low-precision casts of θ_r that the layers save for the backward are kept
    (half a copy in float16/bfloat16, like the autocast weight cache of the plain pass). What a regularized step
    does cost over a plain one is inherent to summing two gradients: the gradients of pass 1 are complete while
    the plain pass holds its activations (exactly as on the second micro-step of gradient accumulation), one copy
    of the trainable weights at the peak. Compute: 2 forward + 2 backward passes per step, plus one interpolation
    of each weight in the forward and one in the backward. `benchmarks/bench_training_step.py` measures both
    (README, "Fine-tune on your videos").

    Differences from the official code, by design: only trainable parameters are interpolated (the official code
    swaps the whole state dict, but frozen tensors such as the Open-VCLIP text tower equal θ_CLIP, where θ_r = θ), and
    trainable parameters absent from the anchor stay at θ (`skipped_names`; Open-VCLIP has none).

    Args:
        model: the model being trained, preferably as returned by `accelerator.prepare` (the module whose forward
            the training step calls, so that its `no_sync` applies).
        anchor_state_dict: θ_CLIP in the model's parameter names (wrapper prefixes are ignored); a path is read
            with `load_checkpoint_state_dict`. Only the trainable parameters' entries are kept (copied).
        low, high: bounds of the uniform patch ratio distribution, `0 <= low <= high <= 1`.
        weight: β, the weight of the interpolated loss.
        ratio: a fixed patch ratio instead of sampling.
        generator: a `random.Random` or `torch.Generator` to draw r from (default: a fresh `random.Random()`).
        share_ratio: draw r on rank 0 and broadcast it when `torch.distributed` is initialized.
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
        self.model = model
        self.weight = float(weight)
        self.ratio = None if ratio is None else _check_ratio(ratio)
        self.generator = random.Random() if generator is None else generator
        self.share_ratio = share_ratio
        if not isinstance(anchor_state_dict, Mapping):
            anchor_state_dict = load_checkpoint_state_dict(anchor_state_dict)
        matched, skipped = _matched_parameters(model, anchor_state_dict, trainable_only=True)
        self.interpolated_names = tuple(name for name, _, _ in matched)
        self.skipped_names = tuple(skipped)
        sharded = [name for name, param, _ in matched if _is_sharded(param)]
        if sharded:
            raise ValueError(
                "the Interpolated Weight Optimization regularizer needs whole (unsharded) parameters; these are "
                f"sharded (FSDP / DTensor): {_listed(sharded)}. Train with DDP, or without the regularizer."
            )
        self._pairs = [
            (param, _compact_anchor(anchor.detach().to(device=anchor_device or param.device, dtype=torch.float32)))
            for _, param, anchor in matched
        ]

    @property
    def anchor_num_bytes(self) -> int:
        """Bytes held by the θ_CLIP anchor copy (trainable parameters only; float16 where that is exact)."""
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
        """Context manager: inside the block every use of a trainable parameter in a torch operation (forward and
        backward) sees θ_r = ratio·θ_CLIP + (1 − ratio)·θ, with the straight-through gradient; θ itself is never
        modified, also on an exception. See `_InterpolatedWeightsMode`."""
        return _weights_interpolated_per_operation(self._pairs, _check_ratio(ratio))

    def _no_sync(self, accelerator: Any):
        """Disable the gradient all-reduce for pass 1. On a non-final accumulation micro-step accelerate has already
        disabled it; entering `no_sync` again would be harmless for DDP but would re-enable sync on exit for FSDP2."""
        if accelerator is not None:
            return accelerator.no_sync(self.model) if accelerator.sync_gradients else nullcontext()
        if isinstance(self.model, nn.parallel.DistributedDataParallel):
            return self.model.no_sync()
        return nullcontext()

    def backward(self, loss_fn: Callable[[nn.Module], torch.Tensor], accelerator: Any = None) -> InterpolatedLoss:
        """Pass 1 of an Interpolated Weight Optimization step: back-propagate `weight · loss_fn(model)` at θ_r.

        Adds `weight · ∇_{θ'} L(θ')|_{θ'=θ_r}` to the `.grad` of the interpolated parameters (straight-through, no
        `(1 − r)` factor); frozen parameters keep `grad=None`. Forward and backward run inside the model's `no_sync`
        so nothing is all-reduced here; afterwards the parameters hold θ again, bit-exactly (also if `loss_fn`
        raises), ready for the plain pass, which must follow in the same step.

        Args:
            loss_fn: computes the scalar training loss of the current batch from the model it is given (the
                regularizer's `model`); called once, at θ_r.
            accelerator: an `accelerate.Accelerator` (its `no_sync` and `backward`, hence GradScaler and gradient
                accumulation scaling). Without it: `model.no_sync()` for a DDP model and `loss.backward()`.

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
