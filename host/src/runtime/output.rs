//! A bot's stdout or stderr: kept in memory up to a capacity, and past it dropped and counted.
//! Writes never fail, so a bot that prints a flood is not made to panic by a full pipe; what
//! reaches the log is bounded by the tenant's log limits.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// Most bytes a single write may hand over at once (what `check-write` permits).
const WRITE_BUDGET: usize = 64 * 1024;

/// The output captured since the last [`BoundedOutput::take`].
#[derive(Debug, Default)]
struct Captured {
    bytes: Vec<u8>,
    dropped: usize,
}

/// A bounded in-memory stdout/stderr; clones share the buffer.
#[derive(Debug, Clone)]
pub struct BoundedOutput {
    captured: Arc<Mutex<Captured>>,
    capacity: usize,
}

impl BoundedOutput {
    /// A stream keeping at most `capacity` bytes between two takes.
    pub fn new(capacity: usize) -> Self {
        Self {
            captured: Arc::default(),
            capacity,
        }
    }

    /// What was written since the last take, and how many bytes past the capacity were
    /// dropped; the buffer starts empty again.
    pub fn take(&self) -> (Vec<u8>, usize) {
        let mut captured = self.captured.lock().unwrap_or_else(|p| p.into_inner());
        let taken = std::mem::take(&mut *captured);
        (taken.bytes, taken.dropped)
    }

    fn write_bytes(&self, bytes: &[u8]) {
        let mut captured = self.captured.lock().unwrap_or_else(|p| p.into_inner());
        let room = self.capacity.saturating_sub(captured.bytes.len());
        let kept = bytes.len().min(room);
        captured.bytes.extend_from_slice(&bytes[..kept]);
        captured.dropped += bytes.len() - kept;
    }
}

#[async_trait::async_trait]
impl OutputStream for BoundedOutput {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.write_bytes(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(WRITE_BUDGET)
    }
}

#[async_trait::async_trait]
impl Pollable for BoundedOutput {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for BoundedOutput {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.write_bytes(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

impl IsTerminal for BoundedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for BoundedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_past_the_capacity_are_dropped_and_counted_never_refused() {
        let mut out = BoundedOutput::new(10);
        for _ in 0..3 {
            out.write(Bytes::from_static(b"abcdef")).unwrap();
        }
        assert_eq!(out.take(), (b"abcdefabcd".to_vec(), 8));
        out.write(Bytes::from_static(b"xy")).unwrap();
        assert_eq!(out.take(), (b"xy".to_vec(), 0));
    }
}
