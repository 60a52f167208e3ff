# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Interpolated Weight Optimization, the training regularizer of Open-VCLIP (method doc section 3.1), as a weight
swap (`weights.parameters_at_ratio`) usable under DDP and FSDP2."""

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
    check_ratio,
    is_dtensor,
    listed_names,
    load_checkpoint_state_dict,
    matched_parameters,
    parameters_at_ratio,
)


@dataclass(frozen=True)
class InterpolatedLoss:
    """What `InterpolatedWeightRegularizer.backward` did: `loss` = L(θ_r) (detached, before β) at the ratio `ratio`."""

    loss: torch.Tensor
    ratio: float


class InterpolatedWeightRegularizer:
    """Interpolated Weight Optimization with the official code's semantics (method doc 3.1,
    `tools/train_net.py:352-397, 515-545`).

    For a batch it samples `r ~ U(low, high)` and adds `weight · ∇_{θ'} L(θ')|_{θ'=θ_r}`, `θ_r = r·θ_CLIP + (1 − r)·θ`,
    to the gradients of θ: straight-through, without the factor `(1 − r)` that the official code drops on purpose
    (its commented-out `* (1-patch_ratio)`, method doc 3.1). Under FSDP2 all ranks need one r (`share_ratio=True`
    or a fixed `ratio`); DeepSpeed ZeRO-3 is refused. By design, unlike the official code (which swaps the whole state
    dict), only trainable parameters are interpolated: frozen ones (the text tower) equal θ_CLIP, where θ_r = θ.
    Once per micro-batch::

        regularizer = InterpolatedWeightRegularizer(model, clip_state_dict)  # model as returned by accelerator.prepare
        with accelerator.accumulate(model):
            loss_fn = lambda m: criterion(m(**batch.inputs).logits_per_video, batch.labels)
            regularizer.backward(loss_fn, accelerator)  # pass 1 at θ_r, never all-reduced
            accelerator.backward(loss_fn(model))        # pass 2 at θ, all-reduces the sum on sync steps

    Args:
        model: the model being trained, preferably as returned by `accelerator.prepare`.
        anchor_state_dict: θ_CLIP in the model's parameter names (wrapper prefixes ignored), or a checkpoint path.
        low, high, ratio: r ~ U(low, high), `0 <= low <= high <= 1`, or the fixed `ratio`.
        weight: β, the weight of the interpolated loss.
        generator: a `random.Random` or `torch.Generator` to draw r from (default: unseeded, like the official code).
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
        self.low, self.high = check_ratio(low, "low"), check_ratio(high, "high")
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
                f"parameters: {listed_names(partitioned)}); shard with FSDP2 (torch.distributed.fsdp.fully_shard)."
            )
        self.model, self.weight, self.share_ratio = model, float(weight), share_ratio
        self.ratio = None if ratio is None else check_ratio(ratio)
        self.generator = random.Random() if generator is None else generator
        if not isinstance(anchor_state_dict, Mapping):
            anchor_state_dict = load_checkpoint_state_dict(anchor_state_dict)
        matched, skipped = matched_parameters(model, anchor_state_dict, trainable_only=True)
        self.interpolated_names = tuple(name for name, _, _ in matched)
        self.skipped_names = tuple(skipped)
        sharded = [
            name
            for name, param, _ in matched
            if is_dtensor(param) and not all(placement.is_replicate() for placement in param.placements)
        ]
        if sharded and self.ratio is None and not share_ratio:
            raise ValueError(
                "sharded parameters need one patch ratio on every rank, or FSDP2 would gather shards patched with "
                f"different ratios into one weight ({listed_names(sharded)}): pass share_ratio=True (or a fixed ratio)"
            )
        self._pairs = []
        for _, param, anchor in matched:
            anchor = anchor.to(anchor_device or param.device, torch.float32)
            half = anchor.to(torch.float16)  # OpenAI's CLIP is float16: then exact in half the memory
            self._pairs.append((param, half if torch.equal(half.to(torch.float32), anchor) else anchor.clone()))

    @property
    def anchor_num_bytes(self) -> int:
        """Bytes held by the θ_CLIP anchor copy on this process."""
        return sum(anchor.numel() * anchor.element_size() for _, anchor in self._pairs)

    def sample_ratio(self) -> float:
        """The fixed `ratio`, or a draw from U(low, high) (rank 0's draw on every rank with `share_ratio`)."""
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
        """Context manager: the trainable parameters hold θ_r inside the block, θ again (bit for bit) after it."""
        return parameters_at_ratio(self.model, self._pairs, ratio)

    @contextmanager
    def _no_sync(self, accelerator: Any) -> Iterator[None]:
        """No gradient reduction in pass 1 (unless accelerate has disabled it already: FSDP2 would re-enable it)."""
        if accelerator is not None:
            with accelerator.no_sync(self.model) if accelerator.sync_gradients else nullcontext():
                yield
        elif isinstance(self.model, nn.parallel.DistributedDataParallel):
            with self.model.no_sync():
                yield
        elif hasattr(self.model, "set_requires_gradient_sync"):  # an FSDP2 module
            self.model.set_requires_gradient_sync(False)
            try:
                yield
            finally:
                self.model.set_requires_gradient_sync(True)
        else:
            yield

    def backward(self, loss_fn: Callable[[nn.Module], torch.Tensor], accelerator: Any = None) -> InterpolatedLoss:
        """Pass 1 of a step: sample r, back-propagate `weight · loss_fn(model)` at θ_r (method doc 3.1; not reduced
        here, with `accelerator.backward` if given) and restore θ."""
        ratio = self.sample_ratio()
        with self._no_sync(accelerator), self.interpolated_parameters(ratio):
            loss = loss_fn(self.model)
            backward = torch.Tensor.backward if accelerator is None else accelerator.backward
            backward(self.weight * loss)
        return InterpolatedLoss(loss=loss.detach(), ratio=ratio)
