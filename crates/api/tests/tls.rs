//! `serve_tls`: HTTPS with optional node client certificates, keep-alive and graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::routing::get;
use medledger_api::serve::{HANDSHAKE_TIMEOUT, PeerNode, serve_tls};
use medledger_crypto::Keypair;
use medledger_node::tls::{self, Authority, PinCheck, TlsIdentity};
use medledger_types::{MemberId, OrgId, PublicKey};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

/// A bound for every network step: a hang fails the test instead of blocking it.
const DEADLINE: Duration = Duration::from_secs(10);

async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, f).await.expect("took too long")
}

fn identity(ca: &Authority, seed: u8) -> TlsIdentity {
    let service = Keypair::from_seed([seed; 32]);
    let hosts = tls::default_hosts();
    let server = ca.issue_server(&hosts).unwrap();
    let org = OrgId::new("hospital-a").unwrap();
    let member = MemberId::new(format!("node{seed}")).unwrap();
    let node = ca.issue_node(&service.public(), &org, &member, &hosts).unwrap();
    TlsIdentity::from_pem(
        ca.cert_pem().as_bytes(),
        server.chain_pem.as_bytes(),
        server.key_pem.as_bytes(),
        node.as_bytes(),
        &service,
    )
    .unwrap()
}

fn pin_to(key: PublicKey) -> PinCheck {
    Arc::new(move |k: &PublicKey| *k == key)
}

/// A running `serve_tls`, its address, and what stops it.
struct Server {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
    /// `/slow` reports here when a request arrives ...
    slow_started: mpsc::Receiver<()>,
    /// ... and answers when this is released.
    slow_release: oneshot::Sender<()>,
}

async fn start(id: &TlsIdentity) -> Server {
    let (started_tx, slow_started) = mpsc::channel(1);
    let (slow_release, release_rx) = oneshot::channel::<()>();
    let release = Arc::new(Mutex::new(Some(release_rx)));
    let app = Router::new()
        .route(
            "/peer",
            get(|request: Request| async move {
                match request.extensions().get::<PeerNode>() {
                    Some(PeerNode(key)) => key.to_hex(),
                    None => "no peer".to_string(),
                }
            }),
        )
        .route(
            "/addr",
            get(|ConnectInfo(addr): ConnectInfo<SocketAddr>| async move { addr.ip().to_string() }),
        )
        .route(
            "/slow",
            get(move || async move {
                started_tx.send(()).await.unwrap();
                if let Some(release) = release.lock().await.take() {
                    let _ = release.await;
                }
                "done"
            }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let config = tls::server_config(id).unwrap();
    let task = tokio::spawn(serve_tls(listener, app, config, async {
        let _ = stopped.await;
    }));
    Server {
        addr,
        stop,
        task,
        slow_started,
        slow_release,
    }
}

fn https(config: rustls::ClientConfig) -> reqwest::Client {
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .build()
        .unwrap()
}

async fn get_text(client: &reqwest::Client, url: String) -> (u16, String) {
    let response = within(client.get(url).send()).await.unwrap();
    let status = response.status().as_u16();
    (status, within(response.text()).await.unwrap())
}

#[tokio::test]
async fn a_node_client_is_seen_as_its_peer_key_and_other_clients_as_none() {
    let ca = Authority::generate("medledger test CA").unwrap();
    let (server_id, client_id) = (identity(&ca, 1), identity(&ca, 2));
    let server = start(&server_id).await;
    let base = format!("https://127.0.0.1:{}", server.addr.port());

    // A plain HTTP request to the TLS port gets no answer, and the server carries on. (The
    // plain client also shows that reqwest builds without a process-wide crypto provider.)
    let plain = reqwest::Client::new();
    let refused = within(plain.get(format!("http://{}/peer", server.addr)).send()).await;
    assert!(refused.is_err(), "{refused:?}");

    let node = https(tls::client_config(&client_id, pin_to(server_id.node_key())).unwrap());
    assert_eq!(
        get_text(&node, format!("{base}/peer")).await,
        (200, client_id.node_key().to_hex())
    );

    // A caller can see which node answered: one client can serve every organisation.
    let with_info = reqwest::Client::builder()
        .use_preconfigured_tls(tls::client_config(&client_id, pin_to(server_id.node_key())).unwrap())
        .tls_info(true)
        .build()
        .unwrap();
    let response = within(with_info.get(format!("{base}/peer")).send()).await.unwrap();
    let info = response.extensions().get::<reqwest::tls::TlsInfo>().unwrap();
    let leaf = info.peer_certificate().unwrap();
    assert_eq!(tls::ed25519_key_of(leaf), Some(server_id.node_key()));

    let browser_like = https(tls::ca_client_config(ca.cert_pem().as_bytes()).unwrap());
    assert_eq!(
        get_text(&browser_like, format!("{base}/peer")).await,
        (200, "no peer".to_string())
    );
    assert_eq!(
        get_text(&browser_like, format!("{base}/addr")).await,
        (200, "127.0.0.1".to_string())
    );

    // A pin that refuses the server's key fails before any request is sent.
    let wrong_pin = https(tls::client_config(&client_id, pin_to(client_id.node_key())).unwrap());
    assert!(within(wrong_pin.get(format!("{base}/peer")).send()).await.is_err());

    server.stop.send(()).unwrap();
    within(server.task).await.unwrap().unwrap();
}

/// Sends `GET path` on an open connection and reads one response: (status line, body).
async fn request<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    stream: &mut BufReader<S>,
    path: &str,
) -> (String, String) {
    let head = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    stream.get_mut().write_all(head.as_bytes()).await.unwrap();
    stream.get_mut().flush().await.unwrap();
    let mut status = String::new();
    stream.read_line(&mut status).await.unwrap();
    let mut length = 0;
    loop {
        let mut line = String::new();
        stream.read_line(&mut line).await.unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.unwrap();
    (status.trim_end().to_string(), String::from_utf8(body).unwrap())
}

#[tokio::test]
async fn requests_share_one_kept_alive_connection() {
    let ca = Authority::generate("medledger test CA").unwrap();
    let (server_id, client_id) = (identity(&ca, 1), identity(&ca, 2));
    let server = start(&server_id).await;

    let config = tls::client_config(&client_id, pin_to(server_id.node_key())).unwrap();
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let tls = within(TlsConnector::from(Arc::new(config)).connect(name, tcp))
        .await
        .unwrap();
    let mut stream = BufReader::new(tls);
    for _ in 0..3 {
        let (status, body) = within(request(&mut stream, "/peer")).await;
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert_eq!(body, client_id.node_key().to_hex());
    }

    server.stop.send(()).unwrap();
    within(server.task).await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_lets_an_open_request_finish_then_returns() {
    let ca = Authority::generate("medledger test CA").unwrap();
    let server_id = identity(&ca, 1);
    let mut server = start(&server_id).await;
    let client = https(tls::ca_client_config(ca.cert_pem().as_bytes()).unwrap());
    let url = format!("https://127.0.0.1:{}/slow", server.addr.port());
    let pending = tokio::spawn(async move {
        let response = client.get(url).send().await.unwrap();
        let connection = response.headers().get("connection").cloned();
        (response.status().as_u16(), connection, response.text().await.unwrap())
    });

    within(server.slow_started.recv()).await.unwrap();
    server.stop.send(()).unwrap();
    // Shutdown has begun once the listener is closed.
    within(async {
        while TcpStream::connect(server.addr).await.is_ok() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    // The request in flight holds the server open ...
    assert!(!server.task.is_finished());
    server.slow_release.send(()).unwrap();
    // ... gets its answer, with notice that the connection closes ...
    let (status, connection, body) = within(pending).await.unwrap();
    assert_eq!((status, body.as_str()), (200, "done"));
    assert_eq!(connection.as_ref().map(|v| v.as_bytes()), Some(&b"close"[..]));
    // ... and then the server returns.
    within(server.task).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_new_connection_after_shutdown_is_refused() {
    let ca = Authority::generate("medledger test CA").unwrap();
    let server = start(&identity(&ca, 1)).await;
    server.stop.send(()).unwrap();
    within(server.task).await.unwrap().unwrap();
    assert!(TcpStream::connect(server.addr).await.is_err());
}

#[tokio::test]
async fn a_stalled_handshake_neither_blocks_others_nor_holds_up_shutdown() {
    let ca = Authority::generate("medledger test CA").unwrap();
    let server = start(&identity(&ca, 1)).await;
    // Connects and never says a word.
    let stalled = TcpStream::connect(server.addr).await.unwrap();

    let client = https(tls::ca_client_config(ca.cert_pem().as_bytes()).unwrap());
    let url = format!("https://127.0.0.1:{}/peer", server.addr.port());
    assert_eq!(get_text(&client, url).await, (200, "no peer".to_string()));

    server.stop.send(()).unwrap();
    // Well before the stalled handshake would time out.
    tokio::time::timeout(HANDSHAKE_TIMEOUT / 2, server.task)
        .await
        .expect("the stalled handshake held up shutdown")
        .unwrap()
        .unwrap();
    drop(stalled);
}
