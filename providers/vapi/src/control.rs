//! The call's `monitor.controlUrl`: whoever holds it can steer or end the live call, so it is
//! treated as a secret. It travels only inside [`Acceptance::provider_data`] (stored by the
//! gateway, never returned by its API) and in the hang-up request's URL.
//!
//! [`Acceptance::provider_data`]: plugin_api::Acceptance::provider_data

use std::fmt;

use serde_json::{Value, json};

/// The key of `provider_data` holding the control URL, hex-encoded.
///
/// `Acceptance`, `CallHandle` and `CreateCallOutcome` derive `Debug` in the plugin API, so a
/// plain URL in `provider_data` would show in any `{:?}` of them. Hex keeps it out of such
/// output. It is an encoding, not encryption: the stored value is protected by the gateway's
/// storage, not by this.
pub(crate) const PROVIDER_DATA_KEY: &str = "control_url_hex";

/// VAPI's hosts: control URLs are on subdomains of it (`phone-call-websocket....vapi.ai`).
pub(crate) const CONTROL_DOMAIN: &str = "vapi.ai";

/// The scheme and authority (user info, host and port) of an absolute `http(s)` URL,
/// lower-cased; `None` for anything else.
fn origin(url: &str) -> Option<(String, String)> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let authority = rest.split(['/', '?', '#', '\\']).next().unwrap_or_default();
    (!authority.is_empty()).then(|| (scheme, authority.to_ascii_lowercase()))
}

/// A control URL. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ControlUrl(String);

impl ControlUrl {
    /// Accepts an absolute `http(s)` URL; anything else is not a control URL.
    pub(crate) fn new(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        let rest = raw
            .strip_prefix("https://")
            .or_else(|| raw.strip_prefix("http://"))?;
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let plausible = !host.is_empty() && !raw.chars().any(char::is_whitespace);
        plausible.then(|| Self(raw.to_owned()))
    }

    /// The URL, for the hang-up request only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// Whether a hang-up may be sent here: an `https` URL on VAPI's own hosts
    /// ([`CONTROL_DOMAIN`] or below it), or on the origin of the configured `base_url` (where
    /// the operator sends the API key already, e.g. a proxy in front of VAPI). A control URL
    /// comes from a vendor answer, so anything else could aim the gateway's request anywhere.
    pub(crate) fn allowed_for(&self, base_url: &str) -> bool {
        let Some((scheme, authority)) = origin(&self.0) else {
            return false;
        };
        if origin(base_url).is_some_and(|(s, a)| s == scheme && a == authority) {
            return true;
        }
        // No user info, no port: just a host name.
        let host = authority.as_str();
        scheme == "https"
            && !host.contains(['@', ':', '[', ']'])
            && (host == CONTROL_DOMAIN
                || host
                    .strip_suffix(CONTROL_DOMAIN)
                    .is_some_and(|sub| sub.ends_with('.') && sub.len() > 1))
    }

    /// The `provider_data` to store for the call.
    pub(crate) fn to_provider_data(&self) -> Value {
        json!({ PROVIDER_DATA_KEY: hex::encode(self.0.as_bytes()) })
    }

    /// Reads the control URL back from a call's stored `provider_data`.
    pub(crate) fn from_provider_data(data: Option<&Value>) -> Option<Self> {
        let encoded = data?.get(PROVIDER_DATA_KEY)?.as_str()?;
        let bytes = hex::decode(encoded).ok()?;
        let raw = String::from_utf8(bytes).ok()?;
        Self::new(&raw)
    }
}

impl fmt::Debug for ControlUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ControlUrl([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://phone-call-websocket.example.vapi.ai/c2a8b1f0/control";

    #[test]
    fn round_trips_through_provider_data() {
        let url = ControlUrl::new(URL).unwrap();
        let data = url.to_provider_data();
        assert!(!data.to_string().contains("vapi.ai"), "{data}");
        assert_eq!(
            ControlUrl::from_provider_data(Some(&data))
                .unwrap()
                .expose(),
            URL
        );
    }

    #[test]
    fn never_shows_in_debug() {
        let url = ControlUrl::new(URL).unwrap();
        assert_eq!(format!("{url:?}"), "ControlUrl([redacted])");
        assert_eq!(format!("{:?}", Some(url)), "Some(ControlUrl([redacted]))");
    }

    #[test]
    fn hang_ups_go_only_to_vapi_hosts_over_https_or_to_the_configured_api() {
        let base = "https://api.vapi.ai";
        for good in [
            URL,
            "https://vapi.ai/control",
            "https://PHONE.vapi.ai/x/control",
        ] {
            assert!(ControlUrl::new(good).unwrap().allowed_for(base), "{good}");
        }
        for bad in [
            "http://phone-call-websocket.vapi.ai/c/control",
            "https://evil.example/control",
            "https://vapi.ai.evil.example/control",
            "https://evilvapi.ai/control",
            "https://.vapi.ai/control",
            "https://x.vapi.ai@evil.example/control",
            "https://x.vapi.ai:8443/control",
            "https://evil.example\\@x.vapi.ai/control",
            "http://127.0.0.1:9000/control",
        ] {
            assert!(!ControlUrl::new(bad).unwrap().allowed_for(base), "{bad}");
        }
        // An operator's own API origin (a proxy, a test double) is trusted as the API is.
        let local = "http://127.0.0.1:9000";
        assert!(
            ControlUrl::new("http://127.0.0.1:9000/control/c1")
                .unwrap()
                .allowed_for(local)
        );
        assert!(
            !ControlUrl::new("http://127.0.0.1:9001/control/c1")
                .unwrap()
                .allowed_for(local)
        );
    }

    #[test]
    fn only_http_urls_are_control_urls() {
        for bad in [
            "",
            "wss://x.vapi.ai/listen",
            "https://",
            "https:// x",
            "/control",
        ] {
            assert!(ControlUrl::new(bad).is_none(), "{bad}");
        }
        assert!(ControlUrl::new("http://127.0.0.1:9000/control").is_some());
        for bad in [
            None,
            Some(json!({})),
            Some(json!({PROVIDER_DATA_KEY: "not hex"})),
            Some(json!({PROVIDER_DATA_KEY: hex::encode("ftp://x")})),
            Some(json!({"controlUrl": URL})),
        ] {
            assert!(
                ControlUrl::from_provider_data(bad.as_ref()).is_none(),
                "{bad:?}"
            );
        }
    }
}
