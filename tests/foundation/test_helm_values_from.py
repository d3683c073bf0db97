"""Hand-written `valuesFrom` composed as helm-controller does: Secrets decoded (stringData over data),
`targetPath` through Helm's `--set` parser (checked against the real helm), `literal`, merge order."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from generator import helm, strvals
from generator.errors import UserError
from generator.helm_controller import compose_values

# --set texts whose parse is easy to get wrong: escapes, commas, lists, typing, nesting, indexes.
SET_CASES = [  # every case uses its own keys, so all of them go through one helm run
    "a.b=c",
    r"b\.b=c",
    r"c\.b.c=d\,e",
    "d1=1,d2=2",
    "e={x, y,1}",
    "f1=007,f2=0,f3=-12,f4=+3,f5=1e3,f6=TRUE,f7=Null,f8=9223372036854775808",
    "g[1].b=x,g[0]=y",
    "h[0][1]=x",
    r"i=C:\\temp\\new",
    "j=x=y",
    "k.b=1,k.c=2",
    "naïve=日本,emoji=🚀",
    "l1={},l2={x}",
    "m=",
]


@pytest.fixture(scope="module")
def values_chart(tmp_path_factory) -> Path:
    chart = tmp_path_factory.mktemp("chart")
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: probe\nversion: 0.1.0\n")
    (chart / "templates").mkdir()
    (chart / "templates/cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: probe}\ndata: {values: {{ toJson .Values | quote }}}\n"
    )
    return chart


def _helm_set(chart: Path, flag: str, texts: list[str]) -> dict:
    """What helm makes of `flag text` for each text, in order, into one values map."""
    args = [a for text in texts for a in (flag, text)]
    out = subprocess.run(
        [helm.helm_executable(), "template", "x", str(chart), *args], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    return json.loads(yaml.safe_load(out.stdout)["data"]["values"])


@pytest.mark.parametrize("strings", [False, True], ids=["set", "set-string"])
def test_strvals_parses_like_helm(values_chart: Path, strings: bool):
    theirs = _helm_set(values_chart, "--set-string" if strings else "--set", SET_CASES)
    ours: dict = {}
    for text in SET_CASES:
        strvals.parse_into(text, ours, strings=strings)
    assert json.loads(json.dumps(ours)) == theirs


def _release(*refs: dict, values: dict | None = None) -> dict:
    return {
        "kind": "HelmRelease",
        "metadata": {"name": "r", "namespace": "alice"},
        "spec": {"valuesFrom": list(refs), "values": values or {}},
    }


def _secret(name: str, data: dict[str, str] | None = None, string_data: dict[str, str] | None = None) -> dict:
    obj = {"kind": "Secret", "metadata": {"name": name, "namespace": "alice"}}
    if data is not None:
        obj["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    if string_data is not None:
        obj["stringData"] = string_data
    return obj


def test_secret_data_is_decoded_and_string_data_wins():
    secret = _secret("s", {"values.yaml": "a: 1\nb: {c: 2}\n", "other": "x: 1"}, {"values.yaml": "a: 3\n"})
    assert compose_values(_release({"kind": "Secret", "name": "s"}), [secret], "t") == {"a": 3}
    plain = _secret("p", {"values.yaml": "a: 1\nb: {c: 2}\n"})
    assert compose_values(_release({"kind": "Secret", "name": "p"}), [plain], "t") == {"a": 1, "b": {"c": 2}}
    broken = {"kind": "Secret", "metadata": {"name": "b", "namespace": "alice"}, "data": {"values.yaml": "a: 1"}}
    with pytest.raises(UserError, match="not base64"):
        compose_values(_release({"kind": "Secret", "name": "b"}), [broken], "t")


def test_target_path_without_literal_uses_set_rules():
    cm = {"kind": "ConfigMap", "metadata": {"name": "c", "namespace": "alice"}, "data": {"v": "x,b=007", "q": "'42'"}}
    refs = [
        {"kind": "ConfigMap", "name": "c", "valuesKey": "v", "targetPath": r"ingress.annotations.nginx\.io/x"},
        {"kind": "ConfigMap", "name": "c", "valuesKey": "q", "targetPath": "quoted"},
        {"kind": "ConfigMap", "name": "c", "valuesKey": "v", "targetPath": "lit", "literal": True},
    ]
    values = compose_values(_release(*refs, values={"ingress": {"enabled": True}}), [cm], "t")
    assert values == {
        "ingress": {"annotations": {"nginx.io/x": "x"}, "enabled": True},
        "b": "007",
        "quoted": "42",
        "lit": "x,b=007",
    }


def test_inline_values_win_over_a_target_path_as_in_helm_controller():
    cm = {"kind": "ConfigMap", "metadata": {"name": "c", "namespace": "alice"}, "data": {"v": "from-ref"}}
    ref = {"kind": "ConfigMap", "name": "c", "valuesKey": "v", "targetPath": "a.b"}
    assert compose_values(_release(ref, values={"a": {"b": "inline"}}), [cm], "t") == {"a": {"b": "inline"}}


@pytest.mark.parametrize(
    ("text", "message"), [("{unclosed", "list must terminate with '}'"), ("'1,2'", "key '2' has no value")]
)
def test_bad_set_syntax_is_a_user_error(text: str, message: str):
    """Quotes only stop typing: a comma still starts another `key=value`, as in Flux."""
    cm = {"kind": "ConfigMap", "metadata": {"name": "c", "namespace": "alice"}, "data": {"v": text}}
    ref = {"kind": "ConfigMap", "name": "c", "valuesKey": "v", "targetPath": "a"}
    with pytest.raises(UserError) as info:
        compose_values(_release(ref), [cm], "t")
    assert message in str(info.value.problems[0])
