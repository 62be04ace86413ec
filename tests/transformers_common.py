"""transformers' own common model-test mixins (ModelTesterMixin, ConfigTester), from its source distribution.

The mixins are not part of the transformers wheel: they ship in the sdist's `tests/` folder. `common_tests()`
downloads the sdist of the INSTALLED transformers version once (`pip download --no-binary :all: --no-deps`, a
registry download like any other dependency), extracts its `tests/*.py` into `.transformers-tests/<version>/`
(git-ignored; `TRANSFORMERS_TESTS_DIR` points elsewhere) and imports them as the package `hf_common_tests`.
A failed download raises: the conformance tests never skip silently.

Three modules the mixins import are not in the sdist; they are replaced by stubs here:
- `generation/test_utils.py` (GenerationTesterMixin): an empty mixin; `tests/modeling/test_common.py` runs
  equivalent generation checks of its own.
- `exporters/test_export.py` (ExportTesterMixin, torch.export checks): an empty mixin.
- `utils/test_configuration_utils.py` (`config_common_kwargs`): empty; ConfigTester uses it only for
  non-composite configs, and QwenAudioConfig is composite.

Run `python tests/transformers_common.py` to fetch ahead of time (`.ci/run` does).
"""

import importlib
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import transformers

PACKAGE = "hf_common_tests"
STUBS = {
    "generation/test_utils.py": "class GenerationTesterMixin:\n    pass\n",
    "exporters/test_export.py": "class ExportTesterMixin:\n    pass\n",
    "utils/test_configuration_utils.py": "config_common_kwargs = {}\n",
}


def cache_root() -> Path:
    default = Path(__file__).resolve().parent.parent / ".transformers-tests" / transformers.__version__
    return Path(os.environ.get("TRANSFORMERS_TESTS_DIR", default))


def _download_and_extract(root: Path) -> None:
    version = transformers.__version__
    with tempfile.TemporaryDirectory() as download_dir:
        command = [sys.executable, "-m", "pip", "download", f"transformers=={version}", "--no-binary", ":all:",
                   "--no-deps", "-q", "-d", download_dir]
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        archives = list(Path(download_dir).glob("transformers-*.tar.gz"))
        if result.returncode != 0 or not archives:
            raise RuntimeError(
                f"could not download the transformers {version} sdist (for its common model tests): "
                f"{result.stderr.strip()[-2000:]}\nFix the network/registry access or set TRANSFORMERS_TESTS_DIR "
                "to a folder holding an extracted copy."
            )
        package = root / PACKAGE
        package.mkdir(parents=True, exist_ok=True)
        prefix = f"transformers-{version}/tests/"
        with tarfile.open(archives[0]) as archive:
            for member in archive.getmembers():
                if member.isfile() and member.name.startswith(prefix) and member.name.endswith(".py"):
                    relative = member.name[len(prefix) :]
                    if "/" in relative:  # only the top-level mixin modules
                        continue
                    (package / relative).write_bytes(archive.extractfile(member).read())
    for relative, text in STUBS.items():
        path = package / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        (path.parent / "__init__.py").touch()
    (package / "__init__.py").touch()


def common_tests():
    """The `hf_common_tests` package (transformers' tests/ folder), downloading it on first use."""
    root = cache_root()
    if not (root / PACKAGE / "test_modeling_common.py").is_file():
        _download_and_extract(root)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return importlib.import_module(PACKAGE)


if __name__ == "__main__":
    common_tests()
    print(cache_root() / PACKAGE)
