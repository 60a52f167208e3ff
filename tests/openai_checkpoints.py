"""Random CLIP weights in OpenAI's layout (`clip/model.py`) and the official Open-VCLIP file format, for tests."""

import torch


def random_openai_state_dict(
    seed: int, width: int, layers: int, patch: int, grid: int, embed: int, vocab: int, context: int
) -> dict[str, torch.Tensor]:
    """A ViT CLIP with OpenAI's key names (fused `in_proj`, `c_fc`/`c_proj`, `visual.proj`), random values; both
    towers `width` wide (heads = width / 64, OpenAI's convention) and `layers` deep."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *shape, std=0.05: torch.randn(*shape, generator=g) * std  # noqa: E731
    sd = {
        "visual.conv1.weight": r(width, 3, patch, patch),
        "visual.class_embedding": r(width),
        "visual.positional_embedding": r(grid * grid + 1, width),
        "visual.ln_pre.weight": 1 + r(width), "visual.ln_pre.bias": r(width),
        "visual.ln_post.weight": 1 + r(width), "visual.ln_post.bias": r(width),
        "visual.proj": r(width, embed),
        "token_embedding.weight": r(vocab, width),
        "positional_embedding": r(context, width),
        "ln_final.weight": 1 + r(width), "ln_final.bias": r(width),
        "text_projection": r(width, embed),
        "logit_scale": torch.tensor(4.6052),
    }  # fmt: skip
    for tower in ("visual.transformer", "transformer"):
        for i in range(layers):
            p = f"{tower}.resblocks.{i}."
            sd |= {
                p + "attn.in_proj_weight": r(3 * width, width), p + "attn.in_proj_bias": r(3 * width),
                p + "attn.out_proj.weight": r(width, width), p + "attn.out_proj.bias": r(width),
                p + "ln_1.weight": 1 + r(width), p + "ln_1.bias": r(width),
                p + "ln_2.weight": 1 + r(width), p + "ln_2.bias": r(width),
                p + "mlp.c_fc.weight": r(4 * width, width), p + "mlp.c_fc.bias": r(4 * width),
                p + "mlp.c_proj.weight": r(width, 4 * width), p + "mlp.c_proj.bias": r(width),
            }  # fmt: skip
    return sd


def save_official_pth(path, state_dict):
    """The released `swa_2_22.pth` layout: `{'model_state': {'model.' + OpenAI key: tensor}}` (method doc 6)."""
    torch.save({"model_state": {"model." + key: value for key, value in state_dict.items()}}, path)
    return path
