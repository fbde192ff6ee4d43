"""The ranker: NAR / NARQ2T Transformer (:mod:`.model`), losses, training loop, ConvNet baseline."""
from .convnet import ConvNetRanker
from .losses import latency_loss, pairwise_ranking_loss, tier_labels, tier_loss
from .metrics import kendall_tau
from .model import NARanker, RankerOutput, sincos_positional_embedding
from .train import TrainData, TrainResult, TrainSettings, predict, train_ranker, train_rankers, transformer_lr

__all__ = [
    "ConvNetRanker", "NARanker", "RankerOutput", "TrainData", "TrainResult", "TrainSettings", "kendall_tau",
    "latency_loss", "pairwise_ranking_loss", "predict", "sincos_positional_embedding", "tier_labels",
    "tier_loss", "train_ranker", "train_rankers", "transformer_lr",
]
