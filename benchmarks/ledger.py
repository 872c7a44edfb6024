"""The tiled ledger on SQLite against pymerkle 7's SqliteTree, on the same leaves.

    .venv/bin/python benchmarks/ledger.py [--leaves N] [--skip-pymerkle]

Both run on a file SQLite database in WAL mode (synchronous=FULL, SQLite's default), one
transaction per batch of ``--batch`` leaves. Append time includes the leaf hashing (the
log gets raw entries, as pymerkle does) and the commit. Proof times are per query over
``--queries`` random queries against the full tree: *warm* reuses one open connection
(and, for pymerkle, its subroot cache); *warm, TileCache* also keeps a
``tiles.TileCache``, as a long-running server would; *past size* asks for proofs at
random older sizes (half the log to all of it), whose right edge must be rebuilt from
tiles. *Fresh connection* runs every query on a new engine and connection, so SQLite's
page cache is empty and the statements are prepared anew; the time to create the engine
and open the connection is reported apart. pymerkle's *cold* opens a new tree per query,
opening included. Verification is
``merkle.verify_*`` against pymerkle's ``verify_*`` over the proofs just made. pymerkle
is a benchmark-only dependency.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa
from sqlalchemy import event

from cardtrace.ledger import merkle, tiles
from cardtrace.store import schema
from cardtrace.store.ledger_sql import SqlTileStore

ENTRY_BYTES = 64
Query = TypeVar("Query")


def batches(leaves: int, batch: int, seed: int = 7) -> Iterator[list[bytes]]:
    """The same entries for every run: ``ENTRY_BYTES`` random bytes each."""
    rng = random.Random(seed)
    for start in range(0, leaves, batch):
        count = min(batch, leaves - start)
        blob = rng.randbytes(count * ENTRY_BYTES)
        yield [blob[i : i + ENTRY_BYTES] for i in range(0, len(blob), ENTRY_BYTES)]


def sqlite_engine(path: Path) -> sa.Engine:
    engine = sa.create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _wal(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA journal_mode=WAL")

    return engine


def percentiles(samples: Sequence[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1e3, cuts[98] * 1e3


def timed(prove: Callable[[Query], Any], queries: Sequence[Query]) -> tuple[list[float], list[Any]]:
    """The time of each ``prove(query)`` in seconds, and the results."""
    samples, results = [], []
    for query in queries:
        start = time.perf_counter()
        results.append(prove(query))
        samples.append(time.perf_counter() - start)
    return samples, results


def fresh_connection(
    path: Path, prove: Callable[[SqlTileStore, int], object], queries: Sequence[int]
) -> tuple[list[float], list[float]]:
    """Each query on a new engine and connection: SQLite's page cache starts empty.

    Returns the proof times (from the fresh connection, state and tiles read included)
    and, apart, the times to create the engine and open the connection.
    """
    proofs, opens = [], []
    for query in queries:
        start = time.perf_counter()
        fresh = sqlite_engine(path)
        connection = fresh.connect()
        opened = time.perf_counter()
        prove(SqlTileStore(connection), query)
        proofs.append(time.perf_counter() - opened)
        opens.append(opened - start)
        connection.close()
        fresh.dispose()
    return proofs, opens


def rate(verify: Callable[[], None], count: int, seconds: float = 1.0) -> float:
    """Calls of ``verify`` (each checks ``count`` proofs) per second, in proofs."""
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        verify()
        done += count
    return done / (time.perf_counter() - start)


class Report:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str]] = []

    def add(self, what: str, ours: str, theirs: str = "-") -> None:
        self.rows.append((what, ours, theirs))
        print(f"  {what}: ours {ours} | pymerkle {theirs}", flush=True)

    def print(self, leaves: int) -> None:
        width = max(len(row[0]) for row in self.rows)
        print(f"\n{leaves:,} leaves of {ENTRY_BYTES} bytes\n")
        print(f"| {'measure':<{width}} | {'cardtrace tiles':>26} | {'pymerkle SqliteTree':>26} |")
        print(f"|{'-' * (width + 2)}|{'-' * 27}:|{'-' * 27}:|")
        for what, ours, theirs in self.rows:
            print(f"| {what:<{width}} | {ours:>26} | {theirs:>26} |")


def bench_ours(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    path = folder / "tiles.db"
    engine = sqlite_engine(path)
    schema.metadata.create_all(engine)
    leaf_hash = merkle.leaf_hash
    elapsed = 0.0
    for entries in batches(args.leaves, args.batch):
        start = time.perf_counter()
        hashes = [leaf_hash(entry) for entry in entries]
        with engine.begin() as connection:
            tiles.append(SqlTileStore(connection), hashes)
        elapsed += time.perf_counter() - start
    result: dict[str, Any] = {"append": args.leaves / elapsed}
    rng = random.Random(11)
    size = args.leaves
    indices = [rng.randrange(size) for _ in range(args.queries)]
    olds = [rng.randrange(1, size + 1) for _ in range(args.queries)]
    with engine.connect() as connection:
        store = SqlTileStore(connection)
        result["root"] = tiles.root(store)
        result["leaves"] = [tiles.leaf_hash_at(store, i) for i in indices]
        result["old_roots"] = [tiles.root(store, old) for old in olds]
        warm_incl, incl = timed(lambda i: tiles.inclusion_proof(store, i, size), indices)
        warm_cons, cons = timed(lambda o: tiles.consistency_proof(store, o, size), olds)
        # Past sizes (an older checkpoint): the right edge is no longer the state's.
        pasts = [(rng.randrange(size // 2, size), rng.random()) for _ in range(args.queries)]
        past_incl, _ = timed(lambda q: tiles.inclusion_proof(store, int(q[1] * q[0]), q[0]), pasts)
        past_cons, _ = timed(
            lambda q: tiles.consistency_proof(store, 1 + int(q[1] * q[0]), q[0]), pasts
        )
        cache = tiles.TileCache()  # what a long-running server keeps per log
        for _ in range(100):  # warm it as earlier traffic would
            tiles.inclusion_proof(store, rng.randrange(size), size, cache)
        cached_incl, _ = timed(lambda i: tiles.inclusion_proof(store, i, size, cache), indices)
        cached_cons, _ = timed(lambda o: tiles.consistency_proof(store, o, size, cache), olds)
    engine.dispose()
    result.update(incl=incl, cons=cons, indices=indices, olds=olds)

    cold_incl, open_incl = fresh_connection(
        path, lambda s, i: tiles.inclusion_proof(s, i, size), indices
    )
    cold_cons, open_cons = fresh_connection(
        path, lambda s, o: tiles.consistency_proof(s, o, size), olds
    )
    result["times"] = {
        "inclusion warm": warm_incl,
        "consistency warm": warm_cons,
        "inclusion warm, past size": past_incl,
        "consistency warm, past size": past_cons,
        "inclusion warm, TileCache": cached_incl,
        "consistency warm, TileCache": cached_cons,
        "connection open (new engine)": open_incl + open_cons,
        "inclusion, fresh connection": cold_incl,
        "consistency, fresh connection": cold_cons,
    }
    result["bytes"] = path.stat().st_size + sum(p.stat().st_size for p in folder.glob("tiles.db-*"))
    return result


def bench_pymerkle(
    args: argparse.Namespace, folder: Path, indices: Sequence[int], olds: Sequence[int]
) -> dict[str, Any]:
    from pymerkle import SqliteTree

    path = folder / "pymerkle.db"

    def open_tree() -> Any:
        tree = SqliteTree(str(path))
        tree.con.execute("PRAGMA journal_mode=WAL")
        return tree

    tree = open_tree()
    elapsed = 0.0
    for entries in batches(args.leaves, args.batch):
        start = time.perf_counter()
        tree.append_entries(entries)
        elapsed += time.perf_counter() - start
    result: dict[str, Any] = {"append": args.leaves / elapsed}
    start = time.perf_counter()
    result["root"] = tree.get_root()
    result["first root"] = time.perf_counter() - start
    size = args.leaves
    warm_incl, incl = timed(lambda i: tree.prove_inclusion(i + 1, size), indices)
    warm_cons, cons = timed(lambda o: tree.prove_consistency(o, size), olds)
    tree.close()
    result.update(incl=incl, cons=cons)
    sample = args.pymerkle_cold

    def cold(prove: Callable[[Any], object]) -> object:
        fresh = open_tree()
        try:
            return prove(fresh)
        finally:
            fresh.close()

    cold_incl, _ = timed(lambda i: cold(lambda t: t.prove_inclusion(i + 1, size)), indices[:sample])
    cold_cons, _ = timed(lambda o: cold(lambda t: t.prove_consistency(o, size)), olds[:sample])
    result["times"] = {
        "inclusion warm": warm_incl,
        "consistency warm": warm_cons,
        "inclusion, fresh connection": cold_incl,
        "consistency, fresh connection": cold_cons,
    }
    result["bytes"] = path.stat().st_size + sum(
        p.stat().st_size for p in folder.glob("pymerkle.db-*")
    )
    return result


def verification(ours: dict[str, Any], theirs: dict[str, Any] | None, report: Report) -> None:
    root, tree_size = ours["root"], ours["tree_size"]
    incl = list(zip(ours["indices"], ours["leaves"], ours["incl"], strict=True))
    cons = list(zip(ours["olds"], ours["old_roots"], ours["cons"], strict=True))

    def ours_incl() -> None:
        for index, leaf, path in incl:
            merkle.verify_inclusion(leaf, index, tree_size, path, root)

    def ours_cons() -> None:
        for old, old_root, proof in cons:
            merkle.verify_consistency(old, tree_size, proof, old_root, root)

    their_incl = their_cons = "-"
    if theirs is not None:
        from pymerkle import verify_consistency, verify_inclusion

        p_incl = list(zip(ours["leaves"], theirs["incl"], strict=True))
        p_cons = list(zip(ours["old_roots"], theirs["cons"], strict=True))

        def pm_incl() -> None:
            for leaf, proof in p_incl:
                verify_inclusion(leaf, root, proof)

        def pm_cons() -> None:
            for old_root, proof in p_cons:
                verify_consistency(old_root, root, proof)

        their_incl = f"{rate(pm_incl, len(p_incl)):,.0f}/s"
        their_cons = f"{rate(pm_cons, len(p_cons)):,.0f}/s"
    report.add("verify inclusion", f"{rate(ours_incl, len(incl)):,.0f}/s", their_incl)
    report.add("verify consistency", f"{rate(ours_cons, len(cons)):,.0f}/s", their_cons)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument(
        "--pymerkle-cold", type=int, default=20, help="cold pymerkle queries (each rehashes)"
    )
    parser.add_argument("--skip-pymerkle", action="store_true")
    parser.add_argument("--dir", type=Path, help="where the databases go (default: a temp dir)")
    parser.add_argument(
        "--audit-events",
        type=int,
        default=1_000_000,
        help="time 'cardtrace verify' on a node with about this many events (0: skip)",
    )
    args = parser.parse_args()
    report = Report()
    with tempfile.TemporaryDirectory(dir=args.dir) as name:
        folder = Path(name)
        print(f"cardtrace tiles: {args.leaves:,} leaves...", flush=True)
        ours = bench_ours(args, folder)
        ours["tree_size"] = args.leaves
        theirs = None
        if not args.skip_pymerkle:
            print(f"pymerkle SqliteTree: {args.leaves:,} leaves...", flush=True)
            theirs = bench_pymerkle(args, folder, ours["indices"], ours["olds"])
            if theirs["root"] != ours["root"]:
                raise SystemExit("the two logs disagree on the root: not the same tree")
        report.add(
            "append, leaves/s persisted",
            f"{ours['append']:,.0f}",
            "-" if theirs is None else f"{theirs['append']:,.0f}",
        )
        if theirs is not None:
            report.add(
                "first root after appends", "0 (kept in state)", f"{theirs['first root']:.2f} s"
            )
        for what, samples in ours["times"].items():
            p50, p99 = percentiles(samples)
            other = "-"
            if theirs is not None and what in theirs["times"]:
                t50, t99 = percentiles(theirs["times"][what])
                n = len(theirs["times"][what])
                other = f"{t50:.3f} / {t99:.3f}" + (f" (n={n})" if n < len(samples) else "")
            report.add(f"{what} p50 / p99 ms", f"{p50:.3f} / {p99:.3f}", other)
        verification(ours, theirs, report)
        report.add(
            "database size",
            f"{ours['bytes'] / 2**20:,.1f} MiB",
            "-" if theirs is None else f"{theirs['bytes'] / 2**20:,.1f} MiB (+entries)",
        )
        if args.audit_events:
            audit(args.audit_events, report)
    report.print(args.leaves)


def audit(events: int, report: Report) -> None:
    """Ingest a synthetic world of about ``events`` events, checkpoint, time the audit."""
    from harness import OUT, make_world, run_measured

    print(f"cardtrace verify over about {events:,} events...", flush=True)
    world, _, _ = make_world(events)
    url = f"sqlite:///{OUT / 'audit.db'}"
    for leftover in OUT.glob("audit.db*"):
        leftover.unlink()
    run_measured(["ingest", "--db", url, "--rejects", str(OUT / "audit-rejects.jsonl"), str(world)])
    run_measured(["checkpoint", "--db", url])
    run = run_measured(["verify", "--db", url, "--json"])
    verdict = "clean" if run.code == 0 else f"exit code {run.code}"
    stored = orjson.loads(run.stdout)["events"] if run.code in (0, 4) else "?"
    report.add(
        f"cardtrace verify, {stored:,} events" if isinstance(stored, int) else "cardtrace verify",
        f"{run.seconds:.1f} s, {run.peak_kib / 1024:,.0f} MiB, {verdict}",
    )


if __name__ == "__main__":
    main()
