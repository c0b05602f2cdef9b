//! A test-only shared library that is not a voice-gateway plugin: it exports no
//! `voice_gateway_plugin_v1` symbol.

/// Something a library might offer; nothing the gateway looks for.
pub fn answer() -> u32 {
    42
}
