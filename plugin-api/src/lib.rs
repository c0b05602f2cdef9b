//! The stable provider API of voice-gateway: the sans-IO [`Provider`] trait, the normalized call
//! model, and the call status state machine.
//!
//! This crate does no I/O and depends on no async runtime, HTTP stack or database, so providers
//! built on it are pure translators that can be unit-tested from recorded vendor payloads.

#![warn(missing_debug_implementations)]

/// Re-exported so plugins use the same version the trait's signatures do.
pub use chrono;

pub mod abi;
pub mod config;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod http;
pub mod ids;
pub mod json;
pub mod model;
pub mod provider;
pub mod signature;
pub mod status;

pub use http::{Headers, HttpRequest, HttpResponse, Method};
pub use ids::{CallId, PhoneNumber, PhoneNumberError, mask_phone};
pub use model::{
    Call, CallDetails, CallEvent, CallHandle, CallRequest, Correlation, Cost, CostUnit, Recording,
    Removed, Speaker, StatusUpdate, TelephonyIds, TranscriptSource, TranscriptTurn, Turn,
};
pub use provider::{
    Acceptance, Capabilities, ConfigKey, ConfigProblem, ConfigValueKind, CreateCallOutcome,
    Environment, HangupOutcome, LocalOutcome, Manifest, Outbound, PROVIDER_API_VERSION,
    ParsedWebhook, Provider, ProviderContext, ProviderError, ProviderFactory, ScheduledWebhook,
    Verification, WebhookError, WebhookRequest,
};
pub use status::{CallStatus, Transition, UnknownStatus};
