"""File-system events (watchdog) that wake the tailing loop; polling remains the fallback.

The loop always stats and re-globs on its own clock (``poll_interval_seconds`` /
``glob_interval_seconds``), so a lost event, a file system without notifications (NFS, some
containers) or a missing ``watchdog`` only delays a line, never loses one. Events only make the
loop react at once. Directories of the patterns that do not exist yet are scheduled when they
appear (``refresh``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Iterable
from typing import Any

from workbench.collector.paths import watch_dirs

log = logging.getLogger("workbench.collector")
_IGNORED_EVENTS = frozenset({"opened", "closed_no_write"})


class ChangeNotifier:
    def __init__(self, patterns: Iterable[str], on_change: Callable[[], None],
                 ignore: Iterable[str] = ()) -> None:  # fmt: skip
        self.patterns = tuple(patterns)
        self.on_change = on_change
        self.ignore = tuple(os.path.realpath(p) for p in ignore)
        self.observer: Any = None
        self.scheduled: dict[str, bool] = {}
        self.active = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> bool:
        """Start watching; False (and polling only) when watchdog is missing or cannot watch."""
        try:
            from watchdog.observers import Observer
        except ImportError:
            log.info("watchdog is not installed: following files by polling only")
            return False
        self._loop = asyncio.get_running_loop()
        self.observer = Observer()
        self.observer.daemon = True
        try:
            self.refresh()
            self.observer.start()
        except OSError as exc:  # e.g. the inotify watch limit
            log.warning("file-system events unavailable (%s): following files by polling only", exc)
            self.observer = None
            return False
        self.active = True
        return True

    def refresh(self) -> None:
        if self.observer is None:
            return
        from watchdog.events import FileSystemEventHandler

        notifier = self

        class _Handler(FileSystemEventHandler):
            def on_any_event(self, event: Any) -> None:
                if event.event_type in _IGNORED_EVENTS or (
                    event.is_directory and event.event_type == "modified"
                ):
                    return
                path = os.fsdecode(event.src_path)
                if notifier.ignore and os.path.realpath(path).startswith(notifier.ignore):
                    return
                loop = notifier._loop
                if loop is not None and not loop.is_closed():
                    with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                        loop.call_soon_threadsafe(notifier.on_change)

        for directory, recursive in watch_dirs(self.patterns).items():
            if self.scheduled.get(directory) is not None and (self.scheduled[directory] or not recursive):
                continue
            self.observer.schedule(_Handler(), directory, recursive=recursive)
            self.scheduled[directory] = recursive

    def stop(self) -> None:
        if self.observer is not None:
            self.observer.stop()
            self.observer.join(timeout=5)
            self.observer = None
        self.active = False
