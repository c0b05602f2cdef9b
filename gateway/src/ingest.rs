//! The ingest pipeline: every webhook, from a vendor or a local provider's script, takes this
//! one path. Raw bytes -> verified (signature) -> parsed (normalized events) -> stored and
//! applied in one transaction -> published to live listeners. The caller acknowledges only
//! after [`ingest`] returns, that is, after the commit.

use chrono::{DateTime, Utc};
use std::path::PathBuf;
use std::sync::Arc;

use plugin_api::{
    CallEvent, CallId, Environment, Headers, ParsedWebhook, Verification, WebhookError,
    WebhookRequest,
};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tracing::{info, warn};

use crate::config::ProviderInstance;
use crate::gateway::Gateway;
use crate::plugins::CallTimedOut;
use crate::store::{Ingestion, NewReceipt, ReceiptOutcome, SignatureVerdict, StoreError};

/// A webhook as it arrived.
#[derive(Debug, Clone)]
pub struct InboundWebhook {
    pub provider: String,
    pub topic: Option<String>,
    pub headers: Headers,
    pub body: Vec<u8>,
}

/// Why a webhook was refused.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("no provider named '{0}' is configured")]
    UnknownProvider(String),
    #[error("webhook signature rejected: {0}")]
    BadSignature(String),
    #[error("{0}")]
    Malformed(String),
    #[error("the webhook's call is not known to this gateway")]
    UnknownCall { receipt_id: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot store the recording: {0}")]
    Recording(#[source] std::io::Error),
    /// The provider failed to handle the webhook (e.g. a plugin panicked): not the sender's fault.
    #[error("the provider failed to handle this webhook: {0}")]
    ProviderFailed(String),
    /// The provider plugin took longer than its time limit: the sender may try again.
    #[error(transparent)]
    ProviderTimedOut(#[from] CallTimedOut),
}

/// What became of an accepted webhook.
#[derive(Debug, Clone)]
pub struct Ingested {
    pub receipt_id: String,
    pub outcome: ReceiptOutcome,
    pub call_id: Option<CallId>,
    /// The provider's own answer for the vendor, if it wants one.
    pub reply: Option<serde_json::Value>,
}

/// A webhook whose signature the provider accepted, just now or (a replay of its stored receipt,
/// see [`crate::replay`]) when it was received; only this can be parsed and applied.
pub(crate) struct Verified<'a> {
    instance: &'a ProviderInstance,
    inbound: Arc<InboundWebhook>,
    verdict: SignatureVerdict,
}

impl<'a> Verified<'a> {
    /// A stored webhook whose signature got `verdict` when it was received: not checked again.
    pub(crate) fn stored(
        instance: &'a ProviderInstance,
        inbound: InboundWebhook,
        verdict: SignatureVerdict,
    ) -> Self {
        Self {
            instance,
            inbound: Arc::new(inbound),
            verdict,
        }
    }
}

/// Where a webhook comes from, for what is done with a delivery applied before.
#[derive(Debug, Clone)]
pub(crate) enum Delivery {
    /// Sent to the gateway now: a delivery applied before is a duplicate.
    Received,
    /// A replay of the stored receipt `of`, with its dedupe key if it had one: a delivery applied
    /// before is a duplicate, unless `force` applies its events again.
    Replay {
        of: String,
        dedupe_key: Option<String>,
        force: bool,
    },
}

/// What a refused webhook keeps of its (redacted) body: enough to recognise it, with its size and
/// SHA-256, but not enough for unauthenticated senders to fill the database.
pub const REFUSED_BODY_PREFIX_BYTES: usize = 256;

/// What the provider is shown of a webhook.
fn request(inbound: &InboundWebhook) -> WebhookRequest<'_> {
    WebhookRequest {
        topic: inbound.topic.as_deref(),
        headers: &inbound.headers,
        body: &inbound.body,
    }
}

/// Header values that are credentials are stored as this.
const REDACTED: &str = "[redacted]";

/// Whether a header's value is a credential: by its name, or because the provider declares it
/// (`Manifest::credential_headers`, lower-case).
fn is_credential(name: &str, declared: &[String]) -> bool {
    let name = name.to_ascii_lowercase();
    if declared.contains(&name) {
        return true;
    }
    [
        "authorization",
        "cookie",
        "api-key",
        "apikey",
        "secret",
        "token",
        "password",
    ]
    .iter()
    .any(|word| name.contains(word))
}

/// The headers kept with a receipt: all of them, credentials redacted.
fn receipt_headers(headers: &Headers, declared: &[String]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = if is_credential(name, declared) {
                REDACTED
            } else {
                value
            };
            (name.to_ascii_lowercase(), value.to_owned())
        })
        .collect()
}

/// The receipt of an inbound webhook, before its outcome is known. Its body is what the provider lets
/// be stored (credentials removed), cut at the configured limit.
pub(crate) fn new_receipt(
    gateway: &Gateway,
    instance: &ProviderInstance,
    inbound: &InboundWebhook,
    received_at: DateTime<Utc>,
) -> NewReceipt {
    let limit =
        usize::try_from(gateway.settings.gateway.receipt_body_limit_bytes).unwrap_or(usize::MAX);
    let redacted = instance.provider.redact_webhook_body(&inbound.body);
    let body = redacted.as_deref().unwrap_or(&inbound.body);
    NewReceipt {
        id: uuid::Uuid::now_v7().to_string(),
        provider: inbound.provider.clone(),
        topic: inbound.topic.clone(),
        received_at,
        headers: receipt_headers(&inbound.headers, &instance.manifest.credential_headers),
        body: body[..body.len().min(limit)].to_vec(),
        body_truncated: body.len() > limit,
        body_size: inbound.body.len(),
        body_sha256: hex::encode(Sha256::digest(&inbound.body)),
        signature: SignatureVerdict::Invalid,
        event_type: None,
        dedupe_key: None,
        replay_of: None,
    }
}

/// Why an unsigned webhook is refused in production, whatever its provider allows.
const UNSIGNED_IN_PRODUCTION: &str = "unsigned webhooks are refused in production";

async fn verify<'a>(
    instance: &'a ProviderInstance,
    inbound: &Arc<InboundWebhook>,
    environment: Environment,
    now: DateTime<Utc>,
) -> Result<Verified<'a>, IngestError> {
    let webhook = Arc::clone(inbound);
    let verification = instance
        .call(move |provider| provider.verify_webhook(&request(&webhook), now))
        .await?;
    let verdict = match verification {
        Verification::Verified => SignatureVerdict::Verified,
        // Startup refuses providers that say they take unsigned webhooks; this holds for those
        // that do not say (e.g. a plugin built before they could).
        Verification::Unsigned if environment == Environment::Production => {
            return Err(IngestError::BadSignature(UNSIGNED_IN_PRODUCTION.to_owned()));
        }
        Verification::Unsigned => SignatureVerdict::Unsigned,
        Verification::Rejected(reason) => return Err(IngestError::BadSignature(reason)),
        Verification::Error(reason) => return Err(IngestError::ProviderFailed(reason)),
    };
    Ok(Verified {
        instance,
        inbound: Arc::clone(inbound),
        verdict,
    })
}

async fn parse(verified: &Verified<'_>) -> Result<ParsedWebhook, IngestError> {
    let webhook = Arc::clone(&verified.inbound);
    verified
        .instance
        .call(move |provider| provider.parse_webhook(&request(&webhook)))
        .await?
        .map_err(|e| match e {
            WebhookError::Plugin(reason) => IngestError::ProviderFailed(reason),
            other => IngestError::Malformed(other.to_string()),
        })
}

/// A webhook without its own id is identified by its bytes.
fn body_digest(body: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(body)))
}

/// File extension for a recording's content type.
fn recording_extension(content_type: &str) -> &'static str {
    match content_type {
        "audio/mpeg" | "audio/mp3" => "mp3",
        "audio/wav" | "audio/x-wav" => "wav",
        "audio/ogg" => "ogg",
        _ => "bin",
    }
}

/// Writes a webhook's recording to disk (synced) before the transaction that points at it, so
/// an acknowledged recording is never lost. Returns the file's path.
async fn save_recording(
    gateway: &Gateway,
    receipt_id: &str,
    events: &[CallEvent],
) -> Result<Option<PathBuf>, IngestError> {
    let Some(recording) = events.iter().find_map(|e| match e {
        CallEvent::Recording(r) => Some(r),
        _ => None,
    }) else {
        return Ok(None);
    };
    let dir = PathBuf::from(&gateway.settings.gateway.recordings_dir);
    let path = dir.join(format!(
        "{receipt_id}.{}",
        recording_extension(&recording.content_type)
    ));
    let write = async {
        tokio::fs::create_dir_all(&dir).await?;
        let mut file = tokio::fs::File::create(&path).await?;
        file.write_all(&recording.data).await?;
        file.sync_all().await
    };
    write.await.map_err(IngestError::Recording)?;
    Ok(Some(path))
}

/// Checks what a webhook's headers alone can tell (`Provider::precheck_webhook`), before its
/// body is read. A webhook refused here is stored as a rejected receipt without a body (its
/// `body_size` is 0: none was read) and answered as a refused signature.
#[tracing::instrument(skip_all, fields(provider = %inbound.provider, topic = ?inbound.topic))]
pub async fn precheck(gateway: &Arc<Gateway>, inbound: &InboundWebhook) -> Result<(), IngestError> {
    let instance = gateway
        .provider(&inbound.provider)
        .ok_or_else(|| IngestError::UnknownProvider(inbound.provider.clone()))?;
    let error = match instance
        .provider
        .precheck_webhook(inbound.topic.as_deref(), &inbound.headers)
    {
        Some(Verification::Rejected(reason)) => IngestError::BadSignature(reason),
        Some(Verification::Error(reason)) => IngestError::ProviderFailed(reason),
        Some(Verification::Unsigned)
            if gateway.settings.log.environment == Environment::Production =>
        {
            IngestError::BadSignature(UNSIGNED_IN_PRODUCTION.to_owned())
        }
        _ => return Ok(()),
    };
    warn!(%error, "webhook refused before its body was read");
    let receipt = new_receipt(gateway, instance, inbound, Utc::now());
    gateway
        .store
        .record_rejected_receipt(&receipt, &error.to_string())
        .await?;
    Err(error)
}

/// Runs one webhook through the pipeline. Every webhook that names a configured provider is
/// stored as a receipt, whatever its outcome.
#[tracing::instrument(skip_all, fields(provider = %inbound.provider, topic = ?inbound.topic))]
pub async fn ingest(
    gateway: &Arc<Gateway>,
    inbound: InboundWebhook,
) -> Result<Ingested, IngestError> {
    let instance = gateway
        .provider(&inbound.provider)
        .ok_or_else(|| IngestError::UnknownProvider(inbound.provider.clone()))?;
    let now = Utc::now();
    let receipt = new_receipt(gateway, instance, &inbound, now);
    let inbound = Arc::new(inbound);

    // Refused webhooks are stored too, with why: the receipt is the audit trail (of their body,
    // its size, hash and first bytes only).
    let environment = gateway.settings.log.environment;
    let verified = match verify(instance, &inbound, environment, now).await {
        Ok(verified) => verified,
        Err(error) => return Err(refuse(gateway, receipt, error).await),
    };
    let ingested = parse_and_apply(gateway, &verified, receipt, Delivery::Received).await?;
    // A message the vendor expects an answer to gets it even for a call this gateway does not
    // know (e.g. VAPI's inbound assistant-request); its receipt says unknown_call all the same.
    if ingested.outcome == ReceiptOutcome::UnknownCall && ingested.reply.is_none() {
        return Err(IngestError::UnknownCall {
            receipt_id: ingested.receipt_id,
        });
    }
    Ok(ingested)
}

/// Stores a refused webhook's receipt with why (of its body, the first bytes only); returns
/// the error to answer.
async fn refuse(gateway: &Gateway, mut receipt: NewReceipt, error: IngestError) -> IngestError {
    warn!(%error, body_size = receipt.body_size, "webhook refused");
    receipt.body_truncated |= receipt.body.len() > REFUSED_BODY_PREFIX_BYTES;
    receipt.body.truncate(REFUSED_BODY_PREFIX_BYTES);
    match gateway
        .store
        .record_rejected_receipt(&receipt, &error.to_string())
        .await
    {
        Ok(()) => error,
        Err(store) => store.into(),
    }
}

/// The second half of the pipeline, for a webhook received now and for a replay alike: parsed
/// by the provider, then stored as `receipt` and applied in one transaction. A webhook the
/// provider cannot parse is stored as refused and answered with the error.
pub(crate) async fn parse_and_apply(
    gateway: &Gateway,
    verified: &Verified<'_>,
    mut receipt: NewReceipt,
    delivery: Delivery,
) -> Result<Ingested, IngestError> {
    receipt.signature = verified.verdict;
    let parsed = match parse(verified).await {
        Ok(parsed) => parsed,
        Err(error) => return Err(refuse(gateway, receipt, error).await),
    };
    let body = &verified.inbound.body;
    receipt.event_type = Some(parsed.event_type.clone());
    let (force, original_key) = match delivery {
        Delivery::Received => (false, None),
        Delivery::Replay {
            of,
            dedupe_key,
            force,
        } => {
            receipt.replay_of = Some(of);
            (force, dedupe_key)
        }
    };
    // A replay is the same delivery as its original, whatever the provider's code now says.
    receipt.dedupe_key = Some(
        original_key
            .or_else(|| parsed.dedupe_key.clone())
            .unwrap_or_else(|| body_digest(body)),
    );

    let recording = save_recording(gateway, &receipt.id, &parsed.events).await?;
    let recording_path = recording.as_ref().and_then(|p| p.to_str());
    let store = &gateway.store;
    let stored = if receipt.replay_of.is_some() {
        store
            .replay_webhook(
                &receipt,
                &parsed.correlation,
                &parsed.events,
                recording_path,
                force,
            )
            .await
    } else {
        store
            .ingest_webhook(
                &receipt,
                &parsed.correlation,
                &parsed.events,
                recording_path,
            )
            .await
    };
    let applied_recording = matches!(&stored, Ok(i) if i.applied.is_some());
    if let (Some(path), false) = (&recording, applied_recording) {
        // Nothing refers to the file: a duplicate, an unknown call, or a failed commit.
        let _ = tokio::fs::remove_file(path).await;
    }
    let Ingestion {
        outcome, call_id, ..
    } = stored?;
    info!(
        receipt_id = %receipt.id,
        replay_of = ?receipt.replay_of,
        call_id = ?call_id,
        event_type = %parsed.event_type,
        outcome = outcome.as_str(),
        "webhook ingested"
    );
    Ok(Ingested {
        receipt_id: receipt.id,
        outcome,
        call_id,
        reply: parsed.reply,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted_from_receipts() {
        let headers = Headers::new()
            .with("Authorization", "Bearer abc")
            .with("x-vapi-secret", "s")
            .with("X-Echo-Signature", "t=1,v1=00")
            .with("content-type", "application/json");
        let kept = receipt_headers(&headers, &[]);
        assert_eq!(kept[0], ("authorization".into(), REDACTED.into()));
        assert_eq!(kept[1].1, REDACTED);
        assert_eq!(kept[2].1, "t=1,v1=00");
        assert_eq!(kept[3].1, "application/json");
    }

    #[test]
    fn headers_a_provider_declares_are_redacted_whatever_their_name() {
        let headers = Headers::new()
            .with("X-Webhook-Auth", "the-shared-secret")
            .with("x-other", "kept");
        let kept = receipt_headers(&headers, &["x-webhook-auth".to_owned()]);
        assert_eq!(kept[0], ("x-webhook-auth".into(), REDACTED.into()));
        assert_eq!(kept[1].1, "kept");
        // Without the declaration the name gives nothing away.
        assert_eq!(receipt_headers(&headers, &[])[0].1, "the-shared-secret");
    }

    #[test]
    fn digests_identify_bodies() {
        assert_eq!(body_digest(b"a"), body_digest(b"a"));
        assert_ne!(body_digest(b"a"), body_digest(b"b"));
    }
}
