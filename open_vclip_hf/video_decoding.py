# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Open any video input, choose which frames to look at (uniform or the paper's dense clips), decode only those:
[`sample_frame_indices`] (the index arithmetic) and [`load_video`] (open, count, sample, decode).

Limits on untrusted input, set like `PIL.Image.MAX_IMAGE_PIXELS` (`None`: no limit): `MAX_VIDEO_PIXELS` (per frame,
checked before decoding), `MAX_DOWNLOAD_BYTES` (512 MiB), `DOWNLOAD_TIMEOUT_SECONDS` (60 s for a whole download) and
`ALLOW_PRIVATE_ADDRESSES` (default `True`; `open-vclip serve` sets `False` unless `--allow-private-urls`: URLs and
redirects to non-public hosts are refused; a DNS answer that changes between the check and urllib's connect is not).
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

MAX_VIDEO_PIXELS = 8192 * 4320  # DCI 8K
MAX_DOWNLOAD_BYTES = 512 * 2**20
DOWNLOAD_TIMEOUT_SECONDS = 60
ALLOW_PRIVATE_ADDRESSES = True
SEEK_THRESHOLD_SECONDS = 3.0  # decode forward up to this far ahead, seek beyond (keyframes are 1 to 10 s apart)
DROP_NON_REFERENCE_PICTURES = True  # H.264: leave out pictures no wanted frame needs; `False` decodes every picture
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
    if not 0 < target_fps < math.inf:
        raise ValueError(f"`target_fps` must be positive and finite, got {target_fps!r}.")


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
    r"""`(num_clips, num_frames)` `int64` indices of the frames to look at in a video of `num_video_frames` frames. With
    `N = num_video_frames`, `T = num_frames` (per view), `V = num_clips` (views), `j = 0..T-1`, `k = 0..V-1`:

    - `"uniform"`: one frame per each of `T` equal segments, view `k` at the fraction `(k + 1/2) / V` of each:
      `index[k, j] = floor((j + (k + 1/2) / V) * N / T)`. With a `generator` (`np.random.Generator`, training-time
      jitter), `floor((j + u) * N / T)` with `u ~ U[0, 1)` instead.
    - `"dense"`: Open-VCLIP's clips of `T` frames `frame_stride` apart at `target_fps` (8 x 16 at 30 fps, method doc
      sections 4 and 5; PySlowFast `decoder.py`). A clip spans `L = max(1, T * frame_stride * fps / target_fps)`
      frames (`fps`: the video's rate, defaults to `target_fps`), `delta = max(N - L, 0)`, and the views start at
      the beginning, middle and end (`USE_OFFSET_SAMPLING`): `start[k] = floor(delta / 2)` if `V == 1`, else
      `k * floor(delta / (V - 1))`; `index[k, j] = start[k] + floor(linspace(0, L - 1, T)[j])`. With a `generator`,
      every start is `floor(U(0, delta))` (PySlowFast's `clip_idx=-1`). Indices past the end are clamped to `N - 1`.
      (The official UCF101 / K400 / K600 runs used PySlowFast's PyAV backend: view `k` at `delta * k / V` instead.)"""
    check_sampling_args(num_frames, sampling, num_clips, frame_stride, target_fps)
    if not isinstance(num_video_frames, (int, np.integer)) or num_video_frames < 1:
        raise ValueError(f"`num_video_frames` must be a positive integer, got {num_video_frames!r}.")
    if fps is not None and not 0 < fps < math.inf:
        raise ValueError(f"`fps` must be positive and finite, got {fps!r}.")
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


def split_videos(videos) -> list | None:
    """The videos of a batch (a list of videos, a 5-D array or tensor), or `None` for one video (a list of frames)."""
    if isinstance(videos, (list, tuple)):
        if not videos:
            raise ValueError("`videos` is an empty list: give one video or a list of videos")
        return None if all(is_video_frame(frame) for frame in videos) else list(videos)
    return list(videos) if getattr(videos, "ndim", None) == 5 else None


def load_video(
    video: VideoInput, num_frames: int = 8, sampling: str = "uniform", num_clips: int = 1, frame_stride: int = 16,
    target_fps: float = 30, fps: float | None = None, generator: np.random.Generator | None = None,
) -> np.ndarray:  # fmt: skip
    r"""`uint8` RGB frames `(num_clips, num_frames, height, width, 3)` of one video at [`sample_frame_indices`] (same
    arguments). `video` is a path, an `http(s)://` URL (see the limits above), bytes, a binary file object, or decoded
    frames (a `(T, H, W, 3)` uint8 array or tensor, a list of PIL images or `(H, W, 3)` arrays) at `fps` (defaults to
    `target_fps`). Frames are those of a decode of every frame, by time (index `i` is the frame shown at `i / fps`),
    rotated upright. Raises `FileNotFoundError` for a missing path, `VideoDecodingError` (a `ValueError` naming the
    input and the cause) for an empty, corrupt, truncated, oversized or undownloadable video."""
    sampling_kwargs = {"num_frames": num_frames, "sampling": sampling, "num_clips": num_clips, "generator": generator}
    sampling_kwargs.update(frame_stride=frame_stride, target_fps=target_fps)
    frames = _as_frame_array(video)
    if frames is not None:
        return frames[sample_frame_indices(len(frames), fps=fps, **sampling_kwargs)]

    source, name = read_source(video)
    try:
        with open_container(source) as container:
            if not container.streams.video:
                kinds = ", ".join(sorted({stream.type for stream in container.streams})) or "none"
                raise VideoDecodingError(f"{name} has no video stream (streams found: {kinds}).")
            stream = container.streams.video[0]
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
        hint += f" (frames above MAX_VIDEO_PIXELS = {MAX_VIDEO_PIXELS} are refused)" * (type(error) is av.ArgumentError)
        raise VideoDecodingError(f"Could not decode {name}: {error}{hint}") from error
    frames = np.stack([decoded[index] for index in indices.ravel().tolist()])
    return frames.reshape(*indices.shape, *frames.shape[1:])


def _sample_and_decode(source, num_video_frames: int, fps: float, name: str, sampling_kwargs: dict):
    """The indices to sample from `num_video_frames` frames, and the frames at them."""
    indices = sample_frame_indices(num_video_frames, fps=fps, **sampling_kwargs)
    return indices, _decode_frames(source, np.unique(indices).tolist(), fps, name)


def _decode_frames(source, indices: list[int], fps: float, name: str, may_seek: bool = True) -> dict[int, np.ndarray]:
    """Upright RGB frames at the ascending `indices`; read again without seeking after a seek that missed."""
    with open_container(source) as container:
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
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or 0 in frames.shape:
        raise VideoDecodingError(
            f"<{type(video).__name__} of shape {tuple(frames.shape)} and dtype {frames.dtype}>: decoded frames must "
            "be uint8 RGB of shape (num_frames, height, width, 3) with at least one frame of at least 1x1 pixels."
        )
    return frames


def _to_numpy(array: np.ndarray | torch.Tensor) -> np.ndarray:
    return array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else array


def read_source(video) -> tuple[str | bytes, str]:
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
    """The body of `url`, fetched in a thread so that the answer comes by the deadline even from a stalled server."""
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
    """Refuse a non-http(s) URL or, unless `ALLOW_PRIVATE_ADDRESSES`, one whose host is not public."""
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


def open_container(source: str | bytes) -> av.container.InputContainer:
    """The container, its probe and its decoders refusing frames above twice `MAX_VIDEO_PIXELS` (FFmpeg's `max_pixels`):
    probing decodes a frame, before [`_check_frame_size`] could refuse the size that the header then declares. Twice:
    FFmpeg counts padded buffers (width aligned to 64, codec margins); the exact limit is `_check_frame_size`'s."""
    options = {} if MAX_VIDEO_PIXELS is None else {"max_pixels": str(2 * MAX_VIDEO_PIXELS)}
    container = av.open(source if isinstance(source, str) else io.BytesIO(source), mode="r", options=options)
    for stream in container.streams.video:
        stream.codec_context.options = options
    return container


def _frame_count_and_rate(container, stream, default_fps: float) -> tuple[int | None, float]:
    """`(frame count, frame rate)` from the header: `stream.frames`, else duration x rate, else `None` (the caller
    counts packets). The rate is `average_rate` (as PySlowFast reads it) unless count / duration differs by > 1e-4
    (GIF), so that frame indices and timestamps lie on the same grid; when they agree it is kept, so that 500 frames
    in 16.666666666666668 s are 30 fps, not 29.999999999999996 (one frame less in a dense clip's span)."""
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
    """The video track ended before the count that the container's duration implies."""

    def __init__(self, frames: int):
        super().__init__(f"the video track ends after {frames} frames")
        self.frames = frames


class _SeekMissed(Exception):
    """A seek landed past its target or (H.264) on no IDR picture: read again from the top."""


class _Reader:
    """Decodes one video stream forward; `read(index)` (ascending) is the first frame whose position `(pts - first
    pts) * time_base * fps` is at least `index - 1/2` (the frame shown at `index / fps`), the last one past the end.
    Without timestamps it counts frames and never seeks. Beyond `SEEK_THRESHOLD_SECONDS` it seeks; for H.264 only an
    IDR picture restarts decoding exactly (open-GOP I pictures may reference earlier ones): [`_SeekMissed`] else.
    H.264 in MP4 / Matroska leaves out non-reference pictures below `index - 1/2` once a packet past it is demuxed."""

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

    def _restart(self):  # after opening or seeking, which flushes the decoder
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
        """Move one packet from the demuxer to the lookahead; `False` at the end."""
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
        """The next frame in presentation order (`None` after the last), leaving out non-reference pictures below
        `drop_below`."""
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
        # Land on a keyframe at or before `index - 1/2` (variable-rate frames can lie closer than 1/2 before `index`).
        target = self._origin + int((index - 0.5) / self._fps / self._stream.time_base)
        self._container.seek(target, stream=self._stream)
        self._restart()
        is_h264 = self._codec.name == "h264"
        if is_h264 and not (self._demux() and _h264_picture(self._lookahead[0], self._length_size)[0]):
            raise _SeekMissed
        frame = self._next_frame(None)
        if frame is None or frame.pts is None or self._at(frame.pts) > index - 0.5:
            raise _SeekMissed
        self.frame, self._position = frame, self._at(frame.pts)

    def _check_complete(self, index: int):
        """The stream ended before `index`: fine within a slack or if the last frame lasts to the declared end; else
        a `VideoDecodingError` if the stream declares its length, [`_EndedEarly`] if only the container does."""
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
    """`(idr, non_reference)` of one H.264 access unit, from each NAL unit's header byte (`length_size`-byte length
    prefixes: MP4, Matroska; `None`: Annex B start codes). A packet that cannot be parsed is neither.

    `idr`: its first slice is an IDR picture, which empties the reference buffer: decoding restarts exactly here.
    `non_reference`: only slices with `nal_ref_idc == 0`, access unit delimiters and filler. No other picture predicts
    from it (H.264 7.4.1) and it changes no decoder state (SEI, parameter sets would), so leaving it out keeps every
    other frame exactly that of a full decode on a valid stream (a damaged one: `DROP_NON_REFERENCE_PICTURES = False`).
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
