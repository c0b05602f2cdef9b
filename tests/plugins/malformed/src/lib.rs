//! A test-only plugin with a hand-written function table whose every function answers bytes
//! that are not JSON: the gateway cannot read its manifest, so loading it stops startup.

#![allow(unsafe_code)]

use std::ffi::c_void;
use std::mem::ManuallyDrop;

use plugin_api::abi::{ABI_VERSION, Buffer, PluginTable};

/// What every function answers.
pub const GARBAGE: &[u8] = b"\x00this is not JSON {\xff";

fn garbage() -> Buffer {
    let mut bytes = ManuallyDrop::new(GARBAGE.to_vec());
    Buffer {
        ptr: bytes.as_mut_ptr(),
        len: bytes.len(),
        cap: bytes.capacity(),
    }
}

unsafe extern "C" fn manifest() -> Buffer {
    garbage()
}

unsafe extern "C" fn create(_input: *const u8, _len: usize, _out: *mut *mut c_void) -> Buffer {
    garbage()
}

unsafe extern "C" fn operation(
    _instance: *mut c_void,
    _input: *const u8,
    _input_len: usize,
    _bytes: *const u8,
    _bytes_len: usize,
) -> Buffer {
    garbage()
}

unsafe extern "C" fn free_buffer(buffer: Buffer) {
    if !buffer.ptr.is_null() {
        // SAFETY: every buffer this library hands out is a `Vec` it leaked in `garbage`.
        drop(unsafe { Vec::from_raw_parts(buffer.ptr, buffer.len, buffer.cap) });
    }
}

unsafe extern "C" fn destroy(_instance: *mut c_void) {}

static TABLE: PluginTable = PluginTable {
    abi_version: ABI_VERSION,
    table_size: size_of::<PluginTable>(),
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
    precheck_webhook: operation,
};

/// The ABI 1 entry point, answering the table above.
#[unsafe(no_mangle)]
pub extern "C" fn voice_gateway_plugin_v1() -> *const PluginTable {
    &TABLE
}
