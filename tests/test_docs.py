"""The project's texts stay true: every file they name exists, every command they show exists, no number that code
writes is typed again outside its generated block, a quoted record agrees with the record, each generated block lives
in one place, and every dependency has its reason. The mechanism, and what it cannot catch: docs/design.md, "Docs
that stay true". Each check has a companion test that plants a stale reference in a copy of a text.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from fnmatch import fnmatch
from functools import cache
from pathlib import Path

import pytest

from tests import wrong_answers
from tests.benchmarks import run as bench
from tests.portability import run as portability

REPO = Path(__file__).resolve().parents[1]
# The one page each writer's block lives in, and its markers (the writers' own constants).
WRITERS = {"bench": (bench.PAGE, bench.BEGIN, bench.END),
           "wrong answers": (wrong_answers.PAGE, wrong_answers.BEGIN, wrong_answers.END),
           "portability": (portability.PAGE, portability.BEGIN, portability.END)}
GENERIC_BLOCK = re.compile(r"<!-- ([\w-]+):begin -->")  # other blocks, e.g. <!-- mutants:begin --> ... :end -->
SERIES_DEPENDENCIES = {"numpy", "torch", "matplotlib", "ipywidgets", "jupyterlab", "nbval", "tqdm", "mlxtend"}
GENERAL_NUMBERS = {"60", "90", "120", "240"}  # time budgets (s): notebooks, the series; integers below 100 too
PATH_SUFFIXES = (".py", ".ipynb", ".md", ".json", ".txt", ".yml", ".toml", ".png", ".pt")  # a bare name: ours

FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```", re.S | re.M)  # (info string, code)
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
MAKE = re.compile(r"(?:^|[\s;&|(])make((?:\s+[^\s;&|)`#]+)*)")
PYTHON_M = re.compile(r"python[\d.]*\s+-m\s+([\w.]+)")
DATE = re.compile(r"(?<!\d)\d{4}-\d{2}-\d{2}(?!\d)")  # stamps, not quantities: never compared
NUMBER = re.compile(r"(?<![\w.\-−/])[-−+]?\d+(?:,\d{3})*(?:\.\d+)?(?![\w]|[.,]\d)")
NATS = re.compile(r"(?<![\w.\-−])([-−]?\d+(?:\.\d+)?)\**\s*nats\b")
MODEL = re.compile(r"vae-mnist-z\d+")


def project_texts() -> list[Path]:
    """README, CONTRIBUTING, the guides, the figures' page and the book's own pages."""
    texts = [REPO / "README.md", REPO / "CONTRIBUTING.md", *sorted((REPO / "docs").glob("*.md")),
             REPO / "images" / "README.md", *sorted((REPO / "book").glob("*.md"))]
    return [path for path in texts if path.is_file()]


def homes_of(path: Path) -> list[Path]:
    """The folders a text's relative links start from: its own; the book's pages are staged at the book's root,
    beside the other pages of book/ and the repository's notebooks/ and images/."""
    return [REPO, path.parent] if path.parent == REPO / "book" else [path.parent]


def _name(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


# ---------------------------------------------------------------- generated blocks


def block_markers(text: str) -> list[tuple[str, str]]:
    """The (begin, end) markers of every generated block in `text`: the writers' and any `<!-- name:begin -->`."""
    markers = [(begin, end) for _, begin, end in WRITERS.values()]
    markers += [(m.group(0), f"<!-- {m.group(1)}:end -->") for m in GENERIC_BLOCK.finditer(text)]
    return [(begin, end) for begin, end in dict.fromkeys(markers) if begin in text]


def split_blocks(text: str) -> tuple[str, list[str]]:
    """(the text with every generated block blanked out, the blocks' contents)."""
    blocks = []
    for begin, end in block_markers(text):
        while begin in text:
            head, rest = text.split(begin, 1)
            body, tail = rest.split(end, 1) if end in rest else (rest, "")
            blocks.append(body)
            text = head + "\n" * body.count("\n") + tail  # keep line numbers
    return text, blocks


# ---------------------------------------------------------------- files


@cache
def repository_names() -> frozenset[str]:
    """The base names of every file git tracks or would track (untracked but not ignored)."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    return frozenset(Path(line).name for line in out.splitlines())


@cache
def ignored(path: str) -> bool:
    """True for a path git ignores (build/, test-artifacts/, .venv/ ...): an output, not a repository file."""
    return subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=REPO).returncode == 0


def _exists(pattern: str, homes: list[Path]) -> bool:
    pattern = pattern.rstrip("/").replace("NN", "[0-9][0-9]")
    return any(any(home.glob(pattern)) if any(c in pattern for c in "*?[") else (home / pattern).exists()
               for home in homes)


def _path_like(token: str) -> bool:
    if any(c in token for c in "<>{}$~=:@\\") or token.startswith(("/", "-")) or " " in token:
        return False
    if "/" in token:
        return True
    return re.fullmatch(r"[\w][\w.*-]*(" + "|".join(re.escape(s) for s in PATH_SUFFIXES) + ")", token) is not None


def tree_paths(block: str) -> list[str]:
    """The paths a layout tree names: a fenced block whose lines start with `folder/` or, indented under one, with
    file and folder names (comma-separated), each followed by two spaces and its description."""
    paths, folders = [], []  # folders: (indent, path) of the folders the next lines may sit in
    for line in block.splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        while folders and folders[-1][0] >= indent:
            folders.pop()
        parent = folders[-1][1] if folders else ""
        for name in (n.strip() for n in re.split(r"\s{2,}", line.strip())[0].split(",")):
            if _path_like(name):
                paths.append(parent + name)
                if name.endswith("/"):
                    folders.append((indent, parent + name))
    return paths


def missing_files(text: str, link_homes: list[Path]) -> list[str]:
    """Files and folders named in `text` (backticked paths, relative links) that are not in the repository."""
    problems = []
    homes = list(dict.fromkeys([REPO, *link_homes]))
    top = {p.name for home in homes for p in home.iterdir()}
    prose = FENCE.sub("", text)
    for span in (m.group(2).strip() for m in CODE_SPAN.finditer(prose)):
        tokens = span.split() if " " in span else [span]
        for token in tokens:
            token = token.strip("\"'(),;")
            if not _path_like(token) or (" " in span and "/" not in token):
                continue
            if "/" in token and token.split("/", 1)[0] not in top:
                continue  # not a repository path (source/NN_name/... of an nbgrader course folder, a URL path)
            if "/" in token and ignored(token.rstrip("/")):
                continue
            if "/" not in token:  # a bare name: some file of the repository must have it
                pattern = token.replace("NN", "[0-9][0-9]")
                if not any(fnmatch(name, pattern) for name in repository_names()):
                    problems.append(f"`{token}`: no file of that name in the repository")
            elif not _exists(token, homes):
                problems.append(f"`{token}`: not in the repository")
    trees = [m.group(2) for m in FENCE.finditer(text) if not m.group(1).strip() and re.match(r"[\w.-]+/\s", m.group(2))]
    problems += [f"`{path}` (layout tree): not in the repository" for block in trees for path in tree_paths(block)
                 if not ignored(path.rstrip("/")) and not _exists(path, homes)]
    for target in (m.group(1) for m in LINK.finditer(prose)):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = target.split("#", 1)[0]
        if path and not any((home / path).exists() for home in link_homes):
            problems.append(f"link ({target}): {path} does not exist")
    return problems


# ---------------------------------------------------------------- commands


@cache
def make_targets() -> frozenset[str]:
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    return frozenset(re.findall(r"^([A-Za-z][\w.-]*)\s*:(?!=)", text, re.M))


def code_of(text: str) -> list[str]:
    """The code in `text`: fenced blocks and inline code spans."""
    return [m.group(2) for m in FENCE.finditer(text)] + [m.group(2) for m in CODE_SPAN.finditer(FENCE.sub("", text))]


def importable(module: str) -> bool:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def unknown_commands(text: str) -> list[str]:
    """`make X` whose X is not a Makefile target, `python -m M` whose M does not import."""
    problems = []
    for code in code_of(text):
        for line in code.splitlines():
            line = line.split("#", 1)[0] if not line.lstrip().startswith("#") else ""
            for m in MAKE.finditer(line):
                words = [w.rstrip(",.:;") for w in m.group(1).split() if "=" not in w and not w.startswith("-")]
                if words and words[0] not in make_targets():
                    problems.append(f"`make {words[0]}`: no such target in the Makefile")
            for module in PYTHON_M.findall(line):
                if not importable(module):
                    problems.append(f"`python -m {module}`: no such module")
    return problems


# ---------------------------------------------------------------- numbers


def _normal(number: str) -> str:
    """The number's magnitude as written, without thousands commas or trailing zeros: 0.130 and 0.13 are one."""
    number = number.replace(",", "").replace("−", "-").lstrip("+-")
    whole, dot, fraction = number.partition(".")
    return f"{whole}.{fraction.rstrip('0') or '0'}" if dot else whole


@cache
def exercise_numbers() -> frozenset[str]:
    """The exercises' numbers (1.1, 5.2, ...): names of exercises, not quantities."""
    import helpers.checks as checks

    return frozenset(getattr(checks, name).exercise_number for name in checks.__all__ if name.startswith("check_"))


def _general(number: str) -> bool:
    return number in GENERAL_NUMBERS or (number.isdigit() and int(number) < 100) or number in exercise_numbers()


def numbers_in(text: str) -> list[tuple[int, str]]:
    """(line number, number) of the numbers in `text` that are not general, outside code and first table columns;
    a table's header row counts as code (its numbers name things: IWAE-1000, 60 s)."""
    found = []
    lines = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text).splitlines()
    for index, line in enumerate(lines):
        line = CODE_SPAN.sub(" ", line)
        if line.lstrip().startswith("|"):
            if re.fullmatch(r"\s*\|[\s:|-]*", line) or (index + 1 < len(lines)
                                                        and re.fullmatch(r"\s*\|[\s:|-]+", lines[index + 1])):
                continue
            line = "|".join(line.strip().strip("|").split("|")[1:])
        line = DATE.sub(" ", line)
        found += [(index + 1, _normal(n)) for n in NUMBER.findall(line) if not _general(_normal(n))]
    return found


def retyped_numbers(texts: dict[str, str]) -> list[str]:
    """Numbers of the generated blocks that appear in the prose of any text (outside every block)."""
    written = {number for text in texts.values() for block in split_blocks(text)[1] for _, number in numbers_in(block)}
    problems = []
    for name, text in texts.items():
        prose, _ = split_blocks(text)
        problems += [f"{name}:{line}: {number} is a number of a generated block, typed again; point to the block"
                     for line, number in numbers_in(prose) if number in written]
    return problems


@cache
def shipped_models() -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text()) for path in (REPO / "helpers" / "weights").glob("vae-*.json")}


def misquoted_records(text: str) -> list[str]:
    """A number of nats after a shipped model's name that is neither its recorded test ELBO nor its IWAE-1000."""
    problems = []
    for index, line in enumerate(text.splitlines()):
        names = list(MODEL.finditer(line))
        for i, name in enumerate(names):
            segment = line[name.end():names[i + 1].start() if i + 1 < len(names) else len(line)]
            record = shipped_models().get(name.group(0))
            for quoted in NATS.findall(segment):
                value, decimals = float(quoted.replace("−", "-")), len(quoted.partition(".")[2])
                if record is None:
                    problems.append(f"line {index + 1}: {name.group(0)} is not a shipped model")
                elif all(round(record[key], decimals) != value for key in ("test_elbo", "test_iwae_1000")):
                    problems.append(f"line {index + 1}: {name.group(0)} {quoted} nats is not in its record "
                                    f"(test_elbo {record['test_elbo']}, test_iwae_1000 {record['test_iwae_1000']})")
    return problems


# ---------------------------------------------------------------- one place, dependencies


def misplaced_blocks(texts: dict[str, str]) -> list[str]:
    """A writer's block outside the one page the writer names, or any block in more than one text."""
    problems = []
    for writer, (page, begin, _) in WRITERS.items():
        holders = [name for name, text in texts.items() if begin in text]
        if holders != [_name(page)]:
            problems.append(f"the {writer} block is in {holders or 'no text'}; its writer writes {_name(page)}")
    generic = {m.group(0) for text in texts.values() for m in GENERIC_BLOCK.finditer(text)}
    for begin in sorted(generic):
        holders = [name for name, text in texts.items() if text.count(begin)]
        if len(holders) != 1 or texts[holders[0]].count(begin) != 1:
            problems.append(f"{begin} is in more than one place: {holders}")
    return problems


def dependencies_without_reason(requirements: str, design: str) -> list[str]:
    section = design.split("## Dependencies", 1)[1].split("\n## ", 1)[0] if "## Dependencies" in design else ""
    pinned = [line.split("==")[0].strip() for line in requirements.splitlines()
              if line.strip() and not line.startswith("#")]
    return [f"{name} has no reason in docs/design.md, Dependencies" for name in pinned
            if name.lower() not in SERIES_DEPENDENCIES
            and not re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", section, re.I)]


# ---------------------------------------------------------------- the checks on the committed texts

TEXTS = project_texts()


def _texts() -> dict[str, str]:
    return {_name(path): path.read_text(encoding="utf-8") for path in TEXTS}


def _files(text: str, homes: list[Path]) -> list[str]:
    return missing_files(text, homes)


def _commands(text: str, homes: list[Path]) -> list[str]:
    return unknown_commands(text)


def _quotes(text: str, homes: list[Path]) -> list[str]:
    return misquoted_records(text)


@pytest.mark.parametrize("check", [_files, _commands, _quotes], ids=["files", "commands", "quoted-records"])
@pytest.mark.parametrize("path", TEXTS, ids=[_name(p) for p in TEXTS])
def test_a_text_names_only_files_and_commands_that_exist_and_quotes_records_right(path, check):
    problems = check(path.read_text(encoding="utf-8"), homes_of(path))
    assert not problems, problems


def test_no_number_of_a_generated_block_is_typed_again():
    problems = retyped_numbers(_texts())
    assert not problems, "\n".join(problems)


def test_each_generated_block_lives_in_the_one_page_its_writer_names():
    problems = misplaced_blocks(_texts())
    assert not problems, problems


def test_every_dependency_beyond_the_series_own_has_a_reason():
    problems = dependencies_without_reason((REPO / "requirements.txt").read_text(), (REPO / "docs" / "design.md")
                                           .read_text(encoding="utf-8"))
    assert not problems, problems


def test_the_checks_see_what_they_check():
    """Guard against a check that passes because it reads nothing: the texts do name files, commands and numbers."""
    texts = _texts()
    assert {"README.md", "CONTRIBUTING.md", "docs/design.md"} <= set(texts)
    blocks = [block for text in texts.values() for block in split_blocks(text)[1]]
    assert len(blocks) >= len(WRITERS) and all(numbers_in(block) for block in blocks)
    code = [c for text in texts.values() for c in code_of(text)]
    assert sum(bool(MAKE.search(c)) for c in code) > 5 and sum(bool(PYTHON_M.search(c)) for c in code) > 5
    assert any(NATS.search(text) for text in texts.values())


# ---------------------------------------------------------------- planted stale references are caught


@pytest.fixture
def copy_of(tmp_path):
    """A temporary copy of a text with `planted` added; returns (its text, the folders its links resolve from)."""
    def plant(name: str, planted: str) -> tuple[str, Path]:
        source = REPO / name
        copy = tmp_path / source.name
        copy.write_text(source.read_text(encoding="utf-8") + planted, encoding="utf-8")
        return copy.read_text(encoding="utf-8"), homes_of(source)
    return plant


@pytest.mark.parametrize(("check", "name", "planted", "caught"), [
    (_files, "docs/design.md", "\nThe loop is in `helpers/train_loop.py`.\n", "helpers/train_loop.py"),
    (_files, "docs/reliability.md", "\nSee `tests/test_no_such_thing.py`.\n", "tests/test_no_such_thing.py"),
    (_files, "CONTRIBUTING.md", "\nSee [the old guide](docs/old-guide.md).\n", "docs/old-guide.md"),
    (_files, "README.md", "\nSee [the figures](images/no-such-figure.png).\n", "images/no-such-figure.png"),
    (_files, "docs/teacher-guide.md", "\nEdit `grading_config.toml` first.\n", "grading_config.toml"),
    (_files, "docs/design.md", "\n```\nhelpers/  package\n  assignments.py  moved\n```\n", "helpers/assignments.py"),
    (_files, "book/explore_latent_space.md", "\nIt loads `helpers/weights/vae-mnist-z3.pt`.\n", "vae-mnist-z3.pt"),
    (_commands, "CONTRIBUTING.md", "\n```bash\nmake quick-check\n```\n", "make quick-check"),
    (_commands, "docs/teacher-guide.md", "\nRun `make grades SUBMISSIONS=dir`.\n", "make grades"),
    (_commands, "docs/performance.md", "\nRun `python -m tests.benchmarks.runner`.\n", "tests.benchmarks.runner"),
    (_commands, "README.md", "\n```bash\n.venv/bin/python -m helpers.figures\n```\n", "helpers.figures"),
    (_commands, "docs/teacher-guide.md", "\nRun `python -m course.grader dir`.\n", "course.grader"),
], ids=lambda value: value.__name__.strip("_") if callable(value) else None)
def test_a_missing_file_or_unknown_command_is_caught(copy_of, check, name, planted, caught):
    text, homes = copy_of(name, planted)
    new = set(check(text, homes)) - set(check(text.replace(planted, ""), homes))
    assert any(caught in problem for problem in new), new


def test_a_number_of_a_generated_block_typed_in_prose_is_caught(copy_of):
    block = split_blocks((REPO / "docs" / "performance.md").read_text(encoding="utf-8"))[1][0]
    number = numbers_in(block)[0][1]
    for name in ("docs/performance.md", "README.md"):  # the block's own page, and another text
        texts = _texts()
        texts[name], _ = copy_of(name, f"\nThe notebooks took {number} s in all.\n")
        assert any(problem.startswith(f"{name}:") and number in problem for problem in retyped_numbers(texts))


def test_the_number_check_ignores_general_numbers_and_code(copy_of):
    texts = _texts()
    before = set(retyped_numbers(texts))
    texts["README.md"], _ = copy_of("README.md", "\nIn 60 s, 3 seeds, exercise 3.2, `x = 74.9`, notebook 05.\n")
    assert set(retyped_numbers(texts)) == before


def test_a_contradicting_quote_of_a_shipped_model_is_caught(copy_of):
    elbo = shipped_models()["vae-mnist-z16"]["test_elbo"]
    text, _ = copy_of("docs/performance.md", f"\n`vae-mnist-z16` reaches a test ELBO of {elbo - 0.61:.2f} nats.\n")
    assert any(f"{elbo - 0.61:.2f}" in problem for problem in misquoted_records(text)), misquoted_records(text)
    text, _ = copy_of("docs/performance.md", f"\n`vae-mnist-z2`: {elbo:.2f} nats.\n")  # z16's score given to z2
    assert misquoted_records(text)
    text, _ = copy_of("docs/performance.md", f"\n`vae-mnist-z16`: {elbo:.2f} nats.\n")
    assert not misquoted_records(text)


def test_a_block_in_the_wrong_place_or_twice_is_caught():
    texts = _texts()
    page = _name(wrong_answers.PAGE)
    begin, end = wrong_answers.BEGIN, wrong_answers.END
    block = texts[page].split(begin, 1)[1].split(end, 1)[0]
    twice = {**texts, "README.md": texts["README.md"] + f"\n{begin}{block}{end}\n"}
    assert any("wrong answers" in problem for problem in misplaced_blocks(twice))
    moved = {**texts, page: texts[page].replace(begin, "").replace(end, ""),
             "README.md": texts["README.md"] + f"\n{begin}{block}{end}\n"}
    assert any("wrong answers" in problem for problem in misplaced_blocks(moved))
    generic = {**texts, "README.md": texts["README.md"] + "\n<!-- x:begin -->\n1\n<!-- x:end -->\n",
               "CONTRIBUTING.md": texts["CONTRIBUTING.md"] + "\n<!-- x:begin -->\n1\n<!-- x:end -->\n"}
    assert any("x:begin" in problem for problem in misplaced_blocks(generic))


def test_a_dependency_without_a_reason_is_caught():
    requirements = (REPO / "requirements.txt").read_text()
    design = (REPO / "docs" / "design.md").read_text(encoding="utf-8")
    assert not dependencies_without_reason(requirements, design)
    assert dependencies_without_reason(requirements + "rich==14.0.0\n", design) == [
        "rich has no reason in docs/design.md, Dependencies"]
