//! Replays of stored webhooks (`POST /v1/webhook-receipts/{id}/replay` and
//! `POST /v1/webhook-receipts/replay`): a stored receipt's body, headers and topic go through
//! the second half of the ingest pipeline again ([`crate::ingest::parse_and_apply`]: parsed by
//! the provider code running now, then stored and applied in one transaction). The signature is
//! not checked again (it was when the webhook arrived), so receipts that were refused are not
//! replayed.
//!
//! Each replay is a receipt of its own, with its own outcome, naming the receipt it replays
//! (`replay_of`); the original is not changed. Dedupe holds: a replay keeps its original's
//! dedupe key, so a delivery already applied to its call is a `duplicate`, unless `force`
//! applies its events again, idempotently: `applied` if that changed the call, else
//! `duplicate` (see [`crate::store::Store::replay_webhook`]). What a replay applies reaches live
//! subscribers and applications like any applied webhook.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use plugin_api::Headers;
use tracing::info;

use crate::gateway::Gateway;
use crate::ingest::{
    Delivery, InboundWebhook, IngestError, Verified, new_receipt, parse_and_apply,
};
use crate::store::{Receipt, ReceiptOutcome, ReplayRange, SignatureVerdict, StoreError};

/// The most receipts one range replay takes; `next` says where the rest begin.
pub const MAX_RANGE_REPLAY: u32 = 1000;

/// Why a receipt is not replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("webhook receipt not found")]
    NotFound,
    #[error("no provider named '{0}' is configured")]
    UnknownProvider(String),
    #[error(
        "the receipt was refused ({0}); only webhooks that were accepted can be replayed, since their signature is not checked again"
    )]
    Refused(String),
    #[error("the receipt's body is no longer stored (pruned by retention); it cannot be replayed")]
    BodyNotStored,
    #[error(
        "the receipt's body was cut at gateway.receipt_body_limit_bytes ({stored} of {size} bytes stored); it cannot be replayed"
    )]
    BodyTruncated { stored: usize, size: i64 },
    #[error("the receipt's provider instance '{0}' is no longer configured; it cannot be replayed")]
    ProviderGone(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ingest(IngestError),
}

/// The stored body of a receipt that can be replayed, with its signature's verdict.
fn replayable(receipt: &Receipt) -> Result<(&[u8], SignatureVerdict), ReplayError> {
    let verdict = SignatureVerdict::parse(&receipt.signature)
        .filter(|v| *v != SignatureVerdict::Invalid && receipt.outcome != ReceiptOutcome::Rejected)
        .ok_or_else(|| {
            ReplayError::Refused(
                receipt
                    .reason
                    .clone()
                    .unwrap_or_else(|| format!("signature {}", receipt.signature)),
            )
        })?;
    let body = receipt.body.as_deref().unwrap_or_default();
    if receipt.body_pruned || (body.is_empty() && receipt.body_size > 0) {
        return Err(ReplayError::BodyNotStored);
    }
    if receipt.body_truncated {
        return Err(ReplayError::BodyTruncated {
            stored: body.len(),
            size: receipt.body_size,
        });
    }
    Ok((body, verdict))
}

/// Replays `original` (loaded with its body): the new receipt's id and outcome. A body the
/// provider now refuses gives a `rejected` receipt (with the reason), not an error.
async fn replay_receipt(
    gateway: &Gateway,
    original: &Receipt,
    force: bool,
) -> Result<(String, ReceiptOutcome), ReplayError> {
    let (body, verdict) = replayable(original)?;
    let instance = gateway
        .provider(&original.provider)
        .ok_or_else(|| ReplayError::ProviderGone(original.provider.clone()))?;
    let inbound = InboundWebhook {
        provider: original.provider.clone(),
        topic: original.topic.clone(),
        headers: Headers(original.headers.clone()),
        body: body.to_vec(),
    };
    let receipt = new_receipt(gateway, instance, &inbound, Utc::now());
    let id = receipt.id.clone();
    let verified = Verified::stored(instance, inbound, verdict);
    let delivery = Delivery::Replay {
        of: original.id.clone(),
        dedupe_key: original.dedupe_key.clone(),
        force,
    };
    match parse_and_apply(gateway, &verified, receipt, delivery).await {
        Ok(ingested) => Ok((ingested.receipt_id, ingested.outcome)),
        // Stored as a rejected receipt, with why.
        Err(
            IngestError::Malformed(_)
            | IngestError::ProviderFailed(_)
            | IngestError::ProviderTimedOut(_),
        ) => Ok((id, ReceiptOutcome::Rejected)),
        Err(e) => Err(ReplayError::Ingest(e)),
    }
}

/// Replays the stored receipt `id`; returns the new receipt (with its body).
pub async fn replay(gateway: &Arc<Gateway>, id: &str, force: bool) -> Result<Receipt, ReplayError> {
    let original = gateway
        .store
        .get_receipt(id)
        .await?
        .ok_or(ReplayError::NotFound)?;
    let (new_id, outcome) = replay_receipt(gateway, &original, force).await?;
    info!(receipt_id = %id, replay = %new_id, outcome = outcome.as_str(), force, "webhook replayed");
    gateway
        .store
        .get_receipt(&new_id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("replay {new_id} not stored")).into())
}

/// Which stored webhooks to replay (see [`ReplayRange`]; `until` defaults to now).
#[derive(Debug, Clone)]
pub struct RangeReplay {
    pub provider: String,
    pub since: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
    pub outcome: Option<ReceiptOutcome>,
    /// The last receipt a previous replay of this range took.
    pub after_id: Option<String>,
    /// At most this many receipts, up to [`MAX_RANGE_REPLAY`].
    pub limit: u32,
    pub force: bool,
}

/// The replays' outcomes, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutcomeCounts {
    pub applied: u64,
    pub duplicate: u64,
    pub unknown_call: u64,
    pub rejected: u64,
}

impl OutcomeCounts {
    fn add(&mut self, outcome: ReceiptOutcome) {
        let count = match outcome {
            ReceiptOutcome::Applied => &mut self.applied,
            ReceiptOutcome::Duplicate => &mut self.duplicate,
            ReceiptOutcome::UnknownCall => &mut self.unknown_call,
            ReceiptOutcome::Rejected => &mut self.rejected,
        };
        *count += 1;
    }
}

/// What a range replay did.
#[derive(Debug, Clone, Default)]
pub struct RangeReplayed {
    /// Receipts replayed (one new receipt each).
    pub replayed: u64,
    /// Receipts matched but not replayed: refused, or their body not (fully) stored.
    pub skipped: u64,
    pub outcomes: OutcomeCounts,
    /// The new receipts, in the order their originals were received.
    pub receipts: Vec<String>,
    /// The last receipt taken, when more match (pass it back to go on).
    pub next: Option<String>,
}

/// Replays the receipts `range` matches, oldest first, one at a time (each in its own
/// transaction, as they arrived); refused ones are skipped and counted.
pub async fn replay_range(
    gateway: &Arc<Gateway>,
    range: &RangeReplay,
) -> Result<RangeReplayed, ReplayError> {
    if gateway.provider(&range.provider).is_none() {
        return Err(ReplayError::UnknownProvider(range.provider.clone()));
    }
    let page = gateway
        .store
        .receipts_to_replay(&ReplayRange {
            provider: range.provider.clone(),
            since: range.since,
            until: range.until.unwrap_or_else(Utc::now),
            outcome: range.outcome,
            after_id: range.after_id.clone(),
            limit: range.limit.clamp(1, MAX_RANGE_REPLAY),
        })
        .await?;
    let mut done = RangeReplayed {
        next: page.next,
        ..RangeReplayed::default()
    };
    for listed in page.items {
        let original = match listed.outcome {
            ReceiptOutcome::Rejected => None,
            _ => gateway.store.get_receipt(&listed.id).await?,
        };
        let Some(original) = original else {
            done.skipped += 1;
            continue;
        };
        match replay_receipt(gateway, &original, range.force).await {
            Ok((id, outcome)) => {
                done.replayed += 1;
                done.outcomes.add(outcome);
                done.receipts.push(id);
            }
            Err(
                ReplayError::Refused(_)
                | ReplayError::BodyNotStored
                | ReplayError::BodyTruncated { .. },
            ) => done.skipped += 1,
            Err(e) => return Err(e),
        }
    }
    info!(
        provider = %range.provider,
        replayed = done.replayed,
        skipped = done.skipped,
        applied = done.outcomes.applied,
        more = done.next.is_some(),
        "webhooks replayed"
    );
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stored receipt of a `size`-byte webhook, `body` of which is stored.
    fn receipt(outcome: ReceiptOutcome, signature: &str, body: &[u8], size: i64) -> Receipt {
        Receipt {
            id: "r1".into(),
            provider: "echo".into(),
            topic: None,
            received_at: Utc::now(),
            headers: vec![],
            body: Some(body.to_vec()),
            body_size: size,
            body_truncated: !body.is_empty() && (body.len() as i64) < size,
            signature: signature.into(),
            event_type: None,
            dedupe_key: Some("e1".into()),
            call_id: None,
            outcome,
            reason: Some("signature does not match".into()),
            body_pruned: false,
            replay_of: None,
        }
    }

    #[test]
    fn accepted_receipts_with_their_whole_body_are_replayable() {
        for outcome in [
            ReceiptOutcome::Applied,
            ReceiptOutcome::Duplicate,
            ReceiptOutcome::UnknownCall,
        ] {
            let stored = receipt(outcome, "verified", b"{}", 2);
            let (body, verdict) = replayable(&stored).unwrap();
            assert_eq!((body, verdict), (&b"{}"[..], SignatureVerdict::Verified));
        }
        let unsigned = receipt(ReceiptOutcome::Applied, "unsigned", b"{}", 2);
        assert_eq!(replayable(&unsigned).unwrap().1, SignatureVerdict::Unsigned);
    }

    #[test]
    fn refused_pruned_and_cut_receipts_are_not_replayable() {
        let refused = receipt(ReceiptOutcome::Rejected, "invalid", b"{}", 2);
        let error = replayable(&refused).unwrap_err();
        assert!(matches!(&error, ReplayError::Refused(r) if r == "signature does not match"));
        assert!(
            error
                .to_string()
                .contains("refused (signature does not match)")
        );
        // Verified, then malformed: refused all the same.
        let malformed = receipt(ReceiptOutcome::Rejected, "verified", b"{", 1);
        assert!(matches!(
            replayable(&malformed),
            Err(ReplayError::Refused(_))
        ));
        let pruned = receipt(ReceiptOutcome::Applied, "verified", b"", 2);
        assert!(matches!(
            replayable(&pruned),
            Err(ReplayError::BodyNotStored)
        ));
        // Marked pruned by retention or erasure (its body may read as empty or be absent).
        let mut marked = receipt(ReceiptOutcome::Applied, "verified", b"", 0);
        marked.body = None;
        marked.body_pruned = true;
        assert!(matches!(
            replayable(&marked),
            Err(ReplayError::BodyNotStored)
        ));
        let gone = Receipt {
            body: None,
            ..receipt(ReceiptOutcome::Applied, "verified", b"", 2)
        };
        assert!(matches!(replayable(&gone), Err(ReplayError::BodyNotStored)));
        let cut = receipt(ReceiptOutcome::UnknownCall, "verified", b"{\"a\"", 10);
        assert!(matches!(
            replayable(&cut),
            Err(ReplayError::BodyTruncated {
                stored: 4,
                size: 10
            })
        ));
        // Shorter than received, not cut: redacted by its provider.
        let redacted = Receipt {
            body_truncated: false,
            ..receipt(ReceiptOutcome::Applied, "verified", b"{}", 40)
        };
        assert_eq!(replayable(&redacted).unwrap().0, b"{}");
    }

    #[test]
    fn outcomes_are_counted_each_in_its_own_field() {
        let mut counts = OutcomeCounts::default();
        for outcome in [
            ReceiptOutcome::Applied,
            ReceiptOutcome::Applied,
            ReceiptOutcome::Duplicate,
            ReceiptOutcome::UnknownCall,
            ReceiptOutcome::Rejected,
        ] {
            counts.add(outcome);
        }
        let expected = OutcomeCounts {
            applied: 2,
            duplicate: 1,
            unknown_call: 1,
            rejected: 1,
        };
        assert_eq!(counts, expected);
    }
}
