# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Official Open-VCLIP / OpenAI CLIP checkpoints (method doc section 6) -> `save_pretrained` folders of
[`OpenVCLIPModel`], optionally patched toward CLIP (method doc 3.3), with the key mapping of transformers'
`convert_clip_original_pytorch_to_hf.py`."""

import re
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from .configuration_open_vclip import OpenVCLIPConfig
from .modeling_open_vclip import OpenVCLIPModel
from .processing_open_vclip import OpenVCLIPProcessor
from .weights import (
    WRAPPER_PREFIXES,
    CheckpointError,
    check_output_folder,
    check_ratio,
    check_same_keys_and_shapes,
    load_checkpoint_state_dict,
    patch_model_,
    save_pretrained_atomically,
)

# OpenAI's ViTs use 64-dimensional attention heads in both towers (`clip/model.py: build_model`).
OPENAI_HEAD_DIM = 64
# Key prefixes in front of the OpenAI names: DDP, compile and PySlowFast's `TemporalClipVideo.model`.
_OPENAI_PREFIXES = (*WRAPPER_PREFIXES, "model.")
# Entries of OpenAI's TorchScript files that are not weights.
_NON_WEIGHT_KEYS = ("input_resolution", "context_length", "vocab_size")

_LAYER_RENAMES = {
    "attn.out_proj": "self_attn.out_proj", "ln_1": "layer_norm1", "ln_2": "layer_norm2", "mlp.c_fc": "mlp.fc1",
    "mlp.c_proj": "mlp.fc2",
}  # fmt: skip
_TOP_LEVEL_RENAMES = {
    "visual.conv1.weight": "vision_model.embeddings.patch_embedding.weight",
    "visual.class_embedding": "vision_model.embeddings.class_embedding",
    "visual.positional_embedding": "vision_model.embeddings.position_embedding.weight",
    "visual.ln_pre.weight": "vision_model.pre_layrnorm.weight", "visual.ln_pre.bias": "vision_model.pre_layrnorm.bias",
    "visual.ln_post.weight": "vision_model.post_layernorm.weight",
    "visual.ln_post.bias": "vision_model.post_layernorm.bias",
    "token_embedding.weight": "text_model.embeddings.token_embedding.weight",
    "positional_embedding": "text_model.embeddings.position_embedding.weight",
    "ln_final.weight": "text_model.final_layer_norm.weight", "ln_final.bias": "text_model.final_layer_norm.bias",
    "logit_scale": "logit_scale",
}  # fmt: skip
_TRANSPOSED = {"visual.proj": "visual_projection.weight", "text_projection": "text_projection.weight"}
_LAYER_KEY = re.compile(r"^(visual\.)?transformer\.resblocks\.(\d+)\.(.+)$")


class ConversionError(CheckpointError):
    """A checkpoint that can be read but is not a (complete, consistent) CLIP / Open-VCLIP checkpoint."""


def read_openai_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The OpenAI-named CLIP weights (float32) of an official Open-VCLIP checkpoint, an OpenAI state dict or
    TorchScript `.pt` (no code of the file runs). Raises a ConversionError if they are not CLIP weights."""
    state = load_checkpoint_state_dict(path)
    weights = {}
    for key, tensor in state.items():
        for prefix in _OPENAI_PREFIXES:
            key = key.removeprefix(prefix)
        if key not in _NON_WEIGHT_KEYS:
            weights[key] = tensor.float() if tensor.is_floating_point() else tensor
    if "visual.conv1.weight" not in weights or "token_embedding.weight" not in weights:
        if any(key.startswith("visual.layer1.") for key in weights):
            raise ConversionError(f"{path}: a ResNet CLIP checkpoint; Open-VCLIP needs a ViT backbone")
        example = ", ".join(sorted(weights)[:5]) or "no tensors"
        raise ConversionError(
            f"{path}: not a CLIP / Open-VCLIP checkpoint (no 'visual.conv1.weight' / 'token_embedding.weight'; "
            f"found e.g. {example})"
        )
    return weights


def _count_layers(weights: Mapping[str, torch.Tensor], prefix: str) -> int:
    pattern = re.compile(rf"^{re.escape(prefix)}transformer\.resblocks\.(\d+)\.")
    indices = {int(match.group(1)) for key in weights if (match := pattern.match(key))}
    if indices != set(range(len(indices))):
        raise ConversionError(f"{prefix or 'text '}transformer layers are not numbered 0..N-1: {sorted(indices)}")
    return len(indices)


def config_from_openai_state_dict(weights: Mapping[str, torch.Tensor], **config_kwargs) -> OpenVCLIPConfig:
    """Infer the CLIP architecture from tensor shapes, as OpenAI's `build_model` does."""
    vision_width, _, patch_size, _ = weights["visual.conv1.weight"].shape
    grid = round((weights["visual.positional_embedding"].shape[0] - 1) ** 0.5)
    vocab_size, text_width = weights["token_embedding.weight"].shape
    projection_dim = weights["text_projection"].shape[1]
    text_config = dict(
        vocab_size=vocab_size,
        hidden_size=text_width,
        intermediate_size=weights["transformer.resblocks.0.mlp.c_fc.weight"].shape[0],
        num_hidden_layers=_count_layers(weights, ""),
        num_attention_heads=text_width // OPENAI_HEAD_DIM,
        max_position_embeddings=weights["positional_embedding"].shape[0],
        projection_dim=projection_dim,
        # OpenAI's <|startoftext|> and <|endoftext|> are the last two ids of the vocabulary.
        bos_token_id=vocab_size - 2,
        eos_token_id=vocab_size - 1,
    )
    vision_config = dict(
        hidden_size=vision_width,
        intermediate_size=weights["visual.transformer.resblocks.0.mlp.c_fc.weight"].shape[0],
        num_hidden_layers=_count_layers(weights, "visual."),
        num_attention_heads=vision_width // OPENAI_HEAD_DIM,
        image_size=grid * patch_size,
        patch_size=patch_size,
        projection_dim=weights["visual.proj"].shape[1],
    )
    return OpenVCLIPConfig(
        text_config=text_config, vision_config=vision_config, projection_dim=projection_dim, **config_kwargs
    )


def openai_to_hf_state_dict(weights: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """OpenAI CLIP names -> `CLIPModel` names (`convert_clip_original_pytorch_to_hf.py`, method doc section 6):
    fused `in_proj` split into q/k/v, `visual.proj` and `text_projection` transposed."""
    converted = {}
    for key, tensor in weights.items():
        if key in _TOP_LEVEL_RENAMES:
            converted[_TOP_LEVEL_RENAMES[key]] = tensor
        elif key in _TRANSPOSED:
            converted[_TRANSPOSED[key]] = tensor.t().contiguous()
        elif match := _LAYER_KEY.match(key):
            tower = "vision_model" if match.group(1) else "text_model"
            module, _, kind = match.group(3).rpartition(".")
            prefix = f"{tower}.encoder.layers.{match.group(2)}."
            if module == "attn" and kind.startswith("in_proj_"):
                for name, part in zip(("q_proj", "k_proj", "v_proj"), tensor.chunk(3, dim=0)):
                    converted[f"{prefix}self_attn.{name}.{kind.removeprefix('in_proj_')}"] = part.contiguous()
            elif module in _LAYER_RENAMES:
                converted[f"{prefix}{_LAYER_RENAMES[module]}.{kind}"] = tensor
            else:
                raise ConversionError(f"unknown CLIP layer weight {key!r}")
        else:
            raise ConversionError(f"unknown CLIP weight {key!r}")
    return converted


def clip_anchor_state_dict(anchor: "str | Path | nn.Module") -> dict[str, torch.Tensor]:
    """θ_CLIP in Hugging Face names: an OpenAI file (TorchScript or state dict), a `save_pretrained` CLIP folder or
    Hub id, or a loaded `CLIPModel` / `OpenVCLIPModel`."""
    if not isinstance(anchor, nn.Module):
        if Path(anchor).is_file():
            return openai_to_hf_state_dict(read_openai_state_dict(anchor))
        anchor = OpenVCLIPModel.from_pretrained(anchor, dtype=torch.float32)
    return {key: value.detach().float().cpu() for key, value in anchor.state_dict().items()}


def convert_checkpoint(
    src: str | Path,
    clip_anchor: "str | Path | nn.Module | None" = None,
    ratio: float = 0.0,
    output_dir: str | Path | None = None,
    overwrite: bool = False,
    **config_kwargs,
) -> OpenVCLIPModel:
    """Convert an official Open-VCLIP / OpenAI CLIP checkpoint into an [`OpenVCLIPModel`].

    `src`: `swa_2_22.pth`, a PySlowFast epoch checkpoint, an OpenAI state dict or TorchScript `.pt`. With `ratio`
    r > 0 the weights are patched to `r·θ_CLIP + (1−r)·θ` (method doc 3.3; 0.5 for the released B/16, 0.6 for L/14)
    toward `clip_anchor` (anything [`clip_anchor_state_dict`] reads). `output_dir`: where the model and its processor
    are written atomically; `config_kwargs` override Open-VCLIP settings, e.g. `num_frames=16`."""
    ratio = check_ratio(ratio)
    if ratio > 0 and clip_anchor is None:
        raise ValueError(f"ratio={ratio} patches toward CLIP: pass `clip_anchor` (an OpenAI file, HF folder or model)")
    if ratio == 0 and clip_anchor is not None:
        raise ValueError("a CLIP anchor with ratio 0 patches nothing: give the ratio (--ratio, e.g. 0.5 for B/16)")
    if output_dir is not None:
        check_output_folder(output_dir, overwrite)
    openai_weights = read_openai_state_dict(src)
    try:
        config = config_from_openai_state_dict(openai_weights, patch_ratio=float(ratio), **config_kwargs)
    except KeyError as error:
        raise ConversionError(f"{src}: incomplete CLIP checkpoint, no {error.args[0]!r}") from error
    state_dict = openai_to_hf_state_dict(openai_weights)
    model = OpenVCLIPModel(config)
    try:
        check_same_keys_and_shapes(state_dict, model.state_dict(), "the checkpoint", "a CLIP model of its shapes")
    except ValueError as error:
        raise ConversionError(f"{src}: inconsistent CLIP checkpoint: {error}") from None
    model.load_state_dict(state_dict, strict=True)
    if clip_anchor is not None:
        try:
            patch_model_(model, clip_anchor_state_dict(clip_anchor), ratio)
        except ValueError as error:
            raise ConversionError(f"CLIP anchor {clip_anchor!r} does not match {src}: {error}") from error
    if output_dir is not None:
        save_pretrained_atomically(model, output_dir, OpenVCLIPProcessor.for_model(config))
    return model.eval()


def write_patched_model(
    model_dir: str | Path, clip_anchor, ratio: float, output_dir: str | Path, processor=None, overwrite: bool = False
) -> OpenVCLIPModel:
    """Test-time patching (method doc 3.3): `θ = ratio·θ_CLIP + (1 − ratio)·θ` over the model in `model_dir`, written
    atomically to `output_dir` with its non-weight files and `processor` (default: the model's own).
    `config.patch_ratio` records the total weight on CLIP: `1 − (1 − r₀)(1 − ratio)` if already patched with `r₀`."""
    ratio = check_ratio(ratio)  # before anything is loaded
    output_dir = Path(output_dir).absolute()
    check_output_folder(output_dir, overwrite)
    model = OpenVCLIPModel.from_pretrained(model_dir, dtype=torch.float32)
    patch_model_(model, clip_anchor_state_dict(clip_anchor), ratio)
    model.config.patch_ratio = 1.0 - (1.0 - (model.config.patch_ratio or 0.0)) * (1.0 - ratio)
    processor = processor or OpenVCLIPProcessor.from_pretrained(model_dir)
    save_pretrained_atomically(model, output_dir, processor, extra_files_from=model_dir)
    return model


__all__ = [
    "ConversionError", "clip_anchor_state_dict", "config_from_openai_state_dict", "convert_checkpoint",
    "openai_to_hf_state_dict", "read_openai_state_dict", "write_patched_model",
]  # fmt: skip
