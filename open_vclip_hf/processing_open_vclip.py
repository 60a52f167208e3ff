# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Open-VCLIP processor: video decoding and frame sampling, CLIP's image processor on every frame, CLIP's tokenizer.

Self-contained on purpose (imports only `transformers`, `numpy` and the sibling `video_decoding` and
`configuration_open_vclip` modules): this file is copied unchanged into Hub repositories and loaded there with
`trust_remote_code=True`.
"""

from pathlib import Path

import numpy as np
from transformers import BatchFeature, CLIPImageProcessorPil, CLIPTokenizer
from transformers.processing_utils import ProcessorMixin

from .configuration_open_vclip import OpenVCLIPConfig
from .video_decoding import check_sampling_args, is_video_frame, load_video

# OpenAI's CLIP vocabulary, built by `tools/build_clip_tokenizer.py`; shipped with the package, not with Hub repos.
DEFAULT_TOKENIZER_DIR = Path(__file__).parent / "assets" / "clip_tokenizer"
# CLIP's text context length (method doc section 2: `clip.tokenize`, context 77).
CLIP_CONTEXT_LENGTH = 77


class OpenVCLIPProcessor(ProcessorMixin):
    r"""
    Constructs an Open-VCLIP processor: decodes and samples videos ([`load_video`]), runs CLIP's image processor on
    every sampled frame (short side resized to 224 with bicubic resampling, 224 x 224 centre crop, CLIP mean and
    std; method doc section 5) and tokenizes text with CLIP's tokenizer.

    The sampling settings are stored in `processor_config.json` by `save_pretrained`, and each can be overridden per
    call. The defaults take 8 frames spread uniformly over the whole video; the paper's evaluation uses
    `sampling="dense"` with `num_clips=3` (8 frames 16 apart at 30 fps, at the start, middle and end of the video).

    Args:
        image_processor ([`CLIPImageProcessorPil`], *optional*):
            Image processor applied to every frame. Defaults to CLIP's (PIL backend: no torchvision needed).
        tokenizer ([`CLIPTokenizer`], *optional*):
            Defaults to OpenAI's CLIP vocabulary shipped in `open_vclip_hf/assets/clip_tokenizer` (token ids equal
            `clip.tokenize`), with a context length of 77.
        num_frames (`int`, *optional*, defaults to 8):
            Frames per view.
        sampling (`str`, *optional*, defaults to `"uniform"`):
            `"uniform"` (frames spread over the whole video) or `"dense"` (clips of `num_frames` frames
            `frame_stride` apart at `target_fps`), see [`sample_frame_indices`].
        num_clips (`int`, *optional*, defaults to 1):
            Views per video (temporal clips); the model's logits are summed over them (method doc section 1.3).
        frame_stride (`int`, *optional*, defaults to 16):
            Distance between two frames of a dense clip, counted at `target_fps`.
        target_fps (`float`, *optional*, defaults to 30):
            Frame rate at which `frame_stride` is counted.
    """

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
        if image_processor is None:
            image_processor = CLIPImageProcessorPil()
        if tokenizer is None:
            if not DEFAULT_TOKENIZER_DIR.is_dir():
                raise ValueError(
                    f"No tokenizer given and no CLIP vocabulary at {DEFAULT_TOKENIZER_DIR} (it ships with the "
                    "open_vclip_hf package): pass `tokenizer=` or use `OpenVCLIPProcessor.from_pretrained(repo)`."
                )
            tokenizer = CLIPTokenizer.from_pretrained(DEFAULT_TOKENIZER_DIR, model_max_length=CLIP_CONTEXT_LENGTH)
        check_sampling_args(num_frames, sampling, num_clips, frame_stride, target_fps)
        super().__init__(image_processor, tokenizer, **kwargs)
        self.num_frames = num_frames
        self.sampling = sampling
        self.num_clips = num_clips
        self.frame_stride = frame_stride
        self.target_fps = target_fps

    @classmethod
    def for_model(cls, config, **kwargs) -> "OpenVCLIPProcessor":
        """
        The processor of a model that has no processor files (a converted checkpoint, a CLIP folder): CLIP's image
        processing at the model's image size (`config.vision_config.image_size`: 224, or 336 for ViT-L/14@336), the
        shipped CLIP tokenizer, and `num_frames=config.num_frames`. `kwargs` override the sampling settings.
        """
        size = config.vision_config.image_size
        image_processor = CLIPImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
        kwargs.setdefault("num_frames", getattr(config, "num_frames", 8))
        return cls(image_processor=image_processor, **kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs) -> "OpenVCLIPProcessor":
        """
        The processor saved in a model folder or Hub repository (`ProcessorMixin.from_pretrained`), or, when it has
        no processor files (the `epoch_N` checkpoints of the training script, a `CLIPModel.save_pretrained` folder),
        the default processor of its model: [`for_model`] of its `config.json`. So every model folder can be used
        with `pipeline(...)`, `AutoProcessor` and the `open-vclip` commands.
        """
        try:
            return super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        except OSError as missing:  # what transformers raises for a missing file
            hub = ("cache_dir", "force_download", "local_files_only", "token", "revision", "subfolder")
            try:
                config = OpenVCLIPConfig.from_pretrained(
                    pretrained_model_name_or_path, **{key: kwargs[key] for key in hub if key in kwargs}
                )
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
        r"""
        Args:
            videos:
                One video or a batch. A video is anything [`load_video`] takes: a path, an `http(s)://` URL, bytes,
                a binary file object, a `(T, H, W, 3)` `uint8` array or tensor, or a list of frames (PIL images or
                `(H, W, 3)` arrays). A batch is a list of videos or a `(B, T, H, W, 3)` array or tensor; a list whose
                items are frames is one video.
            text (`str` or `list[str]`, *optional*):
                Text(s) to tokenize.
            num_frames, sampling, num_clips, frame_stride, target_fps:
                Override the processor's sampling settings for this call.
            generator (`np.random.Generator`, *optional*):
                Random temporal positions (training-time jitter), see [`sample_frame_indices`].
            padding (`bool` or `str`, *optional*, defaults to `True`):
                `True` pads to the longest text, `"max_length"` to 77 tokens.
            truncation (`bool`, *optional*, defaults to `True`):
                Truncate texts to `max_length` (the tokenizer's 77 by default).
            max_length (`int`, *optional*):
                Length for truncation and `padding="max_length"`.
            return_tensors (`str` or [`~utils.TensorType`], *optional*):
                `"pt"` for PyTorch tensors, `"np"` for NumPy arrays.

        Returns:
            [`BatchFeature`] with
            - `pixel_values`: `float32` of shape `(batch, num_frames, 3, 224, 224)` when `num_clips == 1`, else
              `(batch, num_clips, num_frames, 3, 224, 224)` (when `videos` is given);
            - `input_ids`, `attention_mask`: the tokenized text (when `text` is given).
        """
        if videos is None and text is None:
            raise ValueError("Pass `videos`, `text` or both.")
        data = {}
        if videos is not None:
            data["pixel_values"] = self._pixel_values(
                videos,
                num_frames=self.num_frames if num_frames is None else num_frames,
                sampling=self.sampling if sampling is None else sampling,
                num_clips=self.num_clips if num_clips is None else num_clips,
                frame_stride=self.frame_stride if frame_stride is None else frame_stride,
                target_fps=self.target_fps if target_fps is None else target_fps,
                generator=generator,
            )
        if text is not None:
            data.update(self.tokenizer(text, padding=padding, truncation=truncation, max_length=max_length))
        return BatchFeature(data=data, tensor_type=return_tensors)

    def _pixel_values(self, videos, num_frames, num_clips, **sampling_kwargs) -> np.ndarray:
        videos = _as_batch(videos)
        clips = [load_video(video, num_frames=num_frames, num_clips=num_clips, **sampling_kwargs) for video in videos]
        frames = [frame for video_clips in clips for clip in video_clips for frame in clip]
        pixel_values = self.image_processor(frames, return_tensors="np", input_data_format="channels_last")
        pixel_values = pixel_values["pixel_values"]
        views = (num_clips,) if num_clips > 1 else ()
        return pixel_values.reshape(len(videos), *views, num_frames, *pixel_values.shape[1:])


def _as_batch(videos) -> list:
    """Split `videos` into single videos: a list is a batch unless its items are frames, a 5-D array is a batch."""
    if isinstance(videos, (list, tuple)):
        if not videos:
            raise ValueError("`videos` is an empty list.")
        return [videos] if is_video_frame(videos[0]) else list(videos)
    if getattr(videos, "ndim", None) == 5:
        return list(videos)
    return [videos]


__all__ = ["OpenVCLIPProcessor"]
