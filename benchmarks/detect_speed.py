"""Project analysis on a large tree against `git ls-files | wc -l` on the same tree.

The tree: a pnpm monorepo with 100,000 files — 90,000 under node_modules (gitignored, as in
any JavaScript checkout) and 10,000 of its own in 20 workspace packages (sources, tests,
manifests), committed to a git repository. Prints the median of 15 interleaved runs of:

- `shipflow` analysis in-process (scan + analyse, the work `shipflow pipeline` does before it
  renders anything);
- `git ls-files | wc -l` (git reading its index: the floor of "list the project's files");
- `shipflow pipeline --analyse --json` end to end (Python start-up and imports included).

Goal: the in-process analysis takes at most 2x the git baseline.

Run: .venv/bin/python benchmarks/detect_speed.py [TOTAL_FILES]   (default 100000)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shipflow.generators.detect import analyse, scan  # noqa: E402

PACKAGES = 20
RUNS = 15


def make_tree(root: Path, total: int) -> tuple[int, int]:
    """Write the tree; return (files in node_modules, files of the project)."""
    own = total // 10
    vendored = total - own
    (root / "package.json").write_text(
        json.dumps({"name": "big", "private": True, "packageManager": "pnpm@9.12.3"})
    )
    (root / "pnpm-workspace.yaml").write_text('packages:\n  - "packages/*"\n')
    (root / "pnpm-lock.yaml").write_text("lockfileVersion: '9.0'\n")
    (root / ".nvmrc").write_text("22\n")
    (root / ".gitignore").write_text("node_modules/\ndist/\n")
    written = 5
    per_package = (own - written) // PACKAGES
    for p in range(PACKAGES):
        pkg = root / "packages" / f"pkg{p:02d}"
        (pkg / "src").mkdir(parents=True)
        (pkg / "test").mkdir()
        (pkg / "package.json").write_text(
            json.dumps(
                {"name": f"@big/pkg{p:02d}", "scripts": {"test": "vitest run", "lint": "eslint ."}}
            )
        )
        written += 1
        for i in range(per_package - 1):
            folder = pkg / ("test" if i % 5 == 0 else "src") / f"m{i // 50:02d}"
            folder.mkdir(exist_ok=True)
            (folder / f"file{i}.ts").write_text(f"export const v{i} = {i};\n")
            written += 1
    while written < own:
        (root / "packages" / "pkg00" / "src" / f"extra{written}.ts").write_text("export {};\n")
        written += 1
    # node_modules: nested packages, each with a package.json and sources (never read).
    count = 0
    n = 0
    while count < vendored:
        module = root / "node_modules" / f"dep{n // 100:03d}" / f"mod{n}"
        (module / "lib").mkdir(parents=True)
        (module / "package.json").write_text('{"name": "mod"}')
        count += 1
        for j in range(min(19, vendored - count)):
            (module / "lib" / f"f{j}.js").write_text("module.exports = 1;\n")
            count += 1
        n += 1
    return vendored, own


def median_seconds(fn: object, runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory(prefix="shipflow-detect-") as tmp:
        root = Path(tmp) / "big"
        root.mkdir()
        vendored, own = make_tree(root, total)
        env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.com",
               "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@example.com"}  # fmt: skip
        for argv in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "x"]):
            subprocess.run(argv, cwd=root, check=True, env=env)
        listed = subprocess.run(  # noqa: S602 (the baseline is this pipeline)
            "git ls-files | wc -l", shell=True, cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()

        def ours() -> None:
            analyse(scan(root), name="big")

        def git() -> None:
            subprocess.run("git ls-files | wc -l", shell=True, cwd=root, check=True,  # noqa: S602
                           stdout=subprocess.DEVNULL)  # fmt: skip

        cli = Path(sys.executable).with_name("shipflow")

        def command() -> None:
            subprocess.run([cli, "pipeline", str(root), "--analyse", "--json"], check=True,
                           stdout=subprocess.DEVNULL)  # fmt: skip

        ours()  # warm the page cache for both
        git()
        analysis = analyse(scan(root), name="big")
        # Interleaved, so that load from elsewhere on the machine hits both alike.
        pairs = [(median_seconds(ours, 1), median_seconds(git, 1)) for _ in range(RUNS)]
        t_ours = statistics.median(p[0] for p in pairs)
        t_git = statistics.median(p[1] for p in pairs)
        t_cli = median_seconds(command, runs=3)
    print(f"tree: {vendored + own} files ({vendored} in node_modules, {own} of the project); "
          f"git ls-files lists {listed}")  # fmt: skip
    print(f"analysis found {len(analysis.packages)} packages, saw {analysis.files_seen} entries")
    print(f"shipflow analysis (in-process) : {t_ours * 1000:8.1f} ms")
    print(f"git ls-files | wc -l           : {t_git * 1000:8.1f} ms")
    print(f"ratio analysis / git           : {t_ours / t_git:8.2f}x   (goal: <= 2x)")
    print(
        f"shipflow pipeline --analyse    : {t_cli * 1000:8.1f} ms   (end to end, Python start-up)"
    )


if __name__ == "__main__":
    main()
