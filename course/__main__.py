"""`python -m course tag|build|course|grade|handout|validate`: the classroom tools on the command line.

See course/__init__.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import course
from course.grading import grade
from course.handout import DEFAULT_OUT, build_handout
from course.layout import assignment_sources, build, generate, lay_out_course
from course.notebooks import ROOT
from course.sandbox import DEFAULT_MEMORY_GB
from course.tagging import tag
from course.validate import validate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course", description=course.__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    tagger = commands.add_parser("tag", help="add nbgrader metadata to the main notebooks (idempotent)")
    tagger.add_argument("notebooks", nargs="*", type=Path)
    commands.add_parser("build", help="write the student notebooks to notebooks/assignments/ with nbgrader")
    handout = commands.add_parser("handout", help="zip what students get: student notebooks, helpers, images")
    handout.add_argument("--out", type=Path, default=DEFAULT_OUT,
                         help=f"where the zip goes (default {DEFAULT_OUT.relative_to(ROOT)})")
    course_parser = commands.add_parser("course", help="lay out an nbgrader course folder and generate its assignments")
    course_parser.add_argument("folder", type=Path)
    grader = commands.add_parser("grade", help="autograde a folder of <student>/<notebook> submissions")
    grader.add_argument("submissions", type=Path)
    grader.add_argument("--csv", type=Path, default=Path("grades.csv"), help="where the rows go (default grades.csv)")
    grader.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    grader.add_argument("--timeout", type=int, default=120, help="seconds allowed per cell (default 120)")
    grader.add_argument("--memory-gb", type=float, default=DEFAULT_MEMORY_GB,
                        help=f"address space per grading process (default {DEFAULT_MEMORY_GB:g} GiB)")
    grader.add_argument("--all-cells", action="store_true",
                        help="also run the locked demonstration cells no graded cell needs (slower; full feedback)")
    validator = commands.add_parser("validate", help="nbgrader's Validate on notebooks; exit status 1 if one fails")
    validator.add_argument("notebooks", nargs="+", type=Path)
    validator.add_argument("--timeout", type=int, default=120, help="seconds allowed per cell (default 120)")
    args = parser.parse_args(argv)
    if args.command == "tag":
        for path in tag(args.notebooks or None):
            print(f"tagged {path}")
    elif args.command == "build":
        for path in build():
            print(f"wrote {path.relative_to(ROOT)}")
    elif args.command == "handout":
        print(f"wrote {build_handout(args.out)}")
    elif args.command == "validate":
        try:
            failing = validate(args.notebooks, cell_timeout=args.timeout)
        except ValueError as exc:
            parser.error(str(exc))
        print(f"\n{failing} of {len(args.notebooks)} notebooks fail validation" if failing
              else f"\nall {len(args.notebooks)} notebooks pass validation")
        return 1 if failing else 0
    elif args.command == "course":
        sources = assignment_sources()
        generate(lay_out_course(args.folder, sources), list(sources))
        print(f"course folder ready: {args.folder} (assignments: {', '.join(sources)})")
    else:
        try:
            grade(args.submissions, args.csv, jobs=args.jobs, cell_timeout=args.timeout, memory_gb=args.memory_gb,
                  all_cells=args.all_cells)
        except ValueError as exc:
            parser.error(str(exc))
        print(f"grades written to {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
