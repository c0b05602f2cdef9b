//! Health: the seed's `GET /`, liveness and readiness.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use crate::gateway::Gateway;

/// The service is up.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Health {
    /// `Voice Gateway is running`.
    pub message: String,
    /// The gateway's version.
    pub version: String,
    /// `healthy`, or `unhealthy` when the database does not answer (readiness).
    pub status: String,
}

impl Health {
    fn new(message: &str, status: &str) -> Self {
        Self {
            message: message.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            status: status.to_owned(),
        }
    }
}

#[derive(Debug, ApiResponse)]
pub enum ReadyResponse {
    /// The database answers.
    #[oai(status = 200)]
    Ready(Json<Health>),
    /// The database does not answer.
    #[oai(status = 503)]
    NotReady(Json<Health>),
}

#[derive(Debug, Clone, Copy)]
pub struct HealthApi;

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Service status (the seed's health check).
    ///
    /// Answers 200 with the gateway's version while the process serves requests; needs no credentials.
    #[oai(path = "/", method = "get", operation_id = "getStatus")]
    async fn root(&self) -> Json<Health> {
        Json(Health::new("Voice Gateway is running", "healthy"))
    }

    /// Liveness: answers 200 while the process serves requests.
    ///
    /// For orchestrators' liveness probes: never touches the database, needs no credentials.
    #[oai(path = "/health/live", method = "get", operation_id = "getLiveness")]
    async fn live(&self) -> Json<Health> {
        Json(Health::new("Voice Gateway is running", "healthy"))
    }

    /// Readiness: 200 when the database answers, 503 otherwise.
    ///
    /// For load balancers' readiness probes: pings the database; needs no credentials.
    #[oai(path = "/health/ready", method = "get", operation_id = "getReadiness")]
    async fn ready(&self, gateway: Data<&Arc<Gateway>>) -> ReadyResponse {
        match gateway.store.ping().await {
            Ok(()) => ReadyResponse::Ready(Json(Health::new("Voice Gateway is ready", "healthy"))),
            Err(e) => {
                tracing::warn!(error = %e, "readiness check failed");
                ReadyResponse::NotReady(Json(Health::new(
                    "The database is unavailable",
                    "unhealthy",
                )))
            }
        }
    }
}
