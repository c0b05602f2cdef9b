"""Contains all the data models used in inputs/outputs"""

from .api_error import ApiError
from .api_key_info import ApiKeyInfo
from .api_key_list import ApiKeyList
from .audit_event import AuditEvent
from .audit_page import AuditPage
from .call import Call
from .call_created_data import CallCreatedData
from .call_ended_data import CallEndedData
from .call_metadata import CallMetadata
from .call_page import CallPage
from .call_recording_ready_data import CallRecordingReadyData
from .call_status import CallStatus
from .call_status_changed_data import CallStatusChangedData
from .call_telephony_ids import CallTelephonyIds
from .call_transcript_finalized_data import CallTranscriptFinalizedData
from .call_transcript_turn_data import CallTranscriptTurnData
from .call_variables import CallVariables
from .cost_unit import CostUnit
from .create_api_key import CreateApiKey
from .create_call_request import CreateCallRequest
from .create_call_request_metadata import CreateCallRequestMetadata
from .create_call_request_variables import CreateCallRequestVariables
from .create_event_endpoint import CreateEventEndpoint
from .create_user import CreateUser
from .created_api_key import CreatedApiKey
from .delivery_attempt import DeliveryAttempt
from .delivery_status import DeliveryStatus
from .erasure_request import ErasureRequest
from .erasure_result import ErasureResult
from .error_detail import ErrorDetail
from .event import Event
from .event_delivery import EventDelivery
from .event_delivery_page import EventDeliveryPage
from .event_endpoint import EventEndpoint
from .event_endpoint_list import EventEndpointList
from .event_endpoint_with_secret import EventEndpointWithSecret
from .event_page import EventPage
from .health import Health
from .me import Me
from .ping_data import PingData
from .provider_capabilities import ProviderCapabilities
from .provider_info import ProviderInfo
from .provider_list import ProviderList
from .receipt_outcome import ReceiptOutcome
from .receive_topic_webhook_json_body import ReceiveTopicWebhookJsonBody
from .receive_webhook_json_body import ReceiveWebhookJsonBody
from .redeliver_request import RedeliverRequest
from .redelivered import Redelivered
from .refresh_request import RefreshRequest
from .replay_options import ReplayOptions
from .replay_outcomes import ReplayOutcomes
from .replay_range_request import ReplayRangeRequest
from .replay_range_result import ReplayRangeResult
from .replay_request import ReplayRequest
from .replayed import Replayed
from .status_event_view import StatusEventView
from .status_history import StatusHistory
from .test_delivery import TestDelivery
from .token_request import TokenRequest
from .token_response import TokenResponse
from .transcript import Transcript
from .transcript_source import TranscriptSource
from .turn_view import TurnView
from .update_event_endpoint import UpdateEventEndpoint
from .update_user import UpdateUser
from .user import User
from .user_list import UserList
from .webhook_ack import WebhookAck
from .webhook_ack_outcome import WebhookAckOutcome
from .webhook_receipt import WebhookReceipt
from .webhook_receipt_page import WebhookReceiptPage

__all__ = (
    "ApiError",
    "ApiKeyInfo",
    "ApiKeyList",
    "AuditEvent",
    "AuditPage",
    "Call",
    "CallCreatedData",
    "CallEndedData",
    "CallMetadata",
    "CallPage",
    "CallRecordingReadyData",
    "CallStatus",
    "CallStatusChangedData",
    "CallTelephonyIds",
    "CallTranscriptFinalizedData",
    "CallTranscriptTurnData",
    "CallVariables",
    "CostUnit",
    "CreateApiKey",
    "CreateCallRequest",
    "CreateCallRequestMetadata",
    "CreateCallRequestVariables",
    "CreatedApiKey",
    "CreateEventEndpoint",
    "CreateUser",
    "DeliveryAttempt",
    "DeliveryStatus",
    "ErasureRequest",
    "ErasureResult",
    "ErrorDetail",
    "Event",
    "EventDelivery",
    "EventDeliveryPage",
    "EventEndpoint",
    "EventEndpointList",
    "EventEndpointWithSecret",
    "EventPage",
    "Health",
    "Me",
    "PingData",
    "ProviderCapabilities",
    "ProviderInfo",
    "ProviderList",
    "ReceiptOutcome",
    "ReceiveTopicWebhookJsonBody",
    "ReceiveWebhookJsonBody",
    "Redelivered",
    "RedeliverRequest",
    "RefreshRequest",
    "Replayed",
    "ReplayOptions",
    "ReplayOutcomes",
    "ReplayRangeRequest",
    "ReplayRangeResult",
    "ReplayRequest",
    "StatusEventView",
    "StatusHistory",
    "TestDelivery",
    "TokenRequest",
    "TokenResponse",
    "Transcript",
    "TranscriptSource",
    "TurnView",
    "UpdateEventEndpoint",
    "UpdateUser",
    "User",
    "UserList",
    "WebhookAck",
    "WebhookAckOutcome",
    "WebhookReceipt",
    "WebhookReceiptPage",
)
