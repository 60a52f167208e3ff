# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Video collections: embed many videos once ([`embed_collection`], `open-vclip embed`), then search them by text or
by an example video ([`VideoCollection`], `open-vclip search`). A collection is a folder: `collection.json` (model,
weights SHA-256, settings), `shards/shard-P-N/` (`datasets` folders written by process P, each renamed into place
whole) and `dataset/` (the rows of every shard sorted by path, with `faiss.index` if built)."""

import hashlib
import importlib.util
import json
import os
import shutil
from functools import cached_property
from pathlib import Path

import av
import datasets
import numpy as np
import torch
from accelerate.utils import gather_object
from datasets import Features, List, Value

from .data import DataError, dataset_videos, find_videos, read_csv, read_dataset, read_path_list
from .evaluation.runner import VideoClipsDataset, decoded_batches, process_state
from .evaluation.zero_shot import load_model_and_processor
from .prompts import PROMPT_TEMPLATES, build_class_embeddings
from .video_decoding import check_sampling_args, open_container
from .weights import staged_directory, write_atomically

FORMAT = "open-vclip-collection/1"
COLLECTION_FILE = "collection.json"
FAISS_FILE = "faiss.index"
FAISS_MIN_ROWS = 20_000  # with faiss installed, collections this large get an index unless told otherwise
SAMPLING_KEYS = ("num_frames", "num_clips", "sampling", "frame_stride", "target_fps")


class CollectionError(ValueError):
    """A folder that cannot be written or searched as asked; the message names the folder and what differs."""


def read_videos(source, video_column: str = "video", label_column: str = "label") -> tuple[list, list]:
    """`(videos, labels)` of a folder (its video files, recursively), a `path,label` CSV, a text file of paths or URLs
    (one per line), or a `datasets.Dataset` (or its `save_to_disk` folder) with a `video_column` and optionally a
    `label_column`. `labels[i]` is a class name, or `None`."""
    listed = videos = None
    path = Path(source) if isinstance(source, (str, os.PathLike)) else None
    if path is not None and (path / "state.json").is_file():
        source, path = datasets.load_from_disk(str(path)), None
    if path is None:
        if label_column in source.column_names:
            listed = read_dataset(source, video_column, label_column)
        else:
            videos = dataset_videos(source, video_column)
    elif path.is_dir():
        videos = find_videos(path)
        if not videos:
            raise DataError(f"{path}: no video files in this folder or below")
    elif path.suffix.lower() == ".csv" and "," in path.read_text(encoding="utf-8", errors="replace"):
        listed = read_csv(path)
    else:
        videos = read_path_list(path)
    if listed is not None:
        return listed.videos, [listed.class_names[label] for label in listed.labels]
    return videos, [None] * len(videos)


def video_header(video) -> tuple[int, float]:
    """`(frames, seconds)` of a video path or bytes from its container header (0 where the header has none)."""
    with open_container(video) as container:
        stream = container.streams.video[0]
        duration = stream.duration * stream.time_base if stream.duration else (container.duration or 0) / av.time_base
        return stream.frames or round(float(duration) * float(stream.average_rate or 0)), float(duration)


def weights_sha256(model: torch.nn.Module) -> str:
    """SHA-256 of a model's state dict (names, dtypes, shapes, values): which weights embedded a collection."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(f"{name} {tensor.dtype} {tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def load_model(model, processor=None, device=None, dtype: torch.dtype | None = None):
    """`(model, processor, name, sha256)`: [`load_model_and_processor`], hashed before the cast to `dtype`; `name` is
    the absolute path of a local folder, else the Hub id or the loaded model's `name_or_path`."""
    if isinstance(model, (str, os.PathLike)):
        model = os.path.abspath(model) if os.path.isdir(model) else str(model)
    model, processor = load_model_and_processor(model, processor, device)
    sha256 = weights_sha256(model)
    return model.to(dtype=dtype), processor, model.config.name_or_path or type(model).__name__, sha256


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


def _save_dataset(dataset, path: Path, settings: dict, faiss_index: bool = False) -> None:
    """`save_to_disk` with the settings in `info.description` and, if asked, a FAISS HNSW index (inner product =
    cosine), in a staging folder renamed into place whole (a killed run leaves only the staging folder)."""
    dataset.info.description = json.dumps(settings)
    with staged_directory(path, replace_whole=True) as staging:  # e.g. faiss missing: no copy of the dataset left
        dataset.save_to_disk(staging)
        if faiss_index:
            import faiss

            dataset.add_faiss_index("embedding", string_factory="HNSW32", metric_type=faiss.METRIC_INNER_PRODUCT)
            dataset.get_index("embedding").faiss_index.hnsw.efSearch = 128  # saved with the index
            dataset.save_faiss_index("embedding", os.path.join(staging, FAISS_FILE))


def _merge(directory: Path, settings: dict, faiss_index: bool | None) -> int:
    """Merge every shard into `directory/dataset`, sorted by path, unless it is up to date; the number of rows."""
    parts = [datasets.load_from_disk(str(shard)) for shard in sorted((directory / "shards").glob("shard-*"))]
    rows = sum(part.num_rows for part in parts)
    target = directory / "dataset"
    indexed = (target / FAISS_FILE).is_file()
    if faiss_index is None:  # an index stays; a collection without one gets one from FAISS_MIN_ROWS videos
        faiss_index = indexed or (rows >= FAISS_MIN_ROWS and importlib.util.find_spec("faiss") is not None)
    up_to_date = (target / "state.json").is_file() and datasets.load_from_disk(str(target)).num_rows == rows
    if rows and not (up_to_date and faiss_index == indexed):
        merged = datasets.concatenate_datasets(parts)  # sorted in memory: `sort` would write a cache into a shard
        order = sorted(range(rows), key=merged["path"][:].__getitem__)
        _save_dataset(merged.select(order, keep_in_memory=True), target, settings, faiss_index)
    return rows


def embed_collection(
    source, model, output_dir: str | os.PathLike, processor=None, dtype: str = "float32", sampling: dict | None = None,
    batch_size: int = 8, num_workers: int = 2, shard_size: int = 1000, faiss_index: bool | None = None,
    video_column: str = "video", label_column: str = "label", device: str | None = None,
    model_dtype: torch.dtype | None = None, progress: bool = True,
) -> dict:  # fmt: skip
    """Embed the videos of `source` (see [`read_videos`]) that the collection `output_dir` does not hold yet.

    Append-only and resumable: new rows go to shards of `shard_size` (what a killed run loses at most), then all shards
    are merged into `output_dir/dataset`, each written atomically. Under `accelerate launch` the processes share the
    missing videos and the main process merges. `dtype`: of the stored embeddings (`"float32"` or `"float16"`);
    `sampling` overrides the processor's; `faiss_index=None`: keep an existing index, else one when `faiss` is
    installed and the collection holds `FAISS_MIN_ROWS` videos; `model_dtype`: the model's precision.

    Returns (in every process) `{"embedded", "failed": [(path, error)], "skipped", "rows", "dataset"}`.
    """
    if dtype not in ("float32", "float16"):
        raise ValueError(f"dtype must be 'float32' or 'float16', got {dtype!r}")
    if shard_size < 1:
        raise ValueError(f"shard_size must be a positive integer, got {shard_size}")
    indexed = (Path(output_dir) / "dataset" / FAISS_FILE).is_file()  # kept by default: checked before any embedding
    if (faiss_index or faiss_index is None and indexed) and importlib.util.find_spec("faiss") is None:
        raise CollectionError(f"the FAISS index of {output_dir} needs faiss-cpu: install it, or pass --no-faiss")
    videos, labels = read_videos(source, video_column, label_column)  # before the model: a bad source fails fast
    videos = [os.path.abspath(video) if isinstance(video, str) and "://" not in video else video for video in videos]
    local = [video for video in videos if isinstance(video, str) and "://" not in video]
    if local and len(local) == len(videos) and not any(map(os.path.isfile, local)):
        raise DataError(f"{source}: none of the {len(videos)} videos it lists exists (the first: {local[0]})")
    keys = [video if isinstance(video, str) else "sha256:" + hashlib.sha256(video).hexdigest() for video in videos]

    state = process_state(device)
    model, processor, name, sha256 = load_model(model, processor, device, model_dtype)
    sampling = {key: getattr(processor, key) for key in SAMPLING_KEYS} | dict(sampling or {})
    check_sampling_args(**sampling)
    settings = {"format": FORMAT, "model": name, "model_sha256": sha256, "dtype": dtype, "sampling": sampling}
    output_dir = Path(output_dir).absolute()
    shards, marker = output_dir / "shards", output_dir / COLLECTION_FILE
    if output_dir.exists() and not output_dir.is_dir():  # every process checks: all of them stop on a bad folder
        raise CollectionError(f"{output_dir} is a file: the output must be a folder")
    if marker.is_file():
        existing = json.loads(marker.read_text(encoding="utf-8"))
        if any(existing.get(key) != settings[key] for key in ("model_sha256", "sampling", "dtype")):
            raise CollectionError(
                f"{output_dir} holds embeddings of {describe(existing)}; this run would add {describe(settings)}. "
                "Use the same model and settings, or another folder."
            )
    elif output_dir.is_dir() and any(output_dir.iterdir()):
        names = ", ".join(sorted(entry.name for entry in output_dir.iterdir())[:5])
        raise CollectionError(
            f"{output_dir} holds other files ({names}) and no {COLLECTION_FILE}: give a new or empty folder, or one "
            "written by `open-vclip embed`"
        )
    state.wait_for_everyone()
    if state.is_main_process:
        shards.mkdir(parents=True, exist_ok=True)
        if not marker.is_file():
            write_atomically(
                marker, lambda path: path.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
            )
        for stale in [*output_dir.glob(".dataset.*"), *shards.glob(".shard-*")]:
            shutil.rmtree(stale)  # left by a killed run: a shard or merge not (or not quite) renamed into place
    state.wait_for_everyone()

    done = {path for shard in sorted(shards.glob("shard-*")) for path in datasets.load_from_disk(str(shard))["path"]}
    first = {}
    for index, key in enumerate(keys):
        first.setdefault(key, index)  # each video once, at its first index
    todo = sorted(index for key, index in first.items() if key not in done)
    state.wait_for_everyone()  # every process has listed the same shards before any writes a new one
    process = state.process_index
    number = 1 + max((int(path.name.rsplit("-", 1)[1]) for path in shards.glob(f"shard-{process:03d}-*")), default=-1)
    sampling_types = dict(zip(SAMPLING_KEYS, ("int32", "int32", "string", "int32", "float64")))
    features = Features({
        "path": Value("string"), "label": Value("string"),
        "embedding": List(Value(dtype), length=model.config.projection_dim),
        "video_frames": Value("int64"), "duration": Value("float64"),
        "sampling": {key: Value(kind) for key, kind in sampling_types.items()},
        "model": Value("string"), "model_sha256": Value("string"),
    })  # fmt: skip
    rows, failed, written = [], [], []

    def save_shard(chunk):
        shard = datasets.Dataset.from_list(chunk, features=features)
        _save_dataset(shard, shards / f"shard-{process:03d}-{number + len(written):06d}", settings)
        written.append(shard.num_rows)

    for batch in decoded_batches(  # each video read once: a URL is not downloaded again for its header
        state, videos, processor, sampling, batch_size, num_workers, "embedding", progress, todo, video_header
    ):
        failed += [(keys[index], error) for index, error in batch["failures"]]
        if batch["pixel_values"] is not None:
            embeds = video_embeddings(model, batch["pixel_values"]).numpy().astype(dtype)
            for index, embed, (frames, seconds) in zip(batch["indices"], embeds, batch["headers"]):
                rows.append({
                    "path": keys[index], "label": labels[index], "embedding": embed,
                    "video_frames": frames, "duration": seconds, "sampling": sampling,
                    "model": name, "model_sha256": sha256,
                })  # fmt: skip
        while len(rows) >= shard_size:
            save_shard(rows[:shard_size])
            rows = rows[shard_size:]
    if rows:
        save_shard(rows)
    failed, embedded = gather_object(failed), sum(gather_object([sum(written)]))
    total = _merge(output_dir, settings, faiss_index) if state.is_main_process else len(done) + embedded
    state.wait_for_everyone()
    return {"embedded": embedded, "failed": failed, "skipped": len(first) - len(todo), "rows": total,
            "dataset": output_dir / "dataset"}  # fmt: skip


def _top_k(embeddings: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact search: the scores and rows of the `k` largest dot products, best first."""
    scores, rows = torch.from_numpy(embeddings @ query).topk(min(k, len(embeddings)))
    return scores.numpy(), rows.numpy()


class VideoCollection:
    """A collection folder written by [`embed_collection`], searched with the model that embedded it.

    ```python
    >>> collection = VideoCollection("my-collection")  # loads the model recorded in the collection
    >>> collection.search("a dog catching a frisbee", top_k=3)  # or search(video="query.mp4"): similar videos
    [{'path': '.../frisbee_03.mp4', 'label': None, 'score': 0.312, 'row': 17}, ...]
    ```
    `model` (default: the one recorded) must hold the weights the videos were embedded with ([`CollectionError`]).
    """

    def __init__(self, directory, model=None, processor=None, device=None, dtype: torch.dtype | None = None):
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
            return build_class_embeddings(self.model, self.processor, [text], templates)[0].float().cpu().numpy()
        sampling = self.settings["sampling"]
        if num_frames is not None and num_frames != sampling["num_frames"]:
            raise CollectionError(
                f"{self.directory} was embedded with {sampling['num_frames']} frames per view; a query video with "
                f"{num_frames} frames would not be compared like with like (leave the frame count out)"
            )
        _, pixel_values, error, _ = VideoClipsDataset([video], self.processor, **sampling)[0]
        if error:
            raise ValueError(f"the query video cannot be read: {error}")
        return video_embeddings(self.model, pixel_values[None])[0].numpy()

    def search(self, text=None, video=None, top_k: int = 10, templates=PROMPT_TEMPLATES, num_frames=None, exact=None):
        """The `top_k` videos most similar (cosine) to `text` or to `video` (see [`query_embedding`]), best first,
        as `{"path", "label", "score", "row"}`. `exact=True` compares with every embedding, `False` asks the FAISS
        index, `None` (default) uses the index where the collection has one."""
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


__all__ = ["COLLECTION_FILE", "CollectionError", "VideoCollection", "embed_collection", "load_model", "read_videos",
           "video_embeddings", "video_header", "weights_sha256"]  # fmt: skip
