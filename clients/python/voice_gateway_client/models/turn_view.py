from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.transcript_source import TranscriptSource
from ..types import UNSET, Unset

T = TypeVar("T", bound="TurnView")


@_attrs_define
class TurnView:
    """One turn of a call's transcript.

    Attributes:
        created_at (datetime.datetime): When the gateway stored the turn.
        final (bool): Stored turns are always final.
        seq (int): The gateway's sequence number: 1, 2, 3, ... in the order turns arrived.
        source (TranscriptSource): Where a transcript turn came from.
        speaker (str): `agent`, `user`, `system`, `tool`, or a vendor's own role.
        text (str): What was said.
        offset_secs (float | Unset): Seconds from the start of the call, when the vendor says.
    """

    created_at: datetime.datetime
    final: bool
    seq: int
    source: TranscriptSource
    speaker: str
    text: str
    offset_secs: float | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        created_at = self.created_at.isoformat()

        final = self.final

        seq = self.seq

        source = self.source.value

        speaker = self.speaker

        text = self.text

        offset_secs = self.offset_secs

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "created_at": created_at,
                "final": final,
                "seq": seq,
                "source": source,
                "speaker": speaker,
                "text": text,
            }
        )
        if offset_secs is not UNSET:
            field_dict["offset_secs"] = offset_secs

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        final = d.pop("final")

        seq = d.pop("seq")

        source = TranscriptSource(d.pop("source"))

        speaker = d.pop("speaker")

        text = d.pop("text")

        offset_secs = d.pop("offset_secs", UNSET)

        turn_view = cls(
            created_at=created_at,
            final=final,
            seq=seq,
            source=source,
            speaker=speaker,
            text=text,
            offset_secs=offset_secs,
        )

        turn_view.additional_properties = d
        return turn_view

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
