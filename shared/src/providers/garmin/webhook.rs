//! The Garmin push webhook: the `garmin-client-id` check and the events of one push body.

use std::collections::BTreeMap;

use serde_json::Value;

use super::mapping::{map_item, text};
use super::{BACKFILL_TYPES, CLIENT_ID_HEADER, DATA_KEYS, DETAILS_KEY, push_key, scope_of};
use crate::providers::sync::Pulled;
use crate::providers::webhook::{
    WebhookError, WebhookEvent, WebhookReply, WebhookRequest, constant_time_eq,
};

fn is_empty(p: &Pulled) -> bool {
    p.samples.is_empty() && p.workouts.is_empty() && p.sleeps.is_empty() && p.scores.is_empty()
}

/// The events of one push body: one `Data` per (user, summary type, device) in processing
/// order, then `Scope` and `Deauthorized` events. PING-style items (`callbackURL`) are skipped;
/// keys we do not store (`activityFiles`, `moveIQActivities`, `mct`, ...) are logged.
pub fn parse_push(body: &Value, ingest_samples: bool) -> Vec<WebhookEvent> {
    let mut events = Vec::new();
    let Some(obj) = body.as_object() else {
        return events;
    };
    let items_of = |key: &str| {
        obj.get(key)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    };
    for key in DATA_KEYS.iter().copied().chain([DETAILS_KEY]) {
        // (user, device) → what their items produced, in first-seen order.
        let mut groups: BTreeMap<(usize, String, Option<String>), Pulled> = BTreeMap::new();
        let mut order: Vec<(String, Option<String>)> = Vec::new();
        for item in items_of(key) {
            let Some(user) = text(item, "userId") else {
                tracing::warn!(summary_type = key, "garmin push item without userId");
                continue;
            };
            if item.get("callbackURL").is_some() {
                tracing::warn!(
                    summary_type = key,
                    "garmin PING notification skipped (configure PUSH delivery)"
                );
                continue;
            }
            let device = match key {
                "activities" => text(item, "deviceName"),
                "activityDetails" => item
                    .get("summary")
                    .and_then(|s| text(s, "deviceName"))
                    .or_else(|| text(item, "deviceName")),
                _ => None,
            };
            let id = (user, device);
            let idx = match order.iter().position(|o| *o == id) {
                Some(i) => i,
                None => {
                    order.push(id.clone());
                    order.len() - 1
                }
            };
            let entry = groups
                .entry((idx, id.0, id.1.clone()))
                .or_insert_with(|| Pulled {
                    source_name: id.1.clone().unwrap_or_else(|| "Garmin".into()),
                    device_model: id.1.clone(),
                    ..Pulled::default()
                });
            map_item(key, item, ingest_samples, entry);
        }
        for ((_, user, _), pulled) in groups {
            if !is_empty(&pulled) {
                events.push(WebhookEvent::Data {
                    provider_user_id: user,
                    pulled,
                });
            }
        }
    }
    for (key, items) in obj {
        let known = DATA_KEYS.contains(&key.as_str())
            || key == DETAILS_KEY
            || key == "userPermissionsChange"
            || key == "deregistrations";
        if !known {
            let n = items.as_array().map_or(0, Vec::len);
            tracing::info!(summary_type = %key, items = n, "garmin push type not stored");
        }
    }
    for item in items_of("userPermissionsChange") {
        let Some(user) = text(item, "userId") else {
            continue;
        };
        events.push(WebhookEvent::Scope {
            provider_user_id: user,
            scope: scope_of(item),
        });
    }
    for item in items_of("deregistrations") {
        if let Some(user) = text(item, "userId") {
            events.push(WebhookEvent::Deauthorized {
                provider_user_id: user,
            });
        }
    }
    // Last: which Backfill API types each user received (their backfill progress), once the
    // data itself is stored.
    for path in BACKFILL_TYPES {
        let mut users: Vec<String> = Vec::new();
        for item in items_of(push_key(path)) {
            if item.get("callbackURL").is_some() {
                continue;
            }
            if let Some(user) = text(item, "userId")
                && !users.contains(&user)
            {
                users.push(user);
            }
        }
        events.extend(users.into_iter().map(|user| WebhookEvent::Delivered {
            provider_user_id: user,
            kind: path.to_string(),
        }));
    }
    events
}

fn truthy(v: Option<&str>) -> bool {
    v.is_some_and(|s| {
        matches!(
            s.trim().to_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

/// Verifies and parses one inbound Garmin push (api.md §15.1): the `garmin-client-id` header
/// must be present and, when our client is configured, equal its client id (Appendix C #4);
/// else 401. GET has no challenge (400).
pub fn webhook(req: &WebhookRequest<'_>) -> Result<WebhookReply, WebhookError> {
    if *req.method == axum::http::Method::GET {
        return Err(WebhookError::NotSupported(
            "Provider 'garmin' does not support webhook verification requests (GET)".into(),
        ));
    }
    let Some(client_id) = req.header(CLIENT_ID_HEADER) else {
        return Err(WebhookError::bad_signature());
    };
    if let Some(c) = req.client
        && !constant_time_eq(client_id.trim().as_bytes(), c.client_id.as_bytes())
    {
        return Err(WebhookError::bad_signature());
    }
    let body = req.json()?;
    if !body.is_object() {
        return Err(WebhookError::BadRequest(
            "Invalid payload: expected a JSON object keyed by summary type".into(),
        ));
    }
    let ingest = truthy(
        req.settings
            .get("GARMIN_INGEST_WORKOUT_SAMPLES")
            .map(String::as_str),
    );
    Ok(WebhookReply::Accept(parse_push(&body, ingest)))
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use serde_json::json;

    use super::super::mapping::{map_daily, map_sleep, title_words};
    use super::*;
    use crate::domain::series::SeriesType;
    use crate::domain::sleep::SleepStage;

    const USER: &str = "9c1e77b2-5f0a-4d61-a3c8-2b7e04d9f150";

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("time").to_utc()
    }

    fn data(events: &[WebhookEvent]) -> Vec<(&str, &Pulled)> {
        events
            .iter()
            .filter_map(|e| match e {
                WebhookEvent::Data {
                    provider_user_id,
                    pulled,
                } => Some((provider_user_id.as_str(), pulled)),
                _ => None,
            })
            .collect()
    }

    fn values(p: &Pulled, series: SeriesType) -> Vec<f64> {
        p.samples
            .iter()
            .filter(|s| s.series == series)
            .map(|s| s.value)
            .collect()
    }

    #[test]
    fn an_activity_push_becomes_a_workout_on_its_device() {
        let body = json!({"activities":[{"userId":USER,"summaryId":"20917733410",
            "activityId":20917733410_i64,"activityName":"Evening Ride","activityType":"ROAD_BIKING",
            "startTimeInSeconds":1717437600,"startTimeOffsetInSeconds":7200,"durationInSeconds":4980,
            "distanceInMeters":38210.4,"activeKilocalories":842,"averageHeartRateInBeatsPerMinute":141,
            "maxHeartRateInBeatsPerMinute":176,"averageSpeedInMetersPerSecond":7.67,
            "averageBikingCadenceInRevPerMinute":86.0,"deviceName":"Edge 840","manual":false}]});
        let events = parse_push(&body, false);
        let d = data(&events);
        assert_eq!(d.len(), 1);
        let (user, p) = d[0];
        assert_eq!(user, USER);
        assert_eq!(p.device_model.as_deref(), Some("Edge 840"));
        let w = &p.workouts[0];
        assert_eq!(w.external_id.as_deref(), Some("20917733410"));
        assert_eq!(w.workout_type.as_deref(), Some("cycling"));
        assert_eq!(w.start, t("2024-06-03T18:00:00Z"));
        assert_eq!(w.end, t("2024-06-03T19:23:00Z"));
        assert_eq!(w.zone.as_deref(), Some("+02:00"));
        assert_eq!(w.details.energy_burned, 842.0);
        assert_eq!(w.details.distance, Some(38210.4));
        assert_eq!(w.details.heart_rate_avg, Some(141.0));
        assert_eq!(w.details.heart_rate_max, Some(176));
        assert_eq!(w.details.average_speed, Some(7.67));
    }

    #[test]
    fn activity_details_use_the_mapping_table_and_optional_samples() {
        let body = json!({"activityDetails":[{"userId":USER,"summaryId":"20917733410-detail",
            "activityId":20917733410_i64,"summary":{"activityType":"TRAIL_RUNNING","startTimeInSeconds":1717437600,
            "startTimeOffsetInSeconds":-18000,"durationInSeconds":600,"elevationGainInMeters":112.5,
            "averageSpeedInMetersPerSecond":3.1,"deviceName":"Fenix 7"},
            "samples":[{"startTimeInSeconds":1717437600,"heartRate":120,"speedMetersPerSecond":3.0,
            "airTemperatureCelcius":18.5},{"startTimeInSeconds":1717437601,"heartRate":122}]}]});
        let without = parse_push(&body, false);
        let (_, p) = data(&without)[0];
        let w = &p.workouts[0];
        assert_eq!(w.workout_type.as_deref(), Some("trail_running"));
        assert_eq!(w.external_id.as_deref(), Some("20917733410"));
        assert_eq!(w.details.total_elevation_gain, Some(112.5));
        assert_eq!(w.zone.as_deref(), Some("-05:00"));
        assert!(p.samples.is_empty());
        let with = parse_push(&body, true);
        let (_, p) = data(&with)[0];
        assert_eq!(values(p, SeriesType::HeartRate), vec![120.0, 122.0]);
        assert_eq!(values(p, SeriesType::AirTemperature), vec![18.5]);
    }

    #[test]
    fn a_sleep_push_maps_stages_score_and_naps() {
        let body = json!({"sleeps":[{"userId":USER,"summaryId":"x2f9c41-665d9a30-6a40",
            "calendarDate":"2024-06-04","startTimeInSeconds":1717443600,"startTimeOffsetInSeconds":7200,
            "durationInSeconds":26400,"deepSleepDurationInSeconds":5100,"lightSleepDurationInSeconds":13800,
            "remSleepInSeconds":6000,"awakeDurationInSeconds":1500,"validation":"ENHANCED_FINAL",
            "sleepLevelsMap":{"light":[{"startTimeInSeconds":1717443600,"endTimeInSeconds":1717447200}],
              "deep":[{"startTimeInSeconds":1717447200,"endTimeInSeconds":1717452300}],
              "rem":[{"startTimeInSeconds":1717452300,"endTimeInSeconds":1717458300}],
              "awake":[{"startTimeInSeconds":1717458300,"endTimeInSeconds":1717459800}],
              "unmeasurable":[{"startTimeInSeconds":1717459800,"endTimeInSeconds":1717460000}]},
            "overallSleepScore":{"value":84,"qualifierKey":"GOOD"},
            "sleepScores":{"totalDuration":{"qualifierKey":"GOOD"},"stress":{"qualifierKey":"FAIR"}},
            "naps":[{"napStartTimeInSeconds":1717498800,"napDurationInSeconds":1500,
              "napOffsetInSeconds":7200,"napValidation":"DEVICE"}]}]});
        let events = parse_push(&body, false);
        let (_, p) = data(&events)[0];
        assert_eq!(p.sleeps.len(), 2);
        let s = &p.sleeps[0];
        assert!(!s.is_nap);
        assert_eq!(
            (s.start, s.end),
            (t("2024-06-03T19:40:00Z"), t("2024-06-04T03:00:00Z"))
        );
        assert_eq!(
            (
                s.deep_minutes,
                s.light_minutes,
                s.rem_minutes,
                s.awake_minutes
            ),
            (85, 230, 100, 25)
        );
        assert_eq!((s.total_sleep_minutes, s.time_in_bed_minutes), (415, 440));
        assert_eq!(s.efficiency, Some(94.32));
        let kinds: Vec<SleepStage> = s.stages.iter().map(|x| x.stage).collect();
        assert_eq!(
            kinds,
            vec![
                SleepStage::Light,
                SleepStage::Deep,
                SleepStage::Rem,
                SleepStage::Awake
            ],
            "unknown stage keys are ignored, the rest sorted"
        );
        let nap = &p.sleeps[1];
        assert!(nap.is_nap);
        assert_eq!((nap.total_sleep_minutes, nap.time_in_bed_minutes), (25, 25));
        assert_eq!(nap.external_id, s.external_id);
        let score = &p.scores[0];
        assert_eq!(
            (score.category.as_str(), score.value),
            ("sleep", Some(84.0))
        );
        assert_eq!(score.recorded_at, s.start);
        assert_eq!(score.qualifier.as_deref(), Some("GOOD"));
        assert_eq!(
            score.components,
            Some(json!({"totalDuration":{"value":null,"qualifier":"GOOD"},
                "stress":{"value":null,"qualifier":"FAIR"}}))
        );
    }

    #[test]
    fn qualifiers_accept_both_sleep_keys_and_title_case_stress() {
        let mut p = Pulled::default();
        map_sleep(
            &json!({"summaryId":"a","startTimeInSeconds":1000,"durationInSeconds":600,
                "overallSleepScore":{"value":61,"qualifier":"FAIR"}}),
            &mut p,
        );
        assert_eq!(p.scores[0].qualifier.as_deref(), Some("FAIR"));
        assert_eq!(title_words("very_stressful"), "Very Stressful");
        assert_eq!(title_words("REST"), "Rest");
        let mut d = Pulled::default();
        map_daily(
            &json!({"startTimeInSeconds":1000,"averageStressLevel":-1,"stressQualifier":"unknown"}),
            &mut d,
        );
        assert!(d.scores.is_empty(), "no stress level, no score");
    }

    #[test]
    fn a_sleep_ends_at_its_last_stage_when_that_is_later() {
        let v = json!({"userId":USER,"summaryId":"s","startTimeInSeconds":1000,"durationInSeconds":600,
            "sleepLevelsMap":{"light":[{"startTimeInSeconds":1000,"endTimeInSeconds":1900}]},
            "lightSleepDurationInSeconds":900});
        let mut p = Pulled::default();
        map_sleep(&v, &mut p);
        assert_eq!((p.sleeps[0].end - p.sleeps[0].start).num_seconds(), 900);
        assert_eq!(p.sleeps[0].time_in_bed_minutes, 15);
        assert!(p.scores.is_empty(), "no score fields, no score");
    }

    #[test]
    fn dailies_and_stress_details_map_totals_series_and_scores() {
        let body = json!({"dailies":[{"userId":USER,"summaryId":"x2f9c41-665e1b80-15180-0",
          "calendarDate":"2024-06-04","startTimeInSeconds":1717452000,"startTimeOffsetInSeconds":7200,
          "durationInSeconds":86400,"steps":11408,"distanceInMeters":8735.0,"activeKilocalories":566,
          "bmrKilocalories":1694,"floorsClimbed":7,"activeTimeInSeconds":6120,
          "restingHeartRateInBeatsPerMinute":49,"averageHeartRateInBeatsPerMinute":64,
          "averageStressLevel":31,"maxStressLevel":91,"stressQualifier":"balanced",
          "timeOffsetHeartRateSamples":{"0":56,"900":54,"1800":55}}],
         "stressDetails":[{"userId":USER,"summaryId":"x2f9c41-665e1b80",
          "calendarDate":"2024-06-04","startTimeInSeconds":1717452000,"startTimeOffsetInSeconds":7200,
          "durationInSeconds":86400,"timeOffsetStressLevelValues":{"0":18,"180":-1,"360":27},
          "timeOffsetBodyBatteryValues":{"0":71,"180":71,"360":70}}]});
        let events = parse_push(&body, false);
        let d = data(&events);
        assert_eq!(d.len(), 2, "one event per user and type");
        let daily = d[0].1;
        let total = |series| {
            daily
                .samples
                .iter()
                .find(|s| s.series == series)
                .map(|s| (s.value, s.daily_total, s.at))
        };
        let start = t("2024-06-03T22:00:00Z");
        assert_eq!(total(SeriesType::Steps), Some((11408.0, Some(true), start)));
        assert_eq!(total(SeriesType::Energy), Some((566.0, Some(true), start)));
        assert_eq!(
            total(SeriesType::ActiveTime),
            Some((102.0, Some(true), start))
        );
        assert_eq!(
            total(SeriesType::FlightsClimbed),
            Some((7.0, Some(true), start))
        );
        assert_eq!(
            total(SeriesType::DistanceWalkingRunning),
            Some((8735.0, Some(true), start))
        );
        assert_eq!(
            total(SeriesType::RestingHeartRate),
            Some((49.0, None, start))
        );
        assert_eq!(values(daily, SeriesType::HeartRate), vec![56.0, 54.0, 55.0]);
        assert_eq!(daily.scores[0].category, "stress");
        assert_eq!(daily.scores[0].value, Some(31.0));
        assert_eq!(daily.scores[0].qualifier.as_deref(), Some("Balanced"));
        let stress = d[1].1;
        assert_eq!(
            values(stress, SeriesType::GarminStressLevel),
            vec![18.0, 27.0]
        );
        assert_eq!(
            values(stress, SeriesType::GarminBodyBattery),
            vec![71.0, 71.0, 70.0]
        );
        assert_eq!(stress.scores[0].category, "body_battery");
        assert_eq!(stress.scores[0].qualifier, None);
        assert_eq!(stress.scores[0].value, Some(71.0));
        assert!(
            stress
                .samples
                .iter()
                .all(|s| s.zone.as_deref() == Some("+02:00"))
        );
    }

    #[test]
    fn wellness_series_use_their_units() {
        let body = json!({
          "hrv":[{"userId":USER,"summaryId":"x2f9c41-665da5e0","calendarDate":"2024-06-04",
            "startTimeInSeconds":1717446624,"startTimeOffsetInSeconds":7200,"durationInSeconds":23100,
            "lastNightAvg":58,"lastNight5MinHigh":81,"hrvValues":{"300":54,"600":61,"900":57}}],
          "bodyComps":[{"userId":USER,"summaryId":"x2f9c41-665e4d00","measurementTimeInSeconds":1717464320,
            "measurementTimeOffsetInSeconds":7200,"weightInGrams":71850,"bodyFatInPercent":17.2,
            "bodyMassIndex":22.4,"muscleMassInGrams":33600}],
          "pulseox":[{"userId":USER,"summaryId":"p","startTimeInSeconds":1717446624,
            "startTimeOffsetInSeconds":7200,"avgSpo2":96,"timeOffsetSpo2Values":{"0":95,"60":0,"120":97}}],
          "allDayRespiration":[{"userId":USER,"summaryId":"r","startTimeInSeconds":1717446624,
            "avgWakingRespirationValue":14.5,"timeOffsetEpochToBreaths":{"0":13.9,"60":-1}}],
          "userMetrics":[{"userId":USER,"summaryId":"m","calendarDate":"2024-06-04","vo2Max":51,"fitnessAge":33}],
          "bloodPressures":[{"userId":USER,"summaryId":"b","measurementTimeInSeconds":1717464320,
            "measurementTimeOffsetInSeconds":3600,"systolic":121,"diastolic":79}],
          "skinTemp":[{"userId":USER,"summaryId":"k","startTimeInSeconds":1717446624,"skinTemperature":33.4}],
          "healthSnapshot":[{"userId":USER,"summaryId":"h","startTimeInSeconds":1717446624,
            "summaries":[{"summaryType":"heart_rate","avgValue":62},{"summaryType":"stress","avgValue":-1},
            {"summaryType":"sdrr_hrv","avgValue":48.5}]}],
          "epochs":[{"userId":USER,"summaryId":"x2f9c41-665e1b80-384-3","startTimeInSeconds":1717452900,
            "startTimeOffsetInSeconds":7200,"steps":310,"activeKilocalories":12.5,"meanHeartRateInBeatsPerMinute":0}],
          "moveIQActivities":[{"userId":USER,"summaryId":"q"}],
          "activityFiles":[{"userId":USER,"summaryId":"20917733410","fileType":"FIT",
            "callbackURL":"https://apis.garmin.com/wellness-api/rest/activityFile?id=1"}]
        });
        let events = parse_push(&body, false);
        let all: Vec<&Pulled> = data(&events).into_iter().map(|(_, p)| p).collect();
        let find = |series| -> Vec<f64> { all.iter().flat_map(|p| values(p, series)).collect() };
        assert_eq!(
            find(SeriesType::HeartRateVariabilityRmssd),
            vec![58.0, 54.0, 61.0, 57.0]
        );
        assert_eq!(find(SeriesType::Weight), vec![71.85]);
        assert_eq!(find(SeriesType::SkeletalMuscleMass), vec![33.6]);
        assert_eq!(find(SeriesType::BodyFatPercentage), vec![17.2]);
        assert_eq!(find(SeriesType::OxygenSaturation), vec![96.0, 95.0, 97.0]);
        assert_eq!(find(SeriesType::RespiratoryRate), vec![14.5, 13.9]);
        assert_eq!(find(SeriesType::Vo2Max), vec![51.0]);
        assert_eq!(find(SeriesType::GarminFitnessAge), vec![33.0]);
        assert_eq!(find(SeriesType::BloodPressureSystolic), vec![121.0]);
        assert_eq!(find(SeriesType::SkinTemperature), vec![33.4]);
        assert_eq!(
            find(SeriesType::HeartRate),
            vec![62.0],
            "zero epoch HR skipped"
        );
        assert_eq!(find(SeriesType::HeartRateVariabilitySdnn), vec![48.5]);
        assert!(find(SeriesType::GarminStressLevel).is_empty());
        let steps: Vec<Option<bool>> = all
            .iter()
            .flat_map(|p| p.samples.iter())
            .filter(|s| s.series == SeriesType::Steps)
            .map(|s| s.daily_total)
            .collect();
        assert_eq!(steps, vec![Some(false)], "epoch steps are intraday");
        let metrics = all
            .iter()
            .flat_map(|p| p.samples.iter())
            .find(|s| s.series == SeriesType::Vo2Max)
            .map(|s| s.at);
        assert_eq!(metrics, Some(t("2024-06-04T12:00:00Z")));
        let bp_zone = all
            .iter()
            .flat_map(|p| p.samples.iter())
            .find(|s| s.series == SeriesType::BloodPressureDiastolic)
            .and_then(|s| s.zone.clone());
        assert_eq!(bp_zone.as_deref(), Some("+01:00"));
    }

    #[test]
    fn several_users_ping_items_and_lifecycle_events() {
        let other = "0b55d3e1-7c2a-4f8e-91d0-6a3f2c8e1b47";
        let body = json!({
          "dailies":[
            {"userId":USER,"summaryId":"a","startTimeInSeconds":1717452000,"steps":100},
            {"userId":other,"summaryId":"b","startTimeInSeconds":1717452000,"steps":200},
            {"userId":USER,"summaryId":"c","startTimeInSeconds":1717538400,"steps":300},
            {"userId":USER,"callbackURL":"https://apis.garmin.com/wellness-api/rest/dailies?token=x"}],
          "userPermissionsChange":[{"userId":USER,"permissions":["HEALTH_EXPORT","ACTIVITY_EXPORT"]},
            {"userId":other,"permissions":[]}],
          "deregistrations":[{"userId":other}]
        });
        let events = parse_push(&body, false);
        let d = data(&events);
        assert_eq!(d.len(), 2);
        assert_eq!(
            (d[0].0, values(d[0].1, SeriesType::Steps)),
            (USER, vec![100.0, 300.0])
        );
        assert_eq!(
            (d[1].0, values(d[1].1, SeriesType::Steps)),
            (other, vec![200.0])
        );
        assert_eq!(
            events[2..],
            [
                WebhookEvent::Scope {
                    provider_user_id: USER.into(),
                    scope: "ACTIVITY_EXPORT HEALTH_EXPORT".into()
                },
                WebhookEvent::Scope {
                    provider_user_id: other.into(),
                    scope: String::new()
                },
                WebhookEvent::Deauthorized {
                    provider_user_id: other.into()
                },
                WebhookEvent::Delivered {
                    provider_user_id: USER.into(),
                    kind: "dailies".into()
                },
                WebhookEvent::Delivered {
                    provider_user_id: other.into(),
                    kind: "dailies".into()
                }
            ]
        );
    }

    #[test]
    fn activities_are_processed_before_their_details() {
        let body = json!({
          "activityDetails":[{"userId":USER,"activityId":7,"summary":{"activityType":"RUNNING",
            "startTimeInSeconds":1000,"durationInSeconds":60}}],
          "activities":[{"userId":USER,"activityId":7,"activityType":"RUNNING",
            "startTimeInSeconds":1000,"durationInSeconds":60,"activeKilocalories":9}]});
        let events = parse_push(&body, false);
        let d = data(&events);
        assert_eq!(d[0].1.workouts[0].details.energy_burned, 9.0);
        assert_eq!(d[1].1.workouts[0].details.energy_burned, 0.0);
    }

    mod verification {
        use super::*;
        use crate::config::OAuthClient;
        use axum::http::{HeaderMap, HeaderValue, Method};
        use std::collections::HashMap;

        fn client() -> OAuthClient {
            OAuthClient {
                client_id: "cid".into(),
                client_secret: "secret".into(),
                authorize_url: String::new(),
                token_url: String::new(),
                api_base: String::new(),
                scope: String::new(),
                redirect_uri: String::new(),
            }
        }

        fn call(
            method: Method,
            header: Option<&str>,
            body: &[u8],
            client: Option<&OAuthClient>,
        ) -> Result<WebhookReply, WebhookError> {
            let mut headers = HeaderMap::new();
            if let Some(h) = header {
                headers.insert(CLIENT_ID_HEADER, HeaderValue::from_str(h).expect("header"));
            }
            let (query, settings) = (HashMap::new(), HashMap::new());
            webhook(&WebhookRequest {
                method: &method,
                query: &query,
                headers: &headers,
                body,
                now: Utc::now(),
                client,
                settings: &settings,
                secret_key: "k",
            })
        }

        const BODY: &[u8] =
            br#"{"dailies":[{"userId":"u1","startTimeInSeconds":1717452000,"steps":5}]}"#;

        #[test]
        fn the_client_id_header_is_required_and_checked() {
            let c = client();
            let ok = call(Method::POST, Some("cid"), BODY, Some(&c)).expect("accepted");
            let WebhookReply::Accept(events) = ok else {
                panic!("accept expected");
            };
            assert!(
                matches!(&events[0], WebhookEvent::Data { provider_user_id, .. } if provider_user_id == "u1")
            );
            let missing = call(Method::POST, None, BODY, Some(&c)).expect_err("refused");
            assert_eq!(missing.status().as_u16(), 401);
            assert_eq!(missing.to_string(), "Invalid webhook signature");
            let wrong = call(Method::POST, Some("other"), BODY, Some(&c)).expect_err("refused");
            assert_eq!(wrong.status().as_u16(), 401);
            assert!(
                call(Method::POST, Some("anything"), BODY, None).is_ok(),
                "without a configured client only presence is checked"
            );
        }

        #[test]
        fn bad_json_get_and_non_objects_are_refused() {
            let c = client();
            let bad = call(Method::POST, Some("cid"), b"{nope", Some(&c)).expect_err("400");
            assert_eq!(
                (bad.status().as_u16(), bad.to_string().as_str()),
                (400, "Invalid JSON body")
            );
            let arr = call(Method::POST, Some("cid"), b"[]", Some(&c)).expect_err("400");
            assert_eq!(arr.status().as_u16(), 400);
            let get = call(Method::GET, None, b"", Some(&c)).expect_err("400");
            assert_eq!(get.status().as_u16(), 400);
        }
    }
}
