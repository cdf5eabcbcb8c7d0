import pytest

from eco_unlearn.gate.prompt_files import PromptFileError, check_classes, read_prompts


def test_reads_jsonl_csv_and_txt(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"question": "Q1", "answer": "x"}\n\n{"prompt": "Q2"}\n{"text": "Q1"}\n')
    (tmp_path / "b.csv").write_text('text,label\n"Hello, there",1\nSecond,0\n')
    (tmp_path / "c.txt").write_text("\ufeffone\n\n two \none\n")
    assert read_prompts(tmp_path / "a.jsonl") == ["Q1", "Q2"]
    assert read_prompts(tmp_path / "b.csv") == ["Hello, there", "Second"]
    assert read_prompts(tmp_path / "c.txt") == ["one", "two"]


@pytest.mark.parametrize(
    "name,content,match",
    [
        ("missing.txt", None, "no such file"),
        ("empty.txt", b"\n  \n", "empty file"),
        ("empty.csv", b"", "empty file"),
        ("latin1.txt", "caf\u00e9\n".encode("latin-1"), "not UTF-8 .*line 1"),
        ("bad.jsonl", b'{"question": "ok"}\n{oops\n', r"bad.jsonl:2: not valid JSON"),
        ("fields.jsonl", b'{"query": "x", "id": 1}\n', r"unknown fields \('query', 'id'\)"),
        ("type.jsonl", b'{"prompt": 3}\n', "must be a string"),
        ("array.jsonl", b"[1]\n", "expected a JSON object"),
        ("cols.csv", b"query,id\nx,1\n", "unknown fields"),
    ],
)
def test_bad_files_give_clear_errors(tmp_path, name, content, match):
    if content is not None:
        (tmp_path / name).write_bytes(content)
    with pytest.raises(PromptFileError, match=match):
        read_prompts(tmp_path / name)


def test_directory_is_not_a_file(tmp_path):
    with pytest.raises(PromptFileError, match="not a file"):
        read_prompts(tmp_path)


def test_class_checks():
    ten = [f"q{i}" for i in range(10)]
    with pytest.raises(PromptFileError, match="forget set has 3 prompts; at least 10"):
        check_classes(ten[:3], [f"r{i}" for i in range(10)])
    with pytest.raises(PromptFileError, match="retain set has 9"):
        check_classes(ten, [f"r{i}" for i in range(9)])
    with pytest.raises(PromptFileError, match=r"2 prompt\(s\) are in both .*'q1'; 'q2'"):
        check_classes(ten, [f"r{i}" for i in range(8)] + ["Q1", " q2 "])
    with pytest.raises(PromptFileError, match="general set is empty"):
        check_classes(ten, [f"r{i}" for i in range(10)], [])
    check_classes(ten, [f"r{i}" for i in range(10)])
