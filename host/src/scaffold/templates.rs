//! The template files of `keystep plugins new`, compiled into the binary:
//! one table per language and world, plus what every project of a world
//! shares (its grant file, test script and README head) and the WIT files
//! themselves, so that a project builds outside this repository. The
//! sources are real files under `templates/`, to be read and edited as
//! such; `{{name}}` and the other placeholders are filled in by
//! [`super::render`].

/// The language a project is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Rust with wit-bindgen 0.63, for wasm32-wasip2.
    Rust,
    /// Python with componentize-py 0.25.1.
    #[value(alias = "py")]
    Python,
    /// JavaScript with componentize-js 0.23.0.
    #[value(alias = "javascript")]
    Js,
    /// C with clang, wasi-libc and wasm-component-ld.
    C,
}

/// The world a project's component targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum World {
    /// A function: `call(input) -> result<json, error>`, for `call_function`.
    Function,
    /// A connector (the world `connector-plugin`): actions, accounts, sync.
    Connector,
}

impl World {
    /// The world's name in the WIT.
    pub fn wit_name(self) -> &'static str {
        match self {
            World::Function => "function",
            World::Connector => "connector-plugin",
        }
    }
}

impl Lang {
    pub fn label(self) -> &'static str {
        match self {
            Lang::Rust => "Rust",
            Lang::Python => "Python",
            Lang::Js => "JavaScript",
            Lang::C => "C",
        }
    }
}

/// One file of a project: its path in the project (placeholders allowed)
/// and its contents.
pub struct File {
    pub path: &'static str,
    pub contents: Contents,
}

pub enum Contents {
    /// Text, with placeholders.
    Text(&'static str),
    /// Bytes written as they are (a generated object file).
    Binary(&'static [u8]),
}

/// A text file from `templates/SOURCE`, written at `PATH`.
macro_rules! text {
    ($path:literal, $source:literal) => {
        File {
            path: $path,
            contents: Contents::Text(include_str!(concat!("templates/", $source))),
        }
    };
}

/// A file written as it is.
macro_rules! binary {
    ($path:literal, $source:literal) => {
        File {
            path: $path,
            contents: Contents::Binary(include_bytes!(concat!("templates/", $source))),
        }
    };
}

/// The README: the world's part (what it is, try it, install it), then the
/// language's (its files, what it needs, its errors).
macro_rules! readme {
    ($world:literal, $lang:literal) => {
        File {
            path: "README.md",
            contents: Contents::Text(concat!(
                include_str!(concat!("templates/shared/", $world, "/README.md")),
                include_str!(concat!("templates/", $lang, "/", $world, "/README.md")),
            )),
        }
    };
}

/// The WIT package, from the repository's `wit/v0.1.0`.
macro_rules! wit {
    ($file:literal) => {
        File {
            path: concat!("wit/", $file),
            contents: Contents::Text(include_str!(concat!("../../../wit/v0.1.0/", $file))),
        }
    };
}

const WIT: &[File] = &[
    wit!("types.wit"),
    wit!("host.wit"),
    wit!("directory.wit"),
    wit!("connector.wit"),
    wit!("worlds.wit"),
];

const EVERY: &[File] = &[text!(".gitignore", "shared/gitignore")];

const FUNCTION: &[File] = &[
    text!("{{name}}.toml", "shared/function/NAME.toml"),
    text!("directory.yaml", "shared/function/directory.yaml"),
    text!("test.sh", "shared/function/test.sh"),
];

const CONNECTOR: &[File] = &[
    text!("{{name}}.toml", "shared/connector/NAME.toml"),
    text!("mock_app.py", "shared/connector/mock_app.py"),
    text!("test.sh", "shared/connector/test.sh"),
];

const RUST: &[File] = &[
    text!("Cargo.toml", "rust/common/Cargo.toml"),
    text!("Cargo.lock", "rust/common/Cargo.lock"),
    text!("build.sh", "rust/common/build.sh"),
];

const RUST_FUNCTION: &[File] = &[
    readme!("function", "rust"),
    text!("src/lib.rs", "rust/function/src/lib.rs"),
    text!("src/decide.rs", "rust/function/src/decide.rs"),
];

const RUST_CONNECTOR: &[File] = &[
    readme!("connector", "rust"),
    text!("src/lib.rs", "rust/connector/src/lib.rs"),
    text!("src/api.rs", "rust/connector/src/api.rs"),
];

const PYTHON: &[File] = &[text!("build.sh", "python/common/build.sh")];

const PYTHON_FUNCTION: &[File] = &[
    readme!("function", "python"),
    text!("app.py", "python/function/app.py"),
    text!("decide.py", "python/function/decide.py"),
    text!("test_decide.py", "python/function/test_decide.py"),
];

const PYTHON_CONNECTOR: &[File] = &[
    readme!("connector", "python"),
    text!("app.py", "python/connector/app.py"),
    text!("api.py", "python/connector/api.py"),
];

const JS: &[File] = &[
    text!("package.json", "js/common/package.json"),
    text!("package-lock.json", "js/common/package-lock.json"),
    text!("keystep.d.ts", "js/common/keystep.d.ts"),
    text!("jsconfig.json", "js/common/jsconfig.json"),
    text!("build.sh", "js/common/build.sh"),
];

const JS_FUNCTION: &[File] = &[
    readme!("function", "js"),
    text!("app.js", "js/function/app.js"),
    text!("decide.js", "js/function/decide.js"),
    text!("decide.test.js", "js/function/decide.test.js"),
];

const JS_CONNECTOR: &[File] = &[
    readme!("connector", "js"),
    text!("app.js", "js/connector/app.js"),
    text!("api.js", "js/connector/api.js"),
];

const C: &[File] = &[
    text!("build.sh", "c/common/build.sh"),
    text!("json.h", "c/common/json.h"),
    text!("json.c", "c/common/json.c"),
];

const C_FUNCTION: &[File] = &[
    readme!("function", "c"),
    text!("app.c", "c/function/app.c"),
    text!("bindings/function.c", "c/function/bindings/function.c"),
    text!("bindings/function.h", "c/function/bindings/function.h"),
    binary!(
        "bindings/function_component_type.o",
        "c/function/bindings/function_component_type.o"
    ),
];

const C_CONNECTOR: &[File] = &[
    readme!("connector", "c"),
    text!("app.c", "c/connector/app.c"),
    text!("api.h", "c/connector/api.h"),
    text!("api.c", "c/connector/api.c"),
    text!(
        "bindings/connector_plugin.c",
        "c/connector/bindings/connector_plugin.c"
    ),
    text!(
        "bindings/connector_plugin.h",
        "c/connector/bindings/connector_plugin.h"
    ),
    binary!(
        "bindings/connector_plugin_component_type.o",
        "c/connector/bindings/connector_plugin_component_type.o"
    ),
];

/// Every file of a project in `lang` for `world`.
pub fn files(lang: Lang, world: World) -> impl Iterator<Item = &'static File> {
    let shared = match world {
        World::Function => FUNCTION,
        World::Connector => CONNECTOR,
    };
    let (common, own) = match (lang, world) {
        (Lang::Rust, World::Function) => (RUST, RUST_FUNCTION),
        (Lang::Rust, World::Connector) => (RUST, RUST_CONNECTOR),
        (Lang::Python, World::Function) => (PYTHON, PYTHON_FUNCTION),
        (Lang::Python, World::Connector) => (PYTHON, PYTHON_CONNECTOR),
        (Lang::Js, World::Function) => (JS, JS_FUNCTION),
        (Lang::Js, World::Connector) => (JS, JS_CONNECTOR),
        (Lang::C, World::Function) => (C, C_FUNCTION),
        (Lang::C, World::Connector) => (C, C_CONNECTOR),
    };
    [EVERY, WIT, shared, common, own].into_iter().flatten()
}
