//! A test-only plugin with a hand-written function table: a readable manifest and instance,
//! then bytes that are not JSON from every provider operation. It loads, so the gateway starts,
//! and each request that reaches it fails with a clear "malformed JSON" error. Its table is as
//! long as the first ABI 1 plugins' (no function appended since), so the host must load it and
//! never call what lies past it.

#![allow(unsafe_code)]

use std::ffi::c_void;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;

use plugin_api::abi::{
    ABI_1_MIN_TABLE_SIZE, ABI_VERSION, Buffer, Envelope, InstanceInfo, PluginTable,
};
use plugin_api::{Capabilities, Manifest};

/// What every provider operation answers.
pub const GARBAGE: &[u8] = b"\x00this is not JSON {\xff";

fn buffer(bytes: Vec<u8>) -> Buffer {
    let mut bytes = ManuallyDrop::new(bytes);
    Buffer {
        ptr: bytes.as_mut_ptr(),
        len: bytes.len(),
        cap: bytes.capacity(),
    }
}

fn ok<T: serde::Serialize>(value: T) -> Buffer {
    buffer(serde_json::to_vec(&Envelope::<T, ()>::Ok(value)).unwrap_or_default())
}

fn manifest_value() -> Manifest {
    Manifest {
        kind: "garbled".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        description: "Test plugin: answers bytes that are not JSON".to_owned(),
        capabilities: Capabilities {
            outbound_call: true,
            ..Capabilities::default()
        },
        signature_scheme: None,
        config_keys: Vec::new(),
        credential_headers: Vec::new(),
    }
}

unsafe extern "C" fn manifest() -> Buffer {
    ok(manifest_value())
}

unsafe extern "C" fn create(_input: *const u8, _len: usize, out: *mut *mut c_void) -> Buffer {
    if !out.is_null() {
        // SAFETY: the host passes a place for one pointer. The instance is never dereferenced.
        unsafe { *out = NonNull::<c_void>::dangling().as_ptr() };
    }
    ok(InstanceInfo {
        manifest: manifest_value(),
        webhook_body_limit: None,
        request_timeout_ms: None,
        startup_warnings: Vec::new(),
        accepts_unsigned_webhooks: None,
    })
}

unsafe extern "C" fn operation(
    _instance: *mut c_void,
    _input: *const u8,
    _input_len: usize,
    _bytes: *const u8,
    _bytes_len: usize,
) -> Buffer {
    buffer(GARBAGE.to_vec())
}

unsafe extern "C" fn free_buffer(buffer: Buffer) {
    if !buffer.ptr.is_null() {
        // SAFETY: every buffer this library hands out is a `Vec` it leaked in `buffer`.
        drop(unsafe { Vec::from_raw_parts(buffer.ptr, buffer.len, buffer.cap) });
    }
}

unsafe extern "C" fn destroy(_instance: *mut c_void) {}

/// Past the declared `table_size`: a host that calls it is wrong, and the process ends.
unsafe extern "C" fn past_the_table(
    _instance: *mut c_void,
    _input: *const u8,
    _input_len: usize,
    _bytes: *const u8,
    _bytes_len: usize,
) -> Buffer {
    std::process::abort()
}

static TABLE: PluginTable = PluginTable {
    abi_version: ABI_VERSION,
    table_size: ABI_1_MIN_TABLE_SIZE,
    manifest,
    create,
    build_create_call: operation,
    parse_create_call_response: operation,
    verify_webhook: operation,
    parse_webhook: operation,
    build_hangup: operation,
    parse_hangup_response: operation,
    build_fetch_call: operation,
    parse_fetch_call_response: operation,
    free_buffer,
    destroy,
    precheck_webhook: past_the_table,
};

/// The ABI 1 entry point, answering the table above.
#[unsafe(no_mangle)]
pub extern "C" fn voice_gateway_plugin_v1() -> *const PluginTable {
    &TABLE
}
