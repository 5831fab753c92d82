"""The wheel that setup.py built: platform-tagged, self-contained, usable without a .NET SDK."""
from __future__ import annotations

import platform
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

WHEELHOUSE = Path(__file__).resolve().parents[1] / "build" / "wheelhouse"


@pytest.fixture(scope="module")
def wheel() -> Path:
    wheels = sorted(WHEELHOUSE.glob("vegafs-*.whl"))
    if not wheels:
        pytest.skip("no wheel in build/wheelhouse: run ./scripts/test, which builds it")
    return wheels[-1]


def test_wheel_is_platform_tagged_and_carries_the_library(wheel):
    assert "-py3-none-manylinux_2_" in wheel.name
    names = zipfile.ZipFile(wheel).namelist()
    assert {"vegafs/libvega.so", "vegafs/vega.h", "vegafs/py.typed", "vegafs/__init__.py"} <= set(names)
    assert not any(n.endswith((".dll", ".pdb", ".dbg")) for n in names)
    if platform.machine() == "x86_64":
        assert "vegafs/libvega-avx2.so" in names  # the AVX2/FMA build, chosen at load time
    wheel_meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/WHEEL"))).decode()
    assert "Root-Is-Purelib: false" in wheel_meta


def test_wheel_installs_and_runs_in_a_fresh_venv_without_dotnet(wheel, tmp_path_factory, tree):
    tmp_path = tmp_path_factory.mktemp("fresh")
    venv = tmp_path / "venv"
    # Debian's python provides cffi and fsspec (PyPI is not reachable here); the venv has no vegafs.
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True)
    env = {"PATH": str(venv / "bin"), "HOME": str(tmp_path)}  # no dotnet on PATH, no DOTNET_ROOT
    code = f"""
import shutil, vegafs
assert shutil.which('dotnet') is None
assert vegafs.native_info()['library'].startswith({str(venv)!r})
print(vegafs.count({str(tree)!r}).files)
"""
    result = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, env=env,
                            cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    import vegafs
    assert int(result.stdout) == vegafs.count(tree).files
    cli = subprocess.run([str(venv / "bin" / "vegafs"), "count", "--json", str(tree)], capture_output=True, env=env)
    assert cli.returncode == 0, cli.stderr
