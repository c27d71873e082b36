//! The TCP listeners' accept loop: optional TLS (rustls), HTTP/1 and HTTP/2 on one port, and the
//! limits that keep a slow or stuck client from holding resources forever: a connection cap,
//! a TLS-handshake and header-read deadline, a per-read body timeout, and an idle timeout that
//! closes a connection with no request in progress and no bytes moving.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Request;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// How long each connection may take over what.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Connections served at once per listener; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// From accept to the end of the TLS handshake, and to the end of each request's headers.
    pub header_timeout: Duration,
    /// Longest wait for the next piece of a request body.
    pub body_timeout: Duration,
    /// A connection with no request in progress and no bytes read or written for this long
    /// is closed.
    pub idle_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(120),
        }
    }
}

/// Loads a PEM certificate chain and private key into a rustls acceptor that offers HTTP/2
/// (gRPC needs it) and HTTP/1.1.
pub fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> anyhow::Result<TlsAcceptor> {
    use anyhow::Context as _;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading the TLS certificate {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing the TLS certificate {}", cert.display()))?;
    anyhow::ensure!(!chain.is_empty(), "{} holds no certificate", cert.display());
    let key = PrivateKeyDer::from_pem_file(key).with_context(|| format!("reading the TLS key {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the TLS certificate and key do not match")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves `router` on `listener` until `cancel`, then lets open requests finish (up to 10 s).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<TlsAcceptor>,
    limits: ConnectionLimits,
    cancel: CancellationToken,
) {
    let router = router.layer(tower_http::timeout::RequestBodyTimeoutLayer::new(limits.body_timeout));
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let connections = TaskTracker::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(20));
    let builder = Arc::new(builder);
    loop {
        let permit = tokio::select! {
            () = cancel.cancelled() => break,
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
        };
        let (stream, peer) = tokio::select! {
            () = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let (router, builder, tls, limits, cancel) =
            (router.clone(), builder.clone(), tls.clone(), limits.clone(), cancel.clone());
        connections.spawn(async move {
            let _permit = permit;
            let activity = Arc::new(Activity::new());
            let io = Tracked { inner: stream, activity: activity.clone() };
            match tls {
                None => connection(io, router, &builder, &limits, activity, cancel).await,
                Some(tls) => match tokio::time::timeout(limits.header_timeout, tls.accept(io)).await {
                    Ok(Ok(io)) => connection(io, router, &builder, &limits, activity, cancel).await,
                    Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                },
            }
        });
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(Duration::from_secs(10), connections.wait()).await.is_err() {
        tracing::warn!("connections still open 10 s after shutdown began; closing them");
    }
}

async fn connection<I>(
    io: I,
    router: Router,
    builder: &auto::Builder<TokioExecutor>,
    limits: &ConnectionLimits,
    activity: Arc<Activity>,
    cancel: CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = {
        let activity = activity.clone();
        tower::service_fn(move |request: Request<hyper::body::Incoming>| {
            let busy = Busy::enter(activity.clone());
            let router = router.clone();
            async move {
                let response = router.oneshot(request.map(axum::body::Body::new)).await;
                drop(busy);
                response
            }
        })
    };
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(service));
    tokio::pin!(conn);
    let mut closing = false;
    let check = (limits.idle_timeout / 4).max(Duration::from_millis(100));
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "connection ended with an error");
                }
                return;
            }
            () = cancel.cancelled(), if !closing => {
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
            () = tokio::time::sleep(check) => {
                if activity.idle_for() >= limits.idle_timeout && activity.busy.load(Ordering::Acquire) == 0 {
                    tracing::debug!("closing an idle connection");
                    return;
                }
            }
        }
    }
}

/// When a connection last moved bytes, and how many of its requests are being handled.
struct Activity {
    origin: Instant,
    last_ms: AtomicU64,
    busy: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Self { origin: Instant::now(), last_ms: AtomicU64::new(0), busy: AtomicUsize::new(0) }
    }

    fn touch(&self) {
        self.last_ms.store(self.origin.elapsed().as_millis() as u64, Ordering::Release);
    }

    fn idle_for(&self) -> Duration {
        let now = self.origin.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Acquire)))
    }
}

/// A request being handled: from the call until its response head is ready (a body that
/// streams afterwards moves bytes, which keeps the connection active).
struct Busy(Arc<Activity>);

impl Busy {
    fn enter(activity: Arc<Activity>) -> Self {
        activity.busy.fetch_add(1, Ordering::AcqRel);
        Self(activity)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A stream that records when bytes last moved.
struct Tracked<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(poll, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        poll
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::sse::{Event, KeepAlive, Sse};
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn start(limits: ConnectionLimits) -> (std::net::SocketAddr, CancellationToken) {
        let router = Router::new().route("/health", get(|| async { "ok" })).route(
            "/stream",
            get(|| async {
                let events = futures::stream::pending::<Result<Event, std::convert::Infallible>>();
                Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_millis(200)))
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cancel = CancellationToken::new();
        tokio::spawn(serve(listener, router, None, limits, cancel.clone()));
        (addr, cancel)
    }

    fn impatient() -> ConnectionLimits {
        ConnectionLimits {
            max_connections: 8,
            header_timeout: Duration::from_millis(500),
            body_timeout: Duration::from_millis(500),
            idle_timeout: Duration::from_millis(600),
        }
    }

    /// Reads until EOF or `within`; returns the bytes and whether the peer closed.
    async fn read_for(stream: &mut tokio::net::TcpStream, within: Duration) -> (Vec<u8>, bool) {
        let mut data = Vec::new();
        let deadline = tokio::time::Instant::now() + within;
        let mut chunk = [0u8; 4096];
        loop {
            match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
                Err(_) => return (data, false),
                Ok(Ok(0)) | Ok(Err(_)) => return (data, true),
                Ok(Ok(n)) => data.extend_from_slice(&chunk[..n]),
            }
        }
    }

    #[tokio::test]
    async fn idle_and_stuck_connections_are_closed() {
        let (addr, cancel) = start(impatient()).await;
        let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
        idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let (data, closed) = read_for(&mut idle, Duration::from_secs(3)).await;
        assert!(data.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&data));
        assert!(closed, "an idle keep-alive connection stays open");

        let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET /health HTTP/1.1\r\nX-Slow: ").await.unwrap();
        let (_, closed) = read_for(&mut slow, Duration::from_secs(3)).await;
        assert!(closed, "a connection whose headers never end stays open");
        cancel.cancel();
    }

    #[tokio::test]
    async fn a_streaming_response_outlives_the_idle_timeout() {
        let (addr, cancel) = start(impatient()).await;
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let (data, closed) = read_for(&mut stream, Duration::from_secs(2)).await;
        let text = String::from_utf8_lossy(&data);
        assert!(!closed, "the stream was closed: {text}");
        assert!(text.starts_with("HTTP/1.1 200") && text.matches(":\n\n").count() >= 5, "{text}");
        cancel.cancel();
    }
}
