//! The instant a guest hands its response over, and how the head leaves after it.
//!
//! Spin runs the guest and the connection serving its response as separate tasks on a
//! multi-threaded runtime (`crates/trigger-http/src/wasi.rs`): once the guest sets its response,
//! the connection can write the head before the guest has written a byte of the body. The body
//! then leaves as a second small segment, and with Nagle on (Spin's server does not set
//! `TCP_NODELAY`) it waits for the client's delayed ACK: 40 ms on every other request of a
//! kept-alive connection, as `spin up` 4.0.2 showed with components that set the head first.
//!
//! Here tokio runs the woken connection task only after the guest's task yields, so the body was
//! always in time and the stall never showed. So the test host looks at the body at the instant
//! of the hand-over (inside the guest's `response-outparam.set`) and, when no data was ready
//! then, sends the head alone first, as Spin's connection does when it wins that race. A
//! response whose body is written before `set` leaves whole, on both hosts.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

type Error = wasmtime_wasi_http::Error;

/// A response body as the guest left it at the hand-over.
pub struct HandedOverBody {
    first: First,
    inner: HyperOutgoingBody,
}

enum First {
    /// What the body had ready at the hand-over (`None`: it had already ended).
    Ready(Option<Result<Frame<Bytes>, Error>>),
    /// Nothing was ready: the server's first look finds nothing, so the head goes out alone.
    HeadAlone,
    /// Taken; the inner body from here on.
    Taken,
}

/// Takes the guest's response at the instant it is set and notes what its body had ready.
pub fn hand_over(response: hyper::Response<HyperOutgoingBody>) -> hyper::Response<HandedOverBody> {
    response.map(|mut inner| {
        let mut cx = Context::from_waker(Waker::noop());
        let first = match Pin::new(&mut inner).poll_frame(&mut cx) {
            Poll::Ready(frame) => First::Ready(frame),
            Poll::Pending => First::HeadAlone,
        };
        HandedOverBody { first, inner }
    })
}

impl HandedOverBody {
    /// Whether the guest set its response before writing any of its body.
    pub fn head_went_alone(&self) -> bool {
        matches!(self.first, First::HeadAlone)
    }
}

impl Body for HandedOverBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match std::mem::replace(&mut self.first, First::Taken) {
            First::Ready(frame) => Poll::Ready(frame),
            First::HeadAlone => {
                // Pending makes hyper flush what it has, the head; the wake brings it back for
                // the body.
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            First::Taken => Pin::new(&mut self.inner).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.first {
            First::Ready(None) => true,
            First::Ready(Some(_)) | First::HeadAlone => false,
            First::Taken => self.inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.first {
            First::Ready(None) => SizeHint::with_exact(0),
            // A frame taken out of the inner body: the inner hint no longer counts it.
            First::Ready(Some(_)) => SizeHint::default(),
            First::HeadAlone | First::Taken => self.inner.size_hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full, StreamBody};

    fn boxed<B>(body: B) -> HyperOutgoingBody
    where
        B: Body<Data = Bytes, Error = Error> + Send + 'static,
    {
        body.boxed_unsync()
    }

    #[tokio::test]
    async fn a_body_written_before_the_hand_over_leaves_with_the_head() {
        let body = boxed(Full::new(Bytes::from_static(b"{}")).map_err(|never| match never {}));
        let response = hand_over(hyper::Response::new(body));
        assert!(!response.body().head_went_alone());
        let bytes = response.into_body().collect().await.ok().map(|c| c.to_bytes());
        assert_eq!(bytes.as_deref(), Some(&b"{}"[..]));
    }

    #[tokio::test]
    async fn a_body_written_after_the_hand_over_lets_the_head_go_alone_and_still_arrives() {
        let (tx, rx) = futures::channel::mpsc::unbounded::<Result<Frame<Bytes>, Error>>();
        let body = boxed(StreamBody::new(rx));
        let response = hand_over(hyper::Response::new(body));
        assert!(response.body().head_went_alone());
        tx.unbounded_send(Ok(Frame::data(Bytes::from_static(b"late")))).ok();
        drop(tx);
        let bytes = response.into_body().collect().await.ok().map(|c| c.to_bytes());
        assert_eq!(bytes.as_deref(), Some(&b"late"[..]));
    }
}
