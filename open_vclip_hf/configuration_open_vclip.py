# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Open-VCLIP configuration: a CLIP configuration plus the two settings the video model adds.

Imports only `transformers` and `huggingface_hub`: copied unchanged into Hub repositories for `trust_remote_code=True`.
"""

from typing import ClassVar

from huggingface_hub.dataclasses import strict
from transformers import CLIPConfig, CLIPTextConfig, CLIPVisionConfig, PreTrainedConfig

TEMPORAL_ATTENTION_TYPES = ("neighbor", "none")


def _check_video_args(num_frames, temporal_attention) -> None:
    if temporal_attention not in TEMPORAL_ATTENTION_TYPES:
        raise ValueError(f"`temporal_attention` must be one of {TEMPORAL_ATTENTION_TYPES}, got {temporal_attention!r}.")
    if not isinstance(num_frames, int) or isinstance(num_frames, bool) or num_frames < 1:
        raise ValueError(f"`num_frames` must be a positive integer, got {num_frames!r}.")


@strict
class OpenVCLIPVisionConfig(CLIPVisionConfig):
    r"""
    Configuration of the Open-VCLIP vision tower: a [`CLIPVisionConfig`] whose self-attention lets every frame attend
    to its two neighbour frames (Weng et al., ICML 2023, Sec. 3.1; method doc section 1.2). No parameter is added.
    `num_frames` and `temporal_attention`: see [`OpenVCLIPConfig`], which sets them.
    """

    model_type = "open_vclip_vision_model"
    base_config_key = "vision_config"

    # OpenAI ViT-B/16, the backbone of the main released checkpoint (method doc section 6).
    patch_size: int | list[int] | tuple[int, int] | None = 16
    num_frames: int = 8
    temporal_attention: str = "neighbor"

    def __post_init__(self, **kwargs):
        # A CLIP checkpoint's `"model_type": "clip_vision_model"` must not shadow ours.
        kwargs.pop("model_type", None)
        super().__post_init__(**kwargs)

    def validate_architecture(self):
        super().validate_architecture()
        _check_video_args(self.num_frames, self.temporal_attention)


@strict
class OpenVCLIPConfig(CLIPConfig):
    r"""
    Configuration of [`OpenVCLIPModel`]: a [`CLIPConfig`] (same arguments) whose vision tower is an
    [`OpenVCLIPVisionConfig`]. Defaults reproduce Open-VCLIP ViT-B/16 (8 frames, neighbour-frame attention).

    num_frames (`int`, *optional*, defaults to 8):
        Frames per video that processors and pipelines sample (the paper's 8 frames, method doc section 4). The model
        itself accepts any frame count.
    temporal_attention (`str`, *optional*, defaults to `"neighbor"`):
        `"neighbor"`: keys/values of frame `t` are those of frames `t-1`, `t`, `t+1` (Open-VCLIP). `"none"`: each
        frame is encoded alone, i.e. [`CLIPVisionModel`] per frame, then the same pooling (the frozen-CLIP baseline).
        Both are copied into `vision_config`, so the two never disagree.
    patch_ratio (`float`, *optional*):
        Weight `r` of the original CLIP weights in `θ = r·θ_CLIP + (1−r)·θ` if these weights were produced by the
        test-time interpolation of method doc section 3.3 (0.5 for B/32 and B/16, 0.6 for L/14); `None` if unknown
        or not interpolated. Informational: it is recorded by the converter, the model never reads it.

    Example:

    ```python
    >>> from open_vclip_hf import OpenVCLIPConfig, OpenVCLIPModel
    >>> config = OpenVCLIPConfig(num_frames=8)
    >>> model = OpenVCLIPModel(config)  # random weights, ViT-B/16 sized
    ```"""

    model_type = "open_vclip"
    sub_configs_defaults: ClassVar[dict] = {"text_config": CLIPTextConfig, "vision_config": OpenVCLIPVisionConfig}

    num_frames: int = 8
    temporal_attention: str = "neighbor"
    patch_ratio: float | None = None

    def __post_init__(self, **kwargs):
        kwargs.pop("model_type", None)  # loading a CLIP checkpoint's config must still give an Open-VCLIP config
        super().__post_init__(**kwargs)
        # The vision tower reads these two values; the top-level ones are the user-facing source of truth.
        self.vision_config.num_frames = self.num_frames
        self.vision_config.temporal_attention = self.temporal_attention

    def __setattr__(self, name, value):
        super().__setattr__(name, value)
        # Later changes too (e.g. `from_pretrained(path, temporal_attention="none")` sets attributes after __init__).
        if name in ("num_frames", "temporal_attention") and isinstance(
            getattr(self, "vision_config", None), PreTrainedConfig
        ):
            setattr(self.vision_config, name, value)

    def validate_architecture(self):
        _check_video_args(self.num_frames, self.temporal_attention)
        if self.patch_ratio is not None and not 0.0 <= self.patch_ratio <= 1.0:
            raise ValueError(f"`patch_ratio` must be in [0, 1] or None, got {self.patch_ratio!r}.")

    @classmethod
    def from_clip_config(cls, clip_config: CLIPConfig | dict, **kwargs) -> "OpenVCLIPConfig":
        """Turn a [`CLIPConfig`] (or its dict) into an Open-VCLIP config with the same architecture.

        `kwargs` (e.g. `num_frames=16`, `temporal_attention="none"`) override the Open-VCLIP defaults.
        """
        if isinstance(clip_config, PreTrainedConfig):
            clip_config = clip_config.to_dict()
        clip_config = {k: v for k, v in clip_config.items() if k not in ("model_type", "architectures", "auto_map")}
        vision = dict(clip_config.pop("vision_config", None) or {})
        vision.pop("model_type", None)
        return cls(**clip_config, vision_config=vision, **kwargs)
