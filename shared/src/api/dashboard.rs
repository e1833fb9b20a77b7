//! Dashboard statistics (api.md #87), read from the counters the write paths maintain
//! (`repo::stats`): one point read, no scan.

use axum::Json;
use axum::extract::State as St;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::State;
use crate::auth::guard::AuthDeveloper;
use crate::error::ApiResult;
use crate::store::Counters;

pub fn openapi_router() -> OpenApiRouter<State> {
    OpenApiRouter::new().routes(routes!(dashboard_stats))
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
