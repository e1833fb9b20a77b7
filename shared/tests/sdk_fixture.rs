//! Parses the real 1,000-record Apple SDK payload from the spec samples and pins the counts.

use std::collections::BTreeMap;

use shared::domain::sdk::{SdkProvider, parse_sdk_payload};
use shared::domain::series::SeriesType;

const FIXTURE: &[u8] = include_bytes!("fixtures/sdk_sync_request_1000.json");

#[test]
fn upstream_1000_record_payload() {
    let batch = parse_sdk_payload(FIXTURE, None).expect("fixture parses");
    assert_eq!(batch.provider, Some(SdkProvider::Apple));
    assert_eq!(batch.sdk_version, "1.0.0");
    assert_eq!(batch.records_saved, 1000);
    assert_eq!(batch.samples.len(), 1000);
    assert_eq!(batch.dropped_count, 0);
    assert!(batch.workouts.is_empty());
    assert!(batch.sleep_segments.is_empty());
    assert_eq!(batch.sleep_saved, 0);

    let mut per_series: BTreeMap<&str, (usize, f64)> = BTreeMap::new();
    for s in &batch.samples {
        let e = per_series.entry(s.series.code()).or_default();
        e.0 += 1;
        e.1 += s.value;
    }
    assert_eq!(per_series.len(), 3);
    assert_eq!(per_series["heart_rate"].0, 800);
    assert_eq!(per_series["steps"], (100, 10139.0));
    assert_eq!(per_series["energy"].0, 100);
    assert!((per_series["energy"].1 - 607.372).abs() < 1e-9);

    let first = &batch.samples[0];
    assert_eq!(first.series, SeriesType::HeartRate);
    assert_eq!(first.value, 72.0);
    assert_eq!(first.recorded_at.to_rfc3339(), "2025-03-01T00:00:00+00:00");
    assert_eq!(first.zone_offset.as_deref(), Some("+01:00"));
    assert_eq!(first.is_daily_total, None);
    assert_eq!(
        first.external_id.as_deref(),
        Some("C386BBC4-CD61-3E30-D8F1-6ADF91B7584A")
    );
    assert_eq!(first.source.source.as_deref(), Some("Ada's Apple Watch"));
    assert_eq!(first.source.device_model.as_deref(), Some("Watch"));
    assert_eq!(first.source.software_version.as_deref(), Some("10.3.1"));
    assert!(
        batch
            .samples
            .iter()
            .all(|s| s.zone_offset.as_deref() == Some("+01:00"))
    );
    assert!(
        batch
            .samples
            .iter()
            .filter(|s| s.series == SeriesType::Steps)
            .all(|s| s.is_daily_total == Some(false))
    );
}

#[test]
fn reingesting_the_fixture_yields_identical_keys() {
    let a = parse_sdk_payload(FIXTURE, None).expect("fixture parses");
    let b = parse_sdk_payload(FIXTURE, Some(SdkProvider::Apple)).expect("fixture parses");
    let keys = |batch: &shared::domain::sdk::ParsedBatch| {
        batch
            .samples
            .iter()
            .map(|s| s.dedup_key())
            .collect::<Vec<_>>()
    };
    let ka = keys(&a);
    assert_eq!(ka, keys(&b));
    let unique: std::collections::HashSet<_> = ka.iter().collect();
    assert_eq!(unique.len(), 1000);
}
