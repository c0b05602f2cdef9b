//! Authentication of VAPI server messages: a shared secret header, a bearer token, or an
//! HMAC-SHA256 signature over `"{timestamp}.{raw body}"`. Every comparison is constant-time.

use chrono::{DateTime, Utc};
use plugin_api::config::Secret;
use plugin_api::signature::{hex_mac_matches, same_secret, timestamped_hmac_sha256};
use plugin_api::{Headers, Verification};

use crate::config::{Config, WebhookAuth};

/// How far an HMAC timestamp may be from the gateway's clock, either way.
pub const SIGNATURE_TOLERANCE_SECS: i64 = 5 * 60;

/// Timestamps above this are taken as milliseconds rather than seconds (1e11 seconds is the
/// year 5138; 1e11 milliseconds is 1973).
const MILLIS_THRESHOLD: i64 = 100_000_000_000;

/// The hex HMAC-SHA256 VAPI sends for `body` signed at `timestamp` (the header's exact text):
/// what a mock VAPI or local tooling needs to sign a message.
pub fn hmac_signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    hex::encode(timestamped_hmac_sha256(secret, timestamp, body))
}

fn reject(reason: impl Into<String>) -> Verification {
    Verification::Rejected(reason.into())
}

/// Checks a server message against the configured scheme. With no `webhook_secret`, the
/// message is refused unless `allow_unsigned_webhooks` is on.
pub(crate) fn verify(
    config: &Config,
    headers: &Headers,
    body: &[u8],
    now: DateTime<Utc>,
) -> Verification {
    let Some(secret) = config.webhook_secret.as_ref().map(Secret::expose) else {
        return without_secret(config);
    };
    match config.webhook_auth {
        WebhookAuth::Secret => verify_secret(secret, &config.secret_header, headers),
        WebhookAuth::Bearer => verify_bearer(secret, headers),
        WebhookAuth::Hmac => verify_hmac(
            secret,
            &config.signature_header,
            &config.timestamp_header,
            headers,
            body,
            now,
        ),
    }
}

/// The verdict for every message when no `webhook_secret` is set.
fn without_secret(config: &Config) -> Verification {
    if config.allow_unsigned_webhooks {
        Verification::Unsigned
    } else {
        reject("no webhook_secret is configured for this VAPI instance")
    }
}

/// What the headers alone decide, before the body is read: the whole check for a shared secret
/// or a bearer token (and without a secret); for an HMAC, only that its headers are present.
pub(crate) fn precheck(config: &Config, headers: &Headers) -> Option<Verification> {
    let Some(secret) = config.webhook_secret.as_ref().map(Secret::expose) else {
        return Some(without_secret(config));
    };
    match config.webhook_auth {
        WebhookAuth::Secret => Some(verify_secret(secret, &config.secret_header, headers)),
        WebhookAuth::Bearer => Some(verify_bearer(secret, headers)),
        WebhookAuth::Hmac => [&config.signature_header, &config.timestamp_header]
            .into_iter()
            .find(|header| headers.get(header).is_none())
            .map(|header| reject(format!("missing {header} header"))),
    }
}

fn verify_secret(secret: &str, header: &str, headers: &Headers) -> Verification {
    match headers.get(header) {
        None => reject(format!("missing {header} header")),
        Some(given) if same_secret(given.trim(), secret) => Verification::Verified,
        Some(_) => reject(format!("{header} does not match")),
    }
}

fn verify_bearer(secret: &str, headers: &Headers) -> Verification {
    let Some(value) = headers.get("authorization") else {
        return reject("missing Authorization header");
    };
    let value = value.trim();
    let token = match value.split_once(char::is_whitespace) {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => return reject("Authorization header is not a Bearer token"),
    };
    if same_secret(token, secret) {
        Verification::Verified
    } else {
        reject("bearer token does not match")
    }
}

/// Reads a timestamp header: unix seconds, unix milliseconds, or an RFC 3339 time.
fn signed_at(raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    if let Ok(number) = raw.parse::<i64>() {
        return if number.abs() >= MILLIS_THRESHOLD {
            DateTime::from_timestamp_millis(number)
        } else {
            DateTime::from_timestamp(number, 0)
        };
    }
    DateTime::parse_from_rfc3339(raw)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn verify_hmac(
    secret: &str,
    signature_header: &str,
    timestamp_header: &str,
    headers: &Headers,
    body: &[u8],
    now: DateTime<Utc>,
) -> Verification {
    let Some(signature) = headers.get(signature_header) else {
        return reject(format!("missing {signature_header} header"));
    };
    let Some(timestamp) = headers.get(timestamp_header) else {
        return reject(format!("missing {timestamp_header} header"));
    };
    let Some(at) = signed_at(timestamp) else {
        return reject(format!("{timestamp_header} is not a timestamp"));
    };
    let skew = (now - at).num_seconds();
    if skew.abs() > SIGNATURE_TOLERANCE_SECS {
        let direction = if skew > 0 { "old" } else { "in the future" };
        return reject(format!(
            "{timestamp_header} is {} s {direction} (at most {SIGNATURE_TOLERANCE_SECS} s accepted)",
            skew.abs()
        ));
    }
    let signature = signature.trim();
    let signature = signature
        .strip_prefix("sha256=")
        .or_else(|| signature.strip_prefix("v1="))
        .unwrap_or(signature);
    let expected = timestamped_hmac_sha256(secret, timestamp.trim(), body);
    let matches = hex_mac_matches(signature, &expected);
    if matches {
        Verification::Verified
    } else {
        reject(format!("{signature_header} does not match the body"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;
    use plugin_api::{Provider, WebhookRequest};
    use serde_json::json;

    use crate::test_support::{WEBHOOK_SECRET, provider};

    const BODY: &[u8] = br#"{"message":{"type":"hang","timestamp":1795168800000}}"#;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_168_800, 0).unwrap()
    }

    fn check(provider: &dyn Provider, headers: Headers, body: &[u8]) -> Verification {
        provider.verify_webhook(
            &WebhookRequest {
                topic: None,
                headers: &headers,
                body,
            },
            now(),
        )
    }

    fn rejected(verdict: Verification) -> String {
        match verdict {
            Verification::Rejected(reason) => reason,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn shared_secret_header() {
        let provider = provider(json!({}));
        let good = Headers::new().with("X-Vapi-Secret", WEBHOOK_SECRET);
        assert_eq!(check(&*provider, good, BODY), Verification::Verified);
        let bad = Headers::new().with("x-vapi-secret", "guess");
        assert!(rejected(check(&*provider, bad, BODY)).contains("does not match"));
        let missing = rejected(check(&*provider, Headers::new(), BODY));
        assert!(missing.contains("missing x-vapi-secret"), "{missing}");
        // A bearer token is not what this instance expects.
        let bearer = Headers::new().with("authorization", format!("Bearer {WEBHOOK_SECRET}"));
        assert!(matches!(
            check(&*provider, bearer, BODY),
            Verification::Rejected(_)
        ));
    }

    #[test]
    fn custom_secret_header() {
        let provider = provider(json!({"secret_header": "X-Gateway-Token"}));
        let good = Headers::new().with("x-gateway-token", WEBHOOK_SECRET);
        assert_eq!(check(&*provider, good, BODY), Verification::Verified);
        let default_header = Headers::new().with("x-vapi-secret", WEBHOOK_SECRET);
        assert!(rejected(check(&*provider, default_header, BODY)).contains("x-gateway-token"));
    }

    #[test]
    fn bearer_token() {
        let provider = provider(json!({"webhook_auth": "bearer"}));
        for good in [
            format!("Bearer {WEBHOOK_SECRET}"),
            format!("bearer  {WEBHOOK_SECRET} "),
        ] {
            let headers = Headers::new().with("Authorization", good.clone());
            assert_eq!(
                check(&*provider, headers, BODY),
                Verification::Verified,
                "{good}"
            );
        }
        let bad = Headers::new().with("authorization", "Bearer nope");
        assert!(rejected(check(&*provider, bad, BODY)).contains("does not match"));
        let basic = Headers::new().with("authorization", format!("Basic {WEBHOOK_SECRET}"));
        assert!(rejected(check(&*provider, basic, BODY)).contains("not a Bearer"));
        let bare = Headers::new().with("authorization", WEBHOOK_SECRET);
        assert!(rejected(check(&*provider, bare, BODY)).contains("not a Bearer"));
        assert!(rejected(check(&*provider, Headers::new(), BODY)).contains("missing"));
    }

    fn signed(timestamp: &str, body: &[u8]) -> Headers {
        Headers::new()
            .with(
                "x-signature",
                hmac_signature(WEBHOOK_SECRET, timestamp, body),
            )
            .with("x-timestamp", timestamp)
    }

    #[test]
    fn hmac_signature_good() {
        let provider = provider(json!({"webhook_auth": "hmac"}));
        let seconds = now().timestamp().to_string();
        assert_eq!(
            check(&*provider, signed(&seconds, BODY), BODY),
            Verification::Verified
        );
        let millis = now().timestamp_millis().to_string();
        assert_eq!(
            check(&*provider, signed(&millis, BODY), BODY),
            Verification::Verified
        );
        let prefixed = Headers::new()
            .with(
                "x-signature",
                format!("sha256={}", hmac_signature(WEBHOOK_SECRET, &seconds, BODY)),
            )
            .with("x-timestamp", seconds.clone());
        assert_eq!(check(&*provider, prefixed, BODY), Verification::Verified);
        let upper = Headers::new()
            .with(
                "x-signature",
                hmac_signature(WEBHOOK_SECRET, &seconds, BODY).to_uppercase(),
            )
            .with("x-timestamp", seconds);
        assert_eq!(check(&*provider, upper, BODY), Verification::Verified);
    }

    #[test]
    fn hmac_known_vector() {
        // Computed independently (Python's hmac module).
        assert_eq!(
            hmac_signature(
                "whsec_test",
                "1795168800",
                br#"{"message":{"type":"hang"}}"#
            ),
            "fc0d5effc535cdd44daf6a54676201c94816ce7bec07692d22ee72641f22f55b"
        );
    }

    #[test]
    fn hmac_signature_bad() {
        let provider = provider(json!({"webhook_auth": "hmac"}));
        let seconds = now().timestamp().to_string();
        let tampered = br#"{"message":{"type":"hang","timestamp":1795168800001}}"#;
        assert!(
            rejected(check(&*provider, signed(&seconds, BODY), tampered))
                .contains("does not match")
        );
        let other_key = Headers::new()
            .with("x-signature", hmac_signature("other", &seconds, BODY))
            .with("x-timestamp", seconds.clone());
        assert!(matches!(
            check(&*provider, other_key, BODY),
            Verification::Rejected(_)
        ));
        let not_hex = Headers::new()
            .with("x-signature", "zz")
            .with("x-timestamp", seconds.clone());
        assert!(matches!(
            check(&*provider, not_hex, BODY),
            Verification::Rejected(_)
        ));
        // The signature covers the timestamp: another timestamp with the same signature fails.
        let moved = Headers::new()
            .with(
                "x-signature",
                hmac_signature(WEBHOOK_SECRET, &seconds, BODY),
            )
            .with("x-timestamp", (now().timestamp() + 1).to_string());
        assert!(matches!(
            check(&*provider, moved, BODY),
            Verification::Rejected(_)
        ));
    }

    #[test]
    fn hmac_signature_missing() {
        let provider = provider(json!({"webhook_auth": "hmac"}));
        let seconds = now().timestamp().to_string();
        let no_signature = Headers::new().with("x-timestamp", seconds);
        assert!(rejected(check(&*provider, no_signature, BODY)).contains("missing x-signature"));
        let no_timestamp = Headers::new().with(
            "x-signature",
            hmac_signature(WEBHOOK_SECRET, "1795168800", BODY),
        );
        assert!(rejected(check(&*provider, no_timestamp, BODY)).contains("missing x-timestamp"));
        let garbage = signed("soon", BODY);
        assert!(rejected(check(&*provider, garbage, BODY)).contains("not a timestamp"));
    }

    #[test]
    fn hmac_signature_stale_or_early() {
        let provider = provider(json!({"webhook_auth": "hmac"}));
        let at = |delta: TimeDelta| (now() + delta).timestamp().to_string();
        let stale = at(TimeDelta::seconds(-301));
        let reason = rejected(check(&*provider, signed(&stale, BODY), BODY));
        assert!(reason.contains("301 s old"), "{reason}");
        let early = at(TimeDelta::seconds(301));
        let reason = rejected(check(&*provider, signed(&early, BODY), BODY));
        assert!(reason.contains("in the future"), "{reason}");
        for edge in [TimeDelta::seconds(-300), TimeDelta::seconds(300)] {
            assert_eq!(
                check(&*provider, signed(&at(edge), BODY), BODY),
                Verification::Verified
            );
        }
        let stale_millis = (now() - TimeDelta::minutes(10))
            .timestamp_millis()
            .to_string();
        assert!(matches!(
            check(&*provider, signed(&stale_millis, BODY), BODY),
            Verification::Rejected(_)
        ));
    }

    #[test]
    fn custom_hmac_headers() {
        let provider = provider(json!({
            "webhook_auth": "hmac",
            "signature_header": "X-Vapi-Sig",
            "timestamp_header": "X-Vapi-Time",
        }));
        let seconds = now().timestamp().to_string();
        let headers = Headers::new()
            .with("X-Vapi-Sig", hmac_signature(WEBHOOK_SECRET, &seconds, BODY))
            .with("X-Vapi-Time", seconds);
        assert_eq!(check(&*provider, headers, BODY), Verification::Verified);
    }

    #[test]
    fn no_secret_refuses_unless_unsigned_is_allowed() {
        for auth in ["secret", "bearer", "hmac"] {
            let closed = provider(json!({"webhook_auth": auth, "webhook_secret": null}));
            let reason = rejected(check(&*closed, Headers::new(), BODY));
            assert!(reason.contains("no webhook_secret"), "{reason}");
            let open = provider(json!({
                "webhook_auth": auth,
                "webhook_secret": null,
                "allow_unsigned_webhooks": true,
            }));
            assert_eq!(check(&*open, Headers::new(), BODY), Verification::Unsigned);
        }
        // A configured secret is always enforced.
        let strict = provider(json!({"allow_unsigned_webhooks": true}));
        assert!(matches!(
            check(&*strict, Headers::new(), BODY),
            Verification::Rejected(_)
        ));
    }

    #[test]
    fn rejections_never_quote_the_secret() {
        let provider = provider(json!({"webhook_auth": "bearer"}));
        let headers = Headers::new().with("authorization", "Bearer wrong-token");
        let reason = rejected(check(&*provider, headers, BODY));
        assert!(!reason.contains(WEBHOOK_SECRET) && !reason.contains("wrong-token"));
    }

    #[test]
    fn header_schemes_are_decided_before_the_body() {
        let precheck = |overrides, headers: Headers| {
            let provider = provider(overrides);
            provider.precheck_webhook(None, &headers)
        };
        let secret = Headers::new().with("x-vapi-secret", WEBHOOK_SECRET);
        assert_eq!(precheck(json!({}), secret), Some(Verification::Verified));
        assert!(matches!(
            precheck(json!({}), Headers::new()),
            Some(Verification::Rejected(_))
        ));
        let bearer = Headers::new().with("authorization", format!("Bearer {WEBHOOK_SECRET}"));
        assert_eq!(
            precheck(json!({"webhook_auth": "bearer"}), bearer),
            Some(Verification::Verified)
        );
        let wrong = Headers::new().with("authorization", "Bearer nope");
        assert!(matches!(
            precheck(json!({"webhook_auth": "bearer"}), wrong),
            Some(Verification::Rejected(_))
        ));
        // An HMAC needs the body: only missing headers are refused early.
        let signed = Headers::new()
            .with("x-signature", "00")
            .with("x-timestamp", "1");
        assert_eq!(precheck(json!({"webhook_auth": "hmac"}), signed), None);
        let unsigned = precheck(json!({"webhook_auth": "hmac"}), Headers::new());
        assert!(rejected(unsigned.unwrap()).contains("x-signature"));
        // A topic is refused whatever the headers.
        let provider = provider(json!({}));
        let secret = Headers::new().with("x-vapi-secret", WEBHOOK_SECRET);
        assert!(matches!(
            provider.precheck_webhook(Some("status"), &secret),
            Some(Verification::Rejected(_))
        ));
    }
}
