//! `wasmbot completions SHELL` and `wasmbot man`: what packagers install beside the binary,
//! made from the command line's own definition, so they never drift from it.

use std::io::Write as _;

use clap::CommandFactory as _;

use super::Cli;

/// Prints the completion script for `shell`.
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<()> {
    let mut command = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(shell, &mut command, "wasmbot", &mut out);
    out.flush()?;
    Ok(())
}

/// Prints the man page (roff) of `wasmbot` and its commands.
pub fn man() -> anyhow::Result<()> {
    let command = Cli::command();
    let mut out = std::io::stdout().lock();
    let page = clap_mangen::Man::new(command.clone());
    page.render(&mut out)?;
    // One section per command, as `man wasmbot` readers expect them.
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        writeln!(out, ".SH \"WASMBOT {}\"", sub.get_name().to_uppercase())?;
        let mut sub_page = Vec::new();
        clap_mangen::Man::new(sub.clone()).render_synopsis_section(&mut sub_page)?;
        clap_mangen::Man::new(sub.clone()).render_description_section(&mut sub_page)?;
        clap_mangen::Man::new(sub.clone()).render_options_section(&mut sub_page)?;
        // The sub-pages' own section headings become paragraphs of this section.
        let text = String::from_utf8_lossy(&sub_page).replace(".SH ", ".SS ");
        out.write_all(text.as_bytes())?;
    }
    out.flush()?;
    Ok(())
}
