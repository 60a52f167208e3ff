"""Tests of `weights` and `training` (regularizer, swa): Interpolated Weight Optimization, SWA and patching (method
doc section 3).

Every expected value is computed here independently of the module: interpolated weights by hand
(`r * anchor + (1 - r) * theta`) and gradients with separate deep-copied models whose weights are set by hand.
"""

import copy
import json
import os
import random
import weakref
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import save_file
from torch import nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint

from open_vclip_hf.training import (
    InterpolatedWeightRegularizer,
    average_checkpoints,
    enable_activation_checkpointing,
    select_epoch_checkpoints,
)
from open_vclip_hf.weights import (
    CheckpointError,
    interpolate_weights,
    interpolated_parameters,
    load_checkpoint_state_dict,
    patch_model_,
)

# --------------------------------------------------------------------------------------------------------------------
# A tiny CLIP-like model: trainable "visual" tower and logit scale, frozen "text" tower, an integer buffer
# --------------------------------------------------------------------------------------------------------------------


class TinyVideoCLIP(nn.Module):
    def __init__(self, seed: int, gradient_checkpointing: bool = False, use_reentrant: bool = False):
        super().__init__()
        self.gradient_checkpointing, self.use_reentrant = gradient_checkpointing, use_reentrant
        generator = torch.Generator().manual_seed(seed)
        self.visual = nn.Sequential(nn.Linear(6, 8), nn.GELU(), nn.Linear(8, 4))
        self.text = nn.Linear(5, 4)
        self.logit_scale = nn.Parameter(torch.tensor(1.5))
        self.register_buffer("num_updates", torch.tensor(7))
        with torch.no_grad():
            for param in self.parameters():
                param.copy_(torch.randn(param.shape, generator=generator))
        self.text.requires_grad_(False)  # the Open-VCLIP text tower is effectively frozen (method doc 2)

    def forward(self, videos: torch.Tensor, class_texts: torch.Tensor) -> torch.Tensor:
        if self.gradient_checkpointing:  # the visual tower is recomputed during backward
            video_embeds = F.normalize(checkpoint(self.visual, videos, use_reentrant=self.use_reentrant), dim=-1)
        else:
            video_embeds = F.normalize(self.visual(videos), dim=-1)
        text_embeds = F.normalize(self.text(class_texts), dim=-1)
        return self.logit_scale.exp() * video_embeds @ text_embeds.T


@dataclass
class Batch:
    videos: torch.Tensor
    class_texts: torch.Tensor
    labels: torch.Tensor


def make_batch(seed: int) -> Batch:
    generator = torch.Generator().manual_seed(seed)
    return Batch(
        torch.randn(5, 6, generator=generator),
        torch.randn(3, 5, generator=generator),
        torch.randint(0, 3, (5,), generator=generator),
    )


def batch_loss(model: nn.Module, batch: Batch) -> torch.Tensor:
    return F.cross_entropy(model(batch.videos, batch.class_texts), batch.labels)


def clip_anchor() -> dict[str, torch.Tensor]:
    return TinyVideoCLIP(seed=1).state_dict()


def trainable_names(model: nn.Module) -> list[str]:
    return [name for name, param in model.named_parameters() if param.requires_grad]


def hand_interpolated_state(model: nn.Module, anchor: dict, ratio: float) -> dict[str, torch.Tensor]:
    """θ_r for the trainable parameters, θ for everything else."""
    trainable = set(trainable_names(model))
    return {
        key: ratio * anchor[key] + (1 - ratio) * value if key in trainable else value.clone()
        for key, value in model.state_dict().items()
    }


def gradients_at(model: nn.Module, state: dict, batch, loss=batch_loss) -> dict[str, torch.Tensor]:
    """∇L at the weights `state`, on an independent copy of `model`."""
    twin = copy.deepcopy(model)
    twin.load_state_dict(state)
    twin.zero_grad(set_to_none=True)
    loss(twin, batch).backward()
    return {name: param.grad.clone() for name, param in twin.named_parameters() if param.requires_grad}


def expected_gradients(model: nn.Module, anchor: dict, ratio: float, weight: float, batch, loss=batch_loss) -> dict:
    """g = ∇L(θ) + β·∇_{θ'}L(θ')|θ'=θ_r, from two explicit independent passes (method doc 3.1)."""
    plain = gradients_at(model, model.state_dict(), batch, loss)
    interpolated = gradients_at(model, hand_interpolated_state(model, anchor, ratio), batch, loss)
    return {name: plain[name] + weight * interpolated[name] for name in plain}


def regularized_step(model: nn.Module, regularizer: InterpolatedWeightRegularizer, batch, loss=batch_loss):
    result = regularizer.backward(lambda m: loss(m, batch))
    loss(model, batch).backward()
    return result


def assert_gradients(model: nn.Module, expected: dict) -> None:
    for name, param in model.named_parameters():
        if name in expected:
            torch.testing.assert_close(param.grad, expected[name], atol=1e-6, rtol=0, msg=name)
        else:
            assert param.grad is None, name


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.clone() for key, value in model.state_dict().items()}


def assert_bit_exact(model: nn.Module, saved: dict) -> None:
    for key, value in model.state_dict().items():
        assert torch.equal(value, saved[key]), key


# --------------------------------------------------------------------------------------------------------------------
# The regularizer (method doc 3.1)
# --------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("anchor_device", [None, "cpu"])
def test_regularized_gradient_equals_two_explicit_passes_at_fixed_ratio(anchor_device):
    model, anchor, batch = TinyVideoCLIP(seed=0), clip_anchor(), make_batch(0)
    regularizer = InterpolatedWeightRegularizer(model, anchor, weight=0.5, ratio=0.37, anchor_device=anchor_device)
    result = regularized_step(model, regularizer, batch)
    assert result.ratio == 0.37
    assert_gradients(model, expected_gradients(model, anchor, 0.37, 0.5, batch))
    hand_loss = batch_loss(copy.deepcopy(model).requires_grad_(False), batch)  # θ is restored: this is L(θ)
    interpolated_twin = copy.deepcopy(model)
    interpolated_twin.load_state_dict(hand_interpolated_state(model, anchor, 0.37))
    torch.testing.assert_close(result.loss, batch_loss(interpolated_twin, batch).detach(), atol=1e-6, rtol=0)
    assert not torch.allclose(result.loss, hand_loss)


@pytest.mark.parametrize("use_reentrant", [False, True])
def test_gradient_checkpointing_recomputes_at_the_interpolated_weights(use_reentrant):
    """The backward runs the checkpointed forward again, outside the caller's torch-function modes: it must see θ_r."""
    model, anchor = TinyVideoCLIP(seed=0, gradient_checkpointing=True, use_reentrant=use_reentrant), clip_anchor()
    batch = make_batch(0)
    batch.videos.requires_grad_(use_reentrant)  # reentrant checkpointing needs an input that requires grad
    regularizer = InterpolatedWeightRegularizer(model, anchor, ratio=0.45)
    regularized_step(model, regularizer, batch)
    model.gradient_checkpointing = False
    assert_gradients(model, expected_gradients(model, anchor, 0.45, 0.5, batch))


def test_mixed_precision_gradient_equals_two_explicit_autocast_passes():
    """Under autocast the layers cast θ_r to bfloat16 themselves; the result must be the two passes of the recipe."""

    def amp_loss(m, batch):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return batch_loss(m, batch)

    model, anchor, batch = TinyVideoCLIP(seed=0), clip_anchor(), make_batch(0)
    regularizer = InterpolatedWeightRegularizer(model, anchor, ratio=0.35)
    regularized_step(model, regularizer, batch, amp_loss)
    assert_gradients(model, expected_gradients(model, anchor, 0.35, 0.5, batch, amp_loss))


def test_gradient_is_straight_through_not_the_exact_derivative():
    """The official code drops the (1 − r) factor of ∂θ_r/∂θ (method doc 3.1)."""
    model, anchor, batch = TinyVideoCLIP(seed=0), clip_anchor(), make_batch(0)
    regularizer = InterpolatedWeightRegularizer(model, anchor, weight=1.0, ratio=0.5)
    regularizer.backward(lambda m: batch_loss(m, batch))
    straight_through = gradients_at(model, hand_interpolated_state(model, anchor, 0.5), batch)
    for name in trainable_names(model):
        param = dict(model.named_parameters())[name]
        torch.testing.assert_close(param.grad, straight_through[name], atol=1e-6, rtol=0)


def test_regularized_gradient_with_seeded_sampled_ratio():
    model, anchor, batch = TinyVideoCLIP(seed=0), clip_anchor(), make_batch(3)
    regularizer = InterpolatedWeightRegularizer(model, anchor, generator=random.Random(11))
    result = regularized_step(model, regularizer, batch)
    assert result.ratio == random.Random(11).uniform(0.0, 0.6)
    assert_gradients(model, expected_gradients(model, anchor, result.ratio, 0.5, batch))


def test_ratio_sampling_stays_in_range_and_is_reproducible():
    model, anchor = TinyVideoCLIP(seed=0), clip_anchor()

    def draws(generator, low=0.1, high=0.4):
        regularizer = InterpolatedWeightRegularizer(model, anchor, low=low, high=high, generator=generator)
        return [regularizer.sample_ratio() for _ in range(200)]

    for make_generator in (lambda: random.Random(5), lambda: torch.Generator().manual_seed(5)):
        first, second = draws(make_generator()), draws(make_generator())
        assert first == second
        assert all(0.1 <= ratio <= 0.4 for ratio in first)
        assert len(set(first)) == len(first)
    assert draws(random.Random(5)) != draws(random.Random(6))
    assert set(draws(None, low=0.25, high=0.25)) == {0.25}
    fixed = InterpolatedWeightRegularizer(model, anchor, ratio=0.3)
    assert {fixed.sample_ratio() for _ in range(5)} == {0.3}


def test_weights_are_restored_bit_exactly_after_a_step():
    model, anchor, batch = TinyVideoCLIP(seed=0), clip_anchor(), make_batch(0)
    saved = snapshot(model)
    seen_inside = {}

    def loss_fn(m):
        seen_inside.update(snapshot(m))
        return batch_loss(m, batch)

    regularizer = InterpolatedWeightRegularizer(model, anchor, generator=random.Random(0))
    for _ in range(5):  # drifting a little each step would show up after a few
        result = regularizer.backward(loss_fn)
        assert_bit_exact(model, saved)
    hand = hand_interpolated_state(model, anchor, result.ratio)
    for key, value in seen_inside.items():
        assert torch.equal(value, hand[key]), key  # the official expression, bit for bit
    assert torch.equal(seen_inside["text.weight"], saved["text.weight"])  # frozen: not interpolated


def test_weights_are_restored_bit_exactly_after_an_exception_in_the_loss():
    model, anchor, batch = TinyVideoCLIP(seed=0), clip_anchor(), make_batch(0)
    saved = snapshot(model)

    def failing_loss(m):
        batch_loss(m, batch)
        raise RuntimeError("data loader hiccup")

    regularizer = InterpolatedWeightRegularizer(model, anchor, ratio=0.6)
    with pytest.raises(RuntimeError, match="hiccup"):
        regularizer.backward(failing_loss)
    assert_bit_exact(model, saved)
    with pytest.raises(RuntimeError, match="hiccup"), regularizer.interpolated_parameters(0.2):
        raise RuntimeError("data loader hiccup")
    assert_bit_exact(model, saved)


def test_the_pass_swaps_the_parameters_in_place_and_restores_them_from_a_backup():
    """The official procedure: the parameters themselves (the objects the optimizer holds) hold θ_r during the pass,
    and θ afterwards; the straight-through gradient lands in their `.grad`."""
    model, anchor, batch = TinyVideoCLIP(seed=0), clip_anchor(), make_batch(0)
    saved = snapshot(model)
    parameters = dict(model.named_parameters())
    hand = hand_interpolated_state(model, anchor, 0.3)

    def loss_fn(m):
        for name, param in m.named_parameters():
            assert param is parameters[name], name
            assert torch.equal(param.detach(), hand[name]), name
        return batch_loss(m, batch)

    regularizer = InterpolatedWeightRegularizer(model, anchor, ratio=0.3)
    regularizer.backward(loss_fn)
    assert dict(model.named_parameters()) == parameters
    assert_bit_exact(model, saved)
    interpolated = gradients_at(model, hand, batch)
    assert_gradients(model, {name: 0.5 * grad for name, grad in interpolated.items()})


def test_a_compiled_model_sees_the_interpolated_weights_at_every_ratio():
    """`torch.compile` reads the parameters as graph inputs: a swap between two calls reaches the compiled code."""
    model, anchor, batch = TinyVideoCLIP(seed=0), clip_anchor(), make_batch(0)
    compiled = torch.compile(model, backend="aot_eager")
    saved = snapshot(model)
    regularizer = InterpolatedWeightRegularizer(compiled, anchor, generator=random.Random(4))
    assert set(regularizer.interpolated_names) == {f"_orig_mod.{name}" for name in trainable_names(model)}
    for _ in range(2):  # two ratios through the same compiled graph
        model.zero_grad(set_to_none=True)
        result = regularized_step(compiled, regularizer, batch)
        assert_bit_exact(model, saved)
        assert_gradients(model, expected_gradients(model, anchor, result.ratio, 0.5, batch))


def test_the_regularizer_imports_no_private_torch_api():
    """The regularizer is a swap: no torch-function mode, no saved-tensor hooks, no global module hooks and no private
    (`_`-prefixed) torch name."""
    import ast
    import inspect

    from open_vclip_hf import weights
    from open_vclip_hf.training import regularizer

    source = inspect.getsource(weights) + inspect.getsource(regularizer)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("torch"):
            names = [*node.module.split("."), *(alias.name for alias in node.names)]
            assert not any(name.startswith("_") for name in names), ast.unparse(node)
        if isinstance(node, ast.Attribute) and ast.unparse(node).startswith("torch."):
            assert not any(part.startswith("_") for part in ast.unparse(node).split(".")), ast.unparse(node)
    for gone in ("TorchFunctionMode", "saved_tensors_hooks", "register_module_forward", "_local_tensor"):
        assert gone not in source, gone


class ParentUsesChildWeight(nn.Module):
    """A parameter read outside its own module's forward (like CLIP's `interpolate_pos_encoding` reading
    `position_embedding.weight`), through a property (`.T`): it must see θ_r too."""

    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(4, 4)
        self.scale = nn.Parameter(torch.tensor(0.7))

    def forward(self, x):
        return ((x @ self.inner.weight.T) * self.scale).sum()


def test_parameters_read_outside_their_module_see_the_interpolated_weights():
    torch.manual_seed(0)
    model, x = ParentUsesChildWeight(), torch.randn(3, 4)
    anchor = {k: torch.randn_like(v) for k, v in model.state_dict().items()}
    regularizer = InterpolatedWeightRegularizer(model, anchor, ratio=0.4, weight=1.0)
    result = regularizer.backward(lambda m: m(x))
    twin = copy.deepcopy(model)
    twin.load_state_dict(hand_interpolated_state(model, anchor, 0.4))
    expected_loss = twin(x)
    expected_loss.backward()
    torch.testing.assert_close(result.loss, expected_loss.detach(), atol=1e-6, rtol=0)
    for (name, param), twin_param in zip(model.named_parameters(), twin.parameters()):
        torch.testing.assert_close(param.grad, twin_param.grad, atol=1e-6, rtol=0, msg=name)


def test_regularizer_refuses_deepspeed_zero3_parameters_and_names_fsdp2():
    model, anchor = TinyVideoCLIP(seed=0), clip_anchor()
    model.visual[0].weight.ds_id = 3  # what a DeepSpeed ZeRO-3 partitioned parameter carries
    with pytest.raises(ValueError, match=r"ZeRO-3.*visual\.0\.weight.*FSDP2"):
        InterpolatedWeightRegularizer(model, anchor)


def test_frozen_parameters_get_no_gradient_and_are_not_kept_in_the_anchor():
    model, anchor, batch = TinyVideoCLIP(seed=0), clip_anchor(), make_batch(0)
    regularizer = InterpolatedWeightRegularizer(model, anchor, ratio=0.4)
    regularized_step(model, regularizer, batch)
    assert model.text.weight.grad is None and model.text.bias.grad is None
    assert set(regularizer.interpolated_names) == set(trainable_names(model))
    assert regularizer.skipped_names == ()
    trainable_numel = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert regularizer.anchor_num_bytes == 4 * trainable_numel


def test_a_float16_exact_anchor_is_kept_in_half_the_memory_with_the_same_result():
    """OpenAI's CLIP weights are float16: such an anchor is stored as float16, θ_r is unchanged to the bit."""
    model, batch = TinyVideoCLIP(seed=0), make_batch(0)
    anchor = {key: value.half().float() if value.is_floating_point() else value for key, value in clip_anchor().items()}
    regularizer = InterpolatedWeightRegularizer(model, anchor, ratio=0.45)
    trainable_numel = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert regularizer.anchor_num_bytes == 2 * trainable_numel
    with regularizer.interpolated_parameters(0.45):
        seen = {name: param.detach().clone() for name, param in model.named_parameters() if param.requires_grad}
    hand = hand_interpolated_state(model, anchor, 0.45)
    for name, value in seen.items():
        assert torch.equal(value, hand[name]), name
    regularized_step(model, regularizer, batch)
    assert_gradients(model, expected_gradients(model, anchor, 0.45, 0.5, batch))


def test_anchor_is_a_private_copy():
    """Building from the model's own state dict (which shares storage with the parameters) must not alias."""
    model, batch = TinyVideoCLIP(seed=0), make_batch(0)
    anchor = model.state_dict()
    theta_clip = model.visual[0].weight.detach().clone()
    regularizer = InterpolatedWeightRegularizer(model, anchor, ratio=1.0)
    with torch.no_grad():
        model.visual[0].weight.add_(1.0)  # a training step: changes `anchor` too, but not the regularizer's copy
    with regularizer.interpolated_parameters(1.0):
        assert torch.equal(model.visual[0].weight, theta_clip)
    regularized_step(model, regularizer, batch)


def test_gradient_accumulation_of_two_micro_steps_is_the_sum():
    model, anchor = TinyVideoCLIP(seed=0), clip_anchor()
    regularizer = InterpolatedWeightRegularizer(model, anchor, weight=0.5, generator=random.Random(2))
    batches = [make_batch(10), make_batch(11)]
    ratios = [regularized_step(model, regularizer, batch).ratio for batch in batches]
    assert ratios[0] != ratios[1]
    expected = [expected_gradients(model, anchor, r, 0.5, batch) for r, batch in zip(ratios, batches)]
    assert_gradients(model, {name: expected[0][name] + expected[1][name] for name in expected[0]})


class RecordingAccelerator:
    """Stands in for `accelerate.Accelerator`: a GradScaler-like loss scale and a recorded `no_sync`."""

    def __init__(self, sync_gradients: bool, scale: float = 8.0):
        self.sync_gradients, self.scale, self.events = sync_gradients, scale, []

    def backward(self, loss):
        self.events.append(("backward", loss.item()))
        (self.scale * loss).backward()

    @contextmanager
    def no_sync(self, model):
        self.events.append(("enter no_sync", model))
        yield
        self.events.append(("exit no_sync", model))


@pytest.mark.parametrize("sync_gradients", [True, False])
def test_accelerator_backward_and_no_sync_are_used(sync_gradients):
    """Pass 1 goes through `accelerator.backward` (loss scaling) inside `no_sync` on sync steps; on non-final
    accumulation micro-steps sync is already off and the regularizer does not enter (and leave) `no_sync` again."""
    model, anchor, batch = TinyVideoCLIP(seed=0), clip_anchor(), make_batch(0)
    accelerator = RecordingAccelerator(sync_gradients)
    regularizer = InterpolatedWeightRegularizer(model, anchor, weight=0.5, ratio=0.2)
    result = regularizer.backward(lambda m: batch_loss(m, batch), accelerator)
    backward = ("backward", pytest.approx(0.5 * result.loss.item()))
    if sync_gradients:
        assert accelerator.events == [("enter no_sync", model), backward, ("exit no_sync", model)]
    else:
        assert accelerator.events == [backward]
    interpolated = gradients_at(model, hand_interpolated_state(model, anchor, 0.2), batch)
    assert_gradients(model, {name: 8.0 * 0.5 * grad for name, grad in interpolated.items()})


def test_trainable_parameters_missing_from_the_anchor_stay_at_theta():
    model, batch = TinyVideoCLIP(seed=0), make_batch(0)
    anchor = {key: value for key, value in clip_anchor().items() if key != "logit_scale"}
    regularizer = InterpolatedWeightRegularizer(model, anchor, ratio=0.5)
    assert regularizer.skipped_names == ("logit_scale",)
    regularized_step(model, regularizer, batch)
    full_anchor = {**anchor, "logit_scale": model.logit_scale.detach().clone()}  # interpolating with itself = θ
    assert_gradients(model, expected_gradients(model, full_anchor, 0.5, 0.5, batch))


def test_regularizer_rejects_bad_configuration():
    model, anchor = TinyVideoCLIP(seed=0), clip_anchor()
    with pytest.raises(ValueError, match="no trainable parameter"):
        InterpolatedWeightRegularizer(model, {f"model.{key}": value for key, value in anchor.items()})
    with pytest.raises(ValueError, match="visual.0.weight"):
        InterpolatedWeightRegularizer(model, {**anchor, "visual.0.weight": torch.zeros(2, 2)})
    with pytest.raises(ValueError, match="low"):
        InterpolatedWeightRegularizer(model, anchor, low=0.5, high=0.2)
    with pytest.raises(ValueError, match="high"):
        InterpolatedWeightRegularizer(model, anchor, high=1.5)
    with pytest.raises(ValueError, match="ratio"):
        InterpolatedWeightRegularizer(model, anchor, ratio=-0.1)
    with pytest.raises(ValueError, match="weight"):
        InterpolatedWeightRegularizer(model, anchor, weight=float("nan"))
    with pytest.raises(ValueError, match="fixed ratio"):
        InterpolatedWeightRegularizer(model, anchor, ratio=0.2, generator=random.Random(0))


def test_regularizer_reads_the_anchor_from_a_checkpoint_file(tmp_path):
    model, anchor, batch = TinyVideoCLIP(seed=0), clip_anchor(), make_batch(0)
    save_file(anchor, tmp_path / "clip.safetensors")
    regularizer = InterpolatedWeightRegularizer(model, tmp_path / "clip.safetensors", ratio=0.25)
    regularized_step(model, regularizer, batch)
    assert_gradients(model, expected_gradients(model, anchor, 0.25, 0.5, batch))


@pytest.mark.parametrize("gradient_checkpointing", [False, True])
def test_open_vclip_model_vision_tower_is_regularized_text_tower_untouched(gradient_checkpointing):
    """On the real model: every trainable weight has a CLIP anchor entry under its transformers name; with
    transformers' gradient checkpointing the recomputed layers see θ_r as well."""
    from open_vclip_hf import OpenVCLIPConfig, OpenVCLIPModel

    tower = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4)
    config = OpenVCLIPConfig(
        text_config=dict(tower, vocab_size=99, max_position_embeddings=16, bos_token_id=97, eos_token_id=98),
        vision_config=dict(tower, image_size=32, patch_size=8),
        projection_dim=16,
        num_frames=3,
    )
    torch.manual_seed(0)
    model, anchor = OpenVCLIPModel(config), OpenVCLIPModel(config).state_dict()
    model.text_model.requires_grad_(False)
    model.text_projection.requires_grad_(False)
    if gradient_checkpointing:
        enable_activation_checkpointing(model)
        model.train()
        assert model.vision_model.encoder.gradient_checkpointing
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(2, 97, (4, 7), generator=generator)
    input_ids[:, 0], input_ids[:, -1] = 97, 98
    batch = {
        "pixel_values": torch.randn(3, 3, 3, 32, 32, generator=generator),
        "input_ids": input_ids,
        "labels": torch.tensor([0, 3, 1]),
    }

    def loss(m, batch):
        return m(**batch).loss

    saved = snapshot(model)
    regularizer = InterpolatedWeightRegularizer(model, anchor, ratio=0.5)
    assert regularizer.skipped_names == ()
    assert set(regularizer.interpolated_names) == set(trainable_names(model))
    trained_prefixes = ("vision_model.", "visual_projection.", "logit_scale")
    assert all(name.startswith(trained_prefixes) for name in trainable_names(model))
    regularized_step(model, regularizer, batch, loss)
    assert_bit_exact(model, saved)
    assert_gradients(model, expected_gradients(model, anchor, 0.5, 0.5, batch, loss))  # text tower: grad None


# --------------------------------------------------------------------------------------------------------------------
# Patching (method doc 3.3)
# --------------------------------------------------------------------------------------------------------------------


def test_interpolate_weights_ends_and_middle():
    weights, anchor = TinyVideoCLIP(seed=0).state_dict(), clip_anchor()
    anchor["num_updates"] = torch.tensor(99)
    at_zero = interpolate_weights(weights, anchor, 0.0)
    at_one = interpolate_weights(weights, anchor, 1.0)
    halfway = interpolate_weights(weights, anchor, 0.5)
    for key, value in weights.items():
        assert torch.equal(at_zero[key], value)
        if value.is_floating_point():
            assert torch.equal(at_one[key], anchor[key])
            torch.testing.assert_close(halfway[key], (value + anchor[key]) / 2, atol=1e-7, rtol=0)
        else:  # integer buffers are copied from the weights, never interpolated
            assert torch.equal(at_one[key], value) and torch.equal(halfway[key], value)
            assert halfway[key] is not value


def test_interpolate_weights_computes_in_float32_and_keeps_the_dtype():
    weights = {"w": torch.tensor([1.0, 2.0, 1000.0], dtype=torch.float16)}
    anchor = {"w": torch.tensor([3.0, 2.5, 1001.0], dtype=torch.float32)}
    patched = interpolate_weights(weights, anchor, 0.3)
    assert patched["w"].dtype == torch.float16
    hand = (0.3 * anchor["w"] + 0.7 * weights["w"].float()).half()
    assert torch.equal(patched["w"], hand)


def test_interpolate_weights_errors_name_the_keys():
    weights, anchor = {"a": torch.ones(2), "b": torch.ones(3)}, {"a": torch.ones(2), "c": torch.ones(3)}
    with pytest.raises(ValueError, match=r"keys only in weights: b.*keys only in anchor: c"):
        interpolate_weights(weights, anchor, 0.5)
    with pytest.raises(ValueError, match=r"a \(2,\) vs \(4,\)"):
        interpolate_weights({"a": torch.ones(2)}, {"a": torch.ones(4)}, 0.5)
    for ratio in (-0.01, 1.01, float("nan")):
        with pytest.raises(ValueError, match="ratio"):
            interpolate_weights({"a": torch.ones(2)}, {"a": torch.ones(2)}, ratio)


def test_patch_model_in_place_equals_interpolate_weights():
    model, anchor = TinyVideoCLIP(seed=0), clip_anchor()
    expected = interpolate_weights(model.state_dict(), anchor, 0.6)
    parameters_before = list(model.parameters())
    patch_model_(model, anchor, 0.6)
    assert list(model.parameters()) == parameters_before  # same tensors, patched in place
    for key, value in model.state_dict().items():
        assert torch.equal(value, expected[key]), key
    with pytest.raises(ValueError, match="keys only in anchor: extra"):
        patch_model_(model, {**anchor, "extra": torch.ones(1)}, 0.5)


def test_patch_model_patches_a_tied_weight_once():
    model = nn.Sequential(nn.Embedding(4, 3), nn.Linear(3, 4, bias=False))
    model[1].weight = model[0].weight
    anchor = {key: torch.full_like(value, 2.0) for key, value in model.state_dict().items()}
    before = model[0].weight.detach().clone()
    patch_model_(model, anchor, 0.5)
    torch.testing.assert_close(model[0].weight.detach(), (before + 2.0) / 2)


def test_interpolated_parameters_context_manager_for_evaluation():
    model, anchor = TinyVideoCLIP(seed=0), clip_anchor()
    saved = snapshot(model)
    expected = interpolate_weights(saved, anchor, 0.5)
    with interpolated_parameters(model, anchor, 0.5) as patched:
        assert patched is model
        for name, param in model.named_parameters():  # frozen ones too; buffers untouched
            assert torch.equal(param.detach(), expected[name]), name
        assert torch.equal(model.num_updates, saved["num_updates"])
    assert_bit_exact(model, saved)
    wrapped = nn.ModuleDict({"module": nn.ModuleDict({"_orig_mod": model})})  # names as under DDP(torch.compile(.))
    with interpolated_parameters(wrapped, anchor, 1.0):
        assert torch.equal(model.visual[0].weight.detach(), anchor["visual.0.weight"])
    assert_bit_exact(model, saved)


# --------------------------------------------------------------------------------------------------------------------
# Reading checkpoints and SWA (method doc 3.2)
# --------------------------------------------------------------------------------------------------------------------


def epoch_state(epoch: int) -> dict[str, torch.Tensor]:
    state = TinyVideoCLIP(seed=100 + epoch).state_dict()
    state["num_updates"] = torch.tensor(epoch)
    return state


def write_checkpoint(path: Path, state: dict, form: str) -> Path:
    if form == "pyslowfast":  # {'model_state': ...} like checkpoint_epoch_00005.pyth and swa_2_22.pth
        torch.save({"epoch": 5, "model_state": state, "optimizer_state": {}, "cfg": "TRAIN: ..."}, path)
    elif form == "pth":
        torch.save(state, path)
    elif form == "safetensors":
        save_file(state, path)
    elif form == "save_pretrained":
        path.mkdir()
        save_file(state, path / "model.safetensors", metadata={"format": "pt"})
    elif form == "sharded":
        path.mkdir()
        keys = sorted(state)
        shards = {"model-00001-of-00002.safetensors": keys[:3], "model-00002-of-00002.safetensors": keys[3:]}
        weight_map = {}
        for shard, shard_keys in shards.items():
            save_file({key: state[key] for key in shard_keys}, path / shard)
            weight_map.update(dict.fromkeys(shard_keys, shard))
        (path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    elif form == "torch_folder":  # accelerate save_state with safe_serialization=False
        path.mkdir()
        torch.save(state, path / "pytorch_model.bin")
    return path


CHECKPOINT_FORMS = {
    "pyslowfast": "checkpoint_epoch_{:05d}.pyth",
    "pth": "epoch_{}.pth",
    "safetensors": "epoch_{}.safetensors",
    "save_pretrained": "epoch_{}",
    "sharded": "checkpoint-{}",
    "torch_folder": "state_{}",
}


@pytest.mark.parametrize("form", sorted(CHECKPOINT_FORMS))
def test_load_checkpoint_state_dict_reads_every_form(tmp_path, form):
    state = epoch_state(3)
    path = write_checkpoint(tmp_path / CHECKPOINT_FORMS[form].format(3), state, form)
    loaded = load_checkpoint_state_dict(path)
    assert loaded.keys() == state.keys()
    for key, value in state.items():
        assert torch.equal(loaded[key], value)


def test_average_checkpoints_equals_the_hand_computed_mean_across_forms(tmp_path):
    forms = ["pyslowfast", "safetensors", "save_pretrained", "sharded"]
    states = [epoch_state(epoch) for epoch in range(len(forms))]
    paths = [
        write_checkpoint(tmp_path / CHECKPOINT_FORMS[form].format(epoch), state, form)
        for epoch, (form, state) in enumerate(zip(forms, states))
    ]
    averaged = average_checkpoints(paths)
    assert averaged.keys() == states[0].keys()
    for key, value in averaged.items():
        if value.is_floating_point():
            hand = sum(state[key].double() for state in states) / len(states)
            assert value.dtype == torch.float32
            torch.testing.assert_close(value, hand.float(), atol=1e-7, rtol=0)
        else:
            assert torch.equal(value, states[0][key])  # integer buffers: from the first checkpoint
    float32_sum = average_checkpoints(paths, accumulator_dtype=torch.float32)
    for key, value in float32_sum.items():
        torch.testing.assert_close(value, averaged[key], atol=1e-6, rtol=0)


def test_average_checkpoints_holds_one_loaded_checkpoint_at_a_time(tmp_path):
    paths = [write_checkpoint(tmp_path / f"epoch_{i}.pth", epoch_state(i), "pth") for i in range(4)]
    calls, loaded_tensors, alive_when_called = [], [], []

    def counting_loader(path):
        alive_when_called.append(sum(any(ref() is not None for ref in refs) for refs in loaded_tensors))
        calls.append(path)
        state = load_checkpoint_state_dict(path)
        loaded_tensors.append([weakref.ref(tensor) for tensor in state.values()])
        return state

    average_checkpoints(paths, loader=counting_loader)
    assert calls == paths  # lazily, one after the other, each once
    assert alive_when_called == [0, 0, 0, 0]  # no earlier checkpoint is alive when the next one is read
    assert not any(ref() is not None for refs in loaded_tensors for ref in refs)


def test_average_checkpoints_key_mismatch_names_both_files(tmp_path):
    first = write_checkpoint(tmp_path / "epoch_1.pth", epoch_state(1), "pth")
    renamed = {("model." + key): value for key, value in epoch_state(2).items()}
    second = write_checkpoint(tmp_path / "epoch_2.safetensors", renamed, "safetensors")
    with pytest.raises(ValueError, match=r"epoch_1\.pth.*epoch_2\.safetensors.*keys only in"):
        average_checkpoints([first, second])
    with pytest.raises(ValueError, match="at least one"):
        average_checkpoints([])


def test_average_checkpoints_refuses_a_checkpoint_given_twice(tmp_path):
    """Given twice (also as ./name or through a symlink) it weighed twice in the uniform mean, silently."""
    first = write_checkpoint(tmp_path / "epoch_1.pth", epoch_state(1), "pth")
    second = write_checkpoint(tmp_path / "epoch_2.pth", epoch_state(2), "pth")
    (tmp_path / "link.pth").symlink_to(second)
    for again in (first, tmp_path / "." / "epoch_1.pth", tmp_path / "link.pth"):
        with pytest.raises(ValueError, match=rf"more than once: .*{again.name}"):
            average_checkpoints([first, second, again])


@pytest.mark.parametrize("form, name", [("pyslowfast", "swa_2_22.pth"), ("safetensors", "model.safetensors")])
def test_truncated_checkpoint_error_names_the_file(tmp_path, form, name):
    path = write_checkpoint(tmp_path / name, epoch_state(1), form)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    good = write_checkpoint(tmp_path / "good.pth", epoch_state(2), "pth")
    with pytest.raises(CheckpointError, match=f"{name}.*truncated"):
        average_checkpoints([good, path])


def test_checkpoint_reader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        average_checkpoints([tmp_path / "missing.pth"])
    (tmp_path / "empty_folder").mkdir()
    with pytest.raises(CheckpointError, match="empty_folder.*model.safetensors"):
        load_checkpoint_state_dict(tmp_path / "empty_folder")
    torch.save({"model_state": {"w": torch.ones(1), "step": 3}}, tmp_path / "odd.pth")
    with pytest.raises(CheckpointError, match="odd.pth.*not tensors: step"):
        load_checkpoint_state_dict(tmp_path / "odd.pth")
    (tmp_path / "weights.npz").write_bytes(b"")
    with pytest.raises(CheckpointError, match="weights.npz.*unknown checkpoint format"):
        load_checkpoint_state_dict(tmp_path / "weights.npz")


def test_select_epoch_checkpoints_defaults_to_epochs_2_to_22(tmp_path):
    paths = [tmp_path / f"checkpoint_epoch_{epoch:05d}.pyth" for epoch in range(1, 23)]
    random.Random(0).shuffle(paths)
    selected = select_epoch_checkpoints(paths)
    assert selected == [tmp_path / f"checkpoint_epoch_{epoch:05d}.pyth" for epoch in range(2, 23)]
    assert select_epoch_checkpoints(["run/epoch_3", "run/epoch_4.safetensors"], 3, 4) == [
        Path("run/epoch_3"),
        Path("run/epoch_4.safetensors"),
    ]
    with pytest.raises(ValueError, match=r"epochs \[22\]"):
        select_epoch_checkpoints([p for p in paths if "00022" not in p.name])
    with pytest.raises(ValueError, match="two checkpoints for epoch 5"):
        select_epoch_checkpoints(["epoch_5.pth", "checkpoint_epoch_00005.pyth"], 5, 5)
    with pytest.raises(ValueError, match="no epoch number"):
        select_epoch_checkpoints(["final.pth"])


# --------------------------------------------------------------------------------------------------------------------
# Two processes with torch.distributed (gloo, CPU): bare DDP and accelerate with gradient accumulation
# --------------------------------------------------------------------------------------------------------------------


def all_gathered(value):
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, value)
    return gathered


def rank_average(per_rank: list[dict]) -> dict:
    return {name: sum(grads[name] for grads in per_rank) / len(per_rank) for name in per_rank[0]}


def check_bare_ddp(rank: int) -> None:
    """Per-rank r; after the step the gradients are the rank average of ∇L(θ) + β·∇L(θ_r_rank)."""
    model, anchor, batch = TinyVideoCLIP(seed=0), clip_anchor(), make_batch(20 + rank)
    ddp = nn.parallel.DistributedDataParallel(model)
    regularizer = InterpolatedWeightRegularizer(ddp, anchor, generator=random.Random(rank))
    result = regularizer.backward(lambda m: batch_loss(m, batch))
    local_after_pass_1 = {name: p.grad.clone() for name, p in model.named_parameters() if p.requires_grad}
    batch_loss(ddp, batch).backward()

    ratios, batches = all_gathered(result.ratio), all_gathered(batch)
    assert ratios == [random.Random(r).uniform(0.0, 0.6) for r in range(2)] and ratios[0] != ratios[1]
    # Pass 1 was not all-reduced: it holds this rank's own β·∇L(θ_r).
    own = gradients_at(model, hand_interpolated_state(model, anchor, ratios[rank]), batch)
    for name, grad in local_after_pass_1.items():
        torch.testing.assert_close(grad, 0.5 * own[name], atol=1e-6, rtol=0)
    per_rank = [expected_gradients(model, anchor, r, 0.5, b) for r, b in zip(ratios, batches)]
    assert_gradients(model, rank_average(per_rank))

    shared = InterpolatedWeightRegularizer(ddp, anchor, generator=random.Random(rank), share_ratio=True)
    shared_ratios = all_gathered(shared.sample_ratio())
    assert shared_ratios == [random.Random(0).uniform(0.0, 0.6)] * 2


def check_accelerate_with_gradient_accumulation(rank: int) -> None:
    """accelerate, 2 micro-steps: no all-reduce on the first, the rank average of the sums after the second."""
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=True, gradient_accumulation_steps=2)
    assert accelerator.num_processes == 2
    model, anchor = TinyVideoCLIP(seed=0), clip_anchor()
    prepared = accelerator.prepare(model)
    assert isinstance(prepared, nn.parallel.DistributedDataParallel)
    regularizer = InterpolatedWeightRegularizer(prepared, anchor, generator=random.Random(10 + rank))
    batches = [make_batch(30 + 2 * rank + step) for step in range(2)]
    ratios, grads_after_step = [], []
    for batch in batches:
        with accelerator.accumulate(prepared):
            ratios.append(regularizer.backward(lambda m: batch_loss(m, batch), accelerator).ratio)
            accelerator.backward(batch_loss(prepared, batch))
            grads_after_step.append({n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad})

    expected = [expected_gradients(model, anchor, r, 0.5, b) for r, b in zip(ratios, batches)]
    # Micro-step 1 is not synchronised (accelerate disables it, the regularizer does not force it): local, halved.
    for name, grad in grads_after_step[0].items():
        torch.testing.assert_close(grad, expected[0][name] / 2, atol=1e-6, rtol=0)
    local_sums = {name: (expected[0][name] + expected[1][name]) / 2 for name in expected[0]}
    assert_gradients(model, rank_average(all_gathered(local_sums)))
    assert all_gathered(ratios)[0] != all_gathered(ratios)[1]


def distributed_worker(rank: int, init_file: str) -> None:
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE="2",
        LOCAL_WORLD_SIZE="2",
        OMP_NUM_THREADS="1",
        MASTER_ADDR="127.0.0.1",
    )
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        check_bare_ddp(rank)
        check_accelerate_with_gradient_accumulation(rank)
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_two_processes_all_reduce_the_average_of_per_rank_regularized_gradients(tmp_path):
    mp.spawn(distributed_worker, args=(str(tmp_path / "rendezvous"),), nprocs=2, join=True)
