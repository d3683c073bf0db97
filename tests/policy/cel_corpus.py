"""CEL expressions covering Kyverno's environment, each true under Kyverno (checked against the real
CLI by test_kyverno_differential) and, by test_cel_compat, under the offline engine.

They run as validations on POD (a Pod with a null `metadata.annotations`, integer fields, an init
container), so object access with nulls and numbers is part of what is compared.
"""

from __future__ import annotations

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "corpus", "namespace": "alice", "labels": {"app": "web", "tier": "1"}, "annotations": None},
    "spec": {
        "containers": [
            {"name": "app", "image": "ghcr.io/stratops/executor:1.2.3", "ports": [{"containerPort": 8080}]},
            {"name": "side", "image": "nginx", "resources": {"limits": {"cpu": "250m", "memory": "1Gi"}}},
        ],
        "initContainers": [{"name": "init", "image": "busybox:1.36"}],
        "terminationGracePeriodSeconds": 30,
    },
}

EXPRESSIONS = [
    # orValue on values that are not optional; optional steps on null
    "object.spec.containers.orValue([]).size() == 2",
    "object.metadata.name.orValue('x') == 'corpus'",
    "object.metadata.?annotations[?'a'].orValue('none') == 'none'",
    "object.metadata.annotations.?a.orValue('none') == 'none'",
    "object.metadata.?labels[?'app'].orValue('') == 'web'",
    "!has(object.spec.hostNetwork)",
    # mixed numbers
    "object.spec.terminationGracePeriodSeconds > 10",
    "object.spec.terminationGracePeriodSeconds == 30",
    "object.spec.containers[0].ports[0].containerPort < 9000.5",
    "1 < 2.0 && 3.5 > 2",
    "object.spec.terminationGracePeriodSeconds >= 30 && object.spec.terminationGracePeriodSeconds <= 30.0",
    # two-variable comprehensions and transforms
    "object.spec.containers.all(i, c, i < 2 && c.name != '')",
    "object.metadata.labels.exists(k, v, k == 'app' && v == 'web')",
    "object.metadata.labels.exists_one(k, v, v == 'web')",
    "object.spec.containers.transformList(i, c, c.name) == ['app', 'side']",
    "object.spec.containers.transformList(i, c, i > 0, c.name) == ['side']",
    "object.metadata.labels.transformMap(k, v, v + '!') == {'app': 'web!', 'tier': '1!'}",
    "object.metadata.labels.transformMap(k, v, k == 'app', v) == {'app': 'web'}",
    "object.metadata.labels.transformMapEntry(k, v, {v: k}) == {'web': 'app', '1': 'tier'}",
    # lists
    "object.spec.containers.map(c, c.name).indexOf('side') == 1",
    "['a', 'b', 'a'].lastIndexOf('a') == 2",
    "[1, 2, 3].indexOf(4) == -1",
    "'abcb'.indexOf('b') == 1 && 'abcb'.lastIndexOf('b') == 3",
    "lists.range(3) == [0, 1, 2]",
    "[3, 1, 2].sort() == [1, 2, 3]",
    "object.spec.containers.sortBy(c, c.name).map(c, c.name) == ['app', 'side']",
    "[1, 2].reverse() == [2, 1]",
    "[[1], [2, 3]].flatten() == [1, 2, 3]",
    "[1, 1, 2].distinct() == [1, 2]",
    "[1, 2, 3].slice(1, 2) == [2]",
    "[1, 2, 3].sum() == 6 && [1, 2, 3].max() == 3 && [1, 2, 3].min() == 1",
    "[1, 2, 3].isSorted()",
    "sets.contains([1, 2, 3], [2]) && sets.intersects([1], [1, 2]) && sets.equivalent([1, 2], [2, 1])",
    # strings and regex
    "'a,b'.split(',') == ['a', 'b'] && ['a', 'b'].join('-') == 'a-b'",
    "'ABC'.lowerAscii() == 'abc' && 'abc'.upperAscii() == 'ABC'",
    "'%s=%d'.format([dyn('a'), 1]) == 'a=1'",
    "strings.quote('a\"b') == '\"a\\\\\"b\"'",
    "regex.replace('abc', 'b', 'x') == 'axc'",
    "regex.extract('abc123', '[0-9]+').orValue('') == '123'",
    "regex.extractAll('a1b2', '[0-9]') == ['1', '2']",
    "'abc123'.find('[0-9]+') == '123' && 'a1b2'.findAll('[0-9]') == ['1', '2']",
    "base64.encode(b'hi') == 'aGk=' && base64.decode('aGk=') == b'hi'",
    # math
    "math.round(2.5) == 3.0 && math.round(1.255, 2) == 1.25",
    "math.greatest(1, 5, 3) == 5 && math.abs(-2) == 2",
    # quantities
    "quantity('1Gi').isGreaterThan(quantity('1G'))",
    "quantity(object.spec.containers[1].resources.limits.cpu).compareTo(quantity('0.25')) == 0",
    "quantity('1').add(quantity('500m')) == quantity('1500m')",
    "quantity('2k').asInteger() == 2000 && isQuantity('1e3') && !isQuantity('1x')",
    # images
    "image('nginx').registry() == 'index.docker.io' && image('nginx').repository() == 'library/nginx'",
    "image('docker.io/nginx:1').registry() == 'index.docker.io'",
    "image('docker.io/nginx:1').repository() == 'library/nginx'",
    "parseImageReference('ghcr.io/a/b:1').tag() == '1' && isImage('ghcr.io/a/b:1')",
    "!image('ghcr.io/a/b:1').containsDigest()",
    # Kyverno libraries
    "sha256('a') == 'ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb'",
    "md5('a') == '0cc175b9c0f1b6a831c399e269772661' && hash.sha1('a').size() == 40",
    "json.unmarshal('{\"a\": [1, 2]}').a.size() == 2",
    "json.marshal({'a': 1}) == '{\"a\":1}'",
    "yaml.parse('a: {b: c}').a.b == 'c'",
    "parseServiceAccount('system:serviceaccount:ns:sa').Namespace == 'ns'",
    "user.parseServiceAccount('alice').Name == ''",
    "listObjToMap([{'k': 'a'}], [{'v': 1}], 'k', 'v') == {'a': 1}",
    "time.toCron(timestamp('2024-01-07T10:20:00Z')) == '20 10 7 1 0'",
    "time.truncate(timestamp('2024-01-07T10:20:33Z'), duration('1h')) == timestamp('2024-01-07T10:00:00Z')",
    "random('[a-z]{5}').size() == 5 && random().size() == 8",
    # Kubernetes ip / cidr / url / semver
    "ip('10.0.0.1').family() == 4 && !isIP('::ffff:1.2.3.4') && ip('::1').isLoopback()",
    "cidr('10.0.0.0/8').containsIP('10.1.2.3') && cidr('10.0.0.0/8').containsCIDR('10.1.0.0/16')",
    "cidr('10.1.2.3/8').masked() == cidr('10.0.0.0/8') && cidr('10.0.0.0/8').prefixLength() == 8",
    "url('https://a.b:8080/x?y=1').getHost() == 'a.b:8080' && url('https://a.b/x').getEscapedPath() == '/x'",
    "isURL('https://a.b') && !isURL('a b')",
    "semver('1.2.3').isLessThan(semver('1.10.0')) && semver('1.2.3').major() == 1",
    "isSemver('v1.2', true) && !isSemver('1.2')",
    # bindings, optionals, misc
    "cel.bind(cs, object.spec.containers, cs.size() == 2)",
    "optional.of(1).orValue(2) == 1 && optional.none().orValue(2) == 2",
    "[?optional.none(), ?optional.of(1)] == [1]",
    "type(object) == map",
    "string(1) == '1' && int('2') == 2 && double(1) == 1.0",
    "request.operation == 'CREATE'",
    "namespaceObject.metadata.name == 'alice'",
]
