//! A loaded plugin: a compiled component checked against the world, ready to instantiate.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest as _, Sha256};

use wasmtime::Engine;
use wasmtime::component::{Component, Linker, types::ComponentItem};

use super::host_state::HostState;
use super::native::NativeBot;
use crate::contract::{BotPre, HANDLER_EXPORT, WORLD};

/// Why a plugin was refused.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The bytes are not a WebAssembly component.
    #[error("not a WebAssembly component: {0}")]
    NotAComponent(String),
    /// The component does not export the handler.
    #[error(
        "plugin does not implement {WORLD}: it lacks the export `{HANDLER_EXPORT}` (its exports: {found}){imports}"
    )]
    MissingExport {
        /// What it exports instead.
        found: String,
        /// What is wrong with its imports too, if anything (empty, or `; and …`).
        imports: String,
    },
    /// The component needs an import the host does not offer, or its export has another shape.
    #[error("plugin does not fit {WORLD}: {0}")]
    Mismatch(String),
}

/// A compiled, validated plugin (or a native bot standing in for one).
#[derive(Clone)]
pub struct Plugin {
    pub(crate) kind: PluginKind,
    info: PluginInfo,
}

/// What runs an event.
#[derive(Clone)]
pub(crate) enum PluginKind {
    /// A component, pre-instantiated against the linker.
    Wasm(BotPre<HostState>),
    /// A bot compiled into the host.
    Native(Arc<dyn NativeBot>),
}

/// Facts about a loaded plugin.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginInfo {
    /// The world it implements.
    pub world: &'static str,
    /// SHA-256 of the component file, in hex: the version's identity.
    pub hash: String,
    /// Size of the component file.
    pub size_bytes: usize,
    /// Time Cranelift took to compile it (zero when it came from the compiled-artifact cache).
    pub compile_time: Duration,
    /// Whether the compiled code came from the compiled-artifact cache.
    pub from_cache: bool,
    /// When it was loaded.
    pub loaded_at: SystemTime,
    /// Where it came from (`file`, `upload`, `rollback`, …).
    pub source: String,
    /// What it imports (interfaces of WASI and of the contract).
    pub imports: Vec<String>,
}

/// The SHA-256 of `bytes` in lower-case hex.
pub fn content_hash(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

impl Plugin {
    /// Compiles `bytes` and checks them against the world.
    pub fn load(
        engine: &Engine,
        linker: &Linker<HostState>,
        bytes: &[u8],
    ) -> Result<Self, PluginError> {
        let started = Instant::now();
        let component = Self::compile(engine, bytes)?;
        Self::from_component(
            engine,
            linker,
            &component,
            PluginInfo {
                world: WORLD,
                hash: content_hash(bytes),
                size_bytes: bytes.len(),
                compile_time: started.elapsed(),
                from_cache: false,
                loaded_at: SystemTime::now(),
                source: "bytes".into(),
                imports: Vec::new(),
            },
        )
    }

    /// Compiles `bytes` into a component (no check against the world yet).
    pub fn compile(engine: &Engine, bytes: &[u8]) -> Result<Component, PluginError> {
        if !is_component_binary(bytes) {
            return Err(PluginError::NotAComponent(describe_non_component(bytes)));
        }
        Component::new(engine, bytes).map_err(|e| PluginError::NotAComponent(format!("{e:#}")))
    }

    /// Checks a compiled `component` against the world and pre-instantiates it; `info`
    /// describes it (its imports are filled in here).
    pub fn from_component(
        engine: &Engine,
        linker: &Linker<HostState>,
        component: &Component,
        mut info: PluginInfo,
    ) -> Result<Self, PluginError> {
        // A component needing what the host does not offer (outbound HTTP, a future version
        // of an interface) is refused naming that import, also when its export is wrong too.
        let linked = linker
            .instantiate_pre(component)
            .map_err(|e| format!("{e:#}"));
        let ty = component.component_type();
        let exports: Vec<String> = ty
            .exports(engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        let has_handler = ty.exports(engine).any(|(name, item)| {
            name == HANDLER_EXPORT && matches!(item.ty, ComponentItem::ComponentInstance(_))
        });
        if !has_handler {
            return Err(PluginError::MissingExport {
                found: if exports.is_empty() {
                    "none".into()
                } else {
                    exports.join(", ")
                },
                imports: match &linked {
                    Ok(_) => String::new(),
                    Err(e) => format!("; and {e}"),
                },
            });
        }
        let instance_pre = linked.map_err(PluginError::Mismatch)?;
        info.imports = ty
            .imports(engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        let pre = BotPre::new(instance_pre).map_err(|e| PluginError::Mismatch(format!("{e:#}")))?;
        Ok(Self {
            kind: PluginKind::Wasm(pre),
            info,
        })
    }

    /// A native bot in the place of a plugin (benchmarks: the same path without the sandbox).
    pub fn native(bot: Arc<dyn NativeBot>) -> Self {
        Self {
            kind: PluginKind::Native(bot),
            info: PluginInfo {
                world: WORLD,
                hash: "native".into(),
                size_bytes: 0,
                compile_time: Duration::ZERO,
                from_cache: false,
                loaded_at: SystemTime::now(),
                source: "native".into(),
                imports: Vec::new(),
            },
        }
    }

    /// Facts about the plugin.
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// The same plugin, saying where it came from.
    pub fn with_source(mut self, source: &str) -> Self {
        self.info.source = source.to_owned();
        self
    }
}

/// Component binaries start with the wasm magic and layer 1 (core modules have layer 0).
fn is_component_binary(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[6..8] == [1, 0]
}

fn describe_non_component(bytes: &[u8]) -> String {
    if bytes.len() >= 8 && bytes[..4] == *b"\0asm" {
        "it is a core WebAssembly module; build a component (wasm32-wasip2, or wrap the module with `wasm-tools component new`)".into()
    } else if bytes.is_empty() {
        "the file is empty".into()
    } else {
        "the file does not start with the WebAssembly magic bytes".into()
    }
}
