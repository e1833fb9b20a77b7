//! Ultrahuman Ring Air, Partnership API (providers.md §4.9): one `user_data/metrics` call per
//! UTC calendar day, mapped into heart rate, HRV (SDNN), body temperature, intraday steps (plus
//! the ring's day total), VO2max, active minutes, the night's sleep session (stage minutes, no
//! timeline) and the recovery / movement indexes as health scores; token revocation on
//! disconnect. Ultrahuman has no webhooks.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{Value, json};

use super::payload::{midnight, num};
use super::sync::{FetchError, Fetcher, Pulled, PulledSample, PulledScore, PulledSleep};
use crate::domain::provider::Provider;
use crate::domain::series::SeriesType;

/// Data API root under the provider origin (`https://partner.ultrahuman.com`).
pub const API_ROOT: &str = "/api/partners/v1";
/// The per-day metrics endpoint.
pub const METRICS_PATH: &str = "/api/partners/v1/user_data/metrics";
/// Token revocation (form `token`, `client_id`, `client_secret`).
pub const REVOKE_PATH: &str = "/api/partners/oauth/revoke";
/// What the reference calls the source of every Ultrahuman record.
pub const SOURCE_NAME: &str = "Ultrahuman Ring Air";

/// An epoch-seconds field as an instant.
fn epoch(v: Option<&Value>) -> Option<DateTime<Utc>> {
    let v = v?;
    let secs = v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))?;
    DateTime::from_timestamp(secs, 0)
}

/// The UTC calendar days touched by `[start, end)`, first to last.
pub fn days(start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<NaiveDate> {
    if end <= start {
        return Vec::new();
    }
    let last = (end - Duration::seconds(1)).date_naive();
    let mut out = Vec::new();
    let mut d = start.date_naive();
    while d <= last {
        out.push(d);
        match d.succ_opt() {
            Some(n) => d = n,
            None => break,
        }
    }
    out
}

/// `values[{value, timestamp}]` of one metric as samples (`positive_only` drops zeros, steps).
fn value_series(obj: &Value, series: SeriesType, positive_only: bool, out: &mut Pulled) {
    let Some(values) = obj.get("values").and_then(Value::as_array) else {
        return;
    };
    for item in values {
        let (Some(value), Some(at)) = (num(item, "value"), epoch(item.get("timestamp"))) else {
            continue;
        };
        if positive_only && value <= 0.0 {
            continue;
        }
        out.samples.push(PulledSample {
            series,
            at,
            value,
            zone: None,
            daily_total: series.is_daily_total(),
        });
    }
}

/// The day's instant of a once-a-day metric: its `day_start_timestamp`, else the asked date.
fn day_start(obj: &Value, date: NaiveDate) -> DateTime<Utc> {
    epoch(obj.get("day_start_timestamp")).unwrap_or_else(|| midnight(date))
}

/// A once-a-day `value` at the day's start.
fn once_a_day(
    obj: &Value,
    date: NaiveDate,
    series: SeriesType,
    daily_total: Option<bool>,
    out: &mut Pulled,
) {
    if let Some(value) = num(obj, "value") {
        out.samples.push(PulledSample {
            series,
            at: day_start(obj, date),
            value,
            zone: None,
            daily_total,
        });
    }
}

/// Seconds → whole minutes.
fn minutes(seconds: f64) -> i64 {
    (seconds / 60.0).floor() as i64
}

/// The `Sleep` metric: one session with stage minutes (Ultrahuman gives no stage timeline).
fn map_sleep(obj: &Value, date: NaiveDate, out: &mut Pulled) {
    let (Some(start), Some(end)) = (
        epoch(obj.get("bedtime_start")),
        epoch(obj.get("bedtime_end")),
    ) else {
        return;
    };
    if end <= start {
        return;
    }
    let by_type = |list: &str, field: &str, kind: &str| -> Option<f64> {
        obj.get(list)?
            .as_array()?
            .iter()
            .find(|m| m.get("type").and_then(Value::as_str) == Some(kind))
            .and_then(|m| num(m, field))
    };
    let quick = |kind: &str| by_type("quick_metrics", "value", kind);
    let stage = |kind: &str| by_type("sleep_stages", "stage_time", kind).map_or(0, minutes);
    let (deep, light, rem, awake) = (
        stage("deep_sleep"),
        stage("light_sleep"),
        stage("rem_sleep"),
        stage("awake"),
    );
    let in_bed = quick("time_in_bed")
        .map(minutes)
        .filter(|m| *m > 0)
        .unwrap_or_else(|| (end - start).num_minutes());
    let staged = deep + light + rem;
    let total = if staged > 0 {
        staged
    } else {
        quick("total_sleep")
            .map(minutes)
            .unwrap_or((in_bed - awake).max(0))
    };
    out.sleeps.push(PulledSleep {
        external_id: Some(format!("sleep-{date}")),
        start,
        end,
        zone: None,
        is_nap: false,
        total_sleep_minutes: total,
        time_in_bed_minutes: in_bed,
        deep_minutes: deep,
        light_minutes: light,
        rem_minutes: rem,
        awake_minutes: awake,
        efficiency: quick("sleep_efic").or_else(|| num(obj, "sleep_efficiency")),
        stages: Vec::new(),
    });
}

/// Maps one day's `metric_data` list.
pub fn map_day(metrics: &[Value], date: NaiveDate, out: &mut Pulled) {
    for m in metrics {
        let (Some(kind), Some(obj)) = (m.get("type").and_then(Value::as_str), m.get("object"))
        else {
            continue;
        };
        match kind {
            "hr" => value_series(obj, SeriesType::HeartRate, false, out),
            "hrv" => value_series(obj, SeriesType::HeartRateVariabilitySdnn, false, out),
            "temp" => value_series(obj, SeriesType::BodyTemperature, false, out),
            "steps" => {
                value_series(obj, SeriesType::Steps, true, out);
                // The ring's own day total wins over the intraday sum in the roll-ups.
                if let Some(total) = num(obj, "total") {
                    out.samples.push(PulledSample {
                        series: SeriesType::Steps,
                        at: day_start(obj, date),
                        value: total,
                        zone: None,
                        daily_total: Some(true),
                    });
                }
            }
            "vo2_max" => once_a_day(obj, date, SeriesType::Vo2Max, None, out),
            "active_minutes" => once_a_day(obj, date, SeriesType::ActiveTime, Some(true), out),
            "Sleep" | "sleep" => map_sleep(obj, date, out),
            "recovery_index" | "movement_index" => {
                if let Some(value) = num(obj, "value") {
                    out.scores.push(PulledScore {
                        qualifier: None,
                        category: if kind == "recovery_index" {
                            "recovery"
                        } else {
                            "activity"
                        }
                        .into(),
                        value: Some(value),
                        recorded_at: day_start(obj, date),
                        zone: None,
                        components: Some(json!({ kind: {"value": value, "qualifier": null} })),
                    });
                }
            }
            _ => {}
        }
    }
}

/// Pulls `[start, end)`: one metrics call per UTC day. A day the API refuses with a permanent
/// error is skipped; 401, 429, 5xx and timeouts fail the window (it is retried).
pub async fn pull(
    f: &Fetcher<'_>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Pulled, FetchError> {
    let mut out = Pulled {
        source_name: SOURCE_NAME.into(),
        device_model: Some(SOURCE_NAME.into()),
        ..Pulled::default()
    };
    for date in days(start, end) {
        let day = date.format("%Y-%m-%d").to_string();
        let v = match f.get(METRICS_PATH, &[("date", day.clone())]).await {
            Ok(v) => v,
            Err(FetchError::Permanent(m)) => {
                tracing::warn!(provider = "ultrahuman", date = %day, "day skipped: {m}");
                continue;
            }
            Err(e) => return Err(e),
        };
        if let Some(metrics) = v.pointer("/data/metric_data").and_then(Value::as_array) {
            map_day(metrics, date, &mut out);
        }
    }
    Ok(out)
}

/// Revokes the access token at Ultrahuman (`POST /api/partners/oauth/revoke`, form
/// `token`, `client_id`, `client_secret`).
pub async fn deregister(f: &Fetcher<'_>) -> Result<(), FetchError> {
    let (id, secret) = f
        .client
        .map(|c| (c.client_id.as_str(), c.client_secret.as_str()))
        .unwrap_or_default();
    let url = f.url(REVOKE_PATH, &[])?;
    let resp = f
        .http
        .post(url)
        .form(&[
            ("token", f.token),
            ("client_id", id),
            ("client_secret", secret),
        ])
        .header("accept", "application/json")
        .timeout(f.timeout)
        .send()
        .await
        .map_err(|e| FetchError::Transient(format!("{REVOKE_PATH}: {e}")))?;
    let status = resp.status();
    match status.as_u16() {
        s if (200..300).contains(&s) => Ok(()),
        401 => Err(FetchError::Unauthorized),
        s if s == 429 || s >= 500 => Err(FetchError::Transient(format!(
            "{REVOKE_PATH}: HTTP {status}"
        ))),
        _ => Err(FetchError::Permanent(format!(
            "{REVOKE_PATH}: HTTP {status}"
        ))),
    }
}

/// The Ultrahuman integration.
pub struct Ultrahuman;

#[async_trait::async_trait]
impl super::Integration for Ultrahuman {
    fn provider(&self) -> Provider {
        Provider::Ultrahuman
    }

    fn user_info_endpoint(&self) -> Option<super::UserInfoEndpoint> {
        Some(super::UserInfoEndpoint {
            path: "/api/partners/v1/user_data/user_info",
            id: "/user_id",
            username: Some("/username"),
        })
    }

    async fn pull(
        &self,
        _state: &crate::app::AppState,
        _user: uuid::Uuid,
        f: &Fetcher<'_>,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Pulled, FetchError> {
        pull(f, start, end).await
    }

    async fn deregister(&self, f: &Fetcher<'_>) -> Result<(), FetchError> {
        deregister(f).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's sample day (providers.md §4.9.3).
    fn sample() -> Value {
        json!({"data":{"metric_data":[
            {"type":"hr","object":{"day_start_timestamp":1717372800,"title":"Heart Rate","unit":"bpm",
              "values":[{"value":63,"timestamp":1717373105},{"value":59,"timestamp":1717373405}],
              "last_reading":{"value":59,"timestamp":1717373405}}},
            {"type":"hrv","object":{"day_start_timestamp":1717372800,"values":[{"value":44,"timestamp":1717373105}],"avg":44}},
            {"type":"temp","object":{"day_start_timestamp":1717372800,"values":[{"value":35.9,"timestamp":1717373105}],"unit":"°C"}},
            {"type":"steps","object":{"day_start_timestamp":1717372800,"values":[{"value":0,"timestamp":1717373105},
              {"value":188,"timestamp":1717402005}],"total":9120}},
            {"type":"vo2_max","object":{"value":41,"day_start_timestamp":1717372800}},
            {"type":"active_minutes","object":{"value":52,"day_start_timestamp":1717372800}},
            {"type":"Sleep","object":{"bedtime_start":1717368600,"bedtime_end":1717394400,
              "quick_metrics":[{"type":"time_in_bed","value":25800,"title":"TIME IN BED"},{"type":"total_sleep","value":23700},
                {"type":"sleep_efic","value":92}],
              "sleep_stages":[{"type":"deep_sleep","stage_time":4500},{"type":"light_sleep","stage_time":12600},
                {"type":"rem_sleep","stage_time":6600},{"type":"awake","stage_time":2100}]}},
            {"type":"recovery_index","object":{"value":81,"day_start_timestamp":1717372800}},
            {"type":"night_rhr","object":{"value":52,"day_start_timestamp":1717372800}}]}})
    }

    fn mapped() -> Pulled {
        let mut out = Pulled::default();
        let v = sample();
        let metrics = v
            .pointer("/data/metric_data")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let date = NaiveDate::from_ymd_opt(2024, 6, 3).expect("date");
        map_day(&metrics, date, &mut out);
        out
    }

    fn values(p: &Pulled, series: SeriesType) -> Vec<(i64, f64, Option<bool>)> {
        p.samples
            .iter()
            .filter(|s| s.series == series)
            .map(|s| (s.at.timestamp(), s.value, s.daily_total))
            .collect()
    }

    #[test]
    fn ring_metrics_map_to_their_series() {
        let p = mapped();
        assert_eq!(
            values(&p, SeriesType::HeartRate),
            vec![(1717373105, 63.0, None), (1717373405, 59.0, None)]
        );
        assert_eq!(
            values(&p, SeriesType::HeartRateVariabilitySdnn),
            vec![(1717373105, 44.0, None)]
        );
        assert_eq!(
            values(&p, SeriesType::BodyTemperature),
            vec![(1717373105, 35.9, None)]
        );
        assert_eq!(
            values(&p, SeriesType::Steps),
            vec![
                (1717402005, 188.0, Some(false)),
                (1717372800, 9120.0, Some(true))
            ],
            "zero step readings are dropped; the day total is a daily-total row"
        );
        assert_eq!(
            values(&p, SeriesType::Vo2Max),
            vec![(1717372800, 41.0, None)]
        );
        assert_eq!(
            values(&p, SeriesType::ActiveTime),
            vec![(1717372800, 52.0, Some(true))]
        );
        assert!(
            values(&p, SeriesType::RestingHeartRate).is_empty(),
            "night_rhr is ignored"
        );
    }

    #[test]
    fn the_sleep_metric_becomes_one_session_with_stage_minutes() {
        let p = mapped();
        assert_eq!(p.sleeps.len(), 1);
        let s = &p.sleeps[0];
        assert_eq!(s.external_id.as_deref(), Some("sleep-2024-06-03"));
        assert_eq!(
            (s.start.timestamp(), s.end.timestamp()),
            (1717368600, 1717394400)
        );
        assert_eq!(
            (
                s.deep_minutes,
                s.light_minutes,
                s.rem_minutes,
                s.awake_minutes
            ),
            (75, 210, 110, 35)
        );
        assert_eq!(s.total_sleep_minutes, 395, "deep + light + rem");
        assert_eq!(s.time_in_bed_minutes, 430);
        assert_eq!(s.efficiency, Some(92.0));
        assert!(!s.is_nap && s.stages.is_empty());
    }

    #[test]
    fn without_stages_total_sleep_falls_back_to_in_bed_minus_awake() {
        let obj = json!({"bedtime_start":1717368600,"bedtime_end":1717394400,
            "quick_metrics":[{"type":"time_in_bed","value":25800}],"sleep_efficiency":88,
            "sleep_stages":[{"type":"awake","stage_time":1800}]});
        let mut p = Pulled::default();
        let date = NaiveDate::from_ymd_opt(2024, 6, 3).expect("date");
        map_day(&[json!({"type":"Sleep","object":obj})], date, &mut p);
        assert_eq!(p.sleeps[0].total_sleep_minutes, 400);
        assert_eq!(p.sleeps[0].efficiency, Some(88.0));
    }

    #[test]
    fn recovery_and_movement_indexes_become_scores() {
        let mut p = mapped();
        let date = NaiveDate::from_ymd_opt(2024, 6, 3).expect("date");
        map_day(
            &[json!({"type":"movement_index","object":{"value":67}})],
            date,
            &mut p,
        );
        let scores: Vec<(&str, Option<f64>, i64)> = p
            .scores
            .iter()
            .map(|s| (s.category.as_str(), s.value, s.recorded_at.timestamp()))
            .collect();
        assert_eq!(
            scores,
            vec![
                ("recovery", Some(81.0), 1717372800),
                ("activity", Some(67.0), 1717372800)
            ],
            "without day_start_timestamp the score sits at the asked date's midnight"
        );
        assert_eq!(
            p.scores[0].components,
            Some(json!({"recovery_index": {"value": 81.0, "qualifier": null}}))
        );
    }

    #[test]
    fn a_window_covers_every_utc_day_it_touches() {
        let t = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .expect("t")
                .with_timezone(&Utc)
        };
        let d = days(t("2024-06-01T12:00:00Z"), t("2024-06-03T00:00:00Z"));
        assert_eq!(
            d.iter().map(ToString::to_string).collect::<Vec<_>>(),
            vec!["2024-06-01", "2024-06-02"]
        );
        assert!(days(t("2024-06-01T12:00:00Z"), t("2024-06-01T12:00:00Z")).is_empty());
        assert_eq!(
            days(t("2024-06-01T12:00:00Z"), t("2024-06-01T12:00:01Z")).len(),
            1
        );
    }
}
