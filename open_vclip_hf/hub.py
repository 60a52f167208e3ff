# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Publish converted Open-VCLIP folders to the Hugging Face Hub (method doc sections 3.3 and 6).

A pushed revision holds the weights, processor, tokenizer, the six self-contained modules of the package as remote code
(`REMOTE_CODE_FILES`, named in the `auto_map`s and `custom_pipelines`) and a card rendered from `model_card.md`. The
optional branch `raw-swa` holds the SWA weights before interpolation, so that users can choose the ratio r.
"""

import fnmatch
import hashlib
import json
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import torch
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

from .configuration_open_vclip import OpenVCLIPConfig
from .modeling_open_vclip import OpenVCLIPModel
from .pretrained import OFFICIAL_CHECKPOINTS, OFFICIAL_DOWNLOAD_URL, backbone_name, match_official_checkpoint
from .processing_open_vclip import OpenVCLIPProcessor
from .weights import check_same_keys_and_shapes

PACKAGE_DIR = Path(__file__).parent
# A byte-identical copy of the top-level `model_card.md`, shipped as package data so that an installed package pushes.
MODEL_CARD_TEMPLATE = PACKAGE_DIR / "assets" / "model_card.md"
RAW_SWA_REVISION = "raw-swa"
# Import only torch / transformers / numpy / av / PIL and each other, relatively: copied into every repository.
REMOTE_CODE_FILES = (
    "configuration_open_vclip.py", "modeling_open_vclip.py", "processing_open_vclip.py", "video_decoding.py",
    "prompts.py", "pipeline_zero_shot_video.py",
)  # fmt: skip
WEIGHT_FILE_PATTERNS = ("*.safetensors", "*.bin")
# Files a push owns on its revision: those absent from the new upload are deleted in the same commit (e.g. shards of
# an earlier, differently sharded upload). Anything else in the repository (a LICENSE, eval results) stays.
_OWNED_FILE_PATTERNS = (*WEIGHT_FILE_PATTERNS, "*.safetensors.index.json", "*.bin.index.json", "*.py")
_CARD_TEMPLATES = jinja2.Environment(
    trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined
)


class HubPushError(RuntimeError):
    """A push that did not complete. The message says what the target branch points to now and how to resume."""


@dataclass
class PushResult:
    """What [`push_to_hub`] published: revision -> commit id, and revision -> {weight file -> SHA-256}."""

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
    """Write into `output_dir` what a revision of the Hub repository holds but the README: the weights of `model_dir`
    (a `save_pretrained` folder), its processor (or `processor`), the `auto_map`s and `REMOTE_CODE_FILES`; a
    `RuntimeError` names any file still missing then."""
    model_dir, output_dir = Path(model_dir), Path(output_dir)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(
            f"{model_dir}: no config.json; expected a folder written by `open-vclip convert` or `save_pretrained`"
        )
    model = OpenVCLIPModel.from_pretrained(model_dir)
    processor = processor or OpenVCLIPProcessor.from_pretrained(model_dir)  # the folder's, or its model's default
    # Written here rather than through `register_for_auto_class`, which would change the package's classes.
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
    for name in REMOTE_CODE_FILES:
        shutil.copyfile(PACKAGE_DIR / name, output_dir / name)
    written = {path.name for path in output_dir.iterdir()}
    missing = [name for name in ("config.json", "processor_config.json") if name not in written]
    missing += [] if any(output_dir.glob("*.safetensors")) else ["*.safetensors"]
    missing += [] if written & {"tokenizer.json", "vocab.json"} else ["tokenizer files"]
    if missing:
        raise RuntimeError(f"staging for the Hub in {output_dir} is incomplete, missing: {', '.join(missing)}")
    processor_file = output_dir / "processor_config.json"
    processor_config = json.loads(processor_file.read_text(encoding="utf-8"))
    processor_config["auto_map"] = {"AutoProcessor": "processing_open_vclip.OpenVCLIPProcessor"}
    processor_file.write_text(json.dumps(processor_config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return output_dir


def resolve_checkpoint(config, checkpoint: str | None = None):
    """The `OfficialCheckpoint` whose numbers a card may quote: None / `"none"` (the default: the architecture alone
    cannot tell a conversion of the official file from another fine-tune), a name of `OFFICIAL_CHECKPOINTS`, or
    `"auto"` (the one of the same architecture). Only name one for weights converted from that official file."""
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
    """README.md of `revision` (weights of `config`, `variant` `"patched"` toward CLIP or `"raw"` SWA) rendered from
    `template`. `checksums`: revision -> {weight file -> (SHA-256, bytes)}, all listed; `raw_swa_revision` enables the
    ratio-sweep section; `checkpoint`: whose published numbers to quote ([`resolve_checkpoint`]), in the text and the
    `model-index` of the patched variant; `license`: a Hub license id (default: the template's `other`)."""
    if variant not in ("patched", "raw"):
        raise ValueError(f"variant must be 'patched' or 'raw', got {variant!r}")
    raw = variant == "raw"
    official = resolve_checkpoint(config, checkpoint)
    results = official.results if official is not None else ()
    ratio = getattr(config, "patch_ratio", None)
    official_ratio = official is not None and ratio is not None and abs(ratio - official.patch_ratio) <= 1e-9
    card = _CARD_TEMPLATES.from_string(Path(template).read_text(encoding="utf-8"))
    return card.render(
        raw=raw, official=official, results=results, official_ratio=official_ratio,
        other_ratio=not raw and ratio is not None and not official_ratio, ratio=_format_ratio(ratio),
        backbone=official.backbone if official is not None else backbone_name(config), repo_id=repo_id,
        revision=revision, revision_arg=f', revision="{revision}"' if revision != "main" else "",
        raw_swa_revision=raw_swa_revision, sweep_revision=revision if raw else raw_swa_revision, license=license,
        download_url=OFFICIAL_DOWNLOAD_URL, checksums=checksums,
    )  # fmt: skip


def _branch_head(api: HfApi, repo_id: str, branch: str) -> str | None:
    return {ref.name: ref.target_commit for ref in api.list_repo_refs(repo_id).branches}.get(branch)


def _commit_folder(api: HfApi, repo_id: str, folder: Path, revision: str, title: str, description: str) -> str:
    """One atomic commit making the owned files of `revision` equal to `folder`; creates the branch if needed."""
    head = _branch_head(api, repo_id, revision)
    created = head is None
    if created:
        # A new branch starts at the repository's first commit (.gitattributes only), not at main: if the commit
        # fails, the branch holds no model rather than another revision's weights.
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
        # Large files go up first (LFS / xet), then one request moves the branch; `parent_commit` makes it fail
        # instead of overwriting a commit made meanwhile by someone else.
        return api.create_commit(
            repo_id, operations=operations, commit_message=title, commit_description=description, revision=revision,
            parent_commit=head,
        ).oid  # fmt: skip
    except Exception as error:
        try:
            if created:
                api.delete_branch(repo_id, branch=revision)
            now = _branch_head(api, repo_id, revision)
        except Exception:  # noqa: BLE001 - the Hub is unreachable: say what is known
            state = f"The state of `{revision}` could not be checked (it pointed to {head[:12]} before the push)"
        else:
            if now is None:
                state = "Nothing was committed; the new branch was deleted again"
            elif created and now == head:
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
    """Publish a converted Open-VCLIP folder (`open-vclip convert ... --ratio 0.5 --out DIR`) to `repo_id`.

    Args:
        repo_id: `"org/name"`; created if missing (`private` only applies then).
        revision: branch receiving `model_dir` (default `main`); created from the repository's first commit if new.
        raw_swa_dir: the same checkpoint converted with `--ratio 0`, published on the branch `raw_swa_revision` with
            its own card, so that users can sweep the ratio.
        checkpoint: whose published numbers the cards quote, see [`resolve_checkpoint`].
        license: Hub license id for the card metadata (default `other`: the official code has no license file).
        token, api: credentials / client (default: `HfApi(token=token)`, i.e. `HF_TOKEN` or `hf auth login`).

    Each revision is one `create_commit` with `parent_commit` set, the raw SWA branch first: a failure leaves the
    branch where it was (a branch created for the push is deleted again) and raises `HubPushError`; running the same
    push again resumes. `ValueError` / `FileNotFoundError` for unusable inputs, before any upload.
    """
    revision = revision or "main"
    if raw_swa_dir is not None and raw_swa_revision == revision:
        raise ValueError(f"the raw SWA weights need their own branch, not {revision!r}")
    raw_revision = raw_swa_revision if raw_swa_dir is not None else None
    api = api if api is not None else HfApi(token=token)

    with tempfile.TemporaryDirectory(prefix="open-vclip-push-") as tmp:
        staged = {revision: stage_for_hub(model_dir, Path(tmp) / "patched")}
        configs = {revision: OpenVCLIPConfig.from_pretrained(staged[revision])}
        config = configs[revision]
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
            with torch.device("meta"):  # parameter names and shapes only, no memory
                main, raw = OpenVCLIPModel(config).state_dict(), OpenVCLIPModel(raw_config).state_dict()
            check_same_keys_and_shapes(raw, main, str(raw_swa_dir), "the model to push")
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


def _format_ratio(ratio: float | None) -> str:
    return "not recorded" if ratio is None else f"{ratio:g}"
