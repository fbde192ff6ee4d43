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


#: below this many outputs a run-stacked linear map is a broadcast product and a sum: a batched
#: matrix product with so few columns takes a different kernel for one run than for several, and
#: a packed run must give bit for bit the numbers of the same run alone (``tests/test_packing.py``)
_NARROW = 16


class RunLinear(nn.Module):
    """``runs`` independent linear maps applied at once: ``(R, ..., d_in) -> (R, ..., d_out)``.

    The weight is ``(R, d_out, d_in)``, each run's slice laid out and initialised as
    :class:`torch.nn.Linear`'s. One run is ``R = 1``; a packed group of runs trains as one model
    with a leading run axis (the same code path, so a run's numbers do not depend on its pack).
    """

    def __init__(self, runs: int, d_in: int, d_out: int, bias: bool = True):
        super().__init__()
        self.in_features, self.out_features = d_in, d_out  # torch.nn.Linear's names
        self.weight = nn.Parameter(torch.empty(runs, d_out, d_in))
        self.bias = nn.Parameter(torch.empty(runs, d_out)) if bias else None

    def reset_run(self, r: int, gen: torch.Generator) -> None:
        """Run ``r``'s slice as :meth:`torch.nn.Linear.reset_parameters` draws it, from ``gen``."""
        with torch.no_grad():
            nn.init.kaiming_uniform_(self.weight[r], a=math.sqrt(5), generator=gen)
            if self.bias is not None:
                bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
                nn.init.uniform_(self.bias[r], -bound, bound, generator=gen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        h = x.reshape(x.shape[0], -1, self.in_features)
        if self.out_features < _NARROW:
            y = (h.unsqueeze(-2) * self.weight.unsqueeze(1)).sum(-1)
            y = y if self.bias is None else y + self.bias.unsqueeze(1)
        else:
            y = _RunMatmul.apply(h, self.weight, self.bias)
        return y.reshape(*lead, self.out_features)


class _RunMatmul(torch.autograd.Function):
    """``h @ W^T + b`` per run, ``(R, M, d_in) x (R, d_out, d_in) -> (R, M, d_out)``, with the weight's
    gradient computed in the weight's own layout (``g^T @ h``). Autograd's ``bmm`` would compute it
    as ``h^T @ g`` and then copy its transpose into the weight's layout: a strided copy that took a
    tenth of a CPU training step (the 3,968 x 1,024 score head; issue 18). The same products, the
    same numbers (``tests/test_packing.py``). Under autocast the products run in the autocast dtype
    and each gradient returns in its input's dtype, as autograd's casts would return them."""

    @staticmethod
    def forward(ctx, h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        ctx.save_for_backward(h, weight)
        ctx.has_bias = bias is not None
        if bias is None:
            return torch.bmm(h, weight.transpose(1, 2))
        return torch.baddbmm(bias.unsqueeze(1), h, weight.transpose(1, 2))

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        h, weight = ctx.saved_tensors
        dt = g.dtype
        grad_h = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_h = torch.bmm(g, weight.to(dt)).to(h.dtype)
        if ctx.needs_input_grad[1]:
            grad_w = torch.bmm(g.transpose(1, 2), h.to(dt)).to(weight.dtype)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = g.sum(1).to(weight.dtype)
        return grad_h, grad_w, grad_b


class RunLayerNorm(nn.Module):
    """LayerNorm over the last axis with one affine (weight, bias) per run: ``(R, ..., D)``."""

    def __init__(self, runs: int, d: int, eps: float = 1e-5):
        super().__init__()
        self.d, self.eps = d, eps
        self.weight = nn.Parameter(torch.ones(runs, d))
        self.bias = nn.Parameter(torch.zeros(runs, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        view = (x.shape[0],) + (1,) * (x.dim() - 2) + (self.d,)
        return F.layer_norm(x, (self.d,), eps=self.eps) * self.weight.view(view) + self.bias.view(view)


class RunDropout(nn.Module):
    """Dropout whose masks come from each run's own generator (``NARanker.set_noise``): a run draws
    the same masks alone as in a pack. Without generators the masks come from torch's global one."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p
        self.gens: list[torch.Generator | None] | None = None  # set by the owning NARanker

    def mask(self, x: torch.Tensor) -> torch.Tensor:
        """A 0/1 mask of ``x``'s shape scaled by 1/(1-p), one run's part per generator."""
        keep = 1.0 - self.p
        gens = self.gens or [None] * x.shape[0]
        if len(gens) != x.shape[0]:
            raise RuntimeError(f"dropout: {len(gens)} generators for {x.shape[0]} runs")
        m = torch.stack([torch.empty(x.shape[1:], device=x.device).bernoulli_(keep, generator=g) for g in gens])
        return (m * (1.0 / keep)).to(x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        return x * self.mask(x)


class Attention(nn.Module):
    """Multi-head scaled dot-product attention with bias-free projections (authors' ``sublayers.py``).
    Inputs ``(R, B, L, D)``; the run and batch axes are one batch for the attention itself. Without
    dropout (evaluation, search) :func:`torch.nn.functional.scaled_dot_product_attention` (fused
    where available); while training with dropout the product is written out, its dropout mask
    drawn from each run's generator (:class:`RunDropout`)."""

    def __init__(self, runs: int, d_model: int, n_heads: int, dropout: float):
        super().__init__()
        self.n_heads = n_heads
        self.q = RunLinear(runs, d_model, d_model, bias=False)
        self.k = RunLinear(runs, d_model, d_model, bias=False)
        self.v = RunLinear(runs, d_model, d_model, bias=False)
        self.out = RunLinear(runs, d_model, d_model, bias=False)
        self.attn_drop = RunDropout(dropout)

    def forward(self, q: torch.Tensor, kv: torch.Tensor) -> torch.Tensor:
        """``q`` (R, B, Lq, D) attends to ``kv`` (R, B, Lk, D), or to ``kv`` (R, B / m, Lk, D) shared
        by each m consecutive query sequences (NAR's T tiers of one architecture): its keys and
        values are then projected once and repeated, not projected m times."""
        r, b, lq, d = q.shape
        lk, h = kv.shape[2], self.n_heads
        if b % kv.shape[1]:
            raise ValueError(f"attention: {b} query sequences for {kv.shape[1]} key/value sequences")
        repeat = b // kv.shape[1]
        shared = lambda t: t.unsqueeze(2).expand(-1, -1, repeat, -1, -1).reshape(r, b, lk, d) if repeat > 1 else t  # noqa: E731
        split = lambda t, n: t.reshape(r * b, n, h, d // h).transpose(1, 2)  # noqa: E731
        qh, kh, vh = split(self.q(q), lq), split(shared(self.k(kv)), lk), split(shared(self.v(kv)), lk)
        if self.training and self.attn_drop.p > 0:
            w = torch.softmax(qh @ kh.transpose(-2, -1) * (d // h) ** -0.5, dim=-1)
            w = w * self.attn_drop.mask(w.reshape(r, b, h, lq, lk)).reshape(w.shape)
            o = w @ vh
        elif q.is_cuda and torch.are_deterministic_algorithms_enabled():
            # the fused memory-efficient kernel's backward pass is not deterministic on CUDA; the
            # math kernel is (deterministic_cuda promises one result per config and seed)
            from torch.nn.attention import SDPBackend, sdpa_kernel

            with sdpa_kernel(SDPBackend.MATH):
                o = F.scaled_dot_product_attention(qh, kh, vh)
        else:
            o = F.scaled_dot_product_attention(qh, kh, vh)
        return self.out(o.transpose(1, 2).reshape(r, b, lq, d))


class FeedForward(nn.Module):
    def __init__(self, runs: int, d_model: int, d_ff: int, dropout: float, activation: str):
        super().__init__()
        self.w1, self.w2 = RunLinear(runs, d_model, d_ff), RunLinear(runs, d_ff, d_model)
        self.act = nn.ReLU() if activation == "relu" else nn.GELU()
        self.drop = RunDropout(dropout)

    def forward(self, x: torch.Tensor, _kv: torch.Tensor | None = None) -> torch.Tensor:
        return self.drop(self.w2(self.act(self.w1(x))))  # authors: dropout after w_2 only


class Block(nn.Module):
    """One residual sublayer (attention or FFN) with its LayerNorm after the residual (``post``,
    authors) or before the sublayer (``pre``, Eq. 5-6). ``kv``: the keys/values of a
    cross-attention (the architecture feature), else the block's own input."""

    def __init__(self, runs: int, d_model: int, inner: nn.Module, dropout: float, post: bool):
        super().__init__()
        self.inner, self.post = inner, post
        self.norm = RunLayerNorm(runs, d_model, eps=LN_EPS)
        self.drop = RunDropout(dropout) if isinstance(inner, Attention) else nn.Identity()  # FFN drops inside

    def forward(self, x: torch.Tensor, kv: torch.Tensor | None = None) -> torch.Tensor:
        if self.post:
            return self.norm(x + self.drop(self.inner(x, x if kv is None else kv)))
        h = self.norm(x)
        return x + self.drop(self.inner(h, h if kv is None else kv))


class EncoderLayer(nn.Module):
    """MSA and FFN, each with a residual (Eq. 5-6)."""

    def __init__(self, runs: int, d_model: int, n_heads: int, d_ff: int, dropout: float, post: bool,
                 activation: str):
        super().__init__()
        self.attn = Block(runs, d_model, Attention(runs, d_model, n_heads, dropout), dropout, post)
        self.ffn = Block(runs, d_model, FeedForward(runs, d_model, d_ff, dropout, activation), dropout, post)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ffn(self.attn(x))


class DecoderLayer(nn.Module):
    """Self-attention over the tier tokens, cross-attention to the architecture feature, FFN
    (NAR Eq. 10 / NARQ2T Eq. 16-18)."""

    def __init__(self, runs: int, d_model: int, n_heads: int, d_ff: int, dropout: float, post: bool,
                 activation: str):
        super().__init__()
        self.self_attn = Block(runs, d_model, Attention(runs, d_model, n_heads, dropout), dropout, post)
        self.cross_attn = Block(runs, d_model, Attention(runs, d_model, n_heads, dropout), dropout, post)
        self.ffn = Block(runs, d_model, FeedForward(runs, d_model, d_ff, dropout, activation), dropout, post)

    def forward(self, q: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        return self.ffn(self.cross_attn(self.self_attn(q), memory))


def _two_layer_head(runs: int, d_in: int, d_hidden: int, d_out: int, bias_in: bool, bias_out: bool) -> nn.Sequential:
    return nn.Sequential(RunLinear(runs, d_in, d_hidden, bias=bias_in), nn.ReLU(),
                         RunLinear(runs, d_hidden, d_out, bias=bias_out))


@dataclass
class RankerOutput:
    """What one forward pass returns (batch size B, tiers T, tokens N, width D; a packed model
    puts its run axis R first on every field)."""

    score: torch.Tensor                   # (B,) relative metric y_hat (Eq. 8), higher = better
    feature: torch.Tensor                 # (B, N, D) x_alpha (Eq. 7)
    tier_logits: torch.Tensor | None      # (B, T) pre-softmax tier logits (Eq. 11 / 13); tier 0 = best
    latency: torch.Tensor | None          # (B,) latency prediction in the normalised units (Eq. 10)

    def map(self, fn) -> "RankerOutput":
        """``fn`` applied to every field present (adding or dropping the run axis)."""
        return RankerOutput(*(None if v is None else fn(v)
                              for v in (self.score, self.feature, self.tier_logits, self.latency)))


class NARanker(nn.Module):
    """NAR / NARQ2T ranker over feature tensors of shape ``(B, N, P, P)``.

    ``runs`` rankers of one shape live in one module, every weight with a leading run axis: a
    packed group of seeds trains as one model (``train_rankers``), each run with its own weights,
    dropout masks and running means, and :meth:`run` gives run r alone. A one-run model (the
    default) takes and returns tensors without the run axis; a packed one takes ``(R, B, N, P, P)``.
    Weights are drawn by :meth:`init_weights` (``build_ranker`` calls it), one seed per run.

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
        runs: how many rankers the module holds (R).
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
        runs: int = 1,
    ):
        super().__init__()
        self._args = {k: v for k, v in locals().items() if k not in ("self", "__class__", "runs")}
        if tier_mode not in TIER_MODES:
            raise ValueError(f"tier_mode must be one of {TIER_MODES}, got {tier_mode!r}")
        for name, value in (("pooling", pooling), ("norm_placement", norm_placement), ("activation", activation),
                            ("score_head_bias", score_head_bias), ("tier_logit_scale", tier_logit_scale),
                            ("tier_projection", tier_projection), ("weight_init", weight_init)):
            if value not in CHOICES[name]:
                raise ValueError(f"{name} must be one of {CHOICES[name]}, got {value!r}")
        if runs < 1:
            raise ValueError(f"runs must be >= 1, got {runs}")
        self.runs = runs
        self.pooling = pooling
        self.weight_init = weight_init
        self.post = norm_placement == "post"
        n_tokens, p1, p2 = feature_shape
        self.feature_shape = tuple(feature_shape)
        self.num_tiers = num_tiers
        self.tier_mode = tier_mode
        self.d_model = d_model
        self.logit_scale = d_model ** -0.5 if tier_logit_scale == "sqrt_d" else 1.0
        self.patch_proj = RunLinear(runs, p1 * p2, d_model)                 # E of Eq. 4
        self.register_buffer("pos", sincos_positional_embedding(n_tokens, d_model), persistent=False)
        self.drop = RunDropout(dropout)
        layer_args = (runs, d_model, n_heads, d_ff, dropout, self.post, activation)
        self.encoder = nn.ModuleList(EncoderLayer(*layer_args) for _ in range(encoder_layers))
        self.enc_norm = RunLayerNorm(runs, d_model, eps=LN_EPS)  # post: on the input; pre: Eq. 7's final LN
        d_pooled = n_tokens * d_model if pooling == "flatten" else d_model
        w_score = score_head_width or d_model
        bias = score_head_bias == "on"
        self.score_head = _two_layer_head(runs, d_pooled, w_score, 1, bias, bias)  # Eq. 8
        self.latency_head = _two_layer_head(runs, d_pooled, w_score, 1, True, True) if latency_head else None  # Eq. 10
        if tier_mode is not None:
            self.tier_proj = RunLinear(runs, d_model, d_model) if tier_projection == "linear" else nn.Identity()
            self.decoder = nn.ModuleList(DecoderLayer(*layer_args) for _ in range(decoder_layers))
            self.dec_norm = RunLayerNorm(runs, d_model, eps=LN_EPS)
            d_tier = d_pooled if tier_mode == "mean" else d_model  # query mode: T summed D-vectors
            self.tier_head = _two_layer_head(runs, d_tier, tier_head_width or d_model, num_tiers, False, True)  # Eq. 11 / 13
        if tier_mode == "query":
            self.tier_queries = nn.Parameter(torch.zeros(runs, num_tiers, d_model))  # Q0 in R^{T x D}
            self.register_buffer("query_pos", sincos_positional_embedding(num_tiers, d_model), persistent=False)
        elif tier_mode == "mean":
            # Eq. 13 state: running means e_i (N x D) and the counts sum_it c_i^it.
            self.register_buffer("tier_embeddings", torch.zeros(runs, num_tiers, n_tokens, d_model))
            self.register_buffer("tier_counts", torch.zeros(runs, num_tiers, dtype=torch.float64))
        self.init_weights(list(range(runs)))

    # --- weights, runs, dropout streams -------------------------------------------------------
    @torch.no_grad()
    def init_weights(self, seeds: list[int]) -> None:
        """Draw run r's weights from ``seeds[r]`` in the order a one-run model is built: every linear
        map as :class:`torch.nn.Linear` draws it, in construction order, then the tier queries
        (N(0, 0.02^2)); with ``weight_init="xavier"`` (authors' ``Transformer.__init__``) every
        matrix is then redrawn Xavier-uniform, queries included. LayerNorms start at (1, 0)."""
        if len(seeds) != self.runs:
            raise ValueError(f"init_weights: {len(seeds)} seeds for {self.runs} runs")
        for r, seed in enumerate(seeds):
            gen = torch.Generator().manual_seed(int(seed))
            for m in self.modules():
                if isinstance(m, RunLinear):
                    m.reset_run(r, gen)
                elif isinstance(m, RunLayerNorm):
                    m.weight[r].fill_(1.0)
                    m.bias[r].zero_()
            if self.tier_mode == "query":
                self.tier_queries[r].copy_(torch.randn(self.tier_queries.shape[1:], generator=gen) * 0.02)
            if self.weight_init == "xavier":
                for p in self.parameters():
                    if p.dim() > 2:  # a matrix per run
                        nn.init.xavier_uniform_(p[r], generator=gen)

    def set_noise(self, gens: list[torch.Generator] | None) -> None:
        """Each run's dropout generator (on the model's device), or None for torch's global one."""
        if gens is not None and len(gens) != self.runs:
            raise ValueError(f"set_noise: {len(gens)} generators for {self.runs} runs")
        for m in self.modules():
            if isinstance(m, RunDropout):
                m.gens = gens

    @torch.no_grad()
    def run(self, r: int) -> "NARanker":
        """Run ``r`` of a packed model as a one-run model (its weights and running means copied)."""
        one = NARanker(**self._args, runs=1).to(self.pos.device)
        state = {k: v[r:r + 1] for k, v in self.state_dict().items()}
        one.load_state_dict(state)
        return one.train(self.training)

    # --- pieces -----------------------------------------------------------------------------
    def _embed(self, tokens: torch.Tensor, pos: torch.Tensor, norm: RunLayerNorm) -> torch.Tensor:
        """The stack's input: post-LN (authors) dropout, + position, LN; pre-LN: + position, dropout."""
        if self.post:
            return norm(self.drop(tokens) + pos)
        return self.drop(tokens + pos)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x_alpha (Eq. 4-7) for feature tensors ``(R, B, N, P, P)`` -> ``(R, B, N, D)``."""
        r, b, n = x.shape[:3]
        h = self._embed(self.patch_proj(x.reshape(r, b, n, -1)), self.pos, self.enc_norm)
        for layer in self.encoder:
            h = layer(h)
        return h if self.post else self.enc_norm(h)

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        """(R, B, N, D) -> (R, B, N*D) or (R, B, D), by ``pooling``."""
        return tokens.flatten(2) if self.pooling == "flatten" else tokens.mean(dim=2)

    def score_from_feature(self, feature: torch.Tensor) -> torch.Tensor:
        """The score head (Eq. 8) on x_alpha ``(R, B, N, D)``, or ``(B, N, D)`` for a one-run model."""
        single = feature.dim() == 3
        score = self.score_head(self.pool(feature.unsqueeze(0) if single else feature)).squeeze(-1)
        return score.squeeze(0) if single else score

    def _decode(self, q: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        for layer in self.decoder:
            q = layer(q, memory)
        return q if self.post else self.dec_norm(q)

    def classify(self, feature: torch.Tensor) -> torch.Tensor:
        """Tier logits ``(R, B, T)`` from x_alpha ``(R, B, N, D)``; all T tiers decoded in one batch."""
        if self.tier_mode is None:
            raise RuntimeError("this ranker has no tier decoder (tier_mode=None)")
        r, b, n, d = feature.shape
        t = self.num_tiers
        if self.tier_mode == "query":
            q = self._embed(self.tier_proj(self.tier_queries), self.query_pos, self.dec_norm)  # (R, T, D)
            z = self._decode(q.unsqueeze(1).expand(-1, b, -1, -1), feature).sum(dim=2)  # sum over tiers -> (R, B, D)
        else:
            q = self._embed(self.tier_proj(self.tier_embeddings), self.pos, self.dec_norm)  # (R, T, N, D)
            q = q.unsqueeze(1).expand(-1, b, -1, -1, -1).reshape(r, b * t, n, d)
            # each architecture's feature is the memory of its T tier sequences: keys and values of
            # the cross-attention are projected once per architecture, not T times (Attention)
            z = self.pool(self._decode(q, feature).reshape(r, b, t, n, d).sum(dim=2))  # sum tiers, then pool tokens
        return self.tier_head(z) * self.logit_scale

    def forward(self, x: torch.Tensor, with_tiers: bool = True) -> RankerOutput:
        single = x.dim() == len(self.feature_shape) + 1
        if single:
            if self.runs != 1:
                raise ValueError(f"a model of {self.runs} runs takes (R, B, N, P, P) inputs, got {tuple(x.shape)}")
            x = x.unsqueeze(0)
        feature = self.encode(x)
        pooled = self.pool(feature)
        score = self.score_head(pooled).squeeze(-1)
        latency = self.latency_head(pooled).squeeze(-1) if self.latency_head is not None else None
        logits = self.classify(feature) if (with_tiers and self.tier_mode is not None) else None
        out = RankerOutput(score=score, feature=feature, tier_logits=logits, latency=latency)
        return out.map(lambda v: v.squeeze(0)) if single else out

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
        """Eq. 13: e_i <- (e_i * C_i + sum of this batch's x_alpha in tier i) / (C_i + c_i), per run.

        ``feature`` (R, B, N, D) and ``tiers`` (R, B), or without the run axis for a one-run model;
        ``tiers`` are ground-truth labels while training and predicted labels during the search.
        A no-op in the other modes.
        """
        if self.tier_mode != "mean":
            return
        if tiers.dim() == 1:
            feature, tiers = feature.unsqueeze(0), tiers.unsqueeze(0)
        feature = feature.detach().to(self.tier_embeddings.dtype)
        t = self.num_tiers
        for r in range(self.runs):
            emb, cnt, lab = self.tier_embeddings[r], self.tier_counts[r], tiers[r].long()
            sums = torch.zeros_like(emb).index_add_(0, lab, feature[r])
            counts = torch.bincount(lab, minlength=t).to(cnt.dtype)
            new_counts = cnt + counts
            seen = counts > 0
            old = emb * cnt.to(feature.dtype).view(t, 1, 1)
            updated = (old + sums) / new_counts.clamp(min=1).to(feature.dtype).view(t, 1, 1)
            emb[seen] = updated[seen]
            cnt.copy_(new_counts)

