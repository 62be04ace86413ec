import pytest

from qwen_audio_hf.jsonl import read_jsonl


def test_reads_objects_and_skips_blank_lines(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n\n  \n{"b": "é"}\n', encoding="utf-8")
    assert read_jsonl(path) == [{"a": 1}, {"b": "é"}]


@pytest.mark.parametrize("line, message", [("{oops", r"rows.jsonl:2: not valid JSON"), ("[1, 2]", r"rows.jsonl:2: holds a list")])
def test_bad_lines_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n' + line + "\n")
    with pytest.raises(ValueError, match=message):
        read_jsonl(path)
