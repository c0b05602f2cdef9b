//! The registry of provider kinds compiled into this binary. Adding a built-in provider adds
//! one line to [`Registry::builtin`]; nothing else in the gateway names a provider.

use std::collections::BTreeMap;
use std::sync::Arc;

use plugin_api::ProviderFactory;

/// Provider factories by `kind`.
#[derive(Clone, Default)]
pub struct Registry {
    factories: BTreeMap<String, Arc<dyn ProviderFactory>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("kinds", &self.kinds())
            .finish()
    }
}

impl Registry {
    /// Every provider kind built into the gateway.
    pub fn builtin() -> Self {
        let mut registry = Self::default();
        registry.register(Arc::new(echo_provider::EchoFactory));
        registry.register(Arc::new(elevenlabs_provider::ElevenLabsFactory));
        registry.register(Arc::new(vapi_provider::VapiFactory));
        registry.register(Arc::new(retell_provider::RetellFactory));
        registry.register(Arc::new(crate::plugins::DylibFactory));
        registry
    }

    /// Adds a kind; a later registration of the same kind replaces the earlier one.
    pub fn register(&mut self, factory: Arc<dyn ProviderFactory>) {
        self.factories.insert(factory.manifest().kind, factory);
    }

    pub fn factory(&self, kind: &str) -> Option<&Arc<dyn ProviderFactory>> {
        self.factories.get(kind)
    }

    pub fn kinds(&self) -> Vec<String> {
        self.factories.keys().cloned().collect()
    }
}
