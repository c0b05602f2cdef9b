//! The webhook-signing primitives vendors use, done once and in constant time: HMAC-SHA256 over
//! `"{timestamp}.{body}"` (the most common scheme), comparison of a received MAC, and comparison
//! of shared secrets whatever their lengths.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// HMAC-SHA256 of `parts` concatenated, keyed with `secret`'s UTF-8 bytes.
pub fn hmac_sha256(secret: &str, parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length, so `new_from_slice` cannot fail; the fallback is unreachable.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return [0; 32];
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// HMAC-SHA256 over `"{timestamp}.{body}"`: ElevenLabs, VAPI and echo all sign this way.
pub fn timestamped_hmac_sha256(secret: &str, timestamp: &str, body: &[u8]) -> [u8; 32] {
    hmac_sha256(secret, &[timestamp.as_bytes(), b".", body])
}

/// Whether a received MAC (raw bytes) equals the expected one, in constant time.
pub fn mac_matches(given: &[u8], expected: &[u8]) -> bool {
    bool::from(given.ct_eq(expected))
}

/// Whether a received hex MAC equals the expected one, in constant time; bad hex never matches.
pub fn hex_mac_matches(given_hex: &str, expected: &[u8]) -> bool {
    hex::decode(given_hex.trim()).is_ok_and(|given| mac_matches(&given, expected))
}

/// Whether a presented shared secret equals the configured one, in constant time whatever their
/// lengths (both are hashed first, so the comparison leaks neither content nor length).
pub fn same_secret(given: &str, expected: &str) -> bool {
    let given = Sha256::digest(given.as_bytes());
    let expected = Sha256::digest(expected.as_bytes());
    bool::from(given.ct_eq(&expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vendor_test_vector_signs() {
        // ElevenLabs' published test vector (shared/vendors/elevenlabs.md).
        let body = br#"{"type":"call_initiation_failure","event_timestamp":1700000000,"data":{"agent_id":"agent_1","conversation_id":"conv_1","failure_reason":"busy","metadata":{"type":"twilio","body":{"CallSid":"CA1","CallStatus":"busy"}}}}"#;
        let mac = timestamped_hmac_sha256("wsec_test_secret", "1700000000", body);
        assert_eq!(
            hex::encode(mac),
            "b85c086904fa47a7821f83695e8c8bce40d96827020ad1a59ac1c7dda3ab13dd"
        );
        assert!(hex_mac_matches(&hex::encode(mac), &mac));
        assert!(!hex_mac_matches("zz", &mac));
        assert!(!hex_mac_matches(&hex::encode([0u8; 32]), &mac));
    }

    #[test]
    fn secrets_compare_whatever_their_length() {
        assert!(same_secret("s3cret", "s3cret"));
        assert!(!same_secret("s3cre", "s3cret"));
        assert!(!same_secret("", "s3cret"));
    }
}
