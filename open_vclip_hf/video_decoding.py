# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Open any video input, choose which frames to look at (uniform or the paper's dense clips), decode only those.

Self-contained on purpose (stdlib, numpy, PyAV, PIL, torch): this file is copied unchanged into Hub repositories and
loaded there with `trust_remote_code=True`.

Two entry points:

- [`sample_frame_indices`]: the pure index arithmetic, `(num_clips, num_frames)` indices for a video of `N` frames.
- [`load_video`]: open a path / URL / bytes / file object (or take already decoded frames), count its frames, sample
  indices and decode just those frames, as `uint8` RGB of shape `(num_clips, num_frames, height, width, 3)`.

Limits on untrusted input, module attributes to set like `PIL.Image.MAX_IMAGE_PIXELS` (`None`: no limit):

- `MAX_VIDEO_PIXELS` (8192 x 4320, DCI 8K): videos with more pixels per frame (width x height) are refused with a
  `VideoDecodingError` before any frame is decoded (one 8192 x 8192 RGB frame is 200 MB).
- `MAX_DOWNLOAD_BYTES` (512 MiB): a URL's body is streamed into memory and refused once it is larger.
- `DOWNLOAD_TIMEOUT_SECONDS` (60): total time for a download (connecting, redirects and the whole body).
- `ALLOW_PRIVATE_ADDRESSES` (`True`): with `False` (`open-vclip serve` sets it, unless `--allow-private-urls`), a
  URL or redirect whose host resolves to a loopback, private, link-local or otherwise non-public address is refused,
  so that a server does not fetch internal URLs for its users (the name is resolved for the check; a DNS answer that
  changes before urllib connects is not caught). Redirects are followed to http(s) URLs only.
"""

import collections
import http.client
import io
import ipaddress
import math
import os
import re
import socket
import threading
import time
import urllib.parse
import urllib.request
from typing import BinaryIO

import av
import numpy as np
import torch
from PIL import Image
from transformers.utils import logging as hf_logging

logger = hf_logging.get_logger(__name__)


SAMPLING_MODES = ("uniform", "dense")

# Limits (see the module docstring); set them like `PIL.Image.MAX_IMAGE_PIXELS`, `None` for no limit.
MAX_VIDEO_PIXELS = 8192 * 4320
MAX_DOWNLOAD_BYTES = 512 * 2**20
DOWNLOAD_TIMEOUT_SECONDS = 60
ALLOW_PRIVATE_ADDRESSES = True
# Keep decoding forward while the next wanted frame is at most this many seconds ahead, seek beyond that. A seek
# restarts decoding at the keyframe before the target, and keyframes are commonly 1 to 10 seconds apart.
SEEK_THRESHOLD_SECONDS = 3.0
# H.264: leave out non-reference pictures that no wanted frame needs (see `_Reader`); `False` decodes every picture.
DROP_NON_REFERENCE_PICTURES = True

VideoInput = str | os.PathLike | bytes | BinaryIO | np.ndarray | torch.Tensor | list[Image.Image]


class VideoDecodingError(ValueError):
    """A video input could not be opened or decoded. The message names the input and the cause."""


def check_sampling_args(num_frames: int, sampling: str, num_clips: int, frame_stride: int, target_fps: float):
    """Raise a `ValueError` unless the sampling settings of [`sample_frame_indices`] are valid."""
    if sampling not in SAMPLING_MODES:
        raise ValueError(f"`sampling` must be one of {SAMPLING_MODES}, got {sampling!r}.")
    for name, value in (("num_frames", num_frames), ("num_clips", num_clips), ("frame_stride", frame_stride)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    if not target_fps > 0:
        raise ValueError(f"`target_fps` must be positive, got {target_fps!r}.")


def sample_frame_indices(
    num_video_frames: int,
    num_frames: int = 8,
    sampling: str = "uniform",
    num_clips: int = 1,
    frame_stride: int = 16,
    fps: float | None = None,
    target_fps: float = 30,
    generator: np.random.Generator | None = None,
) -> np.ndarray:
    r"""
    Indices of the frames to look at in a video of `num_video_frames` frames.

    With `N = num_video_frames`, `T = num_frames`, `V = num_clips`, `j = 0..T-1` (frame) and `k = 0..V-1` (view):

    - `"uniform"`: the video is cut into `T` equal segments and every view takes one frame per segment, view `k` at
      the fraction `(k + 1/2) / V` of each segment:

          index[k, j] = floor((j + (k + 1/2) / V) * N / T)

      so one view takes the centre of each segment. With a `generator` (training), each frame is drawn uniformly
      within its segment instead: `floor((j + u) * N / T)` with `u ~ U[0, 1)`.
    - `"dense"`: Open-VCLIP's clips of `T` frames `frame_stride` frames apart at `target_fps` frames per second
      (8 x 16 at 30 fps, method doc sections 4 and 5; PySlowFast `decoder.py`, `get_start_end_idx` and
      `temporal_sampling`). A clip spans `L = max(1, T * frame_stride * fps / target_fps)` frames of this video,
      `delta = max(N - L, 0)` and the views start at the beginning, middle and end (`USE_OFFSET_SAMPLING`):

          start[k]    = floor(delta / 2)                 if V == 1
                        k * floor(delta / (V - 1))       otherwise
          index[k, j] = start[k] + floor(linspace(0, L - 1, T)[j])

      With a `generator` (training), every start is `floor(U(0, delta))` instead (PySlowFast's `clip_idx=-1`).
      Note: the official evaluation decoded UCF101, K400 and K600 with PySlowFast's PyAV backend, which drops
      `USE_OFFSET_SAMPLING` and starts view `k` at `delta * k / V`; HMDB51 (torchvision backend) and the intent of
      the configuration are the start/middle/end positions used here.

    Indices past the end are clamped to `N - 1`, so a video shorter than a clip repeats frames.

    Args:
        num_video_frames (`int`):
            Number of frames in the video, `N`.
        num_frames (`int`, *optional*, defaults to 8):
            Frames per view, `T`.
        sampling (`str`, *optional*, defaults to `"uniform"`):
            `"uniform"` or `"dense"`, see above.
        num_clips (`int`, *optional*, defaults to 1):
            Number of views, `V` (3 in the paper's evaluation, method doc section 5).
        frame_stride (`int`, *optional*, defaults to 16):
            Distance between two frames of a dense clip, counted at `target_fps`.
        fps (`float`, *optional*):
            Frame rate of the video. Defaults to `target_fps` (no rate conversion). Only used by `"dense"`.
        target_fps (`float`, *optional*, defaults to 30):
            Frame rate at which `frame_stride` is counted. Only used by `"dense"`.
        generator (`np.random.Generator`, *optional*):
            When given, views are placed at random (training-time temporal jitter) instead of deterministically.

    Returns:
        `np.ndarray` of shape `(num_clips, num_frames)` and dtype `int64`.
    """
    check_sampling_args(num_frames, sampling, num_clips, frame_stride, target_fps)
    if not isinstance(num_video_frames, (int, np.integer)) or num_video_frames < 1:
        raise ValueError(f"`num_video_frames` must be a positive integer, got {num_video_frames!r}.")
    frame = np.arange(num_frames)
    if sampling == "uniform":
        if generator is None:
            # Integer arithmetic: floor((j + (k + 1/2) / V) * N / T) without floating-point rounding.
            view = np.arange(num_clips)[:, None]
            indices = num_video_frames * (2 * num_clips * frame + 2 * view + 1) // (2 * num_clips * num_frames)
        else:
            offsets = generator.random((num_clips, num_frames))
            indices = np.floor((frame + offsets) * num_video_frames / num_frames)
    else:
        fps = target_fps if fps is None else fps
        clip_length = max(1.0, num_frames * frame_stride * fps / target_fps)
        delta = max(num_video_frames - clip_length, 0.0)
        if generator is not None:
            starts = np.floor(generator.uniform(0, delta, num_clips))
        elif num_clips == 1:
            starts = np.array([math.floor(delta / 2)])
        else:
            starts = np.arange(num_clips) * math.floor(delta / (num_clips - 1))
        indices = starts[:, None] + np.floor(np.linspace(0, clip_length - 1, num_frames))
    return np.minimum(indices, num_video_frames - 1).astype(np.int64)


def is_video_frame(obj) -> bool:
    """Whether `obj` is one frame (a PIL image or an `(H, W, 3)` array or tensor) rather than a whole video."""
    return isinstance(obj, Image.Image) or (isinstance(obj, (np.ndarray, torch.Tensor)) and obj.ndim == 3)


def load_video(
    video: VideoInput,
    num_frames: int = 8,
    sampling: str = "uniform",
    num_clips: int = 1,
    frame_stride: int = 16,
    target_fps: float = 30,
    fps: float | None = None,
    generator: np.random.Generator | None = None,
) -> np.ndarray:
    r"""
    Sample `num_clips` views of `num_frames` frames from one video (see [`sample_frame_indices`] for the indices).

    Encoded videos are opened with PyAV. Their frame count comes from the stream header (`stream.frames`), else from
    the duration (stream, then container) times the frame rate, else from counting packets, so `.mkv` / `.webm`
    files whose header has no frame count still work. The frames are those of a decode of every frame: the reader
    decodes forward and seeks when the next sampled frame is more than `SEEK_THRESHOLD_SECONDS` ahead (H.264: only
    onto IDR pictures), leaves out H.264 non-reference pictures that no sampled frame needs, and converts only the
    sampled frames to RGB. Index `i` stands for time `i / fps` after the first frame, so variable-frame-rate videos
    are sampled by time. Frames carrying a rotation (display matrix) are rotated upright.

    Args:
        video:
            One video: a path (`str` or `os.PathLike`), an `http(s)://` URL (downloaded into memory, see the limits
            in the module docstring), the bytes of a file, a binary file object (read into memory), or frames that
            are already decoded: a `(T, H, W, 3)` `uint8` array or tensor, or a list of PIL images or `(H, W, 3)`
            arrays. Batches are handled by `OpenVCLIPProcessor`.
        num_frames, sampling, num_clips, frame_stride, target_fps, generator:
            See [`sample_frame_indices`].
        fps (`float`, *optional*):
            Frame rate of already decoded frames (defaults to `target_fps`). Encoded videos use their own rate.

    Returns:
        `np.ndarray` of dtype `uint8` and shape `(num_clips, num_frames, height, width, 3)`.

    Raises:
        `VideoDecodingError` (a `ValueError`): the input is empty, not a video, has no video stream, is corrupt or
            truncated, exceeds `MAX_VIDEO_PIXELS`, or could not be downloaded. The message names the input and the
            cause.
        `FileNotFoundError`: a path that does not exist.
    """
    sampling_kwargs = {"num_frames": num_frames, "sampling": sampling, "num_clips": num_clips, "generator": generator}
    sampling_kwargs.update(frame_stride=frame_stride, target_fps=target_fps)
    frames = _as_frame_array(video)
    if frames is not None:
        return frames[sample_frame_indices(len(frames), fps=fps, **sampling_kwargs)]

    source, name = _read_source(video)
    try:
        with _open(source) as container:
            stream = _video_stream(container, name)
            _check_frame_size(stream.codec_context.width, stream.codec_context.height, name)
            num_video_frames, video_fps = _frame_count_and_rate(container, stream, default_fps=target_fps)
            if num_video_frames is None:
                num_video_frames = sum(1 for packet in container.demux(stream) if packet.size)
        try:
            indices, decoded = _sample_and_decode(source, num_video_frames, video_fps, name, sampling_kwargs)
        except _EndedEarly as ended:
            logger.warning(
                "%s: %s, not the %d its container's duration implies; sampling those", name, ended, num_video_frames
            )
            try:
                indices, decoded = _sample_and_decode(source, ended.frames, video_fps, name, sampling_kwargs)
            except _EndedEarly as again:  # the frames there are could not be counted from the timestamps
                raise VideoDecodingError(f"{name} is truncated or damaged: {again}, then fewer") from None
    except av.FFmpegError as error:
        hint = " (not a video FFmpeg can read, or a truncated or damaged file)" * isinstance(error, av.InvalidDataError)
        raise VideoDecodingError(f"Could not decode {name}: {error}{hint}") from error
    frames = np.stack([decoded[index] for index in indices.ravel().tolist()])
    return frames.reshape(*indices.shape, *frames.shape[1:])


def _sample_and_decode(source, num_video_frames: int, fps: float, name: str, sampling_kwargs: dict):
    """The frame indices to sample from a video of `num_video_frames` frames, and the frames at them."""
    indices = sample_frame_indices(num_video_frames, fps=fps, **sampling_kwargs)
    return indices, _decode_frames(source, np.unique(indices).tolist(), fps, name)


def _decode_frames(source, indices: list[int], fps: float, name: str, may_seek: bool = True) -> dict[int, np.ndarray]:
    """Upright RGB frames at the ascending `indices`, read by a [`_Reader`] from a fresh container (counting packets
    read to the end, and raw streams cannot seek back); from the top again, never seeking, after a seek that missed."""
    with _open(source) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frame threads: the fastest here (benchmarks/README.md)
        reader = _Reader(container, stream, fps, name, may_seek)
        try:
            return {index: _upright_rgb(reader.read(index)) for index in indices}
        except _SeekMissed:
            pass
    return _decode_frames(source, indices, fps, name, may_seek=False)


def _check_frame_size(width: int, height: int, name: str):
    if MAX_VIDEO_PIXELS is not None and width * height > MAX_VIDEO_PIXELS:
        raise VideoDecodingError(
            f"{name} is {width}x{height}: {width * height} pixels per frame, more than MAX_VIDEO_PIXELS = "
            f"{MAX_VIDEO_PIXELS} (set open_vclip_hf.video_decoding.MAX_VIDEO_PIXELS to allow it)."
        )


def _as_frame_array(video) -> np.ndarray | None:
    """Already decoded frames as a `(T, H, W, 3)` `uint8` array, or `None` if `video` is an encoded video."""
    if isinstance(video, (np.ndarray, torch.Tensor)):
        frames = _to_numpy(video)
    elif isinstance(video, (list, tuple)) and video and all(is_video_frame(frame) for frame in video):
        arrays = [np.asarray(f.convert("RGB")) if isinstance(f, Image.Image) else _to_numpy(f) for f in video]
        if len({array.shape for array in arrays}) > 1:
            raise VideoDecodingError(f"<list of {len(arrays)} frames>: frames differ in size.")
        frames = np.stack(arrays)
    else:
        return None
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise VideoDecodingError(
            f"<{type(video).__name__} of shape {tuple(frames.shape)} and dtype {frames.dtype}>: decoded frames must "
            "be uint8 RGB of shape (num_frames, height, width, 3) with at least one frame."
        )
    return frames


def _to_numpy(array: np.ndarray | torch.Tensor) -> np.ndarray:
    return array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else array


def _read_source(video) -> tuple[str | bytes, str]:
    """`(path or bytes, name for messages)` of an encoded video."""
    if isinstance(video, str) and video.startswith(("http://", "https://")):
        return _download(video), video
    if isinstance(video, (str, os.PathLike)):
        path = os.fspath(video)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"No video file at {path!r}.")
        if os.path.getsize(path) == 0:
            raise VideoDecodingError(f"{path} is an empty file.")
        return path, path
    if isinstance(video, (bytes, bytearray, memoryview)):
        data, name = bytes(video), f"<bytes of {len(video)}>"
    elif hasattr(video, "read"):
        name = f"<file object {getattr(video, 'name', type(video).__name__)}>"
        # Checked before reading: the bytes of a video opened in text mode fail to decode as text.
        data = None if isinstance(video, io.TextIOBase) else video.read()
        if not isinstance(data, bytes):
            raise VideoDecodingError(f"{name} is opened in text mode; open it with 'rb'.")
    else:
        raise TypeError(
            f"Unsupported video input of type {type(video).__name__}: expected a path, a URL, bytes, a binary file "
            "object, a (T, H, W, 3) uint8 array or tensor, or a list of frames. Batches go through OpenVCLIPProcessor."
        )
    if not data:
        raise VideoDecodingError(f"{name} is empty.")
    return data, name


def _download(url: str) -> bytes:
    """The body of `url`, fetched in a helper thread so that the answer comes by the deadline even from a server that
    stops sending (the thread then ends at its socket's timeout)."""
    deadline, outcome = time.monotonic() + DOWNLOAD_TIMEOUT_SECONDS, []

    def fetch():
        try:
            outcome.append(_fetch(url, deadline))
        except BaseException as error:  # noqa: BLE001 (re-raised by the caller)
            outcome.append(error)

    thread = threading.Thread(target=fetch, name=f"download {url}", daemon=True)
    thread.start()
    thread.join(DOWNLOAD_TIMEOUT_SECONDS)
    if not outcome:
        raise VideoDecodingError(f"Could not download {url}: not done within {DOWNLOAD_TIMEOUT_SECONDS} s.")
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    if not outcome[0]:
        raise VideoDecodingError(f"{url} is empty.")
    return outcome[0]


def _fetch(url: str, deadline: float) -> bytes:
    _check_url(url, url)
    opener = urllib.request.build_opener(_CheckedRedirects(url))
    chunks, size = [], 0
    try:
        with opener.open(url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
            declared = response.headers.get("Content-Length", "")
            declared = int(declared) if declared.isdigit() else 0
            while True:
                if MAX_DOWNLOAD_BYTES is not None and max(size, declared) > MAX_DOWNLOAD_BYTES:
                    raise VideoDecodingError(
                        f"Could not download {url}: larger than MAX_DOWNLOAD_BYTES = {MAX_DOWNLOAD_BYTES} (set "
                        "open_vclip_hf.video_decoding.MAX_DOWNLOAD_BYTES to allow it)."
                    )
                if time.monotonic() > deadline:
                    raise VideoDecodingError(f"Could not download {url}: not done within {DOWNLOAD_TIMEOUT_SECONDS} s.")
                chunk = response.read1(2**16)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)
                size += len(chunk)
    except (OSError, http.client.HTTPException) as error:  # URLError and HTTPError are OSErrors
        raise VideoDecodingError(f"Could not download {url}: {error}") from error


def _check_url(url: str, first_url: str):
    """Refuse (`VideoDecodingError`) a URL that is not http(s) or, unless `ALLOW_PRIVATE_ADDRESSES`, whose host
    resolves to an address that is not public. `first_url` is the one asked for (`url` may be a redirect)."""
    parts = urllib.parse.urlsplit(url)
    via = "" if url == first_url else f"redirected to {url}: "
    if parts.scheme not in ("http", "https"):
        raise VideoDecodingError(f"Could not download {first_url}: {via}only http(s) URLs are followed.")
    if ALLOW_PRIVATE_ADDRESSES:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)}
    except (OSError, ValueError) as error:
        raise VideoDecodingError(f"Could not download {first_url}: {via}{error}") from error
    for text in sorted(addresses):
        address = ipaddress.ip_address(text.split("%")[0])
        address = getattr(address, "ipv4_mapped", None) or address
        if not address.is_global or address.is_multicast:
            raise VideoDecodingError(
                f"Could not download {first_url}: {via}{parts.hostname} resolves to {address}, not a public address "
                "(refused while ALLOW_PRIVATE_ADDRESSES is False, as under `open-vclip serve`)."
            )


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only where [`_check_url`] allows it."""

    def __init__(self, first_url: str):
        super().__init__()
        self.first_url = first_url

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        _check_url(newurl, self.first_url)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _open(source: str | bytes) -> av.container.InputContainer:
    return av.open(source if isinstance(source, str) else io.BytesIO(source), mode="r")


def _video_stream(container: av.container.InputContainer, name: str) -> av.video.stream.VideoStream:
    if not container.streams.video:
        kinds = ", ".join(sorted({stream.type for stream in container.streams})) or "none"
        raise VideoDecodingError(f"{name} has no video stream (streams found: {kinds}).")
    return container.streams.video[0]


def _frame_count_and_rate(container, stream, default_fps: float) -> tuple[int | None, float]:
    """
    `(frame count, frame rate)` from the header. The count is `stream.frames`, else duration x rate, else `None`
    (raw streams: the caller counts packets). When both the count and the duration are known the rate is their
    ratio, so that frame indices and timestamps lie on the same grid even where `average_rate` is off (GIF); where
    the two agree to 1e-4 it is `average_rate` itself, as PySlowFast reads it (`decoder.py`), so that 500 frames in
    16.666666666666668 s are 30 fps and not 29.999999999999996 (one frame less in a dense clip's span).
    """
    if stream.duration is not None:
        seconds = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        seconds = container.duration / av.time_base
    else:
        seconds = None
    fps = float(stream.average_rate or stream.guessed_rate or default_fps)
    if stream.frames > 0:
        if seconds and not math.isclose(stream.frames / seconds, fps, rel_tol=1e-4):
            fps = stream.frames / seconds
        return stream.frames, fps
    if seconds:
        return max(1, round(seconds * fps)), fps
    return None, fps


class _EndedEarly(Exception):
    """The video track ended frames before the count estimated from the container's duration (no count or duration
    of its own): sample again from the `frames` there are."""

    def __init__(self, frames: int):
        super().__init__(f"the video track ends after {frames} frames")
        self.frames = frames


class _SeekMissed(Exception):
    """A seek landed past its target or (H.264) on a keyframe that is no IDR picture: read again from the top."""


class _Reader:
    """
    Decodes one video stream forward and returns the frame shown at each (ascending) frame index: the first frame
    whose position `(pts - pts of the first frame) * time_base * fps` is at least `index - 1/2` (frame `index` at a
    constant frame rate, the frame shown at time `index / fps` at a variable one), the last frame past the end.
    Streams without timestamps (raw elementary streams) count frames instead and never seek.

    When the index lies more than `SEEK_THRESHOLD_SECONDS` ahead it seeks to the keyframe before it. For H.264 only an
    IDR picture is a place where decoding gives the frames of a decode from the start (open-GOP I pictures and
    intra-refresh recovery points may rely on pictures before them): a seek landing elsewhere, or past its target,
    raises [`_SeekMissed`] and the caller reads again from the top without seeking.

    H.264 in MP4 / Matroska is decoded packet by packet, and a non-reference picture ([`_h264_picture`]) is left out
    when it lies below `index - 1/2` and a packet at or past it has been demuxed (so the answer is such a frame, not
    the last one of the stream). No other picture predicts from it, so the other frames stay those of a full decode
    on a valid stream (also one that starts at a keyframe that is no IDR picture). A damaged stream that lost a
    reference picture is concealed by FFmpeg from the pictures it was given: only `DROP_NON_REFERENCE_PICTURES =
    False` then reproduces a decode of every frame.
    """

    def __init__(self, container, stream, fps: float, name: str, may_seek: bool = True):
        self._container, self._stream, self._fps, self._name = container, stream, fps, name
        self._codec = stream.codec_context
        extradata = self._codec.extradata  # `avcC`: length-prefixed NAL units (MP4, Matroska); else Annex B
        self._length_size = (extradata[4] & 3) + 1 if extradata and len(extradata) > 6 and extradata[0] == 1 else None
        self._drop = DROP_NON_REFERENCE_PICTURES and self._codec.name == "h264" and self._length_size is not None
        self._origin, self._may_seek = None, may_seek
        self._restart()
        self.frame = self._next_frame(None)
        if self.frame is None:
            raise VideoDecodingError(f"{name} holds no decodable video frame.")
        self._origin, self._position = self.frame.pts, 0.0

    def _restart(self):
        """Read from a fresh demuxer (after opening or seeking, which flushes the decoder)."""
        self._packets = self._container.demux(self._stream)
        self._lookahead, self._decoded = collections.deque(), collections.deque()
        self._latest, self._drained = None, False

    def _at(self, pts: int) -> float:
        return float((pts - self._origin) * self._stream.time_base) * self._fps

    def read(self, index: int) -> av.VideoFrame:
        far = index - self._position > SEEK_THRESHOLD_SECONDS * self._fps
        if far and self._origin is not None and self._may_seek:
            self._seek(index)
        if self._position < index - 0.5:
            drop_below = index - 0.5 if self._drop and self._demux_past(index - 0.5) else None
            while self._position < index - 0.5:
                frame = self._next_frame(drop_below)
                if frame is None:
                    self._check_complete(index)
                    break
                self.frame = frame
                self._position = self._position + 1 if frame.pts is None else self._at(frame.pts)
        return self.frame

    def _demux(self) -> bool:
        """Move one packet from the demuxer to the lookahead; `False` at the end of the stream."""
        for packet in self._packets:
            if packet.size:  # not the demuxer's closing empty packet
                self._lookahead.append(packet)
                if packet.pts is not None and (self._latest is None or packet.pts > self._latest):
                    self._latest = packet.pts
                return True
        return False

    def _demux_past(self, threshold: float) -> bool:
        """Demux until a packet at or past `threshold` shows up; whether one does."""
        while self._latest is None or self._at(self._latest) < threshold:
            if self._origin is None or not self._demux():
                return False
        return True

    def _next_frame(self, drop_below: float | None) -> av.VideoFrame | None:
        """The next frame in presentation order (`None` after the last), leaving out the non-reference pictures
        below `drop_below`."""
        while not self._decoded:
            if self._drained:
                return None
            if not self._lookahead and not self._demux():
                self._decode(None)
                self._drained = True
                continue
            packet = self._lookahead.popleft()
            below = drop_below is not None and packet.pts is not None and self._at(packet.pts) < drop_below
            if below and _h264_picture(packet, self._length_size)[1]:  # non-reference: no other picture needs it
                continue
            self._decode(packet)
        frame = self._decoded.popleft()
        _check_frame_size(frame.width, frame.height, self._name)  # parameter sets may change the size mid-stream
        return frame

    def _decode(self, packet: av.Packet | None):
        self._decoded.extend(self._codec.decode(packet))

    def _seek(self, index: int):
        # The answer is the first frame at a position >= `index - 1/2`: land on a keyframe at or before that position
        # (frames of a variable frame rate can lie closer than 1/2 before `index`), for H.264 an IDR picture.
        self._container.seek(
            self._origin + int((index - 0.5) / self._fps / self._stream.time_base), stream=self._stream
        )
        self._restart()
        if self._codec.name == "h264" and not (
            self._demux() and _h264_picture(self._lookahead[0], self._length_size)[0]
        ):
            raise _SeekMissed
        frame = self._next_frame(None)
        if frame is None or frame.pts is None or self._at(frame.pts) > index - 0.5:
            raise _SeekMissed
        self.frame, self._position = frame, self._at(frame.pts)

    def _check_complete(self, index: int):
        """
        The stream ended before the frame at `index`. Fine when the header's count was a frame or two long, or when
        the last frame is shown until the end the stream declares (time-based sampling: it is the frame at `index`).
        Else the file is cut short or damaged: a `VideoDecodingError` when the stream declares its own length, and
        [`_EndedEarly`] when only the container's duration was known (a video track shorter than the audio, or a cut
        Matroska file: the caller samples again over the frames there are).
        """
        frame, stream, container = self.frame, self._stream, self._container
        slack = max(2.0, 0.01 * index)  # frames
        if frame.pts is None or index - self._position <= slack:
            return
        if stream.duration is not None:
            end = float(((stream.start_time or 0) + stream.duration) * stream.time_base)
        elif container.duration is not None:
            end = ((container.start_time or 0) + container.duration) / av.time_base
        else:
            return
        shown_until = frame.pts + (getattr(frame, "duration", None) or 0)  # `VideoFrame.duration`: PyAV >= 13
        missing = (end - float(shown_until * stream.time_base)) * self._fps
        if missing <= slack:
            return
        if stream.duration is None:
            raise _EndedEarly(math.floor(self._position + 0.5) + 1)
        raise VideoDecodingError(
            f"{self._name} is truncated or damaged: its video ends {missing / self._fps:.2f} s ({missing:.0f} "
            f"frames) before the end its header declares, {end:.2f} s."
        )


def _h264_picture(data, length_size: int | None) -> tuple[bool, bool]:
    """
    `(idr, non_reference)` of one H.264 access unit, from the first byte of each NAL unit: NAL units with
    `length_size`-byte length prefixes (MP4, Matroska), or Annex B start codes when it is `None` (MPEG-TS).

    - `idr`: its first slice belongs to an IDR picture, which empties the reference buffer: decoding can start here
      (after a flush) and give the frames of decoding from the very start.
    - `non_reference`: only slices with `nal_ref_idc == 0` (H.264 7.4.1: no other picture predicts from them), access
      unit delimiters and filler; anything else (SEI, parameter sets...) may change decoder state beyond its picture.

    A packet that cannot be parsed is neither.
    """
    if length_size is None:
        data = bytes(data)
        starts = [match.end() for match in re.finditer(b"\x00\x00\x01", data) if match.end() < len(data)]
    else:
        data, starts, offset = memoryview(data), [], 0  # `data`: a packet, or its bytes
        while offset < len(data):
            size = int.from_bytes(data[offset : offset + length_size], "big")
            if size == 0 or offset + length_size + size > len(data):
                return False, False
            starts.append(offset + length_size)
            offset += length_size + size
    headers = [data[start] for start in starts]
    slices = [header for header in headers if header & 0x1F in (1, 5)]
    idr = bool(slices) and slices[0] & 0x1F == 5
    non_reference = bool(slices) and all(h & 0x1F in (1, 9, 12) and not h & 0x60 for h in headers)
    return idr, non_reference


def _upright_rgb(frame: av.VideoFrame) -> np.ndarray:
    """RGB array of `frame`, rotated by its display matrix (`frame.rotation`, degrees counter-clockwise)."""
    return np.rot90(frame.to_ndarray(format="rgb24"), k=round(frame.rotation / 90) % 4)
