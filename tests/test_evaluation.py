# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""`open-vclip evaluate`: official split files, class-name rules, top-k metric, runner, reports, patch sweep.

Fake data sets are written here in the official layouts (split files typed out by hand, videos encoded with PyAV);
expectations are hand-written lists and hand-computed accuracies over the logits the runner returns.
"""

import hashlib
import json
import re

import numpy as np
import pytest
import torch
from conftest import accelerate_launch, encode_painted_video

from open_vclip_hf import OpenVCLIPModel, OpenVCLIPProcessor, ZeroShotVideoClassificationPipeline
from open_vclip_hf.cli import main
from open_vclip_hf.data import DataError, VideoList
from open_vclip_hf.demo import random_demo_model
from open_vclip_hf.evaluation import (
    TOPK_ACCURACY_PATH,
    evaluate_protocol,
    evaluate_splits,
    hmdb51_class_name,
    kinetics_class_names,
    load_topk_accuracy,
    make_runs,
    markdown_report,
    read_hmdb51,
    read_k400,
    read_k600,
    read_protocol,
    read_ucf101,
    summarize,
    ucf101_class_name,
)
from open_vclip_hf.evaluation.protocols import DATA_DIR
from open_vclip_hf.evaluation.runner import VideoClipsDataset, collate_clips

# ------------------------------------------------------------------------------------------ a fake UCF101 tree

# classInd.txt of the fake tree; videos exist for four of the seven classes, so top-5 is not trivially 100 %.
UCF_CLASSES = ["ApplyEyeMakeup", "BoxingPunchingBag", "HandstandPushups", "PlayingDaf", "SkyDiving", "TaiChi", "YoYo"]
UCF_NAMES = [
    "Apply Eye Makeup",
    "Boxing Punching Bag",
    "Handstand Pushups",
    "Playing Daf",
    "Sky Diving",
    "Tai Chi",
    "Yoyo",
]
UCF_VIDEOS = {  # relative path -> number of frames (different lengths give different sampled frames)
    "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi": 30,
    "ApplyEyeMakeup/v_ApplyEyeMakeup_g02_c01.avi": 55,
    "HandstandPushups/v_HandStandPushups_g01_c01.avi": 80,
    "HandstandPushups/v_HandStandPushups_g02_c01.avi": 41,
    "TaiChi/v_TaiChi_g01_c01.avi": 64,
    "TaiChi/v_TaiChi_g02_c01.avi": 23,
    "YoYo/v_YoYo_g01_c01.avi": 47,
    "YoYo/v_YoYo_g02_c01.avi": 90,
}
BROKEN = "YoYo/v_YoYo_g03_c01.avi"  # garbage bytes
MISSING = "ApplyEyeMakeup/v_ApplyEyeMakeup_g09_c01.avi"  # listed, not on disk
TESTLISTS = {
    "1": [
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi",
        "HandstandPushups/v_HandStandPushups_g01_c01.avi",
        "TaiChi/v_TaiChi_g01_c01.avi",
        BROKEN,
        "YoYo/v_YoYo_g01_c01.avi",
    ],
    "2": [
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g02_c01.avi",
        MISSING,
        "HandstandPushups/v_HandStandPushups_g02_c01.avi",
        "TaiChi/v_TaiChi_g02_c01.avi",
        "YoYo/v_YoYo_g02_c01.avi",
    ],
    "3": [
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g02_c01.avi",
        "HandstandPushups/v_HandStandPushups_g01_c01.avi",
        "YoYo/v_YoYo_g02_c01.avi",
    ],
}
# Labels written out by hand: the classInd.txt number minus one.
EXPECTED_UCF_LABELS = {"1": [0, 2, 5, 6, 6], "2": [0, 0, 2, 5, 6], "3": [0, 2, 6]}


@pytest.fixture(scope="module")
def ucf_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("ucf")
    lists = root / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_text("".join(f"{i} {name}\r\n" for i, name in enumerate(UCF_CLASSES, start=1)))
    for split, lines in TESTLISTS.items():
        (lists / f"testlist0{split}.txt").write_text("\r\n".join(lines) + "\r\n")  # the official files use CRLF
    (lists / "trainlist01.txt").write_text(
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g02_c01.avi 1\nTaiChi/v_TaiChi_g02_c01.avi 6\n"
    )
    videos = root / "UCF-101"
    for relative, num_frames in UCF_VIDEOS.items():
        (videos / relative).parent.mkdir(parents=True, exist_ok=True)
        encode_painted_video(videos / relative, num_frames, fps=25, codec="mpeg4")
    (videos / BROKEN).write_bytes(b"this is not a video file " * 40)
    return root


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    """A small random Open-VCLIP (with its processor) and a second random model of the same shape as θ_CLIP."""
    root = tmp_path_factory.mktemp("models")
    random_demo_model(seed=0).save_pretrained(root / "model")
    OpenVCLIPProcessor().save_pretrained(root / "model")
    random_demo_model(seed=1).save_pretrained(root / "anchor")
    return root / "model", root / "anchor"


# ------------------------------------------------------------------------------------------ class-name rules


@pytest.mark.parametrize(
    "folder, name",
    [
        ("ApplyEyeMakeup", "Apply Eye Makeup"),
        ("YoYo", "Yoyo"),
        ("HandstandPushups", "Handstand Pushups"),
        ("PlayingDaf", "Playing Daf"),
        ("TaiChi", "Tai Chi"),
        ("Skijet", "Skijet"),
        ("BoxingPunchingBag", "Boxing Punching Bag"),
        ("CleanAndJerk", "Clean And Jerk"),
    ],
)
def test_ucf101_class_name_rule(folder, name):
    assert ucf101_class_name(folder) == name


@pytest.mark.parametrize(
    "folder, name",
    [("climb_stairs", "climb stairs"), ("brush_hair", "brush hair"), ("flic_flac", "flic flac"), ("kiss", "kiss")],
)
def test_hmdb51_class_name_rule(folder, name):
    assert hmdb51_class_name(folder) == name


# ------------------------------------------------------------------------------------------ split readers


def test_ucf101_splits_follow_the_official_lists(ucf_tree):
    data_root = ucf_tree / "UCF-101"
    for split, lines in TESTLISTS.items():
        result = read_ucf101(data_root, split)  # split files found in ../ucfTrainTestlist
        assert result.videos == [str(data_root / line) for line in lines]
        assert result.labels == EXPECTED_UCF_LABELS[split]
        assert result.class_names == UCF_NAMES
    full = read_ucf101(data_root, "full", split_file=ucf_tree / "ucfTrainTestlist" / "classInd.txt")
    assert full.videos[-2:] == [
        str(data_root / "ApplyEyeMakeup/v_ApplyEyeMakeup_g02_c01.avi"),
        str(data_root / "TaiChi/v_TaiChi_g02_c01.avi"),
    ]
    assert full.labels == EXPECTED_UCF_LABELS["1"] + [0, 5]
    assert [s.name for s in read_protocol("ucf101", data_root, "all")] == ["1", "2", "3"]


def test_ucf101_unknown_class_and_missing_files_are_errors(tmp_path):
    (tmp_path / "classInd.txt").write_text("1 Archery\n")
    (tmp_path / "testlist01.txt").write_text("Bowling/v_Bowling_g01_c01.avi\n")
    with pytest.raises(DataError, match="Bowling"):
        read_ucf101(tmp_path, "1")
    with pytest.raises(DataError, match="testlist02"):
        read_ucf101(tmp_path, "2")
    with pytest.raises(ValueError, match="splits 1, 2, 3, full"):
        read_ucf101(tmp_path, "4")
    with pytest.raises(DataError, match="classInd"):
        read_ucf101(tmp_path / "nowhere", "1")


def test_hmdb51_split_ids_and_class_order(tmp_path):
    splits = tmp_path / "testTrainMulti_7030_splits"
    splits.mkdir()
    # id 1 = train, 2 = test, 0 = unused; trailing spaces and names starting with `#` as in the official files.
    contents = {
        "climb_stairs": {
            "1": "cs_a.avi 2 \ncs_b.avi 1 \ncs_c.avi 0 \n",
            "2": "cs_a.avi 1 \ncs_b.avi 2 \ncs_c.avi 2 \n",
        },
        "brush_hair": {"1": "bh_a.avi 1 \nbh_b.avi 2 \n", "2": "bh_a.avi 2 \nbh_b.avi 0 \n"},
        "climb": {"1": "#20_c_a.avi 2 \nc_b.avi 2 \n", "2": "#20_c_a.avi 0 \nc_b.avi 1 \n"},
    }
    for folder, by_split in contents.items():
        for split, text in by_split.items():
            (splits / f"{folder}_test_split{split}.txt").write_text(text)
    names = ["brush hair", "climb", "climb stairs"]

    one = read_hmdb51(tmp_path, "1")
    assert one.class_names == names
    assert one.videos == [
        str(tmp_path / p)
        for p in ("brush_hair/bh_b.avi", "climb/#20_c_a.avi", "climb/c_b.avi", "climb_stairs/cs_a.avi")
    ]
    assert one.labels == [0, 1, 1, 2]
    two = read_hmdb51(tmp_path, "2")
    assert two.videos == [
        str(tmp_path / p) for p in ("brush_hair/bh_a.avi", "climb_stairs/cs_b.avi", "climb_stairs/cs_c.avi")
    ]
    assert two.labels == [0, 2, 2]
    full = read_hmdb51(tmp_path, "full")  # ids 1 and 2 of split 1
    assert [v.removeprefix(str(tmp_path) + "/") for v in full.videos] == [
        "brush_hair/bh_a.avi",
        "brush_hair/bh_b.avi",
        "climb/#20_c_a.avi",
        "climb/c_b.avi",
        "climb_stairs/cs_a.avi",
        "climb_stairs/cs_b.avi",
    ]
    (splits / "climb_test_split3.txt").write_text("#20_c_a.avi 7\n")
    with pytest.raises(DataError, match="expected '<video> <0|1|2>'"):
        read_hmdb51(tmp_path, "3")


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_shipped_kinetics_class_lists():
    splits = [kinetics_class_names("k600", s) for s in ("1", "2", "3")]
    k400 = kinetics_class_names("k400")
    assert [len(names) for names in splits] == [160, 160, 160] and len(k400) == 400
    # Spot checks typed from the official zs_label_db/k600_splitN/k600-openset-index2cls.json.
    assert splits[0][:5] == [
        "acting in play",
        "adjusting glasses",
        "arguing",
        "attending conference",
        "backflip (human)",
    ]
    assert splits[1][:2] == ["acting in play", "arguing"]
    assert splits[2][:2] == ["adjusting glasses", "alligator wrestling"]
    assert (k400[0], k400[-1]) == ("abseiling", "zumba")
    for names in [*splits, k400]:
        assert names == sorted(names) and len(set(names)) == len(names)
    for names in splits:
        assert not set(names) & set(k400)  # new classes only
    assert len(set().union(*splits)) == 217
    # The files are the ones whose sources and hashes SOURCES.md records.
    sources = (DATA_DIR / "SOURCES.md").read_text()
    for split in ("1", "2", "3"):
        path = DATA_DIR / f"k600_split{split}_classes.txt"
        assert re.search(rf"`{path.name}` \| [^|]+ \| 160 \| `{_sha256(path)}`", sources)


def test_k600_class_folders_annotation_csv_and_indexed_csv(tmp_path):
    val = tmp_path / "val"
    for folder, video in [("acting_in_play", "a.mp4"), ("backflip (human)", "b.mp4"), ("abseiling", "c.mp4")]:
        (val / folder).mkdir(parents=True)
        (val / folder / video).write_bytes(b"x")
    folders = read_k600(tmp_path, "1")
    assert folders.videos == [str(val / "acting_in_play/a.mp4"), str(val / "backflip (human)/b.mp4")]  # abseiling: K400
    assert folders.labels == [0, 4]
    assert any(note.startswith("158 of 160 classes have no video") for note in folders.notes)

    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "AbC_000010_000020.mp4").write_bytes(b"x")
    annotations = tmp_path / "validate.csv"
    annotations.write_text(
        "label,youtube_id,time_start,time_end,split\n"
        "acting in play,AbC,10,20,validate\n"
        "abseiling,XyZ,0,10,validate\n"
        "arguing,Gone,5,15,validate\n"
    )
    csv_split = read_k600(tmp_path, "1", split_file=annotations)
    assert csv_split.videos == [str(tmp_path / "flat/AbC_000010_000020.mp4"), str(tmp_path / "Gone_000005_000015.mp4")]
    assert csv_split.labels == [0, 2]  # the missing video stays listed (the runner reports it)
    assert any("not in this split" in note for note in csv_split.notes)

    indexed = tmp_path / "test.csv"
    indexed.write_text("val/acting_in_play/a.mp4,0\nval/backflip (human)/b.mp4,4\n")
    assert read_k600(tmp_path, "1", split_file=indexed).labels == [0, 4]
    with pytest.raises(ValueError, match="belongs to one split"):
        read_protocol("k600", tmp_path, "all", indexed)


def test_k400_annotation_csv(tmp_path):
    folder = tmp_path / "val" / "passing_American_football_(in_game)"
    folder.mkdir(parents=True)
    (folder / "q1_000001_000011.mp4").write_bytes(b"x")
    annotations = tmp_path / "validate.csv"
    annotations.write_text(  # saved with a BOM, as spreadsheet programs do
        "label,youtube_id,time_start,time_end,split\npassing American football (in game),q1,1,11,validate\n",
        encoding="utf-8-sig",
    )
    split = read_k400(tmp_path, annotations)
    assert split.videos == [str(folder / "q1_000001_000011.mp4")]
    assert split.class_names[split.labels[0]] == "passing American football (in game)"
    annotations.write_text("label,youtube_id,time_start,time_end,split\nflying a kite,q2,0,10,validate\n")
    with pytest.raises(DataError, match="flying a kite"):
        read_k400(tmp_path, annotations)


def test_topk_metric_module_by_hand():
    metric = load_topk_accuracy()
    scores = [[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.9, 0.05, 0.05]]
    # reference ranks: 0 (correct), 2, 2, 0 -> top-1 2/4, top-2 2/4, top-3 4/4
    result = metric.compute(predictions=scores, references=[1, 2, 0, 0], k=[1, 2, 3])
    assert result == {"top1": 0.5, "top2": 0.5, "top3": 1.0, "num_samples": 4}
    with pytest.raises(ValueError, match="one row of class scores per reference"):
        metric._compute(predictions=[], references=[], k=[1])  # evaluate itself checks counts and formats
    assert (TOPK_ACCURACY_PATH / "topk_accuracy.py").is_file()


def test_dataset_returns_failures_instead_of_raising(ucf_tree):
    videos = [
        str(ucf_tree / "UCF-101" / BROKEN),
        str(ucf_tree / "UCF-101" / MISSING),
        str(ucf_tree / "UCF-101" / TESTLISTS["3"][0]),
    ]
    dataset = VideoClipsDataset(videos, OpenVCLIPProcessor(), num_frames=2, sampling="dense", num_clips=3)
    batch = collate_clips([dataset[i] for i in range(3)])
    assert batch["indices"] == [2]
    assert batch["pixel_values"].shape == (1, 3, 2, 3, 224, 224)
    assert [index for index, _ in batch["failures"]] == [0, 1]
    assert batch["failures"][0][1].startswith("VideoDecodingError")
    assert batch["failures"][1][1].startswith("FileNotFoundError")


# ------------------------------------------------------------------------------------------ end to end


@pytest.fixture(scope="module")
def ucf_evaluation(ucf_tree, model_dirs, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    summary, paths, result = evaluate_protocol(
        str(model_dirs[0]),
        "ucf101",
        data_root=ucf_tree / "UCF-101",
        out_dir=out,
        batch_size=2,
        num_workers=2,
        progress=False,
    )
    return summary, paths, result


def _manual_topk(logits, labels, k):
    ranked = np.argsort(-logits, axis=1)[:, :k]
    return 100.0 * np.mean([label in row for row, label in zip(ranked, labels)])


def test_accuracy_is_topk_over_the_returned_logits(ucf_evaluation, ucf_tree):
    summary, _, result = ucf_evaluation
    run = summary["runs"][0]
    per_split = {"1": {}, "2": {}, "3": {}}
    for split_result in result.splits:
        name = split_result.split.name
        decoded = [i for i, line in enumerate(TESTLISTS[name]) if line not in (BROKEN, MISSING)]
        assert split_result.evaluated == decoded
        labels = [EXPECTED_UCF_LABELS[name][i] for i in decoded]
        logits = split_result.logits["open-vclip"]
        assert logits.shape == (len(decoded), len(UCF_CLASSES))
        for k in (1, 5):
            per_split[name][k] = _manual_topk(logits, labels, k)
            assert run["splits"][name][f"top{k}"] == pytest.approx(per_split[name][k])
            assert run["splits"][name][f"top{k}_failures_as_wrong"] == pytest.approx(
                per_split[name][k] * len(decoded) / len(TESTLISTS[name])
            )
    for k in (1, 5):
        values = [per_split[s][k] for s in ("1", "2", "3")]
        assert run["mean"][f"top{k}"] == pytest.approx(np.mean(values))
        assert run["std"][f"top{k}"] == pytest.approx(np.sqrt(np.mean((np.array(values) - np.mean(values)) ** 2)))


def test_logits_match_the_pipeline_on_the_same_video(ucf_evaluation, ucf_tree, model_dirs):
    _, _, result = ucf_evaluation
    split_result = result.splits[2]
    video = split_result.split.videos[split_result.evaluated[1]]
    model = OpenVCLIPModel.from_pretrained(model_dirs[0]).eval()
    classifier = ZeroShotVideoClassificationPipeline(model=model, processor=OpenVCLIPProcessor())
    ranked = classifier(video, candidate_labels=UCF_NAMES, num_clips=3, sampling="dense")
    scores = {item["label"]: item["score"] for item in ranked}
    expected = torch.from_numpy(split_result.logits["open-vclip"][1]).softmax(dim=-1)
    assert [scores[name] for name in UCF_NAMES] == pytest.approx(expected.tolist(), abs=1e-5)


def test_json_report_schema_and_failures(ucf_evaluation, ucf_tree):
    summary, paths, _ = ucf_evaluation
    written = json.loads(paths["json"].read_text())
    assert written == json.loads(json.dumps(summary))
    assert written["format"] == "open-vclip-evaluation/1" and written["protocol"] == "ucf101"
    assert set(written) >= {
        "model",
        "clip_anchor",
        "created",
        "versions",
        "settings",
        "std_definition",
        "splits",
        "runs",
        "warnings",
    }
    settings = written["settings"]
    assert (settings["num_frames"], settings["sampling"], settings["num_clips"], settings["frame_stride"]) == (
        8,
        "dense",
        3,
        16,
    )
    assert (settings["target_fps"], settings["spatial_crops"], settings["num_templates"]) == (30, 1, 28)
    assert [s["name"] for s in written["splits"]] == ["1", "2", "3"]
    assert [s["num_videos"] for s in written["splits"]] == [5, 5, 3]
    assert [s["num_evaluated"] for s in written["splits"]] == [4, 4, 3]
    assert [s["num_failed"] for s in written["splits"]] == [1, 1, 0]
    root = ucf_tree / "UCF-101"
    assert [f["video"] for f in written["splits"][0]["failed"]] == [str(root / BROKEN)]
    assert written["splits"][0]["failed"][0]["error"].startswith("VideoDecodingError")
    assert [f["video"] for f in written["splits"][1]["failed"]] == [str(root / MISSING)]
    assert written["splits"][1]["failed"][0]["error"].startswith("FileNotFoundError")
    for split in written["splits"]:
        assert set(split) >= {"source", "num_classes", "seconds", "videos_per_second", "notes"}
    [run] = written["runs"]
    assert (run["name"], run["patch_ratio"], run["temporal_attention"]) == ("open-vclip", None, "neighbor")
    for entry in run["splits"].values():
        assert set(entry) == {"num_evaluated", "top1", "top5", "top1_failures_as_wrong", "top5_failures_as_wrong"}
        assert all(0.0 <= entry[key] <= 100.0 for key in entry if key.startswith("top"))
    assert set(run["mean"]) == set(run["std"]) == {"top1", "top5"}
    markdown = paths["markdown"].read_text()
    assert "| open-vclip | as loaded | neighbor |" in markdown
    assert "## Videos that could not be decoded (2)" in markdown
    assert str(root / BROKEN) in markdown and str(root / MISSING) in markdown


def _interpolated_by_hand(model_dir, anchor_dir, ratio):
    model = OpenVCLIPModel.from_pretrained(model_dir).eval()
    anchor = OpenVCLIPModel.from_pretrained(anchor_dir).state_dict()
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.copy_(ratio * anchor[name] + (1 - ratio) * param)
    return model


def test_patch_sweep_and_frame_wise_runs_match_separately_built_models(ucf_tree, model_dirs):
    model_dir, anchor_dir = model_dirs
    [split] = read_protocol("ucf101", ucf_tree / "UCF-101", "3")
    model = OpenVCLIPModel.from_pretrained(model_dir).eval()
    before = {key: value.clone() for key, value in model.state_dict().items()}
    anchor = OpenVCLIPModel.from_pretrained(anchor_dir).state_dict()
    processor = OpenVCLIPProcessor()
    options = dict(num_workers=0, progress=False)
    sweep = evaluate_splits(
        model, processor, [split], runs=make_runs([0.0, 0.5], frame_wise=True), clip_anchor=anchor, **options
    )
    assert [run.name for run in sweep.runs] == ["r=0", "r=0 frame-wise", "r=0.5", "r=0.5 frame-wise"]
    logits = sweep.splits[0].logits

    # The model is left as it was: weights bit for bit, temporal attention on.
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())
    assert model.config.temporal_attention == "neighbor" and model.config.vision_config.temporal_attention == "neighbor"

    def reference(other):
        return evaluate_splits(other, processor, [split], **options).splits[0].logits["open-vclip"]

    half = _interpolated_by_hand(model_dir, anchor_dir, 0.5)  # text and vision towers both move with r
    np.testing.assert_allclose(logits["r=0.5"], reference(half), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(logits["r=0"], reference(model), rtol=1e-5, atol=1e-5)
    frame_wise = OpenVCLIPModel.from_pretrained(model_dir, temporal_attention="none").eval()
    np.testing.assert_allclose(logits["r=0 frame-wise"], reference(frame_wise), rtol=1e-5, atol=1e-5)
    assert not np.allclose(logits["r=0"], logits["r=0 frame-wise"])  # the attention switch did something
    assert not np.allclose(logits["r=0"], logits["r=0.5"])


def test_a_sweep_builds_class_embeddings_once_and_swaps_once_per_ratio(ucf_tree, model_dirs, monkeypatch):
    """With θ_CLIP's text tower (Open-VCLIP fine-tunes only the vision tower) the class embeddings do not depend on
    the ratio: one text pass per split for the whole sweep, and one weight swap per ratio and batch."""
    from open_vclip_hf.evaluation import runner

    model_dir, anchor_dir = model_dirs
    [split] = read_protocol("ucf101", ucf_tree / "UCF-101", "3")
    model = OpenVCLIPModel.from_pretrained(model_dir).eval()
    vision = OpenVCLIPModel.from_pretrained(anchor_dir).state_dict()
    anchor = {
        key: vision[key] if key.startswith("vision_model.") else value for key, value in model.state_dict().items()
    }
    calls = {"text": 0, "swap": 0}

    def counted(name, function):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(runner, "build_class_embeddings", counted("text", runner.build_class_embeddings))
    monkeypatch.setattr(runner, "interpolated_parameters", counted("swap", runner.interpolated_parameters))
    runs = make_runs([0.0, 0.5, 1.0], frame_wise=True)
    result = evaluate_splits(model, OpenVCLIPProcessor(), [split], runs=runs, clip_anchor=anchor, batch_size=1,
                             num_workers=0, progress=False).splits[0]  # fmt: skip
    assert calls == {"text": 1, "swap": 3 * len(result.evaluated)}
    assert not np.allclose(result.logits["r=0"], result.logits["r=1"])  # the vision tower did move


# The evaluation as `accelerate launch` runs it: every process writes the split results it received.
ACCELERATE_WRAPPER = """
import sys
import numpy as np
from accelerate import PartialState
from open_vclip_hf.evaluation import evaluate_protocol

model, data_root, out = sys.argv[1:]
_, _, result = evaluate_protocol(model, "ucf101", data_root=data_root, out_dir=out, batch_size=2, progress=False)
PartialState().wait_for_everyone()  # the main process has written the report into `out`
arrays = {}
for split in result.splits:
    arrays[f"{split.split.name}/evaluated"] = np.asarray(split.evaluated)
    arrays[f"{split.split.name}/logits"] = split.logits["open-vclip"]
np.savez(f"{out}/process{PartialState().process_index}.npz", **arrays)
"""


VOLATILE = {"created", "seconds", "videos_per_second", "num_processes"}


def without_volatile(value):
    """A report without its timings and process count."""
    if isinstance(value, dict):
        return {key: without_volatile(item) for key, item in value.items() if key not in VOLATILE}
    return [without_volatile(item) for item in value] if isinstance(value, list) else value


def test_two_processes_give_the_single_process_report(ucf_evaluation, ucf_tree, model_dirs, tmp_path):
    """`accelerate launch --num_processes 2`: each process decodes its half of every split (split 1's broken video
    lies in the second half, split 2's missing one in the first), both receive all view-summed logits in list order,
    and the main process writes the report the single-process run wrote."""
    summary, _, result = ucf_evaluation
    (tmp_path / "wrapper.py").write_text(ACCELERATE_WRAPPER)
    out = tmp_path / "report"
    accelerate_launch(2, tmp_path / "wrapper.py", model_dirs[0], ucf_tree / "UCF-101", out)
    report = json.loads((out / "ucf101.json").read_text())
    assert report["settings"]["num_processes"] == 2 and summary["settings"]["num_processes"] == 1
    assert without_volatile(report) == without_volatile(json.loads(json.dumps(summary)))
    for process in (0, 1):
        arrays = np.load(out / f"process{process}.npz")
        for split in result.splits:
            assert arrays[f"{split.split.name}/evaluated"].tolist() == split.evaluated
            np.testing.assert_allclose(arrays[f"{split.split.name}/logits"], split.logits["open-vclip"], atol=1e-4)


def test_cli_patch_sweep_writes_one_row_per_ratio_and_a_png(ucf_tree, model_dirs, tmp_path, capsys):
    out = tmp_path / "sweep"
    out.mkdir()
    (tmp_path / "precious.txt").write_text("mine")  # symlinks in --out are replaced, not written through
    for name in ("ucf101.md", "ucf101_patch_sweep.png"):
        (out / name).symlink_to(tmp_path / "precious.txt")
    code = main(
        [
            "evaluate",
            "--model",
            str(model_dirs[0]),
            "--protocol",
            "ucf101",
            "--data-root",
            str(ucf_tree / "UCF-101"),
            "--split",
            "3",
            "--limit",
            "2",
            "--patch-sweep",
            "0,0.5,1",
            "--clip-anchor",
            str(model_dirs[1]),
            "--out",
            str(out),
            "--num-workers",
            "0",
        ]
    )
    assert code == 0
    summary = json.loads((out / "ucf101.json").read_text())
    assert [run["patch_ratio"] for run in summary["runs"]] == [0.0, 0.5, 1.0]
    assert summary["settings"]["limit"] == 2 and summary["splits"][0]["num_videos"] == 2
    markdown = (out / "ucf101.md").read_text()
    rows = [line for line in markdown.splitlines() if line.startswith("| r=")]
    assert [row.split(" | ")[0] for row in rows] == ["| r=0", "| r=0.5", "| r=1"]
    png = (out / "ucf101_patch_sweep.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
    assert (tmp_path / "precious.txt").read_text() == "mine" and not (out / "ucf101.md").is_symlink()
    assert sorted(path.name for path in out.iterdir()) == ["ucf101.json", "ucf101.md", "ucf101_patch_sweep.png"]
    assert "| r=0.5 |" in capsys.readouterr().out


def test_cli_user_errors_are_messages(ucf_tree, model_dirs, capsys):
    base = ["evaluate", "--model", str(model_dirs[0]), "--protocol", "ucf101", "--data-root", str(ucf_tree / "UCF-101")]
    assert main([*base, "--patch-sweep", "0,0.5"]) == 1
    assert "--clip-anchor" in capsys.readouterr().err
    assert main([*base, "--patch-sweep", "0,1.5", "--clip-anchor", str(model_dirs[1])]) == 1
    assert "[0, 1]" in capsys.readouterr().err
    assert main([*base, "--split", "7"]) == 1
    assert "splits 1, 2, 3, full" in capsys.readouterr().err


def test_a_split_listing_a_video_twice_says_so(ucf_tree, model_dirs, tmp_path, capsys):
    """Listed twice, a video counts twice in top-1 / top-5 (as in the official code, which evaluates its list): the
    report warns, naming the video."""
    video = ucf_tree / "UCF-101" / "TaiChi/v_TaiChi_g01_c01.avi"
    (tmp_path / "test.csv").write_text(f"{video},tai chi\n{ucf_tree / 'UCF-101' / BROKEN},yoyo\n{video},tai chi\n")
    command = ["evaluate", "--model", str(model_dirs[0]), "--protocol", "custom", "--out", str(tmp_path / "out")]
    assert main([*command, "--split-file", str(tmp_path / "test.csv"), "--num-workers", "0"]) == 0
    printed = capsys.readouterr().out
    assert "listed more than once, counted each time" in printed and f"{video}" in printed
    summary = json.loads((tmp_path / "out" / "custom.json").read_text())
    assert summary["runs"][0]["splits"]["test"]["num_evaluated"] == 2 and len(summary["warnings"]) == 1


def test_split_where_every_video_fails_reports_no_accuracy(ucf_tree):
    root = ucf_tree / "UCF-101"
    split = VideoList([str(root / BROKEN), str(root / MISSING)], [0, 1], ["a", "b"], "1")
    result = evaluate_splits(random_demo_model(), OpenVCLIPProcessor(), [split], num_workers=0, progress=False)
    summary = summarize(result, "custom", "random")
    entry = summary["runs"][0]["splits"]["1"]
    assert entry == {
        "num_evaluated": 0,
        "top1": None,
        "top5": None,
        "top1_failures_as_wrong": 0.0,
        "top5_failures_as_wrong": 0.0,
    }
    assert summary["runs"][0]["mean"] == {"top1": None, "top5": None}
    assert [item["video"] for item in summary["splits"][0]["failed"]] == [str(root / BROKEN), str(root / MISSING)]
    assert "| – / – |" in markdown_report(summary)


def test_markdown_keeps_pipes_in_paths_and_errors_inside_their_cell(tmp_path):
    video, source = str(tmp_path / "a|b.mp4"), str(tmp_path / "x|y.csv")  # missing: an error naming the path
    split = VideoList([video], [0], ["a"], "1", source)
    result = evaluate_splits(random_demo_model(), OpenVCLIPProcessor(), [split], num_workers=0, progress=False)
    markdown = markdown_report(summarize(result, "custom", "random"))
    row = next(line for line in markdown.splitlines() if "a\\|b.mp4" in line and line.startswith("| 1 |"))
    cells = re.split(r"(?<!\\)\|", row)[1:-1]  # pipes not escaped with a backslash separate the cells
    assert len(cells) == 3 and video.replace("|", "\\|") in cells[1] and video.replace("|", "\\|") in cells[2]
    assert "a/b.mp4" not in markdown and source.replace("|", "\\|") in markdown
