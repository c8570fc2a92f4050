//! Voice agents of a tenant. Provider credentials are accepted on write,
//! encrypted with the state's secret key, and never returned: responses
//! carry `credentials_set`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::auth::Authenticated;
use crate::api::error::{parse_id, ApiError};
use crate::api::json_body::JsonBody;
use crate::api::openapi::{Conflict, Forbidden, ItemPath, TenantPath};
use crate::auth::secrets::associated_data;
use crate::domain::{AgentId, JsonText, Name, Opaque, TenantId, Timestamp};
use crate::store::{AgentSpec, DeleteGrant, Paged, SecretChange, TenantScope, VoiceAgent};
use parla_spec::{AgentProviders, ProviderInput};

use super::tenants::field;
use super::text::{free_text, line};
use super::{created, paged_view, require, tenant_scope, Change, PageQuery, State};

/// The module's operations, merged into the document by
/// [`crate::api::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(create, list, get, update, delete))]
pub(super) struct Doc;

fn default_language() -> String {
    "en-US".to_owned()
}
fn default_barge_in() -> bool {
    true
}
fn default_barge_in_ms() -> u32 {
    250
}
fn default_endpointing_ms() -> u32 {
    600
}

/// Largest accepted `barge_in_min_ms` (10 s of speech).
const MAX_BARGE_IN_MIN_MS: u32 = 10_000;
/// Largest accepted `endpointing_ms` (a minute of silence).
const MAX_ENDPOINTING_MS: u32 = 60_000;

/// The body of POST and PUT: a full configuration (absent fields take
/// their defaults).
#[derive(Deserialize, ToSchema)]
pub(super) struct AgentInput {
    /// Unique within the tenant.
    #[schema(value_type = Name)]
    name: String,
    /// First sentence spoken when the call is answered.
    #[serde(default)]
    #[schema(max_length = 20000)]
    greeting: String,
    /// LLM system prompt.
    #[serde(default)]
    #[schema(max_length = 100000)]
    system_prompt: String,
    /// The `flow` dialogue script as content (`{"fallback", "intents": […]}`,
    /// at most 64 KiB as JSON); null for none (the built-in script).
    flow: Option<serde_json::Value>,
    /// Language tag.
    #[serde(default = "default_language")]
    #[schema(default = "en-US", max_length = 100)]
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
    #[schema(default = 600, minimum = 0, maximum = 60000)]
    endpointing_ms: u32,
    /// Provider settings `{"stt": {…}, "llm": {…}, "tts": {…}}`, each
    /// section the provider's allow-listed settings (e.g. `base_url`,
    /// `api_key`, `model`; never `api_key_env` or `script`), stored
    /// encrypted and never returned; absent or null keeps the current ones
    /// (checked against the submitted provider kinds).
    #[schema(value_type = Option<Object>)]
    credentials: Option<serde_json::Value>,
}

impl AgentInput {
    /// The checked configuration. The providers are checked against the
    /// tenant allow-lists ([`parla_spec`]) with the submitted credentials,
    /// or, when none are submitted, with `stored` (the agent's current ones),
    /// so that a saved agent can always run; the kinds are stored with the
    /// defaults filled in.
    fn spec(
        &self,
        stored: Result<Option<serde_json::Value>, String>,
    ) -> Result<AgentSpec, ApiError> {
        let mut err = ApiError::validation();
        let name: Option<Name> = field(&mut err, "name", Some(&self.name));
        let stored = match (&self.credentials, stored) {
            (Some(_), _) => None,
            (None, Ok(stored)) => stored,
            (None, Err(message)) => {
                err = err.with_field("credentials", message);
                None
            }
        };
        let providers = AgentProviders::from_input(&ProviderInput {
            stt_provider: &self.stt_provider,
            llm_provider: &self.llm_provider,
            tts_provider: &self.tts_provider,
            credentials: self.credentials.as_ref().or(stored.as_ref()),
            flow: self.flow.as_ref(),
        });
        let kinds = match providers {
            Ok(p) => Some(p.kinds()),
            Err(e) => {
                for f in e.fields {
                    err = err.with_field(&f.field, f.message);
                }
                None
            }
        };
        free_text(&mut err, "greeting", &self.greeting, 20_000);
        free_text(&mut err, "system_prompt", &self.system_prompt, 100_000);
        for (name, value) in [("language", &self.language), ("voice", &self.voice)] {
            line(&mut err, name, value, 100);
        }
        if self.barge_in_min_ms > MAX_BARGE_IN_MIN_MS {
            err = err.with_field(
                "barge_in_min_ms",
                format!("must be at most {MAX_BARGE_IN_MIN_MS}"),
            );
        }
        if self.endpointing_ms > MAX_ENDPOINTING_MS {
            err = err.with_field(
                "endpointing_ms",
                format!("must be at most {MAX_ENDPOINTING_MS}"),
            );
        }
        let (Some(name), Some((stt, llm, tts)), false) = (name, kinds, err.has_fields()) else {
            return Err(err);
        };
        Ok(AgentSpec {
            name,
            greeting: self.greeting.clone(),
            system_prompt: self.system_prompt.clone(),
            flow: self.flow.clone().map(JsonText),
            language: self.language.clone(),
            stt_provider: stt.to_owned(),
            llm_provider: llm.to_owned(),
            tts_provider: tts.to_owned(),
            voice: self.voice.clone(),
            barge_in_enabled: self.barge_in_enabled,
            barge_in_min_ms: self.barge_in_min_ms,
            endpointing_ms: self.endpointing_ms,
        })
    }

    fn encrypted_credentials(
        &self,
        state: &State,
        scope: &TenantScope,
    ) -> Result<Option<Opaque>, ApiError> {
        let Some(c) = &self.credentials else {
            return Ok(None);
        };
        let ad = associated_data(
            "voice_agents",
            &scope.tenant().to_string(),
            "credentials_enc",
        );
        let enc = state
            .secrets
            .encrypt_str(&c.to_string(), &ad)
            .map_err(ApiError::internal)?;
        Ok(Some(Opaque::new(enc)))
    }
}

/// An agent as the API shows it: its configuration without the
/// credentials (only whether they are set).
#[derive(Serialize, ToSchema)]
pub(super) struct AgentView {
    id: AgentId,
    tenant_id: TenantId,
    name: Name,
    greeting: String,
    system_prompt: String,
    /// Conversation flow document, or null.
    flow: Option<serde_json::Value>,
    language: String,
    stt_provider: String,
    llm_provider: String,
    tts_provider: String,
    voice: String,
    barge_in_enabled: bool,
    /// Milliseconds of caller speech that count as barge-in.
    barge_in_min_ms: u32,
    /// Milliseconds of silence that end the caller's turn.
    endpointing_ms: u32,
    /// Whether provider credentials are stored.
    credentials_set: bool,
    created_at: Timestamp,
    updated_at: Timestamp,
}

/// The public view of an agent (no secrets).
fn view(a: &VoiceAgent) -> AgentView {
    AgentView {
        id: a.id,
        tenant_id: a.tenant_id,
        name: a.name.clone(),
        greeting: a.greeting.clone(),
        system_prompt: a.system_prompt.clone(),
        flow: a.flow.as_ref().map(|f| f.0.clone()),
        language: a.language.clone(),
        stt_provider: a.stt_provider.clone(),
        llm_provider: a.llm_provider.clone(),
        tts_provider: a.tts_provider.clone(),
        voice: a.voice.clone(),
        barge_in_enabled: a.barge_in_enabled,
        barge_in_min_ms: a.barge_in_min_ms,
        endpointing_ms: a.endpointing_ms,
        credentials_set: a.credentials_enc.is_some(),
        created_at: a.created_at,
        updated_at: a.updated_at,
    }
}

/// `view` as JSON for the audit log.
fn audited(a: &VoiceAgent) -> Option<serde_json::Value> {
    serde_json::to_value(view(a)).ok()
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
    who: Authenticated,
    path: web::Path<String>,
    body: JsonBody<AgentInput>,
) -> Result<HttpResponse, ApiError> {
    let scope = tenant_scope(&state, &who, &path).await?;
    require(who.principal.can_manage_agents_and_numbers())?;
    let spec = body.spec(Ok(None))?;
    let creds = body.encrypted_credentials(&state, &scope)?;
    let a = state
        .store
        .agents()
        .create(&scope, &spec, creds.as_ref())
        .await?;
    Change::created("agent.create", Some(scope.tenant()), a.id, audited(&a))
        .record(&state, &req, &who)
        .await?;
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
    who: Authenticated,
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
    who: &Authenticated,
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
    who: Authenticated,
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
    who: Authenticated,
    path: web::Path<(String, String)>,
    body: JsonBody<AgentInput>,
) -> Result<HttpResponse, ApiError> {
    let (scope, before) = load(&state, &who, &path.0, &path.1).await?;
    require(who.principal.can_manage_agents_and_numbers())?;
    let spec = body.spec(before.decrypted_credentials(&state.secrets))?;
    let change = match body.encrypted_credentials(&state, &scope)? {
        Some(enc) => SecretChange::Set(enc),
        None => SecretChange::Keep,
    };
    let a = state
        .store
        .agents()
        .update(&scope, before.id, &spec, &change)
        .await?;
    Change::updated(
        "agent.update",
        Some(scope.tenant()),
        a.id,
        audited(&before),
        audited(&a),
    )
    .record(&state, &req, &who)
    .await?;
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
    who: Authenticated,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (scope, before) = load(&state, &who, &path.0, &path.1).await?;
    require(who.principal.can_delete())?;
    state
        .store
        .agents()
        .delete(&scope, &DeleteGrant::super_admin(), before.id)
        .await?;
    Change::deleted(
        "agent.delete",
        Some(scope.tenant()),
        before.id,
        audited(&before),
    )
    .record_deletion(&state, &req, &who)
    .await
}
