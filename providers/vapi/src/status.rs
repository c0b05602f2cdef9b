//! VAPI call statuses and `endedReason` values, mapped to normalized statuses. The crate docs
//! show the same mapping as a table; the tests below keep the two in step.

use plugin_api::CallStatus;

/// The normalized status of a VAPI `status` (as in `Call.status` and `status-update`), or `None`
/// for a status that says nothing about the call's progress (`not-found`, `deletion-failed`,
/// values added later). `ended` is decided by the `endedReason`.
pub(crate) fn from_vapi_status(status: &str, ended_reason: Option<&str>) -> Option<CallStatus> {
    match status {
        "scheduled" | "queued" => Some(CallStatus::Queued),
        "ringing" => Some(CallStatus::Ringing),
        "in-progress" | "forwarding" => Some(CallStatus::InProgress),
        "ended" => Some(ended_reason.map_or(CallStatus::Completed, from_ended_reason)),
        _ => None,
    }
}

/// The terminal status a call that ended for `reason` has.
pub(crate) fn from_ended_reason(reason: &str) -> CallStatus {
    let reason = reason.trim();
    match reason {
        "customer-busy" => return CallStatus::Busy,
        "customer-did-not-answer" => return CallStatus::NoAnswer,
        "manually-canceled" | "scheduled-call-deleted" | "call-deleted" => {
            return CallStatus::Canceled;
        }
        // Named failures without an error-family prefix.
        "assistant-join-timed-out"
        | "customer-did-not-give-microphone-permission"
        | "phone-call-provider-bypass-enabled-but-no-call-received"
        | "twilio-reported-customer-misdialed"
        | "vonage-rejected"
        | "worker-shutdown"
        | "db-error"
        | "unknown-error" => return CallStatus::Failed,
        _ => {}
    }
    const FAILED_PREFIXES: [&str; 9] = [
        "pipeline-error-",
        "call.start.error-",
        "call-start-error-",
        "call.in-progress.error-",
        "call.ringing.error-",
        "twilio-failed-",
        "vonage-failed-",
        "assistant-request-",
        "assistant-not-",
    ];
    if FAILED_PREFIXES.iter().any(|p| reason.starts_with(p)) || looks_like_an_error(reason) {
        CallStatus::Failed
    } else {
        CallStatus::Completed
    }
}

/// Whether a value outside the known families names an error: one of its words (split on `-`
/// and `.`) is `error`, `failed`, `fault` or ends in `fault` (`vapifault`, `providerfault`).
fn looks_like_an_error(reason: &str) -> bool {
    reason
        .split(['-', '.'])
        .any(|word| matches!(word, "error" | "failed" | "failure") || word.ends_with("fault"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use CallStatus::*;

    /// The rows of the crate docs' table, with one example each.
    const TABLE: &[(&str, CallStatus)] = &[
        ("customer-busy", Busy),
        ("customer-did-not-answer", NoAnswer),
        ("manually-canceled", Canceled),
        ("scheduled-call-deleted", Canceled),
        ("call-deleted", Canceled),
        ("pipeline-error-openai-llm-failed", Failed),
        ("call.start.error-get-assistant", Failed),
        ("call-start-error-neither-assistant-nor-server-set", Failed),
        (
            "call.in-progress.error-sip-outbound-call-failed-to-connect",
            Failed,
        ),
        (
            "call.ringing.error-sip-inbound-call-failed-to-connect",
            Failed,
        ),
        ("twilio-failed-to-connect-call", Failed),
        ("vonage-failed-to-connect-call", Failed),
        ("assistant-request-returned-error", Failed),
        ("assistant-not-found", Failed),
        ("assistant-join-timed-out", Failed),
        ("customer-did-not-give-microphone-permission", Failed),
        (
            "phone-call-provider-bypass-enabled-but-no-call-received",
            Failed,
        ),
        ("twilio-reported-customer-misdialed", Failed),
        ("vonage-rejected", Failed),
        ("worker-shutdown", Failed),
        ("customer-ended-call", Completed),
        ("customer-ended-call-during-transfer", Completed),
        ("assistant-ended-call", Completed),
        ("assistant-ended-call-with-hangup-task", Completed),
        ("assistant-said-end-call-phrase", Completed),
        ("assistant-forwarded-call", Completed),
        ("voicemail", Completed),
        ("silence-timed-out", Completed),
        ("exceeded-max-duration", Completed),
        ("phone-call-provider-closed-websocket", Completed),
        ("call.in-progress.twilio-completed-call", Completed),
        ("call.in-progress.sip-completed-call", Completed),
        ("vonage-completed", Completed),
        ("vonage-disconnected", Completed),
        ("call.ending.hook-executed-say", Completed),
        ("call.ringing.hook-executed-transfer", Completed),
        ("call.forwarding.operator-busy", Completed),
    ];

    #[test]
    fn the_documented_table_holds() {
        for (reason, status) in TABLE {
            assert_eq!(from_ended_reason(reason), *status, "{reason}");
        }
    }

    #[test]
    fn unknown_values_go_by_family() {
        for failed in [
            "pipeline-error-brand-new-vendor-failed",
            "call.start.error-something-new",
            "call.in-progress.error-vapifault-new-thing",
            "telnyx-failed-to-connect-call",
            "call.ringing.error-new",
            "call.transfer.providerfault-new",
            "brand-new-error",
        ] {
            assert_eq!(from_ended_reason(failed), Failed, "{failed}");
        }
        for completed in [
            "customer-hung-up-politely",
            "assistant-ended-call-after-new-thing",
            "telnyx-completed",
            "errand-finished",
            "",
        ] {
            assert_eq!(from_ended_reason(completed), Completed, "{completed}");
        }
    }

    #[test]
    fn statuses() {
        assert_eq!(from_vapi_status("scheduled", None), Some(Queued));
        assert_eq!(from_vapi_status("queued", None), Some(Queued));
        assert_eq!(from_vapi_status("ringing", None), Some(Ringing));
        assert_eq!(from_vapi_status("in-progress", None), Some(InProgress));
        assert_eq!(from_vapi_status("forwarding", None), Some(InProgress));
        assert_eq!(from_vapi_status("ended", None), Some(Completed));
        assert_eq!(from_vapi_status("ended", Some("customer-busy")), Some(Busy));
        assert_eq!(from_vapi_status("not-found", None), None);
        assert_eq!(from_vapi_status("deletion-failed", None), None);
        assert_eq!(from_vapi_status("teleported", None), None);
    }
}
