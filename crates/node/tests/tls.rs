//! The consortium CA, the two node certificates and real TLS handshakes between nodes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use medledger_crypto::Keypair;
use medledger_node::tls::{self, Authority, LEAF_VALIDITY_DAYS, PinCheck, TlsError, TlsIdentity, ed25519_key_of};
use medledger_types::{MemberId, OrgId, PublicKey};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use x509_parser::prelude::{FromDer, X509Certificate};

/// A bound for every network step: a broken handshake fails the test instead of hanging it.
const DEADLINE: Duration = Duration::from_secs(10);
/// RFC 5480: the SubjectPublicKeyInfo of an uncompressed P-256 key starts so.
const P256_SPKI_PREFIX: [u8; 27] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
    0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04,
];

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
}

fn roots(ca: &Authority) -> Arc<RootCertStore> {
    let mut roots = RootCertStore::empty();
    roots.add(der(ca.cert_pem())).unwrap();
    Arc::new(roots)
}

fn org() -> OrgId {
    OrgId::new("hospital-a").unwrap()
}

fn member() -> MemberId {
    MemberId::new("node0").unwrap()
}

/// A node's identity under `ca`, its service key made from `seed`.
fn identity(ca: &Authority, seed: u8) -> TlsIdentity {
    let service = Keypair::from_seed([seed; 32]);
    let hosts = tls::default_hosts();
    let server = ca.issue_server(&hosts).unwrap();
    let node = ca.issue_node(&service.public(), &org(), &member(), &hosts).unwrap();
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

#[test]
fn issued_certificates_chain_to_the_ca_and_hold_the_right_keys() {
    let ca = Authority::generate("medledger test CA").unwrap();
    let service = Keypair::from_seed([1; 32]);
    let hosts = tls::default_hosts();
    let server = der(&ca.issue_server(&hosts).unwrap().chain_pem);
    let node = der(&ca.issue_node(&service.public(), &org(), &member(), &hosts).unwrap());

    assert_eq!(ed25519_key_of(&node), Some(service.public()));
    assert_eq!(ed25519_key_of(&server), None);
    let server_spki = webpki::EndEntityCert::try_from(&server)
        .unwrap()
        .subject_public_key_info();
    assert!(server_spki.as_ref().starts_with(&P256_SPKI_PREFIX));

    // Both chain to the CA as server certificates for every host, and for no other host.
    let servers = WebPkiServerVerifier::builder_with_provider(roots(&ca), provider())
        .build()
        .unwrap();
    for cert in [&server, &node] {
        for host in &hosts {
            let name = ServerName::try_from(host.as_str()).unwrap();
            servers
                .verify_server_cert(cert, &[], &name, &[], UnixTime::now())
                .unwrap_or_else(|e| panic!("{host}: {e}"));
        }
        let elsewhere = ServerName::try_from("example.org").unwrap();
        assert!(
            servers
                .verify_server_cert(cert, &[], &elsewhere, &[], UnixTime::now())
                .is_err()
        );
    }
    // Only the node certificate is a client certificate.
    let clients = WebPkiClientVerifier::builder_with_provider(roots(&ca), provider())
        .build()
        .unwrap();
    clients.verify_client_cert(&node, &[], UnixTime::now()).unwrap();
    assert!(clients.verify_client_cert(&server, &[], UnixTime::now()).is_err());

    // The node certificate names the organisation and the member, and expires in time.
    let (_, parsed) = X509Certificate::from_der(&node).unwrap();
    let subject = parsed.subject();
    let org_name = subject.iter_organization().next().unwrap().as_str().unwrap();
    let common_name = subject.iter_common_name().next().unwrap().as_str().unwrap();
    assert_eq!((org_name, common_name), ("hospital-a", "node0"));
    let lifetime = parsed.validity().not_after.timestamp() - parsed.validity().not_before.timestamp();
    assert!(lifetime <= (LEAF_VALIDITY_DAYS + 1) * 86_400);
}

#[test]
fn every_issued_certificate_has_its_own_serial() {
    let ca = Authority::generate("medledger test CA").unwrap();
    let key = Keypair::from_seed([1; 32]).public();
    let hosts = tls::default_hosts();
    let serial = |pem: String| {
        let der = der(&pem);
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        cert.raw_serial().to_vec()
    };
    let first = serial(ca.issue_node(&key, &org(), &member(), &hosts).unwrap());
    let again = serial(ca.issue_node(&key, &org(), &member(), &hosts).unwrap());
    assert_ne!(first, again, "a re-issued node certificate repeats its serial");
}

#[test]
fn an_authority_reloaded_from_pem_issues_certificates_under_the_same_ca() {
    let ca = Authority::generate("medledger test CA").unwrap();
    let reloaded = Authority::from_pem(ca.cert_pem(), &ca.key_pem()).unwrap();
    assert_eq!(reloaded.cert_pem(), ca.cert_pem());
    let service = Keypair::from_seed([3; 32]);
    let node = der(&reloaded
        .issue_node(&service.public(), &org(), &member(), &tls::default_hosts())
        .unwrap());
    WebPkiClientVerifier::builder_with_provider(roots(&ca), provider())
        .build()
        .unwrap()
        .verify_client_cert(&node, &[], UnixTime::now())
        .unwrap();
    let server = der(&reloaded.issue_server(&tls::default_hosts()).unwrap().chain_pem);
    WebPkiServerVerifier::builder_with_provider(roots(&ca), provider())
        .build()
        .unwrap()
        .verify_server_cert(
            &server,
            &[],
            &ServerName::try_from("localhost").unwrap(),
            &[],
            UnixTime::now(),
        )
        .unwrap();
}

#[test]
fn bad_authority_input_is_an_error() {
    let ca = Authority::generate("medledger test CA").unwrap();
    let other = Authority::generate("another CA").unwrap();
    assert!(Authority::generate(" ").is_err());
    assert!(Authority::from_pem("not pem", &ca.key_pem()).is_err());
    assert!(Authority::from_pem(ca.cert_pem(), "not pem").is_err());
    assert!(Authority::from_pem(ca.cert_pem(), &other.key_pem()).is_err());
    // A leaf is not a CA.
    let leaf = ca.issue_server(&tls::default_hosts()).unwrap();
    assert!(Authority::from_pem(&leaf.chain_pem, &leaf.key_pem).is_err());
    // Hosts must be names or addresses.
    assert!(matches!(ca.issue_server(&[]), Err(TlsError::NoHosts)));
    assert!(matches!(
        ca.issue_server(&["not a host".into()]),
        Err(TlsError::BadHost { .. })
    ));
}

#[test]
fn the_identity_loads_from_files_and_bad_files_name_their_path() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::generate("medledger test CA").unwrap();
    let service = Keypair::from_seed([4; 32]);
    let server = ca.issue_server(&tls::default_hosts()).unwrap();
    let node = ca
        .issue_node(&service.public(), &org(), &member(), &tls::default_hosts())
        .unwrap();
    let path = |name: &str| dir.path().join(name);
    std::fs::write(path("ca.pem"), ca.cert_pem()).unwrap();
    std::fs::write(path("server.pem"), &server.chain_pem).unwrap();
    std::fs::write(path("server_key.pem"), server.key_pem.as_bytes()).unwrap();
    std::fs::write(path("node.pem"), &node).unwrap();
    std::fs::write(path("garbage.pem"), "-----BEGIN CERTIFICATE-----\nnot base64!\n").unwrap();
    std::fs::write(path("empty.pem"), "").unwrap();
    let load = |ca: &str, cert: &str, key: &str, node: &str, service: &Keypair| {
        TlsIdentity::load(&path(ca), &path(cert), &path(key), &path(node), service)
    };

    let id = load("ca.pem", "server.pem", "server_key.pem", "node.pem", &service).unwrap();
    assert_eq!(id.node_key(), service.public());
    assert_eq!(id.node_chain()[0], der(&node));
    assert_eq!(id.server_chain()[0], der(&server.chain_pem));
    assert_eq!(id.ca_certificates(), [der(ca.cert_pem())]);
    let debug = format!("{id:?}");
    assert!(!debug.contains("PRIVATE"), "{debug}");

    let error_mentions = |result: Result<TlsIdentity, TlsError>, file: &str| {
        let message = result.expect_err(file).to_string();
        assert!(message.contains(&*path(file).to_string_lossy()), "{message}");
    };
    let stranger = Keypair::from_seed([5; 32]);
    error_mentions(
        load("ca.pem", "server.pem", "server_key.pem", "node.pem", &stranger),
        "node.pem",
    );
    error_mentions(
        load("garbage.pem", "server.pem", "server_key.pem", "node.pem", &service),
        "garbage.pem",
    );
    error_mentions(
        load("empty.pem", "server.pem", "server_key.pem", "node.pem", &service),
        "empty.pem",
    );
    error_mentions(
        load("ca.pem", "server.pem", "garbage.pem", "node.pem", &service),
        "garbage.pem",
    );
    error_mentions(
        load("ca.pem", "server.pem", "server_key.pem", "missing.pem", &service),
        "missing.pem",
    );
    // A key that is not the certificate's.
    let other = ca.issue_server(&tls::default_hosts()).unwrap();
    std::fs::write(path("other_key.pem"), other.key_pem.as_bytes()).unwrap();
    error_mentions(
        load("ca.pem", "server.pem", "other_key.pem", "node.pem", &service),
        "other_key.pem",
    );
    // A node certificate from another CA.
    let foreign = Authority::generate("another CA").unwrap();
    std::fs::write(path("foreign_ca.pem"), foreign.cert_pem()).unwrap();
    error_mentions(
        load("foreign_ca.pem", "server.pem", "server_key.pem", "node.pem", &service),
        "node.pem",
    );
    // The server key file in the node certificate's place.
    error_mentions(
        load("ca.pem", "server.pem", "server_key.pem", "server_key.pem", &service),
        "server_key.pem",
    );
}

/// Accepts one TLS connection; answers `ok` once the handshake is done and yields the client's
/// Ed25519 key, if it presented a certificate.
async fn accept_one(config: Arc<ServerConfig>) -> (SocketAddr, JoinHandle<std::io::Result<Option<PublicKey>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await?;
        let mut tls = TlsAcceptor::from(config).accept(tcp).await?;
        let peer = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|certs| certs.first())
            .and_then(|cert| ed25519_key_of(cert));
        tls.write_all(b"ok").await?;
        tls.flush().await?;
        Ok(peer)
    });
    (addr, task)
}

/// Connects, waits for the server's `ok`, and returns the server's leaf certificate.
async fn connect(config: ClientConfig, addr: SocketAddr, host: &str) -> std::io::Result<CertificateDer<'static>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from(host.to_string()).unwrap();
    let mut tls = TlsConnector::from(Arc::new(config)).connect(name, tcp).await?;
    let mut ok = [0u8; 2];
    tls.read_exact(&mut ok).await?;
    assert_eq!(&ok, b"ok");
    let leaf = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    Ok(leaf)
}

async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, f).await.expect("took too long")
}

#[tokio::test]
async fn pinned_nodes_authenticate_each_other() {
    let ca = Authority::generate("medledger test CA").unwrap();
    let (server, client) = (identity(&ca, 1), identity(&ca, 2));
    let (addr, task) = accept_one(tls::server_config(&server).unwrap()).await;
    let config = tls::client_config(&client, pin_to(server.node_key())).unwrap();

    let leaf = within(connect(config, addr, "127.0.0.1")).await.unwrap();
    assert_eq!(leaf, server.node_chain()[0]);
    let seen = within(task).await.unwrap().unwrap();
    assert_eq!(seen, Some(client.node_key()));
}

#[tokio::test]
async fn the_pin_is_asked_again_on_every_connection() {
    let ca = Authority::generate("medledger test CA").unwrap();
    let (server, client) = (identity(&ca, 1), identity(&ca, 2));
    let config = tls::server_config(&server).unwrap();
    // The registry drops the server's key after the first connection.
    let registered = Arc::new(AtomicBool::new(true));
    let key = server.node_key();
    let pin: PinCheck = {
        let registered = registered.clone();
        Arc::new(move |k: &PublicKey| *k == key && registered.load(Ordering::SeqCst))
    };
    let client_config = tls::client_config(&client, pin).unwrap();

    let (addr, task) = accept_one(config.clone()).await;
    within(connect(client_config.clone(), addr, "127.0.0.1")).await.unwrap();
    within(task).await.unwrap().unwrap();

    registered.store(false, Ordering::SeqCst);
    let (addr, _task) = accept_one(config).await;
    assert!(within(connect(client_config, addr, "127.0.0.1")).await.is_err());
}

#[tokio::test]
async fn a_pin_that_refuses_the_key_fails_the_handshake() {
    let ca = Authority::generate("medledger test CA").unwrap();
    let (server, client) = (identity(&ca, 1), identity(&ca, 2));
    let (addr, task) = accept_one(tls::server_config(&server).unwrap()).await;
    // Pinned to the caller's own key, not the server's.
    let config = tls::client_config(&client, pin_to(client.node_key())).unwrap();

    let error = within(connect(config, addr, "127.0.0.1")).await.unwrap_err();
    assert!(error.to_string().contains("ApplicationVerificationFailure"), "{error}");
    assert!(within(task).await.unwrap().is_err());
}

#[tokio::test]
async fn the_pin_is_not_satisfied_by_a_non_ed25519_server() {
    // A generic TLS server with only the P-256 certificate: the pinned client, which offers
    // Ed25519 alone, cannot complete a handshake with it.
    let ca = Authority::generate("medledger test CA").unwrap();
    let client = identity(&ca, 2);
    let key = ca.issue_server(&tls::default_hosts()).unwrap();
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![der(&key.chain_pem)],
            rustls::pki_types::PrivateKeyDer::from_pem_slice(key.key_pem.as_bytes()).unwrap(),
        )
        .unwrap();
    let (addr, _task) = accept_one(Arc::new(config)).await;
    let accept_all: PinCheck = Arc::new(|_: &PublicKey| true);
    let result = within(connect(
        tls::client_config(&client, accept_all).unwrap(),
        addr,
        "localhost",
    ))
    .await;
    assert!(result.is_err());
}

/// Verifies by CA chain but offers only ECDSA signature schemes, as a browser does.
#[derive(Debug)]
struct EcdsaOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for EcdsaOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![
            SignatureScheme::ECDSA_NISTP256_SHA256,
            SignatureScheme::ECDSA_NISTP384_SHA384,
        ]
    }
}

#[tokio::test]
async fn the_server_picks_the_certificate_the_client_can_check() {
    let ca = Authority::generate("medledger test CA").unwrap();
    let server = identity(&ca, 1);
    let server_config = tls::server_config(&server).unwrap();

    let verifier = WebPkiServerVerifier::builder_with_provider(roots(&ca), provider())
        .build()
        .unwrap();
    let ecdsa_only = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(EcdsaOnly(verifier)))
        .with_no_client_auth();
    let (addr, task) = accept_one(server_config.clone()).await;
    let leaf = within(connect(ecdsa_only, addr, "localhost")).await.unwrap();
    assert_eq!(leaf, server.server_chain()[0]);
    assert_eq!(within(task).await.unwrap().unwrap(), None);

    // An ordinary client (it offers Ed25519 and ECDSA, like curl) gets the server
    // certificate too, and checks it by CA chain: the server certificate may be one the
    // operator got from a public CA.
    let ca_pem = ca.cert_pem().as_bytes();
    let (addr, task) = accept_one(server_config.clone()).await;
    let leaf = within(connect(tls::ca_client_config(ca_pem).unwrap(), addr, "localhost"))
        .await
        .unwrap();
    assert_eq!(leaf, server.server_chain()[0]);
    assert_eq!(within(task).await.unwrap().unwrap(), None);

    // The node-to-node client offers only Ed25519 and gets the node certificate.
    let (addr, task) = accept_one(server_config).await;
    let client = tls::client_config(&identity(&ca, 2), pin_to(server.node_key())).unwrap();
    let leaf = within(connect(client, addr, "127.0.0.1")).await.unwrap();
    assert_eq!(leaf, server.node_chain()[0]);
    assert!(within(task).await.unwrap().unwrap().is_some());
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_is_refused() {
    let ca = Authority::generate("medledger test CA").unwrap();
    let server = identity(&ca, 1);
    let stranger = identity(&Authority::generate("another CA").unwrap(), 2);
    let (addr, task) = accept_one(tls::server_config(&server).unwrap()).await;
    let config = tls::client_config(&stranger, pin_to(server.node_key())).unwrap();

    // In TLS 1.3 the client finishes first; the refusal shows on its first read.
    assert!(within(connect(config, addr, "127.0.0.1")).await.is_err());
    let error = within(task).await.unwrap().unwrap_err();
    assert!(error.to_string().contains("UnknownIssuer"), "{error}");
}

#[tokio::test]
async fn a_client_without_a_certificate_is_accepted_without_a_peer_key() {
    let ca = Authority::generate("medledger test CA").unwrap();
    let server = identity(&ca, 1);
    let (addr, task) = accept_one(tls::server_config(&server).unwrap()).await;
    let config = tls::ca_client_config(ca.cert_pem().as_bytes()).unwrap();

    within(connect(config, addr, "127.0.0.1")).await.unwrap();
    assert_eq!(within(task).await.unwrap().unwrap(), None);
}

#[test]
fn bad_ca_pem_for_a_client_is_an_error() {
    assert!(tls::ca_client_config(b"").is_err());
    assert!(tls::ca_client_config(b"-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n").is_err());
    assert!(tls::ca_client_config(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").is_err());
}
