//! Sending an outbound https request with the TLS client configuration a `[[client_tls]]`
//! entry gives (a test CA): wasmtime-wasi-http's `default_send_request` with its webpki roots
//! replaced, and nothing else changed (the same `request-options` timeouts, HTTP/1.1).

use bytes::Bytes;
use core::future::{poll_fn, Future};
use core::pin::{pin, Pin};
use core::task::{ready, Context, Poll};
use http::{Request, Response};
use http_body::Body;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions};

/// The `request-options` timeouts, with wasmtime-wasi-http's default of 600 s for any not set.
pub struct Timeouts {
    pub connect: Duration,
    pub first_byte: Duration,
    pub between_bytes: Duration,
}

impl Timeouts {
    pub fn of(options: Option<&RequestOptions>) -> Timeouts {
        let pick = |field: fn(&RequestOptions) -> Option<Duration>| {
            options.and_then(field).unwrap_or(Duration::from_secs(600))
        };
        Timeouts {
            connect: pick(|o| o.connect_timeout),
            first_byte: pick(|o| o.first_byte_timeout),
            between_bytes: pick(|o| o.between_bytes_timeout),
        }
    }
}

/// What the send hook hands back: the response and the connection's I/O future.
pub type Sent = (Response<TimedBody>, Box<dyn Future<Output = Result<(), Error>> + Send>);

pub async fn send_with_tls(
    mut req: Request<impl Body<Data = Bytes, Error = Error> + Send + 'static>,
    options: Option<RequestOptions>,
    tls: Arc<rustls::ClientConfig>,
) -> Result<Sent, Error> {
    let uri = req.uri();
    let authority = uri.authority().ok_or(Error::HttpRequestUriInvalid)?;
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let address = format!("{}:{}", authority.host(), authority.port_u16().unwrap_or(443));
    let Timeouts {
        connect: connect_timeout,
        first_byte: first_byte_timeout,
        between_bytes: between_bytes_timeout,
    } = Timeouts::of(options.as_ref());

    let stream = match tokio::time::timeout(connect_timeout, TcpStream::connect(&address)).await {
        Ok(stream) => stream.map_err(Error::Connect)?,
        Err(_) => return Err(Error::ConnectionTimeout),
    };
    let server_name = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => rustls::pki_types::ServerName::from(ip),
        Err(_) => rustls::pki_types::ServerName::try_from(host)?,
    };
    let stream = match tokio::time::timeout(
        connect_timeout,
        tokio_rustls::TlsConnector::from(tls).connect(server_name, stream),
    )
    .await
    {
        Ok(stream) => stream.map_err(Error::Tls)?,
        Err(_) => return Err(Error::ConnectionTimeout),
    };
    let (mut sender, conn) = tokio::time::timeout(
        connect_timeout,
        hyper::client::conn::http1::Builder::new().handshake(TokioIo::new(stream)),
    )
    .await
    .map_err(|_| Error::ConnectionTimeout)??;
    // The request line carries only the path and query (no proxy here).
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    *req.uri_mut() = http::Uri::builder()
        .path_and_query(path)
        .build()
        .map_err(|_| Error::HttpRequestUriInvalid)?;

    let send = async move {
        let response = tokio::time::timeout(first_byte_timeout, sender.send_request(req))
            .await
            .map_err(|_| Error::ConnectionReadTimeout)??;
        Ok::<_, Error>(response.map(|incoming| TimedBody::new(incoming, between_bytes_timeout)))
    };
    let mut send = pin!(send);
    let mut conn = Some(conn);
    // Wait for the response while driving the connection's I/O.
    let response = poll_fn(|cx| match send.as_mut().poll(cx) {
        Poll::Ready(result) => Poll::Ready(result),
        Poll::Pending => {
            let Some(fut) = conn.as_mut() else {
                return Poll::Pending;
            };
            let result = ready!(Pin::new(fut).poll(cx));
            conn = None;
            match result {
                Ok(()) => send.as_mut().poll(cx),
                Err(e) => Poll::Ready(Err(Error::from(e))),
            }
        }
    })
    .await?;
    let io = async move {
        match conn.take() {
            None => Ok(()),
            Some(conn) => conn.await.map_err(|e| {
                if e.is_timeout() {
                    Error::HttpResponseTimeout
                } else {
                    e.into()
                }
            }),
        }
    };
    Ok((response, Box::new(io)))
}

/// The response body, failing when no frame arrives within the between-bytes timeout.
pub struct TimedBody {
    incoming: hyper::body::Incoming,
    timeout: tokio::time::Interval,
}

impl TimedBody {
    pub fn new(incoming: hyper::body::Incoming, between_bytes: Duration) -> Self {
        let mut timeout = tokio::time::interval(between_bytes.max(Duration::new(0, 1)));
        timeout.reset();
        TimedBody { incoming, timeout }
    }
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Error>>> {
        match Pin::new(&mut self.as_mut().incoming).poll_frame(cx) {
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(if e.is_timeout() {
                Error::HttpResponseTimeout
            } else {
                Error::from(e)
            }))),
            Poll::Ready(Some(Ok(frame))) => {
                self.timeout.reset();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                ready!(self.timeout.poll_tick(cx));
                Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.incoming.size_hint()
    }
}
