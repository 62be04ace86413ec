"""ASR-only learning curve of the demo model (see benchmarks/results/demo_speech_asr_curves_cpu.json).

Usage: PYTHONPATH=src python benchmarks/demo_speech_asr_curve.py NAME '{"steps":400,"every":100,"rows":true}'
(DemoSettings fields plus steps, every, rows: train target rows of the token table, srwt, short)."""
import sys, time, json, os
import numpy as np, torch
from transformers import TrainerCallback
from qwen_audio_hf.demo import speech
from qwen_audio_hf.demo.training import DemoSettings, build_processor, build_tiny_model, _train_stage, PRETRAIN_MODULES
from qwen_audio_hf.training import recipes
from qwen_audio_hf.processing.tags import TaskPrompt
from qwen_audio_hf.modeling.generation import generate_texts, set_generation_defaults
from qwen_audio_hf.core.token_ids import END_TOKENS
from qwen_audio_hf.evaluation.metrics import word_error_rate
from dataclasses import asdict
torch.set_num_threads(1)
name = sys.argv[1]; cfg = json.loads(sys.argv[2])
rows_flag = cfg.pop("rows", False); srwt_flag = cfg.pop("srwt", False); short_flag = cfg.pop("short", False); steps = cfg.pop("steps"); every = cfg.pop("every")
print(name, 'start', flush=True)
s = DemoSettings(**cfg)
proc = build_processor(); model = build_tiny_model(s); set_generation_defaults(model, proc.tokenizer)
t0 = time.time()
train = speech.make_utterances(1500, 0, "train", max_words=2) + speech.make_utterances(1500, 1, "train") if short_flag else speech.make_utterances(3000, 0, "train"); test = speech.make_utterances(64, 2, "held_out")
print("data", time.time() - t0, flush=True)
p = TaskPrompt.asr("en"); fields = {k: v for k, v in asdict(p).items() if v is not None}; fields.pop("suffix", None)
rows = [{"audio": {"array": e["audio"], "sampling_rate": 16000}, "tags": fields, "prompt": "", "target": " " + e["label"]} for e in train]
if srwt_flag:
    from qwen_audio_hf.demo import tasks as T
    rows = rows[:1500] + T.pretraining_rows(T.speech_tasks(train[:1500], "srwt"))
curve = []
def wer(m, zero=False):
    m.eval()
    out = generate_texts(m, proc, [p.to_text(audio="")] * len(test), [e["audio"] for e in test], max_new_tokens=8,
                         end_tokens=END_TOKENS, batch_size=32, zero_audio_features=zero)
    m.train()
    return word_error_rate([e["label"] for e in test], [o.replace("<|endoftext|>", "").strip() for o in out]), out
class CB(TrainerCallback):
    def on_step_end(self, args, state, control, model=None, **kw):
        if state.global_step % every == 0:
            w, out = wer(model); curve.append((state.global_step, round(time.time() - t0, 1), w))
            print(name, curve[-1], out[:3], flush=True)
MODS = PRETRAIN_MODULES
if rows_flag:
    ids = sorted({i for r in rows for i in proc.tokenizer.encode(r["target"])} | set(proc.tokenizer.convert_tokens_to_ids(["<|endoftext|>"])))
    mask = torch.zeros(model.get_input_embeddings().weight.shape[0], 1); mask[ids] = 1
    model.get_input_embeddings().weight.register_hook(lambda g: g * mask)
    MODS = PRETRAIN_MODULES + ("model.language_model.embed_tokens",)
    print("rows", len(ids))
def pre(model, processor, rows, output_dir, **kwargs):
    return recipes.pretrain(model, processor, rows, output_dir, trainable_modules=MODS, callbacks=[CB()], **kwargs)
r = _train_stage(pre, model, proc, rows, f"/tmp/exp/{name}", steps, s.pretrain_learning_rate, s)
print(name, "zeroed", wer(r.model, True)[0], "curve", curve, "train_s", time.time() - t0, flush=True)
