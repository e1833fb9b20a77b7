//! Vendor pass-through (#52, #53) end to end: our API calls the provider's own workouts API
//! with the user's stored token and answers its JSON unmodified (compared with the fake's
//! dataset), passes the query on in the provider's terms, refreshes a refused token once,
//! and maps the failures: 404 without a connection, 400 for Ultrahuman (no workouts API), 400 for bad
//! parameters, 401 without credentials, the provider's own 4xx, 502 when it is down.

use ow_e2e::providers::{KEY_HEADER, Rig};
use ow_fakes::FakeOptions;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn list(provider: &str, user: &str, query: &str) -> String {
    format!("/api/v1/providers/{provider}/users/{user}/workouts{query}")
}

fn detail(provider: &str, user: &str, id: &str, query: &str) -> String {
    format!("/api/v1/providers/{provider}/users/{user}/workouts/{id}{query}")
}

/// The fake's calls to `path` (`"<path> <query>"` entries).
fn calls_to(rig: &Rig, path: &str) -> Vec<String> {
    rig.fake
        .fake
        .calls()
        .into_iter()
        .filter(|c| c.split(' ').next() == Some(path))
        .collect()
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_default()
}

#[tokio::test]
async fn polar_exercises_and_one_exercise_pass_through_with_the_flags() {
    let rig = Rig::start("polar").await;
    let user = rig.connected_user().await;
    let exercises = rig.fake.fake.items("exercises");
    assert!(!exercises.is_empty(), "the fake has exercises");

    let a = rig
        .call("GET", &list("polar", &user, "?samples=true&zones=1"), None)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(
        a.body,
        Value::Array(exercises.clone()),
        "AccessLink's array as is"
    );
    assert_eq!(
        calls_to(&rig, "/v3/exercises").last().map(String::as_str),
        Some("/v3/exercises samples=true&zones=true&route=false")
    );

    let id = str_of(&exercises[0], "id").to_string();
    let a = rig
        .call("GET", &detail("polar", &user, &id, "?route=true"), None)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body, exercises[0]);
    let path = format!("/v3/exercises/{id}");
    assert_eq!(
        calls_to(&rig, &path).last().cloned(),
        Some(format!("{path} samples=false&zones=false&route=true"))
    );

    let a = rig
        .call("GET", &detail("polar", &user, "no-such-exercise", ""), None)
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
    assert!(
        str_of(&a.body, "detail").starts_with("Polar API error"),
        "{}",
        a.body
    );
}

#[tokio::test]
async fn suunto_workouts_page_by_since_limit_and_offset() {
    let rig = Rig::start_with(
        "suunto",
        FakeOptions::default(),
        &ow_fakes::suunto::app_settings(),
    )
    .await;
    let user = rig.connected_user().await;
    let mut all = rig.fake.fake.items("workouts");
    all.sort_by_key(|w| w["startTime"].as_i64().unwrap_or(0));
    assert!(all.len() >= 3, "{all:#?}");

    let a = rig
        .call("GET", &list("suunto", &user, "?limit=100"), None)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["payload"], Value::Array(all.clone()), "{}", a.body);
    assert!(a.body["error"].is_null() && a.body["metadata"].is_object());

    let a = rig
        .call(
            "GET",
            &list(
                "suunto",
                &user,
                "?limit=2&offset=1&since=1700000000&filter_by_modification_time=false",
            ),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["payload"], json!(all[1..3]));
    assert_eq!(
        calls_to(&rig, "/v3/workouts/").last().map(String::as_str),
        Some(
            "/v3/workouts/ since=1700000000000&limit=2&offset=1&filter-by-modification-time=false"
        ),
        "`since` goes out in Suunto's milliseconds"
    );

    // Suunto's own refusal keeps its status and text.
    let a = rig
        .call("GET", &list("suunto", &user, "?limit=0"), None)
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(
        str_of(&a.body, "detail").contains("limit must be between 1 and 100"),
        "{}",
        a.body
    );

    let key = str_of(&all[0], "workoutKey").to_string();
    let a = rig
        .call("GET", &detail("suunto", &user, &key, ""), None)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["payload"], all[0]);

    let a = rig
        .call("GET", &detail("suunto", &user, "nope", ""), None)
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
}

#[tokio::test]
async fn whoop_workouts_pass_through_within_the_summary_window() {
    let rig = Rig::start("whoop").await;
    let user = rig.connected_user().await;
    let mut all = rig.fake.fake.items("workout");
    assert!(!all.is_empty());
    all.sort_by_key(|w| std::cmp::Reverse(str_of(w, "start").to_string()));
    let first_page: Vec<Value> = all
        .iter()
        .take(ow_fakes::whoop::PAGE_SIZE)
        .cloned()
        .collect();

    let a = rig.call("GET", &list("whoop", &user, ""), None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["records"], Value::Array(first_page), "{}", a.body);
    assert!(
        calls_to(&rig, "/developer/v2/activity/workout")
            .last()
            .is_some_and(|c| c.ends_with(" limit=25")),
        "the limit is capped at Whoop's 25"
    );

    let a = rig
        .call(
            "GET",
            &list("whoop", &user, "?summary_start_time=2030-01-01"),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["records"], json!([]), "{}", a.body);

    let id = str_of(&all[0], "id").to_string();
    let a = rig
        .call("GET", &detail("whoop", &user, &id, ""), None)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body, all[0]);
}

#[tokio::test]
async fn oura_workout_collection_and_document_pass_through() {
    let rig = Rig::start("oura").await;
    let user = rig.connected_user().await;
    let workouts = rig.fake.fake.items("workout");
    assert_eq!(workouts.len(), 1, "{workouts:#?}");

    let a = rig
        .call(
            "GET",
            &list(
                "oura",
                &user,
                "?summary_start_time=2024-05-25&summary_end_time=2024-06-05T00:00:00Z",
            ),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body, json!({"data": workouts, "next_token": null}));
    assert_eq!(
        calls_to(&rig, "/v2/usercollection/workout")
            .last()
            .map(String::as_str),
        Some("/v2/usercollection/workout start_date=2024-05-25&end_date=2024-06-05")
    );

    let id = str_of(&workouts[0], "id").to_string();
    let a = rig.call("GET", &detail("oura", &user, &id, ""), None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body, workouts[0]);

    let a = rig
        .call("GET", &detail("oura", &user, "wk-unknown", ""), None)
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
    assert!(
        str_of(&a.body, "detail").starts_with("Oura API error"),
        "{}",
        a.body
    );
}

#[tokio::test]
async fn strava_activities_page_by_limit_and_offset_and_one_activity_is_detailed() {
    let rig = Rig::start("strava").await;
    let user = rig.connected_user().await;
    let start = |v: &Value| str_of(v, "start_date").to_string();
    let mut all = rig.fake.fake.items("activities");
    all.sort_by_key(start);
    assert!(all.len() >= 2, "{all:#?}");
    // The list shows Strava's summary representation.
    let summaries: Vec<Value> = all
        .iter()
        .map(|v| {
            let mut s = v.clone();
            if let Some(o) = s.as_object_mut() {
                o.remove("_calories");
            }
            s
        })
        .collect();

    let a = rig.call("GET", &list("strava", &user, ""), None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body, Value::Array(summaries.clone()));

    let a = rig
        .call("GET", &list("strava", &user, "?limit=1&offset=1"), None)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body, json!([summaries[1]]));
    assert_eq!(
        calls_to(&rig, "/api/v3/athlete/activities")
            .last()
            .map(String::as_str),
        Some("/api/v3/athlete/activities page=2&per_page=1")
    );

    let id = all[0]["id"].as_i64().expect("id").to_string();
    let a = rig
        .call("GET", &detail("strava", &user, &id, ""), None)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let mut expected = summaries[0].clone();
    expected["resource_state"] = json!(3);
    expected["calories"] = all[0].get("_calories").cloned().unwrap_or(json!(0.0));
    expected["description"] = json!("");
    assert_eq!(a.body, expected, "the detailed representation as is");

    let a = rig
        .call("GET", &detail("strava", &user, "42", ""), None)
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
}

#[tokio::test]
async fn without_an_active_connection_the_answer_is_404() {
    let rig = Rig::start("polar").await;
    let user = rig.new_user().await;
    for path in [list("polar", &user, ""), detail("polar", &user, "x", "")] {
        let a = rig.call("GET", &path, None).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}: {}", a.body);
        assert_eq!(
            str_of(&a.body, "detail"),
            format!("No active connection found for user {user} and provider 'polar'")
        );
    }
    // A disconnected user is no different.
    let user = rig.connected_user().await;
    let d = rig
        .call(
            "DELETE",
            &format!("/api/v1/users/{user}/connections/polar"),
            None,
        )
        .await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    let a = rig.call("GET", &list("polar", &user, ""), None).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
}

#[tokio::test]
async fn ultrahuman_has_no_workouts_api_400() {
    let rig = Rig::start("ultrahuman").await;
    let user = rig.connected_user().await;
    for path in [
        list("ultrahuman", &user, ""),
        detail("ultrahuman", &user, "w1", ""),
    ] {
        let a = rig.call("GET", &path, None).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{path}: {}", a.body);
        assert_eq!(
            str_of(&a.body, "detail"),
            "Provider 'ultrahuman' does not support workouts"
        );
    }
}

#[tokio::test]
async fn bad_parameters_are_400_and_credentials_are_required() {
    let rig = Rig::start("polar").await;
    let user = rig.connected_user().await;
    let before = calls_to(&rig, "/v3/exercises").len();
    for (path, expected) in [
        (
            list("polar", &user, "?limit=101"),
            "Input should be less than or equal to 100",
        ),
        (
            list("polar", &user, "?limit=ten"),
            "Input should be a valid integer, unable to parse string as an integer",
        ),
        (
            list("polar", &user, "?since=1.5"),
            "Input should be a valid integer, unable to parse string as an integer",
        ),
        (
            list("polar", &user, "?samples=maybe"),
            "Input should be a valid boolean, unable to interpret input",
        ),
        (
            detail("polar", &user, "x", "?zones=perhaps"),
            "Input should be a valid boolean, unable to interpret input",
        ),
        (
            list("polar", &user, "?summary_start_time=yesterday"),
            "Invalid datetime format: 'yesterday'. Expected ISO 8601 format or Unix timestamp.",
        ),
        (
            list(
                "polar",
                &user,
                "?summary_start_time=2024-06-05&summary_end_time=2024-06-01",
            ),
            "summary_start_time must be before summary_end_time",
        ),
    ] {
        let a = rig.call("GET", &path, None).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{path}: {}", a.body);
        assert_eq!(str_of(&a.body, "detail"), expected, "{path}");
    }
    for path in [list("Polar", &user, ""), list("polar", "not-a-uuid", "")] {
        let a = rig.call("GET", &path, None).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{path}: {}", a.body);
    }
    assert_eq!(
        calls_to(&rig, "/v3/exercises").len(),
        before,
        "nothing reached the provider"
    );

    let no_key = rig
        .http
        .get(rig.url(&list("polar", &user, "")))
        .send()
        .await
        .expect("request");
    assert_eq!(no_key.status(), StatusCode::UNAUTHORIZED);
    let body: Value = no_key.json().await.expect("json");
    assert_eq!(
        body["detail"],
        "Authentication required: provide JWT token or API key"
    );
    let bad_key = rig
        .http
        .get(rig.url(&detail("polar", &user, "x", "")))
        .header(KEY_HEADER, "sk-00000000000000000000000000000000")
        .send()
        .await
        .expect("request");
    assert_eq!(bad_key.status(), StatusCode::UNAUTHORIZED);
    // A developer token works as well as an API key (K).
    let jwt = rig.developer_token().await;
    let a = rig.dev_call(&jwt, "GET", &list("polar", &user, "")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

#[tokio::test]
async fn a_refused_token_is_refreshed_once_and_provider_failures_are_mapped() {
    let rig = Rig::start("whoop").await;
    let user = rig.connected_user().await;
    let path = list("whoop", &user, "");

    // The access token stops working: one refresh, then the call succeeds.
    let refreshes = rig.fake.fake.with(|s| s.refreshes);
    rig.fake.fake.expire_access_tokens();
    let a = rig.call("GET", &path, None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(rig.fake.fake.with(|s| s.refreshes), refreshes + 1);
    assert_eq!(rig.connection(&user).await["status"], "active");

    // Throttled and unavailable providers.
    rig.fake.fake.throttle(1);
    let a = rig.call("GET", &path, None).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{}", a.body);
    assert!(str_of(&a.body, "detail").starts_with("Whoop API error"));
    rig.fake.fake.fail(1);
    let a = rig.call("GET", &path, None).await;
    assert_eq!(a.status, StatusCode::BAD_GATEWAY, "{}", a.body);
    let a = rig.call("GET", &path, None).await;
    assert_eq!(a.status, StatusCode::OK, "the faults are over: {}", a.body);

    // The user revoked access at Whoop: the refresh is refused and the connection revoked.
    rig.fake.fake.revoke();
    let a = rig.call("GET", &path, None).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
    assert!(
        str_of(&a.body, "detail").contains("re-authorize"),
        "{}",
        a.body
    );
    assert_eq!(rig.connection(&user).await["status"], "revoked");
    let a = rig.call("GET", &path, None).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
}

#[tokio::test]
async fn a_token_about_to_expire_is_refreshed_before_the_call() {
    let opts = FakeOptions {
        expires_in: 120,
        ..FakeOptions::default()
    };
    let rig = Rig::start_with("strava", opts, &[]).await;
    let user = rig.connected_user().await;
    let refreshes = rig.fake.fake.with(|s| s.refreshes);
    let a = rig.call("GET", &list("strava", &user, ""), None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(
        rig.fake.fake.with(|s| s.refreshes) > refreshes,
        "a token living 2 minutes is refreshed first"
    );
}

#[tokio::test]
async fn garmin_rest_activities_pass_through_in_24_hour_windows() {
    let rig = Rig::start("garmin").await;
    let user = rig.connected_user().await;
    let activities = rig.fake.fake.items("activities");
    assert_eq!(activities.len(), 1, "{activities:#?}");

    let a = rig
        .call(
            "GET",
            &list(
                "garmin",
                &user,
                "?summary_start_time=2024-06-01&summary_end_time=2024-06-02",
            ),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body, Value::Array(activities.clone()));
    // Without a window: the last 24 hours of our clock (nothing uploaded then).
    let a = rig.call("GET", &list("garmin", &user, ""), None).await;
    assert_eq!((a.status, &a.body), (StatusCode::OK, &json!([])));
    let last = calls_to(&rig, "/wellness-api/rest/activities");
    let now = rig.now().timestamp();
    assert_eq!(
        last.last().cloned(),
        Some(format!(
            "/wellness-api/rest/activities uploadStartTimeInSeconds={}&uploadEndTimeInSeconds={now}",
            now - 86_400
        ))
    );
    // Garmin refuses more than 24 hours, and says so.
    let a = rig
        .call(
            "GET",
            &list(
                "garmin",
                &user,
                "?summary_start_time=2024-06-01&summary_end_time=2024-06-03",
            ),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(str_of(&a.body, "detail").starts_with("Garmin API error"));

    let id = str_of(&activities[0], "summaryId").to_string();
    let a = rig
        .call("GET", &detail("garmin", &user, &id, ""), None)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body, activities[0]);
}

#[tokio::test]
async fn google_exercise_sessions_pass_through() {
    let rig = Rig::start("google").await;
    let user = rig.connected_user().await;
    let sessions = rig.fake.fake.items("exercise");
    assert!(!sessions.is_empty());

    let a = rig
        .call("GET", &list("google", &user, "?limit=5"), None)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let names = |v: &[Value]| {
        let mut n: Vec<String> = v.iter().map(|p| str_of(p, "name").to_string()).collect();
        n.sort();
        n
    };
    let listed = a.body["dataPoints"].as_array().cloned().unwrap_or_default();
    assert_eq!(names(&listed), names(&sessions), "{}", a.body);
    assert!(
        calls_to(&rig, "/v4/users/me/dataTypes/exercise/dataPoints")
            .last()
            .is_some_and(|c| c.ends_with(" pageSize=5")),
        "no filter without a window"
    );

    let name = str_of(&sessions[0], "name").to_string();
    let id = name.rsplit('/').next().unwrap_or_default().to_string();
    let a = rig
        .call("GET", &detail("google", &user, &id, ""), None)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body, sessions[0]);
}

#[tokio::test]
async fn fitbit_and_sensorbio_lists_pass_through_and_have_no_single_workout() {
    let rig = Rig::start("fitbit").await;
    let user = rig.connected_user().await;
    let a = rig.call("GET", &list("fitbit", &user, ""), None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let ids = |v: &[Value]| {
        let mut n: Vec<i64> = v.iter().filter_map(|p| p["logId"].as_i64()).collect();
        n.sort_unstable();
        n
    };
    let listed = a.body["activities"].as_array().cloned().unwrap_or_default();
    let all = rig.fake.fake.items("activities");
    assert!(!all.is_empty());
    assert_eq!(ids(&listed), ids(&all), "{}", a.body);
    assert!(
        calls_to(&rig, "/1/user/-/activities/list.json")
            .last()
            .is_some_and(|c| c.contains("beforeDate=2024-06-11") && c.contains("sort=desc")),
        "the newest entries first without a window"
    );
    let a = rig
        .call("GET", &detail("fitbit", &user, "1", ""), None)
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);

    let rig = Rig::start("sensorbio").await;
    let user = rig.connected_user().await;
    let mut all = rig.fake.fake.items("activities");
    all.sort_by_key(|v| v["timestamp"].as_i64().unwrap_or(0));
    let a = rig.call("GET", &list("sensorbio", &user, ""), None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["data"], Value::Array(all), "{}", a.body);
    let a = rig
        .call("GET", &detail("sensorbio", &user, "act_1", ""), None)
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
}
