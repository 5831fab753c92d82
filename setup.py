"""Builds the NativeAOT library with `dotnet publish` and packs it into a platform wheel.

    pip wheel . --no-build-isolation --no-deps

The wheel carries libvega.so and vega.h inside the `vegafs` package; installing it needs no .NET SDK.
Its platform tag is derived from the glibc symbol versions the built library actually requires.
"""
from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py
from wheel.bdist_wheel import bdist_wheel

ROOT = Path(__file__).resolve().parent
NATIVE_PROJECT = ROOT / "native" / "Vega.Native" / "Vega.Native.csproj"
HEADER = ROOT / "native" / "include" / "vega.h"
RIDS = {"x86_64": "linux-x64", "aarch64": "linux-arm64"}


# NativeAOT compiles for a baseline CPU, where Avx2.IsSupported is false: the AVX2/FMA kernels (XXH3,
# vector distances) only run in a library compiled for those instruction sets. x86-64 wheels carry both
# builds; vegafs loads the fast one when /proc/cpuinfo lists every set below (vegafs._native.choose_library).
# The runtime inside the fast build checks the same sets with CPUID as it loads (g_requiredCpuFeatures) and
# aborts the process if one is missing. This is x86-64-v3 without LZCNT, which hypervisors hide on CPUs
# whose AVX2 and FMA work (and which no hot loop here needs).
FAST_LIBRARY = "libvega-avx2.so"
FAST_INSTRUCTION_SET = "x86-x64-v2,avx2,bmi,bmi2,fma,movbe"


def build_native_library(out_dir: Path) -> list[Path]:
    """`dotnet publish` the NativeAOT library (and on x86-64 its AVX2 build); VEGAFS_PREBUILT_LIBRARY
    skips the build (e.g. in CI) and ships that one library."""
    prebuilt = os.environ.get("VEGAFS_PREBUILT_LIBRARY")
    if prebuilt:
        return [Path(prebuilt)]
    if shutil.which("dotnet") is None:
        raise RuntimeError("building vegafs from source needs the .NET SDK (dotnet) for the NativeAOT library")
    rid = RIDS.get(platform.machine())
    if rid is None:
        raise RuntimeError(f"unsupported machine {platform.machine()!r}: vegafs builds for {sorted(RIDS)}")
    built = []
    # MSBuild splits property values on "," unless it is escaped.
    fast = ["-p:IlcInstructionSet=" + FAST_INSTRUCTION_SET.replace(",", "%2C")]
    variants = [("", [])] + ([("avx2", fast)] if rid == "linux-x64" else [])
    for name, options in variants:
        target = out_dir / name if name else out_dir
        subprocess.run(["dotnet", "publish", str(NATIVE_PROJECT), "-c", "Release", "-r", rid, *options,
                        "-o", str(target), "-nologo", "-v", "quiet"], check=True)
        built.append(target / "libvega.so")
    return built


def required_glibc(library: Path) -> tuple[int, int]:
    """The highest GLIBC_x.y symbol version the library references."""
    versions = {(int(a), int(b)) for a, b in re.findall(rb"GLIBC_(\d+)\.(\d+)", library.read_bytes())}
    return max(versions, default=(2, 17))


class BuildPyWithNative(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "vegafs"
        target.mkdir(parents=True, exist_ok=True)
        libraries = build_native_library(ROOT / "build" / "native")
        shutil.copy2(libraries[0], target / "libvega.so")
        if len(libraries) > 1:
            shutil.copy2(libraries[1], target / FAST_LIBRARY)
        shutil.copy2(HEADER, target / "vega.h")


class BinaryDistribution(Distribution):
    """Carries a native library: install into platlib and build a platform wheel."""

    def has_ext_modules(self) -> bool:
        return True


class PlatformWheel(bdist_wheel):
    def finalize_options(self) -> None:
        super().finalize_options()
        self.root_is_pure = False

    def get_tag(self) -> tuple[str, str, str]:
        library = Path(self.bdist_dir) / "vegafs" / "libvega.so"
        if not library.exists():
            library = ROOT / "build" / "native" / "libvega.so"
        major, minor = required_glibc(library)
        return "py3", "none", f"manylinux_{major}_{minor}_{platform.machine()}"


setup(distclass=BinaryDistribution, cmdclass={"build_py": BuildPyWithNative, "bdist_wheel": PlatformWheel})
