//! Voice agents of a tenant: extract → [`parla_admin_core::service::agents`] → JSON.
//! Provider credentials are accepted on write, sealed with the state's
//! secret key, and never returned: responses carry `credentials_set`.

use actix_web::{web, HttpRequest, HttpResponse};
use parla_spec::agent as rules;
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use crate::api::auth::Caller;
use crate::api::error::{parse_id, ApiError};
use crate::api::json_body::JsonBody;
use crate::api::openapi::{Conflict, Forbidden, ItemPath, TenantPath};
use parla_admin_core::domain::{AgentId, Name};
use parla_admin_core::service::agents::{
    self as service, view, AgentView, Credentials, OptionsChange,
};
use parla_admin_core::store::{Paged, TenantScope, VoiceAgent};

use super::{created, paged_view, tenant_scope, PageQuery, State};

/// The module's operations, merged into the document by
/// [`crate::api::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(create, list, get, update, delete))]
pub(super) struct Doc;

fn default_language() -> String {
    rules::DEFAULT_LANGUAGE.to_owned()
}
fn default_barge_in() -> bool {
    rules::DEFAULT_BARGE_IN
}
fn default_barge_in_ms() -> u32 {
    rules::DEFAULT_BARGE_IN_MIN_MS
}
fn default_endpointing_ms() -> u32 {
    rules::DEFAULT_ENDPOINTING_MS
}

/// A present field, null included (absent fields stay `None`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

/// The body of POST and PUT: a full configuration (absent fields take
/// their defaults, from `parla_spec::agent`).
#[derive(Deserialize, ToSchema)]
pub(super) struct AgentInput {
    /// Unique within the tenant.
    #[schema(value_type = Name)]
    name: String,
    /// First sentence spoken when the call is answered.
    #[serde(default)]
    #[schema(max_length = 20000)]
    greeting: String,
    /// LLM system prompt (sent with every LLM turn).
    #[serde(default)]
    #[schema(max_length = 20000)]
    system_prompt: String,
    /// The `flow` dialogue script as content (`{"fallback", "intents": […]}`,
    /// at most 64 KiB as JSON); null for none (the built-in script).
    flow: Option<serde_json::Value>,
    /// Language tag (BCP 47, e.g. `en`, `en-US`).
    #[serde(default = "default_language")]
    #[schema(default = "en", max_length = 35)]
    language: String,
    /// Speech-to-text provider: `openai` or `deepgram` (empty: `openai`).
    #[serde(default)]
    #[schema(max_length = 100)]
    stt_provider: String,
    /// LLM provider: `flow` or `openai` (empty: `flow`).
    #[serde(default)]
    #[schema(max_length = 100)]
    llm_provider: String,
    /// Text-to-speech provider: `espeak` or `openai` (empty: `espeak`).
    #[serde(default)]
    #[schema(max_length = 100)]
    tts_provider: String,
    /// TTS voice identifier.
    #[serde(default)]
    #[schema(max_length = 100)]
    voice: String,
    /// Whether the caller may interrupt the agent (barge-in).
    #[serde(default = "default_barge_in")]
    #[schema(default = true)]
    barge_in_enabled: bool,
    /// Minimum caller speech, in milliseconds, that counts as barge-in.
    #[serde(default = "default_barge_in_ms")]
    #[schema(default = 250, minimum = 0, maximum = 10000)]
    barge_in_min_ms: u32,
    /// Silence, in milliseconds, that ends the caller's turn (endpointing).
    #[serde(default = "default_endpointing_ms")]
    #[schema(default = 500, minimum = 20, maximum = 60000)]
    endpointing_ms: u32,
    /// Provider settings `{"stt": {…}, "llm": {…}, "tts": {…}}`, each
    /// section the provider's allow-listed settings (e.g. `base_url`,
    /// `api_key`, `model`; never `api_key_env` or `script`), stored
    /// encrypted and never returned; absent or null keeps the current ones
    /// (checked against the submitted provider kinds).
    #[schema(value_type = Option<Object>)]
    credentials: Option<serde_json::Value>,
    /// Call settings: `record` (bool, WAV recording), `max_call_secs` (1 to
    /// 14400), `min_utterance_ms` (0 to 5000), `response_timeout_ms` (100 to
    /// 2000), `answer_delay_ms` (0 to 30000), `fallback_line` (text, at most
    /// 1000 characters); absent fields take the engine's defaults. Absent:
    /// keep the stored options; null: none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    engine_options: Option<serde_json::Value>,
}

impl AgentInput {
    /// The service's input.
    fn input(&self) -> service::AgentInput {
        service::AgentInput {
            name: self.name.clone(),
            greeting: self.greeting.clone(),
            system_prompt: self.system_prompt.clone(),
            flow: self.flow.clone(),
            language: self.language.clone(),
            stt_provider: self.stt_provider.clone(),
            llm_provider: self.llm_provider.clone(),
            tts_provider: self.tts_provider.clone(),
            voice: self.voice.clone(),
            barge_in_enabled: self.barge_in_enabled,
            barge_in_min_ms: self.barge_in_min_ms,
            endpointing_ms: self.endpointing_ms,
            credentials: match &self.credentials {
                None | Some(serde_json::Value::Null) => Credentials::Keep,
                Some(c) => Credentials::Set(c.clone()),
            },
            engine_options: match &self.engine_options {
                None => OptionsChange::Keep,
                Some(v) => OptionsChange::Replace(v.clone()),
            },
        }
    }
}

/// `POST /tenants/{tid}/agents`: creates an agent (201 with its view).
#[utoipa::path(
    post,
    path = "/tenants/{tid}/agents",
    tag = "agents",
    params(TenantPath),
    request_body = AgentInput,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The created agent", body = AgentView),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
    )
)]
pub(super) async fn create(
    state: State,
    req: HttpRequest,
    who: Caller,
    path: web::Path<String>,
    body: JsonBody<AgentInput>,
) -> Result<HttpResponse, ApiError> {
    let scope = tenant_scope(&state, &who, &path).await?;
    let a = service::create(service_ctx!(state, req, who), &scope, &body.input()).await?;
    Ok(created(view(&a)))
}

/// `GET /tenants/{tid}/agents`: a page of the tenant's agents.
#[utoipa::path(
    get,
    path = "/tenants/{tid}/agents",
    tag = "agents",
    params(TenantPath, PageQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of agents", body = Paged<AgentView>))
)]
pub(super) async fn list(
    state: State,
    who: Caller,
    path: web::Path<String>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = tenant_scope(&state, &who, &path).await?;
    let page = q.page()?;
    let p = state.store.agents().list(&scope, page).await?;
    Ok(paged_view(p, view))
}

async fn load(
    state: &State,
    who: &Caller,
    tid: &str,
    id: &str,
) -> Result<(TenantScope, VoiceAgent), ApiError> {
    let scope = tenant_scope(state, who, tid).await?;
    let id: AgentId = parse_id(id)?;
    let a = state
        .store
        .agents()
        .get(&scope, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok((scope, a))
}

/// `GET /tenants/{tid}/agents/{id}`: one agent.
#[utoipa::path(
    get,
    path = "/tenants/{tid}/agents/{id}",
    tag = "agents",
    params(ItemPath),
    security(("bearer" = [])),
    responses((status = 200, description = "The agent", body = AgentView))
)]
pub(super) async fn get(
    state: State,
    who: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, a) = load(&state, &who, &path.0, &path.1).await?;
    Ok(HttpResponse::Ok().json(view(&a)))
}

/// `PUT /tenants/{tid}/agents/{id}`: replaces the configuration.
#[utoipa::path(
    put,
    path = "/tenants/{tid}/agents/{id}",
    tag = "agents",
    params(ItemPath),
    request_body = AgentInput,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated agent", body = AgentView),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
    )
)]
pub(super) async fn update(
    state: State,
    req: HttpRequest,
    who: Caller,
    path: web::Path<(String, String)>,
    body: JsonBody<AgentInput>,
) -> Result<HttpResponse, ApiError> {
    let scope = tenant_scope(&state, &who, &path.0).await?;
    let id: AgentId = parse_id(&path.1)?;
    let a = service::update(service_ctx!(state, req, who), &scope, id, &body.input()).await?;
    Ok(HttpResponse::Ok().json(view(&a)))
}

/// `DELETE /tenants/{tid}/agents/{id}` (super admin only).
#[utoipa::path(
    delete,
    path = "/tenants/{tid}/agents/{id}",
    tag = "agents",
    params(ItemPath),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, response = Forbidden),
    )
)]
pub(super) async fn delete(
    state: State,
    req: HttpRequest,
    who: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let scope = tenant_scope(&state, &who, &path.0).await?;
    let id: AgentId = parse_id(&path.1)?;
    service::delete(service_ctx!(state, req, who), &scope, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
