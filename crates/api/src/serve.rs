//! Serving the API over TLS.
//!
//! [`serve_tls`] is `axum::serve` with a TLS handshake in front: it accepts TCP connections,
//! runs the rustls handshake (the configuration comes from `medledger_node::tls::server_config`)
//! on each connection's own task, then hands the stream to hyper's HTTP/1.1 server with
//! keep-alive.
//!
//! - A handshake that fails is logged at debug level and ends that connection only; one that
//!   takes longer than [`HANDSHAKE_TIMEOUT`] is dropped, so a client that stalls cannot hold a
//!   task forever. hyper's 30 s limit for reading a request's headers applies too.
//! - When the client presented a certificate, the server configuration has already checked
//!   that it chains to the consortium CA; if its key is Ed25519 (a node certificate), every
//!   request on the connection carries [`PeerNode`] with that key in its extensions. Handlers
//!   decide what the key may do by looking it up in the ledger, never by the certificate's
//!   names. Every request also carries `axum::extract::ConnectInfo<SocketAddr>`.
//! - When `shutdown` resolves the listener closes, handshakes in progress are dropped, open
//!   connections are asked to finish their current request and close, and [`serve_tls`]
//!   returns once they have, or after [`SHUTDOWN_GRACE`], when the rest are cut off.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use medledger_types::PublicKey;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// How long a client has to complete the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long open connections have to finish once shutdown begins.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How long to pause accepting after an error such as running out of file descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Inserted into every request's extensions on a connection whose client presented a
/// certificate that chains to the consortium CA and holds an Ed25519 key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerNode(pub PublicKey);

/// Serves `app` over TLS on `listener` until `shutdown` resolves, then stops accepting and
/// lets open connections finish (at most [`SHUTDOWN_GRACE`]).
pub async fn serve_tls(
    listener: TcpListener,
    app: Router,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    let mut http = Builder::new(TokioExecutor::new());
    // hyper enforces its header read timeout only with a timer.
    http.http1().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    // Tells connections still in their handshake to give up: they have no request to finish.
    let (closing, closing_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);

    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        while let Some(finished) = connections.try_join_next() {
            if let Err(e) = finished {
                tracing::warn!("a connection task failed: {e}");
            }
        }
        match accepted {
            Ok((tcp, remote)) => {
                connections.spawn(connection(
                    tcp,
                    remote,
                    acceptor.clone(),
                    app.clone(),
                    http.clone(),
                    graceful.watcher(),
                    closing_rx.clone(),
                ));
            }
            Err(e) if is_connection_error(&e) => {}
            Err(e) => {
                tracing::error!("accept error: {e}");
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                }
            }
        }
    }

    drop(listener);
    closing.send_replace(true);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::warn!(
            open = connections.len(),
            "connections still open {SHUTDOWN_GRACE:?} after shutdown began; closing them"
        );
    }
    connections.shutdown().await;
    Ok(())
}

/// One connection: the handshake, then HTTP until the client or the shutdown closes it.
async fn connection(
    tcp: TcpStream,
    remote: SocketAddr,
    acceptor: TlsAcceptor,
    app: Router,
    http: Builder<TokioExecutor>,
    watcher: Watcher,
    mut closing: watch::Receiver<bool>,
) {
    // Responses are written whole; Nagle's algorithm would only delay their last segment.
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(%remote, "TCP_NODELAY: {e}");
    }
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp));
    let stream = tokio::select! {
        result = handshake => match result {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                tracing::debug!(%remote, "TLS handshake failed: {e}");
                return;
            }
            Err(_) => {
                tracing::debug!(%remote, "TLS handshake timed out");
                return;
            }
        },
        _ = closing.wait_for(|closing| *closing) => {
            tracing::debug!(%remote, "TLS handshake abandoned: the server is shutting down");
            return;
        }
    };
    let peer = peer_node(stream.get_ref().1);
    let service = app.map_request(move |mut request: Request<Incoming>| {
        let extensions = request.extensions_mut();
        extensions.insert(ConnectInfo(remote));
        if let Some(peer) = peer {
            extensions.insert(peer);
        }
        request
    });
    let conn = http.serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service));
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(%remote, "connection closed: {e}");
    }
}

/// The node behind a connection: the Ed25519 key of the client certificate, which rustls
/// only exposes once the server configuration's verifier has accepted it.
fn peer_node(conn: &rustls::ServerConnection) -> Option<PeerNode> {
    let leaf = conn.peer_certificates()?.first()?;
    medledger_node::tls::ed25519_key_of(leaf).map(PeerNode)
}

/// Errors that concern one connection, not the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}
