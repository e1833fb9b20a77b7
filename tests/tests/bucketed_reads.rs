//! `15min` and `1hour` timeseries over real HTTP on both table adapters, against buckets
//! computed here from the pushed samples: whole buckets come from the day aggregates, partial
//! ones at either end of the range from the samples. Also: a user whose chunks predate the
//! aggregates (they are rebuilt by a job, answers unchanged meanwhile), the retention sweep
//! trimming a day's aggregate and a provider's data deletion taking its aggregates along.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use ow_e2e::{Server, Storage};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::store::{Index, Key, Query, SkRange};

const KEY_HEADER: &str = "X-Open-Wearables-API-Key";

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-03-01T20:00:00Z")
        .expect("t0")
        .to_utc()
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Where the samples' zone offset changes (inside a bucket).
fn zone_change() -> DateTime<Utc> {
    t0() + Duration::minutes(4 * 60 + 7)
}

fn zone_at(at: DateTime<Utc>) -> &'static str {
    if at < zone_change() {
        "+01:00"
    } else {
        "-05:00"
    }
}

/// One pushed sample: (device, instant, value in thousandths, is it a step count).
type Sample = (&'static str, DateTime<Utc>, i64, bool);

/// Eight hours of heart rate every 7 s from the watch (across the UTC midnight, the zone
/// changing half way), two hours every 30 s from a ring, and a step count every minute.
fn samples() -> Vec<Sample> {
    let mut out = Vec::new();
    for i in 0..(8 * 3600 / 7) {
        let milli = 55_000 + (i * 37 % 60) * 1000 + (i % 4) * 250;
        out.push(("Watch", t0() + Duration::seconds(i * 7), milli, false));
    }
    for i in 0..(2 * 3600 / 30) {
        let milli = 48_000 + (i * 13 % 31) * 1000 + (i % 3) * 333;
        out.push((
            "Ring",
            t0() + Duration::seconds(3 * 3600 + i * 30),
            milli,
            false,
        ));
    }
    for i in 0..(8 * 60) {
        out.push((
            "Watch",
            t0() + Duration::minutes(i),
            (i * 7 % 17) * 1000,
            true,
        ));
    }
    out
}

fn record(s: &Sample) -> Value {
    let (device, at, milli, steps) = *s;
    let zone = zone_at(at);
    let (kind, unit) = if steps {
        ("HKQuantityTypeIdentifierStepCount", "count")
    } else {
        ("HKQuantityTypeIdentifierHeartRate", "count/min")
    };
    json!({"type": kind, "unit": unit, "value": milli as f64 / 1000.0,
           "startDate": rfc(at), "endDate": rfc(at), "zoneOffset": zone,
           "source": {"name": format!("Ada's {device}"), "bundleIdentifier": "com.apple.health.81A2",
                      "deviceModel": device, "productType": format!("{device}7,5")}})
}

async fn push(s: &Server, key: &str, user: &str) {
    let all = samples();
    for part in all.chunks(1000) {
        let body = json!({"provider": "apple", "sdkVersion": "1.0.0",
                          "syncTimestamp": "2025-03-02T06:00:00Z",
                          "data": {"records": part.iter().map(record).collect::<Vec<_>>()}});
        let r = s
            .http
            .post(s.url(&format!("/api/v1/sdk/users/{user}/sync")))
            .header(KEY_HEADER, key)
            .json(&body)
            .send()
            .await
            .expect("push");
        assert_eq!(r.status(), StatusCode::ACCEPTED);
    }
    s.state.jobs_idle().await;
}

/// The buckets of `[from, to)` computed from the samples: (bucket start, device) → value,
/// the mean of heart rate rounded half away from zero to a thousandth, the sum of steps.
fn expected(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    width: i64,
    steps: bool,
    kept_from: DateTime<Utc>,
) -> BTreeMap<(String, String), (f64, String)> {
    let mut acc: BTreeMap<(String, String), (i64, i64, &'static str)> = BTreeMap::new();
    for (device, at, milli, is_steps) in samples() {
        if is_steps != steps || at < from || at >= to || at < kept_from {
            continue;
        }
        let start = at.timestamp().div_euclid(width) * width;
        let start = DateTime::from_timestamp(start, 0).expect("start");
        let e = acc
            .entry((rfc(start), device.to_string()))
            .or_insert((0, 0, zone_at(at)));
        e.0 += 1;
        e.1 += milli;
    }
    acc.into_iter()
        .map(|(k, (n, sum, zone))| {
            let milli = if steps {
                sum
            } else {
                (sum.abs() * 2 + n) / (2 * n) * sum.signum()
            };
            (k, (milli as f64 / 1000.0, zone.to_string()))
        })
        .collect()
}

async fn buckets(
    s: &Server,
    key: &str,
    user: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    res: &str,
    steps: bool,
) -> BTreeMap<(String, String), (f64, String)> {
    let kind = if steps { "steps" } else { "heart_rate" };
    let path = format!(
        "/api/v1/users/{user}/timeseries?start_time={}&end_time={}&types={kind}&resolution={res}&limit=100",
        rfc(from),
        rfc(to)
    );
    let r = s
        .http
        .get(s.url(&path))
        .header(KEY_HEADER, key)
        .send()
        .await
        .expect("read");
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["pagination"]["has_more"], false, "{res} {from} {to}");
    let rows = v["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        v["pagination"]["total_count"].as_u64(),
        Some(rows.len() as u64)
    );
    let mut out = BTreeMap::new();
    for row in rows {
        assert_eq!(row["type"], kind);
        let key = (
            row["timestamp"].as_str().expect("ts").to_string(),
            row["source"]["device"]
                .as_str()
                .expect("device")
                .to_string(),
        );
        assert!(
            out.insert(
                key,
                (
                    row["value"].as_f64().expect("value"),
                    row["zone_offset"].as_str().unwrap_or("none").to_string()
                )
            )
            .is_none(),
            "one bucket per start and source"
        );
    }
    out
}

/// Every window and resolution equals the buckets computed from the samples.
async fn all_windows_agree(
    s: &Server,
    key: &str,
    user: &str,
    kept_from: DateTime<Utc>,
    what: &str,
) {
    let at = |m: i64| t0() + Duration::seconds(m);
    let windows = [
        (at(-3600), at(9 * 3600)),                 // everything, aligned
        (at(7 * 60 + 13), at(6 * 3600 + 48 * 60)), // both ends inside buckets
        (at(3 * 3600 + 100), at(3 * 3600 + 700)),  // inside one bucket
        (at(4 * 3600), at(4 * 3600 + 900)),        // just the midnight bucket
        (at(3 * 3600 + 59 * 60), at(5 * 3600 + 1)),
    ];
    for (from, to) in windows {
        for (res, width) in [("15min", 900), ("1hour", 3600)] {
            for steps in [false, true] {
                let want = expected(from, to, width, steps, kept_from);
                let got = buckets(s, key, user, from, to, res, steps).await;
                assert_eq!(got, want, "{what}: {res} steps={steps} {from}..{to}");
            }
        }
    }
}

async fn count_prefix(s: &Server, user: &str, prefix: &str) -> usize {
    let q = Query::partition(Index::Primary, format!("USER#{user}"))
        .range(SkRange::Prefix(prefix.to_string()));
    shared::store::query_all(s.state.db.table.as_ref(), q)
        .await
        .expect("query")
        .len()
}

async fn bucketed_reads(storage: Storage) {
    let s = Server::start(storage).await;
    let key = s.api_key(&s.login().await).await;

    // A user created with the aggregates: reads use them from the first push.
    let user = s.new_user(&key).await;
    push(&s, &key, &user).await;
    assert_eq!(
        count_prefix(&s, &user, "TA#").await,
        // Two UTC days each of the watch's heart rate, the ring's and the steps.
        6
    );
    all_windows_agree(&s, &key, &user, t0() - Duration::days(1), "new user").await;

    // A user whose chunks were stored before the aggregates existed.
    let legacy = s.new_user(&key).await;
    push(&s, &key, &legacy).await;
    let pk = format!("USER#{legacy}");
    let q = Query::partition(Index::Primary, pk.clone()).range(SkRange::Prefix("TA".into()));
    let doomed: Vec<Key> = shared::store::query_all(s.state.db.table.as_ref(), q)
        .await
        .expect("query")
        .iter()
        .map(|i| i.key())
        .collect();
    assert_eq!(doomed.len(), 7, "six aggregates and the marker");
    s.state.db.table.batch_delete(doomed).await.expect("delete");
    all_windows_agree(&s, &key, &legacy, t0() - Duration::days(1), "legacy user").await;
    s.state.jobs_idle().await;
    assert_eq!(
        count_prefix(&s, &legacy, "TA#").await,
        6,
        "the read asked for the aggregates to be rebuilt"
    );
    assert_eq!(count_prefix(&s, &legacy, "TAREADY").await, 1);
    all_windows_agree(&s, &key, &legacy, t0() - Duration::days(1), "rebuilt").await;

    // Retention at 23:30 deletes the hours before 23:00, in the aggregates too.
    let uid = user.parse().expect("uuid");
    s.state
        .db
        .sweep_user_before(uid, t0() + Duration::minutes(210))
        .await
        .expect("sweep");
    all_windows_agree(
        &s,
        &key,
        &user,
        t0() + Duration::hours(3),
        "after retention",
    )
    .await;

    // Deleting the provider's data takes its aggregates along.
    s.state
        .db
        .delete_provider_data(uid, "apple")
        .await
        .expect("delete");
    assert_eq!(count_prefix(&s, &user, "TA#").await, 0);
    let empty = buckets(
        &s,
        &key,
        &user,
        t0(),
        t0() + Duration::hours(8),
        "1hour",
        false,
    )
    .await;
    assert!(empty.is_empty(), "{empty:?}");
}

#[tokio::test]
async fn bucketed_reads_embedded() {
    bucketed_reads(Storage::Embedded).await;
}

#[tokio::test]
async fn bucketed_reads_dynamodb() {
    bucketed_reads(Storage::Dynamo).await;
}
