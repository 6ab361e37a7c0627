//! A fault-injecting proxy: a real network peer between cb-step (and dockerd) and the test
//! bed's registry or ECR API. It forwards every request, except those a fault of its plan
//! claims: those get a 5xx or 429, a reset connection, a dribbled body, no answer at all, or
//! an ECR throttling reply. It counts what it injected, so a test's tally is the proxy's own
//! count.
//!
//! Each proxy runs on its own tokio runtime and its own ephemeral port, so tests stay
//! independent and parallel.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::harness::Bed;

type Body = BoxBody<Bytes, BoxError>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a fault does to a request it claims.
#[derive(Debug, Clone, Copy)]
pub enum Action {
    /// Answer with this status without forwarding (the request body is read first, so the
    /// client sees an answer, not a reset).
    Status(u16),
    /// Read this many bytes of the request body, then drop the connection unanswered: a reset
    /// mid-upload. A body that ends sooner is forwarded and the fault not spent. With 0, the
    /// connection drops as soon as the request's head is read.
    Reset { after: usize },
    /// Forward, then send the answer's body `chunk` bytes at a time, `every` apart.
    Slow { chunk: usize, every: Duration },
    /// ECR's throttling reply: HTTP 400, `{"__type": "ThrottlingException", …}`.
    Throttle,
    /// Read the request, then answer nothing for ten minutes: a server that hangs.
    Stall,
}

/// Which requests a fault claims.
#[derive(Debug, Clone)]
struct Match {
    method: Option<&'static str>,
    path: String,
    /// The path is `path` itself, not just one that contains it.
    exact: bool,
    /// An ECR operation: the end of the `X-Amz-Target` header.
    target: Option<&'static str>,
    /// Only requests from dockerd (`true`) or only those from anything else (`false`).
    daemon: Option<bool>,
}

/// One line of a plan: claim the first `times` requests that match (all of them when `None`).
#[derive(Debug)]
pub struct Fault {
    matches: Match,
    action: Action,
    times: Option<u32>,
    injected: AtomicU32,
}

impl Fault {
    /// Requests with `method` whose path contains `path`.
    pub fn on(method: &'static str, path: impl Into<String>) -> FaultBuilder {
        FaultBuilder(Match {
            method: Some(method),
            path: path.into(),
            exact: false,
            target: None,
            daemon: None,
        })
    }

    /// ECR API calls of `operation` (`GetAuthorizationToken`, `DescribeRepositories`).
    pub fn ecr(operation: &'static str) -> FaultBuilder {
        FaultBuilder(Match {
            method: None,
            path: String::new(),
            exact: false,
            target: Some(operation),
            daemon: None,
        })
    }

    fn claims(&self, method: &str, path: &str, target: &str, daemon: bool) -> bool {
        let m = &self.matches;
        m.method.is_none_or(|x| x == method)
            && if m.exact {
                path == m.path
            } else {
                path.contains(&m.path)
            }
            && m.target
                .is_none_or(|t| target.rsplit('.').next() == Some(t))
            && m.daemon.is_none_or(|d| d == daemon)
    }

    /// Returns what `take` took, for a request the fault turned out not to fit.
    fn give_back(&self) {
        self.injected.fetch_sub(1, Ordering::SeqCst);
    }

    /// Takes one from the budget; false when it is spent.
    fn take(&self) -> bool {
        let taken = self
            .injected
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                self.times.is_none_or(|t| n < t).then_some(n + 1)
            });
        taken.is_ok()
    }
}

pub struct FaultBuilder(Match);

impl FaultBuilder {
    /// Only the path itself (`/v2/`, the login check), not every path that contains it.
    pub fn exact(mut self) -> Self {
        self.0.exact = true;
        self
    }

    /// Only requests dockerd sends (its `User-Agent` starts with `docker/`).
    pub fn by_daemon(mut self) -> Self {
        self.0.daemon = Some(true);
        self
    }

    /// Only requests cb-step (anything but dockerd) sends.
    pub fn by_cb_step(mut self) -> Self {
        self.0.daemon = Some(false);
        self
    }

    pub fn times(self, action: Action, times: u32) -> Fault {
        self.build(action, Some(times))
    }

    pub fn always(self, action: Action) -> Fault {
        self.build(action, None)
    }

    fn build(self, action: Action, times: Option<u32>) -> Fault {
        Fault {
            matches: self.0,
            action,
            times,
            injected: AtomicU32::new(0),
        }
    }
}

struct Shared {
    plan: Vec<Fault>,
    upstream: String,
    client: Client<HttpsConnector<HttpConnector>, Body>,
    /// Replaces the first with the second in every forwarded answer.
    rewrite: Option<(String, String)>,
    /// `METHOD path -> what happened`, for failure messages.
    log: Mutex<Vec<String>>,
}

pub struct Proxy {
    port: u16,
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Proxy {
    /// TLS in front of the bed's registry, with the registry's own certificate (valid for
    /// the ECR host name). Reach it as `<registry host>:<port>`.
    pub fn registry(plan: Vec<Fault>) -> Proxy {
        let bed = Bed::get();
        let tls = std::path::Path::new(bed.var("CB_STEP_TESTBED_DIR")).join("tls");
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(tls.join("server.crt"))
                .expect("read the bed's server certificate")
                .collect::<Result<_, _>>()
                .expect("parse the bed's server certificate");
        let key = PrivateKeyDer::from_pem_file(tls.join("server.key"))
            .expect("read the bed's server key");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("the bed's certificate and key");
        let upstream = format!("https://{}:443", bed.registry());
        let tls = TlsAcceptor::from(Arc::new(config));
        Proxy::start(plan, upstream, Some(tls), None)
    }

    /// Plain HTTP in front of the bed's ECR API (moto). Point cb-step at it with
    /// `AWS_ENDPOINT_URL_ECR` = [`Proxy::url`].
    pub fn ecr(plan: Vec<Fault>) -> Proxy {
        let upstream = Bed::get().var("AWS_ENDPOINT_URL_ECR").to_owned();
        Proxy::start(plan, upstream, None, None)
    }

    /// An ECR API proxy whose tokens send clients to `registry` (a registry proxy): the
    /// `proxyEndpoint` moto answers gets that proxy's port, so ecr-login checks the token
    /// through it, as it would through any ECR host.
    pub fn ecr_for(registry: &Proxy, plan: Vec<Fault>) -> Proxy {
        let upstream = Bed::get().var("AWS_ENDPOINT_URL_ECR").to_owned();
        let host = Bed::get().registry();
        let rewrite = (
            format!("\"https://{host}\""),
            format!("\"https://{}\"", registry.host()),
        );
        Proxy::start(plan, upstream, None, Some(rewrite))
    }

    fn start(
        plan: Vec<Fault>,
        upstream: String,
        tls: Option<TlsAcceptor>,
        rewrite: Option<(String, String)>,
    ) -> Proxy {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("the proxy's runtime");
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
            .expect("the system's CA certificates")
            .https_or_http()
            .enable_http1()
            .build();
        let shared = Arc::new(Shared {
            plan,
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: Client::builder(TokioExecutor::new()).build(connector),
            rewrite,
            log: Mutex::new(Vec::new()),
        });
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("bind the proxy");
        let port = listener.local_addr().expect("the proxy's address").port();
        runtime.spawn(accept(listener, tls, Arc::clone(&shared)));
        Proxy {
            port,
            shared,
            runtime: Some(runtime),
        }
    }

    /// `<registry host>:<port>`, for the registry flavour.
    pub fn host(&self) -> String {
        format!("{}:{}", Bed::get().registry(), self.port)
    }

    /// `http://127.0.0.1:<port>`, for the ECR flavour.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Faults injected so far, over the whole plan.
    pub fn injected(&self) -> u64 {
        self.shared
            .plan
            .iter()
            .map(|f| u64::from(f.injected.load(Ordering::SeqCst)))
            .sum()
    }

    /// The lines of the plan with a budget (`times`) that did not inject exactly that many.
    pub fn unspent(&self) -> Vec<String> {
        let plan = self.shared.plan.iter().enumerate();
        plan.filter_map(|(index, fault)| {
            let (got, want) = (fault.injected.load(Ordering::SeqCst), fault.times?);
            (got != want).then(|| format!("line {index} injected {got}, not {want}"))
        })
        .collect()
    }
}

impl fmt::Display for Proxy {
    /// The requests it saw and what it did with each.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in self.shared.log.lock().unwrap().iter() {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn accept(listener: TcpListener, tls: Option<TlsAcceptor>, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (tls, shared) = (tls.clone(), Arc::clone(&shared));
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(Arc::clone(&shared), request));
            let http = hyper::server::conn::http1::Builder::new();
            // A connection that ends in an error is what a reset fault is for.
            let _ = match tls {
                Some(tls) => match tls.accept(stream).await {
                    Ok(stream) => http.serve_connection(TokioIo::new(stream), service).await,
                    Err(_) => return,
                },
                None => http.serve_connection(TokioIo::new(stream), service).await,
            };
        });
    }
}

/// Returning an error makes hyper drop the connection without an answer: the reset faults.
async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<Body>, BoxError> {
    let method = request.method().as_str().to_owned();
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let target = header("x-amz-target");
    let daemon = header("user-agent").starts_with("docker/");
    let what = format!(
        "{method} {path}{}{}",
        if target.is_empty() { "" } else { " " },
        target.rsplit('.').next().unwrap_or_default()
    );
    let fault = shared
        .plan
        .iter()
        .find(|f| f.claims(&method, &path, &target, daemon) && f.take());
    let note = |text: String| shared.log.lock().unwrap().push(format!("{what} -> {text}"));
    let Some(fault) = fault else {
        let response = forward(&shared, request.map(boxed)).await?;
        note(format!("{}", response.status().as_u16()));
        return Ok(response);
    };
    match fault.action {
        Action::Status(status) => {
            let _ = request.into_body().collect().await;
            note(format!("injected {status}"));
            Ok(reply(status, "text/plain", format!("injected {status}\n")))
        }
        Action::Throttle => {
            let _ = request.into_body().collect().await;
            note("injected ThrottlingException".into());
            Ok(reply(
                400,
                "application/x-amz-json-1.1",
                r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into(),
            ))
        }
        Action::Stall => {
            let _ = request.into_body().collect().await;
            note("injected stall".into());
            tokio::time::sleep(Duration::from_secs(600)).await;
            Ok(reply(504, "text/plain", "stalled\n".into()))
        }
        Action::Reset { after } => {
            let (parts, body) = request.into_parts();
            let Some(read) = read_some(body, after).await? else {
                note(format!("injected reset after {after} body bytes"));
                return Err("injected reset".into());
            };
            fault.give_back();
            let response = forward(&shared, Request::from_parts(parts, full(read))).await?;
            note(format!(
                "{} (the body ended within {after} bytes: not reset)",
                response.status().as_u16()
            ));
            Ok(response)
        }
        Action::Slow { chunk, every } => {
            let response = forward(&shared, request.map(boxed)).await?;
            let (parts, body) = response.into_parts();
            let bytes = body.collect().await?.to_bytes();
            note(format!(
                "{} dribbled ({} bytes, {chunk} every {every:?})",
                parts.status.as_u16(),
                bytes.len()
            ));
            Ok(Response::from_parts(parts, dribble(bytes, chunk, every)))
        }
    }
}

async fn forward(shared: &Shared, request: Request<Body>) -> Result<Response<Body>, BoxError> {
    let (mut parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = format!("{}{path}", shared.upstream).parse::<Uri>()?;
    // The Host header stays as the client sent it (`host:port`), so the registry's upload
    // URLs (`Location`) point back at the proxy.
    let response = shared
        .client
        .request(Request::from_parts(parts, body))
        .await?;
    let Some((from, to)) = &shared.rewrite else {
        return Ok(response.map(boxed));
    };
    let (mut parts, body) = response.into_parts();
    let text = String::from_utf8_lossy(&body.collect().await?.to_bytes()).replace(from, to);
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Ok(Response::from_parts(parts, full(Bytes::from(text))))
}

fn boxed(body: Incoming) -> Body {
    body.map_err(BoxError::from).boxed()
}

fn full(bytes: Bytes) -> Body {
    Full::new(bytes).map_err(|e| match e {}).boxed()
}

/// Reads `limit` bytes of `body`: `None` once it has (the rest stays unread), or the whole
/// body when it ends sooner.
async fn read_some(mut body: Incoming, limit: usize) -> Result<Option<Bytes>, BoxError> {
    let mut read = bytes::BytesMut::new();
    if limit == 0 {
        return Ok(None);
    }
    while let Some(frame) = body.frame().await {
        if let Some(data) = frame?.data_ref() {
            read.extend_from_slice(data);
        }
        if read.len() >= limit {
            return Ok(None);
        }
    }
    Ok(Some(read.freeze()))
}

fn reply(status: u16, content_type: &str, text: String) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(status).expect("a valid status"))
        .header("content-type", content_type)
        .body(full(Bytes::from(text)))
        .expect("a valid response")
}

fn dribble(bytes: Bytes, chunk: usize, every: Duration) -> Body {
    let frames = futures_util::stream::unfold(bytes, move |mut rest| async move {
        if rest.is_empty() {
            return None;
        }
        tokio::time::sleep(every).await;
        let piece = rest.split_to(chunk.min(rest.len()));
        Some((Ok::<_, BoxError>(Frame::data(piece)), rest))
    });
    StreamBody::new(frames).boxed()
}
