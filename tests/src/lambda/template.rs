//! `template.yaml` as the tests read it: the functions and their routes, and the environment
//! and secret a deployed function gets, rebuilt against the local emulator.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml::Value;

/// The SAM template at the repository root.
pub fn path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml")
}

/// The parsed template (CloudFormation tags such as `!Ref` become tagged values).
pub fn load() -> Value {
    let text = std::fs::read_to_string(path()).expect("template.yaml");
    serde_yaml::from_str(&text).expect("template.yaml is YAML")
}

/// A `!Tag value` or `{"Fn::Tag": value}` intrinsic, as (tag, value). (serde_yaml's `as_str`
/// and friends see through tags: check for an intrinsic first.)
pub fn intrinsic(v: &Value) -> Option<(String, &Value)> {
    match v {
        Value::Tagged(t) => Some((
            t.tag.to_string().trim_start_matches('!').to_string(),
            &t.value,
        )),
        Value::Mapping(m) if m.len() == 1 => {
            let (k, v) = m.iter().next()?;
            let k = k.as_str()?;
            if k == "Ref" {
                Some(("Ref".into(), v))
            } else {
                k.strip_prefix("Fn::").map(|t| (t.to_string(), v))
            }
        }
        _ => None,
    }
}

/// A function of the template.
#[derive(Debug, Clone)]
pub struct Function {
    pub logical_id: String,
    /// `Metadata.BuildProperties.Binary`.
    pub binary: Option<String>,
    pub resource: Value,
}

/// An `HttpApi` event of a function; `path` and `method` are `None` for the `$default` route.
#[derive(Debug, Clone)]
pub struct HttpRoute {
    pub function: String,
    pub event: String,
    pub method: Option<String>,
    pub path: Option<String>,
}

/// Every `AWS::Serverless::Function`.
pub fn functions(t: &Value) -> Vec<Function> {
    let Some(resources) = t["Resources"].as_mapping() else {
        return Vec::new();
    };
    resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(id, r)| Function {
            logical_id: id.as_str().unwrap_or_default().to_string(),
            binary: r["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .map(str::to_string),
            resource: r.clone(),
        })
        .collect()
}

/// Every `HttpApi` event of every function.
pub fn http_routes(t: &Value) -> Vec<HttpRoute> {
    let mut out = Vec::new();
    for f in functions(t) {
        let Some(events) = f.resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (name, e) in events {
            if e["Type"].as_str() != Some("HttpApi") {
                continue;
            }
            out.push(HttpRoute {
                function: f.logical_id.clone(),
                event: name.as_str().unwrap_or_default().to_string(),
                method: e["Properties"]["Method"]
                    .as_str()
                    .map(str::to_ascii_uppercase),
                path: e["Properties"]["Path"].as_str().map(str::to_string),
            });
        }
    }
    out
}

/// A function property, from the function or else from `Globals.Function`.
pub fn effective<'a>(t: &'a Value, f: &'a Function, key: &str) -> Option<&'a Value> {
    let own = &f.resource["Properties"][key];
    if !own.is_null() {
        return Some(own);
    }
    let global = &t["Globals"]["Function"][key];
    (!global.is_null()).then_some(global)
}

/// The resources the emulator stands in for.
pub struct Emulated {
    pub endpoint: String,
    pub table: String,
    pub secret_arn: String,
    pub queue_url: String,
    pub create_table: bool,
}

/// The environment the template gives a function (`Globals` and its own variables), with
/// references to the table, secret and queue pointing at the emulated ones, plus what Lambda
/// adds (region, credentials) and the endpoint of the emulator.
pub fn function_environment(binary: &str, emulated: &Emulated) -> Vec<(String, String)> {
    let t = load();
    let f = functions(&t)
        .into_iter()
        .find(|f| f.binary.as_deref() == Some(binary))
        .unwrap_or_else(|| panic!("template.yaml has no function with Binary {binary}"));
    let mut vars: BTreeMap<String, Value> = BTreeMap::new();
    for source in [
        &t["Globals"]["Function"]["Environment"]["Variables"],
        &f.resource["Properties"]["Environment"]["Variables"],
    ] {
        if let Some(m) = source.as_mapping() {
            for (k, v) in m {
                vars.insert(k.as_str().unwrap_or_default().to_string(), v.clone());
            }
        }
    }
    let mut env = Vec::new();
    for (name, value) in vars {
        if let Some(v) = resolve(&t, &name, &value, emulated) {
            env.push((name, v));
        }
    }
    env.extend(
        [
            ("AWS_ENDPOINT_URL", emulated.endpoint.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_SESSION_TOKEN", "test"),
            (
                "OW_CREATE_TABLE",
                if emulated.create_table {
                    "true"
                } else {
                    "false"
                },
            ),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    env
}

fn resolve(t: &Value, name: &str, value: &Value, emulated: &Emulated) -> Option<String> {
    match intrinsic(value) {
        Some((tag, target)) if tag == "Ref" => {
            let target = target.as_str().unwrap_or_default();
            if let Some(p) = t["Parameters"][target].as_mapping() {
                return p.get("Default").map(|d| {
                    d.as_str().map(str::to_string).unwrap_or_else(|| {
                        serde_yaml::to_string(d)
                            .unwrap_or_default()
                            .trim()
                            .to_string()
                    })
                });
            }
            match target {
                "Table" => Some(emulated.table.clone()),
                "AppSecret" => Some(emulated.secret_arn.clone()),
                "JobQueue" => Some(emulated.queue_url.clone()),
                // One emulated queue: import continuations share the job queue here.
                "ImportQueue" => Some(emulated.queue_url.clone()),
                other => panic!(
                    "environment variable {name} refers to {other}, which the runtime tests do \
                     not emulate: add it to ow_e2e::lambda::template::resolve"
                ),
            }
        }
        // Conditional values (`!If`) are unset unless configured: as with default parameters.
        Some((tag, _)) if tag == "If" => None,
        // `!Sub` of pseudo parameters and template parameters (the import bucket's name).
        Some((tag, v)) if tag == "Sub" && v.is_string() => {
            let mut out = v.as_str().unwrap_or_default().to_string();
            while let Some(start) = out.find("${") {
                let end = start
                    + out[start..]
                        .find('}')
                        .unwrap_or_else(|| panic!("environment variable {name}: unclosed ${{"));
                let var = out[start + 2..end].to_string();
                let value = match var.as_str() {
                    "AWS::AccountId" => "123456789012".to_string(),
                    "AWS::Region" => "us-east-1".to_string(),
                    "AWS::Partition" => "aws".to_string(),
                    param => t["Parameters"][param]["Default"]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| {
                            panic!("environment variable {name}: cannot substitute {param}")
                        }),
                };
                out.replace_range(start..=end, &value);
            }
            Some(out)
        }
        Some(other) => panic!("environment variable {name}: cannot evaluate {other:?}"),
        None => match value {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            other => panic!("environment variable {name}: cannot evaluate {other:?}"),
        },
    }
}

/// Creates the application secret in the emulator, with the content `AppSecret` gets on
/// deploy: `SecretStringTemplate` with the admin parameters filled in, plus the generated
/// `SECRET_KEY` (the tests' key, so tokens from the local server are valid in the function).
pub async fn create_app_secret(endpoint: &str) -> String {
    let t = load();
    let generate = &t["Resources"]["AppSecret"]["Properties"]["GenerateSecretString"];
    let template = match intrinsic(&generate["SecretStringTemplate"]) {
        Some((tag, v)) if tag == "Sub" => v.as_str().map(str::to_string),
        _ => generate["SecretStringTemplate"]
            .as_str()
            .map(str::to_string),
    }
    .expect("AppSecret has a SecretStringTemplate");
    let filled = template
        .replace("${AdminEmail}", crate::ADMIN_EMAIL)
        .replace("${AdminPassword}", crate::ADMIN_PASSWORD);
    let mut secret: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&filled)
        .unwrap_or_else(|e| panic!("AppSecret's SecretStringTemplate is not a JSON object: {e}"));
    let key = generate["GenerateStringKey"]
        .as_str()
        .expect("AppSecret generates a key");
    let dir = tempfile::tempdir().expect("temp dir");
    let test_key = shared::config::Config::for_tests(dir.path()).secret_key;
    secret.insert(key.to_string(), test_key.into());
    let out = aws_json(
        endpoint,
        "secretsmanager",
        "application/x-amz-json-1.1",
        "secretsmanager.CreateSecret",
        serde_json::json!({
            "Name": format!("ow-test/{}", uuid::Uuid::new_v4()),
            "SecretString": serde_json::Value::Object(secret).to_string(),
        }),
    )
    .await;
    out["ARN"].as_str().expect("secret ARN").to_string()
}

/// One call of an AWS JSON-protocol API on the emulator (which reads the service from the
/// credential scope and does not check signatures).
async fn aws_json(
    endpoint: &str,
    service: &str,
    content_type: &str,
    target: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let resp = reqwest::Client::new()
        .post(endpoint)
        .header("content-type", content_type)
        .header("x-amz-target", target)
        .header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{service}/aws4_request, \
                 SignedHeaders=host, Signature=0"
            ),
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{target} on the emulator: {e}"));
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    assert!(
        status.is_success(),
        "{target} on the emulator: {status} {text}"
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{target}: {e}: {text}"))
}
