# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""The one reader of video lists (training, evaluation, CLI): a `path,label` CSV, a folder of class folders or a
`datasets` dataset becomes a [`VideoList`]; class folder `playing_guitar` is the class "playing guitar"."""

import csv
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

VIDEO_EXTENSIONS = (
    ".3gp", ".avi", ".flv", ".gif", ".m4v", ".mkv", ".mov", ".mp4", ".mpeg", ".mpg", ".ogv", ".ts", ".webm", ".wmv",
)  # fmt: skip
# First-row cells that make it a header rather than a video (`file_name` is `videofolder`'s metadata.csv column).
VIDEO_COLUMNS, LABEL_COLUMNS = {"path", "video", "file_name", "filename"}, {"label", "class", "category"}
HEADER_NAMES = VIDEO_COLUMNS | LABEL_COLUMNS
# Sub-folders read as splits of a `videofolder` tree (`root/<split>/<class>/<video>`), in order of preference.
SPLIT_FOLDERS = ("test", "validation", "val", "train")


class DataError(ValueError):
    """A video list (CSV, split file, class file or folder) that cannot be read; the message names the file."""


def _check_unique(names: Sequence[str], where: str) -> None:
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise DataError(f"{where}: duplicate class names {duplicates[:10]}")


@dataclass
class VideoList:
    """Videos with their labels: `videos[i]` (a path, URL or bytes) has class index `labels[i]` into `class_names`;
    `name` names the split, `source` the file(s) read, `notes` are remarks for reports."""

    videos: list
    labels: list[int]
    class_names: list[str]
    name: str = ""
    source: str = ""
    notes: list[str] = field(default_factory=list)

    def __post_init__(self):
        where = self.source or self.name
        if len(self.videos) != len(self.labels):
            raise DataError(f"{where}: {len(self.videos)} videos but {len(self.labels)} labels")
        bad = sorted({label for label in self.labels if not 0 <= label < len(self.class_names)})
        if bad:
            raise DataError(f"{where}: labels {bad[:5]} outside 0..{len(self.class_names) - 1}")
        _check_unique(self.class_names, where)

    def __len__(self) -> int:
        return len(self.videos)

    def subset(self, limit: int | None) -> "VideoList":
        """At most `limit` videos, evenly spaced through the list (deterministic, covers a list sorted by class)."""
        if limit is None or limit >= len(self.videos):
            return self
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        keep = [index * len(self.videos) // limit for index in range(limit)]
        note = f"--limit {limit}: {limit} of {len(self.videos)} videos, evenly spaced through the list"
        videos, labels = [self.videos[i] for i in keep], [self.labels[i] for i in keep]
        return replace(self, videos=videos, labels=labels, notes=[*self.notes, note])


def folder_name_to_class_name(name: str) -> str:
    """`playing_guitar` -> `playing guitar`: folder names become the text the class is embedded from."""
    return " ".join(name.replace("_", " ").split())


def read_lines(path: Path, comments: bool = True) -> list[tuple[int, str]]:
    """`(line number, stripped line)` of a UTF-8 text file, without blank lines and (if `comments`) `#` comment lines.
    Official split files have no comments, and HMDB51 file names may start with `#`: they pass `comments=False`."""
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines()]
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 text ({error})") from None
    return [(number, line) for number, line in enumerate(lines, 1) if line and not (comments and line[0] == "#")]


def read_class_names(path: str | os.PathLike) -> list[str]:
    """Class names from a text file (one per line) or a JSON list, `{"0": "abseiling", ...}` index -> name mapping
    (the official `INDEX_LABEL_MAPPING_FILE`) or name -> index mapping."""
    path = Path(path)
    names = [line for _, line in read_lines(path)]
    if path.suffix == ".json":
        names = json.loads("\n".join(names))
    if isinstance(names, dict):
        if all(isinstance(value, int) for value in names.values()):  # name -> index
            pairs = {index: name for name, index in names.items()}
        else:
            pairs = {int(key): value for key, value in names.items()}
        if sorted(pairs) != list(range(len(pairs))):
            raise DataError(f"{path}: class indices must be 0..{len(pairs) - 1}, got {sorted(pairs)[:10]}...")
        names = [pairs[index] for index in range(len(pairs))]
    names = [str(name) for name in names]
    if not names:
        raise DataError(f"{path}: no class names")
    _check_unique(names, str(path))
    return names


def _csv_rows(path: Path) -> list[tuple[int, str, str]]:
    """`(line number, path, label)` of every row; a header row is skipped. A header naming a video and a label column
    (e.g. `metadata.csv`'s `file_name`, `label`) picks them, in any order among other columns."""
    rows, lines = [], read_lines(path)
    header = [cell.strip().lower() for cell in next(csv.reader([lines[0][1]]))] if lines else []
    named = [next((i for i, name in enumerate(header) if name in kind), -1) for kind in (VIDEO_COLUMNS, LABEL_COLUMNS)]
    by_name = -1 not in named and (named, len(header)) != ([0, 1], 2)  # else `path,label`, commas allowed in paths
    for number, line in lines:
        if "," in line:
            cells = [cell.strip() for cell in next(csv.reader([line]))]
            video, label = ",".join(cells[:-1]), cells[-1]
            if by_name:
                video, label = (cells[i] if i < len(cells) else "" for i in named)
        else:  # PySlowFast's space-separated lists
            video, _, label = line.rpartition(" ") if " " in line else (line, "", "")
        rows.append((number, video.strip(), label.strip()))
    if rows and (rows[0][1].lower() in HEADER_NAMES or rows[0][2].lower() in HEADER_NAMES):
        rows = rows[1:]
    elif len(rows) > 1 and not Path(rows[0][1]).suffix and any(Path(video).suffix for _, video, _ in rows[1:]):
        rows = rows[1:]  # a header with other column names, e.g. `clip,activity`
    return rows


def read_csv(
    path: str | os.PathLike, class_names: Sequence[str] | None = None, root: str | os.PathLike | None = None, name=""
) -> VideoList:
    """A `path,label` CSV (or PySlowFast's `path label` list; an optional header) as a [`VideoList`]. A label is a
    class name or an index into `class_names`; without them the classes are the sorted labels, which must be names.
    Relative paths are resolved against `root` (default: the CSV's folder); `name` names the list (e.g. the split)."""
    path = Path(path)
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
    index = {class_name: i for i, class_name in enumerate(class_names)}
    labels = []
    for number, _, label in rows:
        if label not in index and not (label.isdigit() and int(label) < len(class_names)):
            raise DataError(f"{path}:{number}: label {label!r} is neither a class name nor a class index")
        labels.append(index[label] if label in index else int(label))
    base = Path(root) if root is not None else path.parent
    return VideoList([str(base / video) for _, video, _ in rows], labels, list(class_names), name, str(path))


def find_videos(folder: str | os.PathLike) -> list[str]:
    """The video files in `folder` and below, sorted by path."""
    paths = sorted(Path(folder).rglob("*"))
    return [str(path) for path in paths if path.suffix.lower() in VIDEO_EXTENSIONS and path.is_file()]


def read_path_list(path: str | os.PathLike) -> list[str]:
    """Videos listed one per line: paths (relative to the file's folder) or URLs; an optional header."""
    path = Path(path)
    lines = [line for _, line in read_lines(path)]
    if lines and lines[0].lower() in HEADER_NAMES:
        lines = lines[1:]
    if not lines:
        raise DataError(f"{path}: no videos listed (one path or URL per line)")
    return [line if "://" in line else str(path.parent / line) for line in lines]


def read_folder(root: str | os.PathLike, split: str | None = None) -> VideoList:
    """The videos of `datasets`' `videofolder` layouts: `root/<class>/<video>` (searched recursively),
    `root/<split>/<class>/<video>` (`split`, or the first of `SPLIT_FOLDERS`) and videos with a `metadata.csv`."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    folders = sorted(entry for entry in root.iterdir() if entry.is_dir() and not entry.name.startswith("."))
    splits = [name for name in SPLIT_FOLDERS if (root / name).is_dir()]
    if split is not None or (splits and {folder.name for folder in folders} <= set(SPLIT_FOLDERS)):
        chosen = split or splits[0]
        if not (root / chosen).is_dir():
            raise DataError(f"{root}: no split folder {chosen!r} (found {[folder.name for folder in folders]})")
        return replace(read_folder(root / chosen), name=chosen)
    if (root / "metadata.csv").is_file():
        return read_csv(root / "metadata.csv", name=root.name)
    videos, labels = [], []
    for label, folder in enumerate(folders):
        found = find_videos(folder)
        videos += found
        labels += [label] * len(found)
    if not videos:
        raise DataError(f"{root}: no videos in class folders (expected {root}/<class name>/<video>.mp4)")
    class_names = [folder_name_to_class_name(folder.name) for folder in folders]
    return VideoList(videos, labels, class_names, root.name, f"class folders of {root}")


def dataset_videos(dataset, video_column: str = "video") -> list:
    """The videos of a `datasets.Dataset` column (a `Video` feature, paths or bytes) as paths where the file is
    readable, else bytes; not decoded by `datasets` (`Video(decode=False)`): `load_video` reads each."""
    import datasets

    if video_column not in dataset.column_names:
        raise DataError(f"the dataset has no column {video_column!r} (columns: {dataset.column_names})")
    if isinstance(dataset.features[video_column], datasets.Video):
        dataset = dataset.cast_column(video_column, datasets.Video(decode=False))
    videos = []
    for video in dataset[video_column]:
        if isinstance(video, Mapping):  # with bytes, a relative path is only a name (`save_to_disk`), not a file here
            path, data = video.get("path"), video.get("bytes")
            video = path if path and os.path.isfile(path) and (data is None or os.path.isabs(path)) else data
        if video is None:
            raise DataError(f"a row of column {video_column!r} has neither a readable path nor bytes")
        videos.append(video)
    return videos


def read_dataset(dataset, video_column: str = "video", label_column: str = "label") -> VideoList:
    """The videos of a `datasets.Dataset` (see [`dataset_videos`]) with `label_column` holding `ClassLabel` indices
    (class names: its names, underscores read as spaces) or class names."""
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
    "VIDEO_EXTENSIONS", "DataError", "VideoList", "dataset_videos", "find_videos", "folder_name_to_class_name",
    "read_class_names", "read_csv", "read_dataset", "read_folder", "read_path_list",
]  # fmt: skip
