# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""The one reader of video lists: a `path,label` CSV, a folder of class folders or a `datasets` dataset becomes a
[`VideoList`] (videos, label indices, class names). Training, evaluation and the CLI all read their videos here.

Rules, the same everywhere:

* a video file is a file whose extension is in `VIDEO_EXTENSIONS`;
* a class folder `playing_guitar` is the class "playing guitar" ([`folder_name_to_class_name`]); classes are the
  sorted folder names, as `datasets`' `videofolder` numbers them;
* a CSV row is `path,label` (PySlowFast's `path label` too); an optional header; relative paths are resolved against
  `root` (default: the CSV's folder); a label is a class name, or a class index when the class names are given.
"""

import csv
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

VIDEO_EXTENSIONS = (
    ".3gp", ".avi", ".flv", ".gif", ".m4v", ".mkv", ".mov", ".mp4", ".mpeg", ".mpg", ".ogv", ".ts", ".webm", ".wmv",
)  # fmt: skip
# First-row cells that make it a header rather than a video (`file_name` is `videofolder`'s metadata.csv column).
HEADER_NAMES = {"path", "video", "file_name", "filename", "label", "class", "category"}
# Sub-folders read as splits of a `videofolder` tree (`root/<split>/<class>/<video>`), in order of preference.
SPLIT_FOLDERS = ("test", "validation", "val", "train")


class DataError(ValueError):
    """A video list (CSV, split file, class file or folder) that cannot be read; the message names the file."""


@dataclass
class VideoList:
    """Videos with their labels: `videos[i]` (a path, URL or bytes) has class index `labels[i]` into `class_names`.

    `name` names the split (e.g. `"1"`, `"test"`); `source` the file(s) read; `notes` remarks for reports.
    """

    videos: list
    labels: list[int]
    class_names: list[str]
    name: str = ""
    source: str = ""
    notes: list[str] = field(default_factory=list)

    def __post_init__(self):
        if len(self.videos) != len(self.labels):
            raise DataError(f"{self.source or self.name}: {len(self.videos)} videos but {len(self.labels)} labels")
        bad = sorted({label for label in self.labels if not 0 <= label < len(self.class_names)})
        if bad:
            raise DataError(f"{self.source or self.name}: labels {bad[:5]} outside 0..{len(self.class_names) - 1}")
        duplicates = sorted({name for name in self.class_names if self.class_names.count(name) > 1})
        if duplicates:
            raise DataError(f"{self.source or self.name}: duplicate class names {duplicates[:5]}")

    def __len__(self) -> int:
        return len(self.videos)

    def subset(self, limit: int | None) -> "VideoList":
        """At most `limit` videos, evenly spaced through the list (deterministic), so that a quick run still
        covers the classes of a list sorted by class."""
        if limit is None or limit >= len(self.videos):
            return self
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        keep = [index * len(self.videos) // limit for index in range(limit)]
        note = f"--limit {limit}: {limit} of {len(self.videos)} videos, evenly spaced through the list"
        return VideoList(
            [self.videos[i] for i in keep],
            [self.labels[i] for i in keep],
            self.class_names,
            self.name,
            self.source,
            [*self.notes, note],
        )


def folder_name_to_class_name(name: str) -> str:
    """`playing_guitar` -> `playing guitar`: folder names become the text the class is embedded from."""
    return " ".join(name.replace("_", " ").split())


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 text ({error})") from None


def read_class_names(path: str | os.PathLike) -> list[str]:
    """Class names from a text file (one per line; blank lines and `#` comments ignored) or a JSON file: a list, a
    `{"0": "abseiling", ...}` index -> name mapping (the official `INDEX_LABEL_MAPPING_FILE`) or a name -> index
    mapping. Raises a [`DataError`] on duplicates or gaps in the indices."""
    path = Path(path)
    text = _text(path)
    if path.suffix == ".json":
        data = json.loads(text)
        if isinstance(data, dict):
            if all(isinstance(value, int) for value in data.values()):  # name -> index
                pairs = {index: name for name, index in data.items()}
            else:  # index -> name
                pairs = {int(key): str(value) for key, value in data.items()}
            if sorted(pairs) != list(range(len(pairs))):
                raise DataError(f"{path}: class indices must be 0..{len(pairs) - 1}, got {sorted(pairs)[:10]}...")
            names = [pairs[index] for index in range(len(pairs))]
        else:
            names = [str(name) for name in data]
    else:
        names = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not names:
        raise DataError(f"{path}: no class names")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise DataError(f"{path}: duplicate class names {duplicates[:10]}")
    return names


def _csv_rows(path: Path) -> list[tuple[int, str, str]]:
    """`(line number, path, label)` of every row; a header row is skipped."""
    rows = []
    for number, line in enumerate(_text(path).splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "," in line:
            cells = [cell.strip() for cell in next(csv.reader([line]))]
            video, label = ",".join(cells[:-1]).strip(), cells[-1]
        else:  # PySlowFast's space-separated lists
            video, _, label = line.rpartition(" ")
        rows.append((number, video.strip(), label.strip()))
    if rows and (rows[0][1].lower() in HEADER_NAMES or rows[0][2].lower() in HEADER_NAMES):
        rows = rows[1:]
    elif len(rows) > 1 and not Path(rows[0][1]).suffix and any(Path(video).suffix for _, video, _ in rows[1:]):
        rows = rows[1:]  # a header with other column names, e.g. `clip,activity`
    return rows


def read_csv(
    path: str | os.PathLike,
    class_names: Sequence[str] | None = None,
    root: str | os.PathLike | None = None,
    name: str = "",
) -> VideoList:
    """A `path,label` CSV (or PySlowFast's `path label` list) as a [`VideoList`].

    Args:
        path: the CSV. An optional header (`path,label`, or any first row whose path has no file extension while
            the others have one) is skipped.
        class_names: the classes, in label order; a label is then a class name or a class index. Without them the
            classes are the sorted distinct labels, which must be names (prompts are built from them).
        root: folder that relative paths are resolved against (default: the CSV's folder).
        name: the list's name (e.g. the split).
    """
    path = Path(path)
    base = Path(root) if root is not None else path.parent
    rows = _csv_rows(path)
    if not rows:
        raise DataError(f"{path}: no 'path,label' rows")
    for number, video, label in rows:
        if not video or not label:
            raise DataError(f"{path}:{number}: expected 'path,label', got {video!r}, {label!r}")
    if class_names is None:
        class_names = sorted({label for _, _, label in rows})
        if all(label.isdigit() for label in class_names):
            raise DataError(
                f"{path}: the labels are numbers ({', '.join(class_names[:5])}...) and no class names were given; "
                "prompts are built from class names, so give the names (e.g. 'archery') in the label column"
            )
    class_names = list(class_names)
    index = {class_name: i for i, class_name in enumerate(class_names)}
    labels = []
    for number, _, label in rows:
        if label in index:
            labels.append(index[label])
        elif label.isdigit() and int(label) < len(class_names):
            labels.append(int(label))
        else:
            raise DataError(f"{path}:{number}: label {label!r} is neither a class name nor a class index")
    return VideoList([str(base / video) for _, video, _ in rows], labels, class_names, name, str(path))


def find_videos(folder: str | os.PathLike) -> list[str]:
    """The video files in `folder` and below, sorted by path."""
    paths = sorted(Path(folder).rglob("*"))
    return [str(path) for path in paths if path.suffix.lower() in VIDEO_EXTENSIONS and path.is_file()]


def read_path_list(path: str | os.PathLike) -> list[str]:
    """Videos listed one per line: paths (relative ones resolved against the file's folder) or URLs. Blank lines,
    `#` comments and a header (`path`, `video`, ...) are skipped."""
    path = Path(path)
    lines = [line.strip() for line in _text(path).splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if lines and lines[0].lower() in HEADER_NAMES:
        lines = lines[1:]
    if not lines:
        raise DataError(f"{path}: no videos listed (one path or URL per line)")
    return [line if "://" in line else str(path.parent / line) for line in lines]


def read_folder(root: str | os.PathLike, split: str | None = None) -> VideoList:
    """The videos of a folder tree `root/<class>/<video>` (searched recursively), `datasets`' `videofolder` layout.

    Also read as `videofolder` does: `root/<split>/<class>/<video>` (`split`, or the first of `SPLIT_FOLDERS` that
    exists) and a folder of videos with a `metadata.csv` of `file_name,label` rows.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    folders = sorted(entry for entry in root.iterdir() if entry.is_dir() and not entry.name.startswith("."))
    splits = [name for name in SPLIT_FOLDERS if (root / name).is_dir()]
    if split is not None or (splits and {folder.name for folder in folders} <= set(SPLIT_FOLDERS)):
        chosen = split or splits[0]
        if not (root / chosen).is_dir():
            raise DataError(f"{root}: no split folder {chosen!r} (found {[folder.name for folder in folders]})")
        videos = read_folder(root / chosen)
        videos.name = chosen
        return videos
    if (root / "metadata.csv").is_file():
        return read_csv(root / "metadata.csv", name=root.name)
    class_names = [folder_name_to_class_name(folder.name) for folder in folders]
    videos, labels = [], []
    for label, folder in enumerate(folders):
        found = find_videos(folder)
        videos += found
        labels += [label] * len(found)
    if not videos:
        raise DataError(f"{root}: no videos in class folders (expected {root}/<class name>/<video>.mp4)")
    return VideoList(videos, labels, class_names, root.name, f"class folders of {root}")


def dataset_videos(dataset, video_column: str = "video") -> list:
    """The videos of a `datasets.Dataset` column (a `Video` feature, paths or bytes) as paths where the file is
    readable, else bytes; `datasets` does not decode them (`Video(decode=False)`): each is read by `load_video`."""
    import datasets

    if video_column not in dataset.column_names:
        raise DataError(f"the dataset has no column {video_column!r} (columns: {dataset.column_names})")
    if isinstance(dataset.features[video_column], datasets.Video):
        dataset = dataset.cast_column(video_column, datasets.Video(decode=False))
    videos = []
    for video in dataset[video_column]:
        if isinstance(video, Mapping):
            video = video["path"] if video.get("path") and os.path.isfile(video["path"]) else video.get("bytes")
        if video is None:
            raise DataError(f"a row of column {video_column!r} has neither a readable path nor bytes")
        videos.append(video)
    return videos


def read_dataset(dataset, video_column: str = "video", label_column: str = "label") -> VideoList:
    """The videos of a `datasets.Dataset` whose `video_column` is a `Video` feature (or holds paths or bytes) and
    whose `label_column` holds class indices of a `ClassLabel` (class names: its names, underscores read as spaces)
    or class names. Videos are not decoded by `datasets` (`Video(decode=False)`): each is read by `load_video`."""
    videos = dataset_videos(dataset, video_column)
    if label_column not in dataset.column_names:
        raise DataError(f"the dataset has no column {label_column!r} (columns: {dataset.column_names})")
    feature, labels = dataset.features[label_column], dataset[label_column]
    if hasattr(feature, "names"):
        class_names = [folder_name_to_class_name(name) for name in feature.names]
    else:
        class_names = sorted(set(map(str, labels)))
        labels = [class_names.index(str(label)) for label in labels]
    return VideoList(videos, list(labels), class_names, source=f"datasets {getattr(dataset, 'split', '') or ''}")


__all__ = [
    "VIDEO_EXTENSIONS",
    "DataError",
    "VideoList",
    "dataset_videos",
    "find_videos",
    "folder_name_to_class_name",
    "read_class_names",
    "read_csv",
    "read_dataset",
    "read_folder",
    "read_path_list",
]
