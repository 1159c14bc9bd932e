"""Experiment files are data, bounded: every hostile file of issue 30 is refused with one
paragraph naming the file, before it can cost time or memory; any bytes at all either load or
raise ``ExperimentError``."""

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resnet_pipeline.experiments.bounded_yaml import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_NODES,
    QUOTE_CHARS,
)
from resnet_pipeline.experiments.experiment_file import (
    MAX_VARIANTS,
    ExperimentError,
    load_experiment,
)

SYMBOLS = ("BTCUSDT", "ETHUSDT")
GOOD = """months: 2024-02..2024-03
variants:
  - name: spec-default
  - name: wide
    labels: {forward_window: 6}
"""
BILLION_LAUGHS = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [
        f"{b}: &{b} [{','.join(['*' + a] * 9)}]"
        for a, b in zip("abcdefgh", "bcdefghi", strict=True)
    ]
    + ["months: *i", "variants: [{name: x}]"]
)


def _write(tmp_path: Path, data: str | bytes, name: str = "hostile") -> Path:
    path = tmp_path / f"{name}.yaml"
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


def _refusal(path: Path) -> str:
    with pytest.raises(ExperimentError) as caught:
        load_experiment(path, SYMBOLS)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    assert "\n" not in message and len(message) < 1000, message  # one paragraph
    return message


def test_a_good_file_still_loads(tmp_path):
    experiment = load_experiment(_write(tmp_path, GOOD), SYMBOLS)
    assert [v.name for v in experiment.variants] == ["spec-default", "wide"]


def test_the_limits_are_stated():
    assert MAX_FILE_BYTES == 1024 * 1024 and MAX_DEPTH == 20
    assert MAX_NODES == 20_000 and MAX_VARIANTS == 1000 and QUOTE_CHARS == 80


@pytest.mark.parametrize("where", ["months", "description", "epochs", "name"])
def test_an_alias_bomb_is_refused_at_its_first_anchor(tmp_path, where):
    text = BILLION_LAUGHS
    if where != "months":
        text = text.replace("months: *i", "months: 2024-02")
        text += {
            "description": "\ndescription: *i",
            "epochs": "\nbase: {training: {epochs: *i}}",
            "name": "",
        }[where]
        if where == "name":
            text = text.replace("[{name: x}]", "[{name: *i}]")
    message = _refusal(_write(tmp_path, text))
    assert "anchor (&a) at line 1" in message and "not allowed" in message


def test_an_alias_alone_is_refused(tmp_path):
    text = GOOD + "description: *undefined\n"
    assert "alias (*undefined)" in _refusal(_write(tmp_path, text))


def test_an_oversized_file_is_refused_before_it_is_parsed(tmp_path):
    padding = "#" + "x" * MAX_FILE_BYTES + "\n"
    message = _refusal(_write(tmp_path, GOOD + padding))
    assert f"larger than {MAX_FILE_BYTES // 1024:,} KiB" in message


def test_a_file_at_the_size_limit_is_read(tmp_path):
    padding = "#" + "x" * (MAX_FILE_BYTES - len(GOOD) - 2) + "\n"
    path = _write(tmp_path, GOOD + padding)
    assert path.stat().st_size == MAX_FILE_BYTES
    assert len(load_experiment(path, SYMBOLS).variants) == 2


def test_five_thousand_brackets_are_refused_at_the_depth_limit(tmp_path):
    text = "months: 2024-02\nvariants: [{name: x}]\ndescription: " + "[" * 5000 + "]" * 5000
    message = _refusal(_write(tmp_path, text))
    assert f"nested more than {MAX_DEPTH} levels deep at line 3" in message


def test_too_many_values_are_refused(tmp_path):
    text = GOOD + "description: [" + "1," * MAX_NODES + "1]\n"
    assert f"more than {MAX_NODES:,} values" in _refusal(_write(tmp_path, text))


def test_a_grid_of_ten_to_the_fifth_is_refused_before_it_is_expanded(tmp_path):
    axes = {
        "labels": ["forward_window", "threshold"],
        "model": ["dropout"],
        "training": ["epochs", "lr"],
    }
    values = [f"[{', '.join(str(i + 1) for i in range(10))}]"] * 5
    lines, column = [], iter(values)
    for section, fields in axes.items():
        lines.append(f"  {section}: {{{', '.join(f'{f}: {next(column)}' for f in fields)}}}")
    text = "months: 2024-02\ngrid:\n" + "\n".join(lines) + "\n"
    message = _refusal(_write(tmp_path, text))
    assert "grid: its 10 x 10 x 10 x 10 x 10 combinations" in message
    assert f"at most {MAX_VARIANTS:,} per file" in message


def test_named_variants_count_against_the_grid(tmp_path):
    named = "".join(f"  - name: v{i}\n    training: {{epochs: {i + 1}}}\n" for i in range(990))
    text = f"months: 2024-02\nvariants:\n{named}grid:\n  model: {{dropout: {list(range(11))}}}\n"
    message = _refusal(_write(tmp_path, text))
    assert "combinations are more than 10 variants" in message


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("months: 2024-02\nmonths: 2024-03\nvariants: [{name: x}]\n", "line 1 and line 2"),
        (
            "months: 2024-02\nbase:\n  training: {epochs: 2, epochs: 3}\nvariants: [{name: x}]\n",
            "line 3 and line 3, column 25",
        ),
        ("months: 2024-02\nvariants:\n  - name: a\n    name: b\n", "line 3 and line 4"),
    ],
)
def test_a_duplicate_key_is_refused(tmp_path, text, where):
    message = _refusal(_write(tmp_path, text))
    assert "appears twice" in message and where in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", "variants[1], name: is empty"),
        ("''", "variants[1], name: is empty"),
        ("yes", "variants[1], name: True is a bool, not text"),
        ("3", "variants[1], name: 3 is a int, not text"),
        ("2024-02-01", "variants[1], name: datetime.date(2024, 2, 1) is a date, not text"),
    ],
)
def test_an_empty_or_non_text_variant_name_is_refused(tmp_path, value, expected):
    text = f"months: 2024-02\nvariants:\n  - name: ok\n  - name: {value}\n"
    assert expected in _refusal(_write(tmp_path, text))


def test_a_non_text_experiment_name_is_refused(tmp_path):
    text = "name: yes\n" + GOOD
    assert "name: True is a bool, not text" in _refusal(_write(tmp_path, text, name="True"))


def test_a_variant_name_with_a_trailing_newline_is_refused(tmp_path):
    text = 'months: 2024-02\nvariants:\n  - name: "ok\\n"\n'
    assert "a name is letters, digits" in _refusal(_write(tmp_path, text))


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [
        ("latin-1", "not UTF-8 text: byte 0xe9 on line 1"),
        ("utf-16", "not UTF-8 text: it starts with a UTF-16 byte-order mark"),
        ("utf-16-le", "not UTF-8 text: a NUL byte on line 1"),
    ],
)
def test_a_file_not_in_utf8_is_refused(tmp_path, encoding, expected):
    data = ("description: café\n" + GOOD).encode(encoding)
    message = _refusal(_write(tmp_path, data))
    assert expected in message and "save it as UTF-8" in message


def test_a_utf8_file_with_a_byte_order_mark_loads(tmp_path):
    path = _write(tmp_path, ("description: café\n" + GOOD).encode("utf-8-sig"))
    assert load_experiment(path, SYMBOLS).description == "café"


@pytest.mark.parametrize(
    "text",
    [
        "months: [2024-13-45]\nvariants: [{name: x}]\n",
        "months: 2024-02\nvariants: [{name: x}]\ndescription: 0x_\n",
        "months: 2024-02\nvariants: [{name: x}]\ndescription: 0b_\n",
    ],
)
def test_a_scalar_yaml_cannot_build_is_refused(tmp_path, text):
    assert "cannot be read" in _refusal(_write(tmp_path, text))


def test_a_long_value_is_cut_in_the_message(tmp_path):
    long = "x" * 100_000
    for text in (
        f"months: [{long}]\nvariants: [{{name: x}}]\n",
        f"months: 2024-02\nvariants: [{{name: {long}}}]\n",
        f"months: 2024-02\nvariants: [{{name: x}}]\n{long[:1000]}: 1\n",
        f"months: 2024-02\nvariants: [{{name: x, training: {{epochs: {long}}}}}]\n",
        f"months: 2024-02\nvariants:\n  - name: x\n    training:\n      {long[:1000]}: 1\n",
    ):
        message = _refusal(_write(tmp_path, text))
        assert "more characters)" in message  # and under 1,000 characters: _refusal


FRAGMENTS = [
    "months: ", "2024-02", "2024-02..2024-04", "variants:", "\n", "  ", "- ", "name: ",
    "grid:", "base:", "training:", "{epochs: ", "[", "]", "{", "}", ", ", ": ", "&a ", "*a",
    "!!python/object:os.system ", "yes", "~", "''", '"', "0x_", "._", "2024-13-45", "<<: ",
    "labels: {forward_window: [6, 30]}", "model:", "dropout", "0.1", "#", "\t", "é", "\x00",
    "\ufeff", "---", "...", "? ", "|", ">", "%YAML 1.1", "!", "-", "description: ",
]  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.one_of(
        st.binary(max_size=400),
        st.text(max_size=200).map(lambda text: text.encode("utf-8", "surrogatepass")),
        st.lists(st.sampled_from(FRAGMENTS), max_size=40).map(
            lambda parts: "".join(parts).encode("utf-8")
        ),
    )
)
def test_any_bytes_either_load_or_are_refused_in_a_paragraph(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("any") / "any.yaml"
    path.write_bytes(data)
    try:
        load_experiment(path, SYMBOLS)
    except ExperimentError as error:
        assert str(error).startswith(f"{path}: ")
