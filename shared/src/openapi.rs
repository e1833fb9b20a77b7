//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::OpenApi;

use crate::api::{
    auth, data, garmin_backfill, providers, root, sdk, settings, subscriptions, summaries,
    sync_status, users, webhooks,
};

/// The API description served at `/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Open Wearables API",
        description = "Open Wearables, serverless Rust edition."
    ),
    paths(
        root::root,
        auth::login,
        auth::logout,
        auth::change_password,
        auth::me,
        auth::update_me,
        auth::list_developers,
        auth::get_developer,
        auth::update_developer,
        auth::delete_developer,
        auth::list_api_keys,
        auth::create_api_key,
        auth::delete_api_key,
        auth::rename_api_key,
        auth::rotate_api_key,
        auth::list_applications,
        auth::create_application,
        auth::delete_application,
        auth::rotate_application_secret,
        auth::exchange_token,
        auth::refresh,
        auth::revoke,
        auth::create_invitation_code,
        auth::redeem_invitation_code,
        users::list_users,
        users::create_user,
        users::get_user,
        users::update_user,
        users::delete_user,
        sdk::sync,
        sdk::sync_apple,
        sdk::sync_samsung,
        data::timeseries,
        data::list_workouts,
        data::list_sleep,
        data::list_cycles,
        data::delete_workout,
        data::delete_sleep,
        data::delete_cycle,
        data::health_scores,
        data::data_sources,
        summaries::activity,
        summaries::sleep,
        summaries::recovery,
        summaries::body,
        summaries::data_summary,
        settings::dispatch_seed,
        settings::list_presets,
        settings::list_sleep_profiles,
        settings::list_provider_priorities,
        settings::set_provider_priority,
        settings::set_provider_priorities,
        settings::list_device_priorities,
        settings::set_device_priority,
        settings::set_device_priorities,
        providers::list_providers,
        providers::update_provider,
        providers::bulk_update_providers,
        providers::authorize,
        providers::callback,
        providers::oauth_success,
        providers::oauth_error,
        providers::list_connections,
        providers::disconnect,
        providers::disconnect_and_delete,
        providers::trigger_sync,
        providers::trigger_historical,
        providers::vendor_workouts,
        providers::vendor_workout,
        garmin_backfill::status,
        garmin_backfill::cancel,
        garmin_backfill::retry,
        sync_status::stream,
        sync_status::recent,
        sync_status::user_runs,
        sync_status::all_runs,
        subscriptions::list,
        subscriptions::register,
        subscriptions::renew,
        subscriptions::get_one,
        subscriptions::update,
        subscriptions::delete_one,
        subscriptions::webhook_url,
        webhooks::unified,
        webhooks::unified_secret,
        webhooks::garmin_ping,
        webhooks::garmin_alias,
        webhooks::oura_alias,
        webhooks::oura_health,
        webhooks::strava_alias,
        webhooks::strava_health,
        webhooks::strava_singular,
        webhooks::strava_singular_health,
    )
)]
pub struct ApiDoc;

/// Every `(METHOD, path)` pair the document describes.
pub fn operations() -> Vec<(String, String)> {
    let doc = ApiDoc::openapi();
    let mut out = Vec::new();
    for (path, item) in &doc.paths.paths {
        let ops = [
            ("GET", item.get.is_some()),
            ("POST", item.post.is_some()),
            ("PUT", item.put.is_some()),
            ("PATCH", item.patch.is_some()),
            ("DELETE", item.delete.is_some()),
        ];
        for (m, present) in ops {
            if present {
                out.push((m.to_string(), path.clone()));
            }
        }
    }
    out.sort();
    out
}
