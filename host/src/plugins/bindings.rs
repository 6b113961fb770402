//! Host bindings for `keystep:plugin@0.1.0`, generated from `wit/v0.1.0`.
//!
//! One `bindgen!` per world. The function world reuses the connector world's
//! `types` and `host` so that one implementation of the host serves both.
//! When a new WIT version is released it gets its own module here, and its
//! older sibling's host traits delegate to the newest.

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

pub use connector::exports::keystep::plugin::connector as api;
pub use connector::keystep::plugin::{host, types};
pub use function::keystep::plugin::directory;
