# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""The official zero-shot test sets (method doc section 5), one split as a [`VideoList`], class indices as in the
official `zs_label_db` files. Videos are not opened: one missing on disk stays listed and the runner reports it."""

import csv
import os
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from ..data import DataError, VideoList, find_videos, read_class_names, read_csv, read_folder, read_lines

PathLike = str | os.PathLike
DATA_DIR = Path(__file__).parent / "data"
# The 400 Kinetics names of the official label map, shared with the web demo's preset.
KINETICS400_CLASSES_FILE = Path(__file__).parent.parent / "assets" / "kinetics400_classes.txt"
PROTOCOLS = ("ucf101", "hmdb51", "k600", "k400", "custom")
# Splits of each protocol, in the order `--split all` evaluates them. `full` (UCF*, HMDB*) is asked for explicitly.
PROTOCOL_SPLITS = {
    "ucf101": ("1", "2", "3"), "hmdb51": ("1", "2", "3"), "k600": ("1", "2", "3"),
    "k400": ("val",), "custom": ("test",),
}  # fmt: skip
EXTRA_SPLITS = {"ucf101": ("full",), "hmdb51": ("full",)}
# Where the official archives put their split files, relative to the data root.
UCF101_SPLIT_DIRS = (".", "ucfTrainTestlist", "UCF101TrainTestSplits-RecognitionTask/ucfTrainTestlist", "splits")
HMDB51_SPLIT_DIRS = (".", "testTrainMulti_7030_splits", "splits")


def ucf101_class_name(folder: str) -> str:
    """`ApplyEyeMakeup` -> "Apply Eye Makeup", `YoYo` -> "Yoyo" (official `zs_label_db/ucf101_full/process.py`)."""
    name = " ".join(re.findall("[A-Z][^A-Z]*", folder))
    return "Yoyo" if name == "Yo Yo" else name


def hmdb51_class_name(folder: str) -> str:
    """`climb_stairs` -> "climb stairs", as the official `zs_label_db/hmdb_split1/process.py`."""
    return folder.replace("_", " ")


def kinetics_class_names(protocol: str, split: str = "1") -> list[str]:
    """The shipped official class list of `"k400"` or of `"k600"` split `"1"`, `"2"`, `"3"` (see `data/SOURCES.md`)."""
    if protocol == "k400":
        return read_class_names(KINETICS400_CLASSES_FILE)
    if protocol == "k600" and split in PROTOCOL_SPLITS["k600"]:
        return read_class_names(DATA_DIR / f"k600_split{split}_classes.txt")
    raise ValueError(f"no shipped class list for protocol {protocol!r} split {split!r}")


def _normalized(name: str) -> str:
    """Kinetics class names and their folder names compare equal (`passing_American_football_(in_game)`)."""
    return " ".join(re.sub(r"[^a-z0-9]+", " ", name.lower()).split())


def _find_split_dir(data_root: Path, split_file, pattern: str, candidates: Sequence[str]) -> Path:
    """The folder of the split files: `split_file` (or its folder), else the first of `candidates` with one."""
    if split_file is not None:
        folder = Path(split_file) if Path(split_file).is_dir() else Path(split_file).parent
        if not any(folder.glob(pattern)):
            raise DataError(
                f"{folder}: no {pattern} here (--split-file must be the folder of the official split files)"
            )
        return folder
    for base in (data_root, data_root.parent):
        for candidate in candidates:
            if any((base / candidate).glob(pattern)):
                return base / candidate
    tried = ", ".join(str(data_root / candidate) for candidate in candidates)
    raise DataError(f"cannot find {pattern} (looked in {tried}); pass the folder with --split-file")


def _check_split(protocol: str, split: str) -> None:
    allowed = PROTOCOL_SPLITS[protocol] + EXTRA_SPLITS.get(protocol, ())
    if split not in allowed:
        raise ValueError(f"{protocol} has splits {', '.join(allowed)}; got {split!r}")


def read_ucf101(data_root: PathLike, split: str = "1", split_file: PathLike | None = None) -> VideoList:
    """UCF101 test split `"1"`, `"2"`, `"3"` (`testlist0N.txt`: 3783 / 3734 / 3696 videos) or `"full"` (UCF*:
    `testlist01.txt` + `trainlist01.txt`, 13,320) of `data_root`; labels: `classInd.txt` numbers minus one.
    `split_file`: the folder of those files (default: `data_root`, its `ucfTrainTestlist`, or those of its parent)."""
    _check_split("ucf101", split)
    data_root = Path(data_root)
    folder = _find_split_dir(data_root, split_file, "classInd.txt", UCF101_SPLIT_DIRS)
    class_index = {}
    for _, line in read_lines(folder / "classInd.txt", comments=False):
        if not (match := re.fullmatch(r"(\d+) +(\S+)", line)):
            raise DataError(f"{folder / 'classInd.txt'}: expected '<number> <ClassFolder>' lines, got {line!r}")
        class_index[match[2]] = int(match[1]) - 1
    if sorted(class_index.values()) != list(range(len(class_index))):
        raise DataError(f"{folder / 'classInd.txt'}: class numbers are not 1..{len(class_index)}")
    lists = [
        folder / f"{name}.txt" for name in (["testlist01", "trainlist01"] if split == "full" else [f"testlist0{split}"])
    ]
    videos, labels = [], []
    for path in lists:
        if not path.is_file():
            raise DataError(f"{path}: missing UCF101 split file")
        for relative in (
            line.split()[0] for _, line in read_lines(path, comments=False)
        ):  # trainlists append the class number
            if (class_folder := relative.split("/")[0]) not in class_index:
                raise DataError(f"{path}: class {class_folder!r} of {relative!r} is not in classInd.txt")
            videos.append(str(data_root / relative))
            labels.append(class_index[class_folder])
    class_names = [ucf101_class_name(name) for name in sorted(class_index, key=class_index.get)]
    return VideoList(videos, labels, class_names, split, ", ".join(map(str, lists)))


_HMDB_SPLIT_FILE = re.compile(r"^(?P<folder>.+)_test_split(?P<split>[123])\.txt$")


def read_hmdb51(data_root: PathLike, split: str = "1", split_file: PathLike | None = None) -> VideoList:
    """HMDB51 test split `"1"`, `"2"`, `"3"` (marked 2 in `<class>_test_splitN.txt`, 1530 videos each) or `"full"`
    (HMDB*: marked 1 or 2 in the split-1 files, 5100) of `data_root`, classes sorted by name (`hmdb-index2cls.json`).
    `split_file`: the folder of those files (default: `data_root`, its `testTrainMulti_7030_splits`, or its parent)."""
    _check_split("hmdb51", split)
    data_root = Path(data_root)
    file_split, wanted_ids = ("1", {"1", "2"}) if split == "full" else (split, {"2"})
    folder = _find_split_dir(data_root, split_file, f"*_test_split{file_split}.txt", HMDB51_SPLIT_DIRS)
    matches = [_HMDB_SPLIT_FILE.match(path.name) for path in folder.iterdir()]
    class_folders = sorted((m["folder"] for m in matches if m and m["split"] == file_split), key=hmdb51_class_name)
    videos, labels = [], []
    for label, class_folder in enumerate(class_folders):
        path = folder / f"{class_folder}_test_split{file_split}.txt"
        for _, line in read_lines(path, comments=False):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in {"0", "1", "2"}:
                raise DataError(f"{path}: expected '<video> <0|1|2>', got {line!r}")
            if parts[1] in wanted_ids:
                videos.append(str(data_root / class_folder / parts[0]))
                labels.append(label)
    ids = " or ".join(sorted(wanted_ids))
    source = f"{len(class_folders)} files {folder}/<class>_test_split{file_split}.txt (id {ids})"
    return VideoList(videos, labels, [hmdb51_class_name(f) for f in class_folders], split, source)


def _is_kinetics_annotations(path: PathLike) -> bool:
    """The Kinetics annotation CSV (`label,youtube_id,time_start,time_end,split`), not a `path,class_index` list."""
    with open(path, encoding="utf-8-sig") as handle:
        return "youtube_id" in handle.readline().lower()


def _kinetics_annotations(protocol: str, path: Path, data_root: Path, class_names: list[str]) -> VideoList:
    """The videos of an annotation CSV, found anywhere under `data_root` by their file name
    `<youtube_id>_<start:06d>_<end:06d>.<ext>` or `<youtube_id>.<ext>`; one not found keeps its expected path."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    header = [cell.strip().lower() for cell in rows[0]]
    if not {"label", "youtube_id"} <= set(header):
        raise DataError(f"{path}: a Kinetics annotation CSV needs 'label' and 'youtube_id' columns, got {header}")
    by_normalized = {_normalized(name): index for index, name in enumerate(class_names)}
    stems = {Path(video).stem: video for video in reversed(find_videos(data_root))}  # the first in path order wins
    videos, labels, unknown = [], [], set()
    for row in (dict(zip(header, row)) for row in rows[1:]):
        label = by_normalized.get(_normalized(row["label"]))
        if label is None:
            unknown.add(row["label"])
            continue
        names = [row["youtube_id"].strip()]
        if row.get("time_start") and row.get("time_end"):
            names.insert(0, f"{names[0]}_{int(float(row['time_start'])):06d}_{int(float(row['time_end'])):06d}")
        videos.append(next((stems[name] for name in names if name in stems), str(data_root / f"{names[0]}.mp4")))
        labels.append(label)
    if unknown and protocol == "k400":
        raise DataError(f"{path}: labels not among the 400 Kinetics-400 classes: {sorted(unknown)[:5]}")
    # K600: the annotation file lists all 600 classes, a split keeps its 160.
    notes = [f"{len(unknown)} classes of {path.name} are not in this split and were skipped"] if unknown else []
    return VideoList(videos, labels, class_names, source=str(path), notes=notes)


def _kinetics_class_folders(data_root: Path, class_names: list[str]) -> VideoList:
    """`<data_root>[/val]/<class>/<video>` with class folders named like the classes (spaces or underscores)."""
    base = data_root / "val" if (data_root / "val").is_dir() else data_root
    if not base.is_dir():
        raise DataError(f"{data_root}: not a folder (expected class folders, or pass the val CSV with --split-file)")
    by_normalized = {_normalized(name): index for index, name in enumerate(class_names)}
    matched = {by_normalized.get(_normalized(entry.name)): entry for entry in sorted(base.iterdir()) if entry.is_dir()}
    matched.pop(None, None)
    if not matched:
        raise DataError(
            f"{base}: no folder named like a class of this split (e.g. {class_names[0]!r} or "
            f"{class_names[0].replace(' ', '_')!r}); pass the val CSV with --split-file"
        )
    pairs = [(video, label) for label in sorted(matched) for video in find_videos(matched[label])]
    videos, labels = [video for video, _ in pairs], [label for _, label in pairs]
    return VideoList(videos, labels, class_names, source=f"class folders of {base}")


def _kinetics_split(protocol: str, split: str, data_root: PathLike, split_file: PathLike | None) -> VideoList:
    class_names = kinetics_class_names(protocol, split)
    if split_file is None:
        videos = _kinetics_class_folders(Path(data_root), class_names)
    elif _is_kinetics_annotations(split_file):
        videos = _kinetics_annotations(protocol, Path(split_file), Path(data_root), class_names)
    else:  # PySlowFast / official `zs_label_db` CSV: `relative/path.mp4,<class index>`
        videos = read_csv(split_file, class_names, root=data_root)
    empty = [class_names[i] for i in sorted(set(range(len(class_names))) - set(videos.labels))]
    if empty:
        shown = ", ".join(map(repr, empty[:10])) + (" ..." if len(empty) > 10 else "")
        videos.notes.append(f"{len(empty)} of {len(class_names)} classes have no video: {shown}")
    return replace(videos, name=split)


def read_k600(data_root: PathLike, split: str = "1", split_file: PathLike | None = None) -> VideoList:
    """Kinetics-600 new-class split `"1"`, `"2"`, `"3"` (the 160 classes of the shipped official list; 7276 / 7226 /
    7261 videos in the paper's copy) from class folders `data_root[/val]/<class name>/`, or with `split_file` from the
    validation annotation CSV (videos found under `data_root` by name) or an official `path,class_index` CSV."""
    _check_split("k600", split)
    return _kinetics_split("k600", split, data_root, split_file)


def read_k400(data_root: PathLike, split_file: PathLike | None = None) -> VideoList:
    """Kinetics-400 validation set (closed set, 400 classes, 19,761 videos in the paper's copy), read as [`read_k600`]
    (official `path,class_index` CSV: `label_db/weng_compress_full_splits/test.csv`)."""
    return _kinetics_split("k400", "val", data_root, split_file)


def read_protocol(
    protocol: str, data_root: PathLike | None = None, split: str = "all", split_file: PathLike | None = None
) -> list[VideoList]:
    """The splits to evaluate for `protocol` (`PROTOCOLS`): `split` is `"all"` (`PROTOCOL_SPLITS`) or one split
    name (also `"full"` for UCF101 / HMDB51). For `custom`, give the CSV as `split_file` (paths relative to
    `data_root` or to the CSV) or a `datasets` video folder as `data_root`."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")
    if protocol in ("k400", "custom") and split not in ("all", *PROTOCOL_SPLITS[protocol]):
        raise ValueError(f"{protocol} has a single split ({PROTOCOL_SPLITS[protocol][0]}); leave --split out")
    if protocol == "custom":
        if split_file is None and data_root is None:
            raise ValueError("custom: give a 'path,label' CSV with --split-file or a video folder with --data-root")
        return [read_csv(split_file, root=data_root, name="test") if split_file else read_folder(data_root)]
    if data_root is None:
        raise ValueError(f"{protocol}: --data-root (the folder with the videos) is required")
    if not Path(data_root).is_dir():
        raise FileNotFoundError(f"data root {data_root} is not a folder")
    if protocol == "k400":
        return [read_k400(data_root, split_file)]
    if protocol == "k600" and split == "all" and split_file and not _is_kinetics_annotations(split_file):
        raise ValueError("k600: a 'path,class_index' CSV belongs to one split; pass --split 1, 2 or 3 with it")
    reader = {"ucf101": read_ucf101, "hmdb51": read_hmdb51, "k600": read_k600}[protocol]
    return [reader(data_root, name, split_file) for name in (PROTOCOL_SPLITS[protocol] if split == "all" else (split,))]
