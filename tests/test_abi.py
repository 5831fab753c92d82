"""The native boundary: vega.h against the built library, versions, loading rules, bad calls."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import vegafs
from vegafs import _native
from vegafs._paths import splitter
from conftest import run_python

ROOT = Path(__file__).resolve().parents[1]
HEADER = ROOT / "native" / "include" / "vega.h"
RUNTIME_SYMBOLS = {"DotNetRuntimeDebugHeader"}  # exported by every NativeAOT shared library


def header_functions(text: str) -> set[str]:
    cdef = _native._cdef(text)
    return set(re.findall(r"^\w[\w\s\*]*?\b(vega_\w+)\s*\(", cdef, flags=re.M))


def exported_symbols(library: str) -> set[str]:
    out = subprocess.run(["nm", "-D", "--defined-only", library], capture_output=True, text=True, check=True).stdout
    return {line.split()[-1].split("@")[0] for line in out.splitlines() if line.split()[-1] != "V1.0"}


def test_header_declares_exactly_the_exported_functions():
    declared = header_functions(HEADER.read_text())
    assert len(declared) >= 10
    exported = exported_symbols(vegafs.native_info()["library"])
    assert exported - RUNTIME_SYMBOLS == declared


def test_installed_header_is_the_repository_header():
    installed = Path(vegafs.__file__).parent / "vega.h"
    assert installed.read_text() == HEADER.read_text()


def test_versions_agree():
    pyproject = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    props = re.search(r"<Version>([^<]+)</Version>", (ROOT / "native" / "Directory.Build.props").read_text()).group(1)
    info = vegafs.native_info()
    assert pyproject == props == vegafs.__version__ == info["version"]
    assert info["abi_version"] == _native.ABI_VERSION


def test_import_does_not_load_the_library_or_cffi():
    result = run_python("""
        import sys, vegafs
        maps = open('/proc/self/maps').read()
        print('libvega' in maps, 'cffi' in sys.modules)
    """)
    assert result.stdout.split() == ["False", "False"], result.stderr


def test_abi_mismatch_is_a_clear_import_error():
    result = run_python("""
        import vegafs, vegafs._native as n
        n.ABI_VERSION = 999
        try:
            vegafs.count('.')
        except ImportError as e:
            print(type(e).__name__, isinstance(e, vegafs.VegaError), 'ABI version' in str(e))
    """)
    assert result.stdout.split() == ["NativeLibraryError", "True", "True"], result.stderr


def test_missing_library_is_a_clear_import_error(tmp_path):
    import os
    env = dict(os.environ, VEGAFS_LIBRARY=str(tmp_path / "nope.so"))
    result = run_python("""
        import vegafs
        try:
            vegafs.count('.')
        except ImportError as e:
            print('cannot load' in str(e))
    """, env=env)
    assert result.stdout.strip() == "True", result.stderr


def test_bad_calls_return_status_codes_not_crashes():
    ffi, lib = _native.native()
    assert lib.vega_job_free(123456789) == lib.VEGA_ERR_INVALID_ARGUMENT
    assert lib.vega_job_cancel(-1) == lib.VEGA_ERR_INVALID_ARGUMENT
    assert lib.vega_walk_next(42, 0, ffi.NULL, ffi.NULL) == lib.VEGA_ERR_INVALID_ARGUMENT
    job = ffi.new("int64_t*")
    assert lib.vega_walk_start(ffi.NULL, 0, 0, 0, 0, 0, 0, 0, job) == lib.VEGA_ERR_INVALID_ARGUMENT
    assert lib.vega_walk_start(b".", 1, 9, 0, 0, 0, 0, 0, job) == lib.VEGA_ERR_INVALID_ARGUMENT
    assert lib.vega_walk_start(b".", 1, 0, 1 << 10, 0, 0, 0, 0, job) == lib.VEGA_ERR_INVALID_ARGUMENT
    assert lib.vega_walk_start(b"a\0b", 3, 0, 0, 0, 0, 0, 0, job) == lib.VEGA_ERR_INVALID_ARGUMENT
    with pytest.raises(vegafs.InvalidArgumentError, match="NUL"):
        _native.check(lib.vega_walk_start(b"a\0b", 3, 0, 0, 0, 0, 0, 0, job))


def test_cancel_tokens_and_store_calls_refuse_bad_ids_and_null_pointers(tmp_path):
    ffi, lib = _native.native()
    invalid = lib.VEGA_ERR_INVALID_ARGUMENT
    token = ffi.new("int64_t*")
    assert lib.vega_cancel_new(ffi.NULL) == invalid
    assert lib.vega_cancel_set(987654321) == invalid
    assert lib.vega_cancel_free(987654321) == invalid
    assert lib.vega_cancel_new(token) == 0
    assert lib.vega_cancel_free(token[0]) == 0
    assert lib.vega_cancel_free(token[0]) == invalid  # freed once
    store, rows, vectors = ffi.new("int64_t*"), ffi.new("int64_t[1]"), ffi.new("float[4]")
    report = ffi.new("vega_report**")
    assert lib.vega_store_get(42, b"a\0", 2, 1, rows, vectors, report) == invalid
    path = str(tmp_path / "s").encode()
    # A freed (or never issued) cancel token is refused before the store is touched.
    assert lib.vega_store_open(path, len(path), 4, 1, lib.VEGA_STORE_CREATE, ffi.NULL, token[0], store) == invalid
    assert not (tmp_path / "s").exists()
    assert lib.vega_store_open(path, len(path), 4, 1, lib.VEGA_STORE_CREATE, ffi.NULL, 0, store) == 0
    try:
        assert lib.vega_store_get(store[0], ffi.NULL, 0, 1, rows, vectors, report) == invalid
        assert lib.vega_store_get(store[0], b"a\0", 2, 1, ffi.NULL, vectors, report) == invalid
        assert lib.vega_store_get(store[0], b"a\0", 2, 0, rows, vectors, report) == invalid
        assert lib.vega_store_get(store[0], b"a", 1, 1, rows, vectors, report) == invalid  # not NUL-terminated
        assert lib.vega_store_get(store[0], b"a\0", 2, 1, rows, vectors, report) == 0
        assert rows[0] == -1
        lib.vega_report_free(report[0])
        assert lib.vega_store_compact(store[0], 987654321, rows) == invalid
    finally:
        assert lib.vega_store_close(store[0]) == 0


def test_a_job_is_freed_once_and_then_refused(tmp_path):
    job = _native.WalkJob(str(tmp_path).encode(), _native.WALK_NAMES, 0, 0, 1, splitter(True))
    job_id = job._id
    job.close()
    job.close()  # idempotent
    assert _native.native()[1].vega_job_free(job_id) == 1
    with pytest.raises(vegafs.InvalidArgumentError, match="closed"):
        job.progress()


def test_cancel_from_another_thread_raises_cancelled(tmp_path):
    from conftest import make_tree
    make_tree(tmp_path, dirs=200, files_per_dir=5)
    job = _native.WalkJob(str(tmp_path).encode(), _native.WALK_NAMES, 0, 0, 1, splitter(True))
    job.cancel()
    with pytest.raises(vegafs.CancelledError):
        list(job.batches())


def test_the_avx2_build_is_chosen_exactly_when_the_cpu_reports_every_set_it_needs(monkeypatch):
    monkeypatch.delenv("VEGAFS_LIBRARY", raising=False)
    package = Path(_native.__file__).parent
    if not (package / "libvega-avx2.so").exists():
        choice = _native.choose_library(_native.FAST_BUILD_FLAGS)
        assert (choice.build, Path(choice.path).name) == ("baseline", "libvega.so")
        assert "no libvega-avx2.so" in choice.reason
        return
    # This project's machines: AVX2 and FMA work, but the hypervisor hides LZCNT ("abm").
    without_abm = _native.FAST_BUILD_FLAGS | {"avx512f", "hypervisor"}
    choice = _native.choose_library(without_abm)
    assert (choice.build, Path(choice.path).name) == ("avx2", "libvega-avx2.so")
    for missing in ("avx2", "fma", "movbe"):
        choice = _native.choose_library(_native.FAST_BUILD_FLAGS - {missing})
        assert (choice.build, Path(choice.path).name) == ("baseline", "libvega.so")
        assert choice.reason == f"the CPU does not report {missing}, which the AVX2 build needs"
    choice = _native.choose_library(frozenset({"sse2"}))
    assert choice.build == "baseline" and "avx2, bmi1, bmi2, fma, movbe, pni" in choice.reason
    monkeypatch.setattr(_native, "cpu_flags", lambda: None)
    assert _native.choose_library().build == "baseline"
    monkeypatch.setenv("VEGAFS_LIBRARY", "/elsewhere/libvega.so")
    assert _native.choose_library(_native.FAST_BUILD_FLAGS) == _native.LibraryChoice(
        "/elsewhere/libvega.so", "custom", "VEGAFS_LIBRARY is set")
    assert _native.library_path() == "/elsewhere/libvega.so"


def test_cpu_flags_reads_the_flags_line(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: X\nflags\t\t: fpu sse2 avx2 fma\n\nprocessor\t: 1\n")
    assert _native.cpu_flags(str(cpuinfo)) == {"fpu", "sse2", "avx2", "fma"}
    cpuinfo.write_text("processor\t: 0\n")
    assert _native.cpu_flags(str(cpuinfo)) is None
    assert _native.cpu_flags(str(tmp_path / "missing")) is None


def test_native_info_says_which_build_runs_and_its_simd_code():
    info = vegafs.native_info()
    assert info["build"] in ("avx2", "baseline", "custom") and info["reason"]
    assert "vector128" in info["simd"]
    if info["build"] == "avx2":
        assert {"avx2", "fma", "vector256"} <= set(info["simd"])
    if info["build"] == "baseline":
        assert "avx2" not in info["simd"]


# .NET 9's XArchIntrinsicConstants (the bits of a NativeAOT library's g_requiredCpuFeatures, which its
# runtime checks with CPUID at load), as /proc/cpuinfo names each instruction set.
_REQUIRED_CPU_FEATURE_BITS = {0x1: "aes", 0x2: "pclmulqdq", 0x4: "pni", 0x8: "ssse3", 0x10: "sse4_1",
                              0x20: "sse4_2", 0x40: "popcnt", 0x80: "avx", 0x100: "fma", 0x200: "avx2",
                              0x400: "bmi1", 0x800: "bmi2", 0x1000: "abm", 0x2000: "avx_vnni", 0x4000: "movbe"}


def required_cpu_features(library: Path) -> int:
    """The value of g_requiredCpuFeatures in a built library, found through its separate debug symbols."""
    symbols = subprocess.run(["nm", str(library) + ".dbg"], capture_output=True, text=True, check=True).stdout
    address = int(next(line.split()[0] for line in symbols.splitlines() if line.endswith(" g_requiredCpuFeatures")), 16)
    dump = subprocess.run(["objdump", "-s", f"--start-address={address}", f"--stop-address={address + 4}",
                           str(library)], capture_output=True, text=True, check=True).stdout
    return int.from_bytes(bytes.fromhex(dump.strip().splitlines()[-1].split()[1]), "little")


def test_the_loader_checks_exactly_what_the_avx2_builds_runtime_requires():
    built = ROOT / "build" / "native"
    if not (built / "avx2" / "libvega.so.dbg").exists():
        pytest.skip("no AVX2 build with debug symbols in build/native: built only on x86-64")
    required = required_cpu_features(built / "avx2" / "libvega.so")
    names = {name for bit, name in _REQUIRED_CPU_FEATURE_BITS.items() if required & bit}
    assert required == sum(bit for bit, name in _REQUIRED_CPU_FEATURE_BITS.items() if name in names), hex(required)
    assert names == _native.FAST_BUILD_FLAGS
    assert required_cpu_features(built / "libvega.so") == 0  # the baseline build loads on any x86-64
