# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""`pipeline("zero-shot-video-classification")`: your video, your labels.

Reads like transformers' `zero-shot-image-classification` (`candidate_labels`, `hypothesis_template`, output
`[{"score", "label"}]` sorted) and `video-classification` (`num_frames`, `top_k`); adds what is new for Open-VCLIP:
temporal views (`num_clips`, logits summed as in the official evaluation, method doc section 5), frame `sampling`,
and the 28-template prompt ensemble as the default hypothesis (method doc section 2), embedded once and cached.

Self-contained (relative imports only): copied unchanged into Hub repositories for `trust_remote_code=True`.
"""

from collections.abc import Sequence
from typing import Any

import torch
from transformers import CLIPModel, Pipeline

from .modeling_open_vclip import OpenVCLIPModel
from .processing_open_vclip import OpenVCLIPProcessor
from .prompts import PROMPT_TEMPLATES, ClassEmbeddingCache, check_labels, check_templates
from .video_decoding import check_sampling_args, is_video_frame


class ZeroShotVideoClassificationPipeline(Pipeline):
    """Zero-shot video classification with [`OpenVCLIPModel`].

    ```python
    >>> import open_vclip_hf  # registers the task
    >>> from transformers import pipeline
    >>> classifier = pipeline("zero-shot-video-classification", model="path/to/open-vclip-b16")
    >>> classifier("archery.mp4", candidate_labels=["archery", "playing guitar", "cooking"])
    [{'score': 0.97, 'label': 'archery'}, {'score': 0.02, 'label': 'cooking'}, ...]
    ```

    Call arguments:
        videos: a path, `pathlib.Path`, URL, bytes, file-like object, `(T, H, W, 3)` uint8 array/tensor or list of
            PIL frames (one video), or a list of those or a `(B, T, H, W, 3)` array/tensor (several videos: a list of
            results is returned).
        candidate_labels (`list[str]`): the class names (distinct, non-empty), or one comma-separated string.
        hypothesis_template (`str` or `list[str]`, defaults to the 28 templates of the official code): one template
            with a `{}` for the label, or several whose normalised embeddings are averaged (the prompt ensemble).
        top_k (`int`, *optional*): return only the best `top_k` labels.
        num_frames (`int`, defaults to the processor's, which `open-vclip convert` / `push` set to
            `model.config.num_frames`): frames per view.
        num_clips (`int`, defaults to the processor's, 1): temporal views; their logits are summed (method doc 5).
        sampling (`"uniform"` or `"dense"`, defaults to the processor's): `"uniform"` spreads the frames over the
            whole video, `"dense"` is the paper's 8 frames with stride 16 at 30 fps.

    Each result: `[{"score": float, "label": str}, ...]`, sorted by decreasing score; scores are the softmax over the
    candidate labels of the view-summed logits.

    Class embeddings are kept in `self.class_embeddings`, a [`ClassEmbeddingCache`] (LRU, 4096 labels): a label is
    run through the text tower once per pipeline. Call `classifier.class_embeddings.clear()` after changing the
    model's text weights.
    """

    _load_processor = True
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = False

    def __init__(self, model, *args, **kwargs):
        # A plain transformers CLIP checkpoint (for which `AutoModel` gives a `CLIPModel` and `AutoProcessor` CLIP's
        # processor, which reads no videos) runs as an Open-VCLIP model, with the default Open-VCLIP processor.
        if isinstance(model, CLIPModel) and not isinstance(model, OpenVCLIPModel):
            model = OpenVCLIPModel.from_clip(model)
        if not isinstance(kwargs.get("processor"), OpenVCLIPProcessor):
            kwargs["processor"] = OpenVCLIPProcessor.for_model(model.config)
        super().__init__(model, *args, **kwargs)
        self.class_embeddings = ClassEmbeddingCache()

    def __call__(self, videos, candidate_labels: Sequence[str] | None = None, **kwargs: Any):
        if candidate_labels is None:
            raise ValueError(
                "`candidate_labels` is required: the class names to choose from, e.g. ['archery', 'cooking']"
            )
        if isinstance(videos, (list, tuple)):
            if not videos:
                raise ValueError("`videos` is an empty list: give one video or a list of videos")
            if all(is_video_frame(frame) for frame in videos):
                # A list of frames is one video, where the base class would see a batch of inputs.
                return super().__call__([videos], candidate_labels=candidate_labels, **kwargs)[0]
        elif getattr(videos, "ndim", None) == 5:  # (B, T, H, W, 3): B videos, as the processor reads it
            videos = list(videos)
        return super().__call__(videos, candidate_labels=candidate_labels, **kwargs)

    def _sanitize_parameters(
        self,
        candidate_labels=None,
        hypothesis_template=None,
        top_k=None,
        num_frames=None,
        num_clips=None,
        sampling=None,
        **unknown,
    ):
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unexpected arguments {sorted(unknown)}; it takes candidate_labels, "
                "hypothesis_template, top_k, num_frames, num_clips, sampling, batch_size and num_workers"
            )
        sampling_params = {"num_frames": num_frames, "num_clips": num_clips, "sampling": sampling}
        preprocess_params = {name: value for name, value in sampling_params.items() if value is not None}
        forward_params, postprocess_params = {}, {}
        if preprocess_params:  # fail once here, not once per video
            settings = {
                name: getattr(self.processor, name) for name in (*sampling_params, "frame_stride", "target_fps")
            }
            check_sampling_args(**{**settings, **preprocess_params})
        if candidate_labels is not None:
            if isinstance(candidate_labels, str):
                candidate_labels = [label.strip() for label in candidate_labels.split(",") if label.strip()]
            if not candidate_labels:
                raise ValueError("`candidate_labels` is empty: give at least one class name")
            candidate_labels = check_labels(candidate_labels, distinct=True)
            forward_params["candidate_labels"] = candidate_labels
            postprocess_params["candidate_labels"] = candidate_labels
        if hypothesis_template is not None:
            forward_params["hypothesis_template"] = check_templates(hypothesis_template)
        if top_k is not None:
            if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
                raise ValueError(f"`top_k` must be a positive integer, got {top_k!r}")
            postprocess_params["top_k"] = top_k
        return preprocess_params, forward_params, postprocess_params

    def preprocess(self, video, num_frames=None, num_clips=None, sampling=None):
        # Unset settings are the processor's (`processor_config.json`), as when calling the processor directly.
        inputs = self.processor(
            videos=video, num_frames=num_frames, num_clips=num_clips, sampling=sampling, return_tensors="pt"
        )
        pixel_values = inputs["pixel_values"]
        # (1, [views,] frames, 3, H, W) -> (views, frames, 3, H, W): views of all videos are batched together.
        num_views = pixel_values.shape[:-4].numel()
        return {
            "pixel_values": pixel_values.reshape(-1, *pixel_values.shape[-4:]),
            "num_views": torch.tensor([num_views]),
        }

    def _forward(self, model_inputs, candidate_labels, hypothesis_template=PROMPT_TEMPLATES):
        class_embeds = self.class_embeddings(self.model, self.processor, candidate_labels, hypothesis_template)
        pixel_values = model_inputs["pixel_values"].to(self.model.dtype)
        logits = self.model(pixel_values=pixel_values, text_embeds=class_embeds).logits_per_video
        num_views = model_inputs["num_views"].tolist()
        # Sum the logits of each video's views (`DATA.ENSEMBLE_METHOD="sum"`, method doc section 5).
        return {"logits": torch.stack([views.sum(dim=0) for views in logits.split(num_views)])}

    def postprocess(self, model_outputs, candidate_labels, top_k=None):
        scores = model_outputs["logits"].reshape(-1, len(candidate_labels))[0].float().softmax(dim=-1)
        ranked = sorted(zip(scores.tolist(), candidate_labels), key=lambda pair: -pair[0])
        return [{"score": score, "label": label} for score, label in ranked[:top_k]]


__all__ = ["ZeroShotVideoClassificationPipeline"]
