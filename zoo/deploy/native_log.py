"""The process's native log (file descriptor 2) during a block, for ExecuTorch's runtime.

ExecuTorch's C++ runtime says why a file cannot load only in its log, and on every first load
it also logs notes that are not about the file (its CPU probe's "Failed to open midr file" on
x86, the thread pool's size). :class:`NativeLog` captures the log for a block, so that an
export's error can quote the lines that matter, and shows it again afterwards less those notes.

Example:
    >>> import os
    >>> from zoo.deploy.native_log import NativeLog
    >>> with NativeLog() as log:
    ...     _ = os.write(2, b"[cpuinfo_utils.cpp:87] Failed to open midr file\\n")
    >>> log.shown
    []
"""

from __future__ import annotations

import os
import sys
import tempfile

#: What ExecuTorch's runtime logs on every first load, not about the file: its CPU probe's notes
#: ("Failed to open midr file" on x86, which alarms and means nothing) and the thread pool's size.
BENIGN_NATIVE_LINES = ("cpuinfo_utils.cpp", "threadpool.cpp")


class NativeLog:
    """The process's stderr (file descriptor 2) copied to a file for the block, and still shown.

    ExecuTorch's runtime writes why it failed (``XNNCompiler ... Failed to define tensor 10 with
    code: xnn_status_unsupported_parameter``) to the C++ log, while its Python error says only
    ``error: 0x1``; the export's error message quotes the log's lines instead.
    """

    def __enter__(self):
        sys.stderr.flush()
        self.file = tempfile.TemporaryFile(mode="w+b")
        self.saved = os.dup(2)
        os.dup2(self.file.fileno(), 2)
        return self

    def lines(self) -> list[str]:
        self.file.flush()
        self.file.seek(0)
        return [line.strip() for line in self.file.read().decode(errors="replace").splitlines() if line.strip()]

    def __exit__(self, *exc):
        os.dup2(self.saved, 2)
        os.close(self.saved)
        text = [line for line in self.lines() if not any(note in line for note in BENIGN_NATIVE_LINES)]
        self.file.close()
        self.shown = text
        if text:  # still shown, after the block
            sys.stderr.write("\n".join(text) + "\n")
        return False
