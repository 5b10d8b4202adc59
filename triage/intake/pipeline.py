"""One runtime's intake machinery, started on first use: the redactor the ack path uses, the
group-commit writer and the in-process promoter it wakes (`Runtime.intake`)."""

from __future__ import annotations

import gc
from collections import Counter

from triage.analysis.redaction import Redactor
from triage.intake.commit import GroupCommitter
from triage.intake.promote import Promoter
from triage.runtime import Runtime

_MEMO_SIZE = 16_384
_MEMO_LONGEST = 1_024


class MemoRedactor(Redactor):
    """The configured redactor, remembering what each short string redacts to: deliveries of one
    source repeat most of their strings (types, services, hosts, URLs), and redacting a string is
    a pure function of it, so a remembered answer is the answer."""

    def __init__(self, base: Redactor) -> None:
        super().__init__(base.config)
        self._memo: dict[str, tuple[str, Counter[str]]] = {}

    def redact_text(self, text: str, counts: Counter[str] | None = None) -> str:
        """As `Redactor.redact_text`, from the memo when this string was seen."""
        if len(text) > _MEMO_LONGEST:
            return super().redact_text(text, counts)
        known = self._memo.get(text)
        if known is None:
            found: Counter[str] = Counter()
            known = (super().redact_text(text, found), found)
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()  # bounded; the next deliveries refill it
            self._memo[text] = known
        if counts is not None and known[1]:
            counts.update(known[1])
        return known[0]


class IntakePipeline:
    """The ack path's writer and the background step behind it."""

    def __init__(self, runtime: Runtime) -> None:
        # What the process built to start (modules, config, DBOS, the app) lives as long as it
        # does: frozen, a full collection no longer walks it while webhooks wait (a 100 ms pause
        # in the middle of a burst, measured).
        if not gc.get_freeze_count():  # once per process
            gc.collect()
            gc.freeze()
        self.redactor = MemoRedactor(runtime.redactor)
        self.committer = GroupCommitter(runtime.store)
        self.promoter = Promoter(runtime, busy=self.committer.busy)
        self.committer.on_commit = self.promoter.wake

    def close(self) -> None:
        """Commit what is queued, then stop both threads (waiting alerts stay in the store)."""
        self.committer.close()
        self.promoter.close()
