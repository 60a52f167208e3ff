# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Open-VCLIP configuration: a CLIP configuration plus the two settings the video model adds.

This module, `modeling_open_vclip`, `processing_open_vclip`, `prompts`, `pipeline_zero_shot_video` and `video_decoding`
are copied unchanged into Hub repositories as remote code (`trust_remote_code=True`): they import only the standard
library, torch, transformers, huggingface_hub, numpy, av, PIL and each other.
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
    """[`CLIPVisionConfig`] plus `num_frames` and `temporal_attention`, which [`OpenVCLIPConfig`] sets."""

    model_type = "open_vclip_vision_model"
    base_config_key = "vision_config"

    patch_size: int | list[int] | tuple[int, int] | None = 16  # ViT-B/16, the main released checkpoint
    num_frames: int = 8
    temporal_attention: str = "neighbor"

    def __post_init__(self, **kwargs):
        kwargs.pop("model_type", None)  # a CLIP checkpoint's "clip_vision_model" must not shadow ours
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
        Frames per video that processors sample (method doc section 4); the model accepts any count.
    temporal_attention (`str`, *optional*, defaults to `"neighbor"`):
        `"neighbor"`: keys/values of frame `t` are those of frames `t-1`, `t`, `t+1` (Open-VCLIP). `"none"`: each
        frame is encoded alone, then the same pooling (the frozen-CLIP baseline). Both are copied to `vision_config`.
    patch_ratio (`float`, *optional*):
        Weight `r` of `θ_CLIP` in the test-time interpolation `θ = r·θ_CLIP + (1−r)·θ` (method doc section 3.3) that
        produced these weights, or `None`. Informational: the model never reads it.
    """

    model_type = "open_vclip"
    sub_configs_defaults: ClassVar[dict] = {"text_config": CLIPTextConfig, "vision_config": OpenVCLIPVisionConfig}

    num_frames: int = 8
    temporal_attention: str = "neighbor"
    patch_ratio: float | None = None

    def __post_init__(self, **kwargs):
        kwargs.pop("model_type", None)  # loading a CLIP checkpoint's config must still give an Open-VCLIP config
        super().__post_init__(**kwargs)
        self.vision_config.num_frames = self.num_frames
        self.vision_config.temporal_attention = self.temporal_attention

    def __setattr__(self, name, value):
        super().__setattr__(name, value)
        # Keep the vision tower in step after __init__ too (`from_pretrained(path, temporal_attention="none")`).
        vision_config = getattr(self, "vision_config", None)
        if name in ("num_frames", "temporal_attention") and isinstance(vision_config, PreTrainedConfig):
            setattr(vision_config, name, value)

    def validate_architecture(self):
        _check_video_args(self.num_frames, self.temporal_attention)
        if self.patch_ratio is not None and not 0.0 <= self.patch_ratio <= 1.0:
            raise ValueError(f"`patch_ratio` must be in [0, 1] or None, got {self.patch_ratio!r}.")

    @classmethod
    def get_config_dict(cls, *args, **kwargs) -> tuple[dict, dict]:
        """A CLIP checkpoint's config is read as Open-VCLIP's (same weights), without the model-type warning."""
        config_dict, kwargs = super().get_config_dict(*args, **kwargs)
        if config_dict.get("model_type") == CLIPConfig.model_type:
            config_dict = {**config_dict, "model_type": cls.model_type}
        return config_dict, kwargs

    @classmethod
    def from_clip_config(cls, clip_config: CLIPConfig | dict, **kwargs) -> "OpenVCLIPConfig":
        """The Open-VCLIP config of a [`CLIPConfig`] (or its dict); `kwargs` (e.g. `num_frames=16`) override."""
        if isinstance(clip_config, PreTrainedConfig):
            clip_config = clip_config.to_dict()
        clip_config = {k: v for k, v in clip_config.items() if k not in ("architectures", "auto_map")}
        return cls(**clip_config, **kwargs)  # `model_type`s are dropped by `__post_init__`
