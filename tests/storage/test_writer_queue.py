"""SQLite's one writer for the threads of a process (connector.storage.database.WriterQueue):
one holder at a time, requests before background work, background work never starved."""

from __future__ import annotations

import threading
import time

from connector.storage.database import WriterQueue


def test_one_holder_at_a_time_among_many_threads():
    queue, inside, most, lock = WriterQueue(), [0], [0], threading.Lock()

    def work(background: bool) -> None:
        if background:
            queue.mark_background()
        for _ in range(200):
            with queue:
                with lock:
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                with lock:
                    inside[0] -= 1

    threads = [threading.Thread(target=work, args=(n % 3 == 0,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    assert most[0] == 1


def test_a_waiting_request_goes_before_a_waiting_background_thread():
    queue = WriterQueue(yield_seconds=30)  # the background thread yields for as long as requests wait
    order: list[str] = []
    queue.__enter__()  # held by "someone"

    def background() -> None:
        queue.mark_background()
        with queue:
            order.append("background")

    def request() -> None:
        with queue:
            order.append("request")

    threads = [threading.Thread(target=background), threading.Thread(target=request)]
    threads[0].start()
    time.sleep(0.05)  # the background thread waits first
    threads[1].start()
    while queue._waiting == 0:
        time.sleep(0.001)
    queue.__exit__()
    for thread in threads:
        thread.join(30)
    assert order == ["request", "background"]


def test_background_work_is_not_starved_by_a_stream_of_requests():
    queue = WriterQueue(yield_seconds=0.01)
    stop, got_it = threading.Event(), threading.Event()

    def requests() -> None:
        while not stop.is_set():
            with queue:
                time.sleep(0.001)

    def background() -> None:
        queue.mark_background()
        with queue:
            got_it.set()

    crowd = [threading.Thread(target=requests) for _ in range(4)]
    for thread in crowd:
        thread.start()
    worker = threading.Thread(target=background)
    worker.start()
    try:
        assert got_it.wait(30)
    finally:
        stop.set()
        for thread in [*crowd, worker]:
            thread.join(30)
