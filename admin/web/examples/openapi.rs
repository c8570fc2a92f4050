//! Prints the admin API's OpenAPI 3.1 document (the one served at
//! `/api/v1/openapi.json`) as pretty JSON on stdout:
//!
//! ```sh
//! cargo run -p parla-admin-web --example openapi > openapi.json
//! ```

fn main() -> Result<(), serde_json::Error> {
    let doc = parla_admin_web::api::openapi::document();
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(())
}
