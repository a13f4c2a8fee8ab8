//! `wasmbot build [DIR]` and `wasmbot sdk [DIR]`: a bot project's component, built with its
//! own command and checked against the contract; its `sdk/` rewritten.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::project::{BuildOutput, Project, write_sdk};

/// Arguments of `wasmbot build`.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The project (a directory with a `bot.toml`, or inside one; default: here).
    pub dir: Option<PathBuf>,
}

/// Arguments of `wasmbot sdk`.
#[derive(Debug, clap::Args)]
pub struct SdkArgs {
    /// The project (a directory with a `bot.toml`, or inside one; default: here).
    pub dir: Option<PathBuf>,
}

/// The project at `dir` (or here), or a clear error saying there is none.
pub fn project_at(dir: Option<&Path>) -> anyhow::Result<Project> {
    let start = dir.map_or_else(|| PathBuf::from("."), Path::to_owned);
    Project::find(&start)?.with_context(|| {
        format!(
            "no bot.toml in {} or above: make a project with `wasmbot new NAME --lang LANG`",
            start.display()
        )
    })
}

/// Builds the project and checks the component, printing its path, size and imports.
pub fn build(args: &BuildArgs) -> anyhow::Result<()> {
    let project = project_at(args.dir.as_deref())?;
    build_and_check(&project, BuildOutput::Shown)?;
    Ok(())
}

/// Builds `project` and loads its component as `serve` would; prints what it is and returns
/// the loaded component.
pub fn build_and_check(
    project: &Project,
    output: BuildOutput,
) -> anyhow::Result<super::offline::LoadedPlugin> {
    eprintln!(
        "building {} ({}): {}",
        project.name(),
        project.manifest.bot.language.display_name(),
        project.manifest.build.command
    );
    let built = project.build(output).map_err(anyhow::Error::msg)?;
    let shown = built
        .component
        .strip_prefix(&project.dir)
        .unwrap_or(&built.component);
    let loaded = super::offline::load(&built.component)
        .with_context(|| format!("{} is not a bot wasmbot can run", shown.display()))?;
    let info = loaded.plugin.info();
    if built.ran {
        println!(
            "built {} in {:.1} s: {} bytes",
            shown.display(),
            built.took.as_secs_f64(),
            info.size_bytes
        );
    } else {
        println!(
            "{} is up to date (newer than every source): {} bytes",
            shown.display(),
            info.size_bytes
        );
    }
    println!("  world:   {}", info.world);
    println!("  imports: {}", info.imports.join(", "));
    Ok(loaded)
}

/// Rewrites the project's `sdk/` with this binary's layer and contract.
pub fn sdk(args: &SdkArgs) -> anyhow::Result<()> {
    let project = project_at(args.dir.as_deref())?;
    let language = project.manifest.bot.language;
    if language == crate::project::Language::Other {
        bail!("bot.toml's language has no wasmbot layer to write");
    }
    write_sdk(&project.dir, language)?;
    println!(
        "wrote wasmbot {}'s {} layer and contract to {}",
        env!("CARGO_PKG_VERSION"),
        language.display_name(),
        project.dir.join("sdk").display()
    );
    Ok(())
}
