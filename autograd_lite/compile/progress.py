"""A long build says so: a `compile_grad` (or a program built on first use) still building
after `THRESHOLD` seconds shows a tqdm bar of its stages (tracing, generating, compiling C,
compiling Python) with the elapsed time, closed when the build ends; without tqdm, one line
on stderr. Short builds show nothing.

Shown only where someone can see it (`ENABLED` None, the default): stderr is a terminal or the
process is a Jupyter kernel, so captured output (tests, logs, pipes) never gets it; set
`ENABLED = True` or False to decide. `clock` is the time source (tests replace it).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

#: Seconds a build runs before it is announced.
THRESHOLD = 1.0
#: None: show where a person sees stderr (a terminal, Jupyter); True / False: always / never.
ENABLED: bool | None = None
#: The clock builds are timed with.
clock: Callable[[], float] = time.monotonic
#: Seconds between refreshes of the elapsed time while a stage runs.
REFRESH = 0.5


class Setting:
    """Whether one compiled function's builds are shown: `value` None (as `ENABLED` says), True
    or False; read when a build starts (`Compiled.progress` writes it)."""

    __slots__ = ("value",)

    def __init__(self, value: bool | None = None) -> None:
        self.value = value


def _visible(show: Setting | None = None) -> bool:
    if show is not None and show.value is not None:
        return show.value
    if ENABLED is not None:
        return ENABLED
    if "ipykernel" in sys.modules:
        return True
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):  # no stderr, or a closed one
        return False


def _bar(what: str, total: int) -> Any:
    """A tqdm bar on stderr (None without tqdm: the optional "train" extra)."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=what, unit="stage", file=sys.stderr, dynamic_ncols=True,
                leave=False)


class Build:
    """`with Build("compile_grad", stages) as b: b.stage("tracing") ...`: announces itself
    once `THRESHOLD` seconds have passed (checked at each stage and by a watcher thread while
    a stage runs), then shows each stage; nothing at all when the build is quicker."""

    def __init__(self, what: str, stages: int, show: Setting | None = None) -> None:
        self.what = what
        self.stages = stages
        self.visible = stages > 0 and _visible(show)  # (0 stages: announced by the caller)
        self.start = clock()
        self.current = ""
        self.done = 0
        self.shown = False
        self.bar: Any = None
        self._lock = threading.Lock()
        self._finished = threading.Event()
        self._watcher: threading.Thread | None = None

    def __enter__(self) -> Build:
        if self.visible:
            self._watcher = threading.Thread(target=self._watch, daemon=True,
                                             name="autograd-lite-build-progress")
            self._watcher.start()
        return self

    def _watch(self) -> None:
        while not self._finished.wait(REFRESH):
            self._check()

    def _check(self) -> None:
        """Show the build if it has run past the threshold; refresh what is shown."""
        with self._lock:
            if self._finished.is_set() and self.shown:
                return
            if not self.shown:
                if clock() - self.start < THRESHOLD:
                    return
                self.shown = True
                self.bar = _bar(self.what, self.stages)
                if self.bar is None:
                    sys.stderr.write(f"{self.what}: still building ({self.current}), "
                                     f"{clock() - self.start:.1f} s so far...\n")
                    sys.stderr.flush()
                    return
                self.bar.update(self.done)
            if self.bar is not None:
                self.bar.set_postfix_str(self.current, refresh=False)
                self.bar.refresh()

    def stage(self, name: str) -> None:
        """A new stage begins (the previous one is done)."""
        if not self.visible:
            return
        with self._lock:
            if self.current:
                self.done += 1
                if self.bar is not None:
                    self.bar.update(1)
            self.current = name
        self._check()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._finished.set()
        if self._watcher is not None:
            self._watcher.join()
        if self.bar is not None:
            self.bar.close()


def build(what: str, stages: int, show: Setting | None = None) -> Build:
    """A `Build` for `what` of `stages` stages (see the module's docstring); `show`: the
    compiled function's own setting, which wins over `ENABLED`."""
    return Build(what, stages, show)
