//! An optional JSON request body, for operations whose body may be left out entirely.

use poem_openapi::error::ContentTypeError;
use poem_openapi::payload::{Json, Payload};
use poem_openapi::registry::{MetaMediaType, MetaRequest, Registry};
use poem_openapi::types::ParseFromJSON;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};

/// An optional JSON request body: none at all (no bytes, no content type) is `None`; a body is
/// taken as `application/json`, like any other.
#[derive(Debug)]
pub struct OptionalJson<T>(pub Option<T>);

impl<'a, T: ParseFromJSON> ApiExtractor<'a> for OptionalJson<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: <Json<T> as Payload>::CONTENT_TYPE,
                schema: T::schema_ref(),
            }],
            required: false,
        })
    }

    async fn from_request(
        request: &'a poem::Request,
        body: &mut poem::RequestBody,
        options: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        if request.content_type().is_some() {
            let Json(value) =
                <Json<Option<T>> as ApiExtractor>::from_request(request, body, options).await?;
            return Ok(Self(value));
        }
        let bytes = <Vec<u8> as poem::FromRequest>::from_request(request, body).await?;
        if bytes.is_empty() {
            Ok(Self(None))
        } else {
            Err(ContentTypeError::ExpectContentType.into())
        }
    }
}
