"""The first download of a hub model, in the window: the plan first, then a bar with bytes, rate and time
left, and Cancel. A thin view over ``model.download_watch.Progress``; the download itself runs on the
model-loading job's thread (``Session.load_model``), so the rest of the window stays usable.

The session reports from that thread; ``arrived`` carries each snapshot to the GUI thread as a
queued signal. Before any weight moves the session asks for a yes (``ask``, on the download's thread):
the view shows the plan with Download and Cancel, and the thread waits for the click (or for a cancel,
e.g. the window closing). A refusal that names a precision that would fit gets a button that uses it.
"""

from __future__ import annotations

import threading

from PyQt6 import sip
from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from app.session import Session
from model.download_watch import Progress

STEPS = 1000  # the bar's resolution


class DownloadView(QFrame):
    arrived = pyqtSignal(object)  # a Progress, from the download's thread
    offer_accepted = pyqtSignal(str)  # a precision ("4bit") the person chose after a refused fit

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("downloadView")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setRange(0, STEPS)
        self.bar.setTextVisible(True)
        self.download = QPushButton("Download")
        self.download.setToolTip("Start downloading the weights, as planned above")
        self.cancel = QPushButton("Cancel")
        self.cancel.setToolTip(
            "Stop the download; what arrived is kept, and loading the model again resumes it"
        )
        self.use_offer = QPushButton()
        self.close_button = QPushButton("✕")
        self.close_button.setFlat(True)
        self.close_button.setFixedWidth(28)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.bar, 1)
        for button in (self.download, self.use_offer, self.cancel, self.close_button):
            row.addWidget(button)
        col = QVBoxLayout(self)
        col.setContentsMargins(6, 4, 6, 4)
        col.addWidget(self.text)
        col.addLayout(row)
        self.session: Session | None = None
        self.last: Progress | None = None
        self._answer = threading.Event()
        self._yes = False
        self.arrived.connect(self.show_progress)
        self.download.clicked.connect(lambda: self._reply(True))
        self.cancel.clicked.connect(self._cancel)
        self.close_button.clicked.connect(self.hide)
        self.use_offer.clicked.connect(self._take_offer)
        self.hide()

    def attach(self, session: Session) -> None:
        """Show this session's model downloads here, and ask its yes here."""
        self.session = session
        session.on_download.append(self._from_thread)
        session.approve_download = self.ask

    # ----- the download's thread ------------------------------------------------------------------
    def _from_thread(self, progress: Progress) -> None:
        if not sip.isdeleted(self):
            try:
                self.arrived.emit(progress)
            except RuntimeError:  # deleted between the check and the emit
                return

    def ask(self, plan: Progress, cancel: threading.Event) -> bool:
        """Show ``plan`` and wait for Download or Cancel (False too when the download is cancelled)."""
        self._answer.clear()
        self._from_thread(plan)
        while not self._answer.wait(0.2):
            if cancel.is_set() or sip.isdeleted(self):
                return False
        return self._yes

    # ----- the GUI thread ---------------------------------------------------------------------------
    def show_progress(self, progress: Progress) -> None:
        self.last = progress
        stage = progress.stage
        if stage == "done" or (stage in ("stopped", "refused") and not progress.offer):
            self.hide()  # the banner says why it stopped; the partial files are kept
            return
        self.text.setText(progress.line())
        self.bar.setRange(0, 0 if stage == "checking" and not progress.total else STEPS)
        self.bar.setValue(round(progress.fraction * STEPS))
        self.bar.setFormat(f"{progress.fraction:.0%}")
        waiting, refused = stage == "waiting", stage == "refused"
        self.download.setVisible(waiting)
        self.cancel.setVisible(not refused)
        self.close_button.setVisible(refused)
        self.use_offer.setVisible(refused)
        if refused:
            self.use_offer.setText(f"Use {progress.offer}")
            self.use_offer.setToolTip(f"Set the model's precision to {progress.offer} and load it again")
        self.show()

    def _reply(self, yes: bool) -> None:
        self._yes = yes
        self._answer.set()
        self.download.hide()

    def _cancel(self) -> None:
        self._reply(False)
        if self.session is not None:
            self.session.cancel_download()
        self.text.setText("Stopping the download (what arrived is kept)…")

    def _take_offer(self) -> None:
        if self.last is not None and self.last.offer:
            self.hide()
            self.offer_accepted.emit(self.last.offer)
