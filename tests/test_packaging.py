"""The built wheel holds the whole source tree, and the layout never shadows the stdlib.

Each top-level folder becomes ``plateaux.<folder>`` only through the ``package-dir`` mapping
and the explicit ``packages`` list of pyproject.toml, so a forgotten subpackage or data
pattern would silently leave files out of the wheel. These tests build the wheel, install it
in a fresh virtualenv and import every module from there, away from the source tree.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest

# Building the wheel and installing its dependencies takes a while on a cold pip cache.
pytestmark = [pytest.mark.timeout(900), pytest.mark.backend_independent]

ROOT = Path(__file__).resolve().parents[1]
ROOT_PACKAGE = "plateaux"

# Non-Python files that must ship: templates, static assets, Alembic's config and templates.
DATA_SUFFIXES = frozenset({".html", ".js", ".css", ".mako"})
DATA_NAMES = frozenset({"alembic.ini"})
DATA_FOLDERS = frozenset({"templates", "static"})
IGNORED_NAMES = frozenset({"__pycache__", "node_modules"})
# What the wheel build does not need from the repository root.
NOT_COPIED_FROM_ROOT = frozenset(
    {".git", ".venv", "build", "dist", "var", "tests", "bench", "infra", "docs"}
)


@dataclass(frozen=True)
class SourceFile:
    path: Path  # in the repository
    archive_name: str  # in the wheel, e.g. "plateaux/platform/settings.py"
    module: str | None  # e.g. "plateaux.platform.settings"; None for data files


def package_dirs() -> dict[str, Path]:
    """The ``package-dir`` mapping of pyproject.toml: package name -> folder."""
    with (ROOT / "pyproject.toml").open("rb") as f:
        mapping: dict[str, str] = tomllib.load(f)["tool"]["setuptools"]["package-dir"]
    return {package: ROOT / folder for package, folder in mapping.items()}


def _is_ignored(relative: Path) -> bool:
    return any(part in IGNORED_NAMES or part.startswith(".") for part in relative.parts)


def _is_data(relative: Path) -> bool:
    return (
        relative.suffix in DATA_SUFFIXES
        or relative.name in DATA_NAMES
        or any(part in DATA_FOLDERS for part in relative.parts[:-1])
    )


def source_files() -> list[SourceFile]:
    found: dict[Path, SourceFile] = {}
    for package, folder in package_dirs().items():
        assert folder.is_dir(), f"pyproject.toml maps {package} to missing folder {folder}"
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder)
            if not path.is_file() or _is_ignored(relative) or path.suffix == ".pyc":
                continue
            if path.suffix != ".py" and not _is_data(relative):
                continue
            parts = [*package.split("."), *relative.parts]
            module = None
            if path.suffix == ".py":
                dotted = parts[:-1] if path.name == "__init__.py" else [*parts[:-1], path.stem]
                module = ".".join(dotted)
            found[path] = SourceFile(path, str(PurePosixPath(*parts)), module)
    return sorted(found.values(), key=lambda source: source.archive_name)


def _copy_ignore(directory: str, names: list[str]) -> set[str]:
    ignored = {name for name in names if name in IGNORED_NAMES or name.endswith(".egg-info")}
    if Path(directory).resolve() == ROOT:
        ignored |= {name for name in names if name in NOT_COPIED_FROM_ROOT}
        ignored |= {name for name in names if name.startswith(".") and name != ".gitignore"}
    return ignored


def _run(command: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=900
    )
    assert result.returncode == 0, (
        f"{' '.join(command)} failed with exit status {result.returncode}\n"
        f"--- stdout ---\n{result.stdout[-6000:]}\n--- stderr ---\n{result.stderr[-6000:]}"
    )
    return result.stdout


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything that would point Python back at the repository."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "PYTHONHOME", "PYTHONSAFEPATH", "VIRTUAL_ENV"}
        and not key.startswith("PLATEAUX_")
    }
    env.update(extra)
    return env


@dataclass(frozen=True)
class Installed:
    wheel: Path
    python: Path
    site_packages: Path
    workdir: Path


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    workdir = tmp_path_factory.mktemp("packaging")
    # Build from a copy: an in-place build leaves build/ and *.egg-info in the tree, and a
    # stale build/lib can even smuggle deleted modules into the wheel.
    source = workdir / "source"
    shutil.copytree(ROOT, source, ignore=_copy_ignore, symlinks=True)
    dist = workdir / "dist"
    # pip's cache is left on (no --no-cache-dir) so the build and install stay quick.
    build = [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(source)]
    _run(build, cwd=workdir)
    wheels = sorted(dist.glob("*.whl"))
    assert len(wheels) == 1, f"expected one wheel in {dist}, found {wheels}"

    venv = workdir / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=workdir)
    python = venv / "bin" / "python"
    _run([str(python), "-m", "pip", "install", str(wheels[0])], cwd=workdir, env=_clean_env())
    site_packages = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            cwd=workdir,
            env=_clean_env(),
        ).strip()
    )
    yield Installed(wheels[0], python, site_packages, workdir)


# Imports every module given in a JSON file and writes what happened to another one.
# `__main__` modules may run the command line: it gets --help, and exiting 0 counts as success.
IMPORT_ALL = """
import importlib, json, sys, traceback
modules_file, result_file = sys.argv[1:3]
modules = json.load(open(modules_file))
sys.argv = ["plateaux", "--help"]
failures, files = {}, {}
for name in modules:
    try:
        module = importlib.import_module(name)
    except SystemExit as exit_:
        if not (name.endswith(".__main__") and exit_.code in (0, None)):
            failures[name] = f"SystemExit({exit_.code!r})"
    except BaseException:
        failures[name] = traceback.format_exc()
    else:
        files[name] = getattr(module, "__file__", None)
json.dump({"failures": failures, "files": files}, open(result_file, "w"))
"""


def test_the_source_tree_has_modules() -> None:
    modules = [source.module for source in source_files() if source.module]
    # Guards the other tests against passing vacuously.
    assert len(modules) >= len(package_dirs()), modules


def test_wheel_contains_every_source_and_data_file(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
    missing = [source.archive_name for source in source_files() if source.archive_name not in names]
    assert not missing, (
        "files missing from the wheel (add their package to [tool.setuptools] packages or "
        "their pattern to [tool.setuptools.package-data] in pyproject.toml):\n  "
        + "\n  ".join(missing)
    )


def test_wheel_installs_only_the_plateaux_package(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        top_level = {name.split("/", 1)[0] for name in wheel.namelist()}
    stray = {
        name
        for name in top_level
        if name != ROOT_PACKAGE and not name.endswith((".dist-info", ".data"))
    }
    # A top-level `platform` in site-packages would shadow the standard library.
    assert not stray, f"the wheel installs top-level names besides {ROOT_PACKAGE}: {stray}"
    assert (installed.python.parent / "plateaux").exists(), "no `plateaux` console script"


def test_every_module_imports_from_the_installed_wheel(installed: Installed) -> None:
    modules = [source.module for source in source_files() if source.module]
    modules_file = installed.workdir / "modules.json"
    result_file = installed.workdir / "imports.json"
    modules_file.write_text(json.dumps(modules))
    _run(
        [str(installed.python), "-c", IMPORT_ALL, str(modules_file), str(result_file)],
        # Not the repository: nothing may be imported from the source tree.
        cwd=installed.workdir,
        env=_clean_env(PLATEAUX_DATA_DIR=str(installed.workdir / "var")),
    )
    result = json.loads(result_file.read_text())
    failures: dict[str, str] = result["failures"]
    assert not failures, "modules that fail to import from the installed wheel:\n" + "\n".join(
        f"--- {name}\n{error}" for name, error in sorted(failures.items())
    )
    outside = {
        name: file
        for name, file in result["files"].items()
        if file is not None and not Path(file).is_relative_to(installed.site_packages)
    }
    assert not outside, f"modules imported from outside the installed wheel: {outside}"


def _python_from_root(*args: str) -> str:
    # No PYTHONSAFEPATH: the repository root must be first on sys.path, as for anyone
    # running a tool from there.
    return _run([sys.executable, *args], cwd=ROOT, env=_clean_env())


def test_pip_runs_from_the_repository_root() -> None:
    assert _python_from_root("-m", "pip", "--version").startswith("pip ")


def test_platform_module_is_the_standard_library_one_at_the_root() -> None:
    output = _python_from_root(
        "-c", "import platform; platform.python_implementation(); print(platform.__file__)"
    )
    location = Path(output.strip()).resolve()
    assert not location.is_relative_to(ROOT / "platform"), location


def test_platform_folder_has_no_init() -> None:
    assert not (ROOT / "platform" / "__init__.py").exists(), (
        "platform/__init__.py must not exist: at the repository root it would shadow the "
        "standard library's `platform` module (breaking `python -m pip` and more)"
    )
