//! Retell's `call_status` and `disconnection_reason` values, mapped to normalized statuses. The
//! crate docs show the same mapping as a table; the tests below keep the two in step.

use plugin_api::CallStatus;

/// What a `disconnection_reason` says about how a call ended. Unknown values are kept as
/// `Other`, and the `call_status` decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    Busy,
    NoAnswer,
    Failed,
    Completed,
    /// Not one of the values Retell documents.
    Other,
}

/// Reasons of calls that never connected.
const NOT_CONNECTED_FAILED: &[&str] = &[
    "dial_failed",
    "invalid_destination",
    "telephony_provider_permission_denied",
    "telephony_provider_unavailable",
    "sip_routing_error",
    "marked_as_spam",
];

/// Reasons of calls Retell could not run.
const ERRORS: &[&str] = &[
    "concurrency_limit_reached",
    "no_valid_payment",
    "scam_detected",
    "credit_exhausted",
    "budget_reached",
    "no_concurrency_fallback",
    "network_blocked",
    "registered_call_timeout",
    "error_llm_websocket_open",
    "error_llm_websocket_lost_connection",
    "error_llm_websocket_runtime",
    "error_llm_websocket_corrupt_payload",
    "error_no_audio_received",
    "error_asr",
    "error_retell",
    "error_unknown",
    "error_user_not_joined",
];

/// Reasons of calls that connected and ended normally. `manual_stopped` is here: the gateway
/// turns it into `canceled` when it asked for the hang-up.
const ENDED: &[&str] = &[
    "user_hangup",
    "agent_hangup",
    "call_transfer",
    "transfer_bridged",
    "transfer_cancelled",
    "voicemail_reached",
    "ivr_reached",
    "inactivity",
    "max_duration_reached",
    "user_requested_dnc",
    "user_requested_callback",
    "call_take_over",
    "manual_stopped",
];

pub(crate) fn ending(reason: &str) -> Ending {
    match reason {
        "dial_busy" | "user_declined" => Ending::Busy,
        "dial_no_answer" => Ending::NoAnswer,
        r if NOT_CONNECTED_FAILED.contains(&r) || ERRORS.contains(&r) => Ending::Failed,
        // A new error_* value is still an error.
        r if r.starts_with("error_") => Ending::Failed,
        r if ENDED.contains(&r) => Ending::Completed,
        _ => Ending::Other,
    }
}

/// The normalized status of a Retell call with `call_status` (and `disconnection_reason`), or
/// `None` for a status that says nothing about the call's progress (values added later).
pub(crate) fn from_retell(call_status: &str, reason: Option<&str>) -> Option<CallStatus> {
    let by_reason = reason.map(ending);
    let terminal = |fallback: CallStatus| match by_reason {
        Some(Ending::Busy) => CallStatus::Busy,
        Some(Ending::NoAnswer) => CallStatus::NoAnswer,
        Some(Ending::Failed) => CallStatus::Failed,
        Some(Ending::Completed) => CallStatus::Completed,
        Some(Ending::Other) | None => fallback,
    };
    match call_status {
        "registered" => Some(CallStatus::Initiating),
        "ongoing" => Some(CallStatus::InProgress),
        "ended" => Some(terminal(CallStatus::Completed)),
        "not_connected" | "error" => Some(terminal(CallStatus::Failed)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CallStatus::*;

    /// The rows of the crate docs' table: every documented reason.
    const TABLE: &[(&str, &str, CallStatus)] = &[
        ("not_connected", "dial_busy", Busy),
        ("not_connected", "user_declined", Busy),
        ("not_connected", "dial_no_answer", NoAnswer),
        ("not_connected", "dial_failed", Failed),
        ("not_connected", "invalid_destination", Failed),
        (
            "not_connected",
            "telephony_provider_permission_denied",
            Failed,
        ),
        ("not_connected", "telephony_provider_unavailable", Failed),
        ("not_connected", "sip_routing_error", Failed),
        ("not_connected", "marked_as_spam", Failed),
        ("error", "concurrency_limit_reached", Failed),
        ("error", "no_valid_payment", Failed),
        ("error", "scam_detected", Failed),
        ("error", "credit_exhausted", Failed),
        ("error", "budget_reached", Failed),
        ("error", "no_concurrency_fallback", Failed),
        ("error", "network_blocked", Failed),
        ("error", "registered_call_timeout", Failed),
        ("error", "error_llm_websocket_open", Failed),
        ("error", "error_llm_websocket_lost_connection", Failed),
        ("error", "error_llm_websocket_runtime", Failed),
        ("error", "error_llm_websocket_corrupt_payload", Failed),
        ("error", "error_no_audio_received", Failed),
        ("error", "error_asr", Failed),
        ("error", "error_retell", Failed),
        ("error", "error_unknown", Failed),
        ("error", "error_user_not_joined", Failed),
        ("ended", "user_hangup", Completed),
        ("ended", "agent_hangup", Completed),
        ("ended", "call_transfer", Completed),
        ("ended", "transfer_bridged", Completed),
        ("ended", "transfer_cancelled", Completed),
        ("ended", "voicemail_reached", Completed),
        ("ended", "ivr_reached", Completed),
        ("ended", "inactivity", Completed),
        ("ended", "max_duration_reached", Completed),
        ("ended", "user_requested_dnc", Completed),
        ("ended", "user_requested_callback", Completed),
        ("ended", "call_take_over", Completed),
        ("ended", "manual_stopped", Completed),
    ];

    #[test]
    fn the_documented_table_holds() {
        for (status, reason, expected) in TABLE {
            assert_eq!(
                from_retell(status, Some(reason)),
                Some(*expected),
                "{reason}"
            );
            assert_ne!(ending(reason), Ending::Other, "{reason} is documented");
        }
    }

    #[test]
    fn unknown_reasons_go_by_call_status() {
        assert_eq!(ending("teleported"), Ending::Other);
        assert_eq!(from_retell("ended", Some("teleported")), Some(Completed));
        assert_eq!(
            from_retell("not_connected", Some("teleported")),
            Some(Failed)
        );
        assert_eq!(from_retell("error", Some("teleported")), Some(Failed));
        assert_eq!(from_retell("error", Some("error_brand_new")), Some(Failed));
        assert_eq!(from_retell("ended", None), Some(Completed));
        assert_eq!(from_retell("not_connected", None), Some(Failed));
    }

    #[test]
    fn live_statuses() {
        assert_eq!(from_retell("registered", None), Some(Initiating));
        assert_eq!(from_retell("ongoing", None), Some(InProgress));
        assert_eq!(from_retell("paused", None), None);
    }
}
