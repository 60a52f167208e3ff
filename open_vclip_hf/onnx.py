# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""ONNX export of Open-VCLIP and an onnxruntime-backed model that the zero-shot pipeline can run:

```python
export_onnx("path/to/open-vclip-b16", "onnx-b16")  # or `open-vclip export-onnx MODEL --out DIR`
model, processor = OpenVCLIPOnnxModel.from_pretrained("onnx-b16"), OpenVCLIPProcessor.from_pretrained("onnx-b16")
ZeroShotVideoClassificationPipeline(model=model, processor=processor)("archery.mp4", candidate_labels=["archery"])
```

An export folder holds `vision_model.onnx` (`pixel_values (batch, num_frames, 3, H, W) -> video_embeds (batch, dim),
frame_embeds (batch, num_frames, dim)`, the projected, unnormalised CLS embedding of every frame), `text_model.onnx`
(`input_ids, attention_mask (batch, sequence) -> text_embeds (batch, dim)`, not normalised), `config.json`, the
processor files, and `logit_scale` in the ONNX metadata. Needs `pip install open_vclip_hf[onnx]`.
"""

import copy
import logging
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutputWithPooling

from .configuration_open_vclip import OpenVCLIPConfig
from .modeling_open_vclip import OpenVCLIPModel, OpenVCLIPOutput, pool_frame_embeddings
from .processing_open_vclip import OpenVCLIPProcessor
from .weights import staged_directory

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
    """Export the video tower (and, with `text`, the text tower) of `model` (an [`OpenVCLIPModel`] or a folder / Hub
    id) to ONNX in `output_dir`, in float32 with a dynamic batch size and frame count (and text length), beside its
    config and `processor` (default: the one stored with `model`, or the default [`OpenVCLIPProcessor`]). `output_dir`
    must be new or empty; it is written whole, once verified (a failed export leaves nothing).

    With `verify`, the exported graphs run in onnxruntime on other shapes than the export example (1 and 3 videos of
    2 and 8 frames, 1 and 3 padded prompts) and a `RuntimeError` is raised if any output differs from PyTorch by more
    than `atol`. Returns `{"video_embeds": max_abs_diff, "frame_embeds": ..., "text_embeds": ...}` (empty without
    `verify`).
    """
    if isinstance(model, (str, Path)):
        processor = processor or OpenVCLIPProcessor.from_pretrained(model)  # the folder's, or its model's default
        model = OpenVCLIPModel.from_pretrained(model)
    processor = processor or OpenVCLIPProcessor.for_model(model.config)
    if model.device.type != "cpu" or model.dtype != torch.float32:
        model = copy.deepcopy(model).to("cpu", torch.float32)
    model = model.eval()
    output_dir = Path(output_dir).absolute()
    if output_dir.exists() and not (output_dir.is_dir() and not any(output_dir.iterdir())):
        raise ValueError(f"{output_dir} already exists and is not empty: export to a new or empty folder")
    vision = model.config.vision_config
    generator = torch.Generator().manual_seed(seed)

    def videos(batch_size: int, num_frames: int) -> torch.Tensor:
        shape = (batch_size, num_frames, vision.num_channels, vision.image_size, vision.image_size)
        return torch.randn(shape, generator=generator)

    def prompts(*texts: str) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = processor.tokenizer(list(texts), padding=True, return_tensors="pt")
        return tokens["input_ids"], tokens["attention_mask"]

    registration_logger = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration_logger.level
    metadata = {LOGIT_SCALE_KEY: repr(float(model.logit_scale.detach())), "producer": "open_vclip_hf"}

    checks = []  # (eager tower, ONNX file, input names, output names, inputs of other shapes than the example)

    def export(tower: nn.Module, args: tuple, dynamic_shapes: dict, output_names: list[str], file: str, *others):
        # Quietly: the notes on the missing torchvision and on merged axis names say nothing about these graphs.
        registration_logger.setLevel(logging.ERROR)
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*axis name", category=UserWarning)
                warnings.filterwarnings("ignore", message=".*LeafSpec", category=FutureWarning)
                program = torch.onnx.export(
                    tower.eval(), args, dynamo=True, optimize=True, verbose=False, input_names=list(dynamic_shapes),
                    output_names=output_names, dynamic_shapes=dynamic_shapes, opset_version=OPSET_VERSION,
                )  # fmt: skip
        finally:
            registration_logger.setLevel(level)
        program.model.metadata_props.update(metadata)
        program.save(str(staging / file))  # weights go to an external `.data` file only beyond 2 GB
        checks.extend((tower, file, list(dynamic_shapes), output_names, inputs) for inputs in others)

    # Example sizes >= 2 so that torch.export keeps them symbolic (0/1 would be specialised).
    batch, frames = torch.export.Dim("batch", min=1), torch.export.Dim("num_frames", min=1)
    # Renamed to `output_dir` once written and verified; removed on failure.
    with staged_directory(output_dir) as staging, torch.no_grad():
        export(
            _VideoTower(model), (videos(2, 4),), {"pixel_values": {0: batch, 1: frames}},
            ["video_embeds", "frame_embeds"], VISION_FILE, (videos(1, 2),), (videos(3, 8),),
        )  # fmt: skip
        if text:
            text_batch = torch.export.Dim("text_batch", min=1)
            sequence = torch.export.Dim("sequence", min=1, max=model.config.text_config.max_position_embeddings)
            export(
                _TextTower(model), prompts("a video of archery", "cooking"),
                {"input_ids": {0: text_batch, 1: sequence}, "attention_mask": {0: text_batch, 1: sequence}},
                ["text_embeds"], TEXT_FILE, prompts("a dog"), prompts("yo-yo", "a photo of archery", "a " * 20),
            )  # fmt: skip
        model.config.save_pretrained(staging)
        processor.save_pretrained(staging)
        # Eager PyTorch against onnxruntime on the saved files (not the exported graph against itself).
        differences, checks = {}, checks if verify else []
        if checks:
            onnx_model = OpenVCLIPOnnxModel.from_pretrained(staging)
            sessions = {VISION_FILE: onnx_model.vision_session, TEXT_FILE: onnx_model.text_session}
        for tower, file, input_names, output_names, inputs in checks:
            expected = tower(*inputs)
            expected = expected if isinstance(expected, tuple) else (expected,)
            got = sessions[file].run(output_names, {name: x.numpy() for name, x in zip(input_names, inputs)})
            for name, want, have in zip(output_names, expected, got, strict=True):
                difference = float(np.abs(want.numpy() - have).max())
                differences[name] = max(differences.get(name, 0.0), difference)
                if not difference <= atol:  # also catches NaN
                    raise RuntimeError(f"ONNX output {name} differs from PyTorch by {difference} > {atol}")
    return differences


def _as_numpy(array, dtype) -> np.ndarray:
    if isinstance(array, torch.Tensor):  # via torch: NumPy has no bfloat16
        array = array.detach().to("cpu", torch.float32 if dtype is np.float32 else torch.int64).numpy()
    return np.ascontiguousarray(array, dtype=dtype)


class OpenVCLIPOnnxModel:
    """[`OpenVCLIPModel`]'s inference interface on onnxruntime, for an [`export_onnx`] folder at `path`: what
    [`ZeroShotVideoClassificationPipeline`] and [`build_class_embeddings`] use (`model(...)`, `get_video_features`,
    `get_text_features`, `config`, `dtype`, `device`, `to()`, `eval()`). Inputs may be torch tensors on any device or
    NumPy arrays; outputs are torch tensors on `model.device`, computed on the sessions' `providers` (default: the
    CPU) with the `onnxruntime.SessionOptions` `session_options`.
    """

    input_modalities = ("video", "text")  # read by `Pipeline.__repr__`, with `can_generate`
    dtype = torch.float32

    def __init__(self, path: str | Path, providers=None, session_options=None):
        import onnxruntime

        path = Path(path)
        if not (path / VISION_FILE).is_file():
            raise FileNotFoundError(f"{path} has no {VISION_FILE}: export one with `open-vclip export-onnx MODEL`")
        self.path, self.config, self.device = path, OpenVCLIPConfig.from_pretrained(path), torch.device("cpu")
        options = {"sess_options": session_options, "providers": providers or ["CPUExecutionProvider"]}
        self.vision_session = onnxruntime.InferenceSession(str(path / VISION_FILE), **options)
        has_text = (path / TEXT_FILE).is_file()
        self.text_session = onnxruntime.InferenceSession(str(path / TEXT_FILE), **options) if has_text else None
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
        self.device = torch.device(device) if device is not None else self.device
        return self

    def eval(self) -> "OpenVCLIPOnnxModel":
        return self

    def can_generate(self) -> bool:
        return False

    def run_vision(self, pixel_values) -> list[np.ndarray]:
        """`[video_embeds, frame_embeds]` of `pixel_values` `(batch, num_frames, 3, H, W)`, as NumPy arrays."""
        return self.vision_session.run(None, {"pixel_values": _as_numpy(pixel_values, np.float32)})

    def run_text(self, input_ids, attention_mask=None) -> np.ndarray:
        """Projected, unnormalised text embeddings of tokenised texts `(batch, sequence)`, as a NumPy array."""
        if self.text_session is None:
            raise RuntimeError(f"{self.path} has no {TEXT_FILE}: export with the text tower, or pass `text_embeds`")
        input_ids = _as_numpy(input_ids, np.int64)
        attention_mask = np.ones_like(input_ids) if attention_mask is None else _as_numpy(attention_mask, np.int64)
        return self.text_session.run(None, {"input_ids": input_ids, "attention_mask": attention_mask})[0]

    def get_video_features(self, pixel_values, *_, **__) -> BaseModelOutputWithPooling:
        """`pooler_output`: the video embeddings `(batch, projection_dim)`, as [`OpenVCLIPModel.get_video_features`]."""
        shape = tuple(getattr(pixel_values, "shape", ()))
        if len(shape) != 5:
            raise ValueError(f"`pixel_values` must be (batch_size, num_frames, channels, height, width), got {shape}")
        video_embeds = torch.from_numpy(self.run_vision(pixel_values)[0]).to(self.device)
        return BaseModelOutputWithPooling(pooler_output=video_embeds)

    def get_text_features(self, input_ids, attention_mask=None, *_, **__) -> BaseModelOutputWithPooling:
        """`pooler_output`: projected text embeddings `(batch, projection_dim)`, as `CLIPModel.get_text_features`."""
        text_embeds = torch.from_numpy(self.run_text(input_ids, attention_mask)).to(self.device)
        return BaseModelOutputWithPooling(pooler_output=text_embeds)

    def __call__(
        self, input_ids=None, pixel_values=None, attention_mask=None, text_embeds=None, return_loss=None, labels=None,
        **kwargs,
    ) -> OpenVCLIPOutput:  # fmt: skip
        """[`OpenVCLIPModel.forward`], the same code, on the ONNX towers (no hidden states or attentions)."""
        if text_embeds is not None:  # a NumPy array too, as for the other inputs
            text_embeds = torch.as_tensor(text_embeds).to(self.device, torch.float32)
        labels = None if labels is None else torch.as_tensor(labels)
        return OpenVCLIPModel.forward(
            self, input_ids, pixel_values, attention_mask, text_embeds=text_embeds, return_loss=return_loss,
            labels=labels, **kwargs,
        )  # fmt: skip


def read_export_info(path: str | Path) -> dict:
    """Inputs, outputs (with their symbolic dimensions), and size in bytes of each ONNX file of an export folder."""
    import onnx

    def describe(values) -> dict:
        return {value.name: [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim] for value in values}

    info = {}
    for file in filter(Path.is_file, (Path(path) / VISION_FILE, Path(path) / TEXT_FILE)):
        graph = onnx.load(str(file), load_external_data=False).graph
        data = file.with_name(file.name + ".data")
        size = file.stat().st_size + (data.stat().st_size if data.is_file() else 0)
        info[file.name] = {"inputs": describe(graph.input), "outputs": describe(graph.output), "bytes": size}
    return info
