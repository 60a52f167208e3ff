# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""PyTorch Open-VCLIP model (Weng et al., ICML 2023, arXiv 2302.00624), written as differences from CLIP like
transformers' X-CLIP: neighbour-frame attention in every vision layer (method doc section 1.2) and the mean of the
normalised frame embeddings as video embedding (section 1.3). No new parameters: any CLIP checkpoint loads as is.

Imports only torch, transformers and the configuration beside it: copied unchanged into Hub repositories for
`trust_remote_code=True`.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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
    (or values) of frame `t` (rows frame-major inside each video, as the official code flattens clips; method doc
    section 1.2) become the blocks `[frame t+1 ; frame t-1 ; frame t]` of the same video (the official
    `expand_temporal_view` order, `functional.py:608-622`). Frames outside the video are all-zero blocks *after* the
    projection (no bias, no mask): they get softmax mass `exp(0)/Z` and add nothing, as the weights were trained.

    Eager / `torch.compile`: one allocation, each block written once in place (fewer fresh buffers, see
    `benchmarks/README.md`). `torch.export` / ONNX: pad + concatenate; in-place writes would export as scatters that
    onnxruntime runs 2x slower.
    """
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
    the same video (paper Sec. 3.1; method doc section 1.2): only keys/values are widened (`kv_len = 3 * q_len`)
    before the usual `ALL_ATTENTION_FUNCTIONS` interface. Plain [`CLIPAttention`] with `temporal_attention="none"`
    or without `num_frames`.
    """

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
        # Expanded before the split into heads: every copied block is one contiguous (seq_len, embed_dim) slab.
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
    """The Open-VCLIP vision tower: [`CLIPVisionModel`] with neighbour-frame attention, applied to videos.

    `pixel_values` `(batch_size, num_frames, num_channels, height, width)`, any `num_frames >= 1`, gives a
    [`BaseModelOutputWithPooling`] with `last_hidden_state` `(batch_size, num_frames, seq_len, hidden_size)` and
    `pooler_output` `(batch_size, num_frames, hidden_size)` (the post-layernorm CLS token of every frame); per-layer
    `hidden_states` / `attentions` are per frame, `(batch_size * num_frames, ...)`, attentions over `3 * seq_len` keys.
    """

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
        pixel_values (`torch.Tensor` of shape `(batch_size, num_frames, num_channels, height, width)`):
            Frames of each video, any `num_frames >= 1`. Outputs: `last_hidden_state` `(batch_size, num_frames,
            seq_len, hidden_size)`, `pooler_output` (post-layernorm CLS) `(batch_size, num_frames, hidden_size)`,
            `hidden_states` / `attentions` per layer for the `batch_size * num_frames` frames.
        """
        shape = None if pixel_values is None else tuple(pixel_values.shape)
        layout = "`pixel_values` must have shape (batch_size, num_frames, channels, height, width)"
        if shape is None or len(shape) != 5 or 0 in shape[:2]:
            raise ValueError(
                f"{layout} with at least one video of at least one frame, got {shape}. A single image is a video of "
                "one frame: use `pixel_values[:, None]`."
            )
        if shape[2] != self.config.num_channels:
            raise ValueError(
                f"{layout} with {self.config.num_channels} channels in dimension 2, got {shape}. Channels-last or "
                "(batch_size, channels, num_frames, ...) tensors need a permute; `OpenVCLIPProcessor` returns the "
                "expected layout."
            )
        batch_size, num_frames = shape[:2]
        # Frames become independent images for everything but attention, which regroups them by `num_frames`.
        outputs = super().forward(
            pixel_values.flatten(0, 1),
            interpolate_pos_encoding=interpolate_pos_encoding,
            num_frames=num_frames,
            return_dict=True,
            **kwargs,
        )
        outputs.last_hidden_state = outputs.last_hidden_state.unflatten(0, (batch_size, num_frames))
        outputs.pooler_output = outputs.pooler_output.unflatten(0, (batch_size, num_frames))
        return outputs


# Load the vision tower alone from a full (Open-V)CLIP checkpoint as `CLIPVisionModel` does (drop `vision_model.`).
register_checkpoint_conversion_mapping(
    OpenVCLIPVisionModel.__name__, get_checkpoint_conversion_mapping(CLIPVisionModel.__name__), overwrite=True
)


def pool_frame_embeddings(frame_embeds: torch.Tensor) -> torch.Tensor:
    """`(batch_size, num_frames, dim) -> (batch_size, dim)`: mean over frames of the L2-normalised frame embeddings,
    **not** re-normalised. The official model averages the per-frame logits `s * f̂_t · ĉ`
    (`temporalclip_video_model.py:214, 231-232`), which equals `s * mean_t(f̂_t) · ĉ`; re-normalising would change
    softmax scores and the training loss (method doc section 1.3).
    """
    return (frame_embeds / frame_embeds.norm(dim=-1, keepdim=True)).mean(dim=1)


@dataclass
class OpenVCLIPVisionModelOutput(ModelOutput):
    r"""
    video_embeds (`torch.Tensor` of shape `(batch_size, projection_dim)`):
        Video embeddings: mean over frames of the L2-normalised projected frame embeddings (not re-normalised).
    frame_embeds (`torch.Tensor` of shape `(batch_size, num_frames, projection_dim)`):
        Projected (not normalised) CLS embedding of every frame.
    last_hidden_state (`torch.Tensor` of shape `(batch_size, num_frames, sequence_length, hidden_size)`):
        Last layer hidden states of every frame.
    hidden_states (`tuple(torch.Tensor)`, *optional*):
        Per layer, `(batch_size * num_frames, sequence_length, hidden_size)`.
    attentions (`tuple(torch.Tensor)`, *optional*):
        Per layer, `(batch_size * num_frames, num_heads, sequence_length, 3 * sequence_length)` with neighbour-frame
        attention (keys ordered next frame, previous frame, own frame).
    """

    video_embeds: torch.Tensor | None = None
    frame_embeds: torch.Tensor | None = None
    last_hidden_state: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


class OpenVCLIPVisionModelWithProjection(CLIPVisionModelWithProjection):
    """The Open-VCLIP vision tower with CLIP's visual projection: video in, video embedding out."""

    config: OpenVCLIPVisionConfig

    def __init__(self, config: OpenVCLIPVisionConfig):
        super().__init__(config)
        self.vision_model = OpenVCLIPVisionModel(config)
        self.post_init()

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
        With `return_loss=True`: CLIP's symmetric video-text contrastive loss (video `i` matches text `i`).
        With `labels`: cross-entropy of `logits_per_video` against the label indices, i.e. classification over the
        given texts (the paper's fine-tuning loss, method doc section 4).
    logits_per_video (`torch.Tensor` of shape `(video_batch_size, text_batch_size)`):
        `logit_scale.exp() * video_embeds @ text_embeds.T`. Equals the official model's mean over frames of the
        per-frame logits (method doc section 1.3).
    logits_per_text (`torch.Tensor` of shape `(text_batch_size, video_batch_size)`):
        The transpose of `logits_per_video`.
    text_embeds (`torch.Tensor` of shape `(text_batch_size, projection_dim)`):
        L2-normalised text embeddings.
    video_embeds (`torch.Tensor` of shape `(video_batch_size, projection_dim)`):
        Mean over frames of the L2-normalised projected frame embeddings (norm <= 1, not re-normalised).
    text_model_output (`BaseModelOutputWithPooling`, *optional*):
        Output of the text tower (`None` when `text_embeds` were given).
    vision_model_output (`BaseModelOutputWithPooling`):
        Output of [`OpenVCLIPModel.get_video_features`]: `pooler_output` is `video_embeds`, `last_hidden_state` is
        `(video_batch_size, num_frames, sequence_length, hidden_size)`.
    """

    loss: torch.Tensor | None = None
    logits_per_video: torch.Tensor | None = None
    logits_per_text: torch.Tensor | None = None
    text_embeds: torch.Tensor | None = None
    video_embeds: torch.Tensor | None = None
    text_model_output: BaseModelOutputWithPooling | None = None
    vision_model_output: BaseModelOutputWithPooling | None = None

    def to_tuple(self) -> tuple[Any]:
        return tuple(v.to_tuple() if isinstance(v, ModelOutput) else v for v in self.values())


class OpenVCLIPModel(CLIPModel):
    """Open-VCLIP: CLIP whose vision tower encodes videos with neighbour-frame attention; the text tower is CLIP's.
    Loads any CLIP checkpoint with no missing or unexpected keys, as released Open-VCLIP weights (method doc section 6).

    Example:

    ```python
    >>> import torch
    >>> from open_vclip_hf import OpenVCLIPModel, OpenVCLIPProcessor

    >>> model = OpenVCLIPModel.from_pretrained("path/to/open-vclip-b16")
    >>> processor = OpenVCLIPProcessor.from_pretrained("path/to/open-vclip-b16")
    >>> inputs = processor(videos="archery.mp4", text=["a video of archery", "a video of cooking"], return_tensors="pt")
    >>> with torch.inference_mode():
    ...     probs = model(**inputs).logits_per_video.softmax(dim=-1)
    ```
    """

    config: OpenVCLIPConfig

    def __init__(self, config: OpenVCLIPConfig):
        super().__init__(config)
        self.vision_model = OpenVCLIPVisionModel(config.vision_config)
        self.post_init()

    @classmethod
    def from_clip(cls, clip_model: CLIPModel, **config_kwargs) -> "OpenVCLIPModel":
        """An Open-VCLIP model holding a copy of `clip_model`'s weights (`config_kwargs`, e.g. `num_frames=16`,
        override the video settings). Strict: every CLIP weight is loaded and nothing else exists."""
        config = OpenVCLIPConfig.from_clip_config(clip_model.config, **config_kwargs)
        config._attn_implementation = clip_model.config._attn_implementation
        model = cls(config).to(device=clip_model.device, dtype=clip_model.dtype)
        model.load_state_dict(clip_model.state_dict(), strict=True)
        return model

    def get_input_embeddings(self) -> nn.Module:
        """The text tower's token embedding, as `CLIPTextModel.get_input_embeddings` (`CLIPModel` has none, and
        accelerate's FSDP2 preparation asks the model for it)."""
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
            Frames of each video (any `num_frames >= 1`), e.g. from [`OpenVCLIPProcessor`].

        Returns a [`BaseModelOutputWithPooling`] (like `CLIPModel.get_image_features`) whose `pooler_output` is the
        video embedding `(batch_size, projection_dim)`, see [`pool_frame_embeddings`].
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
            Images, each encoded as a one-frame video. With `temporal_attention="neighbor"` this is *not* CLIP: every
            query also sees two all-zero neighbour frames (method doc section 1.2, corollary).

        `pooler_output`: the projected, unnormalised image embedding, as in `CLIPModel.get_image_features`.
        """
        videos = pixel_values[:, None]  # one frame each
        vision_outputs = self.vision_model(videos, interpolate_pos_encoding=interpolate_pos_encoding, **kwargs)
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
        pixel_values (`torch.Tensor` of shape `(batch_size, num_frames, num_channels, height, width)`):
            The videos.
        input_ids (`torch.LongTensor` of shape `(text_batch_size, sequence_length)`, *optional*):
            Tokenised texts (e.g. class prompts); give either these or `text_embeds`.
        text_embeds (`torch.Tensor` of shape `(text_batch_size, projection_dim)`, *optional*):
            Precomputed text embeddings used instead of running the text tower, e.g. the cached prompt-ensemble
            class embeddings (method doc section 2). They are L2-normalised here (a no-op if they already are).
        return_loss (`bool`, *optional*):
            Return CLIP's symmetric contrastive loss (video `i` matches text `i`).
        labels (`torch.LongTensor` of shape `(batch_size,)`, *optional*):
            Index of the correct text for every video: returns the cross-entropy over the given texts (the paper's
            classification loss against class-name embeddings, method doc section 4).
        """
        if return_loss and labels is not None:
            raise ValueError(
                "Pass either `return_loss=True` (contrastive loss) or `labels` (classification loss), not both."
            )
        if (input_ids is None) == (text_embeds is None):
            raise ValueError("Pass exactly one of `input_ids` and `text_embeds`.")

        vision_outputs = self.get_video_features(pixel_values, interpolate_pos_encoding, **kwargs)
        video_embeds = vision_outputs.pooler_output

        text_outputs = None
        if text_embeds is None:
            text_outputs = self.get_text_features(
                input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, **kwargs
            )
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
