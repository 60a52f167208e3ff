"""Tests of open_vclip_hf.data: the one reader of CSVs, class folders and `datasets` datasets (training, evaluation
and the CLI read their videos through it)."""

import json
from pathlib import Path

import pytest

from open_vclip_hf.data import (
    DataError,
    VideoList,
    dataset_videos,
    find_videos,
    read_class_names,
    read_csv,
    read_dataset,
    read_folder,
    read_path_list,
)


def test_read_class_names_text_and_json_forms(tmp_path):
    (tmp_path / "a.txt").write_text("# Kinetics\nabseiling\n\nair drumming\n")
    (tmp_path / "b.json").write_text(json.dumps({"1": "air drumming", "0": "abseiling"}))
    (tmp_path / "c.json").write_text(json.dumps({"air drumming": 1, "abseiling": 0}))
    (tmp_path / "d.json").write_text(json.dumps(["abseiling", "air drumming"]))
    (tmp_path / "bom.txt").write_text("abseiling\r\nair drumming\r\n", encoding="utf-8-sig")  # Windows editors
    for name in ("a.txt", "b.json", "c.json", "d.json", "bom.txt"):
        assert read_class_names(tmp_path / name) == ["abseiling", "air drumming"]
    (tmp_path / "dup.txt").write_text("a\nb\na\n")
    with pytest.raises(DataError, match="duplicate"):
        read_class_names(tmp_path / "dup.txt")
    (tmp_path / "gap.json").write_text(json.dumps({"0": "a", "2": "b"}))
    with pytest.raises(DataError, match="indices"):
        read_class_names(tmp_path / "gap.json")


def test_csv_with_class_names_takes_names_or_indices(tmp_path):
    names = ["archery", "playing guitar"]
    (tmp_path / "train.csv").write_text('path,label\nclips/a.mp4,playing guitar\n/abs/b.mp4,0\n"c,d.mp4",1\n')
    videos = read_csv(tmp_path / "train.csv", names)
    assert videos.videos == [str(tmp_path / "clips/a.mp4"), "/abs/b.mp4", str(tmp_path / "c,d.mp4")]
    assert videos.labels == [1, 0, 1] and videos.class_names == names
    (tmp_path / "slowfast.csv").write_text("x/a.mp4 1\nx/b.mp4 0\n")  # PySlowFast's space-separated lists
    videos = read_csv(tmp_path / "slowfast.csv", names, root="/data")
    assert videos.videos == ["/data/x/a.mp4", "/data/x/b.mp4"] and videos.labels == [1, 0]
    (tmp_path / "bad.csv").write_text("a.mp4,archery\nb.mp4,cooking\n")
    with pytest.raises(DataError, match=r"bad.csv:2.*'cooking'"):
        read_csv(tmp_path / "bad.csv", names)
    (tmp_path / "range.csv").write_text("a.mp4,2\n")
    with pytest.raises(DataError, match="neither a class name nor a class index"):
        read_csv(tmp_path / "range.csv", names)


def test_csv_without_class_names_takes_the_sorted_labels(tmp_path):
    (tmp_path / "clips").mkdir()
    csv_path = tmp_path / "clips" / "test.csv"
    csv_path.write_text("path,label\na.mp4,playing guitar\nsub/b.mp4,archery\nc.mp4,playing guitar\n")
    videos = read_csv(csv_path)
    assert videos.class_names == ["archery", "playing guitar"] and videos.labels == [1, 0, 1]
    assert videos.videos == [str(tmp_path / "clips" / p) for p in ("a.mp4", "sub/b.mp4", "c.mp4")]
    assert read_csv(csv_path, root="/data").videos[0] == "/data/a.mp4"
    # A header with other names is not a video of class "category"; class indices are refused (prompts need names).
    csv_path.write_text("filename,category\na.mp4,playing guitar\nsub/b.mp4,archery\n")
    assert read_csv(csv_path).class_names == ["archery", "playing guitar"]
    csv_path.write_text("clip,activity\na.mp4,playing guitar\nsub/b.mp4,archery\n")
    assert len(read_csv(csv_path)) == 2
    # Columns picked by their names: in another order, or among others (`datasets`' metadata.csv allows them).
    for text in ("label,path\narchery,a.mp4\n", "file_name,split,label\na.mp4,test,archery\n"):
        csv_path.write_text(text)
        assert read_csv(csv_path).videos == [str(tmp_path / "clips" / "a.mp4")]
        assert read_csv(csv_path).class_names == ["archery"]
    csv_path.write_text("a.mp4,archery\n", encoding="utf-8-sig")
    assert read_csv(csv_path).videos == [str(tmp_path / "clips" / "a.mp4")]
    csv_path.write_text("a.mp4,0\nb.mp4,1\n")
    with pytest.raises(DataError, match="labels are numbers"):
        read_csv(csv_path)
    csv_path.write_text("a.mp4,archery\nb.mp4\n")  # a row without its label is named as such
    with pytest.raises(DataError, match=r"test.csv:2: expected 'path,label', got 'b.mp4', ''"):
        read_csv(csv_path)
    csv_path.write_bytes("a.mp4,caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        read_csv(csv_path)


def test_class_folders_split_folders_metadata_csv_and_datasets_agree(tmp_path, painted_mp4):
    import datasets

    root = tmp_path / "videos"
    for class_folder in ("playing_guitar", "archery"):
        (root / class_folder / "deeper").mkdir(parents=True)
        for index in range(2):
            (root / class_folder / f"{index}.mp4").write_bytes(Path(painted_mp4).read_bytes())
    (root / "archery" / "deeper" / "2.webm").write_bytes(b"not decoded here")
    (root / "archery" / "notes.txt").write_text("not a video")

    videos = read_folder(root)
    assert videos.class_names == ["archery", "playing guitar"]
    assert videos.videos == [str(root / p) for p in ("archery/0.mp4", "archery/1.mp4", "archery/deeper/2.webm",
                                                      "playing_guitar/0.mp4", "playing_guitar/1.mp4")]  # fmt: skip
    assert videos.labels == [0, 0, 0, 1, 1]
    (root / "archery" / "deeper" / "2.webm").unlink()
    videos = read_folder(root)
    dataset = datasets.load_dataset("videofolder", data_dir=str(root), split="train", cache_dir=str(tmp_path / "c"))
    from_dataset = read_dataset(dataset)
    assert from_dataset.class_names == videos.class_names
    assert sorted(zip(from_dataset.videos, from_dataset.labels)) == sorted(zip(videos.videos, videos.labels))

    # videofolder's other layouts: <split>/<class>/<video> and metadata.csv
    split_root = tmp_path / "splits"
    (split_root / "train").mkdir(parents=True)
    root.rename(split_root / "test")
    in_split = read_folder(split_root)
    assert in_split.name == "test" and in_split.class_names == videos.class_names and len(in_split) == 4
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "metadata.csv").write_text("file_name,label\nx.mp4,ice skating\ny.mp4,archery\n")
    listed = read_folder(flat)
    assert listed.videos == [str(flat / "x.mp4"), str(flat / "y.mp4")] and listed.labels == [1, 0]

    # Two folders naming one class would split it: refused.
    other = split_root / "test"
    (other / "playing guitar").mkdir()
    (other / "playing guitar" / "0.mp4").write_bytes(Path(painted_mp4).read_bytes())
    with pytest.raises(DataError, match=r"duplicate class names \['playing guitar'\]"):
        read_folder(other)
    with pytest.raises(DataError, match="no videos"):
        read_folder(tmp_path / "splits" / "train")


def test_limit_takes_evenly_spaced_videos():
    videos = VideoList([f"v{i}" for i in range(10)], [i % 3 for i in range(10)], ["a", "b", "c"], "1")
    small = videos.subset(4)
    assert small.videos == ["v0", "v2", "v5", "v7"] and small.labels == [0, 2, 2, 1]
    assert videos.subset(20) is videos
    with pytest.raises(DataError, match="outside 0..1"):
        VideoList(["a"], [2], ["x", "y"])


def test_find_videos_path_lists_and_unlabelled_datasets(tmp_path):
    import datasets

    for relative in ("b.mp4", "a/c.MKV", "a/deep/d.webm", "a/notes.txt", "e.mp4.part"):
        (tmp_path / "videos" / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "videos" / relative).write_bytes(b"x")
    expected = [str(tmp_path / "videos" / p) for p in ("a/c.MKV", "a/deep/d.webm", "b.mp4")]
    assert find_videos(tmp_path / "videos") == expected

    listing = tmp_path / "list.txt"
    listing.write_text("path\n# a comment\nclips/a b.mp4\n\n/abs/c.mp4\nhttps://example.com/d.mp4\n")
    assert read_path_list(listing) == [str(tmp_path / "clips/a b.mp4"), "/abs/c.mp4", "https://example.com/d.mp4"]
    listing.write_text("# nothing\n")
    with pytest.raises(DataError, match="list.txt: no videos listed"):
        read_path_list(listing)

    dataset = datasets.Dataset.from_dict({"clip": expected[:1]}).cast_column("clip", datasets.Video())
    assert dataset_videos(dataset, "clip") == expected[:1]
    assert dataset_videos(datasets.Dataset.from_dict({"video": [b"\x00\x01"]})) == [b"\x00\x01"]
    with pytest.raises(DataError, match="no column 'video'"):
        dataset_videos(dataset)
    with pytest.raises(DataError, match="no column 'label'"):
        read_dataset(dataset, video_column="clip")


def test_saved_dataset_gives_its_own_bytes_not_a_same_named_file_in_the_working_directory(tmp_path, monkeypatch):
    import datasets

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "clip.mp4").write_bytes(b"the dataset's video")
    dataset = datasets.Dataset.from_dict({"video": [str(tmp_path / "data" / "clip.mp4")]})
    dataset.cast_column("video", datasets.Video()).save_to_disk(tmp_path / "saved")  # embeds the bytes
    (tmp_path / "cwd").mkdir()
    (tmp_path / "cwd" / "clip.mp4").write_bytes(b"another video")
    monkeypatch.chdir(tmp_path / "cwd")
    assert dataset_videos(datasets.load_from_disk(tmp_path / "saved")) == [b"the dataset's video"]
