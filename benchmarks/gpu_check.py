"""GPU path checks: bf16/fp16 loading, eager vs SDPA (vs flash-attention when installed), batched greedy
decoding vs one prompt at a time, device_map="auto" (with CPU offload), on a small random QwenAudio.

    python benchmarks/gpu_check.py            # prints one line per check and exits non-zero on a failure

Full-size speed figures come from bench_latency.py (--size full --dtype bfloat16).
"""

import importlib.util
import sys
import tempfile

import torch

from qwen_audio_hf import QwenAudioConfig, QwenAudioForConditionalGeneration
from qwen_audio_hf.core.audio_lengths import audio_token_counts
from qwen_audio_hf.core.token_ids import AUDIO_END_ID as AUDIO_END
from qwen_audio_hf.core.token_ids import AUDIO_PAD_ID as AUDIO_PAD
from qwen_audio_hf.core.token_ids import AUDIO_START_ID as AUDIO_START


def small_config(attn: str) -> QwenAudioConfig:
    config = QwenAudioConfig(
        audio_config=dict(d_model=256, encoder_layers=4, encoder_attention_heads=4),
        text_config=dict(
            model_type="qwen_audio_text", hidden_size=512, num_hidden_layers=4, num_attention_heads=8,
            intermediate_size=1376,
        ),
    )
    config._attn_implementation = attn
    return config


def audio_prompt(frames: int, text_len: int, generator) -> list[int]:
    tokens = audio_token_counts(frames)
    text = torch.randint(0, 150000, (text_len,), generator=generator).tolist()
    return [AUDIO_START] + [AUDIO_PAD] * tokens + [AUDIO_END] + text


def left_padded_batch(prompts: list[list[int]], frames: list[int], device) -> dict:
    width = max(map(len, prompts))
    ids = torch.zeros(len(prompts), width, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt):] = torch.tensor(prompt)
        mask[row, width - len(prompt):] = 1
    features = torch.randn(len(prompts), 80, 3000, generator=torch.Generator().manual_seed(1))
    feature_mask = (torch.arange(3000)[None, :] < torch.tensor(frames)[:, None]).long()
    batch = dict(input_ids=ids, attention_mask=mask, input_features=features, feature_attention_mask=feature_mask)
    return {key: value.to(device) for key, value in batch.items()}


def report(name: str, ok: bool, detail: str) -> bool:
    print(f"[{'PASS' if ok else 'FAIL'}] {name}: {detail}", flush=True)
    return ok


@torch.inference_mode()
def main() -> int:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        print(torch.cuda.get_device_name(), "torch", torch.__version__, flush=True)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    frames = [300, 1200]  # 3 s and 12 s clips
    prompts = [audio_prompt(frames[0], 5, gen), audio_prompt(frames[1], 11, gen)]
    results = []

    with tempfile.TemporaryDirectory() as tmp:
        QwenAudioForConditionalGeneration(small_config("eager")).save_pretrained(tmp)
        models = {}
        for attn in ("eager", "sdpa", "flash_attention_2"):
            if attn == "flash_attention_2" and importlib.util.find_spec("flash_attn") is None:
                print("[SKIP] flash_attention_2: flash_attn is not installed", flush=True)
                continue
            models[attn] = QwenAudioForConditionalGeneration.from_pretrained(
                tmp, dtype=torch.bfloat16, attn_implementation=attn
            ).to(device).eval()
        fp32 = QwenAudioForConditionalGeneration.from_pretrained(tmp, dtype=torch.float32).to(device).eval()
        batch = left_padded_batch(prompts, frames, device)

        ref = fp32(**batch).logits.float()
        for attn, model in models.items():
            results.append(report(f"dtype {attn}", model.dtype == torch.bfloat16, f"parameters in {model.dtype}"))
            out = model(**batch).logits.float()
            keep = batch["attention_mask"].bool()
            err = (out - ref)[keep].abs().max().item()
            agree = (out.argmax(-1) == ref.argmax(-1))[keep].float().mean().item()
            results.append(report(f"bf16 {attn} vs fp32 logits", agree > 0.95, f"max abs diff {err:.3g}, argmax agreement {agree:.3f}"))

        # Batched (left-padded) greedy decoding equals one prompt at a time (fp32 on the GPU).
        batched = fp32.generate(**batch, max_new_tokens=12, do_sample=False)[:, batch["input_ids"].shape[1]:]
        for row, (prompt, n_frames) in enumerate(zip(prompts, frames)):
            single = left_padded_batch([prompt], [n_frames], device)
            single["input_features"] = batch["input_features"][row : row + 1]
            alone = fp32.generate(**single, max_new_tokens=12, do_sample=False)[0, len(prompt):]
            results.append(report(f"batched greedy row {row}", torch.equal(alone, batched[row]), f"{alone.tolist()}"))

        # device_map="auto": one GPU, then a memory cap that offloads part of the model to the CPU.
        if device == "cuda":
            full = QwenAudioForConditionalGeneration.from_pretrained(tmp, dtype=torch.bfloat16, device_map="auto")
            placements = {str(p.device) for p in full.parameters()}
            results.append(report("device_map=auto (single GPU)", placements == {"cuda:0"}, f"devices {sorted(placements)}"))
            seq = full.generate(**batch, max_new_tokens=8, do_sample=False)
            results.append(report("generate after device_map", seq.shape[1] == batch["input_ids"].shape[1] + 8, f"shape {tuple(seq.shape)}"))
            for cap in ("700MiB", "400MiB"):
                try:
                    mapped = QwenAudioForConditionalGeneration.from_pretrained(
                        tmp, dtype=torch.float32, device_map="auto", max_memory={0: cap, "cpu": "8GiB"}
                    )
                    out = mapped(**batch).logits.float().to(device)
                    err = (out - ref)[batch["attention_mask"].bool()].abs().max().item()
                    ok, detail = err < 1e-3, f"max abs diff {err:.3g}"
                except Exception as exc:  # report and go on: this is a survey of offload placements
                    ok, detail = False, f"{type(exc).__name__}: {str(exc)[:160]}"
                print(f"  GPU cap {cap}: device map {getattr(mapped, 'hf_device_map', None) if ok else ''}", flush=True)
                results.append(report(f"device_map=auto with CPU offload (GPU cap {cap})", ok, detail))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
