#!/usr/bin/env python3
"""Check the Lambda package that `sam build` made (make build-check).

    python3 tools/check_lambda_package.py [.aws-sam/build/ReconstructFunction]

The package must hold the function's code and its runtime dependencies only, built for the
function's runtime (python3.13 on arm64, Amazon Linux 2023):

- the handler's module and function (read from template.yaml), and of the face3d package the
  function's code only: every face3d module the handler imports, directly or not, and none of
  the engine, server, viewer or command line (their libraries are not in the package either);
- every distribution named in src/requirements.txt, and the import packages the code needs,
  Pillow's AVIF decoder among them;
- native code for aarch64 only: every ELF file's machine, every wheel's tags (cp313 or abi3,
  manylinux for a glibc the runtime has);
- none of the test, development or engine packages (pytest, moto, mypy, numpy, ...), no tests/;
- at most Lambda's 250 MB unzipped.

It prints the package's size, zipped and unzipped, and its largest parts. Exit 1 on any failure.
Standard library only.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PACKAGE = ROOT / ".aws-sam" / "build" / "ReconstructFunction"

PYTHON_TAG = "cp313"  # the function's runtime, python3.13
MACHINE = 183  # ELF e_machine of AArch64 (the function's architecture, arm64)
GLIBC = (2, 34)  # Amazon Linux 2023, the python3.13 runtime's OS
UNZIPPED_LIMIT = 250 * 2**20  # Lambda: 262,144,000 bytes unzipped, layers included

# Import packages the function's code needs (beyond the distributions in requirements.txt).
REQUIRED_IMPORTS = (
    "face3d",
    "aws_lambda_powertools",
    "requests",
    "PIL",
    "pillow_heif",
    "pydantic",
    "pydantic_core",
)

# Top-level import names and distributions that belong to tests, development or the engine.
FORBIDDEN_IMPORTS = (
    "tests", "test", "pytest", "_pytest", "pluggy", "moto", "responses", "mypy", "mypyc", "ruff",
    "skimage", "matplotlib", "mediapipe", "numpy", "scipy", "cv2", "werkzeug", "flask", "waitress",
    "trimesh",
)  # fmt: skip
FORBIDDEN_DISTRIBUTIONS = re.compile(
    r"^(pytest.*|moto|responses|mypy|mypy-extensions|ruff|scikit-image|matplotlib|mediapipe"
    r"|numpy|scipy|opencv-.*|werkzeug|flask|waitress|trimesh|types-.*|.*-stubs|mypy-boto3-.*|aws-sam-.*|cfn-lint"
    r"|face3d-pipeline)$"
)
# Parts of the face3d package that the function never runs (other products, and shared modules
# that need NumPy or the sample photos).
FORBIDDEN_FACE3D = (
    "engine", "server", "viewer", "cli", "geometry.py", "samples.py", "__main__.py",
)  # fmt: skip
ELF_MACHINES = {3: "x86 (32-bit)", 40: "ARM (32-bit)", 62: "x86-64", 183: "AArch64"}


@dataclass
class Report:
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def ok(self, message: str) -> None:
        print(f"  ok    {message}")

    def fail(self, message: str) -> None:
        self.failures.append(message)
        print(f"  FAIL  {message}")

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        print(f"  warn  {message}")


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def handler_from_template(template: Path, function: str) -> str | None:
    """The Handler of one function in a SAM template, read as text (no YAML parser needed)."""
    try:
        lines = template.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    start = re.compile(rf"^(\s*){re.escape(function)}:\s*$")
    for index, line in enumerate(lines):
        match = start.match(line)
        if not match:
            continue
        indent = len(match.group(1))
        for inner in lines[index + 1 :]:
            if inner.strip() and len(inner) - len(inner.lstrip()) <= indent:
                break
            found = re.match(r"^\s+Handler:\s*[\"']?([\w.]+)[\"']?\s*$", inner)
            if found:
                return found.group(1)
    return None


def check_handler(package: Path, handler: str, report: Report) -> None:
    module, _, function = handler.rpartition(".")
    source = package.joinpath(*module.split(".")).with_suffix(".py")
    if not source.is_file():
        report.fail(f"handler {handler}: {shown(source)} is missing")
        return
    tree = ast.parse(source.read_bytes(), filename=str(source))
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.ImportFrom):
            names.update(alias.asname or alias.name for alias in node.names)
    if function in names:
        report.ok(f"handler {handler} ({source.relative_to(package)})")
    else:
        report.fail(f"handler {handler}: {source.relative_to(package)} defines no {function}")


def face3d_imports(source: Path) -> set[str]:
    """The face3d modules a source file imports (lazy and TYPE_CHECKING imports included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names if alias.name.startswith("face3d"))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("face3d"):
            # `from face3d.x import y`: y is a module or a name in face3d.x; both are looked up.
            names.add(str(node.module))
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def module_file(package: Path, name: str) -> Path | None:
    path = package.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def check_face3d(package: Path, handler: str, report: Report) -> None:
    """The function's code is all there, and nothing of the other products is."""
    present = [name for name in FORBIDDEN_FACE3D if (package / "face3d" / name).exists()]
    if present:
        report.fail(f"face3d parts the function never runs: {', '.join(present)}")
    needed, missing, queue = set(), set(), [handler.rpartition(".")[0]]
    while queue:
        name = queue.pop()
        parts = name.split(".")
        # A package's __init__ runs before any of its modules.
        for depth in range(1, len(parts) + 1):
            prefix = ".".join(parts[:depth])
            source = module_file(package, prefix)
            if source is None:
                # `from face3d.x import name` names an attribute, not a module: fine if x exists.
                if depth == len(parts) and module_file(package, ".".join(parts[:-1])):
                    break
                missing.add(prefix)
                break
            if prefix not in needed:
                needed.add(prefix)
                queue.extend(face3d_imports(source))
    if missing:
        report.fail(f"face3d modules the handler imports are missing: {', '.join(sorted(missing))}")
    elif not present:
        modules = sorted(name.removeprefix("face3d.") for name in needed if name != "face3d")
        report.ok(f"face3d: the function's code only ({len(modules)} modules the handler imports)")


def distributions(package: Path) -> dict[str, tuple[str, Path]]:
    """Installed distributions: normalized name -> (version, its .dist-info folder)."""
    found = {}
    for info in sorted(package.glob("*.dist-info")):
        fields: dict[str, str] = {}
        metadata = info / "METADATA"
        if metadata.is_file():
            for line in metadata.read_text(encoding="utf-8", errors="replace").splitlines():
                if not line:
                    break
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
        name = fields.get("Name") or info.name.removesuffix(".dist-info").rpartition("-")[0]
        found[normalize(name)] = (fields.get("Version", "?"), info)
    return found


def requirement_names(requirements: Path) -> list[str]:
    names = []
    for line in requirements.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        match = re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*", line)
        if match and not line.startswith("-"):
            names.append(match.group(0))
    return names


def check_contents(
    package: Path, requirements: Path, dists: dict[str, tuple[str, Path]], report: Report
) -> None:
    try:
        wanted = requirement_names(requirements)
    except OSError as error:
        report.fail(f"cannot read {shown(requirements)}: {error}")
        wanted = []
    present = [f"{name} {dists[normalize(name)][0]}" for name in wanted if normalize(name) in dists]
    missing = [name for name in wanted if normalize(name) not in dists]
    if missing:
        report.fail(f"runtime dependencies missing from the package: {', '.join(missing)}")
    elif wanted:
        report.ok(f"runtime dependencies ({shown(requirements)}): {', '.join(present)}")

    absent = [name for name in REQUIRED_IMPORTS if not (package / name / "__init__.py").is_file()]
    if absent:
        report.fail(f"import packages missing: {', '.join(absent)}")
    else:
        report.ok(f"import packages: {', '.join(REQUIRED_IMPORTS)}")

    # Phones' photos (DESIGN.md section 2): HEIC through pillow-heif (an import package above),
    # AVIF through Pillow's own decoder, which its wheels carry from 11.3 on.
    if any((package / "PIL").glob("_avif.*.so")):
        report.ok("photo decoders: HEIF (pillow_heif), AVIF (PIL/_avif)")
    else:
        report.fail("Pillow without its AVIF decoder (PIL/_avif): AVIF photos could not be read")

    top = {entry.name: entry for entry in package.iterdir()}
    unwanted = [
        name
        for name in FORBIDDEN_IMPORTS
        if name in top or f"{name}.py" in top or (package / "face3d" / name).is_dir()
    ]
    unwanted += [
        f"{name} {version} ({info.name})"
        for name, (version, info) in dists.items()
        if FORBIDDEN_DISTRIBUTIONS.match(name)
    ]
    if unwanted:
        report.fail(f"test, development or engine packages in the package: {', '.join(unwanted)}")
    else:
        report.ok("no test, development or engine packages, no tests/")

    # sam build leaves *.egg-info out of the source it copies (src/face3d_pipeline.egg-info from
    # an editable install); if one shows up, the builder changed. Stale, harmless metadata.
    leftovers = sorted(name for name in top if name.endswith((".egg-info", ".egg")))
    leftovers += sorted(str(p.relative_to(package)) for p in package.glob("face3d/**/__pycache__"))
    if leftovers:
        report.warn(f"build leftovers copied from src/: {', '.join(leftovers)}")


def wheel_tag_fits(tag: str) -> bool:
    """Whether one wheel tag (python-abi-platform) runs on python3.13, arm64, glibc 2.34."""
    try:
        python, abi, platform = tag.split("-")
    except ValueError:
        return False
    if platform == "any":
        return abi == "none" and any(p in ("py3", PYTHON_TAG) for p in python.split("."))
    if abi not in (PYTHON_TAG, "abi3") or not python.startswith("cp3"):
        return False
    if abi == "abi3" and int(python[3:] or 99) > int(PYTHON_TAG[3:]):
        return False
    if abi == PYTHON_TAG and python != PYTHON_TAG:
        return False
    match = re.fullmatch(r"manylinux_(\d+)_(\d+)_aarch64", platform)
    if match:
        return (int(match.group(1)), int(match.group(2))) <= GLIBC
    return platform == "manylinux2014_aarch64"  # = manylinux_2_17


def check_native_code(package: Path, dists: dict[str, tuple[str, Path]], report: Report) -> None:
    platform_wheels, bad_wheels = [], []
    for name, (version, info) in dists.items():
        wheel = info / "WHEEL"
        if not wheel.is_file():
            bad_wheels.append(f"{name} {version} (no WHEEL file)")
            continue
        tags = [
            line.partition(":")[2].strip()
            for line in wheel.read_text(encoding="utf-8").splitlines()
            if line.startswith("Tag:")
        ]
        if not any(wheel_tag_fits(tag) for tag in tags):
            bad_wheels.append(f"{name} {version} ({' '.join(tags) or 'no tags'})")
        elif not all(tag.endswith("-any") for tag in tags):
            platform_wheels.append(f"{name} {version}")
    if bad_wheels:
        report.fail(
            f"wheels not for {PYTHON_TAG} manylinux aarch64 (glibc <= {GLIBC[0]}.{GLIBC[1]}): "
            + ", ".join(bad_wheels)
        )
    else:
        report.ok(
            f"{len(dists)} wheels fit {PYTHON_TAG} arm64; platform wheels (manylinux aarch64, "
            f"glibc <= {GLIBC[0]}.{GLIBC[1]}): {', '.join(platform_wheels) or 'none'}"
        )

    elf_files, wrong = 0, []
    for path in package.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        with path.open("rb") as stream:
            header = stream.read(20)
        if len(header) < 20 or header[:4] != b"\x7fELF":
            continue
        elf_files += 1
        machine = int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")
        if machine != MACHINE or header[4] != 2:
            wrong.append(f"{path.relative_to(package)} ({ELF_MACHINES.get(machine, machine)})")
        elif re.search(r"\.cpython-(\d+)-", path.name) and f".cpython-{PYTHON_TAG[2:]}-" not in (
            path.name
        ):
            wrong.append(f"{path.relative_to(package)} (not built for Python {PYTHON_TAG})")
    if wrong:
        report.fail(f"native code not for 64-bit AArch64/{PYTHON_TAG}: {', '.join(wrong)}")
    else:
        report.ok(f"{elf_files} native libraries, all 64-bit AArch64 ELF")


def check_size(package: Path, report: Report) -> None:
    files = [p for p in package.rglob("*") if p.is_file() and not p.is_symlink()]
    unzipped = sum(p.stat().st_size for p in files)
    parts: dict[str, int] = {}
    for path in files:
        top = path.relative_to(package).parts[0]
        parts[top] = parts.get(top, 0) + path.stat().st_size
    # Zipped the way sam deploy uploads it (deflate), to a throwaway file.
    with tempfile.TemporaryFile() as scratch:
        with zipfile.ZipFile(scratch, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                archive.write(path, path.relative_to(package))
        zipped = scratch.tell()
    message = (
        f"size {mib(unzipped)} unzipped in {len(files)} files "
        f"(Lambda's limit {mib(UNZIPPED_LIMIT)}), {mib(zipped)} zipped"
    )
    if unzipped > UNZIPPED_LIMIT:
        report.fail(message)
    else:
        report.ok(message)
    largest = sorted(parts.items(), key=lambda item: item[1], reverse=True)[:8]
    print("        largest: " + ", ".join(f"{name} {mib(size)}" for name, size in largest))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("package", nargs="?", type=Path, default=DEFAULT_PACKAGE)
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    parser.add_argument("--requirements", type=Path, default=ROOT / "src" / "requirements.txt")
    parser.add_argument("--handler", help="module.function (default: read from the template)")
    args = parser.parse_args(argv)
    package: Path = args.package

    print(f"Lambda package {shown(package)}")
    if not package.is_dir():
        print(f"  FAIL  {shown(package)} does not exist: run `make build` first", file=sys.stderr)
        return 1
    report = Report()
    handler = args.handler or handler_from_template(args.template, package.name)
    if handler:
        check_handler(package, handler, report)
        check_face3d(package, handler, report)
    else:
        report.fail(f"no Handler for {package.name} in {shown(args.template)} (or give --handler)")
    dists = distributions(package)
    check_contents(package, args.requirements, dists, report)
    check_native_code(package, dists, report)
    check_size(package, report)

    if report.failures:
        print(f"build-check FAILED: {len(report.failures)} problem(s)", file=sys.stderr)
        return 1
    print(
        "build-check passed" + (f" ({len(report.warnings)} warning(s))" if report.warnings else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
