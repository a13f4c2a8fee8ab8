//! A response body cut off at the tenant's size cap: past it, the bot reads an error instead
//! of more bytes.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use wasmtime_wasi_http::Error;

/// `inner`, failing with [`Error::HttpResponseBodySize`] once more than `limit` bytes came.
pub struct CappedBody {
    inner: reqwest::Body,
    remaining: usize,
    limit: usize,
}

impl CappedBody {
    /// Caps `inner` at `limit` bytes.
    pub fn new(inner: reqwest::Body, limit: usize) -> Self {
        Self {
            inner,
            remaining: limit,
            limit,
        }
    }
}

impl Body for CappedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            Poll::Ready(Some(Err(error))) => {
                return Poll::Ready(Some(Err(super::client::classify(&error))));
            }
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        if let Some(data) = frame.data_ref() {
            if data.len() > self.remaining {
                self.remaining = 0;
                return Poll::Ready(Some(Err(Error::HttpResponseBodySize(Some(
                    self.limit as u64,
                )))));
            }
            self.remaining -= data.len();
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
