# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Video collections: embed many videos once (`open-vclip embed`, [`embed_collection`]), then search them by text or
by an example video (`open-vclip search`, [`VideoCollection`]). Open-VCLIP is a bi-encoder: a video's embedding is
computed once and compared with any query afterwards.

A collection is a folder:

    DIR/collection.json     the model (name, SHA-256 of its weights), the sampling settings and the embedding dtype
    DIR/shards/shard-P-N/   `datasets` folders (`save_to_disk`) written by process P, each renamed into place whole
    DIR/dataset/            the rows of every shard, sorted by path (`datasets.load_from_disk`); `faiss.index` inside

A row: `path` (a path or URL; `sha256:<hex>` for a video given as bytes), `label` (from a labelled source, else
null), `embedding` (the L2-normalised mean of the views' L2-normalised video embeddings), `video_frames` and
`duration` (from the container header; 0 where it has none), `sampling`, `model`, `model_sha256`. The settings are
also the dataset's `info.description` (JSON).

A run is append-only and resumable: it embeds the videos no finished shard holds, writes shards of `shard_size`
videos atomically, then merges every shard into `DIR/dataset` (atomically too). Under `accelerate launch` the missing
videos are divided between the processes (contiguous slices of the source order), each process writes its own
shards and the main process merges them.
"""

import hashlib
import importlib.util
import io
import json
import os
import shutil
from functools import cached_property
from pathlib import Path

import av
import numpy as np
import torch

from .data import DataError, dataset_videos, find_videos, read_csv, read_dataset, read_path_list
from .evaluation.runner import VideoClipsDataset, clip_loader, collate_clips, process_state
from .evaluation.zero_shot import load_model_and_processor
from .prompts import PROMPT_TEMPLATES, build_class_embeddings
from .video_decoding import check_sampling_args
from .weights import commit_directory, fresh_staging_directory

FORMAT = "open-vclip-collection/1"
COLLECTION_FILE = "collection.json"
FAISS_FILE = "faiss.index"
FAISS_MIN_ROWS = 20_000  # with faiss installed, collections this large get an index unless told otherwise
SAMPLING_KEYS = ("num_frames", "num_clips", "sampling", "frame_stride", "target_fps")
COMPARED = ("model_sha256", "sampling", "dtype")  # what a run must share with the collection it adds to


class CollectionError(ValueError):
    """A folder that cannot be written or searched as asked; the message names the folder and what differs."""


def read_videos(source, video_column: str = "video", label_column: str = "label") -> tuple[list, list]:
    """`(videos, labels)` of a source: a folder (its video files, recursively), a `path,label` CSV, a text file of
    paths or URLs (one per line, also a one-column CSV), or a `datasets.Dataset` (or its `save_to_disk` folder) with
    a `video_column` and optionally a `label_column`. `labels[i]` is a class name, or `None`."""

    def named(listed):
        return listed.videos, [listed.class_names[label] for label in listed.labels]

    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if (path / "state.json").is_file():
            import datasets

            source = datasets.load_from_disk(str(path))
        elif path.is_dir():
            videos = find_videos(path)
            if not videos:
                raise DataError(f"{path}: no video files in this folder or below")
            return videos, [None] * len(videos)
        elif not path.is_file():
            raise DataError(f"{path}: no such file or folder")
        elif path.suffix.lower() == ".csv" and "," in path.read_text(encoding="utf-8", errors="replace"):
            return named(read_csv(path))
        else:
            videos = read_path_list(path)
            return videos, [None] * len(videos)
    if label_column in source.column_names:
        return named(read_dataset(source, video_column, label_column))
    videos = dataset_videos(source, video_column)
    return videos, [None] * len(videos)


def video_header(video) -> tuple[int, float]:
    """`(frames, seconds)` of a video path, URL or bytes from its container header (0 where the header has none)."""
    with av.open(video if isinstance(video, str) else io.BytesIO(video)) as container:
        stream = container.streams.video[0]
        duration = stream.duration * stream.time_base if stream.duration else (container.duration or 0) / av.time_base
        return stream.frames or round(float(duration) * float(stream.average_rate or 0)), float(duration)


class _ClipsWithHeader(VideoClipsDataset):
    """The evaluation runner's decoding, plus `(frames, seconds)` of every decoded video."""

    def __getitem__(self, index: int):
        index, pixel_values, error = super().__getitem__(index)
        return index, pixel_values, error, None if error else video_header(self.videos[index])


def _collate_with_headers(items):
    batch = collate_clips([item[:3] for item in items])
    batch["headers"] = [item[3] for item in items if item[2] is None]
    return batch


def weights_sha256(model: torch.nn.Module) -> str:
    """SHA-256 of a model's state dict (names, dtypes, shapes, values): which weights embedded a collection."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(f"{name} {tensor.dtype} {tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def load_model(model, processor=None, device=None, dtype: torch.dtype | None = None):
    """`(model, processor, name, sha256)`: a folder or Hub id is loaded and hashed as stored, then moved to `device`
    and cast to `dtype`; a loaded model is hashed as given. `name` is the absolute path of a local folder."""
    if isinstance(model, (str, os.PathLike)):
        name = os.path.abspath(model) if os.path.isdir(model) else str(model)
        model, loaded = load_model_and_processor(name)
        processor = processor or loaded
    else:
        from . import OpenVCLIPProcessor

        name = model.config.name_or_path or type(model).__name__
        processor = processor or OpenVCLIPProcessor.for_model(model.config)
    sha256 = weights_sha256(model)
    return model.to(device=device, dtype=dtype).eval(), processor, name, sha256


@torch.inference_mode()
def video_embeddings(model, pixel_values: torch.Tensor) -> torch.Tensor:
    """`(videos, views, frames, 3, H, W)` pixel values -> `(videos, D)` float32 on the CPU: for each video the
    L2-normalised mean of its views' L2-normalised embeddings (cosine similarity is then a dot product)."""
    num_videos, num_views = pixel_values.shape[:2]
    flat = pixel_values.flatten(0, 1).to(device=model.device, dtype=model.dtype)
    embeds = torch.nn.functional.normalize(model.get_video_features(flat).pooler_output.float(), dim=-1)
    return torch.nn.functional.normalize(embeds.view(num_videos, num_views, -1).mean(dim=1), dim=-1).cpu()


def describe(settings: dict) -> str:
    sampling = settings["sampling"]
    return (
        f"model {settings['model']} (weights sha256 {settings['model_sha256'][:12]}), {sampling['num_frames']} frames "
        f"x {sampling['num_clips']} view(s), {sampling['sampling']} sampling, {settings['dtype']} embeddings"
    )


def _features(dim: int, dtype: str):
    from datasets import Features, List, Value

    sampling = {"num_frames": "int32", "num_clips": "int32", "sampling": "string", "frame_stride": "int32"}
    return Features({
        "path": Value("string"),
        "label": Value("string"),
        "embedding": List(Value(dtype), length=dim),
        "video_frames": Value("int64"),
        "duration": Value("float64"),
        "sampling": {**{key: Value(kind) for key, kind in sampling.items()}, "target_fps": Value("float64")},
        "model": Value("string"),
        "model_sha256": Value("string"),
    })  # fmt: skip


def _shards(directory: Path) -> list[Path]:
    return sorted((directory / "shards").glob("shard-*"))


def _save_dataset(dataset, path: Path, settings: dict, faiss_index: bool = False) -> None:
    """`save_to_disk` into a staging folder renamed into place (`weights.commit_directory`: the folder is ours
    whole), with the settings in the dataset's info and, if asked, a FAISS HNSW index of the embeddings (inner
    product = cosine)."""
    dataset.info.description = json.dumps(settings)
    staging = fresh_staging_directory(path)
    try:
        dataset.save_to_disk(staging)
        if faiss_index:
            import faiss

            dataset.add_faiss_index("embedding", string_factory="HNSW32", metric_type=faiss.METRIC_INNER_PRODUCT)
            dataset.get_index("embedding").faiss_index.hnsw.efSearch = 128  # saved with the index
            dataset.save_faiss_index("embedding", os.path.join(staging, FAISS_FILE))
        commit_directory(staging, path, replace_whole=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _check_output_dir(directory: Path, settings: dict) -> None:
    marker = directory / COLLECTION_FILE
    if directory.exists() and not directory.is_dir():
        raise CollectionError(f"{directory} is a file: the output must be a folder")
    if marker.is_file():
        existing = json.loads(marker.read_text(encoding="utf-8"))
        if any(existing.get(key) != settings[key] for key in COMPARED):
            raise CollectionError(
                f"{directory} holds embeddings of {describe(existing)}; this run would add {describe(settings)}. "
                "Use the same model and settings, or another folder."
            )
    elif directory.is_dir() and any(directory.iterdir()):
        names = ", ".join(sorted(entry.name for entry in directory.iterdir())[:5])
        raise CollectionError(
            f"{directory} holds other files ({names}) and no {COLLECTION_FILE}: give a new or empty folder, or one "
            "written by `open-vclip embed`"
        )


def _merge(directory: Path, settings: dict, faiss_index: bool | None) -> int:
    """Merge every shard into `directory/dataset` unless it is up to date; the number of rows."""
    import datasets

    parts = [datasets.load_from_disk(str(shard)) for shard in _shards(directory)]
    rows = sum(part.num_rows for part in parts)
    if faiss_index is None:
        faiss_index = rows >= FAISS_MIN_ROWS and importlib.util.find_spec("faiss") is not None
    target = directory / "dataset"
    if (target / "state.json").is_file() and datasets.load_from_disk(str(target)).num_rows == rows:
        if not faiss_index or (target / FAISS_FILE).is_file():
            return rows
    if parts:  # sorted by path through an in-memory index: `sort` would write a cache file into a shard
        merged = datasets.concatenate_datasets(parts)
        paths = merged["path"][:]
        _save_dataset(
            merged.select(sorted(range(rows), key=paths.__getitem__), keep_in_memory=True),
            target,
            settings,
            faiss_index,
        )
    return rows


def embed_collection(
    source,
    model,
    output_dir: str | os.PathLike,
    processor=None,
    dtype: str = "float32",
    sampling: dict | None = None,
    batch_size: int = 8,
    num_workers: int = 2,
    shard_size: int = 1000,
    faiss_index: bool | None = None,
    video_column: str = "video",
    label_column: str = "label",
    device: str | None = None,
    model_dtype: torch.dtype | None = None,
    progress: bool = True,
) -> dict:
    """Embed the videos of `source` that `output_dir` does not hold yet (see the module docstring).

    Args:
        source: see [`read_videos`].
        model: an Open-VCLIP folder or Hub id, or an [`OpenVCLIPModel`] (with `processor`, else the default one).
        output_dir: the collection folder: new, empty, or written before by the same model and settings.
        dtype: of the stored embeddings, `"float32"` or `"float16"` (half the size).
        sampling: overrides of the processor's `num_frames`, `num_clips`, `sampling`, `frame_stride`, `target_fps`.
        batch_size: videos per forward pass. num_workers: decoding processes (0: in this process).
        shard_size: videos per shard, what a killed run loses at most (per process).
        faiss_index: build a FAISS index of the merged embeddings; `None`: when `faiss` is installed and the
            collection holds at least `FAISS_MIN_ROWS` videos.
        device, model_dtype: where and in which precision the model runs (`accelerate launch` on GPUs: one each).
        progress: a progress bar (videos/s) on stderr, main process only.

    Returns (in every process) `{"embedded": int, "failed": [(path, error)], "skipped": int, "rows": int,
    "dataset": Path}`: this run's new rows, its failures, the videos found already embedded, the collection's size.
    """
    import datasets
    from accelerate.utils import gather_object
    from tqdm.auto import tqdm

    if dtype not in ("float32", "float16"):
        raise ValueError(f"dtype must be 'float32' or 'float16', got {dtype!r}")
    if shard_size < 1:
        raise ValueError(f"shard_size must be a positive integer, got {shard_size}")
    videos, labels = read_videos(source, video_column, label_column)  # before the model: a bad source fails fast
    videos = [os.path.abspath(video) if isinstance(video, str) and "://" not in video else video for video in videos]
    local = [video for video in videos if isinstance(video, str) and os.path.isabs(video)]
    if local and len(local) == len(videos) and not any(os.path.isfile(video) for video in local):
        raise DataError(f"{source}: none of the {len(videos)} videos it lists exists (the first: {local[0]})")
    keys = [video if isinstance(video, str) else "sha256:" + hashlib.sha256(video).hexdigest() for video in videos]

    state = process_state(device)
    if state.num_processes > 1 and state.device.type != "cpu":  # `accelerate launch` on GPUs: one GPU per process
        device = state.device
    model, processor, name, sha256 = load_model(model, processor, device, model_dtype)
    settings = {"format": FORMAT, "model": name, "model_sha256": sha256, "dtype": dtype}
    settings["sampling"] = {key: getattr(processor, key) for key in SAMPLING_KEYS} | dict(sampling or {})
    check_sampling_args(**settings["sampling"])
    output_dir = Path(output_dir).absolute()
    shards = output_dir / "shards"
    _check_output_dir(output_dir, settings)  # every process: all of them stop on a bad folder
    state.wait_for_everyone()
    if state.is_main_process:
        shards.mkdir(parents=True, exist_ok=True)
        if not (output_dir / COLLECTION_FILE).is_file():
            (output_dir / COLLECTION_FILE).write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
        for stale in [*output_dir.glob(".dataset.*"), *shards.glob(".shard-*")]:
            shutil.rmtree(stale)  # left by a killed run: a shard or merge not (or not quite) renamed into place
    state.wait_for_everyone()

    done = {path for shard in _shards(output_dir) for path in datasets.load_from_disk(str(shard))["path"]}
    first = {}
    for index, key in enumerate(keys):
        first.setdefault(key, index)
    todo = [index for key, index in first.items() if key not in done]
    state.wait_for_everyone()  # every process has listed the same shards before any writes a new one
    with state.split_between_processes(todo) as mine:
        mine = list(mine)
    process = state.process_index
    number = 1 + max((int(path.name.rsplit("-", 1)[1]) for path in shards.glob(f"shard-{process:03d}-*")), default=-1)
    features = _features(model.config.projection_dim, dtype)
    rows, failed, embedded = [], [], 0

    def write(batch_rows):
        nonlocal number
        shard = datasets.Dataset.from_list(batch_rows, features=features)
        _save_dataset(shard, shards / f"shard-{process:03d}-{number:06d}", settings)
        number += 1

    dataset = _ClipsWithHeader([videos[i] for i in mine], processor, **settings["sampling"])
    bar = tqdm(total=len(mine), desc="embedding", unit="video", disable=not progress or not state.is_main_process)
    for batch in clip_loader(dataset, batch_size, num_workers, _collate_with_headers):
        failed += [(keys[mine[index]], error) for index, error in batch["failures"]]
        if batch["pixel_values"] is not None:
            embeds = video_embeddings(model, batch["pixel_values"]).numpy().astype(dtype)
            for index, embed, (frames, seconds) in zip(batch["indices"], embeds, batch["headers"]):
                rows.append({
                    "path": keys[mine[index]], "label": labels[mine[index]], "embedding": embed,
                    "video_frames": frames, "duration": seconds, "sampling": settings["sampling"],
                    "model": name, "model_sha256": sha256,
                })  # fmt: skip
        while len(rows) >= shard_size:
            write(rows[:shard_size])
            embedded, rows = embedded + shard_size, rows[shard_size:]
        bar.update(len(batch["indices"]) + len(batch["failures"]))
        bar.set_postfix(failed=len(failed), refresh=False)
    bar.close()
    if rows:
        write(rows)
        embedded += len(rows)
    if state.num_processes > 1:
        failed = gather_object(failed)
        embedded = sum(gather_object([embedded]))
    total = _merge(output_dir, settings, faiss_index) if state.is_main_process else None
    state.wait_for_everyone()
    total = len(done) + embedded if total is None else total
    return {"embedded": embedded, "failed": failed, "skipped": len(first) - len(todo), "rows": total,
            "dataset": output_dir / "dataset"}  # fmt: skip


def _top_k(embeddings: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact search: the scores and rows of the `k` largest dot products, best first."""
    scores = embeddings @ query
    k = min(k, len(scores))
    rows = np.argpartition(-scores, k - 1)[:k]
    rows = rows[np.argsort(-scores[rows], kind="stable")]
    return scores[rows], rows


class VideoCollection:
    """A collection folder written by [`embed_collection`], searched with the model that embedded it.

    ```python
    >>> collection = VideoCollection("my-collection")  # loads the model recorded in the collection
    >>> collection.search("a dog catching a frisbee", top_k=3)
    [{'path': '.../frisbee_03.mp4', 'label': None, 'score': 0.312, 'row': 17}, ...]
    >>> collection.search(video="query.mp4")  # videos similar to this one
    ```

    Args:
        directory: the collection folder.
        model: a folder / Hub id or a loaded model (default: the one recorded); it must hold exactly the weights the
            videos were embedded with (else a [`CollectionError`] naming both).
        processor, device, dtype: the model's processor (default: loaded with it), device and precision.
    """

    def __init__(self, directory, model=None, processor=None, device=None, dtype: torch.dtype | None = None):
        import datasets

        self.directory = Path(directory)
        marker = self.directory / COLLECTION_FILE
        if not marker.is_file():
            raise CollectionError(
                f"{self.directory} is not a video collection (no {COLLECTION_FILE}): create one with "
                f"`open-vclip embed SOURCE --model MODEL --out {self.directory}`"
            )
        self.settings = json.loads(marker.read_text(encoding="utf-8"))
        if not (self.directory / "dataset" / "state.json").is_file():
            raise CollectionError(
                f"{self.directory} holds no merged embeddings yet (its first run did not finish or embedded nothing): "
                "run the same `open-vclip embed` command again"
            )
        self.dataset = datasets.load_from_disk(str(self.directory / "dataset"))
        model = self.settings["model"] if model is None else model
        self.model, self.processor, name, sha256 = load_model(model, processor, device, dtype)
        if sha256 != self.settings["model_sha256"]:
            raise CollectionError(
                f"{self.directory} was embedded with {self.settings['model']} (weights sha256 "
                f"{self.settings['model_sha256'][:12]}), the query model {name} has other weights (sha256 "
                f"{sha256[:12]}): queries must be embedded by the model that embedded the videos"
            )
        index = self.directory / "dataset" / FAISS_FILE
        if index.is_file() and importlib.util.find_spec("faiss") is not None:
            self.dataset.load_faiss_index("embedding", str(index))

    def __len__(self) -> int:
        return self.dataset.num_rows

    @cached_property
    def embeddings(self) -> np.ndarray:
        """`(videos, D)` float32, L2-normalised, in row order."""
        return self.dataset.with_format("numpy", columns=["embedding"])[:]["embedding"].astype(np.float32)

    def query_embedding(self, text=None, video=None, templates=PROMPT_TEMPLATES, num_frames: int | None = None):
        """The L2-normalised `(D,)` float32 embedding of `text` (prompt `templates`: the 28 of the official code or
        e.g. `"a video of {}."`) or of `video` (sampled as the collection's videos were)."""
        if (text is None) == (video is None):
            raise ValueError("give a text query or a video, one of them")
        if text is not None:
            with torch.inference_mode():
                return build_class_embeddings(self.model, self.processor, [text], templates)[0].float().cpu().numpy()
        sampling = self.settings["sampling"]
        if num_frames is not None and num_frames != sampling["num_frames"]:
            raise CollectionError(
                f"{self.directory} was embedded with {sampling['num_frames']} frames per view; a query video with "
                f"{num_frames} frames would not be compared like with like (leave the frame count out)"
            )
        _, pixel_values, error = VideoClipsDataset([video], self.processor, **sampling)[0]
        if error:
            raise ValueError(f"the query video cannot be read: {error}")
        return video_embeddings(self.model, pixel_values[None])[0].numpy()

    def search(self, text=None, video=None, top_k: int = 10, templates=PROMPT_TEMPLATES, num_frames=None, exact=None):
        """The `top_k` videos most similar (cosine) to `text` or to `video` (see [`query_embedding`]), best first,
        as `{"path", "label", "score", "row"}`. `exact=True` compares with every embedding (numpy), `False` asks the
        FAISS index, `None` (default) uses the index where the collection has one."""
        if top_k < 1:
            raise ValueError(f"top_k must be a positive integer, got {top_k}")
        query = self.query_embedding(text, video, templates, num_frames)
        has_index = self.dataset.is_index_initialized("embedding")
        if exact is False and not has_index:
            raise CollectionError(f"{self.directory} has no FAISS index: embed with --faiss (faiss-cpu installed)")
        if has_index and not exact:
            scores, rows = self.dataset.search("embedding", query, k=min(top_k, len(self)))
        else:
            scores, rows = _top_k(self.embeddings, query, top_k)
        found = self.dataset.select_columns(["path", "label"])
        return [
            {**found[int(row)], "score": float(score), "row": int(row)} for score, row in zip(scores, rows) if row >= 0
        ]


__all__ = [
    "COLLECTION_FILE",
    "CollectionError",
    "VideoCollection",
    "embed_collection",
    "load_model",
    "read_videos",
    "video_embeddings",
    "video_header",
    "weights_sha256",
]
