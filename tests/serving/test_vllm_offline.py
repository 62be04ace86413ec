"""Offline vLLM engine (`LLM(model=DIR)`) on a tiny converted checkpoint: same greedy tokens as our generate()."""

import pytest

vllm = pytest.importorskip("vllm")
soundfile = pytest.importorskip("soundfile")


def _clip(reference, name):
    wave, rate = soundfile.read(reference["clips"][name]["path"], dtype="float32")
    return wave, rate


@pytest.fixture(scope="module")
def llm(reference):
    engine = vllm.LLM(
        model=reference["checkpoint"],
        dtype="float32",
        max_model_len=reference["seq_length"],
        max_num_seqs=4,
        limit_mm_per_prompt={"audio": 2},
        enforce_eager=True,
    )
    yield engine
    engine.llm_engine.engine_core.shutdown()  # free its memory before the server test starts another engine


def _request(reference, case):
    request = {"prompt": case["prompt"]}
    if case["clips"]:
        request["multi_modal_data"] = {"audio": [_clip(reference, name) for name in case["clips"]]}
    return request


def test_greedy_tokens_equal_transformers_generate(llm, reference):
    """All cases in one batch (continuous batching) against generate() run one prompt at a time."""
    cases = reference["cases"]
    params = vllm.SamplingParams(temperature=0.0, max_tokens=len(cases[0]["tokens"]), ignore_eos=True)
    outputs = llm.generate([_request(reference, case) for case in cases], params)
    for case, output in zip(cases, outputs):
        assert list(output.prompt_token_ids) == case["prompt_ids"], case["prompt"]
        assert list(output.outputs[0].token_ids) == case["tokens"], case["prompt"]


def test_more_audios_than_placeholders_is_refused(llm, reference):
    case = reference["cases"][0]
    request = {"prompt": case["prompt"], "multi_modal_data": {"audio": [_clip(reference, "tone")] * 2}}
    with pytest.raises(ValueError, match="1 empty <audio></audio> placeholder"):
        llm.generate([request], vllm.SamplingParams(max_tokens=1))


def test_audio_over_30_seconds_is_refused_not_cut(llm, reference):
    wave, rate = _clip(reference, "tone")
    long = (wave.repeat(13)[: 31 * rate], rate)
    request = {"prompt": reference["cases"][0]["prompt"], "multi_modal_data": {"audio": [long]}}
    with pytest.raises(ValueError, match="at most 30 s"):
        llm.generate([request], vllm.SamplingParams(max_tokens=1))


def test_audio_with_an_invalid_sampling_rate_is_refused(llm, reference):
    wave, _ = _clip(reference, "tone")
    prompt = reference["cases"][0]["prompt"]
    for rate in (0, 16000.5):
        request = {"prompt": prompt, "multi_modal_data": {"audio": [(wave, rate)]}}
        with pytest.raises(ValueError, match="sampling_rate"):
            llm.generate([request], vllm.SamplingParams(max_tokens=1))


def test_max_model_len_beyond_seq_length_is_refused(reference):
    """Dynamic NTK + log-n beyond seq_length are not served: vLLM's maximum is seq_length."""
    with pytest.raises(ValueError, match=f"seq_length={reference['seq_length']}"):
        vllm.LLM(model=reference["checkpoint"], dtype="float32", max_model_len=2 * reference["seq_length"])
