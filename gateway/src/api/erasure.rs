//! `POST /v1/erasure`: erase every call to a number (a data subject's request).

use std::sync::Arc;

use plugin_api::PhoneNumber;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::security::Credentials;
use super::{ApiError, ApiTags, operation_errors};
use crate::audit;
use crate::auth::Role;
use crate::gateway::Gateway;

/// Whose calls to erase.
#[derive(Debug, Object)]
#[oai(example, deny_unknown_fields)]
pub struct ErasureRequest {
    /// The number the calls went to, E.164: `+` then 8 to 15 digits, not starting with 0.
    pub phone_number: String,
}

impl poem_openapi::types::Example for ErasureRequest {
    fn example() -> Self {
        Self {
            phone_number: "+14155550123".into(),
        }
    }
}

/// What an erasure request came to.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ErasureResult {
    /// How many calls this request erased (calls erased before are not counted again).
    pub erased: u64,
}

impl poem_openapi::types::Example for ErasureResult {
    fn example() -> Self {
        Self { erased: 3 }
    }
}

operation_errors! {
    /// Errors of an erasure request.
    ErasureError {
        /// The body is not valid JSON.
        BadRequest = 400,
        /// The body is larger than `server.max_body_bytes`.
        PayloadTooLarge = 413,
        /// The body is not `application/json`.
        UnsupportedMediaType = 415,
        /// `phone_number` is not an E.164 number (`details.field` names it).
        Unprocessable = 422,
        /// The database is unavailable; retry later (calls erased so far stay erased).
        Unavailable = 503,
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ErasureApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Calls")]
impl ErasureApi {
    /// Erase the personal data of every call to a number.
    ///
    /// Each call to `phone_number` is erased as `DELETE /v1/calls/{id}` does, leaving its
    /// tombstone; answers how many calls this request erased (0 when there were none, or all
    /// were erased before). Idempotent. Admin only; audited as `erasure.request` with the
    /// count (the number itself is not written to the audit log, only its masked form).
    #[oai(path = "/erasure", method = "post", operation_id = "eraseNumber")]
    async fn erase_number(
        &self,
        gateway: Data<&Arc<Gateway>>,
        req: &poem::Request,
        auth: Credentials,
        body: Json<ErasureRequest>,
    ) -> Result<Json<ErasureResult>, ErasureError> {
        let principal = auth.require(Role::Admin)?;
        let number = PhoneNumber::parse(body.0.phone_number.trim()).map_err(|e| {
            ApiError::invalid(
                "phone_number",
                format!("`phone_number` must be an E.164 number ('+' then 8 to 15 digits): {e}"),
            )
        })?;
        let erased = gateway.store.erase_number(&number).await;
        let record = audit::Record {
            who: audit::Who::Principal(principal),
            action: "erasure.request",
            target: Some(format!("number:{}", number.erased().as_str())),
            client_addr: gateway.auth.client_addr(req),
            outcome: if erased.is_ok() {
                audit::Outcome::Success
            } else {
                audit::Outcome::Failure
            },
            detail: erased.as_ref().ok().map(|n| format!("erased={n}")),
        };
        audit::record(&gateway, record).await;
        Ok(Json(ErasureResult { erased: erased? }))
    }
}
