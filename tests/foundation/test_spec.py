"""The Strategy spec: what is accepted, and that every rejection names the field and the fix."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from generator.errors import UserError
from generator.spec import MAX_CODE_BYTES, Caps, load_spec, parse_spec
from tests.support import MOMENTUM, write_spec


def spec_text(**overrides) -> str:
    doc = {
        "apiVersion": "stratops.io/v1",
        "kind": "Strategy",
        "metadata": {"name": "momentum-btc", "tenant": "alice"},
        "spec": {
            "code": {"inline": MOMENTUM, "class": "Momentum"},
            "subscriptions": ["trades.BTC-USD"],
            "params": {"window": 20},
            "resources": {"cpu": "250m", "memory": "256Mi"},
        },
    }
    for path, value in overrides.items():
        node = doc
        *parents, last = path.split("__")
        for part in parents:
            node = node[part]
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return yaml.safe_dump(doc)


def problems_of(text: str, caps: Caps | None = None) -> list[str]:
    with pytest.raises(UserError) as info:
        parse_spec(text, caps=caps)
    return [str(p) for p in info.value.problems]


def test_valid_spec_normalizes_and_digests():
    strategy = parse_spec(spec_text())
    assert strategy.key == "alice/momentum-btc"
    assert strategy.code_file == "strategy.py"
    assert strategy.document()["spec"]["code"] == {"file": "strategy.py", "class": "Momentum"}
    assert len(strategy.digest) == 64
    assert parse_spec(spec_text()).digest == strategy.digest
    assert parse_spec(spec_text(spec__params={"window": 21})).digest != strategy.digest


def test_numeric_quantities_are_kept_as_text():
    strategy = parse_spec(spec_text(spec__resources={"cpu": 1, "memory": "1Gi"}))
    assert strategy.cpu == "1"
    assert parse_spec(spec_text(spec__resources={"cpu": 0.5, "memory": "1Gi"})).cpu == "0.5"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"metadata__name": "../x"}, "metadata.name: '../x' is not valid"),
        ({"metadata__name": "A_B"}, "metadata.name: 'A_B' is not valid"),
        ({"metadata__name": "a" * 64}, "metadata.name: " + repr("a" * 64) + " has 64 characters"),
        ({"metadata__tenant": "kube-system"}, "metadata.tenant: 'kube-system' is reserved"),
        ({"spec__extra": 1}, "spec: unknown field(s) 'extra'"),
        ({"spec__code": {"inline": "x = 1"}}, "spec.code: 'class' is missing"),
        ({"spec__code": {"class": "M"}}, "give either code.file or code.inline"),
        ({"spec__subscriptions": ["trades.btc-usd"]}, "spec.subscriptions[0]: 'trades.btc-usd' is not valid"),
        ({"spec__subscriptions": []}, "spec.subscriptions"),
        ({"spec__resources": {"cpu": "1.5.3Gi"}}, "spec.resources.cpu: '1.5.3Gi' is not valid"),
        ({"spec__resources": {"cpu": "3"}}, "spec.resources.cpu: 3 is over the cap of 2"),
        ({"spec__resources": {"memory": "64Gi"}}, "spec.resources.memory: 64Gi is over the cap of 4Gi"),
        ({"spec__resources": {"memory": "1Mi"}}, "under the minimum of 64Mi"),
        ({"spec__params": {"when": float("nan")}}, "spec.params.when: nan is not a finite number"),
        ({"apiVersion": "v1"}, "apiVersion: must be 'stratops.io/v1'"),
        ({"kind": None}, "'kind' is missing"),
    ],
)
def test_bad_fields_are_named(overrides, expected):
    assert any(expected in p for p in problems_of(spec_text(**overrides))), problems_of(spec_text(**overrides))


def test_every_problem_is_reported_at_once():
    problems = problems_of(spec_text(metadata__name="A_B", spec__extra=1, apiVersion="v2"))
    assert len(problems) == 3


def test_python_syntax_error_has_line_and_column():
    problems = problems_of(spec_text(spec__code={"inline": "class M:\n    def f(:\n        pass\n", "class": "M"}))
    assert problems == ["spec.code.inline:2:11: Python syntax error: invalid syntax"]


def test_missing_class_lists_the_classes_found():
    problems = problems_of(spec_text(spec__code={"inline": "class A: pass\nclass B: pass\n", "class": "M"}))
    assert problems == ["spec.code.class: class 'M' is not defined at the top level of the code (classes found: A, B)"]


def test_nul_bytes_in_code_are_refused():
    assert "not valid Python source" in problems_of(spec_text(spec__code={"inline": "x\0", "class": "M"}))[0]


def test_tenant_caps_raise_the_limit():
    text = spec_text(spec__resources={"cpu": "3", "memory": "8Gi"})
    assert parse_spec(text, caps=Caps(max_cpu="4", max_memory="8Gi")).cpu == "3"


def test_invalid_yaml_names_line_and_column():
    problems = problems_of("apiVersion: stratops.io/v1\nkind: [unclosed\n")
    assert problems[0].startswith("spec:3:1:")


def test_duplicate_keys_are_refused():
    problems = problems_of("kind: Strategy\nkind: Strategy\n")
    assert "duplicate key 'kind'" in problems[0]


def test_yaml_dates_in_params_must_be_quoted():
    text = spec_text().replace("window: 20", "start: 2024-01-01")
    assert "spec.params.start: date values are not allowed" in problems_of(text)[0]


def test_code_file_next_to_spec(spec_dir: Path):
    strategy = load_spec(write_spec(spec_dir))
    assert strategy.source == MOMENTUM and strategy.code_file == "momentum.py"


def test_code_file_over_512_kib_is_refused(spec_dir: Path):
    big = MOMENTUM + "#" * MAX_CODE_BYTES
    with pytest.raises(UserError, match="not a valid Strategy") as info:
        load_spec(write_spec(spec_dir, code=big))
    assert "more than 524288 bytes" in str(info.value)


def test_code_file_symlink_is_refused(spec_dir: Path, tmp_path: Path):
    spec = write_spec(spec_dir)
    secret = tmp_path / "secret.py"
    secret.write_text("class Momentum: pass\n")
    (spec_dir / "momentum.py").unlink()
    (spec_dir / "momentum.py").symlink_to(secret)
    with pytest.raises(UserError, match="not a valid Strategy") as info:
        load_spec(spec)
    assert "not a regular file" in str(info.value)


def test_code_file_not_utf8(spec_dir: Path):
    spec = write_spec(spec_dir)
    (spec_dir / "momentum.py").write_bytes(b"class Momentum: pass\n# \xff\n")
    with pytest.raises(UserError) as info:
        load_spec(spec)
    assert "is not UTF-8" in str(info.value)


def test_missing_spec_file(tmp_path: Path):
    with pytest.raises(UserError, match="does not exist"):
        load_spec(tmp_path / "nope.yaml")


# A billion-laughs document: 7 levels of 9 aliases each, 4.8 million strings once expanded, from ~600 bytes.
ALIAS_BOMB = spec_text().replace(
    "window: 20",
    "\n".join(f"    l{i}: &l{i} [" + ", ".join(["x" if i == 0 else f"*l{i - 1}"] * 9) + "]" for i in range(7)).lstrip(),
)


def _nested(depth: int) -> str:
    return spec_text().replace("window: 20", "deep: " + "[" * depth + "]" * depth)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (ALIAS_BOMB, "alias *l0 (anchors and aliases are not accepted"),
        (_nested(65), "nested more than 64 levels deep"),
        (_nested(5000), "nesting depth"),
        ("params: [" + "0, " * 60_000 + "0]\n", "more than 50000 values"),
    ],
)
def test_hostile_yaml_shapes_are_refused_fast(text: str, expected: str):
    started = time.monotonic()
    problems = problems_of(text)
    assert time.monotonic() - started < 1.0
    assert any(expected in p for p in problems), problems


def test_nesting_within_the_bound_is_accepted():
    assert parse_spec(_nested(40)).params["deep"] == _nest_list(40)


def _nest_list(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    "field",
    ["metadata__tenant", "metadata__name", "spec__code__class"],
)
def test_a_trailing_newline_fails_the_schema(field: str):
    value = {"metadata__tenant": "alice", "metadata__name": "momentum-btc", "spec__code__class": "Momentum"}[field]
    problems = problems_of(spec_text(**{field: value + "\n"}))
    assert any("is not valid" in p and field.replace("__", ".") in p for p in problems), problems


def test_a_trailing_newline_in_a_subscription_fails_the_schema():
    assert (
        "spec.subscriptions[0]: 'trades\\n' is not valid" in problems_of(spec_text(spec__subscriptions=["trades\n"]))[0]
    )
