//! `GET /v1/providers`: what is configured.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::security::Credentials;
use super::{ApiTags, ReadError};
use crate::auth::Role;
use crate::gateway::Gateway;

/// What a provider implementation can do.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ProviderCapabilities {
    /// It can place outbound calls.
    pub outbound_call: bool,
    /// It can hang up a running call (`POST /v1/calls/{id}/hangup`).
    pub hangup: bool,
    /// It delivers transcript turns while the call runs.
    pub live_transcript: bool,
    /// It sends a report (transcript, cost, analysis) after the call.
    pub post_call_report: bool,
    /// It can fetch a call's state from the vendor (`POST /v1/calls/{id}/refresh`, reconciliation).
    pub fetch_call: bool,
    /// The vendor deduplicates creates by an idempotency key the gateway sends with each create,
    /// so a create whose outcome is unknown (a timeout after sending) is sent again with the
    /// same key; without it such a create is never resent, and the call stays pending until
    /// the vendor's webhooks or a refresh tell.
    pub idempotent_create: bool,
}

/// A configured provider instance.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ProviderInfo {
    /// The instance name: use it as `provider` in `POST /v1/calls`.
    pub name: String,
    /// The implementation (`echo`, `elevenlabs`, `vapi`, ...).
    pub kind: String,
    /// The implementation's version.
    pub version: String,
    /// What the implementation is.
    pub description: String,
    /// Whether calls that name no provider use this one.
    pub default: bool,
    /// What the implementation can do.
    pub capabilities: ProviderCapabilities,
    /// How its webhooks are signed, if they are.
    pub signature_scheme: Option<String>,
    /// Where the vendor must send webhooks, relative to this gateway's base URL.
    pub webhook_path: String,
}

/// The configured providers.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ProviderList {
    /// The name of the default provider.
    pub default_provider: String,
    /// The instances, by name.
    pub items: Vec<ProviderInfo>,
}

#[derive(Debug, Clone, Copy)]
pub struct ProvidersApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Providers")]
impl ProvidersApi {
    /// List the configured provider instances and which one is the default.
    ///
    /// Each instance with its kind, version, capabilities, signature scheme and webhook path. Any role.
    #[oai(path = "/providers", method = "get", operation_id = "listProviders")]
    async fn list(
        &self,
        gateway: Data<&Arc<Gateway>>,
        auth: Credentials,
    ) -> Result<Json<ProviderList>, ReadError> {
        auth.require(Role::Viewer)?;
        let default = gateway.settings.default_provider().to_owned();
        let items = gateway
            .providers()
            .values()
            .map(|instance| {
                let manifest = instance.manifest.clone();
                let c = manifest.capabilities;
                ProviderInfo {
                    name: instance.name.clone(),
                    kind: instance.kind.clone(),
                    version: manifest.version,
                    description: manifest.description,
                    default: instance.name == default,
                    capabilities: ProviderCapabilities {
                        outbound_call: c.outbound_call,
                        hangup: c.hangup,
                        live_transcript: c.live_transcript,
                        post_call_report: c.post_call_report,
                        fetch_call: c.fetch_call,
                        idempotent_create: c.idempotent_create,
                    },
                    signature_scheme: manifest.signature_scheme,
                    webhook_path: format!("/webhooks/{}", instance.name),
                }
            })
            .collect();
        Ok(Json(ProviderList {
            default_provider: default,
            items,
        }))
    }
}
