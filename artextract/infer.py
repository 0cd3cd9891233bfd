"""One batched CPU inference path for embeddings and class probabilities.

Used by ``build``, ``classify``, ``similar`` and the app. Fast on a CPU because it runs under
``torch.inference_mode`` on a copy of the model with BatchNorm folded into the convs, with channels_last
tensors and, where the CPU has native bf16 matrix instructions (AVX512-BF16 / AMX, detected at run
time), bf16 autocast; fp32 otherwise or on request.
Images are decoded and resized in a thread pool while the model works on the previous batch.

``runtime="onnx"`` runs the same folded fp32 network through ONNX Runtime instead (exported in memory
when the embedder is made; ONNX files are data, no code runs on load): exact to fp32 and, on the released
MobileNetV2 models, nearly as fast as bf16 autocast (``bench/released.py``). ``"auto"`` takes it where
``onnxruntime`` is installed and the precision is left to ``auto``.
"""

from __future__ import annotations

import copy
import importlib.util
import io
import os
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from .errors import ArtExtractError, UnknownNameError

PRECISIONS = ("auto", "bf16", "fp32")
RUNTIMES = ("auto", "torch", "onnx")


# -------------------------------------------------------------------------------------- precision
@lru_cache(maxsize=1)
def cpu_supports_bf16() -> bool:
    """True when the CPU has native bf16 matmul (AVX512-BF16 or AMX-BF16), so bf16 is faster than fp32."""
    try:
        if torch.ops.mkldnn._is_mkldnn_bf16_supported() is False:
            return False
    except (AttributeError, RuntimeError):
        pass
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            flags = re.search(r"^flags\s*:(.*)$", fh.read(), re.MULTILINE)
    except OSError:
        return False
    if not flags:
        return False
    names = set(flags.group(1).split())
    return bool({"avx512_bf16", "amx_bf16"} & names)


def _setting(value: str, env: str, valid: Sequence[str], what: str) -> str:
    """``value`` lower-cased, ``"auto"`` replaced by the environment variable ``env`` when set; checked."""
    v = (value or "auto").lower()
    if v == "auto":
        v = os.environ.get(env, "auto").lower() or "auto"
    if v not in valid:
        raise UnknownNameError(f"unknown {what} {value!r}; valid: {', '.join(valid)}")
    return v


def resolve_precision(precision: str = "auto") -> str:
    """``"auto"`` -> ``"bf16"`` if :func:`cpu_supports_bf16` else ``"fp32"``; ``"bf16"``/``"fp32"`` forced.

    The environment variable ``ARTEXTRACT_PRECISION`` overrides ``"auto"``.
    """
    p = _setting(precision, "ARTEXTRACT_PRECISION", PRECISIONS, "precision")
    if p == "auto":
        return "bf16" if cpu_supports_bf16() else "fp32"
    return p


# ---------------------------------------------------------------------------------------- runtime
def onnx_available() -> bool:
    """True when ONNX Runtime and the ONNX exporter's ``onnx`` package are both installed."""
    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnx"))


def resolve_runtime(runtime: str = "auto", precision: str = "auto") -> str:
    """``"torch"`` or ``"onnx"``.

    ``"auto"`` (``ARTEXTRACT_RUNTIME`` overrides it) -> ``"onnx"`` when it is installed and the precision
    too is left to ``auto`` (a caller or ``ARTEXTRACT_PRECISION`` naming bf16 or fp32 gets torch, which
    runs exactly that), else ``"torch"``. ``"onnx"`` without the packages is an error.
    """
    r = _setting(runtime, "ARTEXTRACT_RUNTIME", RUNTIMES, "runtime")
    if r == "auto":
        p = _setting(precision, "ARTEXTRACT_PRECISION", PRECISIONS, "precision")
        return "onnx" if p == "auto" and onnx_available() else "torch"
    if r == "onnx" and not onnx_available():
        raise ArtExtractError(
            "runtime 'onnx' needs the onnxruntime and onnx packages (pip install onnxruntime onnx)"
        )
    return r


class _Exported(nn.Module):
    """What the ONNX graph computes: the pooled features, then each head's logits."""

    def __init__(self, model: nn.Module, heads: Sequence[str]) -> None:
        super().__init__()
        self.model, self.heads = model, list(heads)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feats = self.model.forward_features(x)
        logits = self.model.forward_head(feats) if self.heads else {}
        return (feats, *(logits[h] for h in self.heads))


def onnx_session(model: nn.Module, heads: Sequence[str], input_size: int, threads: int | None = None) -> Any:
    """An ONNX Runtime session (CPU, all graph optimisations) of ``model``'s features and ``heads``, exported
    in memory from the fp32 module. Input ``x`` [N, 3, S, S] NCHW float32; outputs features, then logits."""
    import onnxruntime as ort

    names = ["features", *heads]
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        torch.onnx.export(
            _Exported(model, heads).eval(),
            (torch.zeros(2, 3, input_size, input_size),),
            buf,
            dynamo=False,
            input_names=["x"],
            output_names=names,
            dynamic_axes={n: {0: "n"} for n in ["x", *names]},
            opset_version=17,
        )
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads or torch.get_num_threads())
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return ort.InferenceSession(buf.getvalue(), opts, providers=["CPUExecutionProvider"])


def load_size_of(card: dict[str, Any]) -> int | None:
    """The shorter side a checkpoint's trainer shrank every image to before its own resize and crop
    (``load_size`` on the card; this project's trainers use :func:`~artextract.images.load_size_for`), or None for a
    checkpoint trained elsewhere. Inference repeats that step: the 160 px WikiArt images, enlarged to 184
    and brought back to 160, are softer than the originals, and a classifier evaluated on the one and
    served the other loses 0.05 style top-1 on the sample."""
    if card.get("load_size"):
        return int(card["load_size"])
    from .images import load_size_for

    trainer = str((card.get("training") or {}).get("trainer", ""))
    return load_size_for(card["input_size"]) if trainer.startswith("artextract.train") else None


# ------------------------------------------------------------------------------------------ result
@dataclass
class InferenceResult:
    """Raw (not normalised) embeddings ``[N, D]``, softmax probabilities per head ``[N, C]``, failures.

    Rows of images that failed to load are zero in ``embeddings`` and ``probs`` and False in ``ok``;
    ``failed`` maps their index to the reason.
    """

    embeddings: np.ndarray
    probs: dict[str, np.ndarray] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)
    ok: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))

    def normalize(self, eps: float = 1e-12) -> np.ndarray:
        """L2-normalised copy of the embeddings (for cosine similarity)."""
        e = self.embeddings.astype(np.float32, copy=True)
        return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), eps)


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (z / z.sum(axis=1, keepdims=True)).astype(np.float32)


# ----------------------------------------------------------------------------------- model folding
_CONV_BN = (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3"))


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An inference copy of ``model`` with each BatchNorm that directly follows a conv folded into it.

    In eval mode ``BN(conv(x)) = conv'(x)`` with rescaled weights and a bias, so the folded copy computes
    the same function with one memory pass fewer per layer. RLA's state BNs (applied to a sum) stay.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    folded = copy.deepcopy(model).eval()
    for mod in folded.modules():
        for c, b in _CONV_BN:
            conv, bn = getattr(mod, c, None), getattr(mod, b, None)
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                setattr(mod, c, fuse_conv_bn_eval(conv, bn))
                setattr(mod, b, nn.Identity())
        ds = getattr(mod, "downsample", None)
        is_pair = isinstance(ds, nn.Sequential) and len(ds) == 2
        if is_pair and isinstance(ds[0], nn.Conv2d) and isinstance(ds[1], nn.BatchNorm2d):
            ds[0] = fuse_conv_bn_eval(ds[0], ds[1])
            ds[1] = nn.Identity()
    return folded


# ---------------------------------------------------------------------------------------- embedder
class Embedder:
    """Batched inference wrapper around a loaded checkpoint (``model``, ``card``).

    Args:
        model: a model with ``forward_features``/``forward_head`` (``load_checkpoint``'s output).
        card: its checkpoint card (input_size, mean, std, heads).
        precision: ``"auto"`` | ``"bf16"`` | ``"fp32"`` (see :func:`resolve_precision`).
        batch_size: images per forward pass (64 keeps a 2-core CPU busy without much memory).
        num_threads: intra-op threads for torch (default: leave torch's setting).
        compile: ``torch.compile`` the model (inductor, weights frozen into fused conv kernels): about
            2-3x faster per image but ~30 s to compile, so ``None`` (auto) compiles only for calls of at
            least ``compile_min_images`` images; ``ARTEXTRACT_COMPILE=0|1`` overrides auto. Falls back to
            eager if compilation fails.
        runtime: ``"torch"``, ``"onnx"`` (fp32 through ONNX Runtime; ``precision`` and ``compile`` then do
            not apply) or ``"auto"`` (see :func:`resolve_runtime`).
    """

    def __init__(
        self,
        model: nn.Module,
        card: dict[str, Any],
        *,
        precision: str = "auto",
        batch_size: int = 64,
        num_threads: int | None = None,
        compile: bool | None = None,
        compile_min_images: int = 10_000,
        runtime: str = "auto",
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.card = card
        self.runtime = resolve_runtime(runtime, precision)
        self.precision = "fp32" if self.runtime == "onnx" else resolve_precision(precision)
        self.batch_size = int(batch_size)
        if num_threads:
            torch.set_num_threads(int(num_threads))
        # denormal floats (common in untrained or fine-tuned deep nets) make CPU kernels ~100x slower and
        # carry no information at inference: flush them to zero (a process-wide, harmless setting)
        torch.set_flush_denormal(True)
        self.input_size = int(card["input_size"])
        crop_pct = float(card.get("crop_pct", 1.0))
        self.resize_to = max(self.input_size, round(self.input_size / crop_pct))
        self.load_size = load_size_of(card)
        self.mean = torch.tensor(card["mean"], dtype=torch.float32).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(card["std"], dtype=torch.float32).view(1, 3, 1, 1) * 255
        # the caller's model is left untouched (it may be shared or still training)
        self.model = fold_batchnorm(model).to(memory_format=torch.channels_last)
        if (
            self.precision == "bf16"
        ):  # keep conv/linear weights in bf16: autocast then casts no weights per batch
            for m in self.model.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    m.to(torch.bfloat16)
        env = os.environ.get("ARTEXTRACT_COMPILE", "").strip()
        self.compile = compile if compile is not None else ({"0": False, "1": True}.get(env))
        self.compile_min_images = int(compile_min_images)
        self._compiled: Callable[[torch.Tensor], Any] | None = None
        self._compile_failed = False
        self.head_names = list(getattr(model, "head_names", []))
        self.dim = int(getattr(model, "num_features", card.get("embedding_dim", 0)))
        self._session = (
            onnx_session(self.model, self.head_names, self.input_size) if self.runtime == "onnx" else None
        )

    # ---------------------------------------------------------------------------- preprocessing
    def _resize_crop(self, img: Image.Image) -> np.ndarray:
        """Shorter side to ``resize_to``, centre crop ``input_size``: uint8 HWC. For a checkpoint trained
        here, exactly the trainer's evaluation: shrink to ``load_size`` (PIL bicubic), then torchvision's
        antialiased bicubic resize and centre crop; otherwise one PIL bicubic resize."""
        img = img.convert("RGB") if img.mode != "RGB" else img
        if self.load_size is not None:
            from torchvision.transforms import InterpolationMode
            from torchvision.transforms.v2 import functional as TF

            from .images import shrink

            t = torch.from_numpy(np.array(shrink(img, self.load_size), dtype=np.uint8)).permute(2, 0, 1)
            t = TF.resize(t, [self.resize_to], interpolation=InterpolationMode.BICUBIC, antialias=True)
            return TF.center_crop(t, [self.input_size]).permute(1, 2, 0).numpy()
        w, h = img.size
        s = self.resize_to / min(w, h)
        nw, nh = max(self.input_size, round(w * s)), max(self.input_size, round(h * s))
        if (nw, nh) != (w, h):
            img = img.resize((nw, nh), Image.Resampling.BICUBIC, reducing_gap=3.0)
        left, top = (nw - self.input_size) // 2, (nh - self.input_size) // 2
        img = img.crop((left, top, left + self.input_size, top + self.input_size))
        return np.asarray(img, dtype=np.uint8)

    def _to_batch(self, arrays: Sequence[np.ndarray]) -> torch.Tensor:
        x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float()  # [B, 3, H, W] (a view: NHWC)
        x = (x - self.mean) / self.std
        return x.contiguous(memory_format=torch.channels_last)

    def preprocess(self, img: Image.Image) -> torch.Tensor:
        """One image -> normalised float tensor ``[3, input_size, input_size]``."""
        return self._to_batch([self._resize_crop(img)])[0].contiguous()

    # -------------------------------------------------------------------------------- inference
    def _eager(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        feats = self.model.forward_features(x)
        return feats, (self.model.forward_head(feats) if self.head_names else {})

    def _want_compile(self, n: int) -> bool:
        if self._compile_failed or self.compile is False:
            return False
        return bool(self.compile) or n >= self.compile_min_images

    def _get_compiled(self) -> Callable[[torch.Tensor], Any] | None:
        if self._compiled is None and not self._compile_failed:
            try:
                import torch._inductor.config as inductor_config

                inductor_config.freezing = True  # weights become constants: conv+bias+relu(+add) fuse
                self._compiled = torch.compile(self._eager, dynamic=False)
            except Exception:  # no compiler toolchain, unsupported platform, ...
                self._compile_failed = True
        return self._compiled

    def _forward(
        self, x: torch.Tensor, *, compiled: bool = False
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        n = len(x)
        if self._session is not None:
            feats, *logits = self._session.run(None, {"x": x.contiguous().numpy()})
            probs = {h: _softmax(v) for h, v in zip(self.head_names, logits, strict=True)}
            return feats, probs
        fn = self._get_compiled() if compiled else None
        if fn is not None and n < self.batch_size:  # static shapes: pad the last batch, never recompile
            pad = x.new_zeros((self.batch_size - n, *x.shape[1:]))
            x = torch.cat([x, pad]).contiguous(memory_format=torch.channels_last)
        with (
            torch.inference_mode(),
            torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16"),
        ):
            if fn is not None:
                try:
                    feats, logits = fn(x)
                except Exception:  # compilation happens on the first call: fall back to eager for good
                    self._compile_failed, self._compiled, fn = True, None, None
                    x = x[:n]
            if fn is None:
                feats, logits = self._eager(x)
        feats, logits = feats[:n], {k: v[:n] for k, v in logits.items()}
        probs = {k: torch.softmax(v.float(), dim=-1).numpy() for k, v in logits.items()}
        return feats.float().numpy(), probs

    def _empty(self, n: int) -> InferenceResult:
        heads = getattr(self.model, "heads", {})
        return InferenceResult(
            embeddings=np.zeros((n, self.dim), np.float32),
            probs={h: np.zeros((n, heads[h].out_features), np.float32) for h in self.head_names},
            failed={},
            ok=np.zeros(n, bool),
        )

    def _run(
        self, n: int, batches: Iterator[tuple[list[int], list[np.ndarray]]], tick: Callable[[int], None]
    ) -> InferenceResult:
        res = self._empty(n)
        compiled = self._want_compile(n)
        for idx, arrays in batches:
            if idx:
                emb, probs = self._forward(self._to_batch(arrays), compiled=compiled)
                res.embeddings[idx] = emb
                for k, v in probs.items():
                    res.probs[k][idx] = v
                res.ok[idx] = True
            tick(len(arrays))
        return res

    def embed_tensor(self, x: torch.Tensor) -> InferenceResult:
        """Embed already preprocessed images ``[N, 3, H, W]`` (normalised float), in batches."""
        n = len(x)

        def batches():
            for s in range(0, n, self.batch_size):
                yield list(range(s, min(s + self.batch_size, n))), x[s : s + self.batch_size]

        res = self._empty(n)
        compiled = self._want_compile(n)
        for idx, xb in batches():
            emb, probs = self._forward(xb.contiguous(memory_format=torch.channels_last), compiled=compiled)
            res.embeddings[idx] = emb
            for k, v in probs.items():
                res.probs[k][idx] = v
            res.ok[idx] = True
        return res

    def embed_images(self, imgs: Sequence[Image.Image]) -> InferenceResult:
        """Embed in-memory images (each resized + centre-cropped + normalised)."""
        n = len(imgs)

        def batches():
            for s in range(0, n, self.batch_size):
                idx = list(range(s, min(s + self.batch_size, n)))
                yield idx, [self._resize_crop(imgs[i]) for i in idx]

        return self._run(n, batches(), lambda k: None)

    def embed_paths(
        self,
        paths: Sequence[str | Path],
        progress: bool | Callable[[int, int], None] = True,
        *,
        workers: int | None = None,
    ) -> InferenceResult:
        """Embed image files. Unreadable images are recorded in ``failed`` (index -> reason), not fatal.

        ``progress``: True for a tqdm bar, False for none, or ``callback(done, total)``. Decoding runs in
        ``workers`` threads (default: CPU count) one batch ahead of the model.
        """
        from .images import load_image

        n = len(paths)
        failed: dict[int, str] = {}

        def load(i: int) -> np.ndarray | None:
            try:
                return self._resize_crop(load_image(paths[i]))
            except ArtExtractError as exc:
                failed[i] = str(exc)
            except Exception as exc:  # never let one odd file stop a collection build
                failed[i] = f"{paths[i]}: {type(exc).__name__}: {exc}"
            return None

        bar = None
        if progress is True:
            from tqdm.auto import tqdm

            bar = tqdm(total=n, desc="embedding", unit="img")
            tick = bar.update
        elif callable(progress):
            done = [0]

            def tick(k: int) -> None:
                done[0] += k
                progress(done[0], n)
        else:

            def tick(k: int) -> None:
                return None

        pool = ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2, thread_name_prefix="decode")

        def batches():
            starts = list(range(0, n, self.batch_size))
            futs = None
            for j, s in enumerate(starts):
                if futs is None:
                    futs = [pool.submit(load, i) for i in range(s, min(s + self.batch_size, n))]
                current, base = futs, s
                if j + 1 < len(starts):  # prefetch the next batch while this one runs
                    s2 = starts[j + 1]
                    futs = [pool.submit(load, i) for i in range(s2, min(s2 + self.batch_size, n))]
                arrays = [f.result() for f in current]
                idx = [base + k for k, a in enumerate(arrays) if a is not None]
                ok_arrays = [a for a in arrays if a is not None]
                yield idx, ok_arrays
                if len(ok_arrays) < len(arrays):
                    tick(len(arrays) - len(ok_arrays))

        try:
            res = self._run(n, batches(), tick)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            if bar is not None:
                bar.close()
        res.failed = dict(sorted(failed.items()))
        return res
