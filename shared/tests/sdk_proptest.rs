//! The SDK parser never panics, whatever the input.

use proptest::prelude::*;
use serde_json::{Value, json};
use shared::domain::sdk::{SdkProvider, parse_sdk_payload};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("2025-03-01T10:00:00Z"),
            Just("+01:00"),
            Just("HEART_RATE"),
            Just("light"),
            Just("mmol/L"),
            Just("1e400"),
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        let keys = prop_oneof![
            Just("type".to_owned()),
            Just("value".to_owned()),
            Just("unit".to_owned()),
            Just("startDate".to_owned()),
            Just("endDate".to_owned()),
            Just("zoneOffset".to_owned()),
            Just("source".to_owned()),
            Just("values".to_owned()),
            Just("stage".to_owned()),
            Just("operatingSystemVersion".to_owned()),
            "[a-zA-Z]{1,8}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(keys, inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_sdk_payload(&bytes, None);
        let _ = parse_sdk_payload(&bytes, Some(SdkProvider::Google));
    }

    #[test]
    fn arbitrary_json_never_panics(v in arb_json()) {
        let bytes = serde_json::to_vec(&v).unwrap_or_default();
        let _ = parse_sdk_payload(&bytes, None);
    }

    #[test]
    fn arbitrary_items_never_panic(
        records in prop::collection::vec(arb_json(), 0..6),
        workouts in prop::collection::vec(arb_json(), 0..4),
        sleep in prop::collection::vec(arb_json(), 0..4),
    ) {
        let body = json!({
            "provider": "apple", "sdkVersion": "1", "syncTimestamp": "2025-03-02T00:00:00Z",
            "data": {"records": records, "workouts": workouts, "sleep": sleep}
        });
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let batch = parse_sdk_payload(&bytes, None);
        prop_assert!(batch.is_ok());
        if let Ok(b) = batch {
            prop_assert!(b.dropped_count + b.records_saved >= b.samples.len());
        }
    }
}
