//! A test-only plugin built for another ABI: it exports the v1 entry symbol, but its table says
//! ABI version 99. Every table starts with its version, so that is all a host may read of it.

#![allow(unsafe_code)]

/// The start every plugin table shares, whatever its ABI version.
#[repr(C)]
#[derive(Debug)]
pub struct FutureTable {
    pub abi_version: u32,
    pub table_size: usize,
}

static TABLE: FutureTable = FutureTable {
    abi_version: 99,
    table_size: size_of::<FutureTable>(),
};

/// The v1 entry point's name, answering a table of ABI 99.
#[unsafe(no_mangle)]
pub extern "C" fn voice_gateway_plugin_v1() -> *const FutureTable {
    &TABLE
}
