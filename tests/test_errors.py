"""The error model as written in ``emotts_plugin/errors.py``: every exception of the package is
defined there, in one tree under ``EmottsError``, and drawn in its docstring, except the few
listed below with their reason.

Every module of the installed package is read with :mod:`ast`, so a module that needs an extra
is checked without importing it.
"""

from __future__ import annotations

import ast
import builtins
import inspect

from test_architecture import modules

from emotts_plugin import errors

#: Exception classes defined outside errors.py on purpose: (module, class) → why.
ALLOWED = {
    ("emotts_plugin.config", "YamlLimitError"): (
        "subclasses PyYAML's ComposerError so that PyYAML's composer carries it with its marks; "
        "read_yaml_file turns it into a ConfigError, so no caller sees it"
    ),
    ("emotts_plugin.adapters.requests", "ApiError"): (
        "the HTTP error answer itself (status, JSON body, headers), raised inside a request and "
        "made the response by the HTTP adapter; not an error of the library"
    ),
    ("emotts_plugin.adapters.requests", "BodyAbandoned"): (
        "a signal set on a request body the server stopped waiting for; an asyncio.TimeoutError "
        "so that aiohttp closes the connection quietly; never leaves the HTTP adapter"
    ),
    ("emotts_plugin.ssml.sayas", "_Unreadable"): (
        "control flow inside <say-as> reading: raised by a reader, caught by its caller in the "
        "same module and turned into a markup problem"
    ),
}


def _base_name(node: ast.expr) -> str:
    """``yaml.composer.ComposerError`` → ``ComposerError``."""
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def _is_builtin_exception(name: str) -> bool:
    value = getattr(builtins, name, None)
    return isinstance(value, type) and issubclass(value, BaseException)


def exception_classes() -> dict[tuple[str, str], int]:
    """Every class of the package that derives from an exception: (module, class) → line.

    A base counts as an exception when it is a built-in exception, its name ends in ``Error`` or
    ``Exception`` (``asyncio.TimeoutError``, PyYAML's ``ComposerError``), or it is itself an
    exception class of the package (followed until nothing changes).
    """
    classes: dict[tuple[str, str], tuple[list[str], int]] = {}
    for module, path in modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                classes[(module, node.name)] = ([_base_name(base) for base in node.bases], node.lineno)
    known: set[str] = set()
    found: dict[tuple[str, str], int] = {}
    changed = True
    while changed:
        changed = False
        for key, (bases, line) in classes.items():
            if key in found:
                continue
            if any(
                _is_builtin_exception(b) or b.endswith(("Error", "Exception")) or b in known for b in bases
            ):
                found[key] = line
                known.add(key[1])
                changed = True
    return found


def test_every_exception_is_defined_in_errors_py():
    found = exception_classes()
    assert ("emotts_plugin.errors", "EmottsError") in found  # the walk sees the package
    assert ("emotts_plugin.errors", "FlowError") in found  # and classes derived from its own errors
    elsewhere = sorted(
        f"{module}:{line} {name}"
        for (module, name), line in found.items()
        if module != "emotts_plugin.errors" and (module, name) not in ALLOWED
    )
    assert not elsewhere, "define these in emotts_plugin/errors.py (or list them in ALLOWED with a reason)"


def test_the_exceptions_allowed_elsewhere_still_exist():
    found = exception_classes()
    stale = [key for key in ALLOWED if key not in found]
    assert not stale, "ALLOWED names exceptions that are no longer there; drop them"


def _public_exceptions() -> list[type[BaseException]]:
    return [
        value
        for name, value in vars(errors).items()
        if inspect.isclass(value)
        and issubclass(value, BaseException)
        and value.__module__ == errors.__name__
        and not name.startswith("_")
    ]


def test_every_public_exception_is_an_emotts_error_and_is_drawn():
    public = _public_exceptions()
    assert len(public) >= 17
    for cls in public:
        assert issubclass(cls, errors.EmottsError), cls
        assert f" {cls.__name__}" in errors.__doc__, f"{cls.__name__} is missing from the hierarchy drawing"


def test_bad_input_is_a_value_error():
    for cls in (errors.CallError, errors.FlowError, errors.UnknownVoiceError, errors.WyomingRequestError):
        assert issubclass(cls, ValueError)
    for cls in (errors.QueueFull, errors.VoiceLoadError, errors.PluginError):
        assert issubclass(cls, RuntimeError)
