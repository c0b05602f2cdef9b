"""Contains all the data models used in inputs/outputs"""

from .api_error import ApiError
from .api_key_info import ApiKeyInfo
from .api_key_list import ApiKeyList
from .audit_event import AuditEvent
from .audit_page import AuditPage
from .call import Call
from .call_metadata import CallMetadata
from .call_page import CallPage
from .call_status import CallStatus
from .call_telephony_ids import CallTelephonyIds
from .call_variables import CallVariables
from .cost_unit import CostUnit
from .create_api_key import CreateApiKey
from .create_call_request import CreateCallRequest
from .create_call_request_metadata import CreateCallRequestMetadata
from .create_call_request_variables import CreateCallRequestVariables
from .create_user import CreateUser
from .created_api_key import CreatedApiKey
from .error_detail import ErrorDetail
from .health import Health
from .me import Me
from .provider_capabilities import ProviderCapabilities
from .provider_info import ProviderInfo
from .provider_list import ProviderList
from .receipt_outcome import ReceiptOutcome
from .receive_topic_webhook_json_body import ReceiveTopicWebhookJsonBody
from .receive_webhook_json_body import ReceiveWebhookJsonBody
from .refresh_request import RefreshRequest
from .status_event_view import StatusEventView
from .status_history import StatusHistory
from .token_request import TokenRequest
from .token_response import TokenResponse
from .transcript import Transcript
from .transcript_source import TranscriptSource
from .turn_view import TurnView
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
    "CallMetadata",
    "CallPage",
    "CallStatus",
    "CallTelephonyIds",
    "CallVariables",
    "CostUnit",
    "CreateApiKey",
    "CreateCallRequest",
    "CreateCallRequestMetadata",
    "CreateCallRequestVariables",
    "CreatedApiKey",
    "CreateUser",
    "ErrorDetail",
    "Health",
    "Me",
    "ProviderCapabilities",
    "ProviderInfo",
    "ProviderList",
    "ReceiptOutcome",
    "ReceiveTopicWebhookJsonBody",
    "ReceiveWebhookJsonBody",
    "RefreshRequest",
    "StatusEventView",
    "StatusHistory",
    "TokenRequest",
    "TokenResponse",
    "Transcript",
    "TranscriptSource",
    "TurnView",
    "UpdateUser",
    "User",
    "UserList",
    "WebhookAck",
    "WebhookAckOutcome",
    "WebhookReceipt",
    "WebhookReceiptPage",
)
