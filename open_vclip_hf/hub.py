# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Publish converted Open-VCLIP folders to the Hugging Face Hub (method doc sections 3.3 and 6).

A pushed repository works in two ways:

* with this package installed: `OpenVCLIPModel.from_pretrained(repo_id)` / `OpenVCLIPProcessor.from_pretrained`;
* without it: `AutoConfig`, `AutoModel`, `AutoProcessor` and `pipeline("zero-shot-video-classification", ...)` with
  `trust_remote_code=True`, through the `auto_map` of `config.json` / `processor_config.json`, the
  `custom_pipelines` entry of `config.json`, and the six self-contained modules of the package copied unchanged
  (`REMOTE_CODE_FILES`).

Layout of a repository: the default branch (or `revision`) holds the weights patched toward CLIP
(θ = r·θ_CLIP + (1−r)·θ_SWA, r = 0.5 for B/16, 0.6 for L/14), config, processor and tokenizer files, the remote
code and a model card rendered from `model_card.md`. Optionally the branch `raw-swa` holds the SWA weights before
interpolation (same files, its own card), so that users can choose r themselves: `from_pretrained(repo_id,
revision="raw-swa")`, then `weights.patch_model_`.
"""

import fnmatch
import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

import yaml
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

from .configuration_open_vclip import OpenVCLIPConfig
from .modeling_open_vclip import OpenVCLIPModel
from .pretrained import (
    OFFICIAL_CHECKPOINTS,
    backbone_name,
    OFFICIAL_DOWNLOAD_URL,
    OFFICIAL_REPO_URL,
    OfficialCheckpoint,
    match_official_checkpoint,
)
from .processing_open_vclip import OpenVCLIPProcessor


PACKAGE_DIR = Path(__file__).parent
# The template of every pushed README.md: a byte-identical copy of the top-level `model_card.md`, shipped as package
# data (`assets/*` in setup.py) so that `open-vclip push` also works from an installed package.
MODEL_CARD_TEMPLATE = PACKAGE_DIR / "assets" / "model_card.md"

PIPELINE_TASK = "zero-shot-video-classification"
RAW_SWA_REVISION = "raw-swa"
# Import only torch / transformers / numpy / av / PIL and each other, relatively: copied into every repository.
REMOTE_CODE_FILES = (
    "configuration_open_vclip.py",
    "modeling_open_vclip.py",
    "processing_open_vclip.py",
    "video_decoding.py",
    "prompts.py",
    "pipeline_zero_shot_video.py",
)
# `custom_pipelines` entry of config.json, read by `transformers.pipeline(task, model=repo, trust_remote_code=True)`.
CUSTOM_PIPELINE = {
    "impl": "pipeline_zero_shot_video.ZeroShotVideoClassificationPipeline",
    "pt": ["AutoModel"],
    "type": "multimodal",
}
WEIGHT_FILE_PATTERNS = ("*.safetensors", "*.bin")
# Files a push owns on the target revision: those absent from the new upload are deleted in the same commit (e.g.
# shards of an earlier, differently sharded upload). Anything else in the repository (a LICENSE, eval results) stays.
_OWNED_FILE_PATTERNS = (*WEIGHT_FILE_PATTERNS, "*.safetensors.index.json", "*.bin.index.json", "*.py")
# The official repository has no LICENSE file in any of its commits (HEAD 047a817): the terms are unspecified.
DEFAULT_LICENSE = {"license": "other", "license_name": "open-vclip-unspecified", "license_link": OFFICIAL_REPO_URL}


class HubPushError(RuntimeError):
    """A push that did not complete. The message says what the target branch points to now and how to resume."""


@dataclass
class PushResult:
    """What [`push_to_hub`] published.

    Attributes:
        repo_id: the repository, e.g. `"org/open-vclip-b16"`.
        url: its address on the Hub.
        commits: revision -> commit id it points to after the push (the raw SWA branch first, if pushed).
        checksums: revision -> {weight file -> SHA-256}, as written in the model cards.
    """

    repo_id: str
    url: str
    commits: dict[str, str] = field(default_factory=dict)
    checksums: dict[str, dict[str, str]] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------ staging


def sha256sum(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def weight_checksums(folder: str | Path) -> dict[str, tuple[str, int]]:
    """{relative path -> (SHA-256, size in bytes)} of every weight file (`*.safetensors`, `*.bin`) in `folder`."""
    folder = Path(folder)
    return {
        path.relative_to(folder).as_posix(): (sha256sum(path), path.stat().st_size)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and any(fnmatch.fnmatch(path.name, pattern) for pattern in WEIGHT_FILE_PATTERNS)
    }


_MISSING = object()


@contextmanager
def _registered_for_auto_classes() -> Iterator[None]:
    """`register_for_auto_class` on config, model and processor while saving (so that `save_pretrained` writes
    `auto_map` and copies the modules), then undo it: the classes of the imported package stay as they were."""
    registrations = {OpenVCLIPConfig: "AutoConfig", OpenVCLIPModel: "AutoModel", OpenVCLIPProcessor: "AutoProcessor"}
    saved = {cls: cls.__dict__.get("_auto_class", _MISSING) for cls in registrations}
    try:
        for cls, auto_class in registrations.items():
            cls.register_for_auto_class(auto_class)
        yield
    finally:
        for cls, value in saved.items():
            if value is _MISSING:
                if "_auto_class" in cls.__dict__:
                    delattr(cls, "_auto_class")
            else:
                cls._auto_class = value


def stage_for_hub(model_dir: str | Path, output_dir: str | Path, processor: OpenVCLIPProcessor | None = None) -> Path:
    """Write into `output_dir` everything a revision of the Hub repository holds, except the README.

    `model_dir` is a folder written by `open-vclip convert` / `save_pretrained` (config.json + safetensors). Its
    processor files are used if present, else the default processor (8 frames, CLIP's image processor and tokenizer).
    Written: the weights (safetensors), `config.json` with `auto_map` (AutoConfig, AutoModel) and `custom_pipelines`,
    `processor_config.json` with `auto_map` (AutoProcessor), the tokenizer files, and `REMOTE_CODE_FILES` copied
    unchanged from the package. Raises `FileNotFoundError` without a config.json, `RuntimeError` if a file is missing.
    """
    model_dir, output_dir = Path(model_dir), Path(output_dir)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(
            f"{model_dir}: no config.json; expected a folder written by `open-vclip convert` or `save_pretrained`"
        )
    model = OpenVCLIPModel.from_pretrained(model_dir)
    processor = processor or OpenVCLIPProcessor.from_pretrained(model_dir)  # the folder's, or its model's default
    model.config.custom_pipelines = {PIPELINE_TASK: dict(CUSTOM_PIPELINE)}
    output_dir.mkdir(parents=True, exist_ok=True)
    with _registered_for_auto_classes():
        model.save_pretrained(output_dir)
        processor.save_pretrained(output_dir)
    # save_pretrained copies the modules of the registered classes and their relative imports; the pipeline module
    # is nobody's import, so copy all six explicitly (the same bytes).
    for name in REMOTE_CODE_FILES:
        shutil.copyfile(PACKAGE_DIR / name, output_dir / name)
    _check_staged(output_dir)
    return output_dir


def _check_staged(folder: Path) -> None:
    required = ("config.json", "processor_config.json", *REMOTE_CODE_FILES)
    missing = [name for name in required if not (folder / name).is_file()]
    if not weight_checksums(folder):
        missing.append("*.safetensors")
    if not any((folder / name).is_file() for name in ("tokenizer.json", "vocab.json")):
        missing.append("tokenizer files")
    if missing:
        raise RuntimeError(f"staging for the Hub in {folder} is incomplete, missing: {', '.join(missing)}")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    processor = json.loads((folder / "processor_config.json").read_text(encoding="utf-8"))
    model_classes = {"AutoConfig", "AutoModel"} <= set(config.get("auto_map", {}))
    if not model_classes or "AutoProcessor" not in processor.get("auto_map", {}):
        raise RuntimeError(f"staging for the Hub in {folder}: config.json / processor_config.json lack `auto_map`")


# ------------------------------------------------------------------------------------------- model card


def _architecture(config) -> tuple:
    vision, text = config.vision_config, config.text_config
    return (
        vision.hidden_size, vision.num_hidden_layers, vision.patch_size, vision.image_size,
        text.hidden_size, text.num_hidden_layers, text.vocab_size, config.projection_dim,
    )  # fmt: skip


def resolve_checkpoint(config, checkpoint: str | None = None) -> OfficialCheckpoint | None:
    """The table entry whose numbers a card may quote: None / `"none"` (the default: no published numbers, since
    the architecture alone cannot tell a conversion of the official file from any other fine-tune), a name of
    `OFFICIAL_CHECKPOINTS`, or `"auto"` = the official checkpoint of the same architecture
    (`pretrained.match_official_checkpoint`). Only name one for weights converted from that official file."""
    if checkpoint is None or checkpoint == "none":
        return None
    if checkpoint == "auto":
        return match_official_checkpoint(config)
    if checkpoint not in OFFICIAL_CHECKPOINTS:
        raise ValueError(f"unknown checkpoint {checkpoint!r}; known: auto, none, {', '.join(OFFICIAL_CHECKPOINTS)}")
    official = OFFICIAL_CHECKPOINTS[checkpoint]
    if match_official_checkpoint(config) is not official:
        raise ValueError(f"the model is a {backbone_name(config)}, not the {official.backbone} of {checkpoint!r}")
    return official


def _read_template(path: Path) -> tuple[dict, str]:
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---\n") or "\n---\n" not in text[3:]:
        raise ValueError(f"{path}: the model card template must start with a YAML front matter between '---' lines")
    end = text.index("\n---\n", 3)
    return yaml.safe_load(text[4:end]) or {}, text[end + len("\n---\n") :]


def _format_ratio(ratio: float | None) -> str:
    return "not recorded" if ratio is None else f"{ratio:g}"


def _results_section(official: OfficialCheckpoint | None, ratio: float | None, raw: bool) -> str:
    if official is None or not official.results:
        return (
            "No published numbers for this model: its architecture is not one of the official Open-VCLIP checkpoints "
            "whose results could be verified (ViT-B/16, ViT-L/14). Evaluate it on your own data before relying on it."
        )
    lines = []
    if raw:
        lines.append(
            "The numbers below were published for the **interpolated** weights (r = "
            f"{official.patch_ratio:g}, the default branch), not for these raw SWA weights.\n"
        )
    elif ratio is not None and abs(ratio - official.patch_ratio) > 1e-9:
        lines.append(
            f"**Note:** these weights were patched with r = {ratio:g}; the numbers below were measured at "
            f"r = {official.patch_ratio:g} (the official evaluation scripts for {official.backbone}).\n"
        )
    lines += [
        (
            "Zero-shot (UCF101, HMDB51, Kinetics-600) and closed-set (Kinetics-400) accuracy published for the "
            f"official Open-VCLIP {official.backbone} checkpoint (`{official.official_file}`), evaluated by the "
            "official PySlowFast code with 8 frames per view and 3 temporal views x 1 crop unless stated. These "
            "weights reproduce them only if converted from that file; the `pipeline` defaults to one uniform view, "
            'pass `num_clips=3, sampling="dense"` for the paper\'s views. Only numbers with a source a reader can '
            "check are listed.\n"
        ),
        "| dataset | protocol | metric | value (%) | source |",
        "|---|---|---|---:|---|",
    ]
    for result in official.results:
        value = f"{result.value:.1f}" + (f" ± {result.std:.1f}" if result.std is not None else "")
        lines.append(
            f"| {result.dataset} | {result.protocol} | {result.metric} | {value} | "
            f"[{result.source}]({result.source_url}) |"
        )
    return "\n".join(lines)


def _model_index(name: str, official: OfficialCheckpoint) -> list[dict]:
    results = []
    for result in official.results:
        metric = {"type": result.metric_id, "value": result.value, "name": f"{result.metric} ({result.protocol})"}
        results.append(
            {
                "task": {"type": "video-classification", "name": "Zero-shot video classification"},
                "dataset": {"name": result.dataset, "type": result.dataset_id},
                "metrics": [metric],
                "source": {"name": result.source, "url": result.source_url},
            }
        )
    return [{"name": name, "results": results}]


def _sweep_section(repo_id: str, raw_revision: str, anchor: str) -> str:
    return f"""## Choosing the interpolation ratio

The branch `{raw_revision}` holds the SWA weights before interpolation. Patch them with your own r
(the official code's advice for new data: sweep r; it uses 0.5 for B/16 and B/32, 0.6 for L/14):

```python
from open_vclip_hf import OpenVCLIPModel
from open_vclip_hf.weights import patch_model_

model = OpenVCLIPModel.from_pretrained("{repo_id}", revision="{raw_revision}")
clip = OpenVCLIPModel.from_pretrained("{anchor}")  # θ_CLIP, the same parameter names
patch_model_(model, clip.state_dict(), ratio=0.4)    # θ = 0.4·θ_CLIP + 0.6·θ_SWA
```

The official code interpolates toward OpenAI's fp16 TorchScript file; the fp32 Hub copy holds the same values."""


def render_model_card(
    config,
    repo_id: str,
    checksums: Mapping[str, Mapping[str, tuple[str, int]]],
    *,
    revision: str = "main",
    raw_swa_revision: str | None = None,
    variant: str = "patched",
    checkpoint: str | None = None,
    license: str | None = None,
    template: str | Path = MODEL_CARD_TEMPLATE,
) -> str:
    """README.md of one revision of a pushed repository, from the `model_card.md` template.

    Args:
        config: the [`OpenVCLIPConfig`] of the weights of this revision.
        repo_id: the repository, used in the usage snippets.
        checksums: revision -> {weight file -> (SHA-256, bytes)} of every revision this push publishes (all are
            listed in the card).
        revision: the revision this card is for.
        raw_swa_revision: the branch holding the raw SWA weights, if any (enables the ratio-sweep section).
        variant: `"patched"` (weights interpolated toward CLIP) or `"raw"` (the SWA weights before interpolation).
        checkpoint: whose published numbers to quote, see [`resolve_checkpoint`]; they go into `model-index` only
            for the patched variant.
        license: a Hub license id for the metadata; default `other` (the official repository has no license file).
    """
    if variant not in ("patched", "raw"):
        raise ValueError(f"variant must be 'patched' or 'raw', got {variant!r}")
    raw = variant == "raw"
    official = resolve_checkpoint(config, checkpoint)
    ratio = getattr(config, "patch_ratio", None)
    backbone = official.backbone if official is not None else backbone_name(config)
    name = repo_id.split("/")[-1]

    metadata, body = _read_template(Path(template))
    license_fields = dict(DEFAULT_LICENSE) if license is None else {"license": license}
    metadata = {**license_fields, **metadata}
    if official is not None:
        metadata["base_model"] = official.clip_hf_id
    if official is not None and official.results and not raw:
        metadata["model-index"] = _model_index(name, official)

    if raw:
        weights = (
            f"This revision (`{revision}`) holds the **raw SWA weights** of Open-VCLIP {backbone}: the average of the "
            "fine-tuning checkpoints of epochs 2-22, *before* the test-time interpolation with CLIP "
            f"(config `patch_ratio` = {_format_ratio(ratio)}). Use them to choose the ratio yourself (below); for "
            "predictions use the default branch."
        )
    else:
        source = ""
        if official is not None and ratio is not None and abs(ratio - official.patch_ratio) <= 1e-9:
            source = f", the ratio of the official evaluation scripts for {official.backbone}"
        weights = (
            f"This revision (`{revision}`) holds Open-VCLIP {backbone} with the test-time interpolation applied: "
            f"θ = r·θ_CLIP + (1 − r)·θ_SWA with **r = {_format_ratio(ratio)}**{source}"
            + (f", toward OpenAI CLIP (`{official.clip_hf_id}`)" if official is not None else "")
            + "."
        )
        if raw_swa_revision is not None:
            weights += f" The branch `{raw_swa_revision}` holds the SWA weights before interpolation (r = 0)."
    rows = [
        f"| `{rev}` | `{path}` | {size} | `{digest}` |"
        for rev, files in checksums.items()
        for path, (digest, size) in files.items()
    ]
    port_note = ""
    if official is not None:
        port_note = (
            f" (`{official.official_file}` of the [official release]({OFFICIAL_DOWNLOAD_URL}), which publishes no "
            "checksum)"
        )
    license_note = (
        f"[{OFFICIAL_REPO_URL.removeprefix('https://github.com/')}]({OFFICIAL_REPO_URL}) publishes no license file, "
        "so the terms of the released weights are unspecified: ask the authors before any use beyond research. The "
        "weights derive from OpenAI CLIP (MIT license) and were fine-tuned on Kinetics-400, whose videos belong to "
        "their YouTube uploaders."
    )
    if license is not None:
        license_note = f"Published as `{license}` by the uploader. " + license_note
    anchor = official.clip_hf_id if official is not None else "the CLIP model these weights were fine-tuned from"
    sweep_revision = revision if raw else raw_swa_revision
    context = {
        "title": f"Open-VCLIP {backbone}" + (" (raw SWA weights)" if raw else ""),
        "repo_id": repo_id,
        "revision_arg": f', revision="{revision}"' if revision != "main" else "",
        "weights_description": weights,
        "checksum_rows": "\n".join(rows),
        "results": _results_section(official, ratio, raw),
        "sweep_section": _sweep_section(repo_id, sweep_revision, anchor) if sweep_revision else "",
        "port_note": port_note,
        "license_note": license_note,
    }
    front = yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{front}---\n{Template(body).substitute(context)}"


# ------------------------------------------------------------------------------------------------- push


def _check_raw_swa(main_config, raw_config, raw_swa_dir) -> None:
    if raw_config.patch_ratio not in (None, 0.0):
        raise ValueError(
            f"{raw_swa_dir} was patched toward CLIP (patch_ratio={raw_config.patch_ratio}); the raw SWA revision needs "
            "the unpatched conversion: `open-vclip convert swa_2_22.pth --ratio 0 --out DIR`"
        )
    if _architecture(raw_config) != _architecture(main_config):
        names = ("vision width", "vision layers", "patch", "image size", "text width", "text layers", "vocabulary",
                 "projection")  # fmt: skip
        differences = ", ".join(
            f"{name} {raw} vs {main}"
            for name, raw, main in zip(names, _architecture(raw_config), _architecture(main_config))
            if raw != main
        )
        raise ValueError(f"{raw_swa_dir} is another architecture than the model to push: {differences}")


def _branch_head(api: HfApi, repo_id: str, branch: str) -> str | None:
    return {ref.name: ref.target_commit for ref in api.list_repo_refs(repo_id).branches}.get(branch)


def _commit_folder(api: HfApi, repo_id: str, folder: Path, revision: str, title: str, description: str) -> str:
    """One atomic commit making the owned files of `revision` equal to `folder`; creates the branch if needed."""
    head = _branch_head(api, repo_id, revision)
    created = head is None
    if created:
        # A new branch starts at the repository's first commit (the Hub's "initial commit": .gitattributes only), not
        # at main: if the commit below fails, the branch holds no model rather than another revision's weights.
        head = api.list_repo_commits(repo_id)[-1].commit_id
        api.create_branch(repo_id, branch=revision, revision=head, exist_ok=True)
    remote = set(api.list_repo_files(repo_id, revision=head))
    local = sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())
    operations = [CommitOperationAdd(path_in_repo=path, path_or_fileobj=str(folder / path)) for path in local]
    operations += [
        CommitOperationDelete(path_in_repo=path)
        for path in sorted(remote - set(local))
        if any(fnmatch.fnmatch(path, pattern) for pattern in _OWNED_FILE_PATTERNS)
    ]
    try:
        # One create_commit: files go up first (large ones through LFS / xet), then a single commit request moves the
        # branch. `parent_commit` makes it fail instead of overwriting a commit made meanwhile by someone else.
        info = api.create_commit(
            repo_id,
            operations=operations,
            commit_message=title,
            commit_description=description,
            revision=revision,
            parent_commit=head,
        )
    except Exception as error:
        raise HubPushError(_failure_message(api, repo_id, revision, head, created, error)) from error
    return info.oid


def _failure_message(api: HfApi, repo_id: str, revision: str, head: str, created: bool, error: Exception) -> str:
    cause = f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"
    message = f"pushing to {repo_id}@{revision} failed ({cause}). "
    try:
        if created:
            api.delete_branch(repo_id, branch=revision)
            now = _branch_head(api, repo_id, revision)
            state = "Nothing was committed; the new branch was deleted again" if now is None else (
                f"Nothing was committed; the new branch `{revision}` could not be deleted and holds no model "
                f"(it points to the repository's first commit {head[:12]})"
            )
        else:
            now = _branch_head(api, repo_id, revision)
            state = (
                f"Nothing was committed: `{revision}` still points to {head[:12]}"
                if now == head
                else f"`{revision}` now points to {str(now)[:12]}, not {head[:12]}: the commit may have gone through "
                "or someone else pushed; check the repository before pushing again"
            )
    except Exception:  # the Hub is unreachable: say what is known
        state = f"The state of `{revision}` could not be checked (it pointed to {head[:12]} before the push)"
    return (
        message + state + ". Run the same push again to resume: files that already reached the Hub are not uploaded "
        "a second time."
    )


def push_to_hub(
    model_dir: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    raw_swa_dir: str | Path | None = None,
    raw_swa_revision: str = RAW_SWA_REVISION,
    checkpoint: str | None = None,
    license: str | None = None,
    commit_message: str | None = None,
    token: str | bool | None = None,
    api: HfApi | None = None,
) -> PushResult:
    """Publish a converted Open-VCLIP folder (and optionally its raw SWA weights) to the Hub.

    Args:
        model_dir: the weights to publish, patched toward CLIP (`open-vclip convert ... --ratio 0.5 --out DIR`).
        repo_id: `"org/name"`; created if missing (`private` only applies then).
        private: create the repository private.
        revision: branch receiving `model_dir` (default `main`); created from the repository's first commit if new.
        raw_swa_dir: the same checkpoint converted with `--ratio 0`; published on the branch `raw_swa_revision`
            (default `raw-swa`) with its own card, so that users can sweep the ratio.
        checkpoint: whose published numbers the card quotes: `"auto"` (the official checkpoint of the same
            architecture, see `pretrained.py`), a name of `OFFICIAL_CHECKPOINTS`, or None.
        license: Hub license id for the card metadata (default `other`: the official code has no license file).
        commit_message: title of the commit on `revision` (a descriptive default otherwise).
        token, api: credentials / client (default: `HfApi(token=token)`, i.e. `HF_TOKEN` or `hf auth login`).

    Atomicity: each revision gets exactly one `create_commit` holding all its files (plus deletions of weight
    shards and `.py` files an earlier push left and this one does not have), with `parent_commit` set to the head
    read before. The Hub moves the branch only when that commit succeeds, so a failure at any point (an upload, the
    commit request) leaves the branch where it was; a branch created for the push is deleted again. The raw SWA
    branch is committed first: the default branch's card, which refers to it, never goes up without it.

    Resuming: all files are staged (and hashed) locally before any request, deterministically, so a re-run
    recreates the same bytes. Large files (LFS / xet; on the real Hub every `*.safetensors` and anything over 10 MB)
    are uploaded *before* the commit and stay on the Hub's storage when the commit then fails: a re-run asks the
    Hub which of them it already has and sends only the others. Small files travel inside the commit request and
    are sent again. A revision that already holds identical files gets no new commit. Nothing is stored locally
    between runs; an interrupted upload of one large file starts that file over.

    Returns a [`PushResult`]. Raises `HubPushError` (a `RuntimeError`) when a commit fails, saying what the branch
    points to and how to resume; `ValueError` / `FileNotFoundError` for unusable inputs (before any upload).
    """
    revision = revision or "main"
    if raw_swa_dir is not None and raw_swa_revision == revision:
        raise ValueError(f"the raw SWA weights need their own branch, not {revision!r}")
    api = api if api is not None else HfApi(token=token)

    with tempfile.TemporaryDirectory(prefix="open-vclip-push-") as tmp:
        staged = {revision: stage_for_hub(model_dir, Path(tmp) / "patched")}
        config = OpenVCLIPConfig.from_pretrained(staged[revision])
        official = resolve_checkpoint(config, checkpoint)
        backbone = official.backbone if official is not None else backbone_name(config)
        if raw_swa_dir is not None:
            staged[raw_swa_revision] = stage_for_hub(raw_swa_dir, Path(tmp) / "raw")
            raw_config = OpenVCLIPConfig.from_pretrained(staged[raw_swa_revision])
            _check_raw_swa(config, raw_config, raw_swa_dir)
        checksums = {rev: weight_checksums(folder) for rev, folder in staged.items()}
        raw_revision = raw_swa_revision if raw_swa_dir is not None else None
        checkpoint_name = official.name if official is not None else None

        cards = {
            revision: render_model_card(
                config, repo_id, checksums, revision=revision, raw_swa_revision=raw_revision,
                checkpoint=checkpoint_name, license=license,
            )
        }  # fmt: skip
        titles = {
            revision: commit_message
            or f"Open-VCLIP {backbone}: weights patched toward CLIP (r={_format_ratio(config.patch_ratio)}), "
            "processor, remote code and model card"
        }
        if raw_revision is not None:
            cards[raw_revision] = render_model_card(
                raw_config, repo_id, checksums, revision=raw_revision, raw_swa_revision=raw_revision,
                variant="raw", checkpoint=checkpoint_name, license=license,
            )  # fmt: skip
            titles[raw_revision] = f"Open-VCLIP {backbone}: raw SWA weights (before interpolation with CLIP)"
        for rev, card in cards.items():
            (staged[rev] / "README.md").write_text(card, encoding="utf-8")

        try:
            url = api.create_repo(repo_id, private=private, exist_ok=True)
        except Exception as error:
            raise HubPushError(
                f"cannot create or reach {repo_id} on {api.endpoint} ({type(error).__name__}: {error}); nothing was "
                "uploaded"
            ) from error
        result = PushResult(repo_id=repo_id, url=str(url))
        for rev in ([raw_revision] if raw_revision is not None else []) + [revision]:
            description = "SHA-256 of the weight files:\n\n" + "\n".join(
                f"- `{path}`: `{digest}` ({size} bytes)" for path, (digest, size) in checksums[rev].items()
            )
            result.commits[rev] = _commit_folder(api, repo_id, staged[rev], rev, titles[rev], description)
            result.checksums[rev] = {path: digest for path, (digest, _) in checksums[rev].items()}
    return result


__all__ = [
    "CUSTOM_PIPELINE",
    "HubPushError",
    "MODEL_CARD_TEMPLATE",
    "PIPELINE_TASK",
    "PushResult",
    "RAW_SWA_REVISION",
    "REMOTE_CODE_FILES",
    "push_to_hub",
    "render_model_card",
    "resolve_checkpoint",
    "sha256sum",
    "stage_for_hub",
    "weight_checksums",
]
