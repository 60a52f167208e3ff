# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""`pipeline("zero-shot-video-classification")`: your video, your labels."""

from collections.abc import Sequence
from typing import Any

import torch
from transformers import CLIPModel, Pipeline

from .modeling_open_vclip import OpenVCLIPModel
from .processing_open_vclip import OpenVCLIPProcessor
from .prompts import PROMPT_TEMPLATES, ClassEmbeddingCache, check_labels, check_templates
from .video_decoding import check_sampling_args, split_videos


class ZeroShotVideoClassificationPipeline(Pipeline):
    """Zero-shot video classification with [`OpenVCLIPModel`], argument names as in transformers'
    `zero-shot-image-classification` and `video-classification`.

    ```python
    >>> import open_vclip_hf  # registers the task
    >>> classifier = pipeline("zero-shot-video-classification", model="path/to/open-vclip-b16")
    >>> classifier("archery.mp4", candidate_labels=["archery", "playing guitar", "cooking"])
    [{'score': 0.97, 'label': 'archery'}, {'score': 0.02, 'label': 'cooking'}, ...]
    ```

    `videos`: one video as [`load_video`] takes it, or a list or `(B, T, H, W, 3)` array of them (a list of results).
    `candidate_labels`: distinct class names (case and spacing aside, as CLIP's tokenizer reads them), or one
    comma-separated string. `hypothesis_template`: one template with a `{}`, or several whose embeddings are averaged
    (default: the 28 official ones, method doc section 2). `top_k`: only the best labels. `num_frames`, `num_clips`,
    `sampling` override the processor's; the logits of the views are summed (method doc section 5). Each result is
    `[{"score", "label"}, ...]` by decreasing softmax score. Class embeddings are cached in `self.class_embeddings`:
    call its `clear()` after changing the text weights."""

    _load_processor = None  # optional (transformers' soft loading): a CLIP folder without processor files gets ours
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = False

    def __init__(self, model, *args, **kwargs):
        # A plain CLIP checkpoint runs as an Open-VCLIP model, with the default Open-VCLIP processor. Told apart by
        # name, not class: transformers re-executes remote-code modules this one imported, making new classes.
        if isinstance(model, CLIPModel) and model.config.model_type == CLIPModel.config_class.model_type:
            model = OpenVCLIPModel.from_clip(model)
        if OpenVCLIPProcessor.__name__ not in {cls.__name__ for cls in type(kwargs.get("processor")).__mro__}:
            kwargs["processor"] = OpenVCLIPProcessor.for_model(model.config)
        super().__init__(model, *args, **kwargs)
        self.class_embeddings = ClassEmbeddingCache()

    def __call__(self, videos, candidate_labels: Sequence[str] | None = None, **kwargs: Any):
        if candidate_labels is None:
            raise ValueError("`candidate_labels` is required: the class names to choose from")
        batch = split_videos(videos)
        if batch is None and isinstance(videos, (list, tuple)):  # a list of frames is one video, not a batch
            return super().__call__([videos], candidate_labels=candidate_labels, **kwargs)[0]
        return super().__call__(videos if batch is None else batch, candidate_labels=candidate_labels, **kwargs)

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
            names = (*sampling_params, "frame_stride", "target_fps")
            check_sampling_args(**{name: getattr(self.processor, name) for name in names} | preprocess_params)
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
        inputs = self.processor(
            videos=video, num_frames=num_frames, num_clips=num_clips, sampling=sampling, return_tensors="pt"
        )
        pixel_values = inputs["pixel_values"]
        # (1, [views,] frames, 3, H, W) -> (views, frames, 3, H, W): views of all videos are batched together.
        views = pixel_values.reshape(-1, *pixel_values.shape[-4:])
        return {"pixel_values": views, "num_views": torch.tensor([len(views)])}

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
