//! `GET /api/v1/me`: who the caller is.

use actix_web::HttpResponse;

use crate::api::auth::Authenticated;

pub(super) async fn me(who: Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "principal": who.principal,
        "user_id": who.user_id,
        "label": who.label,
    }))
}
