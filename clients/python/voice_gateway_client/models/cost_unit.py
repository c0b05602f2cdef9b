from enum import StrEnum


class CostUnit(StrEnum):
    CREDITS = "credits"
    USD = "USD"

    def __str__(self) -> str:
        return str(self.value)
