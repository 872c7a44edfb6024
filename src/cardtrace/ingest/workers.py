"""Preparing records in worker processes, so validation runs on every core.

Validation and protection cost several times more than storing (docs/performance.md),
and the GIL keeps them on one core. Each of n workers reads every file but prepares
only its share of the records (every n-th block of them, see ``readers.Share``) and
sends the prepared batches back through its own bounded queue; the parent takes one
batch from each worker in turn, so the order of storage, and therefore of the log, is
the same on every run. The parent alone writes to the database, so the transactional
guarantees do not change. A worker ends when its parent does, even one killed with no
chance to stop its workers.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from queue import Empty
from typing import Any

from cardtrace.domain.cards import CardFormat
from cardtrace.errors import CardtraceError, InvalidInput
from cardtrace.ingest.pipeline import Prepared, collecting_less, prepare_batches
from cardtrace.ingest.protect import ProtectionKeys

__all__ = ["prepare_in_workers"]

#: Batches a worker may have waiting; bounds memory whatever the input size.
_QUEUE_DEPTH = 2
_POLL_SECONDS = 2.0
#: A worker's exit code when it ends because its parent has (no one reads it).
_ORPHANED = 1


def prepare_in_workers(
    files: Sequence[Path],
    keys: ProtectionKeys,
    batch_size: int,
    workers: int,
    *,
    formats: Mapping[str, CardFormat],
    encoding: str,
) -> Iterator[Prepared]:
    """The prepared batches of ``files``, made by ``workers`` processes; ``formats`` and
    ``encoding`` as :func:`~cardtrace.ingest.pipeline.prepare_batches` takes them."""
    context = multiprocessing.get_context("spawn")
    queues: list[Any] = [context.Queue(_QUEUE_DEPTH) for _ in range(workers)]
    processes = [
        context.Process(
            target=_work,
            args=(
                list(files),
                keys,
                batch_size,
                (index, workers),
                formats,
                encoding,
                queues[index],
            ),
            daemon=True,
        )
        for index in range(workers)
    ]
    for process in processes:
        process.start()
    try:
        yield from _round_robin(queues, processes)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join()


def _round_robin(queues: list[Any], processes: list[Any]) -> Iterator[Prepared]:
    """One batch from each worker in turn, until all are done; a worker's error is ours."""
    active = list(range(len(queues)))
    while active:
        for index in list(active):
            kind, payload = _next_message(queues[index], processes[index])
            if kind == "batch":
                yield payload
            elif kind == "error":
                raise InvalidInput(payload)
            else:
                active.remove(index)


def _next_message(queue: Any, process: Any) -> tuple[str, Any]:
    """The worker's next message; if it died without a word, say so instead of waiting."""
    while True:
        try:
            message: tuple[str, Any] = queue.get(timeout=_POLL_SECONDS)
        except Empty:
            if not process.is_alive():
                raise CardtraceError(
                    f"an ingest worker stopped unexpectedly (exit code {process.exitcode}); "
                    "batches stored so far are kept, run the ingest again"
                ) from None
        else:
            return message


def _work(  # noqa: PLR0917 - a process target gets its arguments by position
    files: list[Path],
    keys: ProtectionKeys,
    batch_size: int,
    share: tuple[int, int],
    formats: Mapping[str, CardFormat],
    encoding: str,
    queue: Any,
) -> None:
    # Ctrl-C in a terminal reaches the whole process group; the parent handles it and
    # stops the workers, which must not print a traceback each on the way out.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _end_with_parent()
    try:
        batches = prepare_batches(
            files, keys, batch_size=batch_size, share=share, formats=formats, encoding=encoding
        )
        with collecting_less():
            for prepared in batches:
                queue.put(("batch", prepared))
    except CardtraceError as exc:
        queue.put(("error", str(exc)))
    queue.put(("done", None))


def _end_with_parent() -> None:
    """End this process as soon as the process that started it ends.

    A parent killed outright (SIGKILL) cannot stop its workers, which would wait for
    room on a full queue forever, or at exit for a queue's data to be read. A worker
    holds nothing to clean up (it only reads), so it ends at once.
    """
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_after, args=(parent,), daemon=True).start()


def _exit_after(parent: multiprocessing.process.BaseProcess) -> None:
    parent.join()  # returns when the parent's end of a pipe closes: when it ends
    os._exit(_ORPHANED)
