# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Class embeddings from the prompt ensemble of the official Open-VCLIP code (method doc section 2).

For each class name and each template: tokenise, run the text tower, L2-normalise; then mean over templates and
L2-normalise again (`temporalclip_video_model.py:356-363`). Embeddings are cached per model and per
(templates, label), so a label that was embedded once never reruns the text tower, until the text tower's weights
change.

Self-contained (torch only): copied unchanged into Hub repositories for `trust_remote_code=True`.
"""

import weakref
from collections.abc import Sequence

import torch


# The 28 templates of the official code (`temporalclip_video_model.py:297-326`), in its order.
PROMPT_TEMPLATES: tuple[str, ...] = tuple(
    f"{prefix} {suffix}"
    for prefix in ("a photo of", "a video of", "a example of", "a demonstration of")
    for suffix in (
        "{}.",
        "a person {}.",
        "a person using {}.",
        "a person doing {}.",
        "a person during {}.",
        "a person performing {}.",
        "a person practicing {}.",
    )
)

# model -> ((text-weight stamp), {(templates, label): embedding}); entries die with their model.
_CACHE: "weakref.WeakKeyDictionary[torch.nn.Module, tuple[tuple, dict]]" = weakref.WeakKeyDictionary()


def _text_weights_stamp(model: torch.nn.Module) -> tuple:
    """Identity and in-place version counter of every text-side weight: any optimizer step or `load_state_dict`
    changes it, so a stale cached embedding is never returned."""
    params = [*model.text_model.parameters(), *model.text_projection.parameters()]
    return tuple((p.data_ptr(), p._version) for p in params)


def check_templates(templates: str | Sequence[str]) -> tuple[str, ...]:
    """`templates` as a tuple of strings, each with exactly one `{}` for the class name; a clear `ValueError` else."""
    templates = (templates,) if isinstance(templates, str) else tuple(templates)
    if not templates:
        raise ValueError("at least one prompt template is needed")
    for template in templates:
        if not isinstance(template, str):
            raise ValueError(f"prompt templates must be strings, got {template!r}")
        try:
            filled = template.format("\0")
        except (IndexError, KeyError, ValueError) as error:
            raise ValueError(
                f"prompt template {template!r} must hold exactly one '{{}}' for the class name and no other "
                f"braces (write literal braces as '{{{{' and '}}}}'): {type(error).__name__}: {error}"
            ) from None
        if filled.count("\0") != 1:
            raise ValueError(f"prompt template {template!r} has no '{{}}' placeholder for the class name")
    return templates


def folder_name_to_class_name(name: str) -> str:
    """`playing_guitar` -> `playing guitar`: folder names become the text the class is embedded from (training and
    evaluation alike)."""
    return " ".join(name.replace("_", " ").split())


def check_labels(labels: Sequence[str], distinct: bool = False) -> list[str]:
    """`labels` as a list of non-empty strings; a clear error for a single string, an empty list, a non-string or,
    with `distinct=True`, a repeated label (a softmax over the labels would split its probability between copies)."""
    if isinstance(labels, str):
        raise TypeError("`labels` must be a sequence of class names, not a single string")
    labels = list(labels)
    if not labels:
        raise ValueError("at least one label is needed")
    for label in labels:
        if not isinstance(label, str) or not label.strip():
            raise ValueError(f"labels must be non-empty strings, got {label!r}")
    if distinct and len(set(labels)) != len(labels):
        raise ValueError(f"duplicate labels: {sorted({label for label in labels if labels.count(label) > 1})}")
    return labels


@torch.no_grad()
def build_class_embeddings(
    model: torch.nn.Module,
    tokenizer,
    labels: Sequence[str],
    templates: str | Sequence[str] = PROMPT_TEMPLATES,
    batch_size: int = 256,
    use_cache: bool = True,
) -> torch.Tensor:
    """Normalised prompt-ensemble embeddings `(len(labels), projection_dim)` of `labels`.

    Args:
        model: an [`OpenVCLIPModel`] (anything with `get_text_features`, `text_model` and `text_projection`).
        tokenizer: a CLIP tokenizer, or a processor holding one (`processor.tokenizer`).
        labels: class names, e.g. `["archery", "playing guitar"]`.
        templates: one template (`"a video of {}."`) or several, each with a `{}` for the class name; defaults to
            the 28 templates of the official code.
        batch_size: prompts per text-tower call.
        use_cache: reuse embeddings computed before for the same model, templates and label.

    Returns a tensor on the model's device, in the dtype of the text tower.
    """
    labels = check_labels(labels)
    tokenizer = getattr(tokenizer, "tokenizer", tokenizer)
    templates = check_templates(templates)

    stamp = _text_weights_stamp(model)
    cached_stamp, cache = _CACHE.get(model, (None, {}))
    if not use_cache or cached_stamp != stamp:
        cache = {}
    missing = list(dict.fromkeys(label for label in labels if (templates, label) not in cache))

    if missing:
        prompts = [template.format(label) for label in missing for template in templates]
        max_length = model.config.text_config.max_position_embeddings
        device = model.text_projection.weight.device
        per_prompt = []
        for start in range(0, len(prompts), batch_size):
            inputs = tokenizer(
                prompts[start : start + batch_size], padding=True, truncation=True, max_length=max_length,
                return_tensors="pt",
            ).to(device)
            per_prompt.append(model.get_text_features(**inputs).pooler_output)
        embeds = torch.cat(per_prompt).view(len(missing), len(templates), -1)
        embeds = embeds / embeds.norm(dim=-1, keepdim=True)
        embeds = embeds.mean(dim=1)
        embeds = embeds / embeds.norm(dim=-1, keepdim=True)
        cache.update({(templates, label): embed for label, embed in zip(missing, embeds)})

    if use_cache:
        _CACHE[model] = (stamp, cache)
    return torch.stack([cache[(templates, label)] for label in labels])


__all__ = ["PROMPT_TEMPLATES", "build_class_embeddings", "check_labels", "check_templates", "folder_name_to_class_name"]
