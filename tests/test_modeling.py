"""OpenVCLIPModel against independent expectations: a per-frame loop of the official attention, CLIPModel, formulas."""

import math

import pytest
import torch
from huggingface_hub.errors import StrictDataclassClassValidationError
from torch import nn
from transformers import AutoConfig, AutoModel, CLIPConfig, CLIPModel
from transformers.testing_utils import CaptureLogger
from transformers.utils import logging as transformers_logging

from open_vclip_hf import (
    OpenVCLIPConfig,
    OpenVCLIPModel,
    OpenVCLIPVisionConfig,
    OpenVCLIPVisionModel,
    OpenVCLIPVisionModelWithProjection,
)
from open_vclip_hf.modeling_open_vclip import OpenVCLIPNeighborFrameAttention
from open_vclip_hf.training import enable_activation_checkpointing

TEXT = dict(
    vocab_size=99,
    hidden_size=32,
    intermediate_size=37,
    num_hidden_layers=2,
    num_attention_heads=4,
    max_position_embeddings=16,
    projection_dim=16,
    bos_token_id=97,
    eos_token_id=98,
    pad_token_id=1,
)
VISION = dict(
    hidden_size=32,
    intermediate_size=37,
    num_hidden_layers=2,
    num_attention_heads=4,
    image_size=32,
    patch_size=8,
    projection_dim=16,
)


def tiny_config(attn="sdpa", **kwargs) -> OpenVCLIPConfig:
    config = OpenVCLIPConfig(text_config=TEXT, vision_config=VISION, projection_dim=16, **kwargs)
    config._attn_implementation = attn
    return config


def tiny_model(attn="sdpa", seed=0, **kwargs) -> OpenVCLIPModel:
    torch.manual_seed(seed)
    return OpenVCLIPModel(tiny_config(attn, **kwargs)).eval()


def videos(batch=2, frames=3, seed=1) -> torch.Tensor:
    return torch.randn(batch, frames, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def text_ids(n=4, length=7, seed=2) -> torch.Tensor:
    ids = torch.randint(2, 97, (n, length), generator=torch.Generator().manual_seed(seed))
    ids[:, 0], ids[:, -1] = 97, 98  # bos ... eos
    return ids


def loop_neighbor_attention(attn: nn.Module, hidden: torch.Tensor, num_frames: int) -> torch.Tensor:
    """The official `expand_temporal_view` (method doc 1.2), one frame at a time: keys/values of frame t are
    [K_{t+1}; K_{t-1}; K_t] after projection, an explicit all-zero block where the neighbour does not exist."""
    heads, head_dim = attn.num_heads, attn.head_dim
    n_tokens, width = hidden.shape[1:]
    keys, values = attn.k_proj(hidden), attn.v_proj(hidden)
    zeros = torch.zeros(n_tokens, width, dtype=hidden.dtype)
    outputs = []
    for index in range(hidden.shape[0]):
        t = index % num_frames
        nxt = index + 1 if t + 1 < num_frames else None
        prev = index - 1 if t > 0 else None
        k = torch.cat([keys[nxt] if nxt is not None else zeros, keys[prev] if prev is not None else zeros, keys[index]])
        v = torch.cat(
            [values[nxt] if nxt is not None else zeros, values[prev] if prev is not None else zeros, values[index]]
        )
        q = attn.q_proj(hidden[index])
        per_head = []
        for h in range(heads):
            sl = slice(h * head_dim, (h + 1) * head_dim)
            weights = torch.softmax(q[:, sl] @ k[:, sl].T / math.sqrt(head_dim), dim=-1)
            per_head.append(weights @ v[:, sl])
        outputs.append(attn.out_proj(torch.cat(per_head, dim=-1)))
    return torch.stack(outputs)


@pytest.mark.parametrize("attn_implementation", ["eager", "sdpa"])
@pytest.mark.parametrize("num_frames", [1, 2, 3, 8])
def test_neighbor_attention_matches_loop_reference(attn_implementation, num_frames):
    config = OpenVCLIPVisionConfig(**VISION)
    config._attn_implementation = attn_implementation
    torch.manual_seed(0)
    attn = OpenVCLIPNeighborFrameAttention(config).eval()
    for linear in (attn.q_proj, attn.k_proj, attn.v_proj, attn.out_proj):
        nn.init.normal_(linear.bias, std=0.5)  # non-zero biases: boundary blocks must be zero *after* projection
    hidden = torch.randn(2 * num_frames, 5, 32)
    with torch.no_grad():
        ours, _ = attn(hidden, num_frames=num_frames)
        reference = loop_neighbor_attention(attn, hidden, num_frames)
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-5)


def test_eager_and_sdpa_agree_and_attention_weights_are_exposed():
    eager, sdpa = tiny_model("eager"), tiny_model("sdpa")
    pixel_values = videos(frames=4)
    with torch.no_grad():
        out_eager = eager.get_video_features(pixel_values, output_attentions=True)
        out_sdpa = sdpa.get_video_features(pixel_values)
    torch.testing.assert_close(out_eager.pooler_output, out_sdpa.pooler_output, atol=1e-5, rtol=1e-5)
    attentions = out_eager.attentions
    n_tokens = (32 // 8) ** 2 + 1
    assert len(attentions) == VISION["num_hidden_layers"]
    assert attentions[0].shape == (2 * 4, 4, n_tokens, 3 * n_tokens)
    torch.testing.assert_close(attentions[0].sum(-1), torch.ones(2 * 4, 4, n_tokens))
    # First frame of a video: its "previous frame" block is zero keys, so each gets exactly exp(0)/Z of the mass,
    # and every one of those weights is equal within a row.
    prev_block = attentions[0][0, :, :, n_tokens : 2 * n_tokens]
    torch.testing.assert_close(prev_block, prev_block[..., :1].expand_as(prev_block))


def test_videos_in_a_batch_do_not_attend_to_each_other():
    model = tiny_model()
    pixel_values = videos(batch=2, frames=3)
    with torch.no_grad():
        together = model.get_video_features(pixel_values).pooler_output
        alone = torch.cat([model.get_video_features(pixel_values[i : i + 1]).pooler_output for i in range(2)])
    torch.testing.assert_close(together, alone, atol=1e-6, rtol=1e-5)


def test_frames_interact_under_neighbor_attention_only():
    neighbor, frame_wise = tiny_model(), tiny_model(temporal_attention="none")
    frame_wise.load_state_dict(neighbor.state_dict())
    pixel_values = videos(batch=1, frames=3)
    changed = pixel_values.clone()
    changed[:, 2] = torch.randn_like(changed[:, 2])  # frame 2 is a neighbour of frame 1
    with torch.no_grad():
        frame1 = lambda m, pv: m.vision_model(pv).pooler_output[:, 1]  # noqa: E731
        assert not torch.allclose(frame1(neighbor, pixel_values), frame1(neighbor, changed))
        torch.testing.assert_close(frame1(frame_wise, pixel_values), frame1(frame_wise, changed))


def test_temporal_attention_none_is_clip_per_frame_then_mean_of_normalised():
    torch.manual_seed(0)
    clip = CLIPModel(CLIPConfig(text_config=TEXT, vision_config=VISION, projection_dim=16)).eval()
    model = OpenVCLIPModel.from_clip(clip, temporal_attention="none").eval()
    pixel_values, ids = videos(batch=2, frames=3), text_ids()
    with torch.no_grad():
        ours = model(input_ids=ids, pixel_values=pixel_values)
        frames = clip.get_image_features(pixel_values.flatten(0, 1)).pooler_output.view(2, 3, -1)
        text = clip.get_text_features(input_ids=ids).pooler_output
    expected_video = (frames / frames.norm(dim=-1, keepdim=True)).mean(dim=1)
    expected_text = text / text.norm(dim=-1, keepdim=True)
    torch.testing.assert_close(ours.video_embeds, expected_video, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(ours.text_embeds, expected_text, atol=1e-6, rtol=1e-5)
    expected_logits = clip.logit_scale.exp() * expected_video @ expected_text.T
    torch.testing.assert_close(ours.logits_per_video, expected_logits, atol=1e-5, rtol=1e-5)
    # Equivalently (method doc 1.3): the mean over frames of the per-frame CLIP logits.
    with torch.no_grad():
        per_frame = clip(input_ids=ids, pixel_values=pixel_values.flatten(0, 1)).logits_per_image.view(2, 3, -1)
    torch.testing.assert_close(ours.logits_per_video, per_frame.mean(dim=1), atol=1e-5, rtol=1e-5)


def test_any_frame_count_and_single_frame_differs_from_clip():
    torch.manual_seed(0)
    clip = CLIPModel(CLIPConfig(text_config=TEXT, vision_config=VISION, projection_dim=16)).eval()
    model = OpenVCLIPModel.from_clip(clip).eval()
    for frames in (1, 2, 5, 9):
        assert model.get_video_features(videos(frames=frames)).pooler_output.shape == (2, 16)
    images = videos(batch=2, frames=1)[:, 0]
    with torch.no_grad():
        ours = model.get_image_features(images).pooler_output
        theirs = clip.get_image_features(images).pooler_output
    assert ours.shape == theirs.shape
    assert not torch.allclose(ours, theirs, atol=1e-4)  # two all-zero neighbour frames dilute attention


def test_losses_equal_hand_computed_formulas():
    model = tiny_model()
    pixel_values, ids = videos(batch=4, frames=2), text_ids(n=4)
    out = model(input_ids=ids, pixel_values=pixel_values, return_loss=True)
    target = torch.arange(4)
    expected = (
        nn.functional.cross_entropy(out.logits_per_video, target)
        + nn.functional.cross_entropy(out.logits_per_text, target)
    ) / 2
    torch.testing.assert_close(out.loss, expected)
    labels = torch.tensor([2, 0, 3, 3])
    out = model(input_ids=ids, pixel_values=pixel_values, labels=labels)
    torch.testing.assert_close(out.loss, nn.functional.cross_entropy(out.logits_per_video, labels))
    # Precomputed class embeddings give the same logits as the text tower.
    again = model(text_embeds=out.text_model_output.pooler_output * 3.0, pixel_values=pixel_values, labels=labels)
    torch.testing.assert_close(again.logits_per_video, out.logits_per_video)
    assert again.text_model_output is None
    with pytest.raises(ValueError, match="not both"):
        model(input_ids=ids, pixel_values=pixel_values, labels=labels, return_loss=True)
    with pytest.raises(ValueError, match="exactly one"):
        model(pixel_values=pixel_values)


def test_video_embedding_is_mean_of_normalised_projected_frames():
    model = tiny_model()
    pixel_values = videos(batch=2, frames=4)
    with torch.no_grad():
        frame_cls = model.vision_model(pixel_values).pooler_output  # (2, 4, hidden)
        projected = frame_cls @ model.visual_projection.weight.T
        expected = (projected / projected.norm(dim=-1, keepdim=True)).mean(dim=1)
        video = model.get_video_features(pixel_values).pooler_output
    torch.testing.assert_close(video, expected, atol=1e-6, rtol=1e-5)
    assert (video.norm(dim=-1) <= 1 + 1e-6).all()  # not re-normalised


def test_bad_pixel_values_shape_is_a_clear_error():
    model = tiny_model()
    with pytest.raises(ValueError, match=r"\(batch_size, num_frames, channels, height, width\)"):
        model.get_video_features(torch.randn(2, 3, 32, 32))
    with pytest.raises(ValueError, match="at least one frame"):
        model.get_video_features(torch.randn(1, 0, 3, 32, 32))
    video = torch.randn(1, 4, 3, 32, 32)
    for wrong in (
        video[:, :, :1],
        video.permute(0, 1, 3, 4, 2),
        video.permute(0, 2, 1, 3, 4),
    ):  # 1 channel, NTHWC, NCTHW
        with pytest.raises(ValueError, match="3 channels in dimension 2"):
            model.get_video_features(wrong)


def test_clip_weights_load_without_missing_or_new_keys(tmp_path):
    torch.manual_seed(0)
    clip = CLIPModel(CLIPConfig(text_config=TEXT, vision_config=VISION, projection_dim=16))
    clip.save_pretrained(tmp_path / "clip")
    with CaptureLogger(transformers_logging.get_logger("transformers.configuration_utils")) as log:
        model, info = OpenVCLIPModel.from_pretrained(tmp_path / "clip", output_loading_info=True)
    assert "model of type `clip`" not in log.out  # a supported load, not "not supported and can yield errors"
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    assert isinstance(model.config, OpenVCLIPConfig) and model.config.model_type == "open_vclip"
    assert model.config.vision_config.patch_size == 8 and model.config.temporal_attention == "neighbor"
    ours, theirs = model.state_dict(), clip.state_dict()
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in clip.parameters())


def test_save_load_round_trip_is_bit_identical_and_auto_classes_resolve(tmp_path):
    model = tiny_model(num_frames=5)
    model.save_pretrained(tmp_path / "m")
    assert isinstance(AutoConfig.from_pretrained(tmp_path / "m"), OpenVCLIPConfig)
    loaded = AutoModel.from_pretrained(tmp_path / "m").eval()
    assert type(loaded) is OpenVCLIPModel and loaded.config.num_frames == 5
    assert loaded.config.vision_config.num_frames == 5
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    pixel_values, ids = videos(), text_ids()
    with torch.no_grad():
        assert torch.equal(
            model(input_ids=ids, pixel_values=pixel_values).logits_per_video,
            loaded(input_ids=ids, pixel_values=pixel_values).logits_per_video,
        )
    # Settings overridden at load time reach the vision tower: the frozen-CLIP baseline from the same folder.
    frame_wise = OpenVCLIPModel.from_pretrained(tmp_path / "m", temporal_attention="none", num_frames=3).eval()
    assert frame_wise.config.vision_config.temporal_attention == "none"
    assert frame_wise.config.vision_config.num_frames == 3
    with torch.no_grad():
        changed = pixel_values.clone()
        changed[:, 1] += 1.0  # frame 1 is a neighbour of frames 0 and 2, so only it may change
        before = frame_wise.vision_model(pixel_values).pooler_output
        after = frame_wise.vision_model(changed).pooler_output
    torch.testing.assert_close(before[:, [0, 2]], after[:, [0, 2]])


def test_vision_models_match_the_full_model(tmp_path):
    model = tiny_model()
    model.save_pretrained(tmp_path / "m")
    with_projection = OpenVCLIPVisionModelWithProjection.from_pretrained(tmp_path / "m").eval()
    vision = OpenVCLIPVisionModel.from_pretrained(tmp_path / "m").eval()
    pixel_values = videos(frames=3)
    with torch.no_grad():
        expected = model.get_video_features(pixel_values)
        out = with_projection(pixel_values)
        torch.testing.assert_close(out.video_embeds, expected.pooler_output)
        torch.testing.assert_close(vision(pixel_values).last_hidden_state, expected.last_hidden_state)
    assert out.frame_embeds.shape == (2, 3, 16) and out.last_hidden_state.shape == (2, 3, 17, 32)


def test_gradient_checkpointing_gives_the_same_gradients():
    pixel_values, labels = videos(frames=3), torch.tensor([1, 0])
    grads = []
    for checkpointing in (False, True):
        model = tiny_model().train()
        if checkpointing:
            enable_activation_checkpointing(model)
        model(input_ids=text_ids(n=2), pixel_values=pixel_values, labels=labels).loss.backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], atol=1e-6, rtol=1e-5, msg=name)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("attn_implementation", ["eager", "sdpa"])
def test_half_precision_keeps_its_dtype(dtype, attn_implementation):
    model = tiny_model(attn_implementation).to(dtype)
    with torch.no_grad():
        out = model(input_ids=text_ids(), pixel_values=videos().to(dtype))
        reference = tiny_model(attn_implementation)(input_ids=text_ids(), pixel_values=videos())
    assert out.video_embeds.dtype == dtype and out.logits_per_video.dtype == dtype
    torch.testing.assert_close(out.logits_per_video.float(), reference.logits_per_video, atol=0.1, rtol=0.05)


def test_config_validation_and_from_clip_config():
    invalid = (ValueError, StrictDataclassClassValidationError)  # transformers wraps validator errors
    with pytest.raises(invalid, match="temporal_attention"):
        OpenVCLIPConfig(temporal_attention="divided")
    with pytest.raises(invalid, match="num_frames"):
        OpenVCLIPConfig(num_frames=0)
    clip_config = CLIPConfig(text_config=TEXT, vision_config=VISION, projection_dim=16)
    config = OpenVCLIPConfig.from_clip_config(clip_config, num_frames=16)
    assert config.vision_config.patch_size == 8 and config.vision_config.num_frames == 16
    assert config.text_config.to_dict() | {"transformers_version": None} == clip_config.text_config.to_dict() | {
        "transformers_version": None
    }
