"""Kyverno's CEL environment on the offline engine: libraries, compat rewrites, compile-time checks.

The corpus expressions are compared with the real kyverno CLI in test_kyverno_differential; here
each must hold under the engine, and the refusals must name what is wrong.
"""

from __future__ import annotations

import pytest
from cel_corpus import EXPRESSIONS, POD
from cel_expr_python import cel

from generator.policy.cel_env import CelCompileError, clean_runtime_error, compile_expression, environment
from generator.policy.cel_rewrite import rewrite
from generator.policy.engine import to_float_numbers

NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "alice"}}


def evaluate(expression: str):
    data = {
        "object": to_float_numbers(POD),
        "oldObject": None,
        "namespaceObject": NAMESPACE,
        "request": {"operation": "CREATE"},
        "variables": {},
        "exceptions": {"allowedImages": [], "allowedValues": []},
    }
    result = compile_expression(expression).eval(environment().Activation(data))
    return clean_runtime_error(result.value()) if result.type() == cel.Type.ERROR else result.plain_value()


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_corpus_expression_holds(expression: str):
    assert evaluate(expression) is True


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("[1, 'a'].size() > 0", "type 'string' does not match previous type 'int' in aggregate"),
        ("[1, 2.0].size() > 0", "type 'double' does not match previous type 'int'"),
        ("{'a': 1, 'b': 'x'}.size() > 0", "type 'string' does not match previous type 'int'"),
        ("[1, [2, 3]].flatten().size() > 0", "type 'list' does not match previous type 'int'"),
        ("format.dns1123Label().validate('a') == optional.none()", "undeclared reference to 'format'"),
    ],
)
def test_refused_at_compile_time(expression: str, message: str):
    with pytest.raises(CelCompileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        compile_expression(expression)


def test_dynamic_aggregates_are_allowed():
    assert evaluate("[dyn(1), 'a'].size() == 2")
    assert evaluate("[object.metadata.name, 1].size() == 2")


@pytest.mark.parametrize(
    ("expression", "error"),
    [
        ("http.Get('https://example.com') == null", "http.Get is not available offline"),
        ("resource.Get('v1', 'configmaps', 'a', 'b') == null", "resource.Get is not available offline"),
        ("image.GetMetadata('nginx') == null", "image.GetMetadata is not available offline"),
        ("gzip.compress('x').size() > 0", "gzip.compress is not supported"),
        ("object.spec.nosuch.orValue(1) == 1", "no such key: nosuch"),
    ],
)
def test_runtime_errors_name_the_feature(expression: str, error: str):
    assert error in str(evaluate(expression))


def test_rewrites_leave_string_literals_alone():
    text = "'x.orValue(1) [1, \\'a\\']' == object.metadata.name"
    assert rewrite(text) == text


def test_rewrite_finds_the_whole_receiver():
    out = rewrite("object.spec.containers[0].ports.orValue([]).size() == 0")
    assert "[object.spec.containers[0].ports].map(stratops_ov1," in out


def test_binds_survive_a_short_circuited_comprehension():
    """cel-cpp's own cel.bind would bind q to an element of the list here (a stale slot after
    `all` stops early); the engine binds eagerly as cel-go does."""
    expression = "object.spec.containers.all(c, cel.bind(z, c, false)) || cel.bind(q, object.spec, has(q.containers))"
    assert evaluate(expression) is True
