//! The PostgreSQL side of `wasmbot bench`: every run starts on empty tables.

use anyhow::Context as _;
use tokio_postgres::NoTls;

/// Empties the event path's tables of the database at `url` (if it has them).
pub async fn reset(url: &str) -> anyhow::Result<()> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .context("connecting to the bench database")?;
    let connection = tokio::spawn(connection);
    client
        .batch_execute(
            "DO $$ BEGIN
                 IF to_regclass('journal') IS NOT NULL THEN
                     TRUNCATE journal, outbox, session_leases, bot_state, state_usage;
                 END IF;
             END $$",
        )
        .await
        .context("emptying the bench database")?;
    drop(client);
    let _ = connection.await;
    Ok(())
}
