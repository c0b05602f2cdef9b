from enum import StrEnum


class TranscriptSource(StrEnum):
    LIVE = "live"
    POST_CALL = "post_call"

    def __str__(self) -> str:
        return str(self.value)
