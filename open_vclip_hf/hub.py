# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Publish converted Open-VCLIP folders to the Hugging Face Hub (method doc sections 3.3 and 6).

A pushed repository loads with this package (`OpenVCLIPModel.from_pretrained(repo_id)`) or without it, with
`trust_remote_code=True` (`AutoConfig`, `AutoModel`, `AutoProcessor`, `pipeline("zero-shot-video-classification")`):
`config.json` and `processor_config.json` carry an `auto_map`, `config.json` a `custom_pipelines` entry, and the six
self-contained modules of the package are copied unchanged (`REMOTE_CODE_FILES`).

The default branch (or `revision`) holds the weights patched toward CLIP (θ = r·θ_CLIP + (1−r)·θ_SWA, r = 0.5 for
B/16, 0.6 for L/14), processor, tokenizer, remote code and a card rendered from `model_card.md`. The optional branch
`raw-swa` holds the SWA weights before interpolation (with its own card), so that users can choose r:
`from_pretrained(repo_id, revision="raw-swa")`, then `weights.patch_model_`.
"""

import fnmatch
import hashlib
import json
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

import yaml
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

from .configuration_open_vclip import OpenVCLIPConfig
from .modeling_open_vclip import OpenVCLIPModel
from .pretrained import (
    OFFICIAL_CHECKPOINTS,
    OFFICIAL_DOWNLOAD_URL,
    OfficialCheckpoint,
    backbone_name,
    match_official_checkpoint,
)
from .processing_open_vclip import OpenVCLIPProcessor

PACKAGE_DIR = Path(__file__).parent
# A byte-identical copy of the top-level `model_card.md`, shipped as package data (`assets/*` in setup.py) so that
# `open-vclip push` also works from an installed package.
MODEL_CARD_TEMPLATE = PACKAGE_DIR / "assets" / "model_card.md"
RAW_SWA_REVISION = "raw-swa"
# Import only torch / transformers / numpy / av / PIL and each other, relatively: copied into every repository.
REMOTE_CODE_FILES = (
    "configuration_open_vclip.py", "modeling_open_vclip.py", "processing_open_vclip.py", "video_decoding.py",
    "prompts.py", "pipeline_zero_shot_video.py",
)  # fmt: skip
WEIGHT_FILE_PATTERNS = ("*.safetensors", "*.bin")
# Files a push owns on the target revision: those absent from the new upload are deleted in the same commit (e.g.
# shards of an earlier, differently sharded upload). Anything else in the repository (a LICENSE, eval results) stays.
_OWNED_FILE_PATTERNS = (*WEIGHT_FILE_PATTERNS, "*.safetensors.index.json", "*.bin.index.json", "*.py")
# "<!-- if [not] FLAG -->...<!-- endif -->" of the card template, innermost first (the text between the markers holds
# no other "<!-- if "); markers alone on their lines take their line breaks with them.
_CONDITIONAL = re.compile(r"<!-- if (not )?(\w+) -->(\n)?((?:(?!<!-- if ).)*?)<!-- endif -->(?(3)\n)", re.DOTALL)


class HubPushError(RuntimeError):
    """A push that did not complete. The message says what the target branch points to now and how to resume."""


@dataclass
class PushResult:
    """What [`push_to_hub`] published: `commits` maps revision -> commit id after the push (the raw SWA branch
    first, if pushed), `checksums` revision -> {weight file -> SHA-256}, as written in the model cards."""

    repo_id: str
    url: str
    commits: dict[str, str] = field(default_factory=dict)
    checksums: dict[str, dict[str, str]] = field(default_factory=dict)


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


def stage_for_hub(model_dir: str | Path, output_dir: str | Path, processor: OpenVCLIPProcessor | None = None) -> Path:
    """Write into `output_dir` everything a revision of the Hub repository holds, except the README.

    `model_dir` is a folder written by `open-vclip convert` / `save_pretrained`; its processor files are used if
    present, else the default processor (8 frames, CLIP's image processor and tokenizer). Written: the weights,
    `config.json` and `processor_config.json` with their `auto_map`, the tokenizer files and `REMOTE_CODE_FILES`.
    Raises `FileNotFoundError` without a config.json, `RuntimeError` if a file is missing afterwards.
    """
    model_dir, output_dir = Path(model_dir), Path(output_dir)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(
            f"{model_dir}: no config.json; expected a folder written by `open-vclip convert` or `save_pretrained`"
        )
    model = OpenVCLIPModel.from_pretrained(model_dir)
    processor = processor or OpenVCLIPProcessor.from_pretrained(model_dir)  # the folder's, or its model's default
    # What `trust_remote_code=True` reads, written here rather than through `register_for_auto_class`, which would
    # change the package's classes for the rest of the process.
    model.config.auto_map = {
        "AutoConfig": "configuration_open_vclip.OpenVCLIPConfig",
        "AutoModel": "modeling_open_vclip.OpenVCLIPModel",
    }
    model.config.custom_pipelines = {
        "zero-shot-video-classification": {
            "impl": "pipeline_zero_shot_video.ZeroShotVideoClassificationPipeline",
            "pt": ["AutoModel"],
            "type": "multimodal",
        }
    }
    model.save_pretrained(output_dir)
    processor.save_pretrained(output_dir)
    processor_file = output_dir / "processor_config.json"
    if processor_file.is_file():
        processor_config = json.loads(processor_file.read_text(encoding="utf-8"))
        processor_config["auto_map"] = {"AutoProcessor": "processing_open_vclip.OpenVCLIPProcessor"}
        processor_file.write_text(json.dumps(processor_config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    for name in REMOTE_CODE_FILES:
        shutil.copyfile(PACKAGE_DIR / name, output_dir / name)
    written = {path.name for path in output_dir.iterdir()}
    missing = [name for name in ("config.json", "processor_config.json") if name not in written]
    missing += [] if any(output_dir.glob("*.safetensors")) else ["*.safetensors"]
    missing += [] if written & {"tokenizer.json", "vocab.json"} else ["tokenizer files"]
    if missing:
        raise RuntimeError(f"staging for the Hub in {output_dir} is incomplete, missing: {', '.join(missing)}")
    return output_dir


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
    """README.md of one revision of a pushed repository: the `model_card.md` template, its front matter completed
    (`base_model`, and `model-index` for the patched variant's published numbers), its body filled in.

    Args:
        config: the [`OpenVCLIPConfig`] of the weights of this revision.
        repo_id: the repository, used in the usage snippets.
        checksums: revision -> {weight file -> (SHA-256, bytes)} of every revision of the push (all are listed).
        revision: the revision this card is for.
        raw_swa_revision: the branch holding the raw SWA weights, if any (enables the ratio-sweep section).
        variant: `"patched"` (weights interpolated toward CLIP) or `"raw"` (the SWA weights before interpolation).
        checkpoint: whose published numbers to quote, see [`resolve_checkpoint`].
        license: a Hub license id for the metadata; default: the template's `other` (no license file upstream).
    """
    if variant not in ("patched", "raw"):
        raise ValueError(f"variant must be 'patched' or 'raw', got {variant!r}")
    raw = variant == "raw"
    official = resolve_checkpoint(config, checkpoint)
    ratio = getattr(config, "patch_ratio", None)
    text = Path(template).read_text(encoding="utf-8")
    front, separator, body = text.removeprefix("---\n").partition("\n---\n")
    if not text.startswith("---\n") or not separator:
        raise ValueError(f"{template}: the model card template must start with a YAML front matter between '---' lines")
    metadata = yaml.safe_load(front) or {}

    if license is not None:
        metadata = {"license": license} | {key: value for key, value in metadata.items() if "license" not in key}
    results = official.results if official is not None else ()
    if official is not None:
        metadata["base_model"] = official.clip_hf_id
    if results and not raw:
        entries = [
            {
                "task": {"type": "video-classification", "name": "Zero-shot video classification"},
                "dataset": {"name": r.dataset, "type": r.dataset_id},
                "metrics": [{"type": r.metric_id, "value": r.value, "name": f"{r.metric} ({r.protocol})"}],
                "source": {"name": r.source, "url": r.source_url},
            }
            for r in results
        ]
        metadata["model-index"] = [{"name": repo_id.split("/")[-1], "results": entries}]

    official_ratio = official is not None and ratio is not None and abs(ratio - official.patch_ratio) <= 1e-9
    flags = {
        "raw": raw,
        "official": official is not None,
        "official_ratio": official_ratio,
        "other_ratio": not raw and ratio is not None and not official_ratio,
        "results": bool(results),
        "raw_branch": raw_swa_revision is not None,
        "sweep": raw or raw_swa_revision is not None,
        "license": license is not None,
    }
    count = 1
    while count:
        body, count = _CONDITIONAL.subn(lambda match: match[4] if flags[match[2]] != bool(match[1]) else "", body)
    values = {
        "backbone": official.backbone if official is not None else backbone_name(config),
        "repo_id": repo_id,
        "revision": revision,
        "revision_arg": f', revision="{revision}"' if revision != "main" else "",
        "raw_swa_revision": raw_swa_revision,
        "sweep_revision": revision if raw else raw_swa_revision,
        "ratio": _format_ratio(ratio),
        "license": license,
        "download_url": OFFICIAL_DOWNLOAD_URL,
        "checksum_rows": "\n".join(
            f"| `{rev}` | `{path}` | {size} | `{digest}` |"
            for rev, files in checksums.items()
            for path, (digest, size) in files.items()
        ),
        "result_rows": "\n".join(
            f"| {r.dataset} | {r.protocol} | {r.metric} | {r.value:.1f}"
            + (f" ± {r.std:.1f}" if r.std is not None else "")
            + f" | [{r.source}]({r.source_url}) |"
            for r in results
        ),
    }
    if official is not None:
        values |= {
            "official_ratio": f"{official.patch_ratio:g}",
            "official_file": official.official_file,
            "clip_hf_id": official.clip_hf_id,
        }
    front = yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{front}---\n{Template(body).substitute(values)}"


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
        return api.create_commit(
            repo_id, operations=operations, commit_message=title, commit_description=description, revision=revision,
            parent_commit=head,
        ).oid  # fmt: skip
    except Exception as error:
        try:
            if created:
                api.delete_branch(repo_id, branch=revision)
            now = _branch_head(api, repo_id, revision)
            if created and now is None:
                state = "Nothing was committed; the new branch was deleted again"
            elif created:
                state = (
                    f"Nothing was committed; the new branch `{revision}` could not be deleted and holds no model "
                    f"(it points to the repository's first commit {head[:12]})"
                )
            elif now == head:
                state = f"Nothing was committed: `{revision}` still points to {head[:12]}"
            else:
                state = (
                    f"`{revision}` now points to {str(now)[:12]}, not {head[:12]}: the commit may have gone through or "
                    "someone else pushed; check the repository before pushing again"
                )
        except Exception:  # noqa: BLE001 - the Hub is unreachable: say what is known
            state = f"The state of `{revision}` could not be checked (it pointed to {head[:12]} before the push)"
        cause = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise HubPushError(
            f"pushing to {repo_id}@{revision} failed ({type(error).__name__}: {cause}). {state}. Run the same push "
            "again to resume: files that already reached the Hub are not uploaded a second time."
        ) from error


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
        checkpoint: whose published numbers the cards quote, see [`resolve_checkpoint`].
        license: Hub license id for the card metadata (default `other`: the official code has no license file).
        commit_message: title of the commit on `revision` (a descriptive default otherwise).
        token, api: credentials / client (default: `HfApi(token=token)`, i.e. `HF_TOKEN` or `hf auth login`).

    Atomicity: each revision gets exactly one `create_commit` holding all its files (plus deletions of weight
    shards and `.py` files an earlier push left and this one does not have), with `parent_commit` set to the head
    read before. The Hub moves the branch only when that commit succeeds, so a failure at any point (an upload, the
    commit request) leaves the branch where it was; a branch created for the push is deleted again. The raw SWA
    branch is committed first: the default branch's card, which refers to it, never goes up without it.

    Resuming: files are staged (and hashed) locally before any request, deterministically. Large files (LFS / xet:
    every `*.safetensors`, anything over 10 MB) are uploaded *before* the commit and stay on the Hub's storage when
    it fails, so a re-run sends only those the Hub does not have yet (small files travel inside the commit request);
    a revision that already holds identical files gets no new commit. An interrupted large file starts over.

    Raises `HubPushError` (a `RuntimeError`) when a commit fails, saying what the branch points to and how to
    resume; `ValueError` / `FileNotFoundError` for unusable inputs (before any upload).
    """
    revision = revision or "main"
    if raw_swa_dir is not None and raw_swa_revision == revision:
        raise ValueError(f"the raw SWA weights need their own branch, not {revision!r}")
    raw_revision = raw_swa_revision if raw_swa_dir is not None else None
    api = api if api is not None else HfApi(token=token)

    with tempfile.TemporaryDirectory(prefix="open-vclip-push-") as tmp:
        staged = {revision: stage_for_hub(model_dir, Path(tmp) / "patched")}
        config = OpenVCLIPConfig.from_pretrained(staged[revision])
        configs = {revision: config}
        official = resolve_checkpoint(config, checkpoint)
        backbone = official.backbone if official is not None else backbone_name(config)
        what = f"weights patched toward CLIP (r={_format_ratio(config.patch_ratio)})"
        titles = {revision: commit_message or f"Open-VCLIP {backbone}: {what}, processor, remote code and model card"}
        if raw_revision is not None:
            staged[raw_revision] = stage_for_hub(raw_swa_dir, Path(tmp) / "raw")
            configs[raw_revision] = raw_config = OpenVCLIPConfig.from_pretrained(staged[raw_revision])
            titles[raw_revision] = f"Open-VCLIP {backbone}: raw SWA weights (before interpolation with CLIP)"
            if raw_config.patch_ratio not in (None, 0.0):
                raise ValueError(
                    f"{raw_swa_dir} was patched toward CLIP (patch_ratio={raw_config.patch_ratio}); the raw SWA "
                    "revision needs the unpatched conversion: `open-vclip convert swa_2_22.pth --ratio 0 --out DIR`"
                )
            main, raw = _architecture(config), _architecture(raw_config)
            if raw != main:
                differences = ", ".join(f"{key} {raw[key]} vs {main[key]}" for key in raw if raw[key] != main[key])
                raise ValueError(f"{raw_swa_dir} is another architecture than the model to push: {differences}")
        checksums = {rev: weight_checksums(folder) for rev, folder in staged.items()}
        for rev, folder in staged.items():
            card = render_model_card(
                configs[rev], repo_id, checksums, revision=rev, raw_swa_revision=raw_revision,
                variant="raw" if rev == raw_revision else "patched", checkpoint=official and official.name,
                license=license,
            )  # fmt: skip
            (folder / "README.md").write_text(card, encoding="utf-8")

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


def _architecture(config) -> dict:
    vision, text = config.vision_config, config.text_config
    return {
        "vision width": vision.hidden_size, "vision layers": vision.num_hidden_layers, "patch": vision.patch_size,
        "image size": vision.image_size, "text width": text.hidden_size, "text layers": text.num_hidden_layers,
        "vocabulary": text.vocab_size, "projection": config.projection_dim,
    }  # fmt: skip


def _format_ratio(ratio: float | None) -> str:
    return "not recorded" if ratio is None else f"{ratio:g}"
