"""The experiment server's state in SQLite: participants and the tasks assigned to them (§8.1)."""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unitpsych.responses.schema import MESSAGE_CHARS, short


class Refusal(Exception):
    """A request the server refuses: HTTP status and a message for the client and the log."""

    def __init__(self, status: int, message: str):
        message = short(message, MESSAGE_CHARS)  # never echo a long client value whole
        super().__init__(message)
        self.status = status
        self.message = message


SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS assignments (
    aid TEXT PRIMARY KEY,
    participant TEXT NOT NULL UNIQUE,   -- one participation across all experiments
    source TEXT NOT NULL,               -- prolific | local
    study_id TEXT,
    session_id TEXT,
    experiment TEXT NOT NULL,
    task INTEGER NOT NULL,
    assigned_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    submitted_at REAL,
    payload TEXT,
    passed INTEGER,
    checks TEXT,
    address TEXT                        -- the client address the task was handed out to
);
CREATE INDEX IF NOT EXISTS assignments_task ON assignments (experiment, task);
"""


@dataclass(frozen=True)
class Assignment:
    """A task handed out to a participant."""

    aid: str
    participant: str
    experiment: str
    task: int
    expires_at: float
    submitted_at: float | None

    @property
    def task_id(self) -> str:
        """The payload's task_id: `<experiment>-<k>`."""
        return f"{self.experiment}-{self.task}"


class State:
    """Participants and assignments in SQLite; every method is one transaction."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA_SQL)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(assignments)")}
        if "address" not in columns:  # a state file of an older server
            self._db.execute("ALTER TABLE assignments ADD COLUMN address TEXT")
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def _transaction(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = fn(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return result

    @staticmethod
    def _assignment(row: tuple) -> Assignment:
        return Assignment(*row)

    _COLUMNS = "aid, participant, experiment, task, expires_at, submitted_at"

    def get(self, aid: str) -> Assignment | None:
        """The assignment with this id, or None."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {self._COLUMNS} FROM assignments WHERE aid = ?", (aid,)
            ).fetchone()
        return self._assignment(row) if row else None

    def assign(
        self,
        participant: str,
        source: str,
        study_id: str | None,
        session_id: str | None,
        order: Sequence[tuple[str, int]],
        reservation_s: float,
        address: str = "",
        max_open: int | None = None,
    ) -> Assignment | None:
        """The participant's open assignment, else a new one for the first task still needing a
        passing response; None when every task is passed or reserved. Raises Refusal 403 for a
        participant who already took part, 429 when `address` holds `max_open` open
        reservations."""

        def run(db: sqlite3.Connection) -> Assignment | None:
            now = time.time()
            row = db.execute(
                f"SELECT {self._COLUMNS} FROM assignments WHERE participant = ?", (participant,)
            ).fetchone()
            if row:
                known = self._assignment(row)
                if known.submitted_at is None and known.expires_at > now:
                    return known  # a reload: the same task again
                raise Refusal(403, "already took part")
            self._check_open_reservations(db, address, max_open, now)
            busy = self._busy_tasks(db, now)
            for experiment, task in order:
                if (experiment, task) not in busy:
                    aid = secrets.token_urlsafe(18)
                    db.execute(
                        "INSERT INTO assignments (aid, participant, source, study_id, session_id,"
                        " experiment, task, assigned_at, expires_at, address)"
                        " VALUES (?,?,?,?,?,?,?,?,?,?)",
                        (
                            aid,
                            participant,
                            source,
                            study_id,
                            session_id,
                            experiment,
                            task,
                            now,
                            now + reservation_s,
                            address,
                        ),
                    )
                    return Assignment(aid, participant, experiment, task, now + reservation_s, None)
            return None

        return self._transaction(run)

    @staticmethod
    def _check_open_reservations(
        db: sqlite3.Connection, address: str, max_open: int | None, now: float
    ) -> None:
        """Raise Refusal 429 when `address` already holds `max_open` open reservations."""
        (n_open,) = db.execute(
            "SELECT COUNT(*) FROM assignments WHERE address = ? AND submitted_at IS NULL"
            " AND expires_at > ?",
            (address, now),
        ).fetchone()
        if max_open is not None and n_open >= max_open:
            raise Refusal(429, f"{address} holds {n_open} open reservations")

    @staticmethod
    def _busy_tasks(db: sqlite3.Connection, now: float) -> set[tuple[str, int]]:
        """The (experiment, task) pairs passed or reserved at `now`."""
        rows = db.execute(
            "SELECT experiment, task FROM assignments WHERE passed = 1"
            " OR (submitted_at IS NULL AND expires_at > ?)",
            (now,),
        ).fetchall()
        return set(rows)

    def submit(self, aid: str, write: Callable[[], str], passed: bool, checks: str) -> None:
        """Record a submission; `write` stores the payload inside the transaction (409 if taken)."""

        def run(db: sqlite3.Connection) -> None:
            row = db.execute(
                "SELECT submitted_at FROM assignments WHERE aid = ?", (aid,)
            ).fetchone()
            if row is None:
                raise Refusal(403, "no such assignment")
            if row[0] is not None:
                raise Refusal(409, "this task was already submitted; the first submission is kept")
            payload = write()
            db.execute(
                "UPDATE assignments SET submitted_at = ?, payload = ?, passed = ?, checks = ?"
                " WHERE aid = ?",
                (time.time(), payload, int(passed), checks, aid),
            )

        self._transaction(run)

    def reopen(self, participant: str, reason: str) -> bool:
        """Count a submitted task as not passed (its payload file was unusable), so it is handed
        out again; True when the participant had a submission."""

        def run(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "UPDATE assignments SET passed = 0, checks = ? WHERE participant = ?"
                " AND submitted_at IS NOT NULL",
                (json.dumps({"failed": ["unusable_payload"], "error": reason}), participant),
            )
            return cursor.rowcount > 0

        return self._transaction(run)

    def unsubmitted(self) -> list[Assignment]:
        """Assignments without a recorded submission."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {self._COLUMNS} FROM assignments WHERE submitted_at IS NULL"
            ).fetchall()
        return [self._assignment(r) for r in rows]

    def counts(self) -> list[tuple[str, int, int, int, int, int]]:
        """Per (experiment, task): handed out, open reservations, submitted, passed."""
        with self._lock:
            return self._db.execute(
                "SELECT experiment, task, COUNT(*),"
                " SUM(submitted_at IS NULL AND expires_at > ?), SUM(submitted_at IS NOT NULL),"
                " SUM(COALESCE(passed, 0)) FROM assignments GROUP BY experiment, task",
                (time.time(),),
            ).fetchall()
