"""Shared fixtures: one runtime per session (presets and tags load once)."""

from __future__ import annotations

import os
import re
import shutil
import threading
from importlib import metadata
from pathlib import Path
from typing import Callable

import pytest

from emotts_plugin import Runtime, load_config
from emotts_plugin.errors import MissingExtraError
from emotts_plugin.offline import keep_libraries_offline

# some tests import piper (and so onnxruntime) directly: keep its telemetry off for the whole run
keep_libraries_offline()

ROOT = Path(__file__).resolve().parents[1]
SHARED_EXAMPLES = ROOT.parent / "shared" / "examples"


@pytest.fixture(scope="session")
def runtime() -> Runtime:
    os.environ.pop("EMOTTS_PLUGINS", None)
    return Runtime(load_config([]), plugins=())


@pytest.fixture
def parse(runtime):
    def _parse(text: str, mode: str = "lenient"):
        return runtime.parse(text, mode=mode)

    return _parse


def gate_after_first_chunk(monkeypatch, synth) -> tuple[threading.Event, dict]:
    """Make every chunk after the first wait until ``released`` is set (or 20 s pass)."""
    released = threading.Event()
    seen: dict = {}
    real = synth.render_plan

    def gated(plan, config, **options):
        chunks = real(plan, config, **options)
        yield next(chunks)
        seen["released_before_second_render"] = released.wait(timeout=20)
        yield from chunks

    monkeypatch.setattr(synth, "render_plan", gated)
    return released, seen


# -- skips: what a test needs beyond the package ---------------------------------------
#
# A test that needs a Debian package (.ci/run installs them; the README's Set-up says why) is
# marked with needs_debian(...), so without it the test skips and -rs names the package. A
# test that stops on MissingExtraError for an extra that is not installed skips naming the
# extra (pip install 'emotts[ja]'); with the extra installed, the error stays a failure.


def debian_skip_reason(package: str, why: str) -> str:
    """The skip reason of a test whose Debian package ``package`` is absent."""
    return f"needs the Debian package {package} ({why}): apt-get install {package}"


def needs_debian(package: str, present: bool, why: str) -> pytest.MarkDecorator:
    """Skip the test unless ``present``, with a reason naming the Debian package ``package``."""
    return pytest.mark.skipif(not present, reason=debian_skip_reason(package, why))


ASTERISK_SOUNDS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
needs_sox = needs_debian(
    "sox", bool(shutil.which("sox") and shutil.which("soxi")), "sox and soxi read telephone audio back"
)
needs_asterisk_sounds = needs_debian(
    "asterisk-core-sounds-en-wav",
    len(list(ASTERISK_SOUNDS.glob("*.wav"))) >= 20,
    "Asterisk's own 8 kHz prompts are the reference",
)

_EXTRA_MARKER = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def extra_requirements(extra: str) -> list[str]:
    """The distributions ``emotts[extra]`` adds, as the installed package's metadata lists them.

    :raises ValueError: an extra emotts does not have, naming those it has.
    """
    by_extra: dict[str, list[str]] = {}
    for requirement in metadata.requires("emotts") or []:
        marker = _EXTRA_MARKER.search(requirement)
        if marker:
            by_extra.setdefault(marker.group(1), []).append(_NAME.match(requirement).group(0))
    if extra not in by_extra:
        raise ValueError(f"emotts has no extra {extra!r}; its extras: {', '.join(sorted(by_extra))}")
    return by_extra[extra]


def _distribution_installed(name: str) -> bool:
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def extra_installed(extra: str, installed: Callable[[str], bool] | None = None) -> bool:
    """Whether every distribution of ``emotts[extra]`` is installed (``installed`` tells, by name)."""
    installed = installed or _distribution_installed
    return all(installed(name) for name in extra_requirements(extra))


def extra_skip_reason(extra: str) -> str:
    """The skip reason of a test whose extra is not installed."""
    return f"needs the {extra} extra, which is not installed: pip install 'emotts[{extra}]'"


def skip_for_missing_extra(exc: MissingExtraError) -> None:
    """Skip the running test, naming the extra, when ``exc`` is about an extra that is not installed;
    return (so the caller re-raises) when it is installed: then the error is a real failure."""
    try:
        installed = extra_installed(exc.extra)
    except ValueError:  # not an extra of emotts: a failure
        return
    if not installed:
        # reported at the test's own line, as a skip mark is (pytest's skipping plugin does the same)
        raise pytest.skip.Exception(extra_skip_reason(exc.extra), _use_item_location=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    try:
        return (yield)
    except MissingExtraError as exc:
        skip_for_missing_extra(exc)
        raise


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    try:
        return (yield)
    except MissingExtraError as exc:
        skip_for_missing_extra(exc)
        raise
