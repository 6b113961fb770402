//! The composition root: from the configuration (plain data) it builds the
//! parts a command uses — the store, the automation catalog, the plugin
//! host, the channels, the async runtime and the engine — each the one way
//! the program builds it. The faces (the CLI) get their parts only here.

use std::sync::{Arc, OnceLock};

use crate::automation::catalog::Catalog;
use crate::config::Config;
use crate::engine::{self, Engine};
use crate::notify::Notifier;
use crate::plugins::Plugins;
use crate::store::Store;

/// The configured program: its settings, and the parts built from them on
/// first use.
pub struct App {
    pub config: Config,
    plugins: OnceLock<Arc<Plugins>>,
    runtime: OnceLock<tokio::runtime::Runtime>,
}

impl App {
    pub fn new(config: Config) -> App {
        App {
            config,
            plugins: OnceLock::new(),
            runtime: OnceLock::new(),
        }
    }

    /// The store at the configured path, created if it does not exist.
    pub fn open_store(&self) -> anyhow::Result<Store> {
        Store::open(&self.config.store_path)
    }

    /// The automations in the configured folders.
    pub fn catalog(&self) -> Catalog {
        Catalog::new(self.config.automation_dirs.clone())
    }

    /// The plugin host, made once (nothing is loaded until used).
    pub fn plugins(&self) -> Arc<Plugins> {
        self.plugins
            .get_or_init(|| {
                let plugins = Plugins::new(
                    self.config.plugin_dirs.clone(),
                    self.config.plugin_cache.clone(),
                );
                Arc::new(match self.config.plugin_concurrency {
                    Some(calls) => plugins.with_concurrency(calls),
                    None => plugins,
                })
            })
            .clone()
    }

    /// The process's one async runtime, on which the engine moves runs.
    /// Its threads have 8 MiB stacks: a CEL expression at the nesting
    /// limit takes about 4 MiB to evaluate in a debug build.
    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime.get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("keystep-worker")
                .thread_stack_size(crate::engine::STACK_BYTES)
                .build()
                .expect("the async runtime starts")
        })
    }

    /// An engine on `store` with the configured depth limit, concurrency,
    /// lease, plugins and channels.
    pub fn engine(&self, store: &Store) -> engine::Builder {
        Engine::builder(store.clone(), self.catalog())
            .max_depth(self.config.max_depth)
            .concurrency(self.config.concurrency)
            .lease(self.config.lease)
            .plugins(self.plugins())
            .notifier(Arc::new(Notifier::new(self.config.notify.clone())))
    }
}
