# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""PyTorch Open-VCLIP (Weng et al., ICML 2023, arXiv 2302.00624), written as differences from CLIP like X-CLIP:
neighbour-frame attention in every vision layer (method doc section 1.2) and the mean of the normalised frame
embeddings as video embedding (section 1.3). No new parameters: any CLIP checkpoint loads as is.
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from transformers import CLIPModel, CLIPVisionModel, CLIPVisionModelWithProjection
from transformers.conversion_mapping import get_checkpoint_conversion_mapping, register_checkpoint_conversion_mapping
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.models.clip.modeling_clip import (
    CLIPAttention,
    CLIPEncoder,
    CLIPEncoderLayer,
    eager_attention_forward,
    image_text_contrastive_loss,
)
from transformers.processing_utils import Unpack
from transformers.utils import ModelOutput, TransformersKwargs, can_return_tuple

from .configuration_open_vclip import OpenVCLIPConfig, OpenVCLIPVisionConfig


def expand_to_neighbor_frames(states: torch.Tensor, num_frames: int) -> torch.Tensor:
    """`(batch_size * num_frames, seq_len, dim) -> (batch_size * num_frames, 3 * seq_len, dim)`: the projected keys
    (or values) of frame `t` become the blocks `[frame t+1 ; frame t-1 ; frame t]` of the same video (the official
    `expand_temporal_view` order, `functional.py:608-622`; method doc section 1.2). Frames outside the video are
    all-zero blocks *after* the projection (no bias, no mask): softmax mass `exp(0)/Z`, as the weights were trained.
    Eager / compile write the blocks in place; export (ONNX) pads and concatenates, as scatters run slower there."""
    frames, seq_len, dim = states.shape
    per_video = states.view(-1, num_frames, seq_len, dim)
    if torch.onnx.is_in_onnx_export() or getattr(torch.compiler, "is_exporting", lambda: False)():
        # One zero frame before and after every video: index t of `padded` is frame t-1, index t+2 is frame t+1.
        padded = nn.functional.pad(per_video, (0, 0, 0, 0, 1, 1))
        neighbors = torch.cat([padded[:, 2:], padded[:, :-2], per_video], dim=2)
    else:
        neighbors = states.new_empty(per_video.shape[0], num_frames, 3, seq_len, dim)
        neighbors[:, :-1, 0] = per_video[:, 1:]  # next frame
        neighbors[:, -1, 0] = 0
        neighbors[:, 1:, 1] = per_video[:, :-1]  # previous frame
        neighbors[:, 0, 1] = 0
        neighbors[:, :, 2] = per_video  # own frame
    return neighbors.view(frames, 3 * seq_len, dim)


class OpenVCLIPNeighborFrameAttention(CLIPAttention):
    """[`CLIPAttention`] in which every token of frame `t` attends to all tokens of frames `t-1`, `t` and `t+1` of
    its video (method doc section 1.2): only keys/values are widened. Plain CLIP with `temporal_attention="none"`."""

    def __init__(self, config: OpenVCLIPVisionConfig):
        super().__init__(config)
        self.temporal_attention = config.temporal_attention

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        num_frames: int | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.temporal_attention == "none" or num_frames is None:
            return super().forward(hidden_states, attention_mask, **kwargs)

        attention_interface: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
        dropout = 0.0 if not self.training else self.dropout
        input_shape = hidden_states.shape[:-1]
        queries = self.q_proj(hidden_states).view(*input_shape, -1, self.head_dim).transpose(1, 2)
        neighbor_shape = (input_shape[0], -1, self.num_heads, self.head_dim)
        keys = expand_to_neighbor_frames(self.k_proj(hidden_states), num_frames).view(neighbor_shape).transpose(1, 2)
        values = expand_to_neighbor_frames(self.v_proj(hidden_states), num_frames).view(neighbor_shape).transpose(1, 2)
        attn_output, attn_weights = attention_interface(
            self, queries, keys, values, attention_mask, scaling=self.scale, dropout=dropout, **kwargs
        )
        attn_output = attn_output.reshape(*input_shape, -1).contiguous()
        return self.out_proj(attn_output), attn_weights


class OpenVCLIPVisionEncoderLayer(CLIPEncoderLayer):
    def __init__(self, config: OpenVCLIPVisionConfig):
        super().__init__(config)
        self.self_attn = OpenVCLIPNeighborFrameAttention(config)


class OpenVCLIPVisionEncoder(CLIPEncoder):
    """[`CLIPEncoder`] with neighbour-frame attention in **every** layer (`customize_visiontransformer.py:458-459`)."""

    def __init__(self, config: OpenVCLIPVisionConfig):
        super().__init__(config)
        self.layers = nn.ModuleList([OpenVCLIPVisionEncoderLayer(config) for _ in range(config.num_hidden_layers)])


class OpenVCLIPVisionModel(CLIPVisionModel):
    """The Open-VCLIP vision tower: [`CLIPVisionModel`] with neighbour-frame attention, applied to videos."""

    config: OpenVCLIPVisionConfig

    def __init__(self, config: OpenVCLIPVisionConfig):
        super().__init__(config)
        self.encoder = OpenVCLIPVisionEncoder(config)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        interpolate_pos_encoding: bool | None = False,
        **kwargs: Unpack[TransformersKwargs],
    ) -> BaseModelOutputWithPooling:
        r"""
        `pixel_values` `(batch_size, num_frames, num_channels, height, width)`, any `num_frames >= 1`, gives
        `last_hidden_state` `(batch_size, num_frames, seq_len, hidden_size)`, `pooler_output` (post-layernorm CLS)
        `(batch_size, num_frames, hidden_size)` and per-frame `hidden_states` / `attentions` (over `3 * seq_len` keys).
        """
        shape = None if pixel_values is None else tuple(pixel_values.shape)
        layout = "`pixel_values` must have shape (batch_size, num_frames, channels, height, width)"
        if shape is None or len(shape) != 5 or 0 in shape[:2]:
            raise ValueError(
                f"{layout} with at least one frame, got {shape}. An image batch is `pixel_values[:, None]`."
            )
        if shape[2] != self.config.num_channels:
            raise ValueError(
                f"{layout} with {self.config.num_channels} channels in dimension 2, got {shape}. Channels-last or "
                "(batch_size, channels, num_frames, ...) tensors need a permute."
            )
        batch_size, num_frames = shape[:2]  # frames are images to all but attention, which regroups them
        outputs = super().forward(
            pixel_values.flatten(0, 1), interpolate_pos_encoding, num_frames=num_frames, return_dict=True, **kwargs
        )
        outputs.last_hidden_state = outputs.last_hidden_state.unflatten(0, (batch_size, num_frames))
        outputs.pooler_output = outputs.pooler_output.unflatten(0, (batch_size, num_frames))
        return outputs


# Load the vision tower alone from a full (Open-V)CLIP checkpoint as `CLIPVisionModel` does (drop `vision_model.`).
register_checkpoint_conversion_mapping(
    OpenVCLIPVisionModel.__name__, get_checkpoint_conversion_mapping(CLIPVisionModel.__name__), overwrite=True
)


def pool_frame_embeddings(frame_embeds: torch.Tensor) -> torch.Tensor:
    """`(batch_size, num_frames, dim) -> (batch_size, dim)`: mean of the L2-normalised frame embeddings, **not**
    re-normalised: the official model averages per-frame logits `s * f̂_t · ĉ` (`temporalclip_video_model.py:214,
    231-232`), which equals `s * mean_t(f̂_t) · ĉ` (method doc section 1.3)."""
    return (frame_embeds / frame_embeds.norm(dim=-1, keepdim=True)).mean(dim=1)


@dataclass
class OpenVCLIPVisionModelOutput(ModelOutput):
    r"""
    video_embeds (`torch.Tensor` of shape `(batch_size, projection_dim)`):
        Mean over frames of the L2-normalised projected frame embeddings (not re-normalised).
    frame_embeds (`torch.Tensor` of shape `(batch_size, num_frames, projection_dim)`):
        Projected (not normalised) CLS embedding of every frame.
    last_hidden_state (`torch.Tensor` of shape `(batch_size, num_frames, sequence_length, hidden_size)`):
        Last layer hidden states of every frame.
    hidden_states, attentions (`tuple(torch.Tensor)`, *optional*):
        Per layer and frame, as in [`OpenVCLIPVisionModel`] (attentions over `3 * sequence_length` keys).
    """

    video_embeds: torch.Tensor | None = None
    frame_embeds: torch.Tensor | None = None
    last_hidden_state: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


class _OpenVCLIPVisionTower:
    """Mixin: a CLIP model's constructor, then [`OpenVCLIPVisionModel`] in place of its `vision_model`."""

    def __init__(self, config: OpenVCLIPConfig | OpenVCLIPVisionConfig):
        super().__init__(config)
        self.vision_model = OpenVCLIPVisionModel(getattr(config, "vision_config", config))
        self.post_init()


class OpenVCLIPVisionModelWithProjection(_OpenVCLIPVisionTower, CLIPVisionModelWithProjection):
    """The Open-VCLIP vision tower with CLIP's visual projection: video in, video embedding out."""

    config: OpenVCLIPVisionConfig

    @can_return_tuple
    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        interpolate_pos_encoding: bool = False,
        **kwargs: Unpack[TransformersKwargs],
    ) -> OpenVCLIPVisionModelOutput:
        vision_outputs = self.vision_model(pixel_values, interpolate_pos_encoding=interpolate_pos_encoding, **kwargs)
        frame_embeds = self.visual_projection(vision_outputs.pooler_output)
        return OpenVCLIPVisionModelOutput(
            video_embeds=pool_frame_embeddings(frame_embeds),
            frame_embeds=frame_embeds,
            last_hidden_state=vision_outputs.last_hidden_state,
            hidden_states=vision_outputs.hidden_states,
            attentions=vision_outputs.attentions,
        )


@dataclass
class OpenVCLIPOutput(ModelOutput):
    r"""
    loss (`torch.Tensor` of shape `()`, *optional*):
        With `return_loss=True`: CLIP's symmetric video-text contrastive loss (video `i` matches text `i`). With
        `labels`: cross-entropy of `logits_per_video` against them (the paper's fine-tuning loss, method doc section 4).
    logits_per_video (`torch.Tensor` of shape `(video_batch_size, text_batch_size)`):
        `logit_scale.exp() * video_embeds @ text_embeds.T`, the official mean of per-frame logits (method doc 1.3).
    logits_per_text (`torch.Tensor` of shape `(text_batch_size, video_batch_size)`):
        The transpose of `logits_per_video`.
    text_embeds (`torch.Tensor` of shape `(text_batch_size, projection_dim)`):
        L2-normalised text embeddings.
    video_embeds (`torch.Tensor` of shape `(video_batch_size, projection_dim)`):
        Mean over frames of the L2-normalised projected frame embeddings (norm <= 1, not re-normalised).
    text_model_output, vision_model_output (`BaseModelOutputWithPooling`):
        Outputs of the text tower (`None` for given `text_embeds`) and of [`OpenVCLIPModel.get_video_features`].
    """

    loss: torch.Tensor | None = None
    logits_per_video: torch.Tensor | None = None
    logits_per_text: torch.Tensor | None = None
    text_embeds: torch.Tensor | None = None
    video_embeds: torch.Tensor | None = None
    text_model_output: BaseModelOutputWithPooling | None = None
    vision_model_output: BaseModelOutputWithPooling | None = None

    def to_tuple(self) -> tuple:
        return tuple(v.to_tuple() if isinstance(v, ModelOutput) else v for v in self.values())


class OpenVCLIPModel(_OpenVCLIPVisionTower, CLIPModel):
    """Open-VCLIP: CLIP whose vision tower encodes videos with neighbour-frame attention; the text tower is CLIP's.
    Loads any CLIP checkpoint with no missing or unexpected keys, as released Open-VCLIP weights (method doc section 6).
    """

    config: OpenVCLIPConfig

    @classmethod
    def from_clip(cls, clip_model: CLIPModel, **config_kwargs) -> "OpenVCLIPModel":
        """An Open-VCLIP model with a copy of `clip_model`'s weights (all of them, nothing else); `config_kwargs`
        (e.g. `num_frames=16`) override the video settings."""
        config = OpenVCLIPConfig.from_clip_config(clip_model.config, **config_kwargs)
        config._attn_implementation = clip_model.config._attn_implementation
        model = cls(config).to(device=clip_model.device, dtype=clip_model.dtype)
        model.load_state_dict(clip_model.state_dict(), strict=True)
        return model

    def get_input_embeddings(self) -> nn.Module:
        """The text tower's token embedding (`CLIPModel` has none; accelerate's FSDP2 preparation asks for it)."""
        return self.text_model.embeddings.token_embedding

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.text_model.embeddings.token_embedding = value

    @can_return_tuple
    def get_video_features(
        self,
        pixel_values: torch.Tensor,
        interpolate_pos_encoding: bool = False,
        **kwargs: Unpack[TransformersKwargs],
    ) -> BaseModelOutputWithPooling:
        r"""
        pixel_values (`torch.Tensor` of shape `(batch_size, num_frames, num_channels, height, width)`):
            The videos; `pooler_output` is their embedding `(batch_size, projection_dim)`, [`pool_frame_embeddings`].
        """
        vision_outputs = self.vision_model(pixel_values, interpolate_pos_encoding=interpolate_pos_encoding, **kwargs)
        vision_outputs.pooler_output = pool_frame_embeddings(self.visual_projection(vision_outputs.pooler_output))
        return vision_outputs

    @can_return_tuple
    def get_image_features(
        self,
        pixel_values: torch.Tensor,
        interpolate_pos_encoding: bool = False,
        **kwargs: Unpack[TransformersKwargs],
    ) -> BaseModelOutputWithPooling:
        r"""
        pixel_values (`torch.Tensor` of shape `(batch_size, num_channels, height, width)`):
            Images, each a one-frame video: with `temporal_attention="neighbor"` every query also sees two all-zero
            neighbour frames, so this is *not* CLIP (method doc section 1.2). `pooler_output` is as in CLIP.
        """
        vision_outputs = self.vision_model(pixel_values[:, None], interpolate_pos_encoding, **kwargs)
        vision_outputs.pooler_output = self.visual_projection(vision_outputs.pooler_output[:, 0])
        return vision_outputs

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        text_embeds: torch.Tensor | None = None,
        return_loss: bool | None = None,
        labels: torch.LongTensor | None = None,
        interpolate_pos_encoding: bool = False,
        **kwargs: Unpack[TransformersKwargs],
    ) -> OpenVCLIPOutput:
        r"""
        `pixel_values` `(batch_size, num_frames, num_channels, height, width)`: the videos. Give either `input_ids`
        (tokenised texts) or `text_embeds` `(text_batch_size, projection_dim)` (e.g. prompt-ensemble class embeddings,
        method doc section 2; L2-normalised here). `return_loss=True`: CLIP's symmetric contrastive loss (video `i`
        matches text `i`); `labels` `(batch_size,)`: cross-entropy over the texts (method doc section 4).
        """
        if return_loss and labels is not None:
            raise ValueError("Pass either `return_loss=True` (contrastive loss) or `labels` (cross-entropy), not both.")
        if (input_ids is None) == (text_embeds is None):
            raise ValueError("Pass exactly one of `input_ids` and `text_embeds`.")

        vision_outputs = self.get_video_features(pixel_values, interpolate_pos_encoding, **kwargs)
        video_embeds = vision_outputs.pooler_output
        text_outputs = None
        if text_embeds is None:
            text_outputs = self.get_text_features(input_ids, attention_mask, position_ids, **kwargs)
            text_embeds = text_outputs.pooler_output
        text_embeds = text_embeds / text_embeds.norm(dim=-1, keepdim=True)

        scale = self.logit_scale.exp().to(video_embeds.device)
        logits_per_video = video_embeds @ text_embeds.t().to(video_embeds.device) * scale
        logits_per_text = logits_per_video.t()
        loss = None
        if return_loss:
            loss = image_text_contrastive_loss(logits_per_text)
        elif labels is not None:
            loss = nn.functional.cross_entropy(logits_per_video, labels.to(logits_per_video.device))
        return OpenVCLIPOutput(
            loss=loss,
            logits_per_video=logits_per_video,
            logits_per_text=logits_per_text,
            text_embeds=text_embeds,
            video_embeds=video_embeds,
            text_model_output=text_outputs,
            vision_model_output=vision_outputs,
        )


__all__ = [
    "OpenVCLIPModel", "OpenVCLIPNeighborFrameAttention", "OpenVCLIPOutput", "OpenVCLIPVisionModel",
    "OpenVCLIPVisionModelOutput", "OpenVCLIPVisionModelWithProjection", "expand_to_neighbor_frames",
    "pool_frame_embeddings",
]  # fmt: skip
