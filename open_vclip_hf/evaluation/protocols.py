# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""The official zero-shot test sets of Open-VCLIP (method doc section 5), read from the files users have on disk.
One reader per benchmark, each returning one split as a [`VideoList`]:

| protocol | reader | split files | class names |
|---|---|---|---|
| UCF101 | [`read_ucf101`] | `classInd.txt`, `testlist0N.txt` (`full`: + `trainlist01.txt`) | CamelCase split |
| HMDB51 | [`read_hmdb51`] | `<class>_test_splitN.txt`, id 2 = test (`full`: ids 1 and 2 of split 1) | `_` -> space |
| K600 | [`read_k600`] | the 3 x 160 new-class lists shipped in `evaluation/data` | Kinetics names |
| K400 | [`read_k400`] | the 400 Kinetics names shipped in `assets/kinetics400_classes.txt` | Kinetics names |
| custom | `data.read_csv`, `data.read_folder` | a `path,label` CSV or a folder of class folders | as given |

Class indices follow the official `zs_label_db` files exactly: UCF101 in `classInd.txt` order, HMDB51 sorted by name,
K600 sorted within each split, K400 sorted. Readers never open a video: a listed video that is missing on disk stays
in the split, and the runner reports it as failed.
"""

import csv
import os
import re
from collections.abc import Sequence
from pathlib import Path

from ..data import VIDEO_EXTENSIONS, DataError, VideoList, read_class_names, read_csv, read_folder

PathLike = str | os.PathLike
DATA_DIR = Path(__file__).parent / "data"
# The 400 Kinetics names of the official label map, shared with the web demo's preset.
KINETICS400_CLASSES_FILE = Path(__file__).parent.parent / "assets" / "kinetics400_classes.txt"
PROTOCOLS = ("ucf101", "hmdb51", "k600", "k400", "custom")
# Splits of each protocol, in the order `--split all` evaluates them. `full` (UCF*, HMDB*) is asked for explicitly.
PROTOCOL_SPLITS = {
    "ucf101": ("1", "2", "3"),
    "hmdb51": ("1", "2", "3"),
    "k600": ("1", "2", "3"),
    "k400": ("val",),
    "custom": ("test",),
}
EXTRA_SPLITS = {"ucf101": ("full",), "hmdb51": ("full",)}

# Where the official archives put their split files, relative to the data root.
UCF101_SPLIT_DIRS = (".", "ucfTrainTestlist", "UCF101TrainTestSplits-RecognitionTask/ucfTrainTestlist", "splits")
HMDB51_SPLIT_DIRS = (".", "testTrainMulti_7030_splits", "splits")


def ucf101_class_name(folder: str) -> str:
    """UCF101 folder name -> prompt name, as the official `zs_label_db/ucf101_full/process.py`: split the CamelCase
    name before every capital letter; "YoYo" becomes "Yoyo".

    >>> ucf101_class_name("ApplyEyeMakeup"), ucf101_class_name("YoYo")
    ('Apply Eye Makeup', 'Yoyo')
    """
    name = " ".join(re.findall("[A-Z][^A-Z]*", folder))
    return "Yoyo" if name == "Yo Yo" else name


def hmdb51_class_name(folder: str) -> str:
    """HMDB51 folder name -> prompt name (`zs_label_db/hmdb_split1/process.py`): underscores become spaces.

    >>> hmdb51_class_name("climb_stairs")
    'climb stairs'
    """
    return folder.replace("_", " ")


def kinetics_class_names(protocol: str, split: str = "1") -> list[str]:
    """The official class list of `"k400"` (400 names) or of `"k600"` split `"1"`, `"2"` or `"3"` (160 new classes
    each; sources in `evaluation/data/SOURCES.md`)."""
    if protocol == "k400":
        path = KINETICS400_CLASSES_FILE
    elif protocol == "k600" and split in PROTOCOL_SPLITS["k600"]:
        path = DATA_DIR / f"k600_split{split}_classes.txt"
    else:
        raise ValueError(f"no shipped class list for protocol {protocol!r} split {split!r}")
    return read_class_names(path)


def _normalized(name: str) -> str:
    """Kinetics class names and their folder names compare equal (`passing_American_football_(in_game)`)."""
    return " ".join(re.sub(r"[^a-z0-9]+", " ", name.lower()).split())


def _find_split_dir(data_root: Path, split_file, pattern: str, candidates: Sequence[str]) -> Path:
    """The folder holding split files matching `pattern`: `split_file` (a folder, or a file inside it), else the
    first of `candidates` under `data_root` or its parent that has one."""
    if split_file is not None:
        path = Path(split_file)
        folder = path if path.is_dir() else path.parent
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


def _read_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]


def _check_split(protocol: str, split: str) -> None:
    allowed = PROTOCOL_SPLITS[protocol] + EXTRA_SPLITS.get(protocol, ())
    if split not in allowed:
        raise ValueError(f"{protocol} has splits {', '.join(allowed)}; got {split!r}")


def read_ucf101(data_root: PathLike, split: str = "1", split_file: PathLike | None = None) -> VideoList:
    """UCF101 test split `"1"`, `"2"` or `"3"` (`testlist0N.txt`, 3783 / 3734 / 3696 videos) or `"full"` (UCF*:
    `testlist01.txt` + `trainlist01.txt`, all 13,320 videos) of the class folders in `data_root`; `split_file` is
    the folder of `classInd.txt` and the lists (default: `data_root`, its `ucfTrainTestlist`, or those of its parent).
    Labels are the `classInd.txt` numbers minus one.
    """
    _check_split("ucf101", split)
    data_root = Path(data_root)
    folder = _find_split_dir(data_root, split_file, "classInd.txt", UCF101_SPLIT_DIRS)
    class_index = {}
    for line in _read_lines(folder / "classInd.txt"):
        number, _, class_folder = line.partition(" ")
        class_folder = class_folder.strip()
        if not number.isdigit() or not class_folder or " " in class_folder:
            raise DataError(f"{folder / 'classInd.txt'}: expected '<number> <ClassFolder>' lines, got {line!r}")
        if class_folder in class_index:
            raise DataError(f"{folder / 'classInd.txt'}: class {class_folder!r} listed twice")
        class_index[class_folder] = int(number) - 1
    if sorted(class_index.values()) != list(range(len(class_index))):
        raise DataError(f"{folder / 'classInd.txt'}: class numbers are not 1..{len(class_index)}")
    folders = sorted(class_index, key=class_index.get)
    lists = ["testlist01.txt", "trainlist01.txt"] if split == "full" else [f"testlist0{split}.txt"]

    videos, labels = [], []
    for name in lists:
        path = folder / name
        if not path.is_file():
            raise DataError(f"{path}: missing UCF101 split file")
        for line in _read_lines(path):
            relative = line.split()[0]  # trainlists append the class number
            class_folder = relative.split("/")[0]
            if class_folder not in class_index:
                raise DataError(f"{path}: class {class_folder!r} of {relative!r} is not in classInd.txt")
            videos.append(str(data_root / relative))
            labels.append(class_index[class_folder])
    return VideoList(
        videos, labels, [ucf101_class_name(f) for f in folders], split, ", ".join(str(folder / n) for n in lists)
    )


_HMDB_SPLIT_FILE = re.compile(r"^(?P<folder>.+)_test_split(?P<split>[123])\.txt$")


def read_hmdb51(data_root: PathLike, split: str = "1", split_file: PathLike | None = None) -> VideoList:
    """HMDB51 test split `"1"`, `"2"` or `"3"` (videos marked 2 in `<class>_test_splitN.txt`, 1530 each) or `"full"`
    (HMDB*: marked 1 or 2 in the split-1 files, 5100) of the class folders in `data_root`; `split_file` is the folder
    of the 153 split files (default: `data_root`, its `testTrainMulti_7030_splits`, or those of its parent). Classes
    are sorted by their name with spaces (the official `hmdb-index2cls.json` order).
    """
    _check_split("hmdb51", split)
    data_root = Path(data_root)
    file_split = "1" if split == "full" else split
    wanted_ids = {"1", "2"} if split == "full" else {"2"}
    folder = _find_split_dir(data_root, split_file, f"*_test_split{file_split}.txt", HMDB51_SPLIT_DIRS)
    matches = [_HMDB_SPLIT_FILE.match(path.name) for path in folder.iterdir()]
    class_folders = sorted((m["folder"] for m in matches if m and m["split"] == file_split), key=hmdb51_class_name)
    if not class_folders:
        raise DataError(f"{folder}: no HMDB51 split files '<class>_test_split{file_split}.txt'")

    videos, labels = [], []
    for label, class_folder in enumerate(class_folders):
        path = folder / f"{class_folder}_test_split{file_split}.txt"
        for line in _read_lines(path):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in {"0", "1", "2"}:
                raise DataError(f"{path}: expected '<video> <0|1|2>', got {line!r}")
            if parts[1] in wanted_ids:
                videos.append(str(data_root / class_folder / parts[0]))
                labels.append(label)
    ids = " or ".join(sorted(wanted_ids))
    source = f"{len(class_folders)} files {folder}/<class>_test_split{file_split}.txt (id {ids})"
    return VideoList(videos, labels, [hmdb51_class_name(f) for f in class_folders], split, source=source)


def _kinetics_split(protocol: str, split: str, data_root: Path, split_file: PathLike | None) -> VideoList:
    class_names = kinetics_class_names(protocol, split)
    by_normalized = {_normalized(name): index for index, name in enumerate(class_names)}
    if len(by_normalized) != len(class_names):
        raise ValueError(f"{protocol}: two class names normalise to the same folder name")

    if split_file is not None:
        path = Path(split_file)
        with path.open(newline="", encoding="utf-8") as handle:
            rows = [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
        header = [cell.strip().lower() for cell in rows[0]] if rows else []
        if "youtube_id" in header:
            videos, labels, notes = _kinetics_annotation_rows(protocol, path, rows, header, data_root, by_normalized)
        else:
            videos, labels, notes = _indexed_csv_rows(path, rows, data_root, len(class_names))
        source = str(path)
    else:
        videos, labels, notes, source = _kinetics_class_folders(data_root, class_names, by_normalized)

    empty = sorted(set(range(len(class_names))) - set(labels))
    if empty:
        shown = ", ".join(repr(class_names[i]) for i in empty[:10])
        more = " ..." if len(empty) > 10 else ""
        notes.append(f"{len(empty)} of {len(class_names)} classes have no video: {shown}{more}")
    return VideoList(videos, labels, class_names, split, source, notes)


def _kinetics_annotation_rows(protocol, path, rows, header, data_root, by_normalized):
    """The Kinetics annotation CSV (`label,youtube_id,time_start,time_end,split`); videos are found anywhere under
    `data_root` by their file name `<youtube_id>_<start:06d>_<end:06d>.<ext>` or `<youtube_id>.<ext>`."""
    column = {name: header.index(name) for name in ("label", "youtube_id") if name in header}
    if len(column) != 2:
        raise DataError(f"{path}: a Kinetics annotation CSV needs 'label' and 'youtube_id' columns, got {header}")
    start = header.index("time_start") if "time_start" in header else None
    end = header.index("time_end") if "time_end" in header else None
    stems = {}  # file name without extension -> path, for every video under data_root
    for folder, _, files in os.walk(data_root):
        for name in files:
            stem, extension = os.path.splitext(name)
            if extension.lower() in VIDEO_EXTENSIONS:
                stems.setdefault(stem, os.path.join(folder, name))
    videos, labels, unknown = [], [], set()
    for row in rows[1:]:
        label = by_normalized.get(_normalized(row[column["label"]]))
        if label is None:
            unknown.add(row[column["label"]])
            continue
        youtube_id = row[column["youtube_id"]].strip()
        names = [youtube_id]
        if start is not None and end is not None:
            names.insert(0, f"{youtube_id}_{int(float(row[start])):06d}_{int(float(row[end])):06d}")
        found = next((stems[name] for name in names if name in stems), None)
        # A video not on disk keeps its expected path: the runner reports it as missing.
        videos.append(found or str(data_root / f"{names[0]}.mp4"))
        labels.append(label)
    notes = []
    if unknown and protocol == "k400":
        raise DataError(f"{path}: labels not among the 400 Kinetics-400 classes: {sorted(unknown)[:5]}")
    if unknown:  # K600: the annotation file lists all 600 classes, a split keeps its 160
        notes.append(f"{len(unknown)} classes of {path.name} are not in this split and were skipped")
    return videos, labels, notes


def _indexed_csv_rows(path, rows, data_root, num_classes):
    """PySlowFast / official `zs_label_db` CSV: `relative/path.mp4,<class index>` (comma or space separated)."""
    videos, labels = [], []
    for row in rows:
        cells = row if len(row) >= 2 else row[0].rsplit(" ", 1)
        if len(cells) < 2 or not cells[-1].strip().isdigit():
            if not videos:  # a header line
                continue
            raise DataError(f"{path}: expected 'path,class_index', got {row!r}")
        label = int(cells[-1])
        if label >= num_classes:
            raise DataError(f"{path}: class index {label} >= {num_classes}")
        videos.append(str(data_root / cells[0].strip()))
        labels.append(label)
    return videos, labels, []


def _kinetics_class_folders(data_root, class_names, by_normalized):
    """`<data_root>[/val]/<class>/<video>` with class folders named like the classes (spaces or underscores)."""
    base = data_root / "val" if (data_root / "val").is_dir() else data_root
    if not base.is_dir():
        raise DataError(f"{data_root}: not a folder (expected class folders, or pass the val CSV with --split-file)")
    matched = {}
    for entry in sorted(base.iterdir()):
        label = by_normalized.get(_normalized(entry.name))
        if entry.is_dir() and label is not None:
            matched[label] = entry
    if not matched:
        raise DataError(
            f"{base}: no folder named like a class of this split (e.g. {class_names[0]!r} or "
            f"{class_names[0].replace(' ', '_')!r}); pass the val CSV with --split-file"
        )
    videos, labels = [], []
    for label in sorted(matched):
        for video in sorted(matched[label].iterdir()):
            if video.suffix.lower() in VIDEO_EXTENSIONS:
                videos.append(str(video))
                labels.append(label)
    return videos, labels, [], f"class folders of {base}"


def read_k600(data_root: PathLike, split: str = "1", split_file: PathLike | None = None) -> VideoList:
    """Kinetics-600 new-class split `"1"`, `"2"` or `"3"`: the 160 classes of the shipped official list, validation
    videos (7276 / 7226 / 7261 in the paper's copy) from class folders `data_root[/val]/<class name>/` (spaces or
    underscores), or with `split_file` from the validation annotation CSV (`label,youtube_id,time_start,time_end,
    split`; rows of the other 440 classes are skipped; videos found under `data_root` by file name) or an official
    `zs_label_db/k600_splitN/test.csv` (`path,class_index`).
    """
    _check_split("k600", split)
    return _kinetics_split("k600", split, Path(data_root), split_file)


def read_k400(data_root: PathLike, split_file: PathLike | None = None) -> VideoList:
    """Kinetics-400 validation set, 400 classes (closed-set top-1 / top-5; 19,761 videos in the paper's copy), from the
    same inputs as [`read_k600`] (official `path,class_index` CSV: `label_db/weng_compress_full_splits/test.csv`).
    """
    return _kinetics_split("k400", "val", Path(data_root), split_file)


def read_protocol(
    protocol: str, data_root: PathLike | None = None, split: str = "all", split_file: PathLike | None = None
) -> list[VideoList]:
    """The splits to evaluate for `protocol` (`PROTOCOLS`): `split` is `"all"` (`PROTOCOL_SPLITS`) or one split
    name (also `"full"` for UCF101 / HMDB51). For `custom`, give the CSV as `split_file` (paths relative to
    `data_root` or to the CSV) or a `datasets` video folder as `data_root`.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")
    if protocol == "custom":
        if split not in ("all", "test"):
            raise ValueError("the custom protocol has a single split; leave --split out")
        if split_file is not None:
            return [read_csv(split_file, root=data_root, name="test")]
        if data_root is None:
            raise ValueError("custom: give a 'path,label' CSV with --split-file or a video folder with --data-root")
        return [read_folder(data_root)]
    if data_root is None:
        raise ValueError(f"{protocol}: --data-root (the folder with the videos) is required")
    if not Path(data_root).is_dir():
        raise FileNotFoundError(f"data root {data_root} is not a folder")
    if protocol == "k400":
        if split not in ("all", "val"):
            raise ValueError("k400 has a single split (the validation set); leave --split out")
        return [read_k400(data_root, split_file)]
    readers = {"ucf101": read_ucf101, "hmdb51": read_hmdb51, "k600": read_k600}
    names = PROTOCOL_SPLITS[protocol] if split == "all" else (split,)
    if protocol == "k600" and split_file is not None and split == "all" and Path(split_file).is_file():
        with Path(split_file).open(encoding="utf-8") as handle:
            header = handle.readline().lower()
        if "youtube_id" not in header:
            raise ValueError("k600: a 'path,class_index' CSV belongs to one split; pass --split 1, 2 or 3 with it")
    return [readers[protocol](data_root, name, split_file) for name in names]
