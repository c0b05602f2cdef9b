//! The C ABI for providers loaded from shared libraries.
//!
//! A plugin exports one symbol, [`ENTRY_SYMBOL`] (`voice_gateway_plugin_v1`), returning a pointer
//! to a static [`PluginTable`]: the ABI version and table size first, then `extern "C"`
//! functions. Everything else crosses as bytes: JSON of this crate's types, plus a webhook's raw
//! body as its own byte slice. Every function answers a [`Buffer`] the plugin allocated and the
//! host hands back to [`PluginTable::free_buffer`], so each side frees what it allocated. Every
//! answer is a JSON envelope: `{"ok": ...}`, `{"err": ...}` or `{"panic": "..."}` — a panic inside
//! the plugin is caught at the boundary and never unwinds into the host. No async runtime, HTTP
//! client, logger or allocator crosses: the plugin is the same sans-IO translator a built-in
//! provider is.
//!
//! Plugin authors do not write any of this: they implement [`crate::ProviderFactory`] and
//! [`crate::Provider`] like a built-in provider and add [`export_provider!`](crate::export_provider).
//!
//! # Versioning
//! - [`ABI_VERSION`] is checked before anything else is called; the host refuses another version.
//! - A minor release may append functions to the end of the table (hosts check `table_size`
//!   before using them) and add optional JSON fields; it may not change, reorder or remove
//!   functions, or change the meaning of a field. Anything else is ABI version 2, with a new
//!   entry symbol (`voice_gateway_plugin_v2`), so an old host finds no symbol instead of
//!   misreading a table.
//! - Added within ABI 1: `Manifest::credential_headers` (absent: none declared),
//!   `InstanceInfo::accepts_unsigned_webhooks` (absent: `None`) and the table's
//!   `precheck_webhook` (absent from tables of [`ABI_1_MIN_TABLE_SIZE`]: not called).

#![allow(unsafe_code)]

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Provider;
use crate::http::{Headers, HttpResponse};
use crate::model::{CallHandle, CallRequest};
use crate::provider::{ConfigProblem, ProviderContext, ProviderFactory, WebhookRequest};

/// The ABI this crate speaks.
pub const ABI_VERSION: u32 = 1;

/// The symbol a plugin exports (NUL-terminated, for `dlsym`).
pub const ENTRY_SYMBOL: &[u8] = b"voice_gateway_plugin_v1\0";

/// Bytes allocated by the plugin; only the plugin's `free_buffer` may release them.
#[repr(C)]
#[derive(Debug)]
pub struct Buffer {
    pub ptr: *mut u8,
    pub len: usize,
    pub cap: usize,
}

impl Buffer {
    fn from_vec(bytes: Vec<u8>) -> Self {
        let mut bytes = std::mem::ManuallyDrop::new(bytes);
        Self {
            ptr: bytes.as_mut_ptr(),
            len: bytes.len(),
            cap: bytes.capacity(),
        }
    }

    /// The bytes, borrowed until the buffer is freed.
    ///
    /// # Safety
    /// `self` must come from a plugin function and not have been freed.
    pub unsafe fn as_slice(&self) -> &[u8] {
        if self.ptr.is_null() {
            return &[];
        }
        // SAFETY: the plugin built this from a live Vec of `len` initialized bytes.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// One provider operation: the instance, JSON input, and extra bytes (a webhook's raw body).
pub type Operation = unsafe extern "C" fn(
    instance: *mut c_void,
    input: *const u8,
    input_len: usize,
    bytes: *const u8,
    bytes_len: usize,
) -> Buffer;

/// The table a plugin exports. Fields are only ever appended (see the module docs).
#[repr(C)]
#[derive(Debug)]
pub struct PluginTable {
    /// [`ABI_VERSION`] the plugin was built with.
    pub abi_version: u32,
    /// `size_of::<PluginTable>()` in the plugin: functions past it do not exist.
    pub table_size: usize,
    /// The factory's manifest: `{"ok": Manifest}`.
    pub manifest: unsafe extern "C" fn() -> Buffer,
    /// Validates config and builds an instance: input `{"context": ProviderContext, "config":
    /// Value}`; answers `{"ok": InstanceInfo}` and stores the instance in `*out`, or
    /// `{"err": [ConfigProblem]}`.
    pub create:
        unsafe extern "C" fn(input: *const u8, input_len: usize, out: *mut *mut c_void) -> Buffer,
    /// Input `CallRequest`; `{"ok": Outbound}` or `{"err": ProviderError}`.
    pub build_create_call: Operation,
    /// Input `{"request": CallRequest, "response": HttpResponse}`; `{"ok": CreateCallOutcome}`.
    pub parse_create_call_response: Operation,
    /// Input `{"topic", "headers", "now"}` plus the body bytes; `{"ok": Verification}`.
    pub verify_webhook: Operation,
    /// Input `{"topic", "headers"}` plus the body bytes; `{"ok": ParsedWebhook}` or `{"err": WebhookError}`.
    pub parse_webhook: Operation,
    /// Input `CallHandle`; `{"ok": Outbound}` or `{"err": ProviderError}`.
    pub build_hangup: Operation,
    /// Input `{"call": CallHandle, "response": HttpResponse}`; `{"ok": HangupOutcome}`.
    pub parse_hangup_response: Operation,
    /// Input `CallHandle`; `{"ok": Outbound}` or `{"err": ProviderError}`.
    pub build_fetch_call: Operation,
    /// Input `{"call": CallHandle, "response": HttpResponse}`; `{"ok": [CallEvent]}` or `{"err": ProviderError}`.
    pub parse_fetch_call_response: Operation,
    /// Frees a buffer this plugin returned.
    pub free_buffer: unsafe extern "C" fn(buffer: Buffer),
    /// Destroys an instance `create` made.
    pub destroy: unsafe extern "C" fn(instance: *mut c_void),
    // --- appended within ABI 1: present only if `table_size` covers them ---
    /// Input `{"topic", "headers", "now": null}`, no bytes; `{"ok": Verification | null}`
    /// (`Provider::precheck_webhook`).
    pub precheck_webhook: Operation,
}

/// The `table_size` of the first ABI 1 plugins: the functions up to `destroy`. A host accepts
/// any table at least this long and uses an appended function only if `table_size` covers it.
pub const ABI_1_MIN_TABLE_SIZE: usize = std::mem::offset_of!(PluginTable, precheck_webhook);

impl PluginTable {
    /// Whether the plugin's table reaches past the field at `offset` (of `size` bytes).
    pub fn has(&self, offset: usize, size: usize) -> bool {
        self.table_size >= offset + size
    }
}

/// What `create` tells the host about the new instance besides the factory's manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceInfo {
    pub manifest: crate::Manifest,
    pub webhook_body_limit: Option<usize>,
    pub request_timeout_ms: Option<u64>,
    pub startup_warnings: Vec<String>,
    /// [`Provider::accepts_unsigned_webhooks`]; absent from plugins built before it (none).
    #[serde(default)]
    pub accepts_unsigned_webhooks: Option<String>,
}

/// The envelope of every answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Envelope<T, E> {
    Ok(T),
    Err(E),
    Panic(String),
}

/// Input of `parse_create_call_response`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ResponseToRequest {
    pub request: CallRequest,
    pub response: HttpResponse,
}

/// Input of `parse_hangup_response` and `parse_fetch_call_response`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ResponseToCall {
    pub call: CallHandle,
    pub response: HttpResponse,
}

/// Input of `verify_webhook` and `parse_webhook` (the body travels as bytes beside it).
#[derive(Debug, Serialize, Deserialize)]
pub struct WebhookInput {
    pub topic: Option<String>,
    pub headers: Headers,
    pub now: Option<DateTime<Utc>>,
}

/// Input of `create`.
#[derive(Debug, Serialize, Deserialize)]
pub struct CreateInput {
    pub context: ProviderContext,
    pub config: Value,
}

fn encode<T: Serialize, E: Serialize>(envelope: &Envelope<T, E>) -> Buffer {
    let bytes = serde_json::to_vec(envelope)
        .unwrap_or_else(|e| format!(r#"{{"panic":"cannot encode the answer: {e}"}}"#).into_bytes());
    Buffer::from_vec(bytes)
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "the plugin panicked".to_owned())
}

/// Runs `body` with panics caught, answering its result in the envelope.
fn guarded<T: Serialize, E: Serialize>(body: impl FnOnce() -> Envelope<T, E>) -> Buffer {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(envelope) => encode(&envelope),
        Err(payload) => encode::<(), ()>(&Envelope::Panic(panic_message(payload.as_ref()))),
    }
}

/// # Safety
/// `ptr` must point at `len` readable bytes (or be null with `len` 0).
unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        return &[];
    }
    // SAFETY: the host passes a live slice of `len` bytes for the duration of the call.
    unsafe { std::slice::from_raw_parts(ptr, len) }
}

fn input<T: DeserializeOwned>(raw: &[u8]) -> Result<T, String> {
    serde_json::from_slice(raw).map_err(|e| format!("the host sent malformed input: {e}"))
}

/// The instance behind a pointer `create` handed out.
///
/// # Safety
/// `instance` must come from `create` and not have been destroyed.
unsafe fn provider<'a>(instance: *mut c_void) -> &'a dyn Provider {
    // SAFETY: `create` leaked a `Box<Box<dyn Provider>>` into this pointer.
    unsafe { &**(instance as *const Box<dyn Provider>) }
}

/// Plugin-side implementations, instantiated by [`export_provider!`](crate::export_provider) for
/// one factory type. Not for direct use.
#[doc(hidden)]
pub mod exported {
    use super::*;

    pub unsafe extern "C" fn manifest<F: ProviderFactory + Default>() -> Buffer {
        guarded(|| Envelope::<_, ()>::Ok(F::default().manifest()))
    }

    pub unsafe extern "C" fn create<F: ProviderFactory + Default>(
        raw: *const u8,
        len: usize,
        out: *mut *mut c_void,
    ) -> Buffer {
        // SAFETY: the host passes a live input slice.
        let raw = unsafe { bytes(raw, len) };
        guarded(|| {
            let input: CreateInput = match input(raw) {
                Ok(input) => input,
                Err(e) => return Envelope::Err(vec![ConfigProblem::new("", e)]),
            };
            match F::default().validate_config(&input.context, &input.config) {
                Ok(provider) => {
                    let info = InstanceInfo {
                        manifest: provider.manifest(),
                        webhook_body_limit: provider.webhook_body_limit(),
                        request_timeout_ms: provider
                            .request_timeout()
                            .map(|d| d.as_millis() as u64),
                        startup_warnings: provider.startup_warnings(),
                        accepts_unsigned_webhooks: provider.accepts_unsigned_webhooks(),
                    };
                    if !out.is_null() {
                        let boxed: Box<Box<dyn Provider>> = Box::new(provider);
                        // SAFETY: `out` is a valid place for one pointer, provided by the host.
                        unsafe { *out = Box::into_raw(boxed).cast::<c_void>() };
                    }
                    Envelope::Ok(info)
                }
                Err(problems) => Envelope::Err(problems),
            }
        })
    }

    /// One operation: decode `I`, run `op` on the instance, encode its result.
    unsafe fn operation<I: DeserializeOwned, T: Serialize, E: Serialize>(
        instance: *mut c_void,
        raw: *const u8,
        len: usize,
        body: *const u8,
        body_len: usize,
        op: impl FnOnce(&dyn Provider, I, &[u8]) -> Result<T, E>,
    ) -> Buffer {
        // SAFETY: the host passes live slices and an instance from `create`.
        let (raw, body) = unsafe { (bytes(raw, len), bytes(body, body_len)) };
        if instance.is_null() {
            return encode::<(), ()>(&Envelope::Panic("no instance".into()));
        }
        // SAFETY: as above.
        let provider = unsafe { provider(instance) };
        guarded(|| match input::<I>(raw) {
            Ok(input) => match op(provider, input, body) {
                Ok(value) => Envelope::Ok(value),
                Err(error) => Envelope::Err(error),
            },
            Err(e) => Envelope::Panic(e),
        })
    }

    macro_rules! op {
        ($name:ident, $input:ty, |$p:ident, $i:ident, $b:ident| $body:expr) => {
            pub unsafe extern "C" fn $name(
                instance: *mut c_void,
                raw: *const u8,
                len: usize,
                body: *const u8,
                body_len: usize,
            ) -> Buffer {
                // SAFETY: forwarded from the host's call.
                unsafe {
                    operation::<$input, _, _>(instance, raw, len, body, body_len, |$p, $i, $b| {
                        $body
                    })
                }
            }
        };
    }

    op!(build_create_call, CallRequest, |p, request, _b| p
        .build_create_call(&request));
    op!(
        parse_create_call_response,
        ResponseToRequest,
        |p, i, _b| Ok::<_, ()>(p.parse_create_call_response(&i.request, &i.response))
    );
    op!(verify_webhook, WebhookInput, |p, i, body| {
        let request = WebhookRequest {
            topic: i.topic.as_deref(),
            headers: &i.headers,
            body,
        };
        Ok::<_, ()>(p.verify_webhook(&request, i.now.unwrap_or_else(Utc::now)))
    });
    op!(parse_webhook, WebhookInput, |p, i, body| {
        let request = WebhookRequest {
            topic: i.topic.as_deref(),
            headers: &i.headers,
            body,
        };
        p.parse_webhook(&request)
    });
    op!(precheck_webhook, WebhookInput, |p, i, _b| {
        Ok::<_, ()>(p.precheck_webhook(i.topic.as_deref(), &i.headers))
    });
    op!(build_hangup, CallHandle, |p, call, _b| p
        .build_hangup(&call));
    op!(
        parse_hangup_response,
        ResponseToCall,
        |p, i, _b| Ok::<_, ()>(p.parse_hangup_response(&i.call, &i.response))
    );
    op!(build_fetch_call, CallHandle, |p, call, _b| p
        .build_fetch_call(&call));
    op!(parse_fetch_call_response, ResponseToCall, |p, i, _b| p
        .parse_fetch_call_response(&i.call, &i.response));

    pub unsafe extern "C" fn free_buffer(buffer: Buffer) {
        if !buffer.ptr.is_null() {
            // SAFETY: the buffer came from `Buffer::from_vec` in this library.
            drop(unsafe { Vec::from_raw_parts(buffer.ptr, buffer.len, buffer.cap) });
        }
    }

    pub unsafe extern "C" fn destroy(instance: *mut c_void) {
        if !instance.is_null() {
            // SAFETY: `create` leaked this box; the host destroys each instance once.
            drop(unsafe { Box::from_raw(instance.cast::<Box<dyn Provider>>()) });
        }
    }

    /// The table for factory `F`.
    pub const fn table<F: ProviderFactory + Default>() -> PluginTable {
        PluginTable {
            abi_version: ABI_VERSION,
            table_size: std::mem::size_of::<PluginTable>(),
            manifest: manifest::<F>,
            create: create::<F>,
            build_create_call,
            parse_create_call_response,
            verify_webhook,
            parse_webhook,
            build_hangup,
            parse_hangup_response,
            build_fetch_call,
            parse_fetch_call_response,
            free_buffer,
            destroy,
            precheck_webhook,
        }
    }
}

/// Exports a provider factory as a dynamically loadable plugin. In a `cdylib` crate:
///
/// ```ignore
/// #[derive(Default)]
/// struct AcmeFactory;
/// impl plugin_api::ProviderFactory for AcmeFactory { /* ... */ }
/// plugin_api::export_provider!(AcmeFactory);
/// ```
///
/// The factory needs `Default`; its instances are the same `Provider` a built-in provider is.
#[macro_export]
macro_rules! export_provider {
    ($factory:ty) => {
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub extern "C" fn voice_gateway_plugin_v1() -> *const $crate::abi::PluginTable {
            static TABLE: $crate::abi::PluginTable = $crate::abi::exported::table::<$factory>();
            &TABLE
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_info_of_older_plugins_accepts_no_unsigned_webhooks() {
        // A plugin built before the field existed answers `create` without it.
        let json = serde_json::json!({
            "manifest": {
                "kind": "acme",
                "version": "0.1.0",
                "description": "Acme",
                "capabilities": crate::Capabilities::default(),
                "signature_scheme": null,
                "config_keys": [],
            },
            "webhook_body_limit": null,
            "request_timeout_ms": null,
            "startup_warnings": [],
        });
        let info: InstanceInfo = serde_json::from_value(json).expect("an older InstanceInfo");
        assert_eq!(info.accepts_unsigned_webhooks, None);
        assert!(info.manifest.credential_headers.is_empty());
    }
}
