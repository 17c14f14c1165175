"""`make test-portable`: execute every notebook and the figure tests under other float kernels and thread counts.

    python -m tests.portability.run              # run, print the margin table, exit 1 on any failure
    python -m tests.portability.run --record     # the same, then rewrite record.json, margins.md and the page's block
    python -m tests.portability.run --render     # rewrite margins.md and the page's block from record.json only

The page is docs/portability.md (`PAGE`), the one file that holds the block.

Every `assert` in a notebook is instrumented (tests/portability/instrument.py), so each comparison's two sides
are logged under every setting. A comparison whose sides differ between settings depends on the float kernels;
its *margin factor* is its smallest slack over the settings divided by the spread of the slack between them. The
run fails when a notebook errors under any setting, when a figure test fails, when a setting does not change the
floats at all (it would test nothing), or when a kernel-dependent claim's factor is below MIN_FACTOR.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.generated_block import write_block
from tests.portability.instrument import LOG_VARIABLE, cell_key
from tests.portability.pytest_plugin import NATIVE_LOGS, log_stamp
from tests.processes import cores, cpu_name

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
RECORD = HERE / "record.json"
TABLE = HERE / "margins.md"
PAGE = REPO / "docs" / "portability.md"  # the one page that holds the block
BEGIN = "<!-- portability record: written by `make test-portable`, do not edit -->"
END = "<!-- end of portability record -->"
MIN_FACTOR = 3.0
NOTEBOOK_TIMEOUT_S = 900
CHECKED = "NBVAL_CHECK_OUTPUT"
PAGE_ROWS = 8

# Each setting: the knobs, and the torch thread count its kernels start with. The native run is the machine as it
# is: `make test`'s own nbval run, logged by tests/portability/pytest_plugin.py (one thread per kernel with two
# workers), or run here when that log is missing or older than the notebook. The other two change the floats here
# (see `fingerprint`, recorded per setting in record.json); knobs that do nothing on this CPU
# (MKL_ENABLE_INSTRUCTIONS on AMD) are kept, since they do change results on Intel CPUs.
SETTINGS = {
    "native": {"env": {}, "threads": 1},
    "generic-x86": {"env": {"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
                            "MKL_CBWR": "SSE4_2", "ONEDNN_MAX_CPU_ISA": "SSE41", "OPENBLAS_CORETYPE": "Nehalem"},
                    "threads": 2},
    "avx2-compatible": {"env": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
                                "MKL_CBWR": "COMPATIBLE", "ONEDNN_MAX_CPU_ISA": "AVX2", "OPENBLAS_CORETYPE": "Haswell"},
                        "threads": 8},
}
# Wall-clock claims (notebook, claim): their numbers move with the machine's speed and load, not with its rounding.
# They must hold under every setting (the notebooks leave them wide margins), but are not held to MIN_FACTOR.
TIMING_CLAIMS = {
    ("03", "speedup > 10"),
    ("03", "step_seconds[1] < 5 * step_seconds[0]"),
    ("03", "step_seconds[-1] > 5 * step_seconds[1]"),
    ("03", "per_point_seconds > 20 * max(forward_seconds.values())"),
    ("06", "ms < 50"),
}
# Heaviest first, so that two workers finish together.
NOTEBOOKS = ["07_beyond_the_vae", "05_variational_autoencoder", "01_autoencoders_and_pca", "03_variational_inference",
             "04_reparameterization_trick", "02_kl_divergence_and_elbo", "06_latent_space_explorer", "00_start_here"]

FINGERPRINT = r"""
import hashlib, json, numpy, torch
digest = lambda t: hashlib.sha256(numpy.ascontiguousarray(getattr(t, "detach", lambda: t)()).tobytes()).hexdigest()[:16]
torch.manual_seed(0)
a, b = torch.randn(512, 784), torch.randn(784, 400)
net = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 784))
optimizer, data = torch.optim.Adam(net.parameters(), 1e-3), torch.rand(256, 784)
for _ in range(50):
    optimizer.zero_grad()
    loss = ((net(data) - data) ** 2).sum(1).mean()
    loss.backward()
    optimizer.step()
weights = torch.cat([p.detach().flatten() for p in net.parameters()])
svd = torch.linalg.svd(torch.randn(300, 200, dtype=torch.float64), full_matrices=False)[2]
x = numpy.random.default_rng(0).standard_normal((400, 300))
print(json.dumps({"capability": torch.backends.cpu.get_cpu_capability(), "matmul": digest(a @ b),
                  "weights_after_50_steps": digest(weights), "svd": digest(svd),
                  "numpy_matmul": digest(x.T @ x), "numpy_svd": digest(numpy.linalg.svd(x, full_matrices=False)[2]),
                  "loss_after_50_steps": loss.item()}))
"""


CHANGED_KEYS = ("weights_after_50_steps", "numpy_matmul")  # a setting must change torch training or numpy's BLAS


def setting_env(name: str) -> dict:
    env = {**os.environ, **SETTINGS[name]["env"]}
    threads = str(SETTINGS[name]["threads"])
    # PASSIVE: idle OpenMP threads sleep instead of spinning, so 8 threads on 2 shared cores cost ~2x, not ~4x;
    # it changes when threads wait, not how the work is split, so not one float.
    env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, OMP_WAIT_POLICY="PASSIVE")
    env.pop(LOG_VARIABLE, None)
    return env


def fingerprint(name: str) -> dict:
    """Float results of one setting: matmul bits, 50 Adam steps of an MLP, a float64 SVD (digests)."""
    done = subprocess.run([sys.executable, "-c", FINGERPRINT], env=setting_env(name), capture_output=True, text=True,
                          check=True, timeout=300)
    return json.loads(done.stdout.strip().splitlines()[-1])


def execute_instrumented(notebook: Path, log: Path, threads: int) -> None:
    """Execute `notebook` in a kernel whose asserts log their comparisons to `log` (runs in the setting's process)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(
        f"import sys; sys.path.insert(0, {str(REPO)!r})\n"
        f"from tests.portability.instrument import install\n"
        f"install({str(log)!r}, threads={threads})"))
    client = NotebookClient(nb, timeout=NOTEBOOK_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(notebook.parent)}})
    client.execute()
    committed = nbformat.read(notebook, as_version=4).cells
    changed = [index for index, (before, after) in enumerate(zip(committed, nb.cells[1:]))
               if CHECKED in before.source and checked_text(before) != checked_text(after)]
    if changed:
        raise AssertionError(f"checked output (# {CHECKED}) differs from the committed one in cells {changed}: "
                             + " | ".join(f"{checked_text(nb.cells[i + 1])!r}"[:300] for i in changed))


def checked_text(cell) -> str:
    """What nbval compares in a `# NBVAL_CHECK_OUTPUT` cell: its printed streams and plain-text results."""
    parts = [o.get("text", "") if o.output_type == "stream" else o.get("data", {}).get("text/plain", "")
             for o in cell.get("outputs", []) if o.output_type in ("stream", "execute_result", "display_data")]
    return "".join(parts)


def read_log(log: Path, notebook: str) -> tuple[dict, list[dict]]:
    """The kernel's header and the logged comparisons, each with its cell's index in the notebook."""
    if not log.exists():
        return {}, []
    cells = json.loads((REPO / "notebooks" / f"{notebook}.ipynb").read_text())["cells"]
    index = {}
    for position, cell in enumerate(cells):
        index.setdefault(cell_key("".join(cell["source"])), position)
    header, rows = {}, []
    for line in log.read_text().splitlines():
        row = json.loads(line)
        if "kernel" in row:
            header = row["kernel"]
        else:
            rows.append({**row, "cell": index.get(row["cell"], row["cell"])})
    return header, rows


def native_from_make_test(notebook: str) -> dict | None:
    """`make test`'s log of `notebook`, if it was made from the notebook as it is now and it passed."""
    log, stamp = NATIVE_LOGS / f"{notebook}.jsonl", NATIVE_LOGS / f"{notebook}.json"
    path = REPO / "notebooks" / f"{notebook}.ipynb"
    if not (log.exists() and stamp.exists()):
        return None
    if json.loads(stamp.read_text()) != log_stamp(path):
        return None
    header, rows = read_log(log, notebook)
    print(f"  {'native':16s} {notebook:30s}  (make test's nbval run, {header.get('threads')} thread(s))", flush=True)
    return {"setting": "native", "notebook": notebook, "seconds": None, "error": "", "threads": header.get("threads"),
            "rows": rows}


def run_notebook(setting: str, name: str, out: Path) -> dict:
    log = out / f"{setting}--{name}.jsonl"
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "tests.portability.run", "--execute", name, "--log", str(log),
                           "--threads", str(SETTINGS[setting]["threads"])],
                          cwd=REPO, env=setting_env(setting), capture_output=True, text=True)
    seconds = round(time.perf_counter() - start, 1)
    error = "" if done.returncode == 0 else _last_error(done.stderr)
    header, rows = read_log(log, name)
    print(f"  {setting:16s} {name:30s} {seconds:6.1f} s  {'ok' if not error else 'FAILED: ' + error}", flush=True)
    return {"setting": setting, "notebook": name, "seconds": seconds, "error": error,
            "threads": header.get("threads"), "rows": rows}


def run_figures(setting: str) -> dict:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
                           "-o", "addopts=", "tests/test_figures.py"], cwd=REPO, env=setting_env(setting),
                          capture_output=True, text=True)
    seconds = round(time.perf_counter() - start, 1)
    error = "" if done.returncode == 0 else done.stdout.strip().splitlines()[-1]
    print(f"  {setting:16s} {'figure tests':30s} {seconds:6.1f} s  {'ok' if not error else 'FAILED: ' + error}",
          flush=True)
    return {"setting": setting, "notebook": "figure tests", "seconds": seconds, "error": error, "threads": None,
            "rows": []}


def _last_error(stderr: str) -> str:
    plain = re.sub(r"\x1b\[[0-9;]*m", "", stderr).strip()  # the kernel's traceback comes coloured
    lines = [line for line in plain.splitlines() if "Error" in line]
    return (lines[-1] if lines else plain[-300:]).strip()


def slack(row: dict) -> float | None:
    """How far a logged comparison is from failing, in its own units (> 0 holds, for == 0 holds)."""
    left, right, op = row["left"], row["right"], row["op"]
    if left is None or right is None:
        return None
    if op in ("<", "<="):
        return right - left
    if op in (">", ">="):
        return left - right
    if op in ("==", "!="):
        return -abs(left - right) if op == "==" else abs(left - right)
    return None


def margin_rows(results: list[dict]) -> tuple[list[dict], dict]:
    """One row per comparison whose two sides differ between settings, smallest margin factor first."""
    by_site: dict[tuple, dict] = {}
    for result in results:
        for row in result["rows"]:
            site = (result["notebook"], row["cell"], row["line"], row["part"], row["occurrence"])
            by_site.setdefault(site, {"text": row["text"], "op": row["op"], "values": {}})
            by_site[site]["values"][result["setting"]] = row
    rows, counts = [], {"comparisons": len(by_site), "numeric": 0, "kernel_dependent": 0, "incomplete": 0}
    for (notebook, cell, _line, _part, occurrence), site in sorted(by_site.items(), key=lambda kv: str(kv[0])):
        values = site["values"]
        if set(values) != set(SETTINGS):
            counts["incomplete"] += 1
            continue
        slacks = {name: slack(value) for name, value in values.items()}
        if any(s is None for s in slacks.values()):
            continue
        counts["numeric"] += 1
        sides = {(v["left"], v["right"]) for v in values.values()}
        if len(sides) == 1:
            continue  # the same numbers under every setting: no kernel dependence to measure
        counts["kernel_dependent"] += 1
        spread = max(slacks.values()) - min(slacks.values())
        threshold = values["native"]["right"]
        rows.append({"notebook": notebook[:2], "cell": cell, "occurrence": occurrence, "claim": site["text"],
                     "op": site["op"], "threshold": threshold, "timing": (notebook[:2], site["text"]) in TIMING_CLAIMS,
                     "left": {name: values[name]["left"] for name in SETTINGS},
                     "right": {name: values[name]["right"] for name in SETTINGS},
                     "smallest_slack": min(slacks.values()), "spread": spread,
                     "factor": (min(slacks.values()) / spread) if spread > 0 else None})
    rows.sort(key=lambda r: (r["timing"], r["factor"] is None, r["factor"] or 0))
    return rows, counts


def problems(record: dict) -> list[str]:
    """Everything that makes the portability run fail."""
    found = [f"{r['notebook']} under {r['setting']}: {r['error']}" for r in record["runs"] if r["error"]]
    native = record["settings"]["native"]["fingerprint"]
    for name, setting in record["settings"].items():
        changed = [key for key in CHANGED_KEYS if setting["fingerprint"][key] != native[key]]
        if name != "native" and not changed:
            found.append(f"setting {name} gives the native bits of {', '.join(CHANGED_KEYS)}: it tests nothing here")
    for row in record["rows"]:
        if row["factor"] is not None and row["factor"] < MIN_FACTOR and not row["timing"]:  # None: no spread
            found.append(f"{row['notebook']} cell {row['cell']}: `{row['claim']}` margin factor "
                         f"{row['factor']:.2f} < {MIN_FACTOR}")
    if record["counts"]["incomplete"]:
        found.append(f"{record['counts']['incomplete']} comparisons were not reached under every setting")
    return found


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.6g}"


def render_table(record: dict, limit: int | None = None) -> str:
    names = list(record["settings"])
    head = ("| notebook · cell | claim (`left op right`) | " + " | ".join(f"left, {n}" for n in names)
            + " | right (threshold) | smallest slack | spread | factor |")
    lines = [head, "|" + " --- |" * (len(names) + 6)]
    for row in record["rows"][:limit]:
        claim = row["claim"].replace("|", "\\|")
        factor = "—" if row["factor"] is None else f"{row['factor']:.1f}"
        factor += " (wall clock: must hold, no factor)" if row["timing"] else ""
        rights = sorted(set(row["right"].values()))
        right = _number(rights[0]) if len(rights) == 1 else " / ".join(_number(row["right"][n]) for n in names)
        lines.append(f"| {row['notebook']} · {row['cell']} | `{claim}` | "
                     + " | ".join(_number(row["left"][n]) for n in names)
                     + f" | {right} | {_number(row['smallest_slack'])} | {_number(row['spread'])} | {factor} |")
    return "\n".join(lines)


def render_settings(record: dict) -> str:
    keys = ("matmul", "weights_after_50_steps", "svd", "numpy_matmul", "numpy_svd")
    lines = ["| setting | knobs | torch threads | torch matmul | weights after 50 Adam steps | torch SVD (float64) "
             "| numpy matmul | numpy SVD |", "|" + " --- |" * 8]
    native = record["settings"]["native"]["fingerprint"]
    for name, setting in record["settings"].items():
        knobs = " ".join(f"`{k}={v}`" for k, v in setting["env"].items()) or "none (the machine as it is)"
        marks = ["native" if name == "native" else ("same" if setting["fingerprint"][key] == native[key] else "differ")
                 for key in keys]
        threads = ", ".join(map(str, setting.get("threads_seen") or [setting["threads"]]))
        lines.append(f"| {name} | {knobs} | {threads} | " + " | ".join(marks) + " |")
    return "\n".join(lines)


def render(record: dict) -> None:
    counts = record["counts"]
    summary = (f"{counts['comparisons']} comparisons in the notebooks' asserts were logged under each setting; "
               f"{counts['numeric']} compare two numbers, and {counts['kernel_dependent']} of those change with "
               f"the kernels. Every one keeps a margin of at least {MIN_FACTOR:g}× its spread "
               f"(factor = smallest slack / spread of the slack over the settings), except "
               f"{sum(r['timing'] for r in record['rows'])} wall-clock claims, which must only hold.")
    TABLE.write_text(
        f"# Portability record ({record['date']}, {record['cpu']})\n\n"
        "Written by `python -m tests.portability.run --record`; do not edit.\n\n"
        f"## Settings\n\n{render_settings(record)}\n\n## Run times\n\n"
        + "\n".join(f"- {r['setting']} · {r['notebook']}: "
                    + (f"{r['seconds']} s" if r["seconds"] is not None else "make test's own nbval run, reused")
                    for r in record["runs"])
        + f"\n\n## Kernel-dependent claims, smallest margin first\n\n{summary}\n\n{render_table(record)}\n",
        encoding="utf-8")
    block = (f"Measured {record['date']} on {record['cpu']} ({record['wall_s']:.0f} s wall for the whole run).\n\n"
             f"{render_settings(record)}\n\n{summary} The {PAGE_ROWS} closest to their thresholds "
             f"(all {counts['kernel_dependent']}: `tests/portability/margins.md`):\n\n"
             f"{render_table(record, PAGE_ROWS)}")
    write_block(PAGE, BEGIN, END, block)


def run(jobs: int, notebooks: list[str] = NOTEBOOKS, figures: bool = True) -> dict:
    out = Path(tempfile.mkdtemp(prefix="vae-notes-portable-"))
    start = time.perf_counter()
    print(f"portability run: {len(SETTINGS)} settings x {len(notebooks)} notebooks{' + figure tests' * figures}, "
          f"{jobs} workers", flush=True)
    settings = {name: {**spec, "fingerprint": fingerprint(name)} for name, spec in SETTINGS.items()}
    reused = [run for run in map(native_from_make_test, notebooks) if run is not None]
    done = {run["notebook"] for run in reused}
    tasks = [(run_notebook, (s, n, out)) for n in notebooks for s in SETTINGS if s != "native" or n not in done]
    tasks += [(run_figures, (s,)) for s in SETTINGS if s != "native" and figures]  # native: `make test` runs them
    with ThreadPoolExecutor(jobs) as pool:
        runs = reused + list(pool.map(lambda task: task[0](*task[1]), tasks))
    rows, counts = margin_rows(runs)
    for name in settings:
        settings[name]["threads_seen"] = sorted({r["threads"] for r in runs if r["setting"] == name and r["threads"]})
    return {"date": datetime.date.today().isoformat(), "cpu": cpu_name(), "wall_s": round(time.perf_counter() - start),
            "settings": settings, "counts": counts, "rows": rows,
            "runs": [{k: v for k, v in r.items() if k != "rows"} for r in runs]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true", help="rewrite record.json, margins.md and the page's block")
    parser.add_argument("--render", action="store_true", help="rewrite margins.md and the page's block from the record")
    parser.add_argument("--jobs", type=int, default=cores(), help="notebooks run at once (default: one per core)")
    parser.add_argument("--only", help="comma-separated notebook numbers (e.g. 01,07), no figure tests; "
                        "a quick check while editing, never recorded")
    parser.add_argument("--execute", help=argparse.SUPPRESS)  # internal: one notebook in this process's setting
    parser.add_argument("--log", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.execute:
        execute_instrumented(REPO / "notebooks" / f"{args.execute}.ipynb", Path(args.log), args.threads)
        return 0
    if args.render:
        render(json.loads(RECORD.read_text()))
        return 0
    if args.only and args.record:
        parser.error("--record needs the whole run (no --only)")
    chosen = [n for n in NOTEBOOKS if not args.only or n[:2] in args.only.split(",")]
    record = run(max(1, args.jobs), chosen, figures=not args.only)
    print(render_table(record, 15))
    found = problems(record)
    print(f"portability run: {record['wall_s']} s wall, {record['counts']}")
    for problem in found:
        print("FAILED:", problem)
    if args.record:
        RECORD.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        render(record)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
