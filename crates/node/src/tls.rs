//! Transport security for a node's API: the consortium certificate authority, the two
//! certificates every node holds, and the rustls configurations built from them.
//!
//! # Certificates
//!
//! The consortium runs its own certificate authority ([`Authority`]): an ECDSA P-256 key and a
//! long-lived self-signed certificate (`basicConstraints cA, pathLen 0`). `medledger init`
//! issues two certificates per node from it (an operator may bring its own server certificate
//! instead):
//!
//! - a **server** certificate: a fresh P-256 key, `extKeyUsage serverAuth`, the node's host
//!   names and IP addresses as subject alternative names. Browsers and most HTTP clients do
//!   not accept Ed25519 certificates, so this is the one they get.
//! - a **node** certificate: the node's *service key* (the Ed25519 key of member `node<i>` of
//!   its organisation, named in genesis) certified by the CA, subject `O=<org>, CN=<member>`,
//!   `extKeyUsage serverAuth, clientAuth`, the same alternative names. Its key is a ledger key,
//!   so a peer can tell from the TLS handshake alone which registered node it talks to.
//!
//! Leaves live [`LEAF_VALIDITY_DAYS`] days (never past the CA's own expiry); the CA lives
//! [`CA_VALIDITY_DAYS`] days.
//!
//! # Server
//!
//! [`server_config`] resolves the certificate per handshake: a client whose `ClientHello`
//! offers only Ed25519 signatures (and not ECDSA P-256) — the node-to-node client below —
//! gets the node certificate; every other client (browsers, curl, the CLI) gets the P-256
//! one, which may be a certificate the operator obtained elsewhere. Client certificates are requested but
//! optional: ordinary API clients have none. One that is presented must chain to the CA and
//! carry `clientAuth`, or the handshake fails; the Ed25519 key of a verified client
//! certificate is what the API hands to its handlers (`medledger_api::serve::PeerNode`).
//!
//! # Node-to-node client
//!
//! [`client_config`] presents the node certificate as client certificate and verifies the
//! server by pinning, not by CA chain: the server's leaf must hold an Ed25519 key that the
//! caller's [`PinCheck`] accepts (the caller looks it up among the ledger's node keys of the
//! organisation it is calling). The handshake signature is still verified against that key
//! with the provider's algorithms. As for a DANE-EE record (RFC 7671 §5.1), the server name,
//! the chain and the validity dates are not checked: the ledger's key registry is the
//! authority, and peers are often addressed by IP. The client offers only the `ed25519`
//! scheme, so a node's server always answers with its node certificate. It never resumes a
//! session, so the pin is asked on every connection.
//!
//! [`ca_client_config`] is the plain alternative for the CLI and tests: it trusts the CA's
//! chain and checks the host name, and presents no certificate.
//!
//! Everything uses rustls with the ring provider (never aws-lc-rs).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use medledger_crypto::Keypair;
use medledger_types::{MemberId, OrgId, PublicKey};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue, ExtendedKeyUsagePurpose, IsCa,
    KeyIdMethod, KeyPair, KeyUsagePurpose, SerialNumber,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use thiserror::Error;
use time::{Duration, OffsetDateTime};
use x509_parser::asn1_rs::Tag;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;
use x509_parser::x509::X509Name;
use zeroize::{Zeroize, Zeroizing};

/// How long the consortium CA's certificate is valid.
pub const CA_VALIDITY_DAYS: i64 = 20 * 365;
/// How long server and node certificates are valid: Apple platforms refuse TLS server
/// certificates valid for more than 825 days, even under a CA the user installed.
pub const LEAF_VALIDITY_DAYS: i64 = 825;
/// Certificates start an hour in the past, so a peer whose clock is a little behind accepts
/// them at once.
const BACKDATE: Duration = Duration::hours(1);

/// RFC 8410 §7: the PKCS#8 v1 encoding of an Ed25519 private key is this prefix and the
/// 32-byte seed.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// RFC 8410 §4: an Ed25519 SubjectPublicKeyInfo is this prefix and the 32-byte key.
const ED25519_SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/// ALPN: the API speaks HTTP/1.1.
const ALPN_HTTP1: &[u8] = b"http/1.1";

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A certificate or key that cannot be used; `what` is its file or what it is.
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },
    #[error("cannot issue the {what}: {source}")]
    Issue {
        what: &'static str,
        #[source]
        source: rcgen::Error,
    },
    #[error("a certificate needs at least one host name or IP address")]
    NoHosts,
    #[error("{host:?} is neither a DNS name nor an IP address")]
    BadHost { host: String },
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    #[error("client certificate verifier: {0}")]
    ClientVerifier(#[from] rustls::server::VerifierBuilderError),
}

fn invalid(what: impl fmt::Display, reason: impl Into<String>) -> TlsError {
    TlsError::Invalid {
        what: what.to_string(),
        reason: reason.into(),
    }
}

fn issue_error(what: &'static str) -> impl FnOnce(rcgen::Error) -> TlsError {
    move |source| TlsError::Issue { what, source }
}

/// The provider every configuration here uses.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The consortium certificate authority (ECDSA P-256, self-signed, long-lived).
pub struct Authority {
    cert_pem: String,
    /// rcgen's view of the CA: the name and key identifier it writes into what it issues.
    issuer: rcgen::Certificate,
    key: KeyPair,
    not_after: OffsetDateTime,
}

impl fmt::Debug for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authority")
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// A P-256 server certificate and its new key, both PEM.
pub struct ServerCertificate {
    /// The leaf certificate (the CA is not repeated: clients have it).
    pub chain_pem: String,
    /// PKCS#8; write it with mode 0600.
    pub key_pem: Zeroizing<String>,
}

impl fmt::Debug for ServerCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerCertificate")
            .field("chain_pem", &self.chain_pem)
            .finish_non_exhaustive()
    }
}

impl Authority {
    /// A new CA named `CN=<common_name>`, valid [`CA_VALIDITY_DAYS`] days.
    pub fn generate(common_name: &str) -> Result<Authority, TlsError> {
        if common_name.trim().is_empty() {
            return Err(invalid("CA name", "must not be empty"));
        }
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(issue_error("CA key"))?;
        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, common_name);
        // Path length 0: the CA signs leaves only, never another CA.
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = now - BACKDATE;
        params.not_after = now + Duration::days(CA_VALIDITY_DAYS);
        params.serial_number = Some(random_serial());
        let not_after = params.not_after;
        let issuer = params.self_signed(&key).map_err(issue_error("CA certificate"))?;
        Ok(Authority {
            cert_pem: issuer.pem(),
            issuer,
            key,
            not_after,
        })
    }

    /// The CA from its certificate and its PKCS#8 private key (`ca.pem`, `ca_key.pem`).
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Authority, TlsError> {
        const CERT: &str = "CA certificate";
        const KEY: &str = "CA key";
        let der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|e| invalid(CERT, format!("no PEM certificate: {e}")))?;
        let (_, cert) = X509Certificate::from_der(&der).map_err(|e| invalid(CERT, e.to_string()))?;
        if !cert.is_ca() {
            return Err(invalid(CERT, "is not a CA certificate (basicConstraints cA unset)"));
        }
        let not_after = OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp())
            .map_err(|e| invalid(CERT, format!("expiry date: {e}")))?;
        if not_after <= OffsetDateTime::now_utc() {
            return Err(invalid(CERT, format!("expired on {not_after}")));
        }

        let key_der = Zeroizing::new(
            PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
                .map_err(|e| invalid(KEY, format!("no PEM private key: {e}")))?,
        );
        let key = KeyPair::try_from(&*key_der).map_err(|_| {
            invalid(
                KEY,
                "not a PKCS#8 (BEGIN PRIVATE KEY) ECDSA P-256/P-384, Ed25519 or RSA key",
            )
        })?;
        if key.public_key_der() != cert.public_key().raw {
            return Err(invalid(KEY, "does not belong to the CA certificate"));
        }

        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name(cert.subject()).map_err(|reason| invalid(CERT, reason))?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        if let Some(key_id) = subject_key_id(&cert) {
            params.key_identifier_method = KeyIdMethod::PreSpecified(key_id);
        }
        let issuer = params.self_signed(&key).map_err(issue_error("CA certificate"))?;
        // Issued certificates name their issuer with rcgen's encoding of this name; webpki and
        // OpenSSL match it byte for byte against the CA's subject.
        let (_, rebuilt) = X509Certificate::from_der(issuer.der()).map_err(|e| invalid(CERT, e.to_string()))?;
        if rebuilt.subject().as_raw() != cert.subject().as_raw() {
            return Err(invalid(
                CERT,
                "its subject name cannot be reproduced byte for byte; use a CA made by `medledger init`",
            ));
        }
        Ok(Authority {
            cert_pem: cert_pem.to_string(),
            issuer,
            key,
            not_after,
        })
    }

    /// The CA certificate, PEM: what every node and client trusts.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA's private key, PKCS#8 PEM, for `ca_key.pem` (write it with mode 0600).
    pub fn key_pem(&self) -> Zeroizing<String> {
        Zeroizing::new(self.key.serialize_pem())
    }

    /// A P-256 server certificate with a fresh key for `hosts` (DNS names and IP literals,
    /// all written as subject alternative names).
    pub fn issue_server(&self, hosts: &[String]) -> Result<ServerCertificate, TlsError> {
        let mut params = leaf_params(hosts)?;
        params.distinguished_name.push(DnType::CommonName, hosts[0].as_str());
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(issue_error("server key"))?;
        let cert = self.sign(params, &key, "server certificate")?;
        Ok(ServerCertificate {
            chain_pem: cert.pem(),
            key_pem: Zeroizing::new(key.serialize_pem()),
        })
    }

    /// An Ed25519 certificate for a node's service key, subject `O=<org>, CN=<member>`, usable
    /// as server and as client certificate, with `hosts` as alternative names. Returns the
    /// leaf, PEM. Only the public key is needed: the CA never sees the service key's secret.
    pub fn issue_node(
        &self,
        service_key: &PublicKey,
        org: &OrgId,
        member: &MemberId,
        hosts: &[String],
    ) -> Result<String, TlsError> {
        let mut params = leaf_params(hosts)?;
        params.distinguished_name.push(DnType::OrganizationName, org.as_str());
        params.distinguished_name.push(DnType::CommonName, member.as_str());
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        let cert = self.sign(params, &Ed25519Public(service_key.0), "node certificate")?;
        Ok(cert.pem())
    }

    fn sign(
        &self,
        mut params: CertificateParams,
        subject: &impl rcgen::PublicKeyData,
        what: &'static str,
    ) -> Result<rcgen::Certificate, TlsError> {
        let now = OffsetDateTime::now_utc();
        params.not_before = now - BACKDATE;
        params.not_after = (now + Duration::days(LEAF_VALIDITY_DAYS)).min(self.not_after);
        params.serial_number = Some(random_serial());
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params
            .signed_by(subject, &self.issuer, &self.key)
            .map_err(issue_error(what))
    }
}

/// Names and alternative names of a leaf; the subject is filled in by the caller.
fn leaf_params(hosts: &[String]) -> Result<CertificateParams, TlsError> {
    if hosts.is_empty() {
        return Err(TlsError::NoHosts);
    }
    for host in hosts {
        if ServerName::try_from(host.as_str()).is_err() {
            return Err(TlsError::BadHost { host: host.clone() });
        }
    }
    let mut params =
        CertificateParams::new(hosts.to_vec()).map_err(|_| TlsError::BadHost { host: hosts.join(", ") })?;
    params.distinguished_name = DistinguishedName::new();
    Ok(params)
}

/// A positive 128-bit serial: RFC 5280 §4.1.2.2 wants serials unique per CA, and a node
/// certificate re-issued for the same key must not repeat one.
fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] = (bytes[0] & 0x7f).max(1);
    SerialNumber::from_slice(&bytes)
}

/// An Ed25519 public key as rcgen wants it for a certificate's subject.
struct Ed25519Public([u8; 32]);

impl rcgen::PublicKeyData for Ed25519Public {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }

    fn algorithm(&self) -> &rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ED25519
    }
}

/// rcgen's form of a parsed subject name: one attribute per RDN, each type once, string types
/// kept (`Authority::from_pem` checks the result byte for byte).
fn distinguished_name(name: &X509Name<'_>) -> Result<DistinguishedName, String> {
    let mut dn = DistinguishedName::new();
    for rdn in name.iter_rdn() {
        let mut attrs = rdn.iter();
        let (Some(attr), None) = (attrs.next(), attrs.next()) else {
            return Err("its subject has a multi-valued name component".into());
        };
        let oid: Vec<u64> = attr
            .attr_type()
            .iter()
            .ok_or("its subject has an attribute type out of range")?
            .collect();
        let ty = DnType::from_oid(&oid);
        if dn.get(&ty).is_some() {
            return Err(format!("its subject repeats the attribute {}", attr.attr_type()));
        }
        let text =
            std::str::from_utf8(attr.as_slice()).map_err(|_| "its subject has a name that is not text".to_string())?;
        let bad = |_| format!("its subject has a malformed name {text:?}");
        let value = match attr.attr_value().tag() {
            Tag::Utf8String => DnValue::Utf8String(text.to_string()),
            Tag::PrintableString => DnValue::PrintableString(text.try_into().map_err(bad)?),
            Tag::Ia5String => DnValue::Ia5String(text.try_into().map_err(bad)?),
            other => return Err(format!("its subject uses the unsupported string type {other}")),
        };
        dn.push(ty, value);
    }
    Ok(dn)
}

fn subject_key_id(cert: &X509Certificate<'_>) -> Option<Vec<u8>> {
    cert.iter_extensions().find_map(|ext| match ext.parsed_extension() {
        ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
        _ => None,
    })
}

/// The Ed25519 key of a DER certificate, if its SubjectPublicKeyInfo is Ed25519. Parsed with
/// webpki, as rustls parses it to check the handshake signature.
pub fn ed25519_key_of(cert_der: &[u8]) -> Option<PublicKey> {
    let der = CertificateDer::from(cert_der);
    let cert = webpki::EndEntityCert::try_from(&der).ok()?;
    let spki = cert.subject_public_key_info();
    let key = spki.as_ref().strip_prefix(&ED25519_SPKI_PREFIX[..])?;
    PublicKey::from_slice(key)
}

/// The host names a certificate for a local node covers by default.
pub fn default_hosts() -> Vec<String> {
    vec!["localhost".into(), "127.0.0.1".into(), "::1".into()]
}

/// The PKCS#8 form of an Ed25519 service key, which ring (and so rustls) loads.
fn ed25519_pkcs8(key: &Keypair) -> PrivateKeyDer<'static> {
    let mut seed = key.secret_bytes();
    let mut der = Vec::with_capacity(ED25519_PKCS8_PREFIX.len() + seed.len());
    der.extend_from_slice(&ED25519_PKCS8_PREFIX);
    der.extend_from_slice(&seed);
    seed.zeroize();
    // rustls's ring key provider wipes the DER it is handed once it has loaded the key.
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der))
}

/// What a node loads at start: the CA certificate(s), the P-256 server certificate and key, and
/// the Ed25519 node certificate with the service key.
pub struct TlsIdentity {
    provider: Arc<CryptoProvider>,
    ca: Vec<CertificateDer<'static>>,
    roots: Arc<RootCertStore>,
    server: Arc<CertifiedKey>,
    node: Arc<CertifiedKey>,
    node_key: PublicKey,
}

impl fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("ca_certificates", &self.ca.len())
            .field("node_key", &self.node_key)
            .finish_non_exhaustive()
    }
}

/// A PEM input and what to call it in errors: its file, or what it is.
struct Pem<'a> {
    bytes: &'a [u8],
    what: String,
}

impl TlsIdentity {
    /// Reads `tls/ca.pem`, `tls/server.pem`, `tls/server_key.pem` and `tls/node.pem`. `ca` may
    /// hold several CA certificates (while the consortium rotates its CA); the node
    /// certificate must hold `service_key`'s public key and chain to one of them.
    pub fn load(
        ca: &Path,
        server_cert: &Path,
        server_key: &Path,
        node_cert: &Path,
        service_key: &Keypair,
    ) -> Result<TlsIdentity, TlsError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| TlsError::Io {
                path: path.to_path_buf(),
                source,
            })
        };
        let file = |bytes, path: &Path| Pem {
            bytes,
            what: path.display().to_string(),
        };
        let (ca_pem, server_pem, node_pem) = (read(ca)?, read(server_cert)?, read(node_cert)?);
        let server_key_pem = Zeroizing::new(read(server_key)?);
        TlsIdentity::build(
            file(&ca_pem, ca),
            file(&server_pem, server_cert),
            file(&server_key_pem, server_key),
            file(&node_pem, node_cert),
            service_key,
        )
    }

    /// The same from PEM held in memory.
    pub fn from_pem(
        ca_pem: &[u8],
        server_chain_pem: &[u8],
        server_key_pem: &[u8],
        node_chain_pem: &[u8],
        service_key: &Keypair,
    ) -> Result<TlsIdentity, TlsError> {
        let named = |bytes, what: &str| Pem {
            bytes,
            what: what.to_string(),
        };
        TlsIdentity::build(
            named(ca_pem, "CA certificate"),
            named(server_chain_pem, "server certificate"),
            named(server_key_pem, "server key"),
            named(node_chain_pem, "node certificate"),
            service_key,
        )
    }

    fn build(
        ca: Pem<'_>,
        server_chain: Pem<'_>,
        server_key: Pem<'_>,
        node_chain: Pem<'_>,
        service_key: &Keypair,
    ) -> Result<TlsIdentity, TlsError> {
        let provider = provider();
        let ca_certs = certificates(&ca)?;
        let roots = Arc::new(root_store(&ca_certs, &ca.what)?);

        let key = PrivateKeyDer::from_pem_slice(server_key.bytes)
            .map_err(|e| invalid(&server_key.what, format!("no PEM private key: {e}")))?;
        let server = CertifiedKey::from_der(certificates(&server_chain)?, key, &provider).map_err(|e| {
            invalid(
                &server_key.what,
                format!("not a usable key for {}: {e}", server_chain.what),
            )
        })?;

        let node_key = service_key.public();
        let chain = certificates(&node_chain)?;
        match ed25519_key_of(&chain[0]) {
            Some(key) if key == node_key => {}
            Some(key) => {
                return Err(invalid(
                    &node_chain.what,
                    format!("certifies the key {key}, not this node's service key {node_key}"),
                ));
            }
            None => return Err(invalid(&node_chain.what, "does not hold an Ed25519 key")),
        }
        let node = CertifiedKey::from_der(chain, ed25519_pkcs8(service_key), &provider)
            .map_err(|e| invalid(&node_chain.what, e.to_string()))?;
        // Peers check the node certificate against the CA: find a mismatch now rather than on
        // the first record transfer.
        WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()?
            .verify_client_cert(&node.cert[0], &node.cert[1..], UnixTime::now())
            .map_err(|e| {
                invalid(
                    &node_chain.what,
                    format!("not valid as a client certificate under {}: {e}", ca.what),
                )
            })?;

        Ok(TlsIdentity {
            provider,
            ca: ca_certs,
            roots,
            server: Arc::new(server),
            node: Arc::new(node),
            node_key,
        })
    }

    /// The service key the node certificate holds.
    pub fn node_key(&self) -> PublicKey {
        self.node_key
    }

    /// The trusted CA certificates, DER.
    pub fn ca_certificates(&self) -> &[CertificateDer<'static>] {
        &self.ca
    }

    /// The P-256 server certificate chain, DER.
    pub fn server_chain(&self) -> &[CertificateDer<'static>] {
        &self.server.cert
    }

    /// The Ed25519 node certificate chain, DER.
    pub fn node_chain(&self) -> &[CertificateDer<'static>] {
        &self.node.cert
    }
}

/// Every certificate in a PEM input; at least one.
fn certificates(pem: &Pem<'_>) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem.bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(&pem.what, format!("bad PEM: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(&pem.what, "holds no PEM certificate"));
    }
    Ok(certs)
}

fn root_store(certs: &[CertificateDer<'static>], what: &str) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert.clone())
            .map_err(|e| invalid(what, format!("not a usable CA certificate: {e}")))?;
    }
    Ok(roots)
}

/// The API's server configuration: the certificate resolver, optional client certificates
/// verified against the CA, ALPN `http/1.1`.
pub fn server_config(id: &TlsIdentity) -> Result<Arc<ServerConfig>, TlsError> {
    let clients = WebPkiClientVerifier::builder_with_provider(id.roots.clone(), id.provider.clone())
        .allow_unauthenticated()
        .build()?;
    let mut config = ServerConfig::builder_with_provider(id.provider.clone())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(clients)
        .with_cert_resolver(Arc::new(NodeCertResolver {
            server: id.server.clone(),
            node: id.node.clone(),
        }));
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    Ok(Arc::new(config))
}

/// Gives the Ed25519 node certificate to clients that can check it, the P-256 one to the rest.
#[derive(Debug)]
struct NodeCertResolver {
    server: Arc<CertifiedKey>,
    node: Arc<CertifiedKey>,
}

impl ResolvesServerCert for NodeCertResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let schemes = hello.signature_schemes();
        if schemes.contains(&SignatureScheme::ED25519) && !schemes.contains(&SignatureScheme::ECDSA_NISTP256_SHA256) {
            Some(self.node.clone())
        } else {
            Some(self.server.clone())
        }
    }
}

/// Decides whether a server's Ed25519 key is one the caller expects (a registered node key of
/// the organisation it calls).
pub type PinCheck = Arc<dyn Fn(&PublicKey) -> bool + Send + Sync>;

/// Accepts a key that is a node on `node`'s committed ledger (of `org`, when given).
pub fn node_pin(node: crate::node::Node, org: Option<OrgId>) -> PinCheck {
    Arc::new(move |key: &PublicKey| {
        node.store().reader().is_ok_and(|state| {
            medledger_ledger::identity::node_key(&state, key).is_some_and(|r| org.as_ref().is_none_or(|o| &r.org == o))
        })
    })
}

/// The node-to-node client configuration: presents the node certificate, accepts a server
/// whose leaf holds an Ed25519 key that `pin` accepts.
pub fn client_config(id: &TlsIdentity, pin: PinCheck) -> Result<ClientConfig, TlsError> {
    let verifier = Arc::new(PinnedServer {
        pin,
        algorithms: id.provider.signature_verification_algorithms,
    });
    let mut config = ClientConfig::builder_with_provider(id.provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_cert_resolver(Arc::new(NodeClientCert(id.node.clone())));
    // A resumed session skips the server's certificate, and with it the pin: every connection
    // asks the registry afresh, so a key removed from it stops working at once.
    config.resumption = rustls::client::Resumption::disabled();
    Ok(config)
}

/// A client configuration that trusts only the consortium CA(s) in `ca_pem` and presents no
/// certificate: for the CLI and tests talking to a node's API.
pub fn ca_client_config(ca_pem: &[u8]) -> Result<ClientConfig, TlsError> {
    let pem = Pem {
        bytes: ca_pem,
        what: "CA certificate".into(),
    };
    let roots = root_store(&certificates(&pem)?, &pem.what)?;
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Presents the node certificate when the server asks for one it can verify.
#[derive(Debug)]
struct NodeClientCert(Arc<CertifiedKey>);

impl rustls::client::ResolvesClientCert for NodeClientCert {
    fn resolve(&self, _root_hint_subjects: &[&[u8]], sigschemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        sigschemes.contains(&SignatureScheme::ED25519).then(|| self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Verifies a server by its pinned Ed25519 key.
struct PinnedServer {
    pin: PinCheck,
    algorithms: WebPkiSupportedAlgorithms,
}

impl fmt::Debug for PinnedServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinnedServer").finish_non_exhaustive()
    }
}

#[derive(Debug, Error)]
#[error("the server certificate does not hold an Ed25519 key")]
struct NotEd25519;

impl ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(key) = ed25519_key_of(end_entity) else {
            return Err(CertificateError::Other(rustls::OtherError(Arc::new(NotEd25519))).into());
        };
        if (self.pin)(&key) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(CertificateError::ApplicationVerificationFailure.into())
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    /// Only Ed25519: the pinned key is Ed25519, and offering nothing else makes the server
    /// pick its node certificate.
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ed25519_pkcs8_loads_in_ring_and_matches_the_public_key() {
        let key = Keypair::from_seed([7; 32]);
        let signer = provider()
            .key_provider
            .load_private_key(ed25519_pkcs8(&key))
            .expect("ring loads the RFC 8410 v1 form");
        assert_eq!(signer.algorithm(), rustls::SignatureAlgorithm::ED25519);
        let spki = signer.public_key().expect("ring exposes the public key");
        assert_eq!(spki.as_ref(), [&ED25519_SPKI_PREFIX[..], &key.public().0[..]].concat());
    }

    #[test]
    fn a_p256_certificate_has_no_ed25519_key() {
        let ca = Authority::generate("test CA").unwrap();
        let der = CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).unwrap();
        assert_eq!(ed25519_key_of(&der), None);
        assert_eq!(ed25519_key_of(b"not a certificate"), None);
    }
}
