"""What `make build` (`sam build`) produces is what AWS would run: the functions run on arm64 (template.yaml),
so every native library in the build is an aarch64 ELF (before, the layer held the build host's x86-64
`rpds` and numpy), every locked package is there once at its locked version, the schemas and the consent
policy ship in the layer, and the sizes are within Lambda's limits (printed)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from callrec.template import REPO_ROOT, Template

SAM = REPO_ROOT / ".venv-sam" / "bin" / "sam"
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024  # a function and all its layers, unzipped
EM_AARCH64, EM_X86_64 = 183, 62  # ELF e_machine


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Path:
    assert SAM.exists(), "the SAM CLI is installed by `make lint` (a prerequisite of `make test`)"
    out = tmp_path_factory.mktemp("sam-build")
    # a cache of its own: the module's tests may run on two workers at once, and two builds sharing the project's
    # cache (samconfig.toml: cached) failed, each removing what the other had cached
    command = [str(SAM), "build", "--template", str(REPO_ROOT / "template.yaml"), "--build-dir", str(out / "build")]
    done = subprocess.run(
        [*command, "--cache-dir", str(out / "cache")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "SAM_CLI_TELEMETRY": "0", "HOME": str(out)},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out / "build"


def _machine(path: Path) -> int:
    head = path.read_bytes()[:20]
    assert head[:4] == b"\x7fELF", f"{path} is not an ELF file"
    return int.from_bytes(head[18:20], "little")


def _size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def test_every_native_library_is_built_for_arm64(build):
    libraries = [p for p in build.rglob("*") if p.is_file() and re.search(r"\.so(\.\d+)*$", p.name)]
    assert libraries, "numpy and rpds ship native code: none found"
    wrong = {str(p.relative_to(build)): _machine(p) for p in libraries if _machine(p) != EM_AARCH64}
    assert wrong == {}
    assert not [p for p in libraries if "x86_64" in p.name]
    template = Template.load()
    architectures = {
        tuple(resource["Properties"].get("Architectures", ["x86_64"]))
        for resource in template.resources().values()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    assert architectures == {("arm64",)}  # what the libraries were checked against


def test_every_locked_package_is_there_once_at_its_version(build):
    locked = dict(
        re.match(r"([a-z0-9-]+)==([^ ]+)", line).groups()
        for line in (REPO_ROOT / "requirements" / "layer.lock.txt").read_text().splitlines()
        if line and not line.startswith("#")
    )
    installed: dict[str, list[str]] = {}
    for info in (build / "SharedLayer" / "python").glob("*.dist-info"):
        name, version = info.name[: -len(".dist-info")].rsplit("-", 1)
        installed.setdefault(name.lower().replace("_", "-"), []).append(version)
    assert installed == {name: [version] for name, version in locked.items()}
    top = dict(
        line.split("#")[0].strip().split("==")
        for line in (REPO_ROOT / "requirements" / "functions.txt").read_text().splitlines()
        if line.split("#")[0].strip()
    )
    assert {name.lower(): version for name, version in top.items()}.items() <= locked.items(), (
        "requirements/layer.lock.txt is stale: run layer/lock.sh"
    )


def test_the_schemas_and_the_policy_ship_in_the_layer(build):
    shipped = build / "SharedLayer" / "python" / "callrec_shared"
    for folder in ("schemas", "config"):
        assert sorted(p.name for p in (shipped / folder).iterdir()) == sorted(
            p.name for p in (REPO_ROOT / folder).iterdir()
        )
    assert (shipped / "scan.py").exists() and (shipped / "attestation.py").exists()
    assert not list(shipped.rglob("__pycache__"))


def test_the_sizes_are_within_lambdas_limits(build):
    layer = _size(build / "SharedLayer")
    functions = {p.name: _size(p) for p in build.iterdir() if p.is_dir() and p.name not in ("SharedLayer", ".aws-sam")}
    print(
        f"\nbuilt layer {layer / 1e6:.1f} MB unzipped; functions "
        + ", ".join(f"{name} {size / 1e3:.0f} KB" for name, size in sorted(functions.items()))
    )
    assert functions and all(layer + size <= LAMBDA_UNZIPPED_LIMIT for size in functions.values())
