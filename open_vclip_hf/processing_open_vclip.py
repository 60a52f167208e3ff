# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Open-VCLIP processor: video decoding and frame sampling, CLIP's image processor on every frame, CLIP's tokenizer."""

from pathlib import Path

import numpy as np
from transformers import BatchFeature, CLIPImageProcessorPil, CLIPTokenizer
from transformers.processing_utils import ProcessorMixin

from .configuration_open_vclip import OpenVCLIPConfig
from .video_decoding import check_sampling_args, load_video, split_videos

# OpenAI's CLIP vocabulary (`tools/build_clip_tokenizer.py`): shipped with the package, not with Hub repos.
DEFAULT_TOKENIZER_DIR = Path(__file__).parent / "assets" / "clip_tokenizer"
# CLIP's text context length (method doc section 2: `clip.tokenize`, context 77).
CLIP_CONTEXT_LENGTH = 77


class OpenVCLIPProcessor(ProcessorMixin):
    r"""Decodes and samples videos ([`load_video`]), runs CLIP's image processor on every sampled frame (short side to
    224, bicubic, 224 x 224 centre crop, CLIP mean and std; method doc section 5) and CLIP's tokenizer on text.
    `image_processor` defaults to [`CLIPImageProcessorPil`] (no torchvision needed), `tokenizer` to OpenAI's CLIP
    vocabulary shipped in `open_vclip_hf/assets/clip_tokenizer` (ids equal `clip.tokenize`). The sampling settings
    are those of [`sample_frame_indices`], saved by `save_pretrained`. The defaults take 8 frames spread over the
    video; the paper's evaluation is `sampling="dense", num_clips=3` (8 frames 16 apart at 30 fps, 3 positions)."""

    def __init__(
        self,
        image_processor=None,
        tokenizer=None,
        num_frames=8,
        sampling="uniform",
        num_clips=1,
        frame_stride=16,
        target_fps=30,
        **kwargs,
    ):
        if tokenizer is None:
            if not DEFAULT_TOKENIZER_DIR.is_dir():
                raise ValueError(
                    f"No tokenizer given and no CLIP vocabulary at {DEFAULT_TOKENIZER_DIR} (it ships with the "
                    "open_vclip_hf package): pass `tokenizer=` or use `OpenVCLIPProcessor.from_pretrained(repo)`."
                )
            tokenizer = CLIPTokenizer.from_pretrained(DEFAULT_TOKENIZER_DIR, model_max_length=CLIP_CONTEXT_LENGTH)
        check_sampling_args(num_frames, sampling, num_clips, frame_stride, target_fps)
        super().__init__(CLIPImageProcessorPil() if image_processor is None else image_processor, tokenizer, **kwargs)
        self.num_frames = num_frames
        self.sampling = sampling
        self.num_clips = num_clips
        self.frame_stride = frame_stride
        self.target_fps = target_fps

    @classmethod
    def for_model(cls, config, **kwargs) -> "OpenVCLIPProcessor":
        """The default processor of a model: CLIP's image processing at `config.vision_config.image_size`, the shipped
        tokenizer and `num_frames=config.num_frames`; `kwargs` override the sampling settings."""
        size = config.vision_config.image_size
        image_processor = CLIPImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
        kwargs.setdefault("num_frames", getattr(config, "num_frames", 8))
        return cls(image_processor=image_processor, **kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs) -> "OpenVCLIPProcessor":
        """The processor saved in a folder or Hub repository, else (no processor files: a training checkpoint, a
        `CLIPModel` folder) [`for_model`] of its `config.json`, so that every model folder works with a pipeline."""
        try:
            return super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        except OSError as missing:  # what transformers raises for a missing file
            hub = ("cache_dir", "force_download", "local_files_only", "token", "revision", "subfolder")
            hub_kwargs = {key: kwargs[key] for key in hub if key in kwargs}
            try:
                config = OpenVCLIPConfig.from_pretrained(pretrained_model_name_or_path, **hub_kwargs)
            except OSError:
                raise missing from None
            return cls.for_model(config)

    def __call__(
        self,
        videos=None,
        text=None,
        num_frames=None,
        sampling=None,
        num_clips=None,
        frame_stride=None,
        target_fps=None,
        generator=None,
        padding=True,
        truncation=True,
        max_length=None,
        return_tensors=None,
    ) -> BatchFeature:
        r"""`videos`: one video (as [`load_video`] takes it: a path, URL, bytes, file object, frames) or a batch (a list
        of videos, a `(B, T, H, W, 3)` array or tensor). `text`: text(s) for the tokenizer (77 tokens at most). The
        sampling settings override the processor's for this call; `generator` (`np.random.Generator`) places views at
        random ([`sample_frame_indices`]). Returns a [`BatchFeature`] with `pixel_values` (`float32`, `(batch,
        num_frames, 3, 224, 224)`, or `(batch, num_clips, num_frames, 3, 224, 224)` when `num_clips > 1`) and/or
        `input_ids`, `attention_mask`; `return_tensors`: `"pt"` or `"np"`."""
        if videos is None and text is None:
            raise ValueError("Pass `videos`, `text` or both.")
        data = {}
        if videos is not None:
            names = ("num_frames", "sampling", "num_clips", "frame_stride", "target_fps")
            values = (num_frames, sampling, num_clips, frame_stride, target_fps)
            settings = {name: getattr(self, name) if value is None else value for name, value in zip(names, values)}
            data["pixel_values"] = self._pixel_values(videos, generator=generator, **settings)
        if text is not None:
            data.update(self.tokenizer(text, padding=padding, truncation=truncation, max_length=max_length))
        return BatchFeature(data=data, tensor_type=return_tensors)

    def _pixel_values(self, videos, num_frames, num_clips, **sampling_kwargs) -> np.ndarray:
        videos = split_videos(videos) or [videos]
        clips = [load_video(video, num_frames=num_frames, num_clips=num_clips, **sampling_kwargs) for video in videos]
        frames = [frame for video_clips in clips for clip in video_clips for frame in clip]
        pixel_values = self.image_processor(frames, return_tensors="np", input_data_format="channels_last")
        pixel_values = pixel_values["pixel_values"]
        views = (num_clips,) if num_clips > 1 else ()
        return pixel_values.reshape(len(videos), *views, num_frames, *pixel_values.shape[1:])


__all__ = ["OpenVCLIPProcessor"]
