# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Class embeddings from the prompt ensemble of the official Open-VCLIP code (method doc section 2), and their cache."""

import threading
from collections import OrderedDict
from collections.abc import Sequence

import torch

# The 28 templates of the official code (`temporalclip_video_model.py:297-326`), in its order.
PROMPT_TEMPLATES: tuple[str, ...] = tuple(
    f"{prefix} {suffix}"
    for prefix in ("a photo of", "a video of", "a example of", "a demonstration of")
    for suffix in (
        "{}.", "a person {}.", "a person using {}.", "a person doing {}.", "a person during {}.",
        "a person performing {}.", "a person practicing {}.",
    )
)  # fmt: skip


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
        if filled.count("\0") != 1:  # none, or a numbered field used twice ('{0} {0}')
            places = "no '{}' placeholder" if "\0" not in filled else f"the class name {filled.count(chr(0))} times"
            raise ValueError(f"prompt template {template!r} has {places}: it needs exactly one '{{}}', the class name")
    return templates


def check_labels(labels: Sequence[str], distinct: bool = False) -> list[str]:
    """`labels` as a list of non-empty strings (and, with `distinct=True`, no repeats); a clear error else."""
    if isinstance(labels, str):
        raise TypeError("`labels` must be a sequence of class names, not a single string")
    labels = list(labels)
    if not labels:
        raise ValueError("at least one label is needed")
    for label in labels:
        if not isinstance(label, str) or not label.strip():
            raise ValueError(f"labels must be non-empty strings, got {label!r}")
    keys = [" ".join(label.lower().split()) for label in labels]  # CLIP's tokenizer ignores case and spacing
    if distinct and len(set(keys)) != len(keys):
        repeated = sorted(label for label, key in zip(labels, keys) if keys.count(key) > 1)
        raise ValueError(f"duplicate labels (the same text once case and spacing are ignored): {repeated}")
    return labels


@torch.no_grad()
def build_class_embeddings(
    model: torch.nn.Module,
    tokenizer,
    labels: Sequence[str],
    templates: str | Sequence[str] = PROMPT_TEMPLATES,
    batch_size: int = 256,
) -> torch.Tensor:
    """Prompt-ensemble embeddings `(len(labels), projection_dim)` of the class names `labels`: each template filled
    in, embedded and L2-normalised, then the mean over templates normalised again (`temporalclip_video_model.py:
    356-363`). `model` has `get_text_features` (an [`OpenVCLIPModel`]); `tokenizer` is a CLIP tokenizer or a
    processor holding one; `templates` is one template with a `{}` or several. Pass the result as `text_embeds=`."""
    labels = check_labels(labels)
    tokenizer = getattr(tokenizer, "tokenizer", tokenizer)
    templates = check_templates(templates)
    prompts = [template.format(label) for label in labels for template in templates]
    max_length = model.config.text_config.max_position_embeddings
    per_prompt = []
    for start in range(0, len(prompts), batch_size):
        batch = prompts[start : start + batch_size]
        inputs = tokenizer(batch, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        per_prompt.append(model.get_text_features(**inputs.to(model.device)).pooler_output)
    embeds = torch.cat(per_prompt).view(len(labels), len(templates), -1)
    embeds = embeds / embeds.norm(dim=-1, keepdim=True)
    embeds = embeds.mean(dim=1)
    return embeds / embeds.norm(dim=-1, keepdim=True)


class ClassEmbeddingCache:
    """Class embeddings of one model, computed once per (templates, label): a thread-safe LRU cache of at most
    `max_size` labels. Whoever changes the model's text weights calls [`clear`].

    ```python
    >>> embeds = cache(model, processor, ["archery", "cooking"])  # text tower for both labels
    >>> embeds = cache(model, processor, ["cooking", "surfing"])  # text tower for "surfing" only
    ```
    """

    def __init__(self, max_size: int = 4096):
        if max_size < 1:
            raise ValueError(f"max_size must be a positive integer, got {max_size}")
        self.max_size = max_size
        self._entries: OrderedDict[tuple, torch.Tensor] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __call__(self, model, tokenizer, labels: Sequence[str], templates=PROMPT_TEMPLATES, **kwargs) -> torch.Tensor:
        """[`build_class_embeddings`] of `labels` (same arguments); the text tower runs for uncached labels only."""
        labels, templates = check_labels(labels), check_templates(templates)
        with self._lock:
            known = {label: self._entries.get((templates, label)) for label in labels}
        missing = [label for label, embed in known.items() if embed is None]
        if missing:
            known.update(zip(missing, build_class_embeddings(model, tokenizer, missing, templates, **kwargs)))
        with self._lock:
            for label, embed in known.items():
                self._entries[(templates, label)] = embed
                self._entries.move_to_end((templates, label))
            while len(self._entries) > self.max_size:
                self._entries.popitem(last=False)
        return torch.stack([known[label] for label in labels])


__all__ = ["PROMPT_TEMPLATES", "ClassEmbeddingCache", "build_class_embeddings", "check_labels", "check_templates"]
