//! A Lambda Runtime API emulator (the `2018-06-01` interface a function's runtime client polls)
//! and a function binary started against it, the way the Lambda service starts `bootstrap`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{mpsc, oneshot};

/// What the function posted for one invocation.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// `POST /runtime/invocation/{id}/response`.
    Response(Bytes),
    /// `POST /runtime/invocation/{id}/error` (the runtime's error JSON).
    Error(Bytes),
}

struct Pending {
    id: String,
    event: Bytes,
    reply: oneshot::Sender<Outcome>,
}

struct Inner {
    function_arn: String,
    queue_tx: mpsc::UnboundedSender<Pending>,
    queue_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Pending>>,
    in_flight: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    first_poll: OnceLock<Instant>,
    init_error: Mutex<Option<String>>,
}

/// The emulator, serving on a loopback port until dropped.
pub struct RuntimeApi {
    addr: SocketAddr,
    inner: Arc<Inner>,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

const BASE: &str = "/2018-06-01/runtime";

impl RuntimeApi {
    pub async fn start(function_name: &str) -> Self {
        let (queue_tx, queue_rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            function_arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{function_name}"),
            queue_tx,
            queue_rx: tokio::sync::Mutex::new(queue_rx),
            in_flight: Mutex::new(HashMap::new()),
            first_poll: OnceLock::new(),
            init_error: Mutex::new(None),
        });
        let app = Router::new()
            .route(&format!("{BASE}/invocation/next"), get(next))
            .route(
                &format!("{BASE}/invocation/{{id}}/response"),
                post(response),
            )
            .route(&format!("{BASE}/invocation/{{id}}/error"), post(error))
            .route(&format!("{BASE}/init/error"), post(init_error))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Self {
            addr,
            inner,
            stop: Some(tx),
        }
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// When the function first asked for an invocation (its init was done).
    pub fn first_poll(&self) -> Option<Instant> {
        self.inner.first_poll.get().copied()
    }

    /// What the function reported through `/runtime/init/error`, if anything.
    pub fn init_error(&self) -> Option<String> {
        self.inner
            .init_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Queues an event; the receiver yields what the function posts back for it.
    pub fn enqueue(&self, event: Bytes) -> oneshot::Receiver<Outcome> {
        let (reply, rx) = oneshot::channel();
        let id = uuid::Uuid::new_v4().to_string();
        let _ = self.inner.queue_tx.send(Pending { id, event, reply });
        rx
    }
}

async fn next(State(inner): State<Arc<Inner>>) -> Response {
    let _ = inner.first_poll.set(Instant::now());
    let pending = {
        let mut rx = inner.queue_rx.lock().await;
        rx.recv().await
    };
    let Some(p) = pending else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    inner
        .in_flight
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(p.id.clone(), p.reply);
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() + 30_000)
        .unwrap_or_default();
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    set("lambda-runtime-aws-request-id", p.id);
    set("lambda-runtime-deadline-ms", deadline.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        inner.function_arn.clone(),
    );
    set(
        "lambda-runtime-trace-id",
        "Root=1-6745a1b2-0123456789abcdef01234567;Parent=0123456789abcdef;Sampled=0".into(),
    );
    set("content-type", "application/json".into());
    (StatusCode::OK, headers, p.event).into_response()
}

fn finish(inner: &Inner, id: &str, outcome: Outcome) -> StatusCode {
    let waiter = inner
        .in_flight
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(id);
    match waiter {
        Some(tx) => {
            let _ = tx.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(
    State(inner): State<Arc<Inner>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    finish(&inner, &id, Outcome::Response(body))
}

async fn error(
    State(inner): State<Arc<Inner>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    finish(&inner, &id, Outcome::Error(body))
}

async fn init_error(State(inner): State<Arc<Inner>>, body: Bytes) -> StatusCode {
    *inner.init_error.lock().unwrap_or_else(|e| e.into_inner()) =
        Some(String::from_utf8_lossy(&body).into_owned());
    StatusCode::ACCEPTED
}

/// A function binary running against its own emulator, with the environment Lambda gives it
/// (and nothing else from the test's environment).
pub struct LambdaProcess {
    pub name: String,
    pub runtime: RuntimeApi,
    pub spawned_at: Instant,
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for LambdaProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Why an invocation gave no response.
#[derive(Debug)]
pub struct InvokeError(pub String);

impl LambdaProcess {
    /// Starts `binary` as function `name` with `env` on top of the Lambda-provided variables.
    pub async fn spawn(binary: &Path, name: &str, env: &[(String, String)]) -> Self {
        let runtime = RuntimeApi::start(name).await;
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("function.log");
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(binary);
        cmd.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("AWS_LAMBDA_RUNTIME_API", runtime.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/11/26/[$LATEST]0123456789abcdef0123456789abcdef",
            )
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023")
            .env("LAMBDA_TASK_ROOT", "/var/task")
            .env("LAMBDA_RUNTIME_DIR", "/var/runtime")
            .env("_HANDLER", "bootstrap")
            .env("TZ", ":UTC")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log file"))
            .stderr(log_file);
        let spawned_at = Instant::now();
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        Self {
            name: name.to_string(),
            runtime,
            spawned_at,
            child,
            log,
            _dir: dir,
        }
    }

    /// Everything the function wrote to stdout and stderr so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends one event and waits for the function's answer (30 s at most).
    pub async fn invoke(&mut self, event: Bytes) -> Result<Outcome, InvokeError> {
        let mut rx = self.runtime.enqueue(event);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match tokio::time::timeout(Duration::from_millis(50), &mut rx).await {
                Ok(Ok(outcome)) => return Ok(outcome),
                Ok(Err(_)) => return Err(self.failure("the emulator dropped the invocation")),
                Err(_) => {}
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(self.failure(&format!("the function exited ({status})")));
            }
            if Instant::now() > deadline {
                return Err(self.failure("no answer within 30 s"));
            }
        }
    }

    /// Peak resident memory so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn failure(&self, what: &str) -> InvokeError {
        let init = self
            .runtime
            .init_error()
            .map(|e| format!("\ninit error reported: {e}"))
            .unwrap_or_default();
        InvokeError(format!(
            "{}: {what}{init}\n--- function output ---\n{}",
            self.name,
            self.logs()
        ))
    }
}
