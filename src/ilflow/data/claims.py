"""Claims on the structures being labelled, kept in the dataset's own database, so that several labelling
processes writing one dataset (two `ilflow label` on overlapping frame files, or campaigns sharing a PostgreSQL
dataset) compute each label once.

A process claims a structure (settings hash, structure hash) before it submits it and releases the claim after its
row is committed. A claim is a row of the table `ilflow_claims` whose primary key makes the claim atomic; its
holder refreshes a heartbeat every HEARTBEAT_S seconds from a thread. A claim can be taken over when its holder is
gone: a process on the same host that no longer exists (a rerun after kill -9 takes over at once), or a heartbeat
older than LEASE_S (a holder on another machine that died). Times are the database server's clock, so that the
clocks of the machines do not matter.
"""

import logging
import os
import socket
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager, nullcontext

logger = logging.getLogger(__name__)

HEARTBEAT_S = 30.0
LEASE_S = 300.0  # ten missed heartbeats: a holder this silent is gone

_SCHEMA = """CREATE TABLE IF NOT EXISTS ilflow_claims (
    settings_hash TEXT NOT NULL, structure_hash TEXT NOT NULL, owner TEXT NOT NULL, host TEXT NOT NULL,
    pid INTEGER NOT NULL, heartbeat DOUBLE PRECISION NOT NULL, PRIMARY KEY (settings_hash, structure_hash))"""


SCHEMA_LOCK = 0x696C666C6F77  # "ilflow": the advisory lock under which ilflow creates tables in PostgreSQL


@contextmanager
def schema_lock(url: str) -> Iterator[None]:
    """Hold PostgreSQL's advisory lock SCHEMA_LOCK while the block runs: two processes that create the same tables
    at once (CREATE TABLE, even with IF NOT EXISTS) make one of them fail."""
    import psycopg2

    with closing(psycopg2.connect(url)) as connection:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
        yield  # closing the connection releases the lock


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


class Claims:
    """This process's claims on structures with one reference setting, in the database at `url` (an SQLite path
    or a postgresql:// URL). Use as a context manager: the heartbeat runs inside, and the claims left at the end
    (an error, Ctrl-C) are released."""

    def __init__(self, url: str, settings_hash: str):
        self.url, self.settings_hash = url, settings_hash
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.owner = f"{self.host}:{self.pid}:{uuid.uuid4().hex[:8]}"
        self.held: set[str] = set()
        self._lock = threading.Lock()  # the heartbeat thread uses the connection too
        self._connection = self._connect()
        with schema_lock(url) if self._postgres else nullcontext():
            self._execute(_SCHEMA)
        self._stop = threading.Event()
        self._heartbeat = threading.Thread(target=self._beat, name="ilflow-claims-heartbeat", daemon=True)

    # --- the two SQL dialects --------------------------------------------------------------------------------
    @property
    def _postgres(self) -> bool:
        return self.url.startswith(("postgresql://", "postgres://"))

    def _connect(self):
        if self._postgres:
            import psycopg2

            connection = psycopg2.connect(self.url)
            connection.autocommit = True
            return connection
        # autocommit (isolation_level None): every statement is its own transaction; wait for a writer's lock
        return sqlite3.connect(self.url, timeout=60.0, isolation_level=None, check_same_thread=False)

    def _now(self) -> str:
        """The database server's time in seconds since the epoch, as SQL."""
        return "EXTRACT(EPOCH FROM clock_timestamp())" if self._postgres else "(julianday('now') - 2440587.5) * 86400.0"

    def _execute(self, sql: str, parameters: tuple = ()) -> tuple[int, list]:
        """(rows changed, rows returned) of one statement written with `?` placeholders."""
        if self._postgres:
            sql = sql.replace("?", "%s")
        with self._lock:
            cursor = self._connection.cursor()
            try:
                cursor.execute(sql, parameters)
                rows = cursor.fetchall() if cursor.description else []
                return cursor.rowcount, rows
            finally:
                cursor.close()

    # --- claims ----------------------------------------------------------------------------------------------
    def claim(self, hashes: Iterable[str]) -> set[str]:
        """Claim these structures where nobody holds them, or their holder is gone; returns the ones now held."""
        taken = {key for key in hashes if key in self.held or self._claim_one(key)}
        self.held |= taken
        return taken

    def _claim_one(self, key: str) -> bool:
        for _ in range(3):  # a claim released between the insert and the look at its holder: insert again
            inserted, _ = self._execute(
                "INSERT INTO ilflow_claims (settings_hash, structure_hash, owner, host, pid, heartbeat) "
                f"VALUES (?, ?, ?, ?, ?, {self._now()}) ON CONFLICT DO NOTHING",
                (self.settings_hash, key, self.owner, self.host, self.pid))
            if inserted == 1:
                return True
            _, rows = self._execute(f"SELECT owner, host, pid, {self._now()} - heartbeat FROM ilflow_claims "
                                    "WHERE settings_hash = ? AND structure_hash = ?", (self.settings_hash, key))
            if rows:
                return self._take_over(key, *rows[0])
        return False

    def _take_over(self, key: str, owner: str, host: str, pid: int, silent_s: float) -> bool:
        """Take a claim whose holder is gone (compare and swap on the holder, so two takers cannot both win)."""
        gone = (host == self.host and not _pid_alive(pid)) or silent_s > LEASE_S
        if not gone:
            return False
        changed, _ = self._execute(f"UPDATE ilflow_claims SET owner = ?, host = ?, pid = ?, heartbeat = {self._now()} "
                                   "WHERE settings_hash = ? AND structure_hash = ? AND owner = ?",
                                   (self.owner, self.host, self.pid, self.settings_hash, key, owner))
        if changed == 1:
            logger.info("  took over the claim of %s on structure %s (%s)", owner, key,
                        "its process is gone" if silent_s <= LEASE_S else f"silent for {silent_s:.0f} s")
        return changed == 1

    def release(self, hashes: Iterable[str]) -> None:
        for key in list(hashes):
            self._execute("DELETE FROM ilflow_claims WHERE settings_hash = ? AND structure_hash = ? AND owner = ?",
                          (self.settings_hash, key, self.owner))
            self.held.discard(key)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            self._execute(f"UPDATE ilflow_claims SET heartbeat = {self._now()} WHERE owner = ?", (self.owner,))

    def __enter__(self) -> "Claims":
        self._heartbeat.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._heartbeat.join()
        self.release(self.held)
        self._connection.close()


class NoClaims:
    """The claims of a dataset that cannot keep them (an ase.db JSON file, written by one process): every
    structure is this process's."""

    held: set[str] = frozenset()

    def claim(self, hashes: Iterable[str]) -> set[str]:
        return set(hashes)

    def release(self, hashes: Iterable[str]) -> None:
        pass

    def __enter__(self) -> "NoClaims":
        return self

    def __exit__(self, *exc) -> None:
        pass
