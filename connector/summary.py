"""What one tick did, for the CLI line, the logs, the daemon's STATUS= and metrics."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TickSummary:
    team: str
    read: int = 0
    filtered: int = 0
    new: int = 0
    rejected: int = 0
    submitted: int = 0
    campaigns_created: int = 0
    results_written: int = 0
    keys_assigned: int = 0
    open_campaigns: int = 0
    outbox: int = 0
    parked: int = 0  # outbox rows the source refused for good (not sent again)
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        text = (
            f"{self.team}: read {self.read}, new {self.new}, rejected {self.rejected}, "
            f"submitted {self.submitted}, campaigns created {self.campaigns_created}, "
            f"results written {self.results_written}, open campaigns {self.open_campaigns}, "
            f"outbox {self.outbox}"
        )
        text += f", parked {self.parked}" if self.parked else ""
        return text + (f", errors {len(self.errors)}" if self.errors else "")
