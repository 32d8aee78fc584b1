"""The database handle: engine set-up for SQLite and PostgreSQL, transactions, migrations."""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
import typing as t
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from connector.security import create_private
from connector.security import private_dir

MIGRATIONS = Path(__file__).parent / "migrations"


#: ``session.info`` key: what to run once a write transaction has committed
AFTER_COMMIT = "after_commit"


def after_commit(session: Session, callback: t.Callable[[], None]) -> None:
    """Run ``callback`` once ``session``'s transaction commits (see :meth:`Database.write`)."""
    session.info.setdefault(AFTER_COMMIT, []).append(callback)


def normalize_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _configure_sqlite(engine: Engine) -> None:
    """WAL, foreign keys, a busy timeout, and BEGIN IMMEDIATE for write transactions.

    pysqlite's own transaction handling is switched off so that SQLAlchemy's ``begin``
    event decides how each transaction starts: writers take the write lock up front,
    which turns SQLite's deadlock-prone lock upgrades into a plain wait.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: t.Any, _record: t.Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: t.Any) -> None:
        if connection.get_execution_options().get("sqlite_write"):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


def make_engine(url: str, **options: t.Any) -> Engine:
    """An engine for ``url``; SQLite files get their directory created."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1].split("?", 1)[0]
        if path and path != ":memory:" and not path.startswith("file:"):
            # the database (and its -wal/-shm files, which SQLite creates alike) readable by its owner only
            private_dir(Path(path).parent, tighten=False)
            create_private(Path(path))
        engine = create_engine(url, **options)
        _configure_sqlite(engine)
        return engine
    options.setdefault("pool_pre_ping", True)
    options.setdefault("pool_size", 10)
    options.setdefault("max_overflow", 20)
    return create_engine(url, **options)


class WriterQueue:
    """SQLite's one writer, for the threads of one process: requests before background work.

    A thread marked background (:meth:`Database.background`, the delivery worker's) waits
    while a request thread waits, up to ``yield_seconds`` each time, so acknowledgements
    are not queued behind a worker's transactions; then it goes next, so the worker never
    stalls for good. Measured with Slack replies offered at 200/s (bench/slack_events.py,
    SQLite, one run each): 50 ms let acknowledgements reach 93-97/s (all stored 1.0-1.8 s
    after the load), 200 ms 174/s (all stored 4.0 s after).
    """

    def __init__(self, yield_seconds: float = 0.2) -> None:
        self.yield_seconds = yield_seconds
        lock = threading.Lock()
        # Two queues on one lock: a release wakes one waiting request, or else one
        # background thread; never every waiter at once (16 threads woken to find one
        # winner cost an eighth of the process's CPU under load).
        self._requests = threading.Condition(lock)
        self._background = threading.Condition(lock)
        self._lock = lock
        self._held = False
        self._waiting = 0  # request threads waiting
        self._overdue = 0  # background threads that yielded long enough and go next
        self._local = threading.local()

    @property
    def is_background(self) -> bool:
        return getattr(self._local, "background", False)

    def mark_background(self) -> None:
        self._local.background = True

    def __enter__(self) -> None:
        with self._lock:
            if self.is_background:
                deadline = time.monotonic() + self.yield_seconds
                while (self._held or self._waiting) and time.monotonic() < deadline:
                    self._background.wait(max(0.001, deadline - time.monotonic()))
                if self._held:
                    # its turn to yield is over: it goes next, before requests that wait
                    self._overdue += 1
                    try:
                        while self._held:
                            self._background.wait()
                    finally:
                        self._overdue -= 1
            else:
                self._waiting += 1
                try:
                    while self._held or self._overdue:
                        self._requests.wait()
                finally:
                    self._waiting -= 1
            self._held = True

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._held = False
            if self._overdue:
                self._background.notify_all()  # the overdue one goes; the others look and wait on
            elif self._waiting:
                self._requests.notify()
            else:
                self._background.notify()


class FileWriterLock:
    """SQLite's one writer across processes: a blocking ``flock`` on a file beside the database.

    Without it, a process that finds another process writing polls SQLite's busy handler,
    which sleeps in growing steps (up to 100 ms a try) and may lose the race again when it
    wakes: the long tail of every write on a database served by several processes. A
    waiter on ``flock`` is woken the moment the lock is released. Processes that do not
    take it (``sqlite3``, migrations on a bare engine) still meet SQLite's busy timeout.

    One holder per process at a time (the :class:`WriterQueue` in front of it sees to
    that); the file is opened anew in a forked child, whose lock must be its own.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        self._pid: int | None = None

    def _handle(self) -> int:
        if self._pid != os.getpid():  # first use, or a forked child (gunicorn's workers)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        assert self._fd is not None
        return self._fd

    def acquire(self, blocking: bool = True) -> bool:
        """Take the lock (waiting for it, or not); whether it was taken."""
        try:
            fcntl.flock(self._handle(), fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def release(self) -> None:
        assert self._fd is not None
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def __enter__(self) -> None:
        self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def sqlite_file(engine: Engine) -> str | None:
    """The database file of a SQLite engine; None in memory or for URI file names."""
    path = engine.url.database
    if engine.dialect.name != "sqlite" or not path or path == ":memory:" or path.startswith("file:"):
        return None
    return path


class Database:
    """Transactions over one engine: :meth:`read` for queries, :meth:`write` for changes."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        write_engine = engine.execution_options(sqlite_write=True) if self.is_sqlite else engine
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(write_engine, expire_on_commit=False)
        #: SQLite has one writer at a time; threads of one process queue here instead of
        #: polling SQLite's busy handler (which sleeps in growing steps and ruins latency)
        self._write_lock: t.Any = WriterQueue() if self.is_sqlite else contextlib.nullcontext()
        #: ... and processes queue on a file lock (see :class:`FileWriterLock`)
        path = sqlite_file(engine)
        self._file_lock: t.Any = FileWriterLock(f"{path}-writer.lock") if path else contextlib.nullcontext()

    @classmethod
    def from_url(cls, url: str, **options: t.Any) -> "Database":
        return cls(make_engine(url, **options))

    @contextlib.contextmanager
    def read(self) -> t.Iterator[Session]:
        """A session for queries; closed at the end, its objects kept (detached) as loaded."""
        with self._read() as session:
            yield session

    @contextlib.contextmanager
    def write(self) -> t.Iterator[Session]:
        """A session whose changes commit together at the end, or not at all.

        Callables appended to ``session.info[AFTER_COMMIT]`` run once the commit is done
        (outside the writer lock); after a rollback they never run.
        """
        with self._write_lock, self._file_lock, self._write() as session:
            with session.begin():
                yield session
            callbacks = session.info.pop(AFTER_COMMIT, [])
        for callback in callbacks:
            callback()

    def background(self) -> None:
        """Mark the calling thread as background work: its writes yield to requests' (SQLite)."""
        if isinstance(self._write_lock, WriterQueue):
            self._write_lock.mark_background()

    def lock_for_update(self) -> bool:
        """Whether ``SELECT ... FOR UPDATE`` is meaningful (SQLite locks the whole file)."""
        return not self.is_sqlite

    def upgrade(self, revision: str = "head") -> None:
        """Run the Alembic migrations up to ``revision``."""
        with self.engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config
