# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""PyTorch Open-VCLIP model (Weng et al., "Open-VCLIP: Transforming CLIP to an Open-vocabulary Video Model via
Interpolated Weight Optimization", ICML 2023, arXiv 2302.00624).

Written as *differences from CLIP*, like transformers' X-CLIP: the only new computation is

* `OpenVCLIPNeighborFrameAttention`: in every vision layer the keys/values of frame `t` are those of frames
  `t+1`, `t-1` and `t` (zero blocks at the video boundaries), method doc section 1.2;
* `OpenVCLIPModel.get_video_features`: mean over frames of the L2-normalised projected frame embeddings, method doc
  section 1.3.

There are no new parameters: every weight has the name and shape it has in `CLIPModel`, so any CLIP checkpoint
loads as is.

Self-contained on purpose (imports only torch, transformers and the configuration beside it): this file is copied
unchanged into Hub repositories and loaded there with `trust_remote_code=True`.
"""

import math
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
    _get_vector_norm,
    eager_attention_forward,
    image_text_contrastive_loss,
)
from transformers.processing_utils import Unpack
from transformers.utils import ModelOutput, TransformersKwargs, can_return_tuple

from .configuration_open_vclip import OpenVCLIPConfig, OpenVCLIPVisionConfig
from .prompts import PROMPT_TEMPLATES, build_class_embeddings


def expand_to_neighbor_frames(states: torch.Tensor, num_frames: int) -> torch.Tensor:
    """Keys (or values) of every frame followed by those of its next and previous frame.

    Args:
        states: `(batch_size * num_frames, seq_len, embed_dim)`, projected keys (or values) before the split into
            heads, frame-major inside each video (row `b * num_frames + t`), as the official code flattens clips
            (method doc section 1.2).
        num_frames: frames per video.

    Returns:
        `(batch_size * num_frames, 3 * seq_len, embed_dim)`: for frame `t` the blocks
        `[next frame t+1 ; previous frame t-1 ; own frame t]` (the official `expand_temporal_view` order,
        `functional.py:608-622`; the order does not change the result). Frames outside the video are all-zero
        blocks *after* the key/value projection (no bias, no mask): they receive softmax mass `exp(0)/Z` and add
        nothing, exactly like the released checkpoints were trained. Videos never see each other's frames.

    Eager and `torch.compile`: one allocation, each block written once in place, no padded intermediate (fewer and
    smaller fresh buffers per layer, see `benchmarks/README.md`). Under `torch.export` / ONNX export: pad + concatenate
    instead, two plain graph ops; in-place writes would export as a chain of scatters that onnxruntime runs 2x slower.
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
    """CLIP self-attention in which every token of frame `t` attends to all tokens (CLS included) of frames
    `t-1`, `t` and `t+1` of the same video (paper Sec. 3.1, "expand temporal view"; method doc section 1.2).

    Same projections and parameters as [`CLIPAttention`]; only the keys/values are widened, then the usual
    `ALL_ATTENTION_FUNCTIONS` interface runs (eager, sdpa, flash...), with `q_len = N` and `kv_len = 3N`. With
    `config.temporal_attention == "none"` or without `num_frames` it is exactly [`CLIPAttention`].

    SDPA on CPU in float32 (the default there) runs a faster exact form of the same attention (see
    `_sdpa_cpu_neighbor_attention`), measured in `benchmarks/README.md` ("Video tower"). Eager keeps
    [`expand_to_neighbor_frames`], so that `output_attentions` has the documented `[t+1 ; t-1 ; t]` layout, and so do
    ONNX export, other devices and dtypes.
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
        """`hidden_states`: `(batch_size * num_frames, seq_len, embed_dim)`, frame-major inside each video."""
        if self.temporal_attention == "none" or num_frames is None:
            return super().forward(hidden_states, attention_mask, **kwargs)

        attention_interface: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
        dropout = 0.0 if not self.training else self.dropout
        input_shape = hidden_states.shape[:-1]
        if (
            self.config._attn_implementation == "sdpa"
            and hidden_states.device.type == "cpu"
            and hidden_states.dtype == torch.float32
            and not torch.onnx.is_in_onnx_export()
            and not getattr(torch.compiler, "is_exporting", lambda: False)()
        ):
            attn_output = self._sdpa_cpu_neighbor_attention(
                hidden_states, num_frames, attention_interface, attention_mask, dropout, **kwargs
            )
            return self.out_proj(attn_output), None

        hidden_shape = (*input_shape, -1, self.head_dim)
        queries = self.q_proj(hidden_states).view(hidden_shape).transpose(1, 2)
        # Expanded before the split into heads: every copied block is one contiguous (seq_len, embed_dim) slab.
        keys = expand_to_neighbor_frames(self.k_proj(hidden_states), num_frames)
        values = expand_to_neighbor_frames(self.v_proj(hidden_states), num_frames)
        neighbor_shape = (*input_shape[:-1], -1, self.num_heads, self.head_dim)
        keys = keys.view(neighbor_shape).transpose(1, 2)
        values = values.view(neighbor_shape).transpose(1, 2)

        attn_output, attn_weights = attention_interface(
            self, queries, keys, values, attention_mask, scaling=self.scale, dropout=dropout, **kwargs
        )
        attn_output = attn_output.reshape(*input_shape, -1).contiguous()
        return self.out_proj(attn_output), attn_weights

    def _sdpa_cpu_neighbor_attention(
        self,
        hidden_states: torch.Tensor,
        num_frames: int,
        attention_interface: Callable,
        attention_mask: torch.Tensor | None,
        dropout: float,
        **kwargs: Unpack[TransformersKwargs],
    ) -> torch.Tensor:
        """The neighbour-frame attention without the `3N`-key buffers, for the fused SDPA CPU kernel.

        Same result as [`expand_to_neighbor_frames`] + attention up to float rounding, cheaper on CPU (measured in
        `benchmarks/README.md`, "Video tower"): the kernel reads strided keys/values in place and costs about its
        FLOPs, so the two levers are memory written per layer and keys computed.

        * Keys/values are one copy of each video's `T * N` tokens with **one** zero token added before and after
          (`(batch_size, T * N + 2, embed_dim)`); every key window below is a view of it (`unfold`), with the blocks
          in the order `[t-1 ; t ; t+1]` (attention does not depend on the order of its keys).
        * Frames `1..T-2` attend to their `3N` neighbour keys: windows of `3N` tokens, one every `N`.
        * The first and last frame have one missing neighbour: `N` all-zero keys (zero after the projection) with
          zero values. Each has score `q . 0 = 0`, so together they add exactly `N * exp(0)` to the softmax
          denominator and nothing to the numerator; one zero key with an additive bias `log(N)` does the same
          (`exp(log N) = N`), so these two frames attend to `2N + 1` keys instead of `3N` (a single frame: `N + 2`,
          both neighbours missing). The bias is the only attention mask, shared by all heads and queries.

        One interface call per video and kind of frame (windows of different videos are not one strided batch).
        Returns `(batch_size * num_frames, seq_len, embed_dim)`.
        """
        frames, seq_len, embed_dim = hidden_states.shape
        batch_size = frames // num_frames
        head_shape = (-1, seq_len, self.num_heads, self.head_dim)
        queries = self.q_proj(hidden_states).view(batch_size, num_frames, *head_shape[1:]).transpose(2, 3)

        def padded(states: torch.Tensor) -> torch.Tensor:
            # = nn.functional.pad(..., (0, 0, 1, 1)), which would first zero-fill the whole fresh buffer
            out = states.new_empty(batch_size, num_frames * seq_len + 2, embed_dim)
            out[:, 1:-1] = states.view(batch_size, num_frames * seq_len, embed_dim)
            out[:, 0] = out[:, -1] = 0
            return out

        keys, values = padded(self.k_proj(hidden_states)), padded(self.v_proj(hidden_states))

        def windows(states: torch.Tensor, start: int, stop: int, size: int, step: int) -> torch.Tensor:
            # (windows, heads, size, head_dim) views of the tokens start..stop-1 of one video
            windowed = states[start:stop].unfold(0, size, step).transpose(1, 2)
            return windowed.reshape(-1, size, self.num_heads, self.head_dim).transpose(1, 2)

        log_n = math.log(seq_len)
        if num_frames == 1:  # [zero ; frame ; zero]
            border_size, border_step, border_frames = seq_len + 2, 1, slice(0, 1)
            border_bias = queries.new_zeros(1, 1, 1, border_size)
            border_bias[..., 0] = border_bias[..., -1] = log_n
        else:  # frame 0: [zero ; 0 ; 1], frame T-1: [T-2 ; T-1 ; zero]
            border_size, border_step = 2 * seq_len + 1, (num_frames - 2) * seq_len + 1
            border_frames = slice(None, None, num_frames - 1)
            border_bias = queries.new_zeros(2, 1, 1, border_size)
            border_bias[0, ..., 0] = border_bias[1, ..., -1] = log_n
        if attention_mask is not None:
            border_bias = border_bias + attention_mask

        def attend(query, key, value, mask) -> torch.Tensor:  # -> (frames, seq_len, heads, head_dim)
            output, _ = attention_interface(self, query, key, value, mask, scaling=self.scale, dropout=dropout, **kwargs)
            return output

        pieces = []
        for video in range(batch_size):
            border = attend(
                queries[video, border_frames],
                windows(keys[video], 0, None, border_size, border_step),
                windows(values[video], 0, None, border_size, border_step),
                border_bias,
            )
            pieces.append(border[:1])
            if num_frames > 2:
                inner = slice(1, 1 + num_frames * seq_len)
                pieces.append(
                    attend(
                        queries[video, 1:-1],
                        windows(keys[video], inner.start, inner.stop, 3 * seq_len, seq_len),
                        windows(values[video], inner.start, inner.stop, 3 * seq_len, seq_len),
                        attention_mask,
                    )
                )
            if num_frames > 1:
                pieces.append(border[1:])
        return torch.cat(pieces).reshape(frames, seq_len, embed_dim)


class OpenVCLIPVisionEncoderLayer(CLIPEncoderLayer):
    def __init__(self, config: OpenVCLIPVisionConfig):
        super().__init__(config)
        self.self_attn = OpenVCLIPNeighborFrameAttention(config)


class OpenVCLIPVisionEncoder(CLIPEncoder):
    """[`CLIPEncoder`] with neighbour-frame attention in **every** layer (`customize_visiontransformer.py:458-459`)."""

    def __init__(self, config: OpenVCLIPVisionConfig):
        super().__init__(config)
        self.layers = nn.ModuleList([OpenVCLIPVisionEncoderLayer(config) for _ in range(config.num_hidden_layers)])


def _check_video_pixel_values(pixel_values: torch.Tensor | None, num_channels: int) -> tuple[int, int]:
    if pixel_values is None:
        raise ValueError("You have to specify `pixel_values` of shape (batch_size, num_frames, channels, height, width).")
    if pixel_values.dim() != 5:
        raise ValueError(
            "`pixel_values` must have shape (batch_size, num_frames, channels, height, width), got "
            f"{tuple(pixel_values.shape)}. A single image is a video of one frame: use `pixel_values[:, None]`."
        )
    if pixel_values.shape[2] != num_channels:
        raise ValueError(
            f"`pixel_values` must have shape (batch_size, num_frames, channels, height, width) with {num_channels} "
            f"channels in dimension 2, got {tuple(pixel_values.shape)}. Channels-last (..., height, width, channels) "
            "or (batch_size, channels, num_frames, ...) tensors need a permute; `OpenVCLIPProcessor` returns the "
            "expected layout."
        )
    batch_size, num_frames = pixel_values.shape[:2]
    if batch_size == 0 or num_frames == 0:
        raise ValueError(f"`pixel_values` needs at least one video of at least one frame, got {tuple(pixel_values.shape)}.")
    return batch_size, num_frames


class OpenVCLIPVisionModel(CLIPVisionModel):
    """The Open-VCLIP vision tower: [`CLIPVisionModel`] with neighbour-frame attention, applied to videos.

    Input `pixel_values`: `(batch_size, num_frames, num_channels, height, width)`, any `num_frames >= 1`.
    Output (a [`BaseModelOutputWithPooling`]):
        last_hidden_state: `(batch_size, num_frames, seq_len, hidden_size)`.
        pooler_output: `(batch_size, num_frames, hidden_size)`, the post-layernorm CLS token of every frame.
        hidden_states / attentions (when requested): per layer, for the `batch_size * num_frames` frames, i.e.
            `(batch_size * num_frames, seq_len, hidden_size)` and `(batch_size * num_frames, heads, seq_len, 3 * seq_len)`
            (eager attention only, as in CLIP).
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
        batch_size, num_frames = _check_video_pixel_values(pixel_values, self.config.num_channels)
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


# Load the vision tower alone from a full (Open-V)CLIP checkpoint exactly as `CLIPVisionModel` does: drop the
# `vision_model.` prefix of the stored keys.
register_checkpoint_conversion_mapping(
    OpenVCLIPVisionModel.__name__, get_checkpoint_conversion_mapping(CLIPVisionModel.__name__), overwrite=True
)


def pool_frame_embeddings(frame_embeds: torch.Tensor) -> torch.Tensor:
    """Video embedding = mean over frames of the L2-normalised frame embeddings, **not** re-normalised.

    `(batch_size, num_frames, dim) -> (batch_size, dim)`. The official model averages the per-frame logits
    `s * f̂_t · ĉ` over frames (`temporalclip_video_model.py:214, 231-232`), which equals `s * mean_t(f̂_t) · ĉ`;
    re-normalising would change softmax scores and the training loss (method doc section 1.3).
    """
    return (frame_embeds / _get_vector_norm(frame_embeds)).mean(dim=1)


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
        self.vision_model = OpenVCLIPVisionModel._from_config(config)
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
    """Open-VCLIP: CLIP whose vision tower encodes videos with neighbour-frame attention.

    Loads any CLIP checkpoint with no missing or unexpected keys (`OpenVCLIPModel.from_pretrained(<CLIP folder>)`,
    [`OpenVCLIPModel.from_clip`]); released Open-VCLIP weights have exactly CLIP's keys too (method doc section 6).
    The text tower is CLIP's, unchanged.

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
        self.vision_model = OpenVCLIPVisionModel._from_config(config.vision_config)
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

        Returns a [`BaseModelOutputWithPooling`] (like `CLIPModel.get_image_features` in transformers 5) whose
        `pooler_output` is the video embedding `(batch_size, projection_dim)`: the mean over frames of the
        L2-normalised projected frame embeddings, not re-normalised (method doc section 1.3).

        ```python
        >>> video_embeds = model.get_video_features(pixel_values).pooler_output
        ```"""
        vision_outputs = self.vision_model(
            pixel_values=pixel_values, interpolate_pos_encoding=interpolate_pos_encoding, **kwargs
        )
        vision_outputs.pooler_output = pool_frame_embeddings(self.visual_projection(vision_outputs.pooler_output))
        return vision_outputs

    def get_class_embeddings(
        self, labels: list[str], processor, templates: str | list[str] = PROMPT_TEMPLATES, batch_size: int = 256
    ) -> torch.Tensor:
        """Normalised prompt-ensemble embeddings `(len(labels), projection_dim)` of class names: each label in every
        template (default: the 28 of the official code), text tower, normalise, mean over templates, normalise
        (method doc section 2). Cached: labels embedded before are not run through the text tower again (until its
        weights change). Pass them as `text_embeds=` to [`OpenVCLIPModel.forward`]."""
        return build_class_embeddings(self, processor, labels, templates, batch_size=batch_size)

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

        Returns a [`BaseModelOutputWithPooling`] whose `pooler_output` is the projected, unnormalised image embedding
        `(batch_size, projection_dim)`, as in `CLIPModel.get_image_features`.
        """
        vision_outputs = self.vision_model(
            pixel_values=pixel_values[:, None], interpolate_pos_encoding=interpolate_pos_encoding, **kwargs
        )
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
            Tokenised texts (e.g. class prompts). Give either these or `text_embeds`.
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
            raise ValueError("Pass either `return_loss=True` (contrastive loss) or `labels` (classification loss), not both.")
        if (input_ids is None) == (text_embeds is None):
            raise ValueError("Pass exactly one of `input_ids` and `text_embeds`.")

        vision_outputs = self.get_video_features(
            pixel_values=pixel_values, interpolate_pos_encoding=interpolate_pos_encoding, **kwargs
        )
        video_embeds = vision_outputs.pooler_output

        text_outputs = None
        if text_embeds is None:
            text_outputs = self.get_text_features(
                input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, **kwargs
            )
            text_embeds = text_outputs.pooler_output
        text_embeds = text_embeds / _get_vector_norm(text_embeds)

        logits_per_video = torch.matmul(video_embeds, text_embeds.t().to(video_embeds.device))
        logits_per_video = logits_per_video * self.logit_scale.exp().to(video_embeds.device)
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
    "OpenVCLIPModel",
    "OpenVCLIPNeighborFrameAttention",
    "OpenVCLIPOutput",
    "OpenVCLIPVisionModel",
    "OpenVCLIPVisionModelOutput",
    "OpenVCLIPVisionModelWithProjection",
    "expand_to_neighbor_frames",
    "pool_frame_embeddings",
]
