"""Int8 CPU inference through transformers' quantization mechanism: ``quantization_config=QwenAudioInt8Config()``.

Every ``nn.Linear`` (language model, ``lm_head``, the audio encoder's and the projector's) becomes an
:class:`Int8Linear`: int8 weights with one fp32 scale per output row (symmetric), activations quantized per call
(dynamic), the matmul by PyTorch's x86 quantized engine (fbgemm / oneDNN: ``quantized::linear_dynamic``). Why not
torchao: it is not a dependency here, and on the CPUs measured (benchmarks/results/cpu_full_*.json) PyTorch's
dynamic int8 kernel is the int8 GEMM that beats fp32 and, on CPUs without native bf16, bf16.

- From a bf16 (or fp32) folder, the original layout included: each linear weight is quantized as the loader
  reads it (transformers' ``param_needs_quantization`` / ``get_quantize_ops`` hooks), by worker threads that
  quantize in cache-sized row blocks and pack for the engine, so only a few float weights (mmap views) are in
  flight at a time and the bf16 weights are never all resident.
- ``save_pretrained`` writes ``weight`` (int8), ``weight_scale`` (fp32) and ``bias`` per layer plus the config's
  ``quantization_config``; loading that folder builds :class:`Int8Linear` layers first and only packs them (no
  re-quantization).
"""

from __future__ import annotations

import ctypes
import mmap
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import nn
from transformers.core_model_loading import ConversionOps
from transformers.quantizers import HfQuantizer, register_quantization_config, register_quantizer
from transformers.utils.quantization_config import QuantizationConfigMixin

QUANT_METHOD = "qwen_audio_int8"


def quantize_rows(weight: torch.Tensor, block_elements: int = 2**17) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-row int8: (int8 weight, fp32 scales) with weight ~= int8 * scale[:, None]. Works through
    blocks of about `block_elements` values (whole rows), so the fp32 temporaries stay in cache: a pass over
    blocks of thousands of rows runs at memory speed, several times slower."""
    weight = weight.detach()
    quantized = torch.empty(weight.shape, dtype=torch.int8)
    scale = torch.empty(weight.shape[0], dtype=torch.float32)
    rows_per_step = max(1, block_elements // max(1, weight.shape[1]))
    for start in range(0, weight.shape[0], rows_per_step):
        rows = weight[start:start + rows_per_step].to(torch.float32, copy=True)
        row_scale = (rows.abs().amax(dim=1) / 127.0).clamp_(min=1e-12)
        quantized[start:start + rows_per_step] = torch.round(rows.div_(row_scale[:, None])).clamp_(-127, 127)
        scale[start:start + rows_per_step] = row_scale
    return quantized, scale


def _prepack(weight: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None = None):
    """The engine's packed form of an int8 weight with per-row scales and, if given, the fp32 bias it adds."""
    zero_points = torch.zeros(weight.shape[0], dtype=torch.long)
    quantized = torch._make_per_channel_quantized_tensor(weight, scale.double(), zero_points, 0)
    return torch.ops.quantized.linear_prepack(quantized, None if bias is None else bias.float())


class Int8Linear(nn.Module):
    """``y = x W^T + b`` with W in int8 (per-row scales), x quantized on the fly; output in the input's dtype.

    After :meth:`pack` the quantized engine holds the only copy of the weight (its own packed layout); the state
    dict unpacks it again, so saving writes plain ``weight`` / ``weight_scale`` / ``bias`` tensors."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features, dtype=torch.int8, device=device),
                                   requires_grad=False)
        self.weight_scale = nn.Parameter(torch.empty(out_features, dtype=torch.float32, device=device),
                                         requires_grad=False)
        self.bias = nn.Parameter(torch.empty(out_features, dtype=torch.float32, device=device),
                                 requires_grad=False) if bias else None
        self._packed = None
        self._bias_packed = False  # whether the engine adds the bias (else forward does)

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> "Int8Linear":
        module = cls(linear.in_features, linear.out_features, bias=linear.bias is not None, device="meta")
        weight, scale = quantize_rows(linear.weight)
        module.weight = nn.Parameter(weight, requires_grad=False)
        module.weight_scale = nn.Parameter(scale, requires_grad=False)
        if linear.bias is not None:
            module.bias = nn.Parameter(linear.bias.detach().float().clone(), requires_grad=False)
        return module.pack()

    def pack(self) -> "Int8Linear":
        bias = None if self.bias is None else self.bias.data
        self._packed = _prepack(self.weight.data, self.weight_scale.data, bias)
        self._bias_packed = self.bias is not None
        self.weight = nn.Parameter(torch.empty(0, dtype=torch.int8), requires_grad=False)  # the engine's copy only
        return self

    def unpacked(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(int8 weight, fp32 scales) as saved."""
        if self._packed is None:
            return self.weight.data, self.weight_scale.data
        quantized, _ = torch.ops.quantized.linear_unpack(self._packed)
        return quantized.int_repr(), self.weight_scale.data

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        weight, scale = self.unpacked()
        destination[prefix + "weight"] = weight
        destination[prefix + "weight_scale"] = scale
        if self.bias is not None:
            destination[prefix + "bias"] = self.bias.data

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._packed is None:
            raise RuntimeError("Int8Linear used before pack(): load it through from_pretrained or from_linear.")
        shape = x.shape
        out = torch.ops.quantized.linear_dynamic(x.reshape(-1, shape[-1]).float(), self._packed, True)
        if self.bias is not None and not self._bias_packed:
            out = out.add_(self.bias)
        return out.reshape(*shape[:-1], self.out_features).to(x.dtype)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


@register_quantization_config(QUANT_METHOD)
class QwenAudioInt8Config(QuantizationConfigMixin):
    """Int8 weights for every linear layer but those named (full dotted names or their prefixes) in
    ``modules_to_not_convert``; CPU only."""

    def __init__(self, modules_to_not_convert: list[str] | None = None, **kwargs):
        self.quant_method = QUANT_METHOD
        self.modules_to_not_convert = list(modules_to_not_convert or [])


def _skipped(name: str, skip: list[str]) -> bool:
    return any(name == entry or name.startswith(entry + ".") for entry in skip)


def _replace(model: nn.Module, build, skip: list[str]) -> int:
    """Replace each ``nn.Linear`` not skipped by ``build(linear)``, one at a time. Returns how many."""
    count = 0
    for name, module in list(model.named_modules()):
        if not isinstance(module, nn.Linear) or _skipped(name, skip):
            continue
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, build(module))
        count += 1
    return count


class _QuantizeOnLoad(ConversionOps):
    """The loader's op for a linear weight: hands the float tensor to the quantizer's workers and returns
    placeholders (an empty int8 ``weight``, the ``weight_scale`` the worker fills in)."""

    def __init__(self, quantizer: "QwenAudioInt8Quantizer"):
        self.quantizer = quantizer

    def convert(self, input_dict, model=None, full_layer_name=None, **kwargs):
        out = {}
        for name, value in input_dict.items():
            value = value[0] if isinstance(value, list) else value
            module_name = name.rpartition(".")[0]
            out[name] = torch.empty(0, dtype=torch.int8)
            out[f"{module_name}.weight_scale"] = self.quantizer.submit(model.get_submodule(module_name), value)
        return out


def _prefetch(tensor: torch.Tensor) -> None:
    """Ask the kernel to start reading a tensor's pages (``madvise(MADV_WILLNEED)``): the loader's tensors are
    mmap views of the checkpoint, so the disk reads of the next layers overlap the workers' quantization."""
    global _LIBC
    try:
        if _LIBC is None:
            _LIBC = ctypes.CDLL(None, use_errno=True)
        page = mmap.PAGESIZE
        start = tensor.data_ptr() & ~(page - 1)
        end = tensor.data_ptr() + tensor.numel() * tensor.element_size()
        _LIBC.madvise(ctypes.c_void_p(start), ctypes.c_size_t(end - start), 3)  # MADV_WILLNEED
    except (OSError, AttributeError):  # not Linux / no libc: reads happen on first touch instead
        pass


_LIBC = None


def _load_workers() -> int:
    """Threads quantizing while loading: one per core (each runs its torch ops single-threaded, which beats
    intra-op threads on these many small blocks), ``QWEN_AUDIO_INT8_LOAD_THREADS`` to override."""
    return max(1, int(os.environ.get("QWEN_AUDIO_INT8_LOAD_THREADS") or len(os.sched_getaffinity(0))))


@register_quantizer(QUANT_METHOD)
class QwenAudioInt8Quantizer(HfQuantizer):
    requires_calibration = False

    def validate_environment(self, *args, **kwargs):
        engines = torch.backends.quantized.supported_engines
        if not any(engine in engines for engine in ("x86", "fbgemm", "onednn")):
            raise RuntimeError(f"int8 needs PyTorch's x86 quantized engine; this build has {engines}.")
        device_map = kwargs.get("device_map")
        devices = set(device_map.values()) if isinstance(device_map, dict) else {device_map}
        if devices - {None, "cpu", torch.device("cpu")}:
            raise ValueError(f"int8 (quantization='int8') runs on the CPU only, got device_map={device_map!r}; use "
                             "bf16 on a GPU.")

    def update_dtype(self, dtype):
        return torch.bfloat16 if dtype is None else dtype

    def get_new_dtype(self, converter, param, dtype):
        if self.pre_quantized:  # int8 weights, fp32 scales and biases stay as saved; the rest is in the load dtype
            return None if not (hasattr(param, "get_dtype") and param.get_dtype() in ("BF16", "F16")) else dtype
        return super().get_new_dtype(converter, param, dtype)

    def param_needs_quantization(self, model, param_name: str, **kwargs) -> bool:
        module_name, _, param = param_name.rpartition(".")
        if self.pre_quantized or param != "weight":
            return False
        try:
            return isinstance(model.get_submodule(module_name), Int8Linear)
        except AttributeError:
            return False

    def get_quantize_ops(self):
        return _QuantizeOnLoad(self)

    def submit(self, module: "Int8Linear", weight: torch.Tensor) -> torch.Tensor:
        """Quantize and pack `weight` into `module` on a worker; returns its (not yet filled) scale tensor. At
        most three jobs per worker are in flight (their pages prefetched), which bounds the float tensors held."""
        scale = torch.empty(module.out_features, dtype=torch.float32)
        inference = torch.is_inference_mode_enabled()  # a load under inference_mode makes inference tensors
        # A bias is read before its weight (sorted keys): packed with it when already loaded, else added in forward.
        bias = module.bias.data if module.bias is not None and module.bias.device.type != "meta" else None
        module._bias_packed = bias is not None

        def job():
            if not getattr(self._local, "single", False):
                torch.set_num_threads(1)
                self._local.single = True
            with torch.inference_mode(inference):
                quantized, row_scale = quantize_rows(weight)
                scale.copy_(row_scale)
                module._packed = _prepack(quantized, row_scale, bias)

        while len(self._jobs) >= 3 * self._pool._max_workers:
            self._jobs.pop(0).result()
        _prefetch(weight)
        self._jobs.append(self._pool.submit(job))
        return scale

    def _process_model_before_weight_loading(self, model, **kwargs):
        skip = self.quantization_config.modules_to_not_convert
        _replace(model, lambda linear: Int8Linear(linear.in_features, linear.out_features,
                                                  bias=linear.bias is not None, device="meta"), skip)
        if not self.pre_quantized:
            self._threads = torch.get_num_threads()
            self._pool, self._jobs, self._local = ThreadPoolExecutor(_load_workers()), [], threading.local()
        return model

    def _process_model_after_weight_loading(self, model, **kwargs):
        if not self.pre_quantized:
            try:
                for job in self._jobs:
                    job.result()
            finally:
                self._pool.shutdown(wait=True)
                self._jobs = []
                torch.set_num_threads(self._threads)  # the workers' setting is process-wide
        for name, module in model.named_modules():
            if isinstance(module, Int8Linear) and module._packed is None:
                if module.weight.device.type == "meta":
                    raise RuntimeError(f"int8: {name}.weight was not in the checkpoint.")
                module.pack()
        return model

    def is_serializable(self, **kwargs) -> bool:
        return True

    @property
    def is_trainable(self) -> bool:
        return False


def cpu_has_native_bf16() -> bool:
    """True when this CPU multiplies bf16 natively (AVX512-BF16 or AMX-BF16); else PyTorch emulates bf16 GEMMs,
    10-100x slower than fp32 or int8 (benchmarks/results/cpu_full_*.json)."""
    try:
        with open("/proc/cpuinfo") as handle:
            flags = next((line.split(":", 1)[1].split() for line in handle if line.startswith("flags")), [])
    except OSError:
        return True  # not Linux: no way to tell, no warning
    return "avx512_bf16" in flags or "amx_bf16" in flags


def warn_if_slow_bf16(dtype, device="cpu") -> bool:
    """Warn (and return True) when bf16 arithmetic is asked for on a CPU without native bf16 matmul."""
    if dtype not in (torch.bfloat16, "bfloat16") or torch.device(device or "cpu").type != "cpu":
        return False
    if cpu_has_native_bf16():
        return False
    warnings.warn(
        "bf16 on this CPU (no AVX512-BF16/AMX): PyTorch emulates bf16 matmuls, which is many times slower than "
        "int8 or fp32 here. Faster: --quantization int8 (Python: quantization_config=QwenAudioInt8Config()), or "
        "--dtype float32 if the fp32 weights fit in memory.", UserWarning, stacklevel=2)
    return True


def load_for_inference(model_dir: str, *, quantization: str | None = None, dtype=None, device: str | None = None,
                       model_class=None):
    """The model for `transcribe` / `eval`: ``quantization="int8"`` (CPU; the rest of the weights in bf16), else
    ``dtype`` (default: bf16 on a GPU, fp32 on a CPU), with the slow-bf16 warning. `model_class` defaults to
    ``AutoModelForCausalLM``."""
    from transformers import AutoModelForCausalLM

    model_class = model_class or AutoModelForCausalLM
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if quantization not in (None, "int8"):
        raise ValueError(f"quantization for inference must be 'int8' (or none), got {quantization!r}.")
    if quantization == "int8":
        if torch.device(device).type != "cpu":
            raise ValueError(f"--quantization int8 runs on the CPU; got --device {device}. On a GPU use bf16.")
        return model_class.from_pretrained(model_dir, dtype=dtype if dtype not in (None, "auto") else torch.bfloat16,
                                           quantization_config=QwenAudioInt8Config()).eval()
    if dtype in (None, "auto") and not is_int8_folder(model_dir):
        dtype = torch.bfloat16 if torch.device(device).type == "cuda" else torch.float32
    warn_if_slow_bf16(dtype, device)
    return model_class.from_pretrained(model_dir, dtype=dtype).to(device).eval()


def is_int8_folder(model_dir: str) -> bool:
    """True for a folder saved from an int8 model (its config names this quantizer)."""
    import json
    import os

    try:
        with open(os.path.join(model_dir, "config.json")) as handle:
            quantization = json.load(handle).get("quantization_config") or {}
    except (OSError, ValueError):
        return False
    return quantization.get("quant_method") == QUANT_METHOD


__all__ = ["Int8Linear", "cpu_has_native_bf16", "is_int8_folder", "load_for_inference", "warn_if_slow_bf16", "QUANT_METHOD", "QwenAudioInt8Config", "QwenAudioInt8Quantizer", "quantize_rows"]
