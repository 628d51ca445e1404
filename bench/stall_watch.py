"""Where a benchmark's process stalls, without a profiler that can attach to it.

py-spy cannot read a process with 5,000 actor threads ("Failed to find python version"), so
this watches from inside, at a cost (about a tenth of a core), which is why benchmarks turn it
on only when asked (`bench_api.py --watch-stalls`):

- a thread that sleeps 2 ms in a loop and notes every time it woke more than `STALL_S` late:
  the interpreter was not handed to it for that long (a long call that keeps the GIL, a
  collection, or simply more runnable threads than the GIL serves in time);
- a sampler that, every `SAMPLE_S`, notes where every thread that is not idle stands (its
  innermost frames): a thread that waits on a lock shows the line that takes it, so a
  contended lock is at the top of the list.
"""

from __future__ import annotations

import collections
import sys
import threading
import time
from typing import Any

STALL_S = 0.08
SAMPLE_S = 0.05
DEPTH = 5
# Innermost frames of a thread that waits for work (a queue, a socket, a timer), not for a lock
# somebody holds. A pool worker waiting on its queue shows its own `_worker` frame; uvloop's
# event loop, all C, shows asyncio's `Runner.run`.
IDLE = frozenset(
    {"wait", "get", "select", "sleep", "poll", "accept", "recv", "readline", "join", "_worker"}
)
IDLE_PLACES = frozenset({"runners.py:run"})


class StallWatch:
    def __init__(self) -> None:
        self._stop = threading.Event()
        self._stalls: list[float] = []
        self._where: collections.Counter[str] = collections.Counter()
        self._samples = 0
        self._threads = [
            threading.Thread(target=self._watch, name="stall-watch", daemon=True),
            threading.Thread(target=self._sample, name="stall-sample", daemon=True),
        ]

    def start(self) -> StallWatch:
        for thread in self._threads:
            thread.start()
        return self

    def take(self, top: int = 15) -> dict[str, Any]:
        """What was seen since the last take, and start over."""
        stalls, self._stalls = self._stalls, []
        where, self._where = self._where, collections.Counter()
        samples, self._samples = self._samples, 0
        return {
            f"stalls_over_{STALL_S * 1000:g}ms": len(stalls),
            "worst_stall_ms": round(max(stalls) * 1000, 1) if stalls else 0.0,
            "samples": samples,
            # threads found at that place, summed over the samples: divide by `samples` for
            # how many stood there on average
            "busiest_places": where.most_common(top),
        }

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _watch(self) -> None:
        while not self._stop.is_set():
            began = time.perf_counter()
            time.sleep(0.002)
            late = time.perf_counter() - began - 0.002
            if late > STALL_S:
                self._stalls.append(late)

    def _sample(self) -> None:
        # ours, and the main thread's (the benchmark's own, asleep between its slots)
        mine = {thread.ident for thread in self._threads} | {threading.main_thread().ident}
        while not self._stop.wait(SAMPLE_S):
            self._samples += 1
            for ident, frame in sys._current_frames().items():
                code = frame.f_code
                if ident in mine or code.co_name in IDLE:
                    continue
                if f"{code.co_filename.rsplit('/', 1)[-1]}:{code.co_name}" in IDLE_PLACES:
                    continue
                self._where[_place(frame)] += 1


def _place(frame: Any) -> str:
    parts: list[str] = []
    while frame is not None and len(parts) < DEPTH:
        code = frame.f_code
        parts.append(f"{code.co_filename.rsplit('/', 1)[-1]}:{code.co_name}:{frame.f_lineno}")
        frame = frame.f_back
    return " < ".join(parts)
