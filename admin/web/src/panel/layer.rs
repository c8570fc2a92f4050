//! Middleware around every panel response: error pages in the viewer's
//! language, redirects htmx can follow, and the security headers
//! (Content-Security-Policy without inline scripts or styles, no framing,
//! no sniffing, no caching of pages).

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::HttpResponse;

use super::error::PanelError;
use super::i18n::Tr;
use super::ui::{html, Chrome, Link, MessagePage};
use super::viewer::{here, tr_of};

/// The panel's Content-Security-Policy: same-origin scripts, styles,
/// media and requests only; no inline code, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; media-src 'self'; connect-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// See the module documentation.
pub(crate) async fn pages(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let tr = tr_of(req.request());
    let path = here(req.request());
    let htmx = req.headers().contains_key("hx-request");
    let mut res = next.call(req).await?.map_into_boxed_body();
    let failure = res
        .response()
        .error()
        .and_then(|e| e.as_error::<PanelError>())
        .cloned();
    if let Some(err) = failure.filter(|e| *e != PanelError::LoginRequired) {
        let mut page = error_page(tr, &path, &err);
        for (name, value) in res.headers() {
            if *name == header::RETRY_AFTER {
                page.headers_mut().insert(name.clone(), value.clone());
            }
        }
        res = res.into_response(page);
    }
    if htmx && res.status() == StatusCode::SEE_OTHER {
        // XHR follows redirects silently; tell htmx to navigate instead.
        let location = res.headers().get(header::LOCATION).cloned();
        if let Some(location) = location {
            let mut r = HttpResponse::Ok().finish();
            r.headers_mut()
                .insert(HeaderName::from_static("hx-redirect"), location);
            for c in res.headers().get_all(header::SET_COOKIE) {
                r.headers_mut().append(header::SET_COOKIE, c.clone());
            }
            res = res.into_response(r);
        }
    }
    let headers = res.headers_mut();
    let fixed = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(res)
}

/// The HTML page for `err` (its status kept).
fn error_page(tr: Tr, path: &str, err: &PanelError) -> HttpResponse {
    let (title, text) = match err {
        PanelError::Forbidden => ("error.forbidden", "error.forbidden_text"),
        PanelError::NotFound => ("error.not_found", "error.not_found_text"),
        PanelError::BadRequest => ("error.bad_request", "error.bad_request_text"),
        PanelError::PayloadTooLarge => ("error.too_large", "error.too_large_text"),
        PanelError::TooManyRequests(_) => ("error.too_many", "error.too_many_text"),
        PanelError::LoginRequired | PanelError::Internal => {
            ("error.internal", "error.internal_text")
        }
    };
    let page = MessagePage {
        c: Chrome::anonymous(tr, tr.s(title), path),
        heading: tr.s(title).to_owned(),
        paragraphs: vec![tr.s(text).to_owned()],
        code: vec![],
        link: Some(Link {
            href: "/panel/".to_owned(),
            label: tr.s("error.home"),
        }),
    };
    let status = actix_web::ResponseError::status_code(err);
    html(&page, status).unwrap_or_else(|_| HttpResponse::build(status).finish())
}

/// The answer to a panel URL that matches no route.
pub(crate) async fn not_found() -> Result<HttpResponse, PanelError> {
    Err(PanelError::NotFound)
}
