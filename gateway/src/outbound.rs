//! Outbound requests to vendors: what a provider described (create, hang-up, fetch), sent by
//! the gateway's one HTTP client with one timeout rule and one log line, or answered locally by
//! a simulator. Callers decide what a failure means for their operation.

use std::time::Duration;

use plugin_api::{Headers, HttpRequest, HttpResponse, Method, Outbound, ScheduledWebhook};
use tracing::info;

use crate::config::ProviderInstance;

/// What a request is for: each kind has its own cap on the answer's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestKind {
    Create,
    Hangup,
    Fetch,
}

impl RequestKind {
    /// The largest answer body read; a larger one is an error, never held in memory. A fetched
    /// call may carry a whole transcript and analysis, so it gets more room.
    pub(crate) fn max_answer_bytes(self) -> usize {
        match self {
            RequestKind::Create | RequestKind::Hangup => 1024 * 1024,
            RequestKind::Fetch => 8 * 1024 * 1024,
        }
    }
}

/// Why an outbound request produced no response.
#[derive(Debug)]
pub(crate) enum SendError {
    /// The vendor cannot have acted on it (e.g. the connection was refused).
    NotSent(String),
    /// The request may have reached the vendor; its outcome is unknown.
    Unknown(String),
}

impl SendError {
    pub(crate) fn into_message(self) -> String {
        match self {
            SendError::NotSent(message) | SendError::Unknown(message) => message,
        }
    }
}

/// The vendor's (or a local provider's own) answer to a described request.
#[derive(Debug)]
pub(crate) struct Answer {
    pub response: HttpResponse,
    /// Webhooks a local provider asked to have delivered later; empty for vendors.
    pub scheduled: Vec<ScheduledWebhook>,
}

/// The gateway's client for vendor APIs: connection reuse and one place for timeouts. It never
/// follows redirects (a redirect would carry the vendor's credential headers to wherever the
/// answer points): a 3xx is the answer, for the provider to read.
#[derive(Debug, Clone)]
pub struct VendorClient {
    http: reqwest::Client,
    /// Used when the provider names no timeout of its own.
    default_timeout: Duration,
}

impl VendorClient {
    pub fn new(default_timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("voice-gateway/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            http,
            default_timeout,
        })
    }

    /// Sends a provider's request (or takes its local answer).
    pub(crate) async fn execute(
        &self,
        instance: &ProviderInstance,
        kind: RequestKind,
        outbound: Outbound,
    ) -> Result<Answer, SendError> {
        match outbound {
            Outbound::Local(local) => Ok(Answer {
                response: local.response,
                scheduled: local.scheduled_webhooks,
            }),
            Outbound::Http(request) => {
                let timeout = instance
                    .provider
                    .request_timeout()
                    .unwrap_or(self.default_timeout);
                let response = self.send(request, timeout, kind.max_answer_bytes()).await?;
                Ok(Answer {
                    response,
                    scheduled: Vec::new(),
                })
            }
        }
    }

    /// Sends one request with a timeout, reading at most `max_bytes` of the answer. Header
    /// values and URLs never reach logs or error messages: they may carry credentials (e.g. a
    /// call's control URL).
    async fn send(
        &self,
        request: HttpRequest,
        timeout: Duration,
        max_bytes: usize,
    ) -> Result<HttpResponse, SendError> {
        let mut builder = self
            .http
            .request(method(request.method), &request.url)
            .timeout(timeout);
        for (name, value) in request.headers.iter() {
            builder = builder.header(name, value);
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let started = std::time::Instant::now();
        let mut response = builder.send().await.map_err(|e| {
            if e.is_connect() || e.is_builder() {
                SendError::NotSent(format!("could not reach the provider: {}", e.without_url()))
            } else {
                SendError::Unknown(format!("no answer from the provider: {}", e.without_url()))
            }
        })?;
        let status = response.status().as_u16();
        let headers = Headers(
            response
                .headers()
                .iter()
                .filter_map(|(n, v)| {
                    v.to_str()
                        .ok()
                        .map(|v| (n.as_str().to_owned(), v.to_owned()))
                })
                .collect(),
        );
        let too_big = || {
            SendError::Unknown(format!(
                "the provider's answer is larger than {max_bytes} bytes; not read"
            ))
        };
        if response
            .content_length()
            .is_some_and(|length| length > max_bytes as u64)
        {
            return Err(too_big());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| {
            SendError::Unknown(format!(
                "the provider's answer broke off: {}",
                e.without_url()
            ))
        })? {
            if body.len() + chunk.len() > max_bytes {
                return Err(too_big());
            }
            body.extend_from_slice(&chunk);
        }
        info!(
            status,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "provider answered"
        );
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

fn method(method: Method) -> reqwest::Method {
    match method {
        Method::Get => reqwest::Method::GET,
        Method::Post => reqwest::Method::POST,
        Method::Put => reqwest::Method::PUT,
        Method::Patch => reqwest::Method::PATCH,
        Method::Delete => reqwest::Method::DELETE,
    }
}

/// `Retry-After` in seconds (the HTTP-date form is treated as absent).
pub(crate) fn retry_after(headers: &Headers) -> Option<Duration> {
    headers
        .get("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_in_seconds() {
        let headers = Headers::new().with("Retry-After", "2");
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        let date = Headers::new().with("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT");
        assert_eq!(retry_after(&date), None);
    }
}
