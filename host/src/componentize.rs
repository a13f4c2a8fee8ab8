//! Turns a WASI preview 1 core module (what C with Debian's wasi-libc and Go's `wasip1`
//! build) into a component of the bot world: the contract's WIT is embedded when the module
//! does not carry it, and the WASI adapter of the wasmtime version this host runs is linked
//! in, so the component's WASI imports always match the host.

use anyhow::{Context as _, bail};
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
    WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wit_component::{ComponentEncoder, StringEncoding, embed_component_metadata};
use wit_parser::{Resolve, SourceMap};

/// The contract, as compiled into this binary.
const CONTRACT: &[(&str, &str)] = &[
    ("wit/types.wit", include_str!("../../wit/types.wit")),
    ("wit/world.wit", include_str!("../../wit/world.wit")),
];

/// What `componentize` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Componentized {
    /// The component.
    pub component: Vec<u8>,
    /// Whether the contract's WIT had to be embedded (the module carried none).
    pub embedded_contract: bool,
    /// Whether the module is a command (exports `_start`), adapted as one.
    pub command: bool,
}

/// Makes a component of `core`, a WASI preview 1 core module exporting the bot world's
/// functions. Refuses a component (nothing to do) and anything that is not wasm.
pub fn componentize(core: &[u8]) -> anyhow::Result<Componentized> {
    let facts = inspect(core)?;
    let mut module = core.to_vec();
    if !facts.has_component_type {
        let (resolve, world) = contract()?;
        embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8)
            .context("embedding the contract's WIT")?;
    }
    let adapter = if facts.exports_start {
        WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER
    } else {
        WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER
    };
    let component = ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .context("reading the core module")?
        .adapter(WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, adapter)
        .context("adding the WASI adapter")?
        .encode()
        .context("encoding the component")?;
    Ok(Componentized {
        component,
        embedded_contract: !facts.has_component_type,
        command: facts.exports_start,
    })
}

/// What the core module carries.
struct ModuleFacts {
    has_component_type: bool,
    exports_start: bool,
}

fn inspect(bytes: &[u8]) -> anyhow::Result<ModuleFacts> {
    let mut facts = ModuleFacts {
        has_component_type: false,
        exports_start: false,
    };
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload.context("not a WebAssembly module")? {
            wasmparser::Payload::Version {
                encoding: wasmparser::Encoding::Component,
                ..
            } => bail!("this is already a component; `wasmbot check` it instead"),
            wasmparser::Payload::CustomSection(section)
                if section.name().starts_with("component-type") =>
            {
                facts.has_component_type = true;
            }
            wasmparser::Payload::ExportSection(exports) => {
                for export in exports {
                    if export.context("reading the exports")?.name == "_start" {
                        facts.exports_start = true;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(facts)
}

/// The contract's WIT and its `bot` world.
fn contract() -> anyhow::Result<(Resolve, wit_parser::WorldId)> {
    let mut map = SourceMap::new();
    for (path, text) in CONTRACT {
        map.push_str(path, *text);
    }
    let group = map
        .parse()
        .map_err(|(_, error)| anyhow::anyhow!("{error}"))
        .context("parsing the contract")?;
    let mut resolve = Resolve::default();
    let package = resolve
        .push_group(group)
        .context("resolving the contract")?;
    let world = resolve.select_world(&[package], Some("bot"))?;
    Ok((resolve, world))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_contract_parses_and_names_the_bot_world() {
        let (resolve, world) = contract().unwrap();
        assert_eq!(resolve.worlds[world].name, "bot");
    }

    #[test]
    fn non_modules_and_components_are_refused() {
        let error = componentize(b"not wasm").unwrap_err();
        assert!(
            format!("{error:#}").contains("not a WebAssembly module"),
            "{error:#}"
        );
        let component = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
        let error = componentize(&component).unwrap_err();
        assert!(
            format!("{error:#}").contains("already a component"),
            "{error:#}"
        );
    }
}
