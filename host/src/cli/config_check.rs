//! `wasmbot config check FILE`: everything `serve` and a reload check before they use a
//! configuration, without starting a server: the keys, the limits against the engine, the
//! secrets (present in the environment or their files), the storage (reachable), and every
//! tenant's plugin (loads against the contract). Each problem is printed with the key it is
//! about; the exit code is 1 when there is any.

use std::path::Path;

use anyhow::Context as _;

use crate::config::ConfigFile;
use crate::delivery::mluvii_client::http_client;
use crate::plugins::profile::{ProfileParts, build_profile};
use crate::plugins::resolve_admin_token;
use crate::runtime::Runtime;
use crate::server::setup::engine_settings;

/// What one check found.
struct Finding {
    what: String,
    outcome: anyhow::Result<String>,
}

/// Checks the configuration at `path`; prints one line per check; errs when any failed.
pub fn config_check(path: &Path) -> anyhow::Result<()> {
    let io = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let config = ConfigFile::load(path)?;
    let findings = io.block_on(check_all(&config));
    let mut problems = 0;
    for finding in &findings {
        match &finding.outcome {
            Ok(detail) => println!("ok     {}: {detail}", finding.what),
            Err(error) => {
                problems += 1;
                println!("error  {}: {error:#}", finding.what);
            }
        }
    }
    match problems {
        0 => {
            println!("{}: ok", path.display());
            Ok(())
        }
        n => anyhow::bail!(
            "{}: {n} problem{}",
            path.display(),
            if n == 1 { "" } else { "s" }
        ),
    }
}

async fn check_all(config: &ConfigFile) -> Vec<Finding> {
    let mut findings = vec![Finding {
        what: "server".into(),
        outcome: check_server(config),
    }];
    findings.push(Finding {
        what: "storage".into(),
        outcome: async {
            let storage = config.storage()?;
            crate::storage::probe(&storage).await
        }
        .await,
    });
    let runtime = engine_settings(&config.server).and_then(|engine| {
        let runtime = Runtime::new(&engine)?;
        let parts = ProfileParts {
            state: crate::storage::memory()?,
            http: http_client()?,
            engine,
        };
        Ok((runtime, parts))
    });
    let (runtime, parts) = match runtime {
        Ok(built) => built,
        Err(error) => {
            findings.push(Finding {
                what: "engine".into(),
                outcome: Err(error),
            });
            return findings;
        }
    };
    for tenant in &config.tenants {
        findings.push(Finding {
            what: format!("tenant {}", tenant.id),
            outcome: build_profile(tenant, &parts, None)
                .map(|_| "limits, secrets, settings and outbound HTTP".to_owned()),
        });
        let plugin = &tenant.plugin;
        findings.push(Finding {
            what: format!("tenant {} plugin", tenant.id),
            outcome: std::fs::read(plugin)
                .with_context(|| format!("plugin: reading {}", plugin.display()))
                .and_then(|bytes| {
                    let loaded = runtime
                        .load(&bytes)
                        .map_err(|e| anyhow::anyhow!("plugin {}: {e}", plugin.display()))?;
                    let info = loaded.info();
                    Ok(format!(
                        "{} ({}, {} KiB)",
                        plugin.display(),
                        info.world,
                        info.size_bytes.div_ceil(1024)
                    ))
                }),
        });
    }
    findings
}

fn check_server(config: &ConfigFile) -> anyhow::Result<String> {
    let server = &config.server;
    if server.admin_listen == Some(server.listen) && server.listen.port() != 0 {
        anyhow::bail!(
            "server.admin_listen = {} is the same address as server.listen",
            server.listen
        );
    }
    let admin = resolve_admin_token(server)?;
    Ok(format!(
        "webhooks on {}, operations on {}, admin API {}",
        server.listen,
        server
            .admin_listen
            .map_or_else(|| "the same listener".to_owned(), |a| a.to_string()),
        if admin.is_some() {
            "on"
        } else {
            "off (no admin token)"
        }
    ))
}
