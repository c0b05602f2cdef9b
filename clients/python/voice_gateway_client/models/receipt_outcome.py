from enum import StrEnum


class ReceiptOutcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    UNKNOWN_CALL = "unknown_call"

    def __str__(self) -> str:
        return str(self.value)
