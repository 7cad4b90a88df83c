"""The examples in the public docstrings run and print what they say (zoo and benchmarks)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import benchmarks
import zoo

#: The deploy extra's packages: a module that needs them at import is skipped without them.
OPTIONAL = {"executorch", "torchao", "onnx", "onnxruntime", "onnxscript"}


def _modules() -> list[str]:
    names = []
    for package in (zoo, benchmarks):
        names.append(package.__name__)
        names += [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name, torch_home):
    # torch_home: an example that loads a file:// checkpoint caches its copy in a scratch hub
    # cache, not the user's ~/.cache/torch (one stray entry per run)
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as err:  # a module of the optional deploy extra, on a machine without it
        if (err.name or "").split(".")[0] in OPTIONAL:
            pytest.skip(f"{name} needs {err.name} (pip install videozoo[deploy])")
        raise
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples in {name} failed (see above)"


@pytest.mark.parametrize("name", [n for n in _modules() if n.startswith("zoo")])
def test_the_librarys_module_examples_run_as_copied(name, torch_home):
    """A module's example (the guides show them) runs in an empty namespace, as pasted into a
    notebook: it imports what it uses instead of leaning on the module's own globals."""
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] in OPTIONAL:
            pytest.skip(f"{name} needs {err.name} (pip install videozoo[deploy])")
        raise
    tests = [t for t in doctest.DocTestFinder().find(module) if t.name == name and t.examples]
    if not tests:
        pytest.skip(f"{name} has no module example")
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        test.globs = {}
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0, f"{name}'s module example needs its module's globals (see above)"
