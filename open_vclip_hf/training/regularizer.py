# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Interpolated Weight Optimization, the training regularizer of Open-VCLIP (method doc section 3.1): the official
two-pass procedure as a weight swap (`weights.interpolated_parameters`), usable under DDP and FSDP2."""

import math
import random
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..weights import (
    _check_ratio,
    _is_sharded,
    _listed,
    _loaded,
    _local_anchor,
    _matched_parameters,
    _parameters_at_ratio,
    _reshard,
    load_checkpoint_state_dict,
)


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
