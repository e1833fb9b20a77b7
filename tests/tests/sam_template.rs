//! `template.yaml` deploys what the local server serves: the same `(METHOD, path)` set, each
//! route on the function whose group really serves it, every function built the way the
//! design card says. Failures name the routes and print the lines to paste.

use std::collections::{BTreeMap, BTreeSet};

use ow_e2e::lambda::routes::{
    DEFAULT_ROUTE_GROUP, RouteProbe, concrete_path, function_name, group_of_function, local_routes,
};
use ow_e2e::lambda::template::{self, effective, intrinsic};
use serde_yaml::Value;
use shared::api::Group;

fn event_name(method: &str, path: &str) -> String {
    let mut name = method[..1].to_string() + &method[1..].to_ascii_lowercase();
    for word in path.split(|c: char| !c.is_ascii_alphanumeric()) {
        if word.is_empty() || word == "api" || word == "v1" {
            continue;
        }
        let mut cs = word.chars();
        if let Some(first) = cs.next() {
            name.push(first.to_ascii_uppercase());
            name.extend(cs);
        }
    }
    name
}

fn paste_line(method: &str, path: &str) -> String {
    let quoted = if path.contains('{') {
        format!("\"{path}\"")
    } else {
        path.to_string()
    };
    format!(
        "        {}: {{ Type: HttpApi, Properties: {{ ApiId: !Ref HttpApi, Method: {method}, Path: {quoted} }} }}",
        event_name(method, path)
    )
}

/// The template's functions by binary name, failing on functions without a Binary.
fn functions_by_binary(t: &Value) -> BTreeMap<String, template::Function> {
    let mut out = BTreeMap::new();
    for f in template::functions(t) {
        let binary = f.binary.clone().unwrap_or_else(|| {
            panic!(
                "{}: Metadata.BuildProperties.Binary is missing (the workspace has several binaries)",
                f.logical_id
            )
        });
        assert!(
            out.insert(binary.clone(), f).is_none(),
            "two functions build the binary {binary}"
        );
    }
    out
}

#[tokio::test]
async fn the_template_routes_are_the_local_server_routes_on_the_right_functions() {
    let t = template::load();
    let by_binary = functions_by_binary(&t);
    let logical_to_binary: BTreeMap<String, String> = by_binary
        .iter()
        .map(|(b, f)| (f.logical_id.clone(), b.clone()))
        .collect();
    let probe = RouteProbe::new().await;
    let routes = template::http_routes(&t);

    let mut problems = Vec::new();
    let mut deployed: BTreeSet<(String, String)> = BTreeSet::new();
    let mut default_routes = Vec::new();
    for r in &routes {
        let binary = &logical_to_binary[&r.function];
        let (Some(method), Some(path)) = (&r.method, &r.path) else {
            default_routes.push(binary.clone());
            continue;
        };
        if !deployed.insert((method.clone(), path.clone())) {
            problems.push(format!("{method} {path} is mapped twice"));
        }
        let Some(group) = group_of_function(binary) else {
            problems.push(format!(
                "{method} {path} is mapped to {} ({binary}), which serves no route group",
                r.function
            ));
            continue;
        };
        let concrete = concrete_path(path);
        if probe.matched(group, method, &concrete).await.as_deref() != Some(path.as_str()) {
            let owner = probe
                .owner(method, &concrete)
                .await
                .map(|(g, p)| format!("{} serves it as {p}", function_name(g)))
                .unwrap_or_else(|| "no group serves it".into());
            problems.push(format!(
                "{method} {path} is mapped to {} ({binary}), whose router does not serve it: {owner}",
                r.function
            ));
        }
    }

    let local = local_routes();
    let mut missing: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (method, path) in local.difference(&deployed) {
        let owner = probe.owner(method, &concrete_path(path)).await;
        let function = owner
            .map(|(g, _)| {
                let bin = function_name(g);
                by_binary
                    .get(bin)
                    .map(|f| format!("{} ({bin})", f.logical_id))
                    .unwrap_or_else(|| format!("a new function for {bin}"))
            })
            .unwrap_or_else(|| "(no group serves it?)".into());
        missing
            .entry(function)
            .or_default()
            .push(paste_line(method, path));
    }
    for (function, lines) in &missing {
        problems.push(format!(
            "routes the local server serves but template.yaml does not; add to the Events of {function}:\n{}",
            lines.join("\n")
        ));
    }
    for (method, path) in deployed.difference(&local) {
        problems.push(format!(
            "{method} {path} is in template.yaml but the local server does not serve it \
             (remove it, or add the route and its OpenAPI entry / UNDOCUMENTED_ROUTES)"
        ));
    }

    let default_binary = function_name(DEFAULT_ROUTE_GROUP).to_string();
    if default_routes != [default_binary.clone()] {
        problems.push(format!(
            "exactly one $default route (an HttpApi event without Path/Method) belongs on \
             {default_binary}; found on: {default_routes:?}"
        ));
    }
    assert!(
        problems.is_empty(),
        "template.yaml and the local server disagree:\n\n{}",
        problems.join("\n\n")
    );
}

/// The binaries of the packages under `functions/` (from each `[[bin]]` name).
fn function_binaries() -> BTreeSet<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions");
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).expect("functions/") {
        let manifest = entry.expect("entry").path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let mut in_bin = false;
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                in_bin = line == "[[bin]]";
            } else if in_bin && let Some(v) = line.strip_prefix("name") {
                let name = v
                    .trim_start()
                    .trim_start_matches('=')
                    .trim()
                    .trim_matches('"');
                out.insert(name.to_string());
            }
        }
    }
    out
}

#[test]
fn every_function_binary_is_deployed_and_every_group_has_its_function() {
    let t = template::load();
    let in_template: BTreeSet<String> = functions_by_binary(&t).into_keys().collect();
    let built = function_binaries();
    assert_eq!(
        built.difference(&in_template).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "binaries under functions/ without an AWS::Serverless::Function in template.yaml"
    );
    assert_eq!(
        in_template.difference(&built).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "template.yaml builds binaries that no package under functions/ defines"
    );
    for g in Group::ALL {
        assert!(
            built.contains(function_name(g)),
            "{g:?}: its function {} is not a binary under functions/",
            function_name(g)
        );
    }
}

#[test]
fn every_function_is_a_rust_arm64_function_on_al2023() {
    let t = template::load();
    for f in template::functions(&t) {
        let id = &f.logical_id;
        let prop = |key: &str| effective(&t, &f, key).cloned().unwrap_or(Value::Null);
        assert_eq!(
            f.resource["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{id}: Metadata.BuildMethod"
        );
        assert_eq!(
            prop("Runtime").as_str(),
            Some("provided.al2023"),
            "{id}: Runtime"
        );
        assert_eq!(prop("Handler").as_str(), Some("bootstrap"), "{id}: Handler");
        assert_eq!(
            prop("Architectures")
                .as_sequence()
                .map(|s| s.iter().filter_map(Value::as_str).collect::<Vec<_>>()),
            Some(vec!["arm64"]),
            "{id}: Architectures"
        );
        assert_eq!(
            prop("LoggingConfig")["LogFormat"].as_str(),
            Some("JSON"),
            "{id}: LoggingConfig.LogFormat"
        );
        let env = &t["Globals"]["Function"]["Environment"]["Variables"];
        for var in ["OW_TABLE_NAME", "OW_SECRETS_ARN", "RUST_LOG"] {
            assert!(
                !env[var].is_null()
                    || !f.resource["Properties"]["Environment"]["Variables"][var].is_null(),
                "{id}: environment variable {var}"
            );
        }
    }
}

#[test]
fn the_table_matches_the_dynamodb_adapter() {
    let t = template::load();
    let table = &t["Resources"]["Table"]["Properties"];
    let keys = |schema: &Value| -> Vec<(String, String)> {
        schema
            .as_sequence()
            .into_iter()
            .flatten()
            .map(|k| {
                (
                    k["AttributeName"].as_str().unwrap_or_default().to_string(),
                    k["KeyType"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    };
    let pair = |a: &str, b: &str| vec![(a.into(), "HASH".into()), (b.into(), "RANGE".into())];
    assert_eq!(keys(&table["KeySchema"]), pair("pk", "sk"));
    let gsis: BTreeMap<String, (Vec<(String, String)>, String)> = table["GlobalSecondaryIndexes"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|g| {
            (
                g["IndexName"].as_str().unwrap_or_default().to_string(),
                (
                    keys(&g["KeySchema"]),
                    g["Projection"]["ProjectionType"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                ),
            )
        })
        .collect();
    assert_eq!(
        gsis,
        BTreeMap::from([
            (
                "gsi1".to_string(),
                (pair("g1pk", "g1sk"), "ALL".to_string())
            ),
            (
                "gsi2".to_string(),
                (pair("g2pk", "g2sk"), "ALL".to_string())
            ),
        ])
    );
    assert_eq!(table["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
    assert_eq!(
        table["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some("ttl")
    );
    assert_eq!(
        table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
        Some(true)
    );
}

#[test]
fn the_job_queue_outlasts_its_consumer_and_has_a_dead_letter_queue() {
    let t = template::load();
    let jobs = &t["Mappings"]["Limits"]["Jobs"];
    let timeout = jobs["FunctionTimeout"]
        .as_i64()
        .expect("Jobs.FunctionTimeout");
    let visibility = jobs["VisibilityTimeout"]
        .as_i64()
        .expect("Jobs.VisibilityTimeout");
    assert!(
        visibility >= 6 * timeout,
        "the visibility timeout ({visibility} s) must be at least 6x the consumer's timeout ({timeout} s)"
    );
    let queue = &t["Resources"]["JobQueue"]["Properties"];
    let dlq = intrinsic(&queue["RedrivePolicy"]["deadLetterTargetArn"]);
    assert!(
        matches!(&dlq, Some((tag, v)) if tag == "GetAtt" && v.as_str() == Some("JobDeadLetterQueue.Arn")),
        "JobQueue redrives to JobDeadLetterQueue: {dlq:?}"
    );
    // Consumers of the queue (SQS events) use the timeout the visibility timeout was sized for.
    for f in template::functions(&t) {
        let Some(events) = f.resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        if events.values().any(|e| e["Type"].as_str() == Some("SQS")) {
            let own = intrinsic(&f.resource["Properties"]["Timeout"]);
            assert!(
                matches!(&own, Some((tag, _)) if tag == "FindInMap"),
                "{}: an SQS consumer sets Timeout: !FindInMap [Limits, Jobs, FunctionTimeout]",
                f.logical_id
            );
        }
    }
}
