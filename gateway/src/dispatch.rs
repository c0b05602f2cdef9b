//! Outbound: placing and hanging up calls through a provider.
//!
//! The call is stored (`queued`) before the provider is asked anything, so every attempt is
//! audited; then the provider's request description is sent by the gateway's own HTTP client
//! (or answered locally) and the provider reads the answer. Local providers' scheduled webhooks
//! are delivered back through [`crate::ingest`].

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use plugin_api::{
    Acceptance, Call, CallDetails, CallEvent, CallId, CallRequest, CallStatus, CreateCallOutcome,
    HangupOutcome, PhoneNumber, ScheduledWebhook, StatusUpdate,
};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tracing::{Instrument, info, info_span, warn};

use crate::config::ProviderInstance;
use crate::gateway::Gateway;
use crate::ingest::{InboundWebhook, ingest};
use crate::outbound::{Answer, RequestKind, SendError, retry_after};
use crate::store::{Claim, EventSource, IdempotencyKey, StoreError};

/// A client's request to place a call, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCallRequest {
    pub to: PhoneNumber,
    /// The provider instance; `None` means the configured default.
    pub provider: Option<String>,
    pub agent_id: Option<String>,
    pub from_number_id: Option<String>,
    pub variables: Map<String, Value>,
    pub metadata: Map<String, Value>,
    pub first_message: Option<String>,
}

impl NewCallRequest {
    /// A stable digest of the request, to tell a retry from a different request under one key.
    fn digest(&self, provider: &str) -> String {
        let canonical = serde_json::json!({
            "to": self.to.as_str(),
            "provider": provider,
            "agent_id": self.agent_id,
            "from_number_id": self.from_number_id,
            "variables": self.variables,
            "metadata": self.metadata,
            "first_message": self.first_message,
        });
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }
}

/// How a create request ended.
#[derive(Debug, Clone)]
pub enum Created {
    /// The provider accepted the call.
    Accepted(Call),
    /// The vendor's answer is not known (e.g. it timed out after the request was sent).
    Pending(Call),
    /// The idempotency key was used before with this request: the original call.
    Replayed(Call),
    /// The provider refused; the call is stored as `failed`.
    Rejected { call: Call, message: String },
}

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("no provider named '{0}' is configured")]
    UnknownProvider(String),
    #[error("provider '{0}' cannot {1}")]
    Unsupported(String, &'static str),
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyMismatch,
    #[error("a request with this Idempotency-Key is still being processed")]
    IdempotencyInFlight,
    #[error("call not found")]
    CallNotFound,
    #[error("the call has already ended ({0})")]
    CallEnded(CallStatus),
    #[error("{0}")]
    NotPossible(String),
    #[error("the provider refused: {message}")]
    ProviderRejected { call_id: CallId, message: String },
    #[error("the provider cannot place this call: {message}")]
    InvalidForProvider { call_id: CallId, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn resolve<'a>(
    gateway: &'a Gateway,
    name: Option<&str>,
) -> Result<&'a ProviderInstance, DispatchError> {
    let name = name.unwrap_or(gateway.settings.default_provider());
    gateway
        .provider(name)
        .ok_or_else(|| DispatchError::UnknownProvider(name.to_owned()))
}

fn status(status: CallStatus, reason: Option<String>) -> CallEvent {
    CallEvent::Status(StatusUpdate {
        status,
        at: Some(Utc::now()),
        reason,
        vendor_status: None,
    })
}

/// Places a call: store it, ask the provider, record the answer.
pub async fn create_call(
    gateway: &Arc<Gateway>,
    request: NewCallRequest,
    idempotency_key: Option<String>,
    created_by: Option<String>,
) -> Result<Created, DispatchError> {
    let instance = resolve(gateway, request.provider.as_deref())?;
    if !instance.manifest.capabilities.outbound_call {
        return Err(DispatchError::Unsupported(
            instance.name.clone(),
            "place outbound calls",
        ));
    }
    let now = Utc::now();
    let key = idempotency_key.map(|key| IdempotencyKey {
        scope: created_by.clone().unwrap_or_default(),
        request_hash: request.digest(&instance.name),
        key,
        ttl: gateway.settings.idempotency_ttl(),
        claim_timeout: Duration::from_secs(gateway.settings.gateway.idempotency_claim_timeout_secs),
    });
    let call = Call {
        id: CallId::new(),
        provider: instance.name.clone(),
        provider_kind: instance.kind.clone(),
        provider_call_id: None,
        telephony_ids: Default::default(),
        status: CallStatus::Queued,
        status_reason: None,
        to: request.to,
        from_number_id: request.from_number_id,
        agent_id: request.agent_id,
        variables: request.variables,
        metadata: request.metadata,
        first_message: request.first_message,
        created_at: now,
        updated_at: now,
        started_at: None,
        ended_at: None,
        duration_secs: None,
        cost: None,
        summary: None,
        success: None,
        analysis: None,
        recording_url: None,
        end_reason: None,
        failure_reason: None,
        cost_breakdown: None,
        vendor_metadata: None,
        idempotency_key: key.as_ref().map(|k| k.key.clone()),
        created_by,
        removed: Default::default(),
    };
    // Without a key, nothing tells a `queued` call from an `initiating` one later (only a
    // key's recovery does: see `recover`), so the call is stored already initiating.
    let initial = match key {
        None => vec![status(CallStatus::Initiating, None)],
        Some(_) => Vec::new(),
    };
    let stored = gateway
        .store
        .create_call(call, key.as_ref(), &initial)
        .await?;
    let (call, recovered) = match stored {
        Claim::Created(call) => (call, false),
        Claim::Recovered(call) => (call, true),
        Claim::Replay(call) => return Ok(Created::Replayed(call)),
        Claim::Mismatch => return Err(DispatchError::IdempotencyMismatch),
        Claim::InFlight => return Err(DispatchError::IdempotencyInFlight),
    };
    let span = info_span!("call", call_id = %call.id, provider = %instance.name);
    let outcome = if recovered {
        recover(gateway, instance, call).instrument(span).await
    } else {
        place(gateway, instance, call).instrument(span).await
    };
    if let Some(key) = &key {
        // The outcome is stored whatever it was; a replay now returns this call.
        gateway.store.complete_idempotency_key(key).await?;
    }
    outcome
}

async fn place(
    gateway: &Arc<Gateway>,
    instance: &ProviderInstance,
    call: Call,
) -> Result<Created, DispatchError> {
    info!(to = %call.to, "placing call");
    let request = CallRequest {
        call_id: call.id,
        to: call.to.clone(),
        agent_id: call.agent_id.clone(),
        from_number_id: call.from_number_id.clone(),
        variables: call.variables.clone(),
        metadata: call.metadata.clone(),
        first_message: call.first_message.clone(),
        created_at: call.created_at,
    };
    let store = &gateway.store;
    let record = |events: Vec<CallEvent>, data: Option<Value>| async move {
        let applied = store
            .apply_events(call.id, &events, data.as_ref(), EventSource::Dispatch)
            .await?
            .ok_or(DispatchError::CallNotFound)?;
        Ok::<_, DispatchError>(applied.call)
    };
    if call.status == CallStatus::Queued {
        // Durable before the vendor is asked: a call found `queued` later was never sent.
        record(vec![status(CallStatus::Initiating, None)], None).await?;
    }

    let mut attempt = 1;
    let (outcome, scheduled) = loop {
        let answer = match create_attempt(gateway, instance, &request).await {
            Ok(answer) => answer,
            Err(e) => {
                let message = e.to_string();
                record(
                    vec![status(CallStatus::Failed, Some(message.clone()))],
                    None,
                )
                .await?;
                // A provider that failed (e.g. a plugin panicked) is the gateway's problem, not
                // the request's.
                return Err(match e {
                    plugin_api::ProviderError::Plugin(_) => DispatchError::ProviderRejected {
                        call_id: call.id,
                        message,
                    },
                    _ => DispatchError::InvalidForProvider {
                        call_id: call.id,
                        message,
                    },
                });
            }
        };
        match answer {
            Attempt::Answered(outcome, scheduled) => break (outcome, scheduled),
            Attempt::Retryable {
                message,
                retry_after,
                unknown,
            } if attempt < CREATE_ATTEMPTS => {
                let delay = backoff(attempt, retry_after);
                let delay_ms = delay.as_millis() as u64;
                if unknown {
                    warn!(%message, attempt, delay_ms, "outcome of the create request is unknown; resending it (the vendor deduplicates creates)");
                } else {
                    warn!(%message, attempt, delay_ms, "provider not ready; retrying");
                }
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            Attempt::Retryable {
                message,
                unknown: false,
                ..
            } => {
                break (
                    CreateCallOutcome::Rejected {
                        retryable: true,
                        message,
                    },
                    Vec::new(),
                );
            }
            // The last of the resent creates is still unknown: as without the capability.
            Attempt::Retryable {
                message,
                unknown: true,
                ..
            } => break (CreateCallOutcome::Indeterminate { message }, Vec::new()),
        }
    };
    match outcome {
        CreateCallOutcome::Accepted(acceptance) => {
            let Acceptance {
                provider_call_id,
                telephony_ids,
                status: initial,
                provider_data,
            } = acceptance;
            let details = CallEvent::Details(CallDetails {
                provider_call_id,
                telephony_ids,
                ..CallDetails::default()
            });
            let events = vec![
                details,
                status(initial.unwrap_or(CallStatus::Initiating), None),
            ];
            let call = record(events, provider_data).await?;
            info!(provider_call_id = ?call.provider_call_id, attempt, "call accepted");
            schedule(gateway, &instance.name, call.id, scheduled);
            Ok(Created::Accepted(call))
        }
        CreateCallOutcome::Rejected { message, .. } => {
            warn!(%message, attempt, "provider rejected the call");
            let call = record(
                vec![status(CallStatus::Failed, Some(message.clone()))],
                None,
            )
            .await?;
            Ok(Created::Rejected { call, message })
        }
        CreateCallOutcome::Indeterminate { message } => {
            // The vendor may have placed the call: retrying could ring a person twice (unless the
            // vendor deduplicates creates, and then all attempts were used). A webhook or
            // reconciliation settles it.
            warn!(%message, "outcome of the create request is unknown");
            let reason = Some(VENDOR_OUTCOME_UNKNOWN.to_owned());
            let call = record(vec![status(CallStatus::Initiating, reason)], None).await?;
            Ok(Created::Pending(call))
        }
    }
}

/// The status reason of a call whose create request died mid-flight (the gateway stopped) with
/// an outcome at the vendor nobody can tell: the provider can neither fetch the call nor
/// deduplicate a resent create, so it is ended rather than placed a second time.
pub const INTERRUPTED_CREATE: &str = "interrupted: the gateway stopped while placing this call and the provider cannot report whether the vendor placed it";

/// Settles the call of an idempotency key whose first request died mid-flight (the claim's
/// lease ran out, see `store::idempotency`), for the retry that took the claim over:
/// - never sent (`queued`): placed now, as the first request would have;
/// - known to the vendor (its id stored) or ended: answered as a replay;
/// - the create may have reached the vendor: sent again only if the vendor deduplicates creates
///   (`idempotent_create`); else fetched now if the provider can (and left to the reconciler
///   if the vendor cannot tell yet); else ended `failed` with [`INTERRUPTED_CREATE`].
async fn recover(
    gateway: &Arc<Gateway>,
    instance: &ProviderInstance,
    call: Call,
) -> Result<Created, DispatchError> {
    let capabilities = &instance.manifest.capabilities;
    if call.status == CallStatus::Queued && call.provider_call_id.is_none() {
        info!("idempotency claim taken over: the call never reached the provider; placing it now");
        return place(gateway, instance, call).await;
    }
    if call.status.is_terminal() || call.provider_call_id.is_some() {
        info!(status = %call.status, "idempotency claim taken over: the call is settled; replaying it");
        return Ok(Created::Replayed(call));
    }
    if capabilities.idempotent_create {
        info!(
            "idempotency claim taken over: the vendor deduplicates creates; sending the same create again"
        );
        return place(gateway, instance, call).await;
    }
    let store = &gateway.store;
    if capabilities.fetch_call {
        info!("idempotency claim taken over: the create's outcome is unknown; fetching the call");
        let marked = store
            .apply_events(
                call.id,
                &[status(
                    CallStatus::Initiating,
                    Some(VENDOR_OUTCOME_UNKNOWN.to_owned()),
                )],
                None,
                EventSource::Dispatch,
            )
            .await?
            .ok_or(DispatchError::CallNotFound)?
            .call;
        return Ok(match crate::reconcile::refresh(gateway, call.id).await {
            Ok(fetched) if fetched.status.is_terminal() || fetched.provider_call_id.is_some() => {
                Created::Replayed(fetched)
            }
            Ok(fetched) => Created::Pending(fetched),
            Err(error) => {
                // The reconciler tries again (the call is not ended).
                warn!(%error, "fetching the interrupted call failed; left to reconciliation");
                Created::Pending(marked)
            }
        });
    }
    warn!(
        "idempotency claim taken over: the create's outcome is unknown and the provider cannot report it; ending the call"
    );
    let failed = store
        .apply_events(
            call.id,
            &[status(
                CallStatus::Failed,
                Some(INTERRUPTED_CREATE.to_owned()),
            )],
            None,
            EventSource::Dispatch,
        )
        .await?
        .ok_or(DispatchError::CallNotFound)?
        .call;
    Ok(Created::Replayed(failed))
}

/// Creating a call is tried at most this many times, and only again where the vendor cannot
/// have acted on the previous attempt, or where it may have but deduplicates creates by the
/// request's idempotency key (`capabilities.idempotent_create`).
pub const CREATE_ATTEMPTS: u32 = 3;
const RETRY_BASE: Duration = Duration::from_millis(250);
/// No wait between attempts is longer, whatever `Retry-After` asks.
const RETRY_CAP: Duration = Duration::from_secs(10);
/// The status reason of a call whose create request has no known outcome.
pub const VENDOR_OUTCOME_UNKNOWN: &str = "vendor_outcome_unknown";

/// What one attempt to create a call came to.
enum Attempt {
    /// The vendor's answer, or an outcome the provider read from it.
    Answered(CreateCallOutcome, Vec<ScheduledWebhook>),
    /// The vendor cannot have acted (not reached, 429, 503): safe to try again. Or it may have
    /// (`unknown`: a timeout after sending, `Indeterminate`), and it deduplicates creates by the
    /// request's idempotency key: safe to send the same request again.
    Retryable {
        message: String,
        retry_after: Option<Duration>,
        unknown: bool,
    },
}

async fn create_attempt(
    gateway: &Gateway,
    instance: &ProviderInstance,
    request: &CallRequest,
) -> Result<Attempt, plugin_api::ProviderError> {
    let call = request.clone();
    let outbound = instance
        .call(move |provider| provider.build_create_call(&call))
        .await
        .unwrap_or_else(|timeout| Err(plugin_api::ProviderError::Plugin(timeout.to_string())))?;
    // Only a vendor that deduplicates creates may be sent one whose outcome is unknown again.
    let resend_unknown = instance.manifest.capabilities.idempotent_create;
    let Answer {
        response,
        scheduled,
    } = match gateway
        .vendors
        .execute(instance, RequestKind::Create, outbound)
        .await
    {
        Ok(answer) => answer,
        Err(SendError::NotSent(message)) => {
            return Ok(Attempt::Retryable {
                message,
                retry_after: None,
                unknown: false,
            });
        }
        Err(SendError::Unknown(message)) if resend_unknown => {
            return Ok(Attempt::Retryable {
                message,
                retry_after: None,
                unknown: true,
            });
        }
        Err(SendError::Unknown(message)) => {
            return Ok(Attempt::Answered(
                CreateCallOutcome::Indeterminate { message },
                Vec::new(),
            ));
        }
    };
    let vendor_retry_after = retry_after(&response.headers);
    let call = request.clone();
    let outcome = instance
        .call(move |provider| provider.parse_create_call_response(&call, &response))
        .await
        // The vendor may have placed the call: leave it for a webhook or the reconciler.
        .unwrap_or_else(|timeout| CreateCallOutcome::Indeterminate {
            message: timeout.to_string(),
        });
    Ok(match outcome {
        CreateCallOutcome::Rejected {
            retryable: true,
            message,
        } => Attempt::Retryable {
            message,
            retry_after: vendor_retry_after,
            unknown: false,
        },
        CreateCallOutcome::Indeterminate { message } if resend_unknown => Attempt::Retryable {
            message,
            retry_after: vendor_retry_after,
            unknown: true,
        },
        outcome => Attempt::Answered(outcome, scheduled),
    })
}

/// Exponential backoff with jitter, or the vendor's `Retry-After` if longer; capped.
fn backoff(attempt: u32, retry_after: Option<Duration>) -> Duration {
    let exponential = RETRY_BASE.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
    let jittered = exponential.mul_f64(rand::random_range(0.5..=1.0));
    jittered.max(retry_after.unwrap_or_default()).min(RETRY_CAP)
}

/// Asks the call's provider to end it. The status changes when the provider reports it.
pub async fn hangup(gateway: &Arc<Gateway>, id: CallId) -> Result<Call, DispatchError> {
    let (call, handle) = gateway
        .store
        .call_handle(id)
        .await?
        .ok_or(DispatchError::CallNotFound)?;
    if handle.status.is_terminal() {
        return Err(DispatchError::CallEnded(handle.status));
    }
    let instance = resolve(gateway, Some(&call.provider))?;
    let unsupported = || DispatchError::Unsupported(instance.name.clone(), "hang up calls");
    if !instance.manifest.capabilities.hangup {
        return Err(unsupported());
    }
    let target = handle.clone();
    let outbound = instance
        .call(move |provider| provider.build_hangup(&target))
        .await
        .unwrap_or_else(|timeout| Err(plugin_api::ProviderError::Plugin(timeout.to_string())))
        .map_err(|e| match e {
            plugin_api::ProviderError::Unsupported(_) => unsupported(),
            other => DispatchError::NotPossible(other.to_string()),
        })?;
    let span = info_span!("call", call_id = %id, provider = %instance.name);
    let Answer {
        response,
        scheduled,
    } = gateway
        .vendors
        .execute(instance, RequestKind::Hangup, outbound)
        .instrument(span)
        .await
        .map_err(|e| DispatchError::ProviderRejected {
            call_id: id,
            message: e.into_message(),
        })?;
    let outcome = instance
        .call(move |provider| provider.parse_hangup_response(&handle, &response))
        .await
        .unwrap_or_else(|timeout| HangupOutcome::Rejected {
            message: timeout.to_string(),
        });
    match outcome {
        HangupOutcome::Accepted => {
            gateway.store.mark_hangup_requested(id).await?;
            schedule(gateway, &instance.name, id, scheduled);
            Ok(call)
        }
        HangupOutcome::Rejected { message } => Err(DispatchError::ProviderRejected {
            call_id: id,
            message,
        }),
    }
}

/// Delivers a local provider's webhooks to its own endpoint, in order, at their delays. A new
/// schedule for a call replaces the one still pending (e.g. a hang-up ends the script).
fn schedule(
    gateway: &Arc<Gateway>,
    provider: &str,
    call_id: CallId,
    mut hooks: Vec<ScheduledWebhook>,
) {
    let Ok(mut scheduled) = gateway.scheduled.lock() else {
        return;
    };
    if let Some(previous) = scheduled.remove(&call_id) {
        previous.abort();
    }
    if hooks.is_empty() {
        return;
    }
    hooks.sort_by_key(|h| h.delay);
    let task_gateway = Arc::clone(gateway);
    let provider = provider.to_owned();
    let span =
        info_span!(parent: None, "scheduled_webhooks", call_id = %call_id, provider = %provider);
    let task = tokio::spawn(
        async move {
            let start = tokio::time::Instant::now();
            for hook in hooks {
                tokio::time::sleep_until(start + hook.delay).await;
                let inbound = InboundWebhook {
                    provider: provider.clone(),
                    topic: hook.topic,
                    headers: hook.headers,
                    body: hook.body,
                };
                if let Err(e) = ingest(&task_gateway, inbound).await {
                    warn!(error = %e, "scheduled webhook was not applied");
                }
            }
            if let Ok(mut scheduled) = task_gateway.scheduled.lock() {
                scheduled.remove(&call_id);
            }
        }
        .instrument(span),
    );
    scheduled.insert(call_id, task.abort_handle());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 1..=3 {
            let delay = backoff(attempt, None);
            let full = RETRY_BASE * 2u32.pow(attempt - 1);
            assert!(delay >= full / 2 && delay <= full, "{attempt}: {delay:?}");
        }
        assert_eq!(
            backoff(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(backoff(1, Some(Duration::from_secs(3600))), RETRY_CAP);
    }
}
