"""Build the tiny default text-to-image model: a Stable Diffusion pipeline from configs.

The shapes follow RECIPES (tiny diffusers pipeline): a UNet with blocks (32, 64), a
4-block VAE (8× downsampling like real Stable Diffusion, which keeps 256² fast), a
2-layer CLIP text encoder and a CLIP BPE tokenizer trained on the bundled corpus. The
weights are random, so images are structured noise; the loading and sampling code is
the same as for a real checkpoint::

    directory = build_tiny_image_pipeline(Path("data/models/tiny-image-sd"))
    StableDiffusionPipeline.from_pretrained(directory, local_files_only=True)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generators.model_files import read_build_marker, write_build_marker
from generators.tiny._build import atomic_model_dir, deterministic_torch, quiet_progress_bars
from generators.tiny.bpe import byte_level_alphabet, train_bpe
from generators.tiny.text_lm import read_corpus_documents

__all__ = ["IMAGE_BUILDER_VERSION", "TinySDRecipe", "build_tiny_image_pipeline"]

IMAGE_BUILDER_VERSION = 1
CLIP_BOS, CLIP_EOS = "<|startoftext|>", "<|endoftext|>"


@dataclass(frozen=True, slots=True)
class TinySDRecipe:
    clip_vocab_size: int = 2048
    text_hidden_size: int = 32
    unet_channels: tuple[int, int] = (32, 64)
    vae_channels: tuple[int, int, int, int] = (16, 16, 32, 32)
    seed: int = 20261124


def build_tiny_image_pipeline(target: Path, recipe: TinySDRecipe | None = None) -> Path:
    """Build the pipeline into ``target`` with ``save_pretrained``; a completed build stays."""
    if read_build_marker(target) is not None:
        return target
    recipe = recipe or TinySDRecipe()
    with (
        atomic_model_dir(target) as work_dir,
        deterministic_torch(recipe.seed),
        quiet_progress_bars(),
    ):
        tokenizer = train_clip_tokenizer(read_corpus_documents(), recipe, work_dir)
        pipeline = assemble_pipeline(tokenizer, recipe)
        pipeline.save_pretrained(work_dir, safe_serialization=True)
        write_build_marker(work_dir, name=target.name, builder_version=IMAGE_BUILDER_VERSION)
    return target


def train_clip_tokenizer(documents: Sequence[str], recipe: TinySDRecipe, scratch: Path) -> Any:
    """A ``CLIPTokenizer`` whose BPE vocabulary is trained offline (RECIPES: CLIP tokenizer).

    CLIP marks word ends with ``</w>`` and lower-cases; byte-level pieces keep Chinese
    from becoming all-unknown.
    """
    from tokenizers import pre_tokenizers
    from transformers import CLIPTokenizer

    pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    words = [
        piece
        for document in documents
        for piece, _ in pre_tokenizer.pre_tokenize_str(document.lower())
    ]
    vocab, merges = train_bpe(
        words,
        vocab_size=recipe.clip_vocab_size,
        alphabet=byte_level_alphabet(),
        special_tokens=[CLIP_BOS, CLIP_EOS],
        end_of_word_suffix="</w>",
    )
    vocab_path, merges_path = scratch / "clip_vocab.json", scratch / "clip_merges.txt"
    vocab_path.write_text(json.dumps(vocab, ensure_ascii=False), "utf-8")
    merges_path.write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), "utf-8")
    # CLIPTokenizer takes file paths here, not objects (RECIPES).
    tokenizer = CLIPTokenizer(vocab=str(vocab_path), merges=str(merges_path), model_max_length=77)
    vocab_path.unlink()
    merges_path.unlink()
    return tokenizer


def assemble_pipeline(tokenizer: Any, recipe: TinySDRecipe) -> Any:
    from diffusers import StableDiffusionPipeline

    # diffusers leaves its constructors unannotated.
    return StableDiffusionPipeline(
        vae=new_vae(recipe),
        text_encoder=new_text_encoder(tokenizer, recipe),
        tokenizer=tokenizer,
        unet=new_unet(recipe),
        scheduler=new_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def new_unet(recipe: TinySDRecipe) -> Any:
    from diffusers import UNet2DConditionModel

    # diffusers leaves its constructors unannotated.
    return UNet2DConditionModel(
        sample_size=32,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=recipe.unet_channels,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=recipe.text_hidden_size,
        attention_head_dim=8,
        norm_num_groups=8,
    )


def new_vae(recipe: TinySDRecipe) -> Any:
    from diffusers import AutoencoderKL

    # Four blocks = three 2× downsamplings = 8×, as in real Stable Diffusion; a 2-block
    # VAE leaves 4× larger latents and is ~25× slower at 256² (RECIPES).
    # diffusers leaves its constructors unannotated.
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=recipe.vae_channels,
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=8,
        sample_size=256,
    )


def new_text_encoder(tokenizer: Any, recipe: TinySDRecipe) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=recipe.text_hidden_size,
        intermediate_size=recipe.text_hidden_size * 2,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=77,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return CLIPTextModel(config)


def new_scheduler() -> Any:
    from diffusers import DDIMScheduler

    # steps_offset=1 as in Stable Diffusion v1's scheduler config (RECIPES).
    # diffusers leaves its constructors unannotated.
    return DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
