"""SQLite's one writer across processes: write transactions queue on a file lock, not on SQLite's busy polling."""

from __future__ import annotations

import fcntl
import multiprocessing
import os

import pytest

from connector.storage.database import Database
from connector.storage.database import FileWriterLock
from connector.storage.database import sqlite_file


def other_holder_can_take(path) -> bool:
    """Whether an unrelated open of the lock file (another process's, say) gets it at once."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)


@pytest.fixture
def sqlite_db(tmp_path):
    db = Database.from_url(f"sqlite:///{tmp_path / 'x.db'}")
    db.upgrade()
    yield db
    db.dispose()


def test_a_write_transaction_holds_the_file_lock_until_it_ends(sqlite_db, tmp_path):
    lock = tmp_path / "x.db-writer.lock"
    with sqlite_db.write():
        assert lock.exists() and oct(lock.stat().st_mode & 0o777) == "0o600"
        assert not other_holder_can_take(lock)
    assert other_holder_can_take(lock)
    with pytest.raises(RuntimeError):
        with sqlite_db.write():
            raise RuntimeError("rolled back")
    assert other_holder_can_take(lock)  # released after a rollback too
    with sqlite_db.read():
        assert other_holder_can_take(lock)  # readers never take it


def _try_in_child(lock: FileWriterLock, answer) -> None:
    taken = lock.acquire(blocking=False)
    answer.send(taken)
    if taken:
        lock.release()


def test_a_forked_child_does_not_share_its_parents_lock(tmp_path):
    """gunicorn forks its workers: a lock opened before the fork must not count as the child's."""
    lock = FileWriterLock(str(tmp_path / "db-writer.lock"))
    assert lock.acquire()
    try:
        context = multiprocessing.get_context("fork")
        receive, send = context.Pipe(duplex=False)
        child = context.Process(target=_try_in_child, args=(lock, send))
        child.start()
        child.join(timeout=60)
        assert receive.recv() is False  # the parent holds it
    finally:
        lock.release()
    child = context.Process(target=_try_in_child, args=(lock, send))
    child.start()
    child.join(timeout=60)
    assert receive.recv() is True


def test_only_sqlite_files_get_a_lock_file(tmp_path):
    from sqlalchemy import create_engine

    assert sqlite_file(create_engine(f"sqlite:///{tmp_path / 'y.db'}")) == str(tmp_path / "y.db")
    assert sqlite_file(create_engine("sqlite://")) is None
    assert sqlite_file(create_engine("sqlite:///:memory:")) is None
    assert sqlite_file(create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")) is None
