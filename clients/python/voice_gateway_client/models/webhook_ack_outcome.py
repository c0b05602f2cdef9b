from enum import StrEnum


class WebhookAckOutcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    UNKNOWN_CALL = "unknown_call"

    def __str__(self) -> str:
        return str(self.value)
