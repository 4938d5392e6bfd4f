"""Bytes handed to Arrow's multi-threaded readers, in memory Arrow owns.

A buffer that wraps a Python object (`pa.py_buffer(data)`, or a file object such as
`io.BytesIO`) must take the GIL when Arrow drops its last reference to it, on whichever
thread drops it. Arrow's threaded CSV and Parquet readers finish on their worker threads,
which may still hold the input after `read_csv` has returned to the caller. If that
worker is delayed (a busy machine) until the interpreter has begun to exit, it asks for
the GIL, Python ends the thread with `pthread_exit`, the unwind meets a C++ frame that may
not throw, and the whole process aborts ("terminate called without an active exception",
exit 134) after the command had already printed its answer. A refusal is the likely
victim: it exits within milliseconds of reading its first block. Memory from Arrow's own
pool is released without the GIL, at any time, on any thread.
"""

from __future__ import annotations

from typing import Any


def arrow_buffer(*parts: bytes) -> Any:
    """The concatenated bytes, copied once into an Arrow-allocated buffer."""
    import pyarrow as pa

    buffer = pa.allocate_buffer(sum(len(part) for part in parts))
    writer = pa.FixedSizeBufferWriter(buffer)
    for part in parts:
        writer.write(part)
    writer.close()
    return buffer
