"""The Neural Architecture Ranker: Transformer encoder + score/latency heads + tier decoder.

Paper references (NAR = CVPR/MM'22 paper, NARQ2T = journal extension):

* input: channel-wise patches of the (N, P, P) feature tensor, flattened, linearly projected to D,
  plus sine-cosine positional embeddings (Eq. 4);
* encoder: L pre-LN layers (MSA + FFN with residuals) and a final LN (Eq. 5-7) giving
  ``x_alpha`` in R^{N x D};
* score head: two linear layers with ReLU, no bias (Eq. 8); latency head: same shape (NARQ2T Eq. 10);
* decoder: per layer self-attention over the tier embedding, cross-attention to ``x_alpha``, FFN
  (NAR Eq. 10, NARQ2T Eq. 16-18), final LN; tier logits from the summed tier outputs through two
  linear layers with ReLU in between (NAR Eq. 11; NARQ2T Eq. 13 with its ReLU typo fixed).

Two tier-embedding modes (``tier_mode``):

``"query"`` (NARQ2T)
    ``Q0`` in R^{T x D} is a parameter; the T queries are the decoder's tokens (self-attention runs
    across the tiers, Eq. 16). The T outputs are summed to ``z`` in R^D.
``"mean"`` (NAR)
    each tier embedding ``e_i`` in R^{N x D} is a buffer holding the running mean of the encoder
    features of that tier's architectures (Eq. 13), updated by :meth:`NARanker.update_tier_embeddings`
    (ground truth while training, predicted tiers during the search). Each tier is decoded on its
    own (self-attention over its N tokens), all T tiers batched together in one pass; the T
    outputs (each N x D) are summed and then averaged over the N tokens to ``z`` in R^D.
``None``
    no decoder at all (the no-tier ablation, the "-" row of NARQ2T Table IV).

Design choice the papers leave open: Eq. 8 maps the token matrix ``x_alpha`` (N x D) to a scalar.
``pooling="flatten"`` (the authors' models.py, ``view(-1, N * D)``) feeds the N*D values to the
head's first layer; ``"mean"`` averages the N tokens first. The same holds for the score and
latency heads and, in the ``"mean"`` tier mode, for the summed tier outputs before the tier head.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..config import CHOICES, ExperimentConfig

TIER_MODES = ("query", "mean", None)


def sincos_positional_embedding(n_tokens: int, d_model: int) -> torch.Tensor:
    """The Transformer's fixed sine-cosine embedding (Vaswani et al.), shape ``(n_tokens, d_model)``."""
    pos = torch.arange(n_tokens, dtype=torch.float64).unsqueeze(1)
    div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float64) * (-math.log(10000.0) / d_model))
    pe = torch.zeros(n_tokens, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)[:, : d_model // 2]
    return pe.float()


class FeedForward(nn.Module):
    def __init__(self, d_model: int, d_ff: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(d_model, d_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model), nn.Dropout(dropout)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class EncoderLayer(nn.Module):
    """Pre-LN Transformer layer: Eq. 5 (MSA) and Eq. 6 (FFN), each with a residual."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.ln2 = nn.LayerNorm(d_model)
        self.ffn = FeedForward(d_model, d_ff, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln1(x)
        x = x + self.drop(self.attn(h, h, h, need_weights=False)[0])
        return x + self.ffn(self.ln2(x))


class DecoderLayer(nn.Module):
    """Self-attention over the tier tokens, cross-attention to the architecture feature, FFN.

    NAR Eq. 10 / NARQ2T Eq. 16-18, pre-LN like the encoder.
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.self_attn = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)
        self.ln2 = nn.LayerNorm(d_model)
        self.cross_attn = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)
        self.ln3 = nn.LayerNorm(d_model)
        self.ffn = FeedForward(d_model, d_ff, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, q: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        h = self.ln1(q)
        q = q + self.drop(self.self_attn(h, h, h, need_weights=False)[0])
        q = q + self.drop(self.cross_attn(self.ln2(q), memory, memory, need_weights=False)[0])
        return q + self.ffn(self.ln3(q))


def _two_layer_head(d_in: int, d_hidden: int, d_out: int, bias: bool) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, d_hidden, bias=bias), nn.ReLU(), nn.Linear(d_hidden, d_out, bias=bias))


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
        pooling: ``"flatten"`` or ``"mean"`` (module doc).
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
    ):
        super().__init__()
        if tier_mode not in TIER_MODES:
            raise ValueError(f"tier_mode must be one of {TIER_MODES}, got {tier_mode!r}")
        if pooling not in CHOICES["pooling"]:
            raise ValueError(f"pooling must be one of {CHOICES['pooling']}, got {pooling!r}")
        self.pooling = pooling
        n_tokens, p1, p2 = feature_shape
        self.feature_shape = tuple(feature_shape)
        self.num_tiers = num_tiers
        self.tier_mode = tier_mode
        self.d_model = d_model
        self.patch_proj = nn.Linear(p1 * p2, d_model)                       # E of Eq. 4
        self.register_buffer("pos", sincos_positional_embedding(n_tokens, d_model), persistent=False)
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.ModuleList(EncoderLayer(d_model, n_heads, d_ff, dropout) for _ in range(encoder_layers))
        self.enc_norm = nn.LayerNorm(d_model)                               # Eq. 7
        d_pooled = n_tokens * d_model if pooling == "flatten" else d_model
        self.score_head = _two_layer_head(d_pooled, d_model, 1, bias=False)  # Eq. 8 ("neglect the bias")
        self.latency_head = _two_layer_head(d_pooled, d_model, 1, bias=True) if latency_head else None  # NARQ2T Eq. 10
        if tier_mode is not None:
            self.decoder = nn.ModuleList(DecoderLayer(d_model, n_heads, d_ff, dropout) for _ in range(decoder_layers))
            self.dec_norm = nn.LayerNorm(d_model)
            d_tier = d_pooled if tier_mode == "mean" else d_model  # query mode: T summed D-vectors
            self.tier_head = _two_layer_head(d_tier, d_model, num_tiers, bias=True)  # Eq. 11 / 13
        if tier_mode == "query":
            self.tier_queries = nn.Parameter(torch.randn(num_tiers, d_model) * 0.02)  # Q0 in R^{T x D}
        elif tier_mode == "mean":
            # Eq. 13 state: running means e_i (N x D) and the counts sum_it c_i^it.
            self.register_buffer("tier_embeddings", torch.zeros(num_tiers, n_tokens, d_model))
            self.register_buffer("tier_counts", torch.zeros(num_tiers, dtype=torch.float64))

    # --- pieces -----------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x_alpha (Eq. 4-7) for feature tensors ``(B, N, P, P)``."""
        b, n = x.shape[0], x.shape[1]
        h = self.patch_proj(x.reshape(b, n, -1)) + self.pos
        h = self.drop(h)
        for layer in self.encoder:
            h = layer(h)
        return self.enc_norm(h)

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, N, D) -> (B, N*D) or (B, D), by ``pooling``."""
        return tokens.flatten(1) if self.pooling == "flatten" else tokens.mean(dim=1)

    def score_from_feature(self, feature: torch.Tensor) -> torch.Tensor:
        return self.score_head(self.pool(feature)).squeeze(-1)

    def classify(self, feature: torch.Tensor) -> torch.Tensor:
        """Tier logits ``(B, T)`` from x_alpha; all T tiers go through the decoder in one batch."""
        if self.tier_mode is None:
            raise RuntimeError("this ranker has no tier decoder (tier_mode=None)")
        b = feature.shape[0]
        t = self.num_tiers
        if self.tier_mode == "query":
            q = self.tier_queries.unsqueeze(0).expand(b, -1, -1)            # (B, T, D)
            for layer in self.decoder:
                q = layer(q, feature)
            z = self.dec_norm(q).sum(dim=1)                                  # sum over tiers -> (B, D)
        else:
            n, d = feature.shape[1], feature.shape[2]
            q = (self.tier_embeddings + self.pos).unsqueeze(0).expand(b, -1, -1, -1).reshape(b * t, n, d)
            mem = feature.unsqueeze(1).expand(-1, t, -1, -1).reshape(b * t, n, d)
            for layer in self.decoder:
                q = layer(q, mem)
            z = self.pool(self.dec_norm(q).reshape(b, t, n, d).sum(dim=1))  # sum tiers, then pool tokens
        return self.tier_head(z)

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
