# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Cost of the Interpolated Weight Optimization regularizer: time and peak memory of one training step with it
(pass at θ_r, then the plain pass) against a plain fine-tuning step, on the same model and batch.

    python benchmarks/bench_training_step.py                 # CPU, the default "small" model
    python benchmarks/bench_training_step.py --device cuda   # GPU: peak = torch.cuda.max_memory_allocated

Targets: regularized / plain step time <= 2.05 (it is 2 forward + 2 backward passes by construction) and
peak memory <= plain + one copy of the trainable weights. The regularizer is an in-place swap
(`InterpolatedWeightRegularizer`): it backs up θ, writes θ_r into the parameters, runs the weighted pass and restores
θ. The backup (one weight copy) lives during the first pass only; a regularized step peaks one weight copy above a
plain one later, because the gradients of its first pass are complete while the second pass holds its activations
(as on the second micro-step of gradient accumulation); the θ_CLIP anchor is one more copy, held for the whole run
(half of one when its values are float16, as OpenAI's CLIP weights, and as this script's model), on the device or on
the host.

Method. Time: in each of `--rounds` fresh Python processes (model, AdamW optimizer with its states initialised
by an untimed step, the θ_CLIP anchor), plain and regularized steps alternate on the same weights, `--steps` pairs
after `--warmup` untimed ones, the order inside a pair alternating too; the ratio is the median of the per-pair
ratios of wall time and of process CPU time (all threads; the steadier of the two on a shared machine), so that
both variants of a pair see the same machine state.
Memory is measured in separate processes (2 steps) whose allocator returns every buffer of 64 KB or more to the
system when freed: the step peak is the high-water mark of the process (CPU: `VmHWM`, reset through
`/proc/self/clear_refs` after set-up; GPU: `max_memory_allocated`, reset likewise) minus the memory in use before
the steps, so it counts what a step allocates on top of the weights, optimizer states and (regularized) the anchor;
the anchor, held for the whole run, is reported separately, and the process peaks are compared with it included.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

MODELS = {
    # ViT width 512, 6 layers, patch 32 at 224 px (50 tokens per frame): ~19M trainable vision parameters.
    "small": dict(hidden_size=512, intermediate_size=2048, num_hidden_layers=6, num_attention_heads=8, patch_size=32),
    # OpenAI ViT-B/16 sizes (86M trainable vision parameters, 197 tokens per frame): for GPUs.
    "b16": dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, patch_size=16),
}


def _rss_bytes(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_cpu_peak() -> None:
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # resets VmHWM to the current RSS


def worker(args) -> dict:
    """One variant in this process: set up, warm up, time `args.steps` steps, measure the step peak."""
    import torch

    from open_vclip_hf import OpenVCLIPConfig, OpenVCLIPModel
    from open_vclip_hf.training import InterpolatedWeightRegularizer, freeze_text_tower, parameter_groups

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    config = OpenVCLIPConfig(
        text_config=dict(hidden_size=128, intermediate_size=512, num_hidden_layers=1, num_attention_heads=2),
        vision_config=MODELS[args.model],
        projection_dim=256,
    )
    model = OpenVCLIPModel(config).to(device).train()
    with torch.no_grad():  # fine-tuning starts from OpenAI's CLIP, released in float16: float32 weights, float16 values
        for param in model.parameters():
            param.copy_(param.half().float())
    freeze_text_tower(model)
    trainable = [p for p in model.parameters() if p.requires_grad]
    weight_bytes = sum(p.numel() * p.element_size() for p in trainable)
    optimizer = torch.optim.AdamW(parameter_groups(model, 0.01), lr=3.33e-6)
    pixel_values = torch.randn(args.batch_size, args.frames, 3, 224, 224, device=device)
    labels = torch.arange(args.batch_size, device=device) % args.classes
    class_embeds = torch.nn.functional.normalize(torch.randn(args.classes, 256, device=device), dim=-1)

    def loss_fn(module):
        return module(pixel_values=pixel_values, text_embeds=class_embeds, labels=labels).loss

    regularizer = None
    if args.variant in ("regularized", "both"):
        anchor = {name: param.detach().clone() for name, param in model.named_parameters() if param.requires_grad}
        regularizer = InterpolatedWeightRegularizer(model, anchor, generator=__import__("random").Random(0))
        del anchor

    def step(regularized: bool):
        if regularized:
            regularizer.backward(loss_fn)
        loss_fn(model).backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        optimizer.zero_grad()

    def synchronize():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def timed(regularized: bool) -> tuple[float, float]:
        synchronize()
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        step(regularized)
        synchronize()
        return time.perf_counter() - start_wall, time.process_time() - start_cpu

    if args.variant == "both":  # timing: plain and regularized steps alternate in one process, on the same weights
        step(True)  # AdamW states, first-call costs
        for _ in range(args.warmup):
            step(False)
            step(True)
        pairs = []
        for index in range(args.steps):
            order = (False, True) if index % 2 == 0 else (True, False)
            times = dict(zip(order, (timed(regularized) for regularized in order)))
            pairs.append({"plain": times[False], "regularized": times[True]})
        return {"pairs": pairs}

    regularized = args.variant == "regularized"
    step(regularized)  # AdamW states are created here: part of the set-up, not of a step's peak
    synchronize()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        baseline = torch.cuda.memory_allocated(device)
    else:
        _reset_cpu_peak()
        baseline = _rss_bytes("VmRSS")
    for _ in range(args.warmup + args.steps):
        step(regularized)
    synchronize()
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else _rss_bytes("VmHWM")
    return {
        "variant": args.variant,
        "step_peak_bytes": peak - baseline,
        "process_peak_bytes": peak,
        "weight_bytes": weight_bytes,
        "anchor_bytes": regularizer.anchor_num_bytes if regularizer is not None else 0,
        "trainable_parameters": sum(p.numel() for p in trainable),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="small")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch_size", type=int, default=2)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--classes", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5, help="timed (plain, regularized) step pairs per timing process")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per process after set-up")
    parser.add_argument("--rounds", type=int, default=3, help="timing processes, and memory processes per variant")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: on a shared machine OpenMP spin-waits blur the timings)",
    )
    parser.add_argument("--variant", choices=["plain", "regularized", "both"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:  # a worker process
        print(json.dumps(worker(args)))
        return

    import torch

    passthrough = [
        f"--{name}={getattr(args, name)}"
        for name in ("model", "device", "batch_size", "frames", "classes", "steps", "warmup", "threads")
    ]
    repo = str(Path(__file__).resolve().parents[1])
    timing_env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")])),
        "OMP_NUM_THREADS": str(args.threads),
    }
    # Memory is probed in processes of their own in which every allocation of 64 KB or more is its own mmap,
    # unmapped when freed: the resident set size then follows the live tensors instead of glibc's retained heap,
    # which makes VmHWM a usable CPU peak-memory probe. It also makes every fresh buffer page-fault, which would tax
    # the timings of whichever variant allocates more: time is measured with the default allocator.
    memory_env = {**timing_env, "MALLOC_MMAP_THRESHOLD_": "65536"}
    pairs = []
    memories = {"plain": [], "regularized": []}

    def run(variant, env, extra=()):
        output = subprocess.run(
            [sys.executable, __file__, *passthrough, *extra, f"--variant={variant}"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return json.loads(output.strip().splitlines()[-1])

    for _ in range(args.rounds):
        pairs += run("both", timing_env)["pairs"]
        for variant in memories:
            memories[variant].append(run(variant, memory_env, ("--steps=1", "--warmup=1")))

    def median(variant, key):
        if key in ("wall", "cpu"):
            return statistics.median(pair[variant][key == "cpu"] for pair in pairs)
        return statistics.median(run[key] for run in memories[variant])

    def ratio(key):
        return statistics.median(pair["regularized"][key == "cpu"] / pair["plain"][key == "cpu"] for pair in pairs)

    plain, regularized = memories["plain"][0], memories["regularized"][0]
    copies = (median("regularized", "step_peak_bytes") - median("plain", "step_peak_bytes")) / plain["weight_bytes"]
    mb = 2**20
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
        f"({args.threads} thread{'s' if args.threads > 1 else ''}), device {args.device}"
    )
    print(
        f"model: {args.model}, {plain['trainable_parameters'] / 1e6:.1f}M trainable parameters "
        f"({plain['weight_bytes'] / mb:.0f} MB), batch {args.batch_size} x {args.frames} frames at 224 px; "
        f"{args.steps} adjacent plain + regularized step pairs in each of {args.rounds} processes "
        "(alternating order)"
    )
    for variant in memories:
        print(
            f"  {variant:<11} wall {median(variant, 'wall') * 1e3:8.1f} ms"
            f"   cpu {median(variant, 'cpu') * 1e3:8.1f} ms"
            f"   step peak +{median(variant, 'step_peak_bytes') / mb:7.1f} MB"
            f"   process peak {median(variant, 'process_peak_bytes') / mb:7.1f} MB"
        )
    print(
        f"time ratio regularized / plain (median of {len(pairs)} adjacent pairs): wall {ratio('wall'):.3f}, "
        f"cpu {ratio('cpu'):.3f}   (target <= 2.05)"
    )
    anchor = regularized["anchor_bytes"]
    process_extra = median("regularized", "process_peak_bytes") - median("plain", "process_peak_bytes")
    total = process_extra / plain["weight_bytes"]
    print(f"step peak, regularized - plain: {copies:+.2f} copies of the trainable weights")
    print(
        f"held for the whole run by the regularizer: the θ_CLIP anchor, {anchor / mb:.0f} MB "
        f"= {anchor / plain['weight_bytes']:.2f} copies (anchor_device='cpu' keeps it off a GPU)"
    )
    print(
        f"process peak, regularized - plain (anchor included): {total:+.2f} copies of the trainable weights"
        f"   (target <= 1)"
    )


if __name__ == "__main__":
    main()
