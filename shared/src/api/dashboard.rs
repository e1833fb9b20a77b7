//! Dashboard statistics (api.md #87) and the data-lifecycle settings (#89–#91), read from
//! the counters the write paths maintain (`repo::stats`): point reads, no scan.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State as St;
use axum::http::StatusCode;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::State;
use crate::auth::guard::AuthDeveloper;
use crate::error::{ApiError, ApiResult};
use crate::jobs::Job;
use crate::repo::lifecycle::LifecycleSetting;
use crate::store::Counters;

pub fn openapi_router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(dashboard_stats))
        .routes(routes!(get_archival, put_archival))
        .routes(routes!(run_archival))
}

/// How many providers `top_providers` lists.
const TOP_PROVIDERS: usize = 6;

/// The reference's `SystemInfoResponse` from the instance counters.
pub fn stats_body(c: &Counters) -> Value {
    let n = |k: &str| c.get(k).copied().unwrap_or(0).max(0);
    let mut top: Vec<(String, i64)> = c
        .iter()
        .filter_map(|(k, v)| {
            let p = k.strip_prefix("active_")?;
            (p != "connections" && *v > 0).then(|| (p.to_string(), *v))
        })
        .collect();
    // Most active connections first; ties by provider name.
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    top.truncate(TOP_PROVIDERS);
    let (workouts, sleep, cycles) = (n("workout"), n("sleep"), n("menstrual_cycle"));
    json!({
        "total_users": {"count": n("users")},
        "active_conn": {"count": n("active_connections")},
        "data_points": {"count": n("samples"), "archived": 0},
        "event_records": {
            "count": workouts + sleep + cycles,
            "workouts": workouts,
            "sleep": sleep,
            "menstrual_cycles": cycles,
        },
        "connections_coverage": {
            "users_with_active": n("users_with_active"),
            "users_with_multi_active": n("users_with_multi_active"),
            "top_providers": top
                .into_iter()
                .map(|(p, count)| json!({"provider": p, "count": count}))
                .collect::<Vec<_>>(),
        },
    })
}

/// Instance statistics: users, active connections, data points, events, connection coverage.
#[utoipa::path(get, path = "/api/v1/dashboard/stats", tag = "dashboard",
    responses((status = 200, description = "SystemInfoResponse"), (status = 401)))]
pub async fn dashboard_stats(St(state): St<State>, _: AuthDeveloper) -> ApiResult<Json<Value>> {
    let counters = state.db.instance_counters().await?;
    Ok(Json(stats_body(&counters)))
}

/// `1536` → `"1.50 KB"`, as the reference prints sizes (binary units, two decimals).
pub fn pretty_bytes(n: i64) -> String {
    let n = n.max(0) as f64;
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if n < 1024.0 {
        return format!("{n} B");
    }
    let mut v = n / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.2} {}", UNITS[unit])
}

/// `ArchivalSettingWithEstimate` from the setting and the instance counters. Live data is the
/// sample chunks (their stored bytes and sample count are counted at write time); there is
/// no archive tier, no separate index for chunks, and other items are not sized yet (0).
pub fn archival_body(s: &LifecycleSetting, c: &Counters) -> Value {
    let n = |k: &str| c.get(k).copied().unwrap_or(0).max(0);
    let (data, rows) = (n("chunk_bytes"), n("samples"));
    let avg = if rows > 0 {
        (data as f64 / rows as f64 * 10.0).round() / 10.0
    } else {
        0.0
    };
    let growth = if s.delete_after_days.is_some() {
        "bounded"
    } else if s.archive_after_days.is_some() {
        "linear_efficient"
    } else {
        "linear"
    };
    json!({
        "settings": {"archive_after_days": s.archive_after_days, "delete_after_days": s.delete_after_days},
        "storage": {
            "live_data_bytes": data,
            "live_index_bytes": 0,
            "archive_data_bytes": 0,
            "archive_index_bytes": 0,
            "other_tables_bytes": 0,
            "total_bytes": data,
            "live_row_count": rows,
            "archive_row_count": 0,
            "avg_bytes_per_live_row": avg,
            "avg_bytes_per_archive_row": 0.0,
            "live_data_span_days": 0,
            "live_total_pretty": pretty_bytes(data),
            "live_data_pretty": pretty_bytes(data),
            "live_index_pretty": pretty_bytes(0),
            "archive_total_pretty": pretty_bytes(0),
            "archive_data_pretty": pretty_bytes(0),
            "archive_index_pretty": pretty_bytes(0),
            "other_tables_pretty": pretty_bytes(0),
            "total_pretty": pretty_bytes(data),
            "growth_class": growth,
        },
    })
}

/// The data-lifecycle settings and the storage estimate.
#[utoipa::path(get, path = "/api/v1/settings/archival", tag = "settings",
    responses((status = 200, description = "ArchivalSettingWithEstimate"), (status = 401)))]
pub async fn get_archival(St(state): St<State>, _: AuthDeveloper) -> ApiResult<Json<Value>> {
    let setting = state.db.lifecycle_setting().await?;
    let counters = state.db.instance_counters().await?;
    Ok(Json(archival_body(&setting, &counters)))
}

/// One day bound of the update body: an integer in `1..=max`, or null.
fn day_bound(body: &Value, field: &str, max: i64) -> ApiResult<Option<i64>> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(v)) => {
            let Some(d) = v.as_i64().filter(|_| v.is_i64() || v.is_u64()) else {
                return Err(ApiError::bad_request(format!(
                    "{field}: Input should be a valid integer"
                )));
            };
            if d < 1 {
                return Err(ApiError::bad_request(format!(
                    "{field}: Input should be greater than or equal to 1"
                )));
            }
            if d > max {
                return Err(ApiError::bad_request(format!(
                    "{field}: Input should be less than or equal to {max}"
                )));
            }
            Ok(Some(d))
        }
        Some(_) => Err(ApiError::bad_request(format!(
            "{field}: Input should be a valid integer"
        ))),
    }
}

/// Replace the data-lifecycle settings (an omitted field becomes null: disabled).
#[utoipa::path(put, path = "/api/v1/settings/archival", tag = "settings",
    responses((status = 200, description = "ArchivalSettingWithEstimate"), (status = 400), (status = 401)))]
pub async fn put_archival(
    St(state): St<State>,
    _: AuthDeveloper,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let v: Value = super::json_body(&body)?;
    if !v.is_object() {
        return Err(ApiError::bad_request("Input should be a valid dictionary"));
    }
    let setting = LifecycleSetting {
        archive_after_days: day_bound(&v, "archive_after_days", 3650)?,
        delete_after_days: day_bound(&v, "delete_after_days", 7300)?,
    };
    state.db.save_lifecycle_setting(&setting).await?;
    let counters = state.db.instance_counters().await?;
    Ok(Json(archival_body(&setting, &counters)))
}

/// Queue the retention job now (202); it deletes what the setting says is too old.
#[utoipa::path(post, path = "/api/v1/settings/archival/run", tag = "settings",
    responses((status = 202, description = "{task_id, status}"), (status = 401)))]
pub async fn run_archival(
    St(state): St<State>,
    _: AuthDeveloper,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let task_id = Uuid::new_v4();
    state
        .queue
        .enqueue(vec![Job::Retention { task_id }])
        .await
        .map_err(ApiError::internal)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"task_id": task_id, "status": "dispatched"})),
    ))
}

#[cfg(test)]
mod tests {
    use super::pretty_bytes;

    #[test]
    fn sizes_print_as_the_reference_prints_them() {
        assert_eq!(pretty_bytes(0), "0 B");
        assert_eq!(pretty_bytes(24_576), "24.00 KB");
        assert_eq!(pretty_bytes(25_477_120), "24.30 MB");
        assert_eq!(pretty_bytes(59_113_472), "56.38 MB");
    }
}
