//! `wasmbot bench` itself: a small run of both variants delivers everything it acknowledged
//! and reports sane figures; the same load against a `wasmbot serve` outside the bench.

use std::process::Command;
use wasmbot::bench::{Backend, BenchOptions, LoadShape, PostgresBench, Variant, run_once};
use wasmbot::storage::Durability;

use wasmbot_tests::serve_process::{ServeProcess, TOKEN, write_config};
use wasmbot_tests::{plugins, wasmbot_bin};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_bench_run_of_each_variant_delivers_what_it_acknowledged() {
    let options = BenchOptions {
        plugin: plugins::ECHO.into(),
        tenants: 2,
        load: LoadShape {
            events: 400,
            sessions: 40,
            concurrency: 8,
            rate: 0.0,
        },
        variants: vec![Variant::Plain, Variant::Native, Variant::Wasm],
        rounds: 1,
        durability: Durability::None,
        noisy_plugin: None,
        postgres: None,
        targets: None,
    };
    for variant in [Variant::Plain, Variant::Native, Variant::Wasm] {
        let figures = run_once(&options, variant, Backend::Sqlite, None)
            .await
            .unwrap();
        assert_eq!(figures.variant, variant);
        assert_eq!(figures.refused, 0);
        assert!(figures.delivered_per_sec > 0.0, "{figures:?}");
        assert!(figures.ack_ms[0] > 0.0 && figures.ack_ms[0] <= figures.ack_ms[1]);
        assert!(figures.e2e_ms[0] > 0.0 && figures.e2e_ms[0] <= figures.e2e_ms[1]);
        assert!(figures.cpu_us_per_event > 0.0);
        // The host's share: the load generator's and the sink's threads left out.
        assert!(
            figures.host_cpu_us_per_event < figures.cpu_us_per_event,
            "{figures:?}"
        );
        if variant != Variant::Plain {
            assert!(figures.host_cpu_us_per_event > 0.0, "{figures:?}");
        }
        assert!(figures.peak_rss_mib > 1.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bench_run_with_the_noisy_neighbour_delivers_the_healthy_tenants_events() {
    let options = BenchOptions {
        plugin: plugins::ECHO.into(),
        tenants: 1,
        load: LoadShape {
            events: 300,
            sessions: 30,
            concurrency: 4,
            rate: 300.0,
        },
        variants: vec![Variant::Wasm],
        rounds: 1,
        durability: Durability::None,
        noisy_plugin: Some(plugins::MISBEHAVING.into()),
        postgres: None,
        targets: None,
    };
    let figures = run_once(
        &options,
        Variant::Wasm,
        Backend::Sqlite,
        Some(plugins::MISBEHAVING.as_ref()),
    )
    .await
    .unwrap();
    assert_eq!(figures.refused, 0);
    let noisy = figures.noisy.expect("the noisy tenant ran");
    assert!(noisy.acked > 10, "{noisy:?}");
    assert!(figures.e2e_ms[0] > 0.0 && figures.e2e_ms[0] <= figures.e2e_ms[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bench_run_on_postgres_with_two_replicas_delivers_what_it_acknowledged() {
    let url = wasmbot_tests::postgres::PgServer::shared().new_database();
    let options = BenchOptions {
        plugin: plugins::ECHO.into(),
        tenants: 1,
        load: LoadShape {
            events: 300,
            sessions: 30,
            concurrency: 8,
            rate: 0.0,
        },
        variants: vec![Variant::Wasm],
        rounds: 1,
        durability: Durability::None,
        noisy_plugin: None,
        postgres: Some(PostgresBench {
            url: wasmbot::config::Secret::new(url),
            replicas: vec![2],
        }),
        targets: None,
    };
    // Twice: the second run starts on emptied tables.
    for _ in 0..2 {
        let figures = run_once(&options, Variant::Wasm, Backend::Postgres(2), None)
            .await
            .unwrap();
        assert_eq!(figures.backend, Backend::Postgres(2));
        assert_eq!(figures.refused, 0);
        assert!(figures.delivered_per_sec > 0.0, "{figures:?}");
        assert!(
            figures.db_cpu_us_per_event.is_some_and(|us| us > 0.0),
            "{figures:?}"
        );
    }
}

/// `wasmbot bench --bot none --target URL --target URL`: the load goes to a real `wasmbot
/// serve` (here given twice) whose mluvii is the bench's sink; everything acknowledged is
/// delivered and reported, the targets are compared, and the report does not show the webhook
/// token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bench_run_against_an_external_server_reports_its_deliveries() {
    let sink = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let sink_address = sink.local_addr().unwrap();
    drop(sink);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!("http://{sink_address}"),
        "",
        &[("acme", plugins::ECHO, 7, "")],
    );
    let server = ServeProcess::start(&config);
    let out = Command::new(wasmbot_bin())
        .args(["bench", "--bot", "none", "--rounds", "1", "--events", "300"])
        .args([
            "--sessions",
            "30",
            "--concurrency",
            "8",
            "--plugin",
            plugins::ECHO,
        ])
        .arg("--target")
        .arg(server.webhook("acme"))
        .arg("--target")
        .arg(server.webhook("acme"))
        .arg("--sink-listen")
        .arg(sink_address.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let row = stdout
        .lines()
        .find(|l| l.contains("/webhook/acme (round 1)"))
        .unwrap_or_else(|| panic!("no row for the target: {stdout}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    assert!(cells[2].parse::<f64>().unwrap() > 0.0, "{row}");
    assert!(!stdout.contains(TOKEN), "the token is shown: {stdout}");
    assert!(!stdout.contains("only "), "deliveries missing: {stdout}");
    assert!(
        stdout.contains("delivered per second (median): target"),
        "{stdout}"
    );
    let comparison = stdout
        .lines()
        .find(|l| l.contains("/webhook/acme / target ") && l.contains("delivered per second: "))
        .unwrap_or_else(|| panic!("the targets are not compared: {stdout}"));
    let ratio: f64 = comparison.rsplit(": ").next().unwrap().parse().unwrap();
    assert!(ratio > 0.0, "{comparison}");
}
