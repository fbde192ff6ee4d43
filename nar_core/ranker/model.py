"""The Neural Architecture Ranker: Transformer encoder + score/latency heads + tier decoder.

Paper references (NAR = CVPR/MM'22 paper, NARQ2T = journal extension) and the authors' code
(AlbertiPot/nar ``ranker/``), which produced the papers' numbers and is the default where the two
differ (``docs/fidelity.md``, "Model"):

* input: channel-wise patches of the (N, P, P) feature tensor, flattened, linearly projected to D,
  plus sine-cosine positional embeddings (Eq. 4);
* encoder: L layers of MSA + FFN with residuals (Eq. 5-7) giving ``x_alpha`` in R^{N x D}.
  ``norm_placement="post"`` (authors' ``models.py``/``sublayers.py``): dropout, positional
  embedding and a LayerNorm on the input, then post-LN layers (LN after each residual), no final
  LN. ``"pre"`` (the papers' Eq. 5-7 as printed): pre-LN layers and a final LN;
* score head: two linear layers with ReLU (Eq. 8), hidden width ``score_head_width`` (authors
  1024 on NB201, 2048 on NB101; 0 = D), with biases (authors) or without (``score_head_bias="off"``,
  the paper's "neglect the bias"); latency head: the same shape with biases (NARQ2T Eq. 10);
* decoder: per layer self-attention over the tier tokens, cross-attention to ``x_alpha``, FFN (NAR
  Eq. 10, NARQ2T Eq. 16-18), the same normalisation placement as the encoder; tier logits from the
  summed tier outputs through Linear (no bias) - ReLU - Linear (authors' ``tier_prj``, hidden width
  ``tier_head_width``: 256 on NB201, 2048 on NB101), scaled by D^-0.5 with
  ``tier_logit_scale="sqrt_d"`` (authors' ``scale_prj``);
* the tier tokens pass a linear projection first with ``tier_projection="linear"`` (authors'
  ``trg_prj``); all weight matrices start Xavier-uniform with ``weight_init="xavier"`` (authors),
  PyTorch's defaults with ``"torch"``. Attention projections have no bias (authors' ``w_qs``...).

Two tier-embedding modes (``tier_mode``):

``"query"`` (NARQ2T)
    ``Q0`` in R^{T x D} is a parameter; the T queries are the decoder's tokens (self-attention runs
    across the tiers, Eq. 16). The T outputs are summed to ``z`` in R^D.
``"mean"`` (NAR)
    each tier embedding ``e_i`` in R^{N x D} is a buffer holding the running mean of the encoder
    features of that tier's architectures (Eq. 13), updated by :meth:`NARanker.update_tier_embeddings`
    (ground truth while training, predicted tiers during the search). Each tier is decoded on its
    own (self-attention over its N tokens), all T tiers batched together in one pass; the T
    outputs (each N x D) are summed and pooled to ``z`` (authors: flattened, N*D values).
``None``
    no decoder at all (the no-tier ablation, the "-" row of NARQ2T Table IV).

Eq. 8 maps the token matrix ``x_alpha`` (N x D) to a scalar without saying how:
``pooling="flatten"`` (the authors' ``view(-1, N * D)``) feeds the N*D values to the head's first
layer; ``"mean"`` averages the N tokens first.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..config import CHOICES, ExperimentConfig

TIER_MODES = ("query", "mean", None)
LN_EPS = 1e-6  # authors' LayerNorm eps


def sincos_positional_embedding(n_tokens: int, d_model: int) -> torch.Tensor:
    """The Transformer's fixed sine-cosine embedding (Vaswani et al.), shape ``(n_tokens, d_model)``."""
    pos = torch.arange(n_tokens, dtype=torch.float64).unsqueeze(1)
    div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float64) * (-math.log(10000.0) / d_model))
    pe = torch.zeros(n_tokens, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)[:, : d_model // 2]
    return pe.float()


class Attention(nn.Module):
    """Multi-head scaled dot-product attention with bias-free projections (authors' ``sublayers.py``),
    computed by :func:`torch.nn.functional.scaled_dot_product_attention` (fused where available)."""

    def __init__(self, d_model: int, n_heads: int, dropout: float):
        super().__init__()
        self.n_heads, self.dropout = n_heads, dropout
        self.q = nn.Linear(d_model, d_model, bias=False)
        self.k = nn.Linear(d_model, d_model, bias=False)
        self.v = nn.Linear(d_model, d_model, bias=False)
        self.out = nn.Linear(d_model, d_model, bias=False)

    def forward(self, q: torch.Tensor, kv: torch.Tensor) -> torch.Tensor:
        b, lq, d = q.shape
        lk, h = kv.shape[1], self.n_heads
        split = lambda t, n: t.view(t.shape[0], n, h, d // h).transpose(1, 2)  # noqa: E731
        args = (split(self.q(q), lq), split(self.k(kv), lk), split(self.v(kv), lk))
        p = self.dropout if self.training else 0.0
        if q.is_cuda and torch.are_deterministic_algorithms_enabled():
            # the fused memory-efficient kernel's backward pass is not deterministic on CUDA; the
            # math kernel is (deterministic_cuda promises one result per config and seed)
            from torch.nn.attention import SDPBackend, sdpa_kernel

            with sdpa_kernel(SDPBackend.MATH):
                o = F.scaled_dot_product_attention(*args, dropout_p=p)
        else:
            o = F.scaled_dot_product_attention(*args, dropout_p=p)
        return self.out(o.transpose(1, 2).reshape(b, lq, d))


class FeedForward(nn.Module):
    def __init__(self, d_model: int, d_ff: int, dropout: float, activation: str):
        super().__init__()
        self.w1, self.w2 = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)
        self.act = nn.ReLU() if activation == "relu" else nn.GELU()
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, _kv: torch.Tensor | None = None) -> torch.Tensor:
        return self.drop(self.w2(self.act(self.w1(x))))  # authors: dropout after w_2 only


class Block(nn.Module):
    """One residual sublayer (attention or FFN) with its LayerNorm after the residual (``post``,
    authors) or before the sublayer (``pre``, Eq. 5-6). ``kv``: the keys/values of a
    cross-attention (the architecture feature), else the block's own input."""

    def __init__(self, d_model: int, inner: nn.Module, dropout: float, post: bool):
        super().__init__()
        self.inner, self.post = inner, post
        self.norm = nn.LayerNorm(d_model, eps=LN_EPS)
        self.drop = nn.Dropout(dropout) if isinstance(inner, Attention) else nn.Identity()  # FFN drops inside

    def forward(self, x: torch.Tensor, kv: torch.Tensor | None = None) -> torch.Tensor:
        if self.post:
            return self.norm(x + self.drop(self.inner(x, x if kv is None else kv)))
        h = self.norm(x)
        return x + self.drop(self.inner(h, h if kv is None else kv))


class EncoderLayer(nn.Module):
    """MSA and FFN, each with a residual (Eq. 5-6)."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float, post: bool, activation: str):
        super().__init__()
        self.attn = Block(d_model, Attention(d_model, n_heads, dropout), dropout, post)
        self.ffn = Block(d_model, FeedForward(d_model, d_ff, dropout, activation), dropout, post)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ffn(self.attn(x))


class DecoderLayer(nn.Module):
    """Self-attention over the tier tokens, cross-attention to the architecture feature, FFN
    (NAR Eq. 10 / NARQ2T Eq. 16-18)."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float, post: bool, activation: str):
        super().__init__()
        self.self_attn = Block(d_model, Attention(d_model, n_heads, dropout), dropout, post)
        self.cross_attn = Block(d_model, Attention(d_model, n_heads, dropout), dropout, post)
        self.ffn = Block(d_model, FeedForward(d_model, d_ff, dropout, activation), dropout, post)

    def forward(self, q: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        return self.ffn(self.cross_attn(self.self_attn(q), memory))


def _two_layer_head(d_in: int, d_hidden: int, d_out: int, bias_in: bool, bias_out: bool) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, d_hidden, bias=bias_in), nn.ReLU(), nn.Linear(d_hidden, d_out, bias=bias_out))


@dataclass
class RankerOutput:
    """What one forward pass returns (batch size B, tiers T, tokens N, width D)."""

    score: torch.Tensor                   # (B,) relative metric y_hat (Eq. 8), higher = better
    feature: torch.Tensor                 # (B, N, D) x_alpha (Eq. 7)
    tier_logits: torch.Tensor | None      # (B, T) pre-softmax tier logits (Eq. 11 / 13); tier 0 = best
    latency: torch.Tensor | None          # (B,) latency prediction in the normalised units (Eq. 10)


class NARanker(nn.Module):
    """NAR / NARQ2T ranker over feature tensors of shape ``(B, N, P, P)``.

    Args:
        feature_shape: ``(N, P, P)`` of one encoded cell (NB201 (31, 4, 4); NB101 (19, 7, 7)).
        d_model, n_heads, d_ff: Transformer sizes (D, heads, FFN width).
        encoder_layers, decoder_layers: L and L_d (6 and 6 in the papers).
        dropout: dropout in attention and FFN blocks.
        num_tiers: T (5 in the papers).
        tier_mode: ``"query"`` (NARQ2T), ``"mean"`` (NAR) or ``None`` (no decoder).
        latency_head: add the NARQ2T latency head (Eq. 10).
        pooling, norm_placement, activation, score_head_width, tier_head_width, score_head_bias,
        tier_logit_scale, tier_projection, weight_init: the model settings of
        :class:`~nar_core.config.ExperimentConfig` (module doc).
    """

    def __init__(
        self,
        feature_shape: tuple[int, int, int],
        d_model: int = 128,
        n_heads: int = 4,
        d_ff: int = 512,
        encoder_layers: int = 6,
        decoder_layers: int = 6,
        dropout: float = 0.1,
        num_tiers: int = 5,
        tier_mode: str | None = "query",
        latency_head: bool = False,
        pooling: str = ExperimentConfig.pooling,
        norm_placement: str = ExperimentConfig.norm_placement,
        activation: str = ExperimentConfig.activation,
        score_head_width: int = ExperimentConfig.score_head_width,
        tier_head_width: int = ExperimentConfig.tier_head_width,
        score_head_bias: str = ExperimentConfig.score_head_bias,
        tier_logit_scale: str = ExperimentConfig.tier_logit_scale,
        tier_projection: str = ExperimentConfig.tier_projection,
        weight_init: str = ExperimentConfig.weight_init,
    ):
        super().__init__()
        if tier_mode not in TIER_MODES:
            raise ValueError(f"tier_mode must be one of {TIER_MODES}, got {tier_mode!r}")
        for name, value in (("pooling", pooling), ("norm_placement", norm_placement), ("activation", activation),
                            ("score_head_bias", score_head_bias), ("tier_logit_scale", tier_logit_scale),
                            ("tier_projection", tier_projection), ("weight_init", weight_init)):
            if value not in CHOICES[name]:
                raise ValueError(f"{name} must be one of {CHOICES[name]}, got {value!r}")
        self.pooling = pooling
        self.post = norm_placement == "post"
        n_tokens, p1, p2 = feature_shape
        self.feature_shape = tuple(feature_shape)
        self.num_tiers = num_tiers
        self.tier_mode = tier_mode
        self.d_model = d_model
        self.logit_scale = d_model ** -0.5 if tier_logit_scale == "sqrt_d" else 1.0
        self.patch_proj = nn.Linear(p1 * p2, d_model)                       # E of Eq. 4
        self.register_buffer("pos", sincos_positional_embedding(n_tokens, d_model), persistent=False)
        self.drop = nn.Dropout(dropout)
        layer_args = (d_model, n_heads, d_ff, dropout, self.post, activation)
        self.encoder = nn.ModuleList(EncoderLayer(*layer_args) for _ in range(encoder_layers))
        self.enc_norm = nn.LayerNorm(d_model, eps=LN_EPS)  # post: on the input; pre: Eq. 7's final LN
        d_pooled = n_tokens * d_model if pooling == "flatten" else d_model
        w_score = score_head_width or d_model
        bias = score_head_bias == "on"
        self.score_head = _two_layer_head(d_pooled, w_score, 1, bias, bias)  # Eq. 8
        self.latency_head = _two_layer_head(d_pooled, w_score, 1, True, True) if latency_head else None  # Eq. 10
        if tier_mode is not None:
            self.tier_proj = nn.Linear(d_model, d_model) if tier_projection == "linear" else nn.Identity()
            self.decoder = nn.ModuleList(DecoderLayer(*layer_args) for _ in range(decoder_layers))
            self.dec_norm = nn.LayerNorm(d_model, eps=LN_EPS)
            d_tier = d_pooled if tier_mode == "mean" else d_model  # query mode: T summed D-vectors
            self.tier_head = _two_layer_head(d_tier, tier_head_width or d_model, num_tiers, False, True)  # Eq. 11 / 13
        if tier_mode == "query":
            self.tier_queries = nn.Parameter(torch.randn(num_tiers, d_model) * 0.02)  # Q0 in R^{T x D}
            self.register_buffer("query_pos", sincos_positional_embedding(num_tiers, d_model), persistent=False)
        elif tier_mode == "mean":
            # Eq. 13 state: running means e_i (N x D) and the counts sum_it c_i^it.
            self.register_buffer("tier_embeddings", torch.zeros(num_tiers, n_tokens, d_model))
            self.register_buffer("tier_counts", torch.zeros(num_tiers, dtype=torch.float64))
        if weight_init == "xavier":  # authors' Transformer.__init__: every matrix, queries included
            for p in self.parameters():
                if p.dim() > 1:
                    nn.init.xavier_uniform_(p)

    # --- pieces -----------------------------------------------------------------------------
    def _embed(self, tokens: torch.Tensor, pos: torch.Tensor, norm: nn.LayerNorm) -> torch.Tensor:
        """The stack's input: post-LN (authors) dropout, + position, LN; pre-LN: + position, dropout."""
        if self.post:
            return norm(self.drop(tokens) + pos)
        return self.drop(tokens + pos)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x_alpha (Eq. 4-7) for feature tensors ``(B, N, P, P)``."""
        b, n = x.shape[0], x.shape[1]
        h = self._embed(self.patch_proj(x.reshape(b, n, -1)), self.pos, self.enc_norm)
        for layer in self.encoder:
            h = layer(h)
        return h if self.post else self.enc_norm(h)

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, N, D) -> (B, N*D) or (B, D), by ``pooling``."""
        return tokens.flatten(1) if self.pooling == "flatten" else tokens.mean(dim=1)

    def score_from_feature(self, feature: torch.Tensor) -> torch.Tensor:
        return self.score_head(self.pool(feature)).squeeze(-1)

    def _decode(self, q: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        for layer in self.decoder:
            q = layer(q, memory)
        return q if self.post else self.dec_norm(q)

    def classify(self, feature: torch.Tensor) -> torch.Tensor:
        """Tier logits ``(B, T)`` from x_alpha; all T tiers go through the decoder in one batch."""
        if self.tier_mode is None:
            raise RuntimeError("this ranker has no tier decoder (tier_mode=None)")
        b = feature.shape[0]
        t = self.num_tiers
        if self.tier_mode == "query":
            q = self._embed(self.tier_proj(self.tier_queries), self.query_pos, self.dec_norm)
            z = self._decode(q.unsqueeze(0).expand(b, -1, -1), feature).sum(dim=1)  # sum over tiers -> (B, D)
        else:
            n, d = feature.shape[1], feature.shape[2]
            q = self._embed(self.tier_proj(self.tier_embeddings), self.pos, self.dec_norm)  # (T, N, D)
            q = q.unsqueeze(0).expand(b, -1, -1, -1).reshape(b * t, n, d)
            mem = feature.unsqueeze(1).expand(-1, t, -1, -1).reshape(b * t, n, d)
            z = self.pool(self._decode(q, mem).reshape(b, t, n, d).sum(dim=1))  # sum tiers, then pool tokens
        return self.tier_head(z) * self.logit_scale

    def forward(self, x: torch.Tensor, with_tiers: bool = True) -> RankerOutput:
        feature = self.encode(x)
        pooled = self.pool(feature)
        score = self.score_head(pooled).squeeze(-1)
        latency = self.latency_head(pooled).squeeze(-1) if self.latency_head is not None else None
        logits = self.classify(feature) if (with_tiers and self.tier_mode is not None) else None
        return RankerOutput(score=score, feature=feature, tier_logits=logits, latency=latency)

    # --- NAR running means (Eq. 13) -----------------------------------------------------------
    @torch.no_grad()
    def reset_tier_embeddings(self) -> None:
        """Zero the running means and their counts (authors: fresh ``Bucket``s each epoch and at
        the start of the search). A no-op in the other modes."""
        if self.tier_mode == "mean":
            self.tier_embeddings.zero_()
            self.tier_counts.zero_()

    @torch.no_grad()
    def update_tier_embeddings(self, feature: torch.Tensor, tiers: torch.Tensor) -> None:
        """Eq. 13: e_i <- (e_i * C_i + sum of this batch's x_alpha in tier i) / (C_i + c_i).

        ``tiers`` are ground-truth labels while training and predicted labels during the search.
        A no-op in the other modes.
        """
        if self.tier_mode != "mean":
            return
        feature = feature.detach().to(self.tier_embeddings.dtype)
        t = self.num_tiers
        sums = torch.zeros_like(self.tier_embeddings).index_add_(0, tiers.long(), feature)
        counts = torch.bincount(tiers.long(), minlength=t).to(self.tier_counts.dtype)
        new_counts = self.tier_counts + counts
        seen = counts > 0
        old = self.tier_embeddings * self.tier_counts.to(feature.dtype).view(t, 1, 1)
        updated = (old + sums) / new_counts.clamp(min=1).to(feature.dtype).view(t, 1, 1)
        self.tier_embeddings[seen] = updated[seen]
        self.tier_counts.copy_(new_counts)
