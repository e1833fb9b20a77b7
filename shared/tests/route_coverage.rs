//! Every `(METHOD, path)` of the reference's OpenAPI document (`fixtures/upstream-routes.txt`,
//! taken from `../shared/spec/upstream/openapi.json`) is served, or is on the list of
//! deliberate differences below, which the README repeats with the same reasons. The router
//! serves exactly what the generated document lists (`routes.rs` checks that), so comparing
//! the documents compares the served routes.

use std::collections::BTreeSet;

/// Reference routes not served, each with its reason. Keep in step with the README's
/// "Deliberate differences" (route list).
const NOT_SERVED: &[(&str, &str, &str)] = &[
    (
        "GET",
        "/api/v1/oura/webhooks/subscriptions",
        "legacy Oura path; /providers/oura/webhooks/subscriptions serves it",
    ),
    (
        "POST",
        "/api/v1/oura/webhooks/subscriptions",
        "legacy Oura path; /providers/oura/webhooks/subscriptions serves it",
    ),
    (
        "POST",
        "/api/v1/oura/webhooks/subscriptions/renew",
        "legacy Oura path; /providers/oura/webhooks/subscriptions/renew serves it",
    ),
];

/// `/a/{x}/b` and `/a/{y}/b` are the same route: parameter names are not part of it.
fn shape(path: &str) -> String {
    path.split('/')
        .map(|seg| if seg.starts_with('{') { "{}" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

fn upstream() -> BTreeSet<(String, String)> {
    include_str!("fixtures/upstream-routes.txt")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (m, p) = l.split_once(' ').expect("METHOD path");
            (m.to_string(), shape(p))
        })
        .collect()
}

fn served() -> BTreeSet<(String, String)> {
    shared::openapi::operations()
        .into_iter()
        .map(|(m, p)| (m.to_ascii_uppercase(), shape(&p)))
        .collect()
}

#[test]
fn every_reference_route_is_served_or_a_listed_difference() {
    let (up, ours) = (upstream(), served());
    assert!(up.len() > 100, "{} reference routes", up.len());
    let listed: BTreeSet<(String, String)> = NOT_SERVED
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    let missing: Vec<String> = up
        .iter()
        .filter(|r| !ours.contains(*r) && !listed.contains(*r))
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(
        missing.is_empty(),
        "reference routes neither served nor listed as differences: {missing:#?}"
    );
    // The list stays truthful: nothing on it is served, everything on it is a reference route.
    for (m, p, why) in NOT_SERVED {
        let r = (m.to_string(), p.to_string());
        assert!(
            !ours.contains(&r),
            "{m} {p} is served now: drop it from NOT_SERVED ({why})"
        );
        assert!(up.contains(&r), "{m} {p} is not a reference route");
    }
}
