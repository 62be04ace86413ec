"""A tiny random Qwen-Audio and its processor (also saved as a model directory) for the long-form tests."""

import pytest


from ..tiny_models import tiny_decoding_model


@pytest.fixture(scope="session")
def model():
    return tiny_decoding_model()


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, model, processor):
    directory = tmp_path_factory.mktemp("tiny_long_form_model")
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return str(directory)
