# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""ONNX export of Open-VCLIP and an onnxruntime-backed model that the zero-shot pipeline can run:

```python
export_onnx("path/to/open-vclip-b16", "onnx-b16")  # or `open-vclip export-onnx MODEL --out DIR`
model, processor = OpenVCLIPOnnxModel.from_pretrained("onnx-b16"), OpenVCLIPProcessor.from_pretrained("onnx-b16")
ZeroShotVideoClassificationPipeline(model=model, processor=processor)("archery.mp4", candidate_labels=["archery"])
```

An export folder holds
* `vision_model.onnx`: `pixel_values (batch, num_frames, 3, H, W) float32 -> video_embeds (batch, projection_dim),
  frame_embeds (batch, num_frames, projection_dim)`: [`OpenVCLIPModel.get_video_features`] and the projected,
  unnormalised CLS embedding of every frame; batch and frame count are dynamic;
* `text_model.onnx`: `input_ids, attention_mask (batch, sequence) int64 -> text_embeds (batch, projection_dim)`:
  [`OpenVCLIPModel.get_text_features`] (not normalised); batch and length are dynamic;
* `config.json` and the processor files; the learned `logit_scale` is in the metadata of both ONNX files.

Not part of the Hub remote code: needs `onnx`, `onnxscript` (export) and `onnxruntime`
(`pip install open_vclip_hf[onnx]`).
"""

import copy
import logging
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.models.clip.modeling_clip import image_text_contrastive_loss

from .configuration_open_vclip import OpenVCLIPConfig
from .modeling_open_vclip import OpenVCLIPModel, OpenVCLIPOutput, pool_frame_embeddings

VISION_FILE = "vision_model.onnx"
TEXT_FILE = "text_model.onnx"
LOGIT_SCALE_KEY = "open_vclip.logit_scale"
OPSET_VERSION = 18  # onnxruntime >= 1.14; newer opsets add nothing these graphs use
DEFAULT_ATOL = 1e-4  # issue requirement: ONNX outputs agree with PyTorch to 1e-4


class _VideoTower(nn.Module):
    def __init__(self, model: OpenVCLIPModel):
        super().__init__()
        self.vision_model, self.visual_projection = model.vision_model, model.visual_projection

    def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        frame_embeds = self.visual_projection(self.vision_model(pixel_values=pixel_values).pooler_output)
        return pool_frame_embeddings(frame_embeds), frame_embeds


class _TextTower(nn.Module):
    def __init__(self, model: OpenVCLIPModel):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model.get_text_features(input_ids=input_ids, attention_mask=attention_mask).pooler_output


def _export(module: nn.Module, args: tuple, names: tuple[list[str], list[str]], dynamic_shapes, path, metadata):
    """`torch.export` + the dynamo ONNX exporter, quietly (its progress lines, the missing-torchvision notes and the
    warnings about merged axis names say nothing about our graphs)."""
    registration_logger = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration_logger.level
    registration_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*axis name", category=UserWarning)
            warnings.filterwarnings("ignore", message=".*LeafSpec", category=FutureWarning)
            program = torch.onnx.export(
                module, args, None, dynamo=True, input_names=names[0], output_names=names[1],
                dynamic_shapes=dynamic_shapes, opset_version=OPSET_VERSION, optimize=True, verbose=False,
            )  # fmt: skip
    finally:
        registration_logger.setLevel(level)
    program.model.metadata_props.update(metadata)
    program.save(str(path))  # weights go to an external `.data` file only when the protobuf would exceed 2 GB


def export_onnx(
    model: "OpenVCLIPModel | str | Path",
    output_dir: str | Path,
    *,
    text: bool = True,
    processor=None,
    verify: bool = True,
    atol: float = DEFAULT_ATOL,
    seed: int = 0,
) -> dict[str, float]:
    """Export the video tower (and the text tower) of an Open-VCLIP model to ONNX, with a dynamic batch size and
    frame count (and text length).

    Args:
        model: an [`OpenVCLIPModel`] or a folder / Hub id it loads from. It is exported in float32 on the CPU (a copy
            is made if it lives elsewhere); the image size is fixed to `config.vision_config.image_size`.
        output_dir: created if needed; receives the ONNX files, `config.json` and the processor files.
        text: also export the text tower (needed to embed new labels; not for fixed, precomputed class embeddings).
        processor: saved beside the ONNX files; by default the one stored with `model` (when `model` is a path) or
            the default [`OpenVCLIPProcessor`].
        verify: run the exported files in onnxruntime on random inputs of other shapes than the export example
            (1 and 3 videos of 2 and 8 frames, texts of 5 and 11 tokens) and raise `RuntimeError` if any output differs
            from PyTorch by more than `atol`.

    Returns `{"video_embeds": max_abs_diff, "frame_embeds": ..., "text_embeds": ...}` (empty without `verify`).
    """
    from .processing_open_vclip import OpenVCLIPProcessor

    source = model
    if isinstance(model, (str, Path)):
        model = OpenVCLIPModel.from_pretrained(model)
    if processor is None and isinstance(source, (str, Path)):
        processor = OpenVCLIPProcessor.from_pretrained(source)  # the folder's, or the default one of its model
    processor = processor or OpenVCLIPProcessor.for_model(model.config)
    if model.device.type != "cpu" or model.dtype != torch.float32:
        model = copy.deepcopy(model).to("cpu", torch.float32)
    model = model.eval()
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)

    vision, text_config = model.config.vision_config, model.config.text_config
    metadata = {LOGIT_SCALE_KEY: repr(float(model.logit_scale.detach())), "producer": "open_vclip_hf"}
    generator = torch.Generator().manual_seed(seed)
    # Example sizes >= 2 so that torch.export keeps them symbolic (0/1 would be specialised).
    pixel_values = torch.randn(2, 4, vision.num_channels, vision.image_size, vision.image_size, generator=generator)
    batch, frames = torch.export.Dim("batch", min=1), torch.export.Dim("num_frames", min=1)
    video_tower, text_tower = _VideoTower(model).eval(), _TextTower(model).eval()
    with torch.no_grad():
        _export(
            video_tower, (pixel_values,), (["pixel_values"], ["video_embeds", "frame_embeds"]),
            {"pixel_values": {0: batch, 1: frames}}, output_dir / VISION_FILE, metadata,
        )  # fmt: skip
        if text:
            input_ids = _random_token_ids(2, 7, text_config, generator)
            sequence = torch.export.Dim("sequence", min=1, max=text_config.max_position_embeddings)
            text_batch = torch.export.Dim("text_batch", min=1)
            _export(
                text_tower, (input_ids, torch.ones_like(input_ids)), (["input_ids", "attention_mask"], ["text_embeds"]),
                {"input_ids": {0: text_batch, 1: sequence}, "attention_mask": {0: text_batch, 1: sequence}},
                output_dir / TEXT_FILE, metadata,
            )  # fmt: skip
    model.config.save_pretrained(output_dir)
    processor.save_pretrained(output_dir)
    if not verify:
        return {}

    onnx_model = OpenVCLIPOnnxModel.from_pretrained(output_dir)
    differences = {"video_embeds": 0.0, "frame_embeds": 0.0} | ({"text_embeds": 0.0} if text else {})

    def record(name: str, expected: torch.Tensor, got: np.ndarray) -> None:
        differences[name] = max(differences[name], float(np.abs(expected.numpy() - got).max()))

    with torch.no_grad():
        for batch_size, num_frames in ((1, 2), (3, 8)):
            shape = (batch_size, num_frames, vision.num_channels, vision.image_size, vision.image_size)
            pixel_values = torch.randn(shape, generator=generator)
            for name, want, got in zip(differences, video_tower(pixel_values), onnx_model.run_vision(pixel_values)):
                record(name, want, got)
        for batch_size, length in ((1, 5), (3, 11)) if text else ():
            input_ids = _random_token_ids(batch_size, length, text_config, generator)
            attention_mask = torch.ones_like(input_ids)
            attention_mask[0, -2:] = 0  # padded prompt
            record("text_embeds", text_tower(input_ids, attention_mask), onnx_model.run_text(input_ids, attention_mask))
    if not max(differences.values()) <= atol:  # also catches NaN
        raise RuntimeError(f"ONNX outputs differ from PyTorch by more than {atol}: {differences}")
    return differences


def _random_token_ids(batch_size: int, length: int, text_config, generator) -> torch.Tensor:
    """`bos, random tokens, eos` rows (the eos token is where CLIP pools)."""
    vocab = text_config.vocab_size
    ids = torch.randint(0, vocab, (batch_size, length), generator=generator)
    bos, eos = text_config.bos_token_id, text_config.eos_token_id
    ids[ids == eos] = (eos + 1) % vocab  # pooling takes the first eos (or the largest id for eos_token_id == 2)
    if eos == 2:  # legacy CLIP configs pool at argmax(input_ids): make the last token the largest
        ids[:, :-1] = ids[:, :-1] % (vocab - 1)
        ids[:, -1] = vocab - 1
    else:
        ids[:, -1] = eos
    if bos is not None and length > 1:
        ids[:, 0] = bos
    return ids


def _as_numpy(array, dtype) -> np.ndarray:
    if isinstance(array, torch.Tensor):  # via torch: NumPy has no bfloat16
        array = array.detach().to("cpu", torch.float32 if dtype is np.float32 else torch.int64).numpy()
    return np.ascontiguousarray(array, dtype=dtype)


class OpenVCLIPOnnxModel:
    """[`OpenVCLIPModel`]'s inference interface on onnxruntime, for the files written by [`export_onnx`].

    Provides what [`ZeroShotVideoClassificationPipeline`] and [`build_class_embeddings`] use: `model(pixel_values=...,
    text_embeds=... | input_ids=...)` returning an [`OpenVCLIPOutput`] (no hidden states; `loss` with
    `return_loss=True` or `labels`), `get_video_features`, `get_text_features`, `config`, `dtype` (float32), `device`,
    `to()` and `eval()`. Inputs may be torch tensors on any device or NumPy arrays; outputs are torch tensors on
    `model.device` (the CPU unless `.to()` says otherwise; the computation runs on the session's `providers`).

    Args:
        path: an export folder.
        providers: onnxruntime execution providers, e.g. `["CUDAExecutionProvider", "CPUExecutionProvider"]`;
            default: the CPU.
        session_options: an `onnxruntime.SessionOptions` (threads, graph optimisation level...).
    """

    input_modalities = ("video", "text")  # read by `Pipeline.__repr__`, with `can_generate`
    dtype = torch.float32

    def __init__(self, path: str | Path, providers=None, session_options=None):
        import onnxruntime

        path = Path(path)
        if not (path / VISION_FILE).is_file():
            raise FileNotFoundError(
                f"{path} has no {VISION_FILE}: export one with `open-vclip export-onnx MODEL --out DIR`"
            )
        self.path, self.config, self.device = path, OpenVCLIPConfig.from_pretrained(path), torch.device("cpu")
        sessions = {
            name: onnxruntime.InferenceSession(
                str(path / name), sess_options=session_options, providers=providers or ["CPUExecutionProvider"]
            )
            for name in (VISION_FILE, TEXT_FILE)
            if (path / name).is_file()
        }
        self.vision_session, self.text_session = sessions[VISION_FILE], sessions.get(TEXT_FILE)
        metadata = self.vision_session.get_modelmeta().custom_metadata_map
        self.logit_scale = torch.tensor(float(metadata[LOGIT_SCALE_KEY]))

    @classmethod
    def from_pretrained(cls, path: str | Path, providers=None, session_options=None) -> "OpenVCLIPOnnxModel":
        return cls(path, providers=providers, session_options=session_options)

    def to(self, device=None, dtype=None, **_) -> "OpenVCLIPOnnxModel":
        """Only sets where output tensors are returned; the computation runs on the session's providers."""
        if isinstance(device, torch.dtype):
            device, dtype = None, device
        if dtype is not None and dtype != torch.float32:
            raise ValueError(f"the ONNX model computes in float32, cannot convert it to {dtype}")
        if device is not None:
            self.device = torch.device(device)
        return self

    def eval(self) -> "OpenVCLIPOnnxModel":
        return self

    def can_generate(self) -> bool:
        return False

    def run_vision(self, pixel_values) -> tuple[np.ndarray, np.ndarray]:
        """`(video_embeds, frame_embeds)` of `pixel_values` `(batch, num_frames, 3, H, W)`, as NumPy arrays."""
        inputs = {"pixel_values": _as_numpy(pixel_values, np.float32)}
        video_embeds, frame_embeds = self.vision_session.run(None, inputs)
        return video_embeds, frame_embeds

    def run_text(self, input_ids, attention_mask=None) -> np.ndarray:
        """Projected, unnormalised text embeddings of tokenised texts `(batch, sequence)`, as a NumPy array."""
        if self.text_session is None:
            raise RuntimeError(f"{self.path} has no {TEXT_FILE}: export with the text tower, or pass `text_embeds`")
        input_ids = _as_numpy(input_ids, np.int64)
        attention_mask = np.ones_like(input_ids) if attention_mask is None else _as_numpy(attention_mask, np.int64)
        return self.text_session.run(None, {"input_ids": input_ids, "attention_mask": attention_mask})[0]

    def get_video_features(self, pixel_values, **_) -> BaseModelOutputWithPooling:
        """`pooler_output`: the video embeddings `(batch, projection_dim)`, as [`OpenVCLIPModel.get_video_features`]."""
        if pixel_values is None or len(pixel_values.shape) != 5:
            shape = None if pixel_values is None else tuple(pixel_values.shape)
            raise ValueError(
                f"`pixel_values` must have shape (batch_size, num_frames, channels, height, width), got {shape}."
            )
        video_embeds = torch.from_numpy(self.run_vision(pixel_values)[0]).to(self.device)
        return BaseModelOutputWithPooling(pooler_output=video_embeds)

    def get_text_features(self, input_ids, attention_mask=None, **_) -> BaseModelOutputWithPooling:
        """`pooler_output`: projected text embeddings `(batch, projection_dim)`, as `CLIPModel.get_text_features`."""
        text_embeds = torch.from_numpy(self.run_text(input_ids, attention_mask)).to(self.device)
        return BaseModelOutputWithPooling(pooler_output=text_embeds)

    def __call__(
        self, input_ids=None, pixel_values=None, attention_mask=None, text_embeds=None, return_loss=None, labels=None,
        **_,
    ) -> OpenVCLIPOutput:  # fmt: skip
        """As [`OpenVCLIPModel.forward`] (no hidden states or attentions)."""
        if return_loss and labels is not None:
            raise ValueError(
                "Pass either `return_loss=True` (contrastive loss) or `labels` (classification loss), not both."
            )
        if (input_ids is None) == (text_embeds is None):
            raise ValueError("Pass exactly one of `input_ids` and `text_embeds`.")
        video_embeds = self.get_video_features(pixel_values).pooler_output
        if text_embeds is None:
            text_embeds = self.get_text_features(input_ids, attention_mask).pooler_output
        text_embeds = torch.as_tensor(text_embeds).to(self.device, torch.float32)
        text_embeds = text_embeds / text_embeds.norm(p=2, dim=-1, keepdim=True)
        logits_per_video = video_embeds @ text_embeds.t() * self.logit_scale.exp().to(self.device)
        loss = None
        if return_loss:
            loss = image_text_contrastive_loss(logits_per_video.t())
        elif labels is not None:
            loss = nn.functional.cross_entropy(logits_per_video, torch.as_tensor(labels, device=self.device))
        return OpenVCLIPOutput(
            loss=loss,
            logits_per_video=logits_per_video,
            logits_per_text=logits_per_video.t(),
            text_embeds=text_embeds,
            video_embeds=video_embeds,
            vision_model_output=BaseModelOutputWithPooling(pooler_output=video_embeds),
        )


def read_export_info(path: str | Path) -> dict:
    """Inputs, outputs (with their symbolic dimensions), and size in bytes of each ONNX file of an export folder."""
    import onnx

    def describe(values) -> dict:
        return {value.name: [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim] for value in values}

    info = {}
    for file in (Path(path) / VISION_FILE, Path(path) / TEXT_FILE):
        if file.is_file():
            graph = onnx.load(str(file), load_external_data=False).graph
            data = file.with_name(file.name + ".data")
            size = file.stat().st_size + (data.stat().st_size if data.is_file() else 0)
            info[file.name] = {"inputs": describe(graph.input), "outputs": describe(graph.output), "bytes": size}
    return info
