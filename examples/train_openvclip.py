# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Fine-tune Open-VCLIP on your videos with 🤗 Accelerate: the recipe of the paper (Weng et al., ICML 2023).

########################################################################
# Starting from CLIP (or any Open-VCLIP checkpoint), this script
#   - computes the text embeddings of your class names ONCE, with the 28-template prompt ensemble, and freezes the
#     text tower (method doc section 2);
#   - trains the vision tower, the visual projection and `logit_scale` with the classification loss over those
#     embeddings, plus the Interpolated Weight Optimization regularizer (section 3.1): for every batch a second
#     forward/backward at θ_r = r·θ_CLIP + (1 − r)·θ, r ~ U(0, 0.6), weight 0.5;
#   - on 8-frame dense clips (stride 16 at 30 fps, random position) with short side U[224, 256], random 224 crop
#     and horizontal flip; AdamW 3.33e-6, weight decay 0.01 (none for 1-D parameters), 2 warm-up epochs then
#     cosine, gradient clipping 1.0 (section 4);
#   - writes a `save_pretrained` checkpoint after every epoch and, at the end, averages epochs
#     --swa_start..--swa_end (SWA, section 3.2) into `OUTPUT_DIR/swa` and interpolates that with CLIP
#     (--patch_ratio, section 3.3) into `OUTPUT_DIR/final`, ready for
#     `pipeline("zero-shot-video-classification", model="OUTPUT_DIR/final")`.
#
# It runs unchanged on one CPU or GPU, with several GPUs (DDP), sharded with FSDP2 and with mixed precision:
#   accelerate launch examples/train_openvclip.py --model_name_or_path openai/clip-vit-base-patch16 \
#       --train_csv train.csv --class_names classes.txt --output_dir runs/my-openvclip
#   accelerate launch --config_file examples/accelerate_configs/fsdp.yaml examples/train_openvclip.py ...
# `--resume_from_checkpoint latest` continues an interrupted run exactly where it stopped.
#
# The data can be
#   - a CSV of `path,label` rows (`--train_csv`, label = class name or index into `--class_names`),
#   - a folder tree `root/<class name>/<video>` (`--train_dir`),
#   - a 🤗 `datasets` dataset with a video column and a class label column (`--dataset_name`, e.g. "videofolder"
#     with `--dataset_data_dir`).
########################################################################
"""

import argparse
import math
import os
import random
import re
import shutil
import sys
from pathlib import Path

import torch
from accelerate import Accelerator, DataLoaderConfiguration, DistributedType
from accelerate.utils import set_seed
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from open_vclip_hf import OpenVCLIPModel, OpenVCLIPProcessor, build_class_embeddings
from open_vclip_hf.convert import clip_anchor_state_dict, convert_checkpoint
from open_vclip_hf.data import DataError, read_class_names, read_csv, read_dataset, read_folder
from open_vclip_hf.training import (
    InterpolatedWeightRegularizer,
    TrainAugmentation,
    TrainingProgress,
    VideoClassificationDataset,
    collate_videos,
    enable_activation_checkpointing,
    freeze_text_tower,
    numbered_folders,
    official_lr_lambda,
    parameter_groups,
    select_epoch_checkpoints,
    write_patched_model,
    write_swa_model,
)
from open_vclip_hf.weights import (
    check_same_keys_and_shapes,
    commit_directory,
    fresh_staging_directory,
    staged_directory,
    staging_directory,
)


def load_model_and_processor(args):
    """The model to fine-tune (a transformers CLIP / Open-VCLIP folder or Hub id, or an OpenAI CLIP `.pt` file) and
    its processor: the folder's `OpenVCLIPProcessor` if it has one, else the default one (OpenAI's CLIP vocabulary,
    CLIP's image processing at the model's image size). It is saved with the final model."""
    source = Path(args.model_name_or_path)
    if source.is_file():
        model = convert_checkpoint(source)
    else:
        model = OpenVCLIPModel.from_pretrained(args.model_name_or_path, dtype=torch.float32)
    model.config.num_frames = args.num_frames
    model.config.patch_ratio = None  # fine-tuned weights are not interpolated with CLIP (until the end)
    if (source / "processor_config.json").is_file():
        processor = OpenVCLIPProcessor.from_pretrained(source)
    else:
        processor = OpenVCLIPProcessor.for_model(model.config)
    processor.num_frames = args.num_frames
    return model, processor


def get_dataset(args, accelerator: Accelerator, crop_size: int) -> VideoClassificationDataset:
    """Training clips from --train_csv, --train_dir or --dataset_name, with the paper's augmentation."""
    class_names = read_class_names(args.class_names) if args.class_names else None
    if args.train_csv:
        if class_names is None:
            raise ValueError("--train_csv needs --class_names (a file with one class name per line)")
        videos = read_csv(args.train_csv, class_names, root=args.video_root)
    else:
        if args.train_dir:
            videos = read_folder(args.train_dir)
        else:
            import datasets

            with accelerator.main_process_first():  # download / prepare once
                dataset = datasets.load_dataset(
                    args.dataset_name, args.dataset_config_name, data_dir=args.dataset_data_dir, split=args.split
                )
            videos = read_dataset(dataset, args.video_column, args.label_column)
        if class_names is not None:
            if len(videos.class_names) != len(class_names):
                raise DataError(
                    f"--class_names lists {len(class_names)} classes, the data has {len(videos.class_names)}"
                )
            videos.class_names = class_names
    transform = TrainAugmentation(crop_size, args.min_short_side, args.max_short_side)
    return VideoClassificationDataset(
        videos,
        transform,
        num_frames=args.num_frames,
        frame_stride=args.frame_stride,
        target_fps=args.target_fps,
        seed=args.seed,
    )


def save_state(accelerator: Accelerator, output_dir: Path, progress: TrainingProgress, total_limit: int | None):
    """`accelerator.save_state` and `progress` (JSON) into `output_dir/step_N`, atomically: every process writes into
    a staging folder, which is renamed once complete. Keeps the `total_limit` newest states."""
    path = output_dir / f"step_{progress.completed_steps}"
    staging = staging_directory(path)
    if accelerator.is_main_process and staging.exists():
        shutil.rmtree(staging)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(staging))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        progress.save(staging)
        commit_directory(staging, path, replace_whole=True)  # a state of this run, never a user's folder
        if total_limit:  # moved aside before deleting: a run killed meanwhile leaves no incomplete step_N
            for old in list(numbered_folders(output_dir, "step_").values())[:-total_limit]:
                retired = fresh_staging_directory(old, "old")
                os.replace(old, retired / old.name)
                shutil.rmtree(retired)
    accelerator.wait_for_everyone()


def save_epoch_checkpoint(accelerator: Accelerator, model, processor, path: Path):
    """A `save_pretrained` folder of the current weights (the SWA input) and the processor, written atomically: every
    folder the script writes can be used with `pipeline(...)` and the `open-vclip` commands."""
    state_dict = accelerator.get_state_dict(model)  # gathers sharded weights (a collective under FSDP / ZeRO-3)
    if accelerator.is_main_process:
        with staged_directory(path) as staging:
            accelerator.unwrap_model(model).save_pretrained(staging, state_dict=state_dict)
            processor.save_pretrained(staging)
    accelerator.wait_for_everyone()


def check_distributed_setup(args, accelerator: Accelerator):
    """Stop before anything is loaded when the launch cannot train as asked.

    * An FSDP config that accelerate did not apply: accelerate runs FSDP only on GPUs and other accelerators; on a CPU
      it falls back without a word to DDP (`--cpu`) or to independent processes.
    * The regularizer under FSDP1 or DeepSpeed. It writes θ_r into the parameters, which FSDP1 keeps in flat buffers
      and DeepSpeed ZeRO-3 in partitions; and accelerate's DeepSpeed `backward` also steps the optimizer on every sync
      step, so the regularizer's extra backward would take an optimizer step of its own. FSDP2 is the sharded way.
    """
    if os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true" and accelerator.distributed_type != (
        DistributedType.FSDP
    ):
        raise SystemExit(
            f"accelerate did not apply the FSDP configuration (distributed type: {accelerator.distributed_type.value}):"
            " it runs FSDP on GPUs and other accelerators only. Launch on GPUs, or train with DDP on this machine "
            "(`accelerate launch --multi_gpu --num_processes N examples/train_openvclip.py --cpu ...`)."
        )
    if args.iwo_weight <= 0:
        return
    if accelerator.distributed_type == DistributedType.DEEPSPEED:
        raise SystemExit(
            "The Interpolated Weight Optimization regularizer does not support DeepSpeed (ZeRO-3 partitions the "
            "parameters the regularizer swaps, and accelerate's DeepSpeed backward steps the optimizer after each of "
            "the two backward passes). Shard with FSDP2 instead (`accelerate launch --config_file "
            "examples/accelerate_configs/fsdp.yaml`, fsdp_version: 2), use DDP, or train without the regularizer: "
            "--iwo_weight 0."
        )
    if accelerator.distributed_type == DistributedType.FSDP and not accelerator.is_fsdp2:
        raise SystemExit(
            "The Interpolated Weight Optimization regularizer needs FSDP2 (fsdp_version: 2, as in "
            "examples/accelerate_configs/fsdp.yaml): FSDP1 keeps the parameters in flat buffers."
        )


def replicate_scalar_parameters(accelerator: Accelerator, model) -> list[torch.nn.Parameter]:
    """FSDP2: the parameters left whole on every rank, to be passed to `average_gradients` after each sync backward.

    `fully_shard` cannot shard a 0-dim parameter ("Change logit_scale to a 1D tensor"), and CLIP's `logit_scale` is
    one, which checkpoints must keep. So 0-dim parameters are left out of sharding (`ignored_params`, through the
    plugin's `ignored_modules`): they stay replicated, like under DDP, and everything else (encoder layers by the
    auto-wrap policy, the rest by the root call) is sharded. FSDP2 does not reduce the gradients of ignored
    parameters; `average_gradients` does (one 4-byte all-reduce per step for CLIP)."""
    scalars = [param for param in model.parameters() if param.ndim == 0]
    plugin = accelerator.state.fsdp_plugin
    ignored = plugin.ignored_modules
    if isinstance(ignored, str):  # a regular expression over module names, as accelerate reads it
        ignored = [module for name, module in model.named_modules() if re.fullmatch(ignored, name)]
    plugin.ignored_modules = [*(ignored or []), torch.nn.ParameterList(scalars)]
    return scalars


def average_gradients(parameters, accelerator: Accelerator) -> None:
    """Average the gradients of replicated parameters over the processes (what DDP does for every parameter)."""
    for param in parameters:
        if param.grad is not None:
            torch.distributed.all_reduce(param.grad)
            param.grad /= accelerator.num_processes


def check_output_dir(args, accelerator: Accelerator, output_dir: Path):
    """An `--output_dir` holding an earlier run is continued (`--resume_from_checkpoint`) or cleared
    (`--overwrite_output_dir`), never mixed with a new run: its `epoch_N` would enter the SWA, and pruning by step
    number would delete the new run's training states first."""
    if output_dir.exists() and not output_dir.is_dir():  # else it fails when the first epoch is saved
        raise SystemExit(f"--output_dir {output_dir} is a file, not a folder: choose another --output_dir")
    earlier = [path for prefix in ("step_", "epoch_") for path in numbered_folders(output_dir, prefix).values()]
    earlier += [output_dir / name for name in ("swa", "final") if (output_dir / name).is_dir()]
    if not earlier or args.resume_from_checkpoint:
        return
    if not args.overwrite_output_dir:
        names = ", ".join(sorted(path.name for path in earlier)[:5]) + (", ..." if len(earlier) > 5 else "")
        raise SystemExit(
            f"{output_dir} holds an earlier run ({names}): pass --resume_from_checkpoint latest to continue it, "
            "--overwrite_output_dir to delete it and start over, or another --output_dir."
        )
    if accelerator.is_main_process:
        for path in earlier:
            shutil.rmtree(path)
    accelerator.wait_for_everyone()


def resume_path(args, output_dir: Path) -> Path | None:
    if not args.resume_from_checkpoint:
        return None
    if args.resume_from_checkpoint == "latest":
        states = numbered_folders(output_dir, "step_")
        return list(states.values())[-1] if states else None
    return Path(args.resume_from_checkpoint)


def swa_range(args, epochs_run: int) -> tuple[int, int]:
    """Epochs averaged by SWA: by default from the end of warm-up to the last epoch (the official 2..22 for 22
    epochs with 2 warm-up epochs); explicit values are clamped to the epochs actually run."""
    start = args.swa_start if args.swa_start is not None else math.ceil(args.warmup_epochs)
    end = args.swa_end if args.swa_end is not None else epochs_run
    end = min(max(end, 1), epochs_run)
    return min(max(start, 1), end), end


def push_to_hub(args, output_dir: Path):
    """Publish `final` (patched) on the main branch and `swa` (raw SWA, for sweeping the patch ratio) on the
    `raw-swa` branch, with remote code and a model card, in atomic commits (`open_vclip_hf.hub.push_to_hub`)."""
    from open_vclip_hf.hub import push_to_hub as push

    result = push(
        output_dir / "final",
        args.hub_model_id,
        private=args.hub_private,
        raw_swa_dir=output_dir / "swa",
        checkpoint=None,  # a new fine-tuning: the card must not quote the official checkpoints' numbers
        commit_message="Open-VCLIP fine-tuned with examples/train_openvclip.py",
        token=args.hub_token,
    )
    return result.url


def training_function(args):
    # The tokenizer runs once, for the class embeddings, before the DataLoader workers fork: no parallelism warning
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Initialize accelerator: the data order depends only on (seed, epoch), so a resumed run sees the same batches
    accelerator = Accelerator(
        mixed_precision=args.mixed_precision,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        cpu=args.cpu,
        log_with=args.report_to if args.with_tracking else None,
        project_dir=args.output_dir,
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=args.seed),
        step_scheduler_with_optimizer=False,  # the schedule is in optimizer steps; stepped below
    )
    output_dir = Path(args.output_dir)
    check_output_dir(args, accelerator, output_dir)
    check_distributed_setup(args, accelerator)
    set_seed(args.seed)

    model, processor = load_model_and_processor(args)
    # θ_CLIP of the regularizer and of the final patching: --clip_anchor, checked against every weight of the model
    # now (not after training), or below the starting weights (copied before training changes them)
    anchor = None
    if args.clip_anchor:
        anchor = clip_anchor_state_dict(args.clip_anchor)
        try:
            check_same_keys_and_shapes(model.state_dict(), anchor, "the model", f"--clip_anchor {args.clip_anchor}")
        except ValueError as error:
            raise SystemExit(f"--clip_anchor does not match the model: {error}") from None
    train_dataset = get_dataset(args, accelerator, model.config.vision_config.image_size)
    class_names = train_dataset.class_names
    accelerator.print(f"{len(train_dataset)} training videos, {len(class_names)} classes")

    # The class embeddings are computed once, with the frozen text tower: 28 templates, normalise, mean, normalise
    model.to(accelerator.device)
    class_embeds = build_class_embeddings(model, processor, class_names).detach()
    freeze_text_tower(model)
    if args.gradient_checkpointing == "yes" or (
        args.gradient_checkpointing == "auto" and model.config.vision_config.num_hidden_layers >= 24
    ):  # the official ViT-L/14 run uses MODEL.USE_CHECKPOINT, B/16 and B/32 do not
        enable_activation_checkpointing(model)
    if anchor is None:
        anchor = {name: param.detach().clone() for name, param in model.named_parameters() if param.requires_grad}

    train_dataloader = DataLoader(
        train_dataset,
        batch_size=args.per_device_train_batch_size,
        shuffle=True,
        drop_last=True,  # as PySlowFast's training loader
        collate_fn=collate_videos,
        num_workers=args.num_workers,
        pin_memory=torch.cuda.is_available(),
    )
    optimizer = torch.optim.AdamW(
        parameter_groups(model, args.weight_decay), lr=args.learning_rate, betas=(0.9, 0.999), eps=1e-8
    )
    replicated = replicate_scalar_parameters(accelerator, model) if accelerator.is_fsdp2 else []
    model, optimizer, train_dataloader = accelerator.prepare(model, optimizer, train_dataloader)
    if len(train_dataloader) == 0:
        raise ValueError("fewer training videos than one global batch: lower --per_device_train_batch_size")

    updates_per_epoch = math.ceil(len(train_dataloader) / args.gradient_accumulation_steps)
    max_train_steps = args.max_train_steps or args.num_train_epochs * updates_per_epoch
    num_epochs = math.ceil(max_train_steps / updates_per_epoch)
    lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        official_lr_lambda(
            warmup_steps=args.warmup_epochs * updates_per_epoch,
            total_steps=max_train_steps,
            base_lr=args.learning_rate,
            warmup_start_lr=args.warmup_start_lr,
            end_lr=args.end_lr,
        ),
    )
    lr_scheduler = accelerator.prepare(lr_scheduler)

    # One r ~ U(low, high) per batch and process (like the official code, each rank draws its own unless
    # --iwo_share_ratio), from a generator re-seeded with (seed, process, epoch, batch): reproducible on resume.
    # Sharded weights need one θ_r on every rank (FSDP2 gathers each weight from all ranks' shards): rank 0's draw.
    share_ratio = args.iwo_share_ratio or accelerator.is_fsdp2
    iwo_generator = random.Random()
    regularizer = None
    if args.iwo_weight > 0:
        regularizer = InterpolatedWeightRegularizer(
            model,
            anchor,
            low=args.iwo_low,
            high=args.iwo_high,
            weight=args.iwo_weight,
            generator=iwo_generator,
            share_ratio=share_ratio,
            anchor_device="cpu" if args.iwo_anchor_on_cpu else None,
        )
    del anchor

    # Where training stands is saved with the state, so that `--resume_from_checkpoint` continues mid-epoch
    progress = TrainingProgress()
    checkpoint = resume_path(args, output_dir)
    if checkpoint is not None:
        accelerator.print(f"Resumed from checkpoint: {checkpoint}")
        progress = TrainingProgress.load(checkpoint)
        accelerator.load_state(str(checkpoint))  # weights_only=True unless FSDP (DCP) / DeepSpeed: see --help
    elif args.resume_from_checkpoint == "latest":
        accelerator.print(f"No checkpoint in {output_dir} yet: starting from the beginning")

    if args.with_tracking:
        hyperparameters = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in vars(args).items()}
        accelerator.init_trackers("open_vclip", config=hyperparameters)

    total_batch_size = args.per_device_train_batch_size * accelerator.num_processes * args.gradient_accumulation_steps
    iwo = f"r ~ U({args.iwo_low}, {args.iwo_high}), weight {args.iwo_weight}" if regularizer is not None else "off"
    if regularizer is not None and accelerator.num_processes > 1:
        iwo += ", one r for all processes" if share_ratio else ", one r per process"
    accelerator.print(
        f"{num_epochs} epochs x {updates_per_epoch} steps of {total_batch_size} videos = {max_train_steps} steps; "
        f"regularizer {iwo}"
    )
    progress_bar = tqdm(
        total=max_train_steps, initial=progress.completed_steps, disable=not accelerator.is_local_main_process
    )
    sums = torch.zeros(3, device=accelerator.device)  # plain loss, interpolated loss, micro-steps since last log

    for epoch in range(progress.epoch, num_epochs):
        model.train()
        train_dataset.set_epoch(epoch)  # temporal positions and augmentations of this epoch
        train_dataloader.set_epoch(epoch)  # data order of this epoch
        loader = train_dataloader
        if progress.batches_done:  # resuming mid-epoch: skip the batches already trained on (without decoding)
            loader = accelerator.skip_first_batches(train_dataloader, progress.batches_done)
        for batch_index, batch in enumerate(loader, start=progress.batches_done):
            with accelerator.accumulate(model):

                def loss_fn(module, batch=batch):  # the paper's loss: cross-entropy over the frozen class embeddings
                    inputs = {"pixel_values": batch["pixel_values"], "labels": batch["labels"]}
                    return module(**inputs, text_embeds=class_embeds).loss

                if regularizer is not None:
                    rank = 0 if share_ratio else accelerator.process_index
                    iwo_generator.seed(f"iwo/{args.seed}/{rank}/{epoch}/{batch_index}")
                    sums[1] += regularizer.backward(loss_fn, accelerator).loss  # pass 1 at θ_r, not all-reduced
                loss = loss_fn(model)
                accelerator.backward(loss)  # pass 2 at θ: adds ∇L(θ) and all-reduces the sum
                if accelerator.sync_gradients and replicated:
                    average_gradients(replicated, accelerator)  # FSDP2 leaves them to us
                sums[0] += loss.detach()
                sums[2] += 1
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad()

            if accelerator.sync_gradients:
                lr_scheduler.step()
                progress.completed_steps += 1
                progress.batches_done = batch_index + 1
                progress_bar.update(1)
                if progress.completed_steps % args.logging_steps == 0 or progress.completed_steps == max_train_steps:
                    totals = accelerator.reduce(sums, reduction="sum")
                    logs = {"train/loss": (totals[0] / totals[2]).item(), "lr": lr_scheduler.get_last_lr()[0]}
                    if regularizer is not None:
                        logs["train/loss_interpolated"] = (totals[1] / totals[2]).item()
                    progress_bar.set_postfix(loss=f"{logs['train/loss']:.4f}", epoch=epoch + 1)
                    if args.with_tracking:
                        accelerator.log(logs, step=progress.completed_steps)
                    sums.zero_()
                if args.checkpointing_steps.isdigit() and progress.completed_steps % int(args.checkpointing_steps) == 0:
                    save_state(accelerator, output_dir, progress, args.checkpoints_total_limit)
                if progress.completed_steps >= max_train_steps:
                    break

        # End of the epoch (or of training, mid-epoch): the epoch checkpoint that SWA averages, named `epoch_N`
        save_epoch_checkpoint(accelerator, model, processor, output_dir / f"epoch_{epoch + 1}")
        progress.epoch, progress.batches_done = epoch + 1, 0
        if args.checkpointing_steps == "epoch":
            save_state(accelerator, output_dir, progress, args.checkpoints_total_limit)
        if progress.completed_steps >= max_train_steps:
            break
    progress_bar.close()

    # SWA over the epoch checkpoints, then interpolation with CLIP: the model to use
    if accelerator.is_main_process:
        start, end = swa_range(args, progress.epoch)
        epochs = select_epoch_checkpoints(list(numbered_folders(output_dir, "epoch_").values()), start, end)
        write_swa_model(epochs, output_dir / "swa", processor=processor, overwrite=True)
        final = output_dir / "final"
        write_patched_model(
            output_dir / "swa", args.clip_anchor or args.model_name_or_path, args.patch_ratio, final, overwrite=True
        )
        accelerator.print(
            f"SWA of epochs {start}..{end} -> {output_dir / 'swa'}; patched with r={args.patch_ratio} -> {final}\n"
            f"Use it: pipeline('zero-shot-video-classification', model='{final}')"
        )
        if args.push_to_hub:
            accelerator.print(f"Pushed to {push_to_hub(args, output_dir)}")
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return accelerator.unwrap_model(model)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Fine-tune Open-VCLIP (ICML 2023) on your videos with accelerate.")
    model = parser.add_argument_group("model")
    model.add_argument(
        "--model_name_or_path",
        default="openai/clip-vit-base-patch16",
        help="CLIP / Open-VCLIP folder or Hub id, or an OpenAI CLIP .pt file (default: %(default)s)",
    )
    model.add_argument(
        "--clip_anchor",
        help="θ_CLIP of the regularizer and of the final patching (an OpenAI .pt "
        "file, a CLIP folder or Hub id); default: --model_name_or_path",
    )
    model.add_argument(
        "--gradient_checkpointing",
        choices=["auto", "yes", "no"],
        default="auto",
        help="'auto': on for 24+ vision layers (ViT-L/14, as the official run), off otherwise",
    )

    data = parser.add_argument_group("data (one of --train_csv, --train_dir, --dataset_name)")
    source = data.add_mutually_exclusive_group(required=True)
    source.add_argument("--train_csv", help="CSV of 'path,label' rows (label: class name or index)")
    source.add_argument("--train_dir", help="folder tree root/<class name>/<video>")
    source.add_argument("--dataset_name", help="🤗 datasets name or Hub id, e.g. 'videofolder'")
    data.add_argument(
        "--class_names",
        help="class names, one per line (or JSON); required with --train_csv; with "
        "--train_dir / --dataset_name the texts of the classes in label order",
    )
    data.add_argument("--video_root", help="base folder of relative paths in --train_csv (default: the CSV's folder)")
    data.add_argument("--dataset_config_name")
    data.add_argument("--dataset_data_dir", help="data_dir of load_dataset, e.g. the root of a videofolder")
    data.add_argument("--split", default="train")
    data.add_argument("--video_column", default="video")
    data.add_argument("--label_column", default="label")
    data.add_argument("--num_frames", type=int, default=8)
    data.add_argument("--frame_stride", type=int, default=16, help="frames between two sampled frames at --target_fps")
    data.add_argument("--target_fps", type=float, default=30)
    data.add_argument("--min_short_side", type=int, help="default: the model's image size (224)")
    data.add_argument("--max_short_side", type=int, help="default: image size x 256/224 (256)")
    data.add_argument("--num_workers", type=int, default=4, help="DataLoader processes decoding videos")

    optim = parser.add_argument_group("optimisation (defaults: the official recipe, method doc section 4)")
    optim.add_argument("--per_device_train_batch_size", type=int, default=8, help="official: 8 x 8 GPUs = 64")
    optim.add_argument("--gradient_accumulation_steps", type=int, default=1)
    optim.add_argument("--learning_rate", type=float, default=3.33e-6)
    optim.add_argument("--warmup_start_lr", type=float, default=3.33e-8)
    optim.add_argument("--end_lr", type=float, default=3.33e-8, help="learning rate at the end of the cosine")
    optim.add_argument("--warmup_epochs", type=float, default=2.0)
    optim.add_argument("--weight_decay", type=float, default=0.01)
    optim.add_argument("--max_grad_norm", type=float, default=1.0)
    optim.add_argument("--num_train_epochs", type=int, default=22)
    optim.add_argument("--max_train_steps", type=int, help="stop after this many optimizer steps (overrides epochs)")
    optim.add_argument("--seed", type=int, default=42)
    optim.add_argument(
        "--mixed_precision",
        choices=["no", "fp16", "bf16"],
        help="default: accelerate's config; the official recipe is fp16",
    )
    optim.add_argument("--cpu", action="store_true", help="train on the CPU")

    iwo = parser.add_argument_group("Interpolated Weight Optimization, SWA, patching (method doc section 3)")
    iwo.add_argument("--iwo_weight", type=float, default=0.5, help="β, weight of the interpolated loss (0: off)")
    iwo.add_argument("--iwo_low", type=float, default=0.0)
    iwo.add_argument("--iwo_high", type=float, default=0.6)
    iwo.add_argument(
        "--iwo_share_ratio",
        action="store_true",
        help="one r for all processes (official: one each; implied under FSDP2)",
    )
    iwo.add_argument(
        "--iwo_anchor_on_cpu",
        action="store_true",
        help="keep θ_CLIP in host memory (a GPU then holds no copy of it; it crosses per use)",
    )
    iwo.add_argument("--swa_start", type=int, help="first averaged epoch (default: --warmup_epochs, i.e. 2)")
    iwo.add_argument("--swa_end", type=int, help="last averaged epoch (default: the last epoch)")
    iwo.add_argument("--patch_ratio", type=float, default=0.5, help="weight on CLIP of the final model (L/14: 0.6)")

    out = parser.add_argument_group("checkpoints and logging")
    out.add_argument("--output_dir", required=True)
    out.add_argument(
        "--overwrite_output_dir", action="store_true", help="delete an earlier run's checkpoints in --output_dir first"
    )
    out.add_argument(
        "--checkpointing_steps", default="epoch", help="save the training state every N steps, or 'epoch' (default)"
    )
    out.add_argument("--checkpoints_total_limit", type=int, default=2, help="training states kept (0: all)")
    out.add_argument(
        "--resume_from_checkpoint",
        help="a step_N folder, or 'latest' in --output_dir. Single-process / DDP states are read without unpickling "
        "code (progress as JSON, the rest with torch.load(weights_only=True)); under FSDP (whose "
        "torch.distributed.checkpoint pickles .metadata) and DeepSpeed (weights_only=False) loading a state can run "
        "code: resume only from folders you trust",
    )
    out.add_argument("--with_tracking", action="store_true", help="log with the trackers of --report_to")
    out.add_argument("--report_to", default="all", help="'all', 'tensorboard', 'wandb', ... (accelerate trackers)")
    out.add_argument("--logging_steps", type=int, default=10)
    out.add_argument(
        "--push_to_hub",
        action="store_true",
        help="publish OUTPUT_DIR/final (main branch) and OUTPUT_DIR/swa (raw-swa branch) on the Hub",
    )
    out.add_argument("--hub_model_id", help="ORG/NAME of the Hub repository (required with --push_to_hub)")
    out.add_argument("--hub_token")
    out.add_argument("--hub_private", action="store_true")
    args = parser.parse_args(argv)
    for name in ("num_train_epochs", "gradient_accumulation_steps", "per_device_train_batch_size", "logging_steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be a positive integer, got {getattr(args, name)}")
    if args.max_train_steps is not None and args.max_train_steps < 1:
        parser.error(f"--max_train_steps must be a positive integer, got {args.max_train_steps}")
    if args.swa_start is not None and args.swa_end is not None and args.swa_start > args.swa_end:
        parser.error(f"--swa_start {args.swa_start} comes after --swa_end {args.swa_end}")
    if not 0.0 <= args.patch_ratio <= 1.0:
        parser.error(f"--patch_ratio must lie in [0, 1], got {args.patch_ratio}")
    if not 0.0 <= args.iwo_low <= args.iwo_high <= 1.0:
        parser.error(f"need 0 <= --iwo_low <= --iwo_high <= 1, got {args.iwo_low}, {args.iwo_high}")
    if args.push_to_hub and not args.hub_model_id:
        parser.error("--push_to_hub needs --hub_model_id ORG/NAME")
    if args.hub_model_id:  # checked now, not when the trained model is pushed
        from huggingface_hub.utils import HFValidationError, validate_repo_id

        try:
            validate_repo_id(args.hub_model_id)
        except HFValidationError as error:
            parser.error(f"--hub_model_id: {error}")
    steps = args.checkpointing_steps
    if not (steps == "epoch" or steps.isdecimal() and int(steps) > 0):
        parser.error(f"--checkpointing_steps must be a positive number or 'epoch', got {args.checkpointing_steps!r}")
    if args.checkpoints_total_limit < 0:
        parser.error(f"--checkpoints_total_limit must be >= 0 (0: keep all), got {args.checkpoints_total_limit}")
    return args


def main():
    training_function(parse_args())


if __name__ == "__main__":
    sys.exit(main())
