"""Checkpoint conversion against an OpenAI-CLIP forward written out here (OpenAI key names, fused in_proj)."""

import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import openai_checkpoints
import pytest
import torch
from torch import nn
from transformers import pipeline

from open_vclip_hf import OpenVCLIPModel
from open_vclip_hf.cli import main as cli_main
from open_vclip_hf.convert import ConversionError, convert_checkpoint
from open_vclip_hf.weights import CheckpointError, load_checkpoint_state_dict

WIDTH, LAYERS, PATCH, GRID, EMBED, VOCAB, CONTEXT = 128, 2, 8, 4, 24, 120, 12  # heads = 128 / 64 = 2


def random_openai_state_dict(seed: int) -> dict[str, torch.Tensor]:
    return openai_checkpoints.random_openai_state_dict(seed, WIDTH, LAYERS, PATCH, GRID, EMBED, VOCAB, CONTEXT)


def openai_resblocks(sd, prefix, x, mask=None):
    """OpenAI `ResidualAttentionBlock`s on (L, N, D) with `nn.MultiheadAttention`'s fused in_proj."""
    for i in range(LAYERS):
        p = f"{prefix}.resblocks.{i}."
        ln = lambda t, n: nn.functional.layer_norm(t, (WIDTH,), sd[p + n + ".weight"], sd[p + n + ".bias"])  # noqa: E731
        h = ln(x, "ln_1")
        attn, _ = nn.functional.multi_head_attention_forward(
            h,
            h,
            h,
            WIDTH,
            WIDTH // 64,
            sd[p + "attn.in_proj_weight"],
            sd[p + "attn.in_proj_bias"],
            None,
            None,
            False,
            0.0,
            sd[p + "attn.out_proj.weight"],
            sd[p + "attn.out_proj.bias"],
            attn_mask=mask,
            need_weights=False,
        )
        x = x + attn
        h = nn.functional.linear(ln(x, "ln_2"), sd[p + "mlp.c_fc.weight"], sd[p + "mlp.c_fc.bias"])
        h = h * torch.sigmoid(1.702 * h)  # QuickGELU
        x = x + nn.functional.linear(h, sd[p + "mlp.c_proj.weight"], sd[p + "mlp.c_proj.bias"])
    return x


def openai_encode_image(sd, images):
    x = nn.functional.conv2d(images, sd["visual.conv1.weight"], stride=PATCH).flatten(2).transpose(1, 2)
    x = torch.cat([sd["visual.class_embedding"].expand(len(x), 1, -1), x], dim=1) + sd["visual.positional_embedding"]
    x = nn.functional.layer_norm(x, (WIDTH,), sd["visual.ln_pre.weight"], sd["visual.ln_pre.bias"])
    x = openai_resblocks(sd, "visual.transformer", x.transpose(0, 1)).transpose(0, 1)
    x = nn.functional.layer_norm(x[:, 0], (WIDTH,), sd["visual.ln_post.weight"], sd["visual.ln_post.bias"])
    return x @ sd["visual.proj"]


def openai_encode_text(sd, tokens):
    x = sd["token_embedding.weight"][tokens] + sd["positional_embedding"][: tokens.shape[1]]
    mask = torch.full((tokens.shape[1],) * 2, float("-inf")).triu(1)
    x = openai_resblocks(sd, "transformer", x.transpose(0, 1), mask).transpose(0, 1)
    x = nn.functional.layer_norm(x, (WIDTH,), sd["ln_final.weight"], sd["ln_final.bias"])
    return x[torch.arange(len(x)), tokens.argmax(dim=-1)] @ sd["text_projection"]


def tokens():
    t = torch.randint(1, VOCAB - 2, (3, 7), generator=torch.Generator().manual_seed(5))
    t[:, 0], t[:, -1] = VOCAB - 2, VOCAB - 1  # <|startoftext|> ... <|endoftext|>
    return t


official_pth = openai_checkpoints.save_official_pth


def test_official_checkpoint_converts_to_the_same_clip(tmp_path):
    sd = random_openai_state_dict(0)
    model = convert_checkpoint(official_pth(tmp_path / "swa_2_22.pth", sd), temporal_attention="none")
    vc, tc = model.config.vision_config, model.config.text_config
    assert (vc.hidden_size, vc.num_hidden_layers, vc.num_attention_heads, vc.patch_size, vc.image_size) == (
        WIDTH,
        LAYERS,
        2,
        PATCH,
        PATCH * GRID,
    )
    assert (tc.vocab_size, tc.max_position_embeddings, tc.num_hidden_layers, model.config.projection_dim) == (
        VOCAB,
        CONTEXT,
        LAYERS,
        EMBED,
    )
    frames = torch.randn(2, 3, 3, PATCH * GRID, PATCH * GRID)
    with torch.no_grad():
        video = model.get_video_features(frames).pooler_output
        text = model.get_text_features(input_ids=tokens()).pooler_output
        expected_frames = openai_encode_image(sd, frames.flatten(0, 1)).view(2, 3, -1)
        expected_text = openai_encode_text(sd, tokens())
    expected_video = (expected_frames / expected_frames.norm(dim=-1, keepdim=True)).mean(1)
    torch.testing.assert_close(video, expected_video, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(text, expected_text, atol=1e-5, rtol=1e-4)
    assert model.logit_scale.item() == pytest.approx(4.6052)


class _Holder(nn.Module):
    def forward(self, x):
        return x


def openai_holder(sd, dtype=None) -> nn.Module:
    """A module whose parameters have OpenAI's names; scripted and saved, like `ViT-B-16.pt` (fp16 there)."""
    holder = _Holder()
    for key, value in sd.items():
        *path, leaf = key.split(".")
        module = holder
        for part in path:
            if not hasattr(module, part):
                module.add_module(part, _Holder())
            module = getattr(module, part)
        module.register_parameter(leaf, nn.Parameter(value.to(dtype)))
    return holder


def test_plain_state_dict_and_torchscript_give_the_same_model(tmp_path):
    sd = random_openai_state_dict(1)
    torch.save(sd, tmp_path / "plain.pt")

    torch.jit.save(torch.jit.script(openai_holder(sd, torch.half)), str(tmp_path / "ViT-tiny.pt"))
    plain = convert_checkpoint(tmp_path / "plain.pt").state_dict()
    jit = convert_checkpoint(tmp_path / "ViT-tiny.pt").state_dict()
    assert plain.keys() == jit.keys()
    for key in plain:
        assert jit[key].dtype == torch.float32
        torch.testing.assert_close(jit[key], plain[key].half().float(), msg=key)


class _Payload(nn.Module):
    """A scripted module whose `__setstate__` runs when `torch.jit.load` reads it."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(2))

    @torch.jit.export
    def __getstate__(self) -> tuple[torch.Tensor, bool]:
        return (self.weight, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[torch.Tensor, bool]) -> None:
        print("PAYLOAD RAN")
        self.weight = state[0]
        self.training = state[1]

    def forward(self, x):
        return x


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_torchscript_archives_are_read_without_running_their_code(tmp_path, capfd):
    sd = random_openai_state_dict(4)

    class Traced(nn.Module):  # OpenAI's files are traced modules: the tensors read are exactly the state dict
        def __init__(self):
            super().__init__()
            self.visual = nn.Linear(3, 2)
            self.register_buffer("input_resolution", torch.tensor(224))

        def forward(self, x):
            return self.visual(x)

    traced = Traced().half()
    torch.jit.save(torch.jit.trace(traced, torch.zeros(1, 3, dtype=torch.half)), str(tmp_path / "traced.pt"))
    read = load_checkpoint_state_dict(tmp_path / "traced.pt")
    assert read.keys() == traced.state_dict().keys()
    assert all(torch.equal(read[k], v) and read[k].dtype == v.dtype for k, v in traced.state_dict().items())

    holder = openai_holder(sd)
    holder.payload = _Payload()
    torch.jit.save(torch.jit.script(holder), str(tmp_path / "payload.pt"))
    torch.save(sd, tmp_path / "plain.pt")
    converted = convert_checkpoint(tmp_path / "payload.pt").state_dict()
    plain = convert_checkpoint(tmp_path / "plain.pt").state_dict()
    assert all(torch.equal(converted[key], plain[key]) for key in plain)
    assert "PAYLOAD RAN" not in capfd.readouterr().out  # torch.jit.load would have printed it

    # A data.pkl that calls os.system when unpickled: refused, as file to convert and as --clip-anchor.
    malicious, marker = tmp_path / "ViT-evil.pt", tmp_path / "marker"
    with zipfile.ZipFile(tmp_path / "payload.pt") as source, zipfile.ZipFile(malicious, "w") as target:
        for item in source.infolist():
            evil = item.filename.endswith("/data.pkl")
            target.writestr(item, pickle.dumps(_Exploit(marker), protocol=2) if evil else source.read(item))
    torch.save({"visual.conv1.weight": _Exploit(marker)}, tmp_path / "evil.pth")  # torch.load(weights_only=True)
    with pytest.raises(CheckpointError, match=r"evil.pth: refusing to unpickle posix.system \(not a tensor\)"):
        load_checkpoint_state_dict(tmp_path / "evil.pth")
    for convert in (
        lambda: convert_checkpoint(malicious),
        lambda: convert_checkpoint(tmp_path / "plain.pt", clip_anchor=malicious, ratio=0.5),
    ):
        with pytest.raises(CheckpointError, match=r"ViT-evil.pt: refusing to unpickle posix.system"):
            convert()
        assert not marker.exists()


def test_ratio_patches_toward_the_anchor(tmp_path):
    fine_tuned, clip = random_openai_state_dict(2), random_openai_state_dict(3)
    src = official_pth(tmp_path / "swa_2_22.pth", fine_tuned)
    torch.save(clip, tmp_path / "clip.pt")
    base = convert_checkpoint(src).state_dict()
    anchor = convert_checkpoint(tmp_path / "clip.pt").state_dict()
    half = convert_checkpoint(src, clip_anchor=tmp_path / "clip.pt", ratio=0.5, output_dir=tmp_path / "out")
    for key, value in half.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(value, 0.5 * base[key] + 0.5 * anchor[key], msg=key)
    reloaded = OpenVCLIPModel.from_pretrained(tmp_path / "out")
    assert reloaded.config.patch_ratio == 0.5
    assert (tmp_path / "out" / "model.safetensors").is_file()
    # An HF folder (or model) works as anchor too; r = 1 gives the anchor back.
    anchor_folder = tmp_path / "clip_hf"
    convert_checkpoint(tmp_path / "clip.pt", output_dir=anchor_folder)
    full = convert_checkpoint(src, clip_anchor=anchor_folder, ratio=1.0).state_dict()
    assert all(torch.equal(full[k], anchor[k]) for k in anchor)


def test_anchor_of_another_architecture_is_rejected(tmp_path):
    src = official_pth(tmp_path / "swa.pth", random_openai_state_dict(0))
    other = random_openai_state_dict(1)
    other["visual.positional_embedding"] = other["visual.positional_embedding"][:10]
    torch.save(other, tmp_path / "other.pt")
    with pytest.raises(ConversionError, match="anchor"):
        convert_checkpoint(src, clip_anchor=tmp_path / "other.pt", ratio=0.5)
    with pytest.raises(ValueError, match="clip_anchor"):
        convert_checkpoint(src, ratio=0.5)
    with pytest.raises(ValueError, match="ratio 0 patches nothing"):  # it would silently write unpatched weights
        convert_checkpoint(src, clip_anchor=tmp_path / "other.pt")


def test_cli_convert_option_errors_are_messages(tmp_path, capsys):
    src = official_pth(tmp_path / "swa.pth", random_openai_state_dict(0))
    torch.save(random_openai_state_dict(1), tmp_path / "clip.pt")
    anchor = str(tmp_path / "clip.pt")
    assert cli_main(["convert", str(src), "--out", str(tmp_path / "o"), "--clip-anchor", anchor]) == 1
    assert "--ratio" in capsys.readouterr().err and not (tmp_path / "o").exists()
    with pytest.raises(SystemExit):
        cli_main(["convert", str(src), "--out", str(tmp_path / "o"), "--num-frames", "0"])
    assert "--num-frames: must be a positive integer" in capsys.readouterr().err


def test_truncated_empty_and_foreign_files_fail_clearly_without_output(tmp_path):
    good = official_pth(tmp_path / "swa_2_22.pth", random_openai_state_dict(0))
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    foreign = tmp_path / "resnet.pth"
    torch.save({"model_state": {"fc.weight": torch.zeros(2, 2)}}, foreign)
    incomplete = tmp_path / "incomplete.pth"
    sd = random_openai_state_dict(0)
    del sd["visual.transformer.resblocks.1.ln_2.bias"]
    torch.save(sd, incomplete)
    cases = [
        (truncated, CheckpointError, "truncated.pth"),
        (empty, CheckpointError, "empty"),
        (foreign, ConversionError, "not a CLIP"),
        (
            incomplete,
            ConversionError,
            "keys only in a CLIP model of its shapes: vision_model.encoder.layers.1.layer_norm2.bias",
        ),
    ]
    for path, error, message in cases:
        out = tmp_path / f"out_{path.stem}"
        with pytest.raises(error, match=message) as info:
            convert_checkpoint(path, output_dir=out)
        assert path.name in str(info.value)
        assert not out.exists()
        assert not list(tmp_path.glob(f".out_{path.stem}*"))  # no staging folder left behind
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        convert_checkpoint(tmp_path / "missing.pth")


def test_checkpoints_with_compressed_tensors_are_refused_before_inflating(tmp_path):
    """torch writes zip archives uncompressed; a deflated one (a zip bomb: 4 MiB of tensor in a few KiB here) is
    refused, in a torch.save file and in a TorchScript archive."""
    torch.save({"w": torch.zeros(2**22, dtype=torch.uint8)}, tmp_path / "plain.pth")
    linear = nn.Linear(2**10, 2**10)
    linear.weight.data.zero_()
    torch.jit.save(torch.jit.script(linear), str(tmp_path / "scripted.pt"))
    for name in ("plain.pth", "scripted.pt"):
        load_checkpoint_state_dict(tmp_path / name)  # as written: read
        bomb = tmp_path / f"bomb_{name}"
        with zipfile.ZipFile(tmp_path / name) as source, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as target:
            for item in source.infolist():
                target.writestr(item.filename, source.read(item))
        assert bomb.stat().st_size < 2**16
        with pytest.raises(CheckpointError, match=f"bomb_{name}: its records are stored compressed"):
            load_checkpoint_state_dict(bomb)
    # Only the version record compressed (8 MiB of padding in a few KiB): torch.load reads it whole too.
    with zipfile.ZipFile(tmp_path / "plain.pth") as source, zipfile.ZipFile(tmp_path / "bomb.pth", "w") as target:
        for item in source.infolist():
            padding = b" " * 2**23 if item.filename.endswith("/version") else b""
            packing = zipfile.ZIP_DEFLATED if padding else zipfile.ZIP_STORED
            target.writestr(item.filename, source.read(item) + padding, compress_type=packing)
    with pytest.raises(CheckpointError, match="bomb.pth: its records are stored compressed"):
        load_checkpoint_state_dict(tmp_path / "bomb.pth")


def test_existing_output_is_kept_unless_overwrite(tmp_path):
    src = official_pth(tmp_path / "swa.pth", random_openai_state_dict(0))
    out = tmp_path / "out"
    convert_checkpoint(src, output_dir=out, num_frames=8)
    with pytest.raises(ValueError, match="already exists"):
        convert_checkpoint(src, output_dir=out, num_frames=16)
    assert OpenVCLIPModel.from_pretrained(out).config.num_frames == 8
    convert_checkpoint(src, output_dir=out, overwrite=True, num_frames=16)
    assert OpenVCLIPModel.from_pretrained(out).config.num_frames == 16


def test_overwrite_replaces_only_the_files_of_a_model_folder(tmp_path, capsys):
    work = tmp_path / "work"  # the reporter's folder: notes, data and the source checkpoint, no model
    (work / "data").mkdir(parents=True)
    (work / "notes.txt").write_text("mine")
    (work / "data" / "important.csv").write_text("a,b\n")
    src = official_pth(work / "swa.pth", random_openai_state_dict(0))
    before = sorted(work.rglob("*"))
    assert cli_main(["convert", str(src), "--out", str(work), "--overwrite"]) == 1
    assert f"{work} is not a model folder" in capsys.readouterr().err
    assert sorted(work.rglob("*")) == before and (work / "notes.txt").read_text() == "mine"

    # A model folder holding other files too: only the model's own files are replaced (a stale weight file of the
    # other format too); a staging folder that a killed run left is removed.
    out = tmp_path / "out"
    convert_checkpoint(src, output_dir=out)
    (out / "notes.txt").write_text("mine")
    (out / "pytorch_model.bin").write_bytes(b"older weights")
    (tmp_path / ".out.partial").mkdir()
    (tmp_path / ".out.partial" / "model.safetensors").write_bytes(b"half-written")
    assert cli_main(["convert", str(src), "--out", str(out), "--overwrite", "--num-frames", "16"]) == 0
    assert (out / "notes.txt").read_text() == "mine" and not (out / "pytorch_model.bin").exists()
    assert OpenVCLIPModel.from_pretrained(out).config.num_frames == 16
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out", "work"]  # no .partial / .old folder left


def test_cli_convert(tmp_path):
    fine_tuned, clip = random_openai_state_dict(2), random_openai_state_dict(3)
    src = official_pth(tmp_path / "swa_2_22.pth", fine_tuned)
    torch.save(clip, tmp_path / "clip.pt")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "open_vclip_hf.cli",
            "convert",
            str(src),
            "--out",
            str(tmp_path / "out"),
            "--clip-anchor",
            str(tmp_path / "clip.pt"),
            "--ratio",
            "0.25",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    model = OpenVCLIPModel.from_pretrained(tmp_path / "out")
    assert model.config.patch_ratio == 0.25
    # Built in a tempfile folder (0700), committed with the permissions of a plain mkdir.
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o777 & ~umask
    # The folder is complete for the pipeline: the processor works at the model's image size and frame count.
    classifier = pipeline("zero-shot-video-classification", model=str(tmp_path / "out"))
    size = model.config.vision_config.image_size
    assert size != 224 and classifier.processor.image_processor.crop_size == {"height": size, "width": size}
    frames = np.random.default_rng(0).integers(0, 255, (12, 40, 50, 3), dtype=np.uint8)
    pixel_values = classifier.preprocess(frames)["pixel_values"]
    assert pixel_values.shape == (1, model.config.num_frames, 3, size, size)
    assert model.get_video_features(pixel_values).pooler_output.shape == (1, EMBED)
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "open_vclip_hf.cli",
            "convert",
            str(tmp_path / "nope.pth"),
            "--out",
            str(tmp_path / "o2"),
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "nope.pth" in bad.stderr and "Traceback" not in bad.stderr
