//! HTTPS requests to registries, on the hyper/rustls stack the AWS SDK already brings (rustls
//! with ring, the system's CA certificates, so `SSL_CERT_FILE` and the system store both work).

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Why a request got no response. `transient` marks what a retry may cure.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub transient: bool,
}

/// Sends of one request at the most, by `Http::send_retrying`.
pub const ATTEMPTS: u32 = 3;

/// An answer a retry may cure: the server failing or throttling.
pub fn is_unavailable(status: u16) -> bool {
    status >= 500 || status == 429
}

#[derive(Clone)]
pub struct Http {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl Http {
    pub fn new(timeout: Duration) -> Result<Self, Failure> {
        // Without TCP_NODELAY, a request written right after the TLS handshake waits for the
        // server's delayed ACK: 40 ms on every login check.
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        tcp.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| Failure {
                message: format!("cannot load the system's CA certificates: {e}"),
                transient: false,
            })?
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        Ok(Http {
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
        })
    }

    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<Response, Failure> {
        // A request that fails once sent (a reset mid-request, a cut answer) may have reached the
        // registry; only an idempotent one (GET, HEAD, PUT of a manifest) is safe to send again.
        let idempotent = method.is_idempotent();
        let mut request = Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request = request.body(Full::new(body)).map_err(|e| Failure {
            message: format!("invalid request to {url}: {e}"),
            transient: false,
        })?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| Failure {
                transient: e.is_connect() || idempotent,
                message: chain(&e),
            })?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response.into_body().collect().await.map_err(|e| Failure {
                message: chain(&e),
                transient: idempotent,
            })?;
            Ok(Response {
                status,
                headers,
                body: body.to_bytes(),
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or_else(|_| {
                Err(Failure {
                    message: format!("no answer within {}s", self.timeout.as_secs()),
                    transient: true,
                })
            })
    }

    /// `send`, and again after what a retry may cure (connection failures, timeouts, resets of
    /// an idempotent request, 5xx, 429): at most `ATTEMPTS` sends, 0.3 s then 0.6 s apart. A
    /// 5xx or 429 on the last send is returned as the answer; a failure says how many sends
    /// failed.
    pub async fn send_retrying(
        &self,
        what: &str,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<Response, Failure> {
        let mut attempt = 1;
        loop {
            let result = self.send(method.clone(), url, headers, body.clone()).await;
            let retry = match &result {
                Err(failure) => failure.transient,
                Ok(response) => is_unavailable(response.status),
            };
            if !retry || attempt == ATTEMPTS {
                return result.map_err(|mut failure| {
                    if attempt > 1 {
                        failure.message = format!("{} (after {attempt} attempts)", failure.message);
                    }
                    failure
                });
            }
            back_off(
                Duration::from_millis(300),
                attempt,
                &format!("{what} failed"),
            )
            .await;
            attempt += 1;
        }
    }
}

/// Waits before the retry that follows `attempt` (1-based): `first`, then twice as long each
/// time. Callers bound the attempts, so the waits add up to at most `first × (2^attempts − 1)`.
pub async fn back_off(first: Duration, attempt: u32, what: &str) {
    let wait = first * 2u32.pow(attempt - 1);
    tracing::warn!("{what}; retrying in {wait:?}");
    tokio::time::sleep(wait).await;
}

/// An error and its causes on one line: the useful part (refused, certificate, DNS) is deep.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// `Basic base64(user:password)`.
pub fn basic(username: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
    )
}
