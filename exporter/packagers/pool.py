"""Render tasks on every core, each under a time and memory budget.

A task is a plain picklable function and argument; any concurrent.futures executor could run
it. Here it runs in worker processes forked from a server that has WeasyPrint imported already,
so a worker holds its task, never the parent's vault. In the worker a task gets an address-space
limit (RLIMIT_AS) and a wall-clock alarm; past either it ends with a reason instead of a
result. A worker that dies outright (a crash in C) breaks the pool: the unfinished tasks then run
again one at a time, so only the one that crashes is lost.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import resource
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

MEMORY = 1 << 30  # address space a worker may use, WeasyPrint and fonts included (~4x a part's need)
MARGIN = 64 << 20  # address space short of the limit at which a failure is the limit's (_ran_out)
GRACE = 30.0  # seconds past a task's budget before the parent stops waiting for its worker
# imported once by the fork server: workers start warm (the script a worker imports again as its
# __main__, exporter/__main__.py, imports nothing), with what they inherit frozen (server.py)
PRELOAD = ["exporter.packagers.weasy", "exporter.packagers.server"]
COLLECT = (50_000, 20, 100)  # the cycle collector's thresholds (Python's own: 700, 10, 10)
# A render leaves cycles (boxes, styles) that only a full collection frees, and at COLLECT's
# thresholds one comes about every hundred million allocations: a worker then holds the garbage
# of dozens of parts. One full collection every COLLECT_EVERY tasks frees it (63 dossier parts in
# one process: peak RSS 127 -> 83 MB, the collections 0.43 s of 18.8 s of CPU).
COLLECT_EVERY = 4
# A run keeps WINDOW tasks a worker submitted at a time, not all of them: a task started ahead
# while a run goes on (Workers.ahead) waits for those, not for every task of the run.
WINDOW = 2
# Tasks a pool's workers run, RECYCLE each, before new workers take over (forked warm from the
# server): a worker's heap grows by about 20 KB a dossier part after its first fifty (caches
# WeasyPrint keeps), so without it a 1,000-note dossier's workers held 15 MB more than a 100-note
# one's. At 64 a 100-note dossier's workers are never replaced.
RECYCLE = 64
_tasks = 0  # tasks this worker has run


def collect_rarely() -> None:
    """Young-generation passes every 50,000 allocations instead of 700. A dossier part's layout
    makes millions of boxes, style dicts and text runs with few cycles among them; at Python's
    thresholds the collector keeps rescanning them: 30 parts rendered in one process took
    26.1 s of CPU against 28.2 s (four interleaved rounds), and the parent's document model
    gains the same way. Cycles that layout does make are still freed by the rarer passes."""
    gc.set_threshold(*COLLECT)


class _Overtime(BaseException):
    """Raised by the alarm; a BaseException so that no `except Exception` in a library keeps it."""


@dataclass(frozen=True)
class Outcome(Generic[R]):
    value: R | None = None
    error: str | None = None  # why there is no value
    over: bool = False  # the task ran past its budget (time, memory) or crashed its worker


def in_room(fn: Callable[[Any], R], arg: Any) -> R:
    """fn(arg), called from a frame that keeps room for all of fn's frames (see ROOM)."""
    return fn(arg)


# CPython keeps its frames on a stack of 16 KB chunks, each mapped when a call needs it and
# unmapped when that call returns: a render's calls go up and down across such a border
# hundreds or thousands of times a document (counted with strace: 470 times a note in a plain
# process, about 3,200 a dossier part in a worker), each time a mmap, a munmap and fresh pages
# to fault in. A frame is given the room its code object asks for; this one asks for ROOM
# slots it never uses, so the chunk made for it has room left for every frame of a render
# (WeasyPrint's layout recurses deep, but not 250 KB deep), and the border is crossed once a task.
ROOM = 34_000  # slots of 8 bytes: a 272 KB frame in a 512 KB chunk
in_room.__code__ = in_room.__code__.replace(co_stacksize=ROOM)


def _budgeted(fn: Callable[[Any], R], arg: Any, seconds: float, memory: int) -> Outcome[R]:
    """Run in the worker: fn(arg) under the memory limit and an alarm."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY or soft > memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, hard))

    def alarm(signum: int, frame: Any) -> None:
        raise _Overtime

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    before = _peak()
    try:
        return Outcome(in_room(fn, arg))
    except _Overtime:
        return Outcome(error=f"took over {seconds:.0f} s to render", over=True)
    except MemoryError:
        return Outcome(error=f"needed more than {memory >> 20} MiB to render", over=True)
    except Exception as e:  # the task's own failure, for the caller to report; or the memory's end
        if _ran_out(before, memory, e):
            return Outcome(error=f"needed more than {memory >> 20} MiB to render", over=True)
        return Outcome(error=" ".join(str(e).split())[:300] or type(e).__name__)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        _collected()


def _peak() -> int | None:
    """The most address space this process has held (VmPeak), in bytes; None where unknown."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmPeak:"):
                    return int(line.split()[1]) << 10
    except (OSError, ValueError, IndexError):
        pass
    return None


def _ran_out(before: int | None, memory: int, error: Exception) -> bool:
    """Whether a task's failure is the address-space limit reached. Not every allocation that
    fails there raises MemoryError: CPython 3.11 reports a frame it cannot allocate as a bare
    SystemError ("error return without exception set"), and a C library may return NULL to code
    that then fails otherwise. So a failure while the process's peak came within MARGIN of the
    limit, where it was not before the task, is the memory's (or a SystemError there, if an
    earlier task in this worker reached the limit already)."""
    after = _peak()
    if after is None or after < memory - MARGIN:
        return False
    return before is None or before < memory - MARGIN or isinstance(error, SystemError)


def _collected() -> None:
    """After a task: every COLLECT_EVERY tasks, the garbage of those before freed."""
    global _tasks
    _tasks += 1
    if _tasks % COLLECT_EVERY == 0:
        gc.collect()


def _context() -> Any:
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        return ctx
    return multiprocessing.get_context("spawn")


def serve_early() -> None:
    """Start the fork server now, so that it imports WeasyPrint while the caller imports and
    reads everything else (the workers are forked from it once it has). Nothing to do where
    there is no fork server; a server that cannot start is started again when workers are."""
    ctx = _context()
    if ctx.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        with contextlib.suppress(OSError):
            forkserver.ensure_running()


def _settled() -> None:
    """A worker's start: what it has from the fork server (WeasyPrint, fonts, the warm-up)
    lives as long as the worker, so it is frozen out of the cycle collector. A full collection
    in a render then walks the render's objects alone: measured over 40 dossier parts, the
    full collections took 0.22-0.33 s instead of 0.43-0.57 s. The server froze its own heap
    before forking (server.py), so this collects only what the worker made since; where there
    is no fork server (spawn), it is the whole of it."""
    collect_rarely()  # a worker is forked (or spawned) with Python's thresholds
    gc.collect()
    gc.freeze()


def most_jobs() -> int:
    """Workers a pool starts at most, whatever it is asked: past the cores a worker only holds
    memory (a fork of WeasyPrint each), and --jobs 99999999999999999 overflowed a C int."""
    return max(8, 2 * (os.cpu_count() or 1))


class Workers:
    """A process pool for budgeted tasks. `run` returns outcomes in task order."""

    def __init__(self, jobs: int, memory: int | None = None) -> None:
        self.jobs = max(1, min(jobs, most_jobs()))
        self.memory = memory or MEMORY
        self._pool: ProcessPoolExecutor | None = None
        self._given = 0  # tasks submitted to the pool (RECYCLE)
        self._retired: list[ProcessPoolExecutor] = []  # pools finishing their last tasks
        self._lock = threading.Lock()  # run() and ahead() may submit at once
        self._warming: threading.Thread | None = None
        self._ahead: list[tuple[Callable[[Any], Any], Any, Future[Any]]] = []  # (fn, arg, its future)
        self._submitting: threading.Thread | None = None

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        if kind is not None and issubclass(kind, KeyboardInterrupt):  # stopped: no task is waited for
            self._kill()
        self.close()

    def close(self) -> None:
        self._settle()
        self._taken()  # tasks no run() took are let go
        for pool in [*self._retired, *([self._pool] if self._pool is not None else [])]:
            pool.shutdown(wait=True, cancel_futures=True)
        self._pool, self._retired = None, []

    def start(self) -> None:
        """Start the workers in the background: the fork server imports WeasyPrint while the
        caller reads the notes. Not with plain fork (tests use it): a process forked while
        another thread starts pandoc keeps that pipe open, and the start never returns."""
        if _context().get_start_method() == "fork" or self._pool is not None or self._warming is not None:
            return  # (or started already)

        def warm() -> None:
            pool = self._executor()
            for _ in range(self.jobs):
                pool.submit(os.getpid)

        self._warming = threading.Thread(target=warm, daemon=True)
        self._warming.start()

    def ahead(self, fn: Callable[[T], R], tasks: Iterable[tuple[T, float]]) -> None:
        """Start tasks now, which a later run() with the same fn and argument (the same object)
        takes instead of starting them again: they render while the caller prepares the rest.
        Submitted from a thread of its own, which waits for the workers to be up if they are
        not yet; with plain fork from this one (see start). Nothing with one job (run() then
        starts each task in a pool of its own)."""
        todo = list(tasks)
        if self.jobs == 1 or not todo:
            return
        if self._submitting is not None:  # those started before stay for run() to take
            self._submitting.join()
            self._submitting = None

        def submit() -> None:
            with contextlib.suppress(BrokenProcessPool, RuntimeError):  # run() starts what is not
                for arg, seconds in todo:
                    self._ahead.append((fn, arg, self._submit(fn, arg, seconds)))

        if _context().get_start_method() == "fork":
            submit()
            return
        self._submitting = threading.Thread(target=submit, daemon=True)
        self._submitting.start()

    def _taken(self) -> list[tuple[Callable[[Any], Any], Any, Future[Any]]]:
        """The tasks started ahead, once their submission is done; they are handed over once."""
        if self._submitting is not None:
            self._submitting.join()
            self._submitting = None
        taken, self._ahead = self._ahead, []
        return taken

    def _settle(self) -> None:
        if self._warming is not None:
            self._warming.join()
            self._warming = None

    def _submit(self, fn: Callable[[Any], Any], arg: Any, seconds: float) -> Future[Any]:
        """A budgeted task into the pool; past RECYCLE tasks a worker, into a new one (the old
        one's workers end once their tasks are done)."""
        with self._lock:
            if self._pool is not None and self._given >= RECYCLE * self.jobs:
                self._retired.append(self._pool)
                self._pool.shutdown(wait=False)
                self._pool = None
            if self._pool is None:
                self._given = 0
            future = self._executor().submit(_budgeted, fn, arg, seconds, self.memory)
            self._given += 1
            return future

    def _executor(self, jobs: int | None = None) -> ProcessPoolExecutor:
        if self._warming is not None and threading.current_thread() is not self._warming:
            self._settle()
        if self._pool is None:
            self._pool = ProcessPoolExecutor(jobs or self.jobs, mp_context=_context(), initializer=_settled)
        return self._pool

    def _kill(self) -> None:
        """Stop a pool whose worker no longer answers (stuck outside Python)."""
        self._taken()
        pools = [*self._retired, *([self._pool] if self._pool is not None else [])]
        self._pool, self._retired = None, []
        for pool in pools:
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                process.kill()
            pool.shutdown(wait=True, cancel_futures=True)

    def run(self, fn: Callable[[T], R], tasks: Iterable[tuple[T, float]],
            keep: Callable[[int, Outcome[R]], Outcome[R]] | None = None,
            order: Sequence[int] | None = None) -> list[Outcome[R]]:
        """fn(arg) for each (arg, seconds); in order, each a value or the reason it has none.
        keep(index of the task, outcome), called on each as it comes, gives what is kept of it
        (results too big to hold all at once can go to disk; the first can be used at once).
        order: the tasks' indexes in the order they start, for a caller that uses them as they
        come; else the longest first (by budget, which grows with the task's size), so that the
        last to finish are short ones and no core waits long for another at the end."""
        todo = list(tasks)
        kept = keep or (lambda i, outcome: outcome)
        outcomes: list[Outcome[R] | None] = [None] * len(todo)
        pending = sorted(range(len(todo)), key=lambda i: -todo[i][1]) if order is None else list(order)
        if order is not None and sorted(pending) != list(range(len(todo))):
            raise ValueError("order must name every task once")
        alone = self.jobs == 1
        started = self._taken()
        while pending:
            if alone:  # after a crash: one at a time, so the crash names its task
                i = pending.pop(0)
                outcome = self._one(fn, todo[i])
                outcomes[i] = kept(i, outcome)
                continue
            futures: dict[Future[Outcome[R]], int] = {}
            waiting: deque[int] = deque()
            for i in pending:  # a task started ahead is taken as it is (once)
                arg = todo[i][0]
                at = next((k for k, (f, a, _) in enumerate(started) if f is fn and a is arg), None)
                if at is not None:
                    futures[started.pop(at)[2]] = i
                else:
                    waiting.append(i)
            started = []
            longest = max(todo[i][1] for i in pending)
            deadline = time.monotonic() + longest * len(pending) / self.jobs + GRACE * 2
            broken = False
            while futures or (waiting and not broken):
                while waiting and not broken and len(futures) < WINDOW * self.jobs:
                    i = waiting[0]
                    try:
                        futures[self._submit(fn, *todo[i])] = i
                    except BrokenProcessPool:  # a task (one started ahead) has crashed it already
                        broken = True
                        break
                    waiting.popleft()
                done, _ = wait(futures, timeout=max(0.0, deadline - time.monotonic()), return_when=FIRST_COMPLETED)
                if not done:  # a worker stuck outside Python
                    broken = True
                    break
                for fut in done:
                    i = futures.pop(fut)  # the result is let go once kept
                    try:
                        outcome = fut.result()
                    except (BrokenProcessPool, CancelledError):  # cancelled: its pool was stopped
                        broken = True
                        continue
                    outcomes[i] = kept(i, outcome)
            pending = [i for i in pending if outcomes[i] is None]
            if broken:
                self._kill()
                alone = True
        return [o if o is not None else Outcome(error="was not rendered", over=True) for o in outcomes]

    def _one(self, fn: Callable[[T], R], task: tuple[T, float]) -> Outcome[R]:
        """One task in a single-worker pool; a crash or a hang costs only this task. A pool
        broken before the task is in (by the task before, or a worker that died as it started)
        is started again, once: that raised out of the command as a traceback."""
        arg, seconds = task
        for _ in range(2):
            try:
                fut = self._executor(1).submit(_budgeted, fn, arg, seconds, self.memory)
            except BrokenProcessPool:
                self._kill()
                continue
            try:
                return fut.result(timeout=seconds + GRACE)
            except BrokenProcessPool:
                self._kill()
                return Outcome(error="crashed the renderer", over=True)
            except TimeoutError:
                self._kill()
                return Outcome(error=f"took over {seconds:.0f} s to render", over=True)
        return Outcome(error="the renderer could not start", over=True)
