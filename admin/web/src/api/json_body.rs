//! [`JsonBody`]: the request body extractor of the API. Like `web::Json`
//! (same size limit and 400 error handler from `JsonConfig`), but only a
//! JSON object is accepted: serde would otherwise read a struct from an
//! array of its fields in order (`[null, null]` as `{"role": null, …}`),
//! which the API documents as invalid.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A request body that is a JSON object deserialized as `T`; anything
/// else (not JSON, not an object, wrong fields) is a 400 in the API's
/// error shape.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T> JsonBody<T> {
    /// The deserialized body.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for JsonBody<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let value = web::Json::<serde_json::Value>::from_request(req, payload);
        Box::pin(async move {
            let value = value.await?.into_inner();
            if !value.is_object() {
                return Err(ApiError::bad_request("the body must be a JSON object").into());
            }
            serde_json::from_value(value)
                .map(JsonBody)
                .map_err(|e| ApiError::bad_request(format!("malformed JSON body: {e}")).into())
        })
    }
}
