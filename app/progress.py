"""Progress of a report run: a bar on a terminal (tqdm), periodic log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from typing import Never

from tqdm import tqdm

from app.genesys import stats as request_stats
from app.pipeline.run import Progress

log = logging.getLogger(__name__)


class RunProgress:
    """Windows done of total, conversations, requests, 429s, elapsed and ETA."""

    def __init__(self, label: str, *, terminal: bool | None = None) -> None:
        self._label = label
        self._terminal = sys.stderr.isatty() if terminal is None else terminal
        self._bar: tqdm[Never] | None = None
        self._total = 0
        self._done = 0
        self._records = 0
        self._started = time.monotonic()
        self._next_log = 0.0

    def hooks(self) -> Progress:
        return Progress(
            windows_planned=self._planned, window_done=self._window_done, stage=self._stage
        )

    def _planned(self, total: int) -> None:
        self._total = total
        if self._terminal:
            self._bar = tqdm(
                total=total, desc=self._label, unit="window", file=sys.stderr, leave=False
            )

    def _figures(self) -> dict[str, int]:
        stats = request_stats.current()
        return {
            "conversations": self._records,
            "requests": stats.requests if stats else 0,
            "429s": stats.throttled if stats else 0,
        }

    def _window_done(self, records: int) -> None:
        self._done += 1
        self._records += records
        if self._bar is not None:
            self._bar.set_postfix(self._figures(), refresh=False)
            self._bar.update(1)
            return
        elapsed = time.monotonic() - self._started
        if elapsed < self._next_log and self._done < self._total:
            return
        self._next_log = elapsed + 10  # a line every 10 s at most, plus the last one
        rate = self._done / elapsed if elapsed else 0.0
        eta = (self._total - self._done) / rate if rate else 0.0
        figures = self._figures()
        log.info(
            "%s: %d/%d windows, %d conversations fetched, %d requests, %d 429s, "
            "elapsed %.0f s, eta %.0f s",
            self._label,
            self._done,
            self._total,
            figures["conversations"],
            figures["requests"],
            figures["429s"],
            elapsed,
            eta,
        )

    def _stage(self, name: str) -> None:
        if self._bar is not None:
            self._bar.set_description(f"{self._label} ({name})")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
