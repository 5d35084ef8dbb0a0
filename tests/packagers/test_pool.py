"""Budgeted render tasks: a result, or the reason there is none; one bad task costs only itself."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from concurrent.futures.process import BrokenProcessPool

import pytest

from exporter.packagers import pool
from exporter.packagers.pool import Workers


def echo(x: int) -> int:
    return x * 2


def sleepy(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def spin(seconds: float) -> int:
    """Busy in Python, as a long layout is."""
    end, n = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        n += 1
    return n


def hog(mb: int) -> int:
    return len(bytearray(mb << 20))


def crash(code: int) -> int:
    os._exit(code)


def fails(message: str) -> int:
    raise ValueError(message)


def test_results_come_back_in_order() -> None:
    with Workers(2) as workers:
        outcomes = workers.run(echo, [(i, 10.0) for i in range(7)])
    assert [o.value for o in outcomes] == [0, 2, 4, 6, 8, 10, 12]
    assert not any(o.error or o.over for o in outcomes)


def started(x: int) -> float:
    return time.monotonic()


def test_tasks_start_in_the_order_given_else_the_longest_first() -> None:
    """One worker runs one task at a time, so the tasks' start times give the order."""
    with Workers(1) as workers:
        given = workers.run(started, [(i, 10.0 + i) for i in range(4)], order=[2, 0, 3, 1])
        longest = workers.run(started, [(i, 10.0 + i) for i in range(4)])
    assert sorted(range(4), key=lambda i: given[i].value or 0.0) == [2, 0, 3, 1]
    assert sorted(range(4), key=lambda i: longest[i].value or 0.0) == [3, 2, 1, 0]
    with Workers(1) as workers, pytest.raises(ValueError, match="every task once"):
        workers.run(started, [(i, 10.0) for i in range(3)], order=[0, 0, 1])


def test_keep_sees_each_outcome_as_it_comes_even_after_a_crash() -> None:
    """What keep returns is what run gives back, for every task, whether run in the pool or,
    after a crash, one at a time."""
    from exporter.packagers.pool import Outcome

    seen: list[tuple[int, int | None]] = []

    def keep(i: int, outcome: Outcome[int]) -> Outcome[int]:
        seen.append((i, outcome.value))
        return Outcome(-outcome.value) if outcome.value is not None else outcome

    with Workers(2) as workers:
        outcomes = workers.run(crash_or_echo, [(i, 10.0) for i in range(6)], keep)
    assert [o.value for o in outcomes] == [0, -2, -4, None, -8, -10]
    assert sorted(seen, key=lambda iv: iv[0]) == [(0, 0), (1, 2), (2, 4), (3, None), (4, 8), (5, 10)]


def test_a_task_past_its_time_ends_with_the_reason_and_the_others_finish() -> None:
    with Workers(2) as workers:
        outcomes = workers.run(spin, [(0.1, 5.0), (30.0, 1.0), (0.1, 5.0)])
    assert outcomes[1].value is None and outcomes[1].over
    assert outcomes[1].error == "took over 1 s to render"
    assert outcomes[0].value and outcomes[2].value


def test_a_task_past_its_memory_ends_with_the_reason() -> None:
    with Workers(1, memory=512 << 20) as workers:
        big, small = workers.run(hog, [(2048, 30.0), (8, 30.0)])
    assert big.value is None and big.over and big.error == "needed more than 512 MiB to render"
    assert small.value == 8 << 20


def filled_then(kind: str) -> int:
    """Fill the address space up to its limit, let it go, then fail the way code that meets the
    limit can without a MemoryError: CPython's bare SystemError for a frame it cannot allocate,
    or a library's own error where an allocation in C returned nothing."""
    held = []
    with contextlib.suppress(MemoryError):
        while True:
            held.append(bytearray(16 << 20))
    del held
    if kind == "frame":
        raise SystemError("error return without exception set")
    raise ValueError("the layout came back empty")


def test_a_task_that_fails_otherwise_at_its_memory_limit_ends_with_that_reason() -> None:
    with Workers(1, memory=512 << 20) as workers:  # one worker: its peak stays at the limit
        library, frame, own = workers.run(filled_then, [("library", 30.0), ("frame", 30.0)]) + workers.run(
            fails, [("bad input", 10.0)])
    for outcome in (library, frame):
        assert outcome.value is None and outcome.over and outcome.error == "needed more than 512 MiB to render"
    # a task's own error in a worker that reached its limit before is still its own
    assert own.value is None and not own.over and own.error == "bad input"


def test_a_crash_costs_only_its_own_task() -> None:
    with Workers(2) as workers:
        outcomes = workers.run(crash_or_echo, [(i, 10.0) for i in range(6)])
    assert [o.value for o in outcomes] == [0, 2, 4, None, 8, 10]
    assert outcomes[3].over and outcomes[3].error == "crashed the renderer"


def test_a_pool_broken_before_a_task_is_started_again() -> None:
    """A pool a crash had broken (or whose workers died as they started, as the warm-up finds)
    raised BrokenProcessPool out of the command when the next task was put in it alone."""
    with Workers(1) as workers:
        with pytest.raises(BrokenProcessPool):
            workers._executor().submit(crash, 1).result(timeout=30)
        outcomes = workers.run(echo, [(1, 10.0), (2, 10.0)])
    assert [o.value for o in outcomes] == [2, 4]


def crash_or_echo(x: int) -> int:
    return crash(1) if x == 3 else echo(x)


def counted(arg: tuple[str, int]) -> int:
    """Writes its number to a file as it runs, so that a test can count the runs."""
    path, x = arg
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"{x}\n")
    return x * 2


def test_a_task_started_ahead_is_taken_by_run_not_run_again(tmp_path) -> None:  # type: ignore[no-untyped-def]
    runs = tmp_path / "runs"
    tasks = [((str(runs), i), 10.0) for i in range(5)]
    with Workers(2) as workers:
        workers.ahead(counted, [tasks[3], tasks[0]])
        again = [((str(runs), 0), 10.0)]  # equal to one started ahead, but not the same object
        outcomes = workers.run(counted, tasks + again)
    assert [o.value for o in outcomes] == [0, 2, 4, 6, 8, 0]
    assert sorted(runs.read_text().split()) == ["0", "0", "1", "2", "3", "4"]


def test_a_task_started_ahead_that_crashes_costs_only_itself() -> None:
    tasks = [(i, 10.0) for i in range(6)]
    with Workers(2) as workers:
        workers.ahead(crash_or_echo, [tasks[3]])
        outcomes = workers.run(crash_or_echo, tasks)
    assert [o.value for o in outcomes] == [0, 2, 4, None, 8, 10]
    assert outcomes[3].over and outcomes[3].error == "crashed the renderer"


def test_a_pool_broken_by_a_task_started_ahead_before_run_costs_only_that_task() -> None:
    tasks = [(i, 10.0) for i in range(4)]
    with Workers(2) as workers:
        workers.ahead(crash_or_echo, [tasks[3]])
        workers._taken()[0][2].exception(timeout=10)  # the pool is broken before run() submits
        workers._ahead = []
        outcomes = workers.run(crash_or_echo, tasks)
    assert [o.value for o in outcomes] == [0, 2, 4, None]
    assert outcomes[3].over and outcomes[3].error == "crashed the renderer"


def test_with_one_job_nothing_is_started_ahead(tmp_path) -> None:  # type: ignore[no-untyped-def]
    runs = tmp_path / "runs"
    task = ((str(runs), 7), 10.0)
    with Workers(1) as workers:
        workers.ahead(counted, [task])
        assert not runs.exists()
        (outcome,) = workers.run(counted, [task])
    assert outcome.value == 14 and runs.read_text().split() == ["7"]


def frozen(x: int) -> int:
    import gc

    return gc.get_freeze_count()


def test_a_worker_starts_with_what_it_inherited_frozen_out_of_the_collector() -> None:
    with Workers(2) as workers:
        outcomes = workers.run(frozen, [(0, 10.0), (1, 10.0)])
    assert all((o.value or 0) > 1000 for o in outcomes)


def thresholds(_: int) -> tuple[int, int, int]:
    import gc

    return gc.get_threshold()


def test_a_worker_collects_cycles_as_rarely_as_the_command_line_does() -> None:
    assert pool.COLLECT != (700, 10, 10)  # Python's own, which a worker starts with
    with Workers(2) as workers:
        outcomes = workers.run(thresholds, [(0, 10.0), (1, 10.0)])
    assert [o.value for o in outcomes] == [pool.COLLECT, pool.COLLECT]


def full_collections(_: int) -> int:
    import gc

    return int(gc.get_stats()[2]["collections"])


def test_a_worker_frees_the_garbage_of_its_tasks_every_few_tasks() -> None:
    """A full collection after every COLLECT_EVERY-th task (the rare thresholds alone leave a
    render's cycles for dozens of tasks)."""
    every = pool.COLLECT_EVERY
    with Workers(1) as workers:
        seen = [o.value for o in workers.run(full_collections, [(k, 10.0) for k in range(2 * every + 1)])]
    assert all(isinstance(n, int) for n in seen)
    counts = [n for n in seen if isinstance(n, int)]
    assert counts[every] == counts[0] + 1 and counts[2 * every] == counts[0] + 2


def test_a_task_that_raises_reports_its_error_without_blaming_the_budget() -> None:
    with Workers(1) as workers:
        (outcome,) = workers.run(fails, [("bad\ninput", 10.0)])
    assert outcome.value is None and not outcome.over and outcome.error == "bad input"


def test_a_task_stuck_outside_python_is_stopped_by_the_parent(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import exporter.packagers.pool as pool

    monkeypatch.setattr(pool, "GRACE", 1.0)
    with Workers(1) as workers:
        # the alarm cannot interrupt a blocked C call: the parent's wait ends it
        outcomes = workers.run(blocked, [(60.0, 1.0), (0.0, 5.0)])
    assert outcomes[0].over and outcomes[0].error == "took over 1 s to render"
    assert outcomes[1].value == 0.0


def test_a_task_stuck_outside_python_among_others_is_stopped_and_the_others_kept(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The same with two workers, whose run submits a few tasks at a time: the run's deadline
    stops the stuck one; the tasks done are kept, and the rest run again alone."""
    import exporter.packagers.pool as pool

    monkeypatch.setattr(pool, "GRACE", 1.0)
    with Workers(2) as workers:
        outcomes = workers.run(blocked, [(30.0, 0.5), *((0.0, 0.5) for _ in range(6))], order=list(range(7)))
    assert outcomes[0].over and outcomes[0].error == "took over 0 s to render"
    assert [o.value for o in outcomes[1:]] == [0.0] * 6


def blocked(seconds: float) -> float:
    import signal

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})  # as a C library might
    time.sleep(seconds)
    return seconds


SERVER = """
import sys
sys.argv = ["exporter", *sys.argv[1:]]
import exporter.cli
from multiprocessing import forkserver
print(forkserver._forkserver._forkserver_pid is not None)
"""


@pytest.mark.parametrize(("command", "started"), [("pdf", "True"), ("bundle", "False")])
def test_the_renderer_starts_before_the_commands_are_imported_when_the_command_renders(
        command: str, started: str) -> None:
    """`exporter pdf` starts the fork server as the command line is imported, so that it
    imports WeasyPrint meanwhile; a command that renders nothing starts none."""
    out = subprocess.run([sys.executable, "-c", SERVER, command], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == started, out.stderr


def test_the_script_a_worker_imports_again_imports_nothing_of_the_command_line() -> None:
    """A worker imports the script that started the run (exporter/__main__.py) before its first
    task; that costs nothing when the command line is imported only by run()."""
    out = subprocess.run([sys.executable, "-c", "import sys, exporter.__main__; print('exporter.cli' in sys.modules)"],
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
    assert "exporter.cli" not in pool.PRELOAD


def _down(depth: int) -> int:
    return 0 if depth == 0 else 1 + _down(depth - 1)


def _bounces(times: int) -> int:
    """Page faults taken while calls go 300 frames down and back up, again and again."""
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(times):
        _down(300)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_a_task_runs_in_room_of_its_own_so_its_calls_map_no_stack_chunks() -> None:
    """300 frames span more than one of CPython's 16 KB frame chunks: called plainly, each trip
    down maps a fresh chunk (and faults its pages in) and each trip back unmaps it. In the room
    in_room keeps, they map nothing."""
    from exporter.packagers import pool

    plain = _bounces(500)
    roomy = pool.in_room(_bounces, 500)
    assert plain >= 500, plain
    assert roomy < 50, roomy


def test_a_pool_asked_for_more_workers_than_make_sense_starts_a_few() -> None:
    with Workers(99999999999999999) as workers:  # overflowed a C int in multiprocessing
        assert workers.jobs == pool.most_jobs() >= 8
        assert [o.value for o in workers.run(echo, [(k, 5.0) for k in range(3)])] == [0, 2, 4]


def pid(x: int) -> int:
    return os.getpid()


def test_workers_are_replaced_after_their_share_of_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker's heap only grows over its tasks: past RECYCLE tasks a worker, new ones (forked
    warm) take over, and every task still gives its result."""
    with Workers(2) as workers:
        assert len({o.value for o in workers.run(pid, [(i, 10.0) for i in range(8)])}) <= 2
    monkeypatch.setattr(pool, "RECYCLE", 2)
    with Workers(2) as workers:
        outcomes = workers.run(echo, [(i, 10.0) for i in range(12)])
        pids = {o.value for o in workers.run(pid, [(i, 10.0) for i in range(12)])}
    assert [o.value for o in outcomes] == [2 * i for i in range(12)]
    assert len(pids) >= 3  # three pools at least, each with its own workers


@pytest.mark.parametrize("at", [1, 3, 6])  # in the first pool (retired by then), or in a later one
def test_a_crash_among_replaced_workers_costs_only_its_own_task(monkeypatch: pytest.MonkeyPatch, at: int) -> None:
    monkeypatch.setattr(pool, "RECYCLE", 1)
    with Workers(2) as workers:
        outcomes = workers.run(crash_at, [((i, at), 10.0) for i in range(9)], order=list(range(9)))
        after = workers.run(echo, [(i, 10.0) for i in range(4)])
    assert [o.value for o in outcomes] == [None if i == at else 2 * i for i in range(9)]
    assert outcomes[at].over and outcomes[at].error == "crashed the renderer"
    assert [o.value for o in after] == [0, 2, 4, 6]


def crash_at(arg: tuple[int, int]) -> int:
    x, at = arg
    return crash(1) if x == at else echo(x)


def test_a_task_started_ahead_during_a_run_waits_for_a_few_tasks_not_for_the_run() -> None:
    """A run submits a few tasks a worker at a time (WINDOW): one started ahead meanwhile (the
    backlinks' numbers of a dossier, as its parts come) starts before the run's last tasks."""
    later = (99, 10.0)
    with Workers(2) as workers:
        def keep(i: int, outcome: pool.Outcome[float]) -> pool.Outcome[float]:
            if i == 0:
                workers.ahead(slow_start, [later])
            return outcome

        first = workers.run(slow_start, [(i, 10.0) for i in range(16)], keep, order=list(range(16)))
        (taken,) = workers.run(slow_start, [later])
    starts = sorted(o.value or 0.0 for o in first)
    assert taken.value is not None and taken.value < starts[-6]


def slow_start(x: int) -> float:
    at = time.monotonic()
    time.sleep(0.05)
    return at
