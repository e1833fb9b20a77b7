//! The Lambda functions as AWS runs them: each binary started against a Runtime API emulator,
//! configured the way `template.yaml` configures it (environment, the application secret),
//! its DynamoDB, Secrets Manager and SQS calls going to the local emulator, and fed recorded
//! API Gateway v2 events (`infra/events/apigw-v2/`). Every answer is compared with the local
//! server's answer to the same request.
//!
//! One scenario ([`SCENARIO`]) serves every function: a step goes to the function under test
//! when its route belongs to the function's group (or to no group, for the function holding
//! the `$default` route); other steps go to a local server over the same table, which plays
//! the rest of the deployed API. Derived work goes to an SQS queue in the emulator, as in AWS;
//! after each step the queue is drained in SQS event batches, by the job consumer function when
//! that is the one under test, else by the same handler in-process. The local server runs its
//! jobs in-process and is waited for.

pub mod queue;
pub mod routes;
pub mod runtime;
pub mod template;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use serde_json::Value;
use shared::store::Table;
use shared::store::dynamo::DynamoTable;

use crate::Server;
use queue::TestQueue;
use routes::{DEFAULT_ROUTE_GROUP, RouteProbe, group_of_function};
use runtime::{LambdaProcess, Outcome};
use shared::api::Group;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// One request of the scenario: a recorded event, the status both the function and the local
/// server must answer (0: whatever the local server answers), and values to remember from the
/// answer (`{{NAME}}` in later events).
pub struct Step {
    pub event: &'static str,
    pub status: u16,
    pub capture: &'static [(&'static str, &'static str)],
}

const fn step(event: &'static str, status: u16) -> Step {
    Step {
        event,
        status,
        capture: &[],
    }
}

/// The integration guide, with the error answers clients meet most, as gateway events.
pub const SCENARIO: &[Step] = &[
    step("get-root.json", 200),
    step("get-root-browser.json", 303),
    step("get-portal-unauthenticated.json", 303),
    step("get-openapi-json.json", 200),
    step("get-docs.json", 200),
    step("unknown-route.json", 404),
    step("delete-root.json", 405),
    step("login-wrong-password.json", 401),
    Step {
        event: "login-form.json",
        status: 200,
        capture: &[("JWT", "/access_token")],
    },
    step("auth-me.json", 200),
    Step {
        event: "create-api-key.json",
        status: 201,
        capture: &[("API_KEY", "/id")],
    },
    step("list-api-keys.json", 200),
    step("get-developer-bad-uuid.json", 400),
    step("create-user-invalid-email.json", 400),
    step("create-user-malformed-json.json", 400),
    Step {
        event: "create-user.json",
        status: 201,
        capture: &[("USER_ID", "/id")],
    },
    step("list-users.json", 200),
    step("get-user.json", 200),
    step("get-user-bad-uuid.json", 400),
    step("patch-user.json", 200),
    Step {
        event: "create-application.json",
        status: 201,
        capture: &[("APP_ID", "/app_id"), ("APP_SECRET", "/app_secret")],
    },
    Step {
        event: "token-exchange-base64.json",
        status: 200,
        capture: &[
            ("SDK_TOKEN", "/access_token"),
            ("REFRESH_TOKEN", "/refresh_token"),
        ],
    },
    step("get-user-sdk-token.json", 401),
    step("sdk-sync.json", 202),
    step("get-timeseries.json", 200),
    step("get-sleep-events.json", 200),
    step("get-activity-summary.json", 200),
    step("get-sleep-summary.json", 200),
    step("get-data-sources.json", 200),
    step("get-seed-presets.json", 200),
    step("list-providers.json", 200),
    step("get-connections.json", 200),
    step("oauth-callback-unknown-state.json", 0),
    step("oura-webhook-challenge-bad-token.json", 401),
    step("oura-webhook-unsigned.json", 401),
    step("strava-webhooks-health.json", 200),
    step("token-refresh.json", 200),
    step("create-invitation-code.json", 201),
    step("delete-user.json", 200),
    step("get-user.json", 404),
];

/// How to run the scenario.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Compare every answer with a local server's (tests); off for benchmarks.
    pub compare_with_local: bool,
    /// `OW_CREATE_TABLE` for the function (in AWS the template owns the table: false).
    pub create_table: bool,
}

/// What one function did during the scenario.
#[derive(Debug, Default)]
pub struct Report {
    pub function: String,
    /// Event files the function answered.
    pub served: Vec<&'static str>,
    /// Differences from the local server or from the expected status, one line each.
    pub mismatches: Vec<String>,
    /// From process start to its first request for an invocation (init done).
    pub init: Option<Duration>,
    /// From process start to the first answered invocation.
    pub first_answer: Option<Duration>,
    /// Peak resident memory after the scenario (`VmHWM`), KiB.
    pub peak_rss_kib: Option<u64>,
    /// The function's own output (JSON log lines).
    pub logs: String,
}

/// What the function under test handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// API Gateway requests for the routes of a group.
    Http(Group),
    /// SQS batches from the job queue.
    Jobs,
    /// EventBridge scheduled events.
    Schedule,
}

fn kind_of(name: &str) -> Kind {
    if let Some(g) = group_of_function(name) {
        return Kind::Http(g);
    }
    let t = template::load();
    let f = template::functions(&t)
        .into_iter()
        .find(|f| f.binary.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("template.yaml has no function with Binary {name}"));
    let event_types: Vec<String> = f.resource["Properties"]["Events"]
        .as_mapping()
        .into_iter()
        .flat_map(|events| events.values())
        .filter_map(|e| e["Type"].as_str().map(str::to_string))
        .collect();
    if event_types.iter().any(|t| t == "SQS") {
        Kind::Jobs
    } else if event_types
        .iter()
        .any(|t| t == "Schedule" || t == "ScheduleV2")
    {
        Kind::Schedule
    } else {
        panic!(
            "{name} is neither the function of a route group (tests/src/lambda/routes.rs), an \
             SQS consumer nor a scheduled function: teach tests/src/lambda/mod.rs to drive it"
        )
    }
}

/// Runs [`SCENARIO`] with the function binary `binary` (its file name, or its parent folder's
/// name for cargo-lambda's `<bin>/bootstrap` layout, names the function).
pub async fn run(binary: &Path, opts: Options) -> Report {
    let name = function_name_of(binary);
    let kind = kind_of(&name);
    let moto = crate::dynamodb_url();
    let probe = RouteProbe::new().await;

    // The deployed side: the table, the secret and the queue the template creates, a local
    // server over that table and queue for the routes of other functions, and the function.
    let table_name = format!("fn-{name}-{}", uuid::Uuid::new_v4().simple());
    let table = DynamoTable::for_endpoint(&moto, table_name.clone());
    table.ensure_table().await.expect("create table");
    let table: Arc<dyn Table> = Arc::new(table);
    let jobs = TestQueue::create(&moto).await;
    let sqs = shared::jobs::sqs::SqsQueue::new(jobs.client.clone(), jobs.url.clone());
    let others = Server::start_with_queue(
        table,
        tempfile::tempdir().expect("temp dir"),
        Some(Arc::new(sqs)),
    )
    .await;
    let env = template::function_environment(
        &name,
        &template::Emulated {
            endpoint: moto.clone(),
            table: table_name,
            secret_arn: template::create_app_secret(&moto).await,
            queue_url: jobs.url.clone(),
            create_table: opts.create_table,
        },
    );
    let mut function: Option<LambdaProcess> = None;

    // The reference side: the local server, alone.
    let local = if opts.compare_with_local {
        Some(Server::start(crate::Storage::Embedded).await)
    } else {
        None
    };

    let mut report = Report {
        function: name.clone(),
        ..Report::default()
    };
    let mut deployed_vars = HashMap::new();
    let mut local_vars = HashMap::new();
    for step in SCENARIO {
        let event = load_event(step.event, &deployed_vars);
        let (method, path) = method_and_path(&event);
        let route = probe.owner(&method, &path).await;
        check_route_key(step.event, &event, route.as_ref().map(|r| r.1.as_str()));
        let to_function = match (&route, kind) {
            (_, Kind::Jobs | Kind::Schedule) => false,
            (Some((g, _)), Kind::Http(group)) => *g == group,
            (None, Kind::Http(group)) => group == DEFAULT_ROUTE_GROUP,
        };
        let deployed = if to_function {
            let f = started(&mut function, binary, &name, &env).await;
            let outcome = f
                .invoke(bytes::Bytes::from(event.to_string()))
                .await
                .unwrap_or_else(|e| panic!("{} failed: {}", step.event, e.0));
            note_first_answer(&mut report, f);
            report.served.push(step.event);
            match outcome {
                Outcome::Response(body) => Answer::from_gateway_response(&body)
                    .unwrap_or_else(|e| panic!("{}: {e}", step.event)),
                Outcome::Error(body) => panic!(
                    "{}: the function reported an invocation error: {}\n{}",
                    step.event,
                    String::from_utf8_lossy(&body),
                    f.logs()
                ),
            }
        } else {
            Answer::over_http(&others, &event).await
        };
        drain_jobs(
            &jobs,
            kind,
            &others,
            &mut function,
            binary,
            &name,
            &env,
            &mut report,
            step,
        )
        .await;
        if step.status != 0 && deployed.status != step.status {
            report.mismatches.push(format!(
                "{}: status {} (expected {}): {}",
                step.event,
                deployed.status,
                step.status,
                String::from_utf8_lossy(&deployed.body)
            ));
        }
        capture(step, &deployed, &mut deployed_vars);
        if let Some(local) = &local {
            let event = load_event(step.event, &local_vars);
            let expected = Answer::over_http(local, &event).await;
            local.state.jobs_idle().await;
            for d in deployed.differences(&expected) {
                report
                    .mismatches
                    .push(format!("{}: {d} (function vs local server)", step.event));
            }
            capture(step, &expected, &mut local_vars);
        }
    }
    if kind == Kind::Schedule {
        // A scheduled tick after the scenario: it queues work, which the consumer then runs.
        let event = std::fs::read(events_dir().join("../eventbridge/schedule.json"))
            .expect("infra/events/eventbridge/schedule.json");
        let f = started(&mut function, binary, &name, &env).await;
        match f.invoke(bytes::Bytes::from(event)).await {
            Ok(Outcome::Response(body)) => {
                note_first_answer(&mut report, f);
                report.served.push("eventbridge/schedule.json");
                let v: Value = serde_json::from_slice(&body).unwrap_or_default();
                if !v.as_object().is_some_and(|o| o.values().all(Value::is_u64)) {
                    report
                        .mismatches
                        .push(format!("schedule.json: unexpected answer {v}"));
                }
            }
            Ok(Outcome::Error(body)) => report.mismatches.push(format!(
                "schedule.json: invocation error {}",
                String::from_utf8_lossy(&body)
            )),
            Err(e) => report.mismatches.push(e.0),
        }
        let last = SCENARIO.last().expect("a scenario");
        drain_jobs(
            &jobs,
            kind,
            &others,
            &mut function,
            binary,
            &name,
            &env,
            &mut report,
            last,
        )
        .await;
    }
    if let Some(mut f) = function {
        report.peak_rss_kib = f.peak_rss_kib();
        // (The scheduled function takes any payload: EventBridge sends what the rule says.)
        if opts.compare_with_local && kind != Kind::Schedule {
            // An event of the wrong shape: reported as an invocation error, and the function
            // lives on (release builds abort on panic).
            match f
                .invoke(bytes::Bytes::from_static(b"{\"not\": \"an event\"}"))
                .await
            {
                Ok(Outcome::Error(_)) => {}
                Ok(Outcome::Response(r)) => report.mismatches.push(format!(
                    "a malformed event got a response instead of an invocation error: {}",
                    String::from_utf8_lossy(&r)
                )),
                Err(e) => report.mismatches.push(e.0),
            }
        }
        if !f.alive() {
            report
                .mismatches
                .push(format!("{name} exited during the scenario"));
        }
        report.logs = f.logs();
        if report.logs.contains("panicked") {
            report
                .mismatches
                .push(format!("{name} panicked:\n{}", report.logs));
        }
    }
    report
}

/// The function process, started on first use (the cold start happens with a request waiting).
async fn started<'a>(
    slot: &'a mut Option<LambdaProcess>,
    binary: &Path,
    name: &str,
    env: &[(String, String)],
) -> &'a mut LambdaProcess {
    match slot {
        Some(f) => f,
        None => slot.insert(LambdaProcess::spawn(binary, name, env).await),
    }
}

fn note_first_answer(report: &mut Report, f: &LambdaProcess) {
    if report.first_answer.is_none() {
        report.first_answer = Some(f.spawned_at.elapsed());
        report.init = f.runtime.first_poll().map(|t| t - f.spawned_at);
    }
}

/// Delivers everything on the job queue as SQS event batches until it is empty: to the
/// function when it is the job consumer, else to the shared handler in-process.
#[allow(clippy::too_many_arguments)]
async fn drain_jobs(
    jobs: &TestQueue,
    kind: Kind,
    others: &Server,
    function: &mut Option<LambdaProcess>,
    binary: &Path,
    name: &str,
    env: &[(String, String)],
    report: &mut Report,
    step: &Step,
) {
    for _ in 0..100 {
        let messages = jobs.receive().await;
        if messages.is_empty() {
            return;
        }
        let event = jobs.event(&messages);
        let failed: Vec<String> = if kind == Kind::Jobs {
            let f = started(function, binary, name, env).await;
            let outcome = f
                .invoke(bytes::Bytes::from(event.to_string()))
                .await
                .unwrap_or_else(|e| panic!("jobs after {}: {}", step.event, e.0));
            note_first_answer(report, f);
            report.served.push(step.event);
            match outcome {
                Outcome::Response(body) => {
                    let v: Value = serde_json::from_slice(&body).unwrap_or_default();
                    v["batchItemFailures"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_string))
                        .collect()
                }
                Outcome::Error(body) => panic!(
                    "jobs after {}: invocation error {}\n{}",
                    step.event,
                    String::from_utf8_lossy(&body),
                    f.logs()
                ),
            }
        } else {
            let event = serde_json::from_value(event).expect("an SQS event");
            shared::jobs::lambda::handle_batch(&others.state, event)
                .await
                .batch_item_failures
                .into_iter()
                .map(|f| f.item_identifier)
                .collect()
        };
        for m in &messages {
            if failed.iter().any(|id| Some(id.as_str()) == m.message_id()) {
                report.mismatches.push(format!(
                    "a job queued by {} failed: {}",
                    step.event,
                    m.body().unwrap_or_default()
                ));
            }
        }
        // Failed ones too: the scenario has no job that may fail, and retries would loop.
        jobs.delete(&messages.iter().collect::<Vec<_>>()).await;
    }
    report
        .mismatches
        .push(format!("the job queue did not drain after {}", step.event));
}

/// The function name of a binary: `target/debug/ow-api-users` or `…/ow-api-users/bootstrap`.
pub fn function_name_of(binary: &Path) -> String {
    let file = binary
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    if file == "bootstrap" {
        binary
            .parent()
            .and_then(|p| p.file_name())
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        file
    }
}

/// Asserts that the function binary answers every event of its routes as the local server does.
pub async fn check_function(binary: &str) {
    let report = run(
        Path::new(binary),
        Options {
            compare_with_local: true,
            create_table: true,
        },
    )
    .await;
    eprintln!(
        "{} answered {} events ({}); cold start to first answer {:?}, peak RSS {:?} KiB\n{}",
        report.function,
        report.served.len(),
        report.served.join(", "),
        report.first_answer,
        report.peak_rss_kib,
        report.logs
    );
    assert!(
        !report.served.is_empty(),
        "no event of the scenario reaches {}: record events for its routes under \
         infra/events/apigw-v2/ and add them to ow_e2e::lambda::SCENARIO",
        report.function
    );
    assert!(
        report.mismatches.is_empty(),
        "{} answered differently from the local server:\n{}\n--- function output ---\n{}",
        report.function,
        report.mismatches.join("\n"),
        report.logs
    );
}

fn events_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/events/apigw-v2")
}

/// Loads an event file and fills its `{{NAME}}` placeholders (inside base64 bodies too).
pub fn load_event(name: &str, vars: &HashMap<String, String>) -> Value {
    let path = events_dir().join(name);
    let raw = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let fill = |s: &str| {
        let out = vars.iter().fold(s.to_string(), |acc, (k, v)| {
            acc.replace(&format!("{{{{{k}}}}}"), v)
        });
        assert!(
            !out.contains("{{"),
            "{name}: a placeholder has no value yet (captured so far: {:?})",
            vars.keys().collect::<Vec<_>>()
        );
        out
    };
    let mut v: Value =
        serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
    if v["isBase64Encoded"] == true
        && let Some(body) = v["body"].as_str()
    {
        let decoded = B64.decode(body).expect("base64 body");
        let decoded = String::from_utf8(decoded).expect("utf-8 body");
        v["body"] = Value::String(B64.encode(fill(&decoded)));
    }
    let text = fill(&v.to_string());
    serde_json::from_str(&text).expect("filled event is JSON")
}

fn method_and_path(event: &Value) -> (String, String) {
    (
        event["requestContext"]["http"]["method"]
            .as_str()
            .unwrap_or("GET")
            .to_string(),
        event["rawPath"].as_str().unwrap_or("/").to_string(),
    )
}

/// A recorded event's `routeKey` is the route API Gateway matched: `METHOD /pattern`, or
/// `$default` when no route matches.
fn check_route_key(name: &str, event: &Value, pattern: Option<&str>) {
    let (method, _) = method_and_path(event);
    let expected = match pattern {
        Some(p) => format!("{method} {p}"),
        None => "$default".to_string(),
    };
    assert_eq!(
        event["routeKey"].as_str(),
        Some(expected.as_str()),
        "{name}: routeKey does not match the route the local router picks"
    );
}

fn capture(step: &Step, answer: &Answer, vars: &mut HashMap<String, String>) {
    let json = answer.json();
    for (var, pointer) in step.capture {
        let value = json
            .as_ref()
            .and_then(|j| j.pointer(pointer))
            .and_then(Value::as_str)
            .unwrap_or_else(|| {
                panic!(
                    "{}: no string at {pointer} in {}",
                    step.event,
                    String::from_utf8_lossy(&answer.body)
                )
            });
        vars.insert((*var).to_string(), value.to_string());
    }
}

/// An HTTP answer, from either side.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Answer {
    /// Decodes an API Gateway v2 (payload 2.0) response object as `lambda_http` writes it.
    pub fn from_gateway_response(raw: &[u8]) -> Result<Self, String> {
        let v: Value = serde_json::from_slice(raw).map_err(|e| {
            format!(
                "the response is not JSON ({e}): {}",
                String::from_utf8_lossy(raw)
            )
        })?;
        let status = v["statusCode"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .ok_or_else(|| format!("no statusCode in {v}"))?;
        let content_type = v["headers"]
            .as_object()
            .and_then(|h| {
                h.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                    .and_then(|(_, v)| v.as_str())
            })
            .map(str::to_string);
        let body = match v["body"].as_str() {
            None => Vec::new(),
            Some(b) if v["isBase64Encoded"] == true => B64
                .decode(b)
                .map_err(|e| format!("body is not base64: {e}"))?,
            Some(b) => b.as_bytes().to_vec(),
        };
        Ok(Self {
            status,
            content_type,
            body,
        })
    }

    /// Sends the request an event describes to a server over HTTP.
    pub async fn over_http(server: &Server, event: &Value) -> Self {
        let (method, path) = method_and_path(event);
        let mut url = server.url(&path);
        if let Some(q) = event["rawQueryString"].as_str().filter(|q| !q.is_empty()) {
            url = format!("{url}?{q}");
        }
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        // Redirects are answers, as API Gateway hands them back: not followed.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let mut req = http.request(method, url);
        if let Some(headers) = event["headers"].as_object() {
            for (k, v) in headers {
                if k != "host"
                    && k != "content-length"
                    && let Some(v) = v.as_str()
                {
                    req = req.header(k, v);
                }
            }
        }
        if let Some(cookies) = event["cookies"].as_array() {
            let joined: Vec<&str> = cookies.iter().filter_map(Value::as_str).collect();
            req = req.header("cookie", joined.join("; "));
        }
        if let Some(body) = event["body"].as_str() {
            let bytes = if event["isBase64Encoded"] == true {
                B64.decode(body).expect("base64 body")
            } else {
                body.as_bytes().to_vec()
            };
            req = req.body(bytes);
        }
        let resp = req.send().await.expect("local server answers");
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp.bytes().await.expect("body").to_vec();
        Self {
            status,
            content_type,
            body,
        }
    }

    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// How this answer differs from `other`, ignoring values that are generated per run
    /// (ids, timestamps, tokens, keys).
    pub fn differences(&self, other: &Answer) -> Vec<String> {
        let mut out = Vec::new();
        if self.status != other.status {
            out.push(format!("status {} vs {}", self.status, other.status));
        }
        if self.content_type != other.content_type {
            out.push(format!(
                "content-type {:?} vs {:?}",
                self.content_type, other.content_type
            ));
        }
        match (self.json(), other.json()) {
            (Some(a), Some(b)) => json_differences("", &a, &b, &mut out),
            _ if self.body != other.body => out.push(format!(
                "body {:?} vs {:?}",
                String::from_utf8_lossy(&self.body),
                String::from_utf8_lossy(&other.body)
            )),
            _ => {}
        }
        out
    }
}

/// Fields whose values are generated per run (ids, secrets, codes, times).
const GENERATED_FIELDS: &[&str] = &[
    "id",
    "code",
    "app_id",
    "app_secret",
    "access_token",
    "refresh_token",
    "created_at",
    "updated_at",
    "expires_at",
    "last_used_at",
];

fn json_differences(at: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                let here = format!("{at}/{k}");
                match (x.get(k), y.get(k)) {
                    (Some(Value::String(_)), Some(Value::String(_)))
                        if GENERATED_FIELDS.contains(&k.as_str()) => {}
                    (Some(va), Some(vb)) => json_differences(&here, va, vb, out),
                    (Some(_), None) => out.push(format!("{here} only in the function's answer")),
                    (None, _) => out.push(format!("{here} missing from the function's answer")),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                json_differences(&format!("{at}/{i}"), va, vb, out);
            }
        }
        (Value::String(x), Value::String(y)) if same_text(x, y) => {}
        _ if a == b => {}
        _ => out.push(format!("{at}: {a} vs {b}")),
    }
}

/// Equal, or equal once generated values (UUIDs inside the text, timestamps, JWTs) are
/// set aside.
fn same_text(a: &str, b: &str) -> bool {
    fn generated(s: &str) -> Option<&'static str> {
        if chrono::DateTime::parse_from_rfc3339(s).is_ok()
            || chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
        {
            Some("<time>")
        } else if s.starts_with("eyJ") && s.matches('.').count() == 2 {
            Some("<jwt>")
        } else {
            None
        }
    }
    fn without_uuids(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while !rest.is_empty() {
            if rest.len() >= 36
                && rest.is_char_boundary(36)
                && uuid::Uuid::try_parse(&rest[..36]).is_ok()
            {
                out.push_str("<uuid>");
                rest = &rest[36..];
            } else {
                let c = rest.chars().next().unwrap_or_default();
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        out
    }
    a == b
        || matches!((generated(a), generated(b)), (Some(x), Some(y)) if x == y)
        || without_uuids(a) == without_uuids(b)
}
