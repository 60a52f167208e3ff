# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Sharded training (FSDP2, `torch.distributed.fsdp.fully_shard`) with the Interpolated Weight Optimization regularizer,
in 2 CPU processes (gloo).

The expectations do not come from the code under test: the single-process two-pass formula is written out here
(`∇L(θ) + β·∇L(θ_r)` with `θ_r = r·θ_CLIP + (1 − r)·θ` typed by hand and evaluated with `torch.func.functional_call`
on an unsharded model), and the same step runs under 2-process DDP. Sharding follows the training script's FSDP2
setup: one unit per encoder layer, the root for the rest, the 0-dim `logit_scale` left whole on every rank
(`ignored_params`, which `fully_shard` needs for a 0-dim parameter) with its gradient averaged by hand.
"""

import os
import random
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from test_training import temporal_dataset, tiny_model_dir  # noqa: F401  (fixtures shared with the training tests)
from torch import nn
from torch.func import functional_call
from transformers.models.clip.modeling_clip import CLIPEncoderLayer

from open_vclip_hf import OpenVCLIPConfig, OpenVCLIPModel
from open_vclip_hf import weights as interpolation
from open_vclip_hf.training import InterpolatedWeightRegularizer, enable_activation_checkpointing, freeze_text_tower
from open_vclip_hf.weights import interpolated_parameters

WORLD_SIZE = 2
BETA = 0.5


def tiny_model(seed: int) -> OpenVCLIPModel:
    tower = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4}
    config = OpenVCLIPConfig(
        text_config={**tower, "vocab_size": 99, "max_position_embeddings": 16, "bos_token_id": 97, "eos_token_id": 98},
        vision_config={**tower, "image_size": 32, "patch_size": 8},
        projection_dim=16,
        num_frames=3,
    )
    torch.manual_seed(seed)
    model = OpenVCLIPModel(config).train()
    freeze_text_tower(model)
    return model


def make_batch(seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {
        "pixel_values": torch.randn(2, 3, 3, 32, 32, generator=generator),
        "text_embeds": nn.functional.normalize(torch.randn(4, 16, generator=generator), dim=-1),  # class embeddings
        "labels": torch.randint(0, 4, (2,), generator=generator),
    }


def batch_loss(model: nn.Module, batch: dict) -> torch.Tensor:
    return model(**batch).loss


def shard(model: nn.Module) -> nn.Module:
    """FSDP2 as the training script sets it up: one unit per encoder layer of both towers (accelerate's
    TRANSFORMER_BASED_WRAP), the root for the rest; 0-dim parameters (`logit_scale`) stay whole on every rank."""
    from torch.distributed.fsdp import fully_shard

    for module in model.modules():
        if isinstance(module, CLIPEncoderLayer):
            fully_shard(module)
    fully_shard(model, ignored_params={param for param in model.parameters() if param.ndim == 0})
    return model


def average_replicated_gradients(model: nn.Module) -> None:
    """What FSDP2 does not do for `ignored_params`: average their gradients over the ranks (gloo has no AVG)."""
    for param in model.parameters():
        if param.ndim == 0 and param.grad is not None:
            dist.all_reduce(param.grad)
            param.grad /= dist.get_world_size()


def all_gathered(value):
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, value)
    return gathered


def full(tensor: torch.Tensor) -> torch.Tensor:
    from torch.distributed.tensor import DTensor

    return tensor.full_tensor() if isinstance(tensor, DTensor) else tensor


def full_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: full(param.detach()).clone() for name, param in model.named_parameters()}


def full_gradients(model: nn.Module) -> dict[str, torch.Tensor | None]:
    return {name: None if param.grad is None else full(param.grad).clone() for name, param in model.named_parameters()}


def functional_gradients(model: nn.Module, weights: dict[str, torch.Tensor], batch: dict) -> dict[str, torch.Tensor]:
    """∇L at `weights`, by an explicit functional evaluation of the (unsharded) `model`."""
    trainable = [name for name, param in model.named_parameters() if param.requires_grad]
    inputs = {name: value.detach().requires_grad_(name in trainable) for name, value in weights.items()}
    loss = functional_call(model, inputs, args=(), kwargs=batch).loss
    return dict(zip(trainable, torch.autograd.grad(loss, [inputs[name] for name in trainable])))


def two_pass_formula(ratios: list[float], batches: list[dict]) -> dict[str, torch.Tensor]:
    """The rank average of `∇L(θ) + β·∇L(θ_r_rank)`: the official two-pass step (method doc 3.1), written out."""
    model, clip = tiny_model(seed=0), tiny_model(seed=1)
    theta, theta_clip = dict(model.named_parameters()), dict(clip.named_parameters())
    total = {}
    for ratio, batch in zip(ratios, batches):
        theta_r = {
            name: ratio * theta_clip[name].detach() + (1 - ratio) * value.detach() if value.requires_grad else value
            for name, value in theta.items()
        }
        plain, interpolated = functional_gradients(model, theta, batch), functional_gradients(model, theta_r, batch)
        for name in plain:
            total[name] = total.get(name, 0) + (plain[name] + BETA * interpolated[name]) / len(ratios)
    return total


def regularized_step(model: nn.Module, anchor: dict, batch: dict, rank: int, sharded: bool) -> float:
    """One regularized step; r drawn on rank 0 and shared (sharded weights need one θ_r on every rank)."""
    regularizer = InterpolatedWeightRegularizer(
        model, anchor, weight=BETA, generator=random.Random(rank), share_ratio=True
    )
    ratio = regularizer.backward(lambda m: batch_loss(m, batch)).ratio  # pass 1 at θ_r, inside no_sync
    batch_loss(model, batch).backward()  # pass 2 at θ: reduces the sum
    if sharded:
        average_replicated_gradients(model)
    return ratio


def assert_gradients_close(actual: dict, expected: dict, what: str) -> None:
    for name, grad in actual.items():
        if name in expected:
            torch.testing.assert_close(
                grad, expected[name], atol=2e-6, rtol=1e-5, msg=lambda message, name=name: f"{what}: {name}\n{message}"
            )
        else:
            assert grad is None, f"{what}: frozen {name} has a gradient"


def check_regularized_gradients(rank: int, checkpointing: bool, monkeypatch_interpolate) -> None:
    from torch.distributed.tensor import DTensor

    anchor, batch = tiny_model(seed=1).state_dict(), make_batch(10 + rank)

    ddp_model = tiny_model(seed=0)
    ddp = nn.parallel.DistributedDataParallel(ddp_model)
    ddp_ratio = regularized_step(ddp, anchor, batch, rank, sharded=False)

    model = tiny_model(seed=0)
    if checkpointing:
        enable_activation_checkpointing(model)
    before = full_state(model)
    sharded = shard(model)
    assert isinstance(sharded.vision_model.encoder.layers[0].mlp.fc1.weight, DTensor)
    assert not isinstance(sharded.logit_scale, DTensor) and sharded.logit_scale.ndim == 0
    local_before = {name: param.detach().to_local().clone() for name, param in sharded.named_parameters()
                    if isinstance(param, DTensor)}  # fmt: skip
    interpolated = monkeypatch_interpolate()
    ratio = regularized_step(sharded, anchor, batch, rank, sharded=True)

    # θ after the step: bit-identical, shard by shard and gathered
    for name, param in sharded.named_parameters():
        if isinstance(param, DTensor):
            assert torch.equal(param.detach().to_local(), local_before[name]), name
    after = full_state(sharded)
    assert all(torch.equal(after[name], before[name]) for name in before)
    # The swap saw local shards only: never a DTensor, never a gathered parameter
    local_shapes = {tuple(param.to_local().shape) if isinstance(param, DTensor) else tuple(param.shape)
                    for param in sharded.parameters() if param.requires_grad}  # fmt: skip
    assert interpolated and all(kind is not DTensor and shape in local_shapes for kind, shape in interpolated)
    assert len(interpolated) == sum(param.requires_grad for param in sharded.parameters())

    ratios, batches = all_gathered(ratio), all_gathered(batch)
    assert ratios == [random.Random(0).uniform(0.0, 0.6)] * WORLD_SIZE == all_gathered(ddp_ratio)
    expected = two_pass_formula(ratios, batches)
    fsdp_gradients, ddp_gradients = full_gradients(sharded), full_gradients(ddp_model)
    assert_gradients_close(fsdp_gradients, expected, "FSDP2 vs the two-pass formula")
    assert_gradients_close(ddp_gradients, expected, "DDP vs the two-pass formula")
    assert_gradients_close(fsdp_gradients, {n: g for n, g in ddp_gradients.items() if g is not None}, "FSDP2 vs DDP")


def check_anchor_shards_and_evaluation_sweep(rank: int) -> None:
    """The anchor is kept as local shards (float16 where exact, optionally on the host); the module-level
    `interpolated_parameters` (the evaluation sweep) swaps a sharded model too, frozen parameters included."""
    from torch.distributed.tensor import DTensor

    model = shard(tiny_model(seed=0))
    clip = tiny_model(seed=1).state_dict()
    half_exact = {key: value.half().float() for key, value in clip.items()}
    regularizer = InterpolatedWeightRegularizer(model, half_exact, ratio=0.4, anchor_device="cpu")
    local_numel = sum(
        (param.to_local() if isinstance(param, DTensor) else param).numel()
        for param in model.parameters()
        if param.requires_grad
    )
    assert regularizer.anchor_num_bytes == 2 * local_numel  # float16, this rank's shards only
    trainable = [param for param in model.parameters() if param.requires_grad]
    replicated = sum(param.numel() for param in trainable if not isinstance(param, DTensor))  # logit_scale
    total = torch.tensor([regularizer.anchor_num_bytes - 2 * replicated])
    dist.all_reduce(total)  # the shards add up to the sharded parameters, each entry once
    assert total.item() == 2 * (sum(param.numel() for param in trainable) - replicated)
    before = full_state(model)
    with regularizer.interpolated_parameters(0.4):
        inside = full_state(model)
    for name, value in inside.items():
        trainable = model.get_parameter(name).requires_grad
        assert torch.equal(value, 0.4 * half_exact[name] + 0.6 * before[name] if trainable else before[name]), name
    assert all(torch.equal(value, before[name]) for name, value in full_state(model).items())

    with pytest.raises(RuntimeError, match="hiccup"), interpolated_parameters(model, clip, 0.5):
        inside = full_state(model)
        raise RuntimeError("hiccup")
    for name, value in inside.items():  # every parameter with an anchor entry, the frozen text tower too
        assert torch.equal(value, 0.5 * clip[name] + 0.5 * before[name]), name
    assert all(torch.equal(value, before[name]) for name, value in full_state(model).items())

    # Ratios drawn per rank would mix in a gathered weight: refused for sharded parameters (DDP keeps them)
    with pytest.raises(ValueError, match=r"one patch ratio on every rank.*vision_model.*share_ratio=True"):
        InterpolatedWeightRegularizer(model, clip, generator=random.Random(rank))


def distributed_worker(rank: int, init_file: str) -> None:
    os.environ.update(OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD_SIZE)
    original = interpolation._interpolate

    def monkeypatch_interpolate():
        """Record (type, shape) of every weight the swap interpolates."""
        seen = []

        def recording(weight, anchor, ratio):
            seen.append((type(weight), tuple(weight.shape)))
            return original(weight, anchor, ratio)

        interpolation._interpolate = recording
        return seen

    try:
        for checkpointing in (False, True):
            check_regularized_gradients(rank, checkpointing, monkeypatch_interpolate)
            interpolation._interpolate = original
        check_anchor_shards_and_evaluation_sweep(rank)
    finally:
        interpolation._interpolate = original
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_fsdp2_regularized_gradients_equal_ddp_and_the_two_pass_formula(tmp_path):
    """2 processes, one r shared by both: FSDP2 (sharded encoder layers and root, replicated `logit_scale`), with and
    without activation checkpointing, gives the gradients of 2-process DDP and of the written-out formula; θ is
    bit-identical afterwards; the swap touched local shards only; anchor shards and the evaluation sweep work on the
    sharded model."""
    mp.spawn(distributed_worker, args=(str(tmp_path / "rendezvous"),), nprocs=WORLD_SIZE, join=True)


# --------------------------------------------------------------------------------------------------------------------
# examples/train_openvclip.py under accelerate's FSDP2 code path (2 CPU processes)
# --------------------------------------------------------------------------------------------------------------------

# accelerate applies an FSDP config on GPUs and other accelerators only: on a CPU it keeps DDP over gloo and says
# nothing (the training script refuses that, see `check_distributed_setup`). This wrapper applies the config as
# accelerate does on a GPU (the FSDP plugin read from the launcher's FSDP_* variables, i.e. from
# examples/accelerate_configs/fsdp.yaml; distributed type FSDP), so that everything after it is accelerate's own FSDP2
# code: `fully_shard` per encoder layer and on the root, `no_sync`, DTensor-aware gradient clipping, gathered
# `get_state_dict`, sharded `save_state` / `load_state`.
FSDP2_ON_CPU = """
import importlib.util, sys
from pathlib import Path

import accelerate
from accelerate import DistributedType, FullyShardedDataParallelPlugin, PartialState
from accelerate.state import AcceleratorState
from safetensors.torch import save_file
from torch.distributed.tensor import DTensor

accelerator_init = accelerate.Accelerator.__init__


def init_with_fsdp2(self, *args, **kwargs):
    accelerator_init(self, *args, **kwargs)
    for state in (PartialState(), AcceleratorState()):
        state.distributed_type = DistributedType.FSDP
    AcceleratorState().fsdp_plugin = FullyShardedDataParallelPlugin()


accelerate.Accelerator.__init__ = init_with_fsdp2
spec = importlib.util.spec_from_file_location("train_openvclip", sys.argv[1])
train = importlib.util.module_from_spec(spec)
spec.loader.exec_module(train)
args = train.parse_args(sys.argv[2:])
model = train.training_function(args)
rank = PartialState().process_index
kinds = sorted({type(param).__name__ for param in model.parameters()})
local = {name: (t.to_local() if isinstance(t, DTensor) else t).contiguous() for name, t in model.state_dict().items()}
save_file(local, str(Path(args.output_dir) / f"rank{rank}.safetensors"), metadata={"kinds": ",".join(kinds)})
"""


@dataclass
class ScriptRun:
    output_dir: Path
    arguments: list[str]
    launch: Callable[[list[str]], subprocess.CompletedProcess]
    stdout: str


@pytest.fixture(scope="module")
def fsdp2_run(request, tmp_path_factory) -> ScriptRun:
    """`accelerate launch --config_file examples/accelerate_configs/fsdp.yaml` of the training script: 2 processes,
    the regularizer on, 2 accumulation micro-steps per step, 2 epochs of 2 steps, a sharded training state per step."""
    from test_training import REPO, SCRIPT, run_script, script_env

    model_dir, data = request.getfixturevalue("tiny_model_dir"), request.getfixturevalue("temporal_dataset")
    root = tmp_path_factory.mktemp("fsdp2")
    (root / "wrapper.py").write_text(FSDP2_ON_CPU)

    def launch(arguments):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        launcher = [
            sys.executable, "-m", "accelerate.commands.launch",
            "--config_file", str(REPO / "examples" / "accelerate_configs" / "fsdp.yaml"), "--num_processes", "2",
            "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(port),
            str(root / "wrapper.py"), str(SCRIPT),
        ]  # fmt: skip
        return run_script(arguments, env=script_env(), launcher=launcher)

    arguments = [
        "--cpu", "--model_name_or_path", str(model_dir), "--train_csv", str(data / "train.csv"),
        "--class_names", str(data / "classes.txt"), "--num_workers", "0", "--frame_stride", "1",
        "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "2", "--num_train_epochs", "2",
        "--learning_rate", "3e-3", "--checkpointing_steps", "1", "--checkpoints_total_limit", "0", "--seed", "1",
    ]  # fmt: skip
    output_dir = root / "run"
    result = launch([*arguments, "--output_dir", str(output_dir)])
    return ScriptRun(output_dir, arguments, launch, result.stdout)


def test_training_script_under_accelerates_fsdp2_shards_all_but_logit_scale_and_saves_clip_layout(fsdp2_run, request):
    """Every parameter is sharded except the 0-dim `logit_scale` (replicated: both ranks hold the same value), one r
    for both processes; the epoch checkpoint is the gathered shards in CLIP's keys and shapes (0-dim `logit_scale`),
    trained, with the text tower untouched; training states are sharded."""
    from test_training import state_dict_of

    output_dir = fsdp2_run.output_dir
    assert "4 steps; regularizer r ~ U(0.0, 0.6), weight 0.5, one r for all processes" in fsdp2_run.stdout
    assert (output_dir / "step_2" / "pytorch_model_fsdp_0").is_dir()  # SHARDED_STATE_DICT
    initial = state_dict_of(request.getfixturevalue("tiny_model_dir"))
    trained = state_dict_of(output_dir / "epoch_2")
    assert {key: value.shape for key, value in trained.items()} == {key: value.shape for key, value in initial.items()}
    assert trained["logit_scale"].shape == ()
    for rank in range(2):
        local, kinds = state_dict_of_file(output_dir / f"rank{rank}.safetensors")
        assert kinds == "DTensor,Parameter", kinds  # logit_scale is the one plain parameter
        for key, value in trained.items():
            expected = value if value.ndim == 0 else value.tensor_split(2)[rank]  # Shard(0), torch.chunk's split
            assert torch.equal(local[key], expected), (rank, key)
    changed = {key for key in initial if not torch.equal(initial[key], trained[key])}
    assert "logit_scale" in changed and "visual_projection.weight" in changed
    assert not any(key.startswith(("text_model.", "text_projection.")) for key in changed)


def test_training_script_under_accelerates_fsdp2_resumes_bit_identically(fsdp2_run, tmp_path):
    """Resumed from the sharded training state of step 2 (of 4), the run ends bit-identical: epoch 2, SWA, final."""
    from test_training import assert_state_dicts_equal, state_dict_of

    resumed_dir = tmp_path / "resumed"
    shutil.copytree(fsdp2_run.output_dir, resumed_dir)
    for name in ("step_3", "step_4", "epoch_2", "swa", "final"):
        shutil.rmtree(resumed_dir / name)
    result = fsdp2_run.launch([*fsdp2_run.arguments, "--output_dir", str(resumed_dir), "--resume_from_checkpoint",
                               "latest"])  # fmt: skip
    assert f"Resumed from checkpoint: {resumed_dir / 'step_2'}" in result.stdout + result.stderr
    for folder in ("epoch_2", "swa", "final"):
        assert_state_dicts_equal(state_dict_of(resumed_dir / folder), state_dict_of(fsdp2_run.output_dir / folder))


def state_dict_of_file(path):
    from safetensors import safe_open

    with safe_open(str(path), "pt") as handle:
        return {key: handle.get_tensor(key) for key in handle.keys()}, handle.metadata()["kinds"]
