"""Save (`w`): write the marked frames, or else the frames shown, to a capture file.

The format follows the input (pcapng stays pcapng with its interfaces and secrets; a
.pcapng name asks for pcapng), through the same writers `read -w` uses.
"""
from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from analyzer.capture import open_writer
from analyzer.capture.index import FrameIndex


def write_frames(index: FrameIndex, rows: Iterable[int], path: str,
                 cancel: threading.Event | None = None) -> int:
    """Write the frames at `rows` (ascending) to path; returns how many were written."""
    writer = open_writer(path, like=index)
    n = 0
    try:
        for row in rows:
            if cancel is not None and cancel.is_set():
                break
            writer.write(index.raw_frame(row))
            n += 1
    finally:
        writer.close()
    return n


class SaveScreen(ModalScreen[str | None]):
    """Asks for the file name; returns it, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, source: str, what: str) -> None:
        super().__init__()
        self.source = source
        self.what = what

    def compose(self) -> ComposeResult:
        p = Path(self.source)
        suffix = ".pcapng" if p.suffix == ".pcapng" else ".pcap"
        yield Static(f"Save {self.what} to:", id="save-title")
        yield Input(value=str(p.with_name(p.stem + "-saved" + suffix)), id="save-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        path = event.value.strip()
        if not path:
            self.app.bell()
            return
        self.dismiss(path)

    def action_cancel(self) -> None:
        self.dismiss(None)

