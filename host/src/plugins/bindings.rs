//! Host bindings for every released version of the plugin interface,
//! generated from `wit/`: `keystep:plugin@0.1.0` (the modules at the top:
//! both worlds) and `@0.2.0` ([`v0_2`]: the function world, whose
//! `directory` adds `list-reports`).
//!
//! One `bindgen!` per world and version. Within a version the function
//! world reuses the connector world's `types` and `host`. The host is
//! written once, against the newest version (`imports.rs`); an older
//! version's host traits convert and delegate to it (`imports_v0_1.rs`), so
//! a component built against 0.1.0 links and runs unchanged beside one built
//! against 0.2.0. A new version is a folder in `wit/`, a module here, and a
//! delegating file for the version it replaces as newest.

/// The `connector-plugin` world: imports `host`, exports `connector`.
pub mod connector {
    wasmtime::component::bindgen!({
        path: "../wit/v0.1.0",
        world: "connector-plugin",
    });
}

/// The `function` world: imports `host` and `directory`, exports `call`.
pub mod function {
    wasmtime::component::bindgen!({
        path: "../wit/v0.1.0",
        world: "function",
        with: {
            "keystep:plugin/types": super::connector::keystep::plugin::types,
            "keystep:plugin/host": super::connector::keystep::plugin::host,
        },
    });
}

/// The `function` world with its export async, for the benchmark's
/// prototype of calls on wasmtime's async support ([`super::async_calls`]).
/// Its imports are the ones above.
pub mod function_async {
    wasmtime::component::bindgen!({
        path: "../wit/v0.1.0",
        world: "function",
        exports: { default: async },
        with: {
            "keystep:plugin/types": super::connector::keystep::plugin::types,
            "keystep:plugin/host": super::connector::keystep::plugin::host,
            "keystep:plugin/directory": super::function::keystep::plugin::directory,
        },
    });
}

/// `keystep:plugin@0.2.0`: the function world.
pub mod v0_2 {
    /// The `function` world: imports `host` and `directory`, exports `call`.
    pub mod function {
        wasmtime::component::bindgen!({
            path: "../wit/v0.2.0",
            world: "function",
        });
    }

    pub use function::keystep::plugin::{directory, host, types};
}

pub use connector::exports::keystep::plugin::connector as api;
pub use connector::keystep::plugin::{host, types};
pub use function::keystep::plugin::directory;
