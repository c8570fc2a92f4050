//! Static assets embedded in the binary (no Node build step): the panel's
//! stylesheet and htmx 2.0.11 (`admin/assets/README.md`). Served with
//! long-lived cache headers; their URLs change with the file name.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use super::error::PanelError;

/// (file name, content type, bytes).
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "panel.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/panel.css"),
    ),
    (
        "live.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/live.js"),
    ),
    (
        "htmx.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/htmx.min.js"),
    ),
];

/// `GET /panel/assets/{name}`.
pub(crate) async fn serve(name: web::Path<String>) -> Result<HttpResponse, PanelError> {
    let (_, content_type, bytes) = ASSETS
        .iter()
        .find(|(n, _, _)| *n == name.as_str())
        .ok_or(PanelError::NotFound)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, *content_type))
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .body(*bytes))
}
