//! Voice agents of a tenant. Provider credentials are accepted on write,
//! encrypted with the state's secret key, and never returned: responses
//! carry `credentials_set`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::api::auth::Authenticated;
use crate::api::error::{parse_id, ApiError};
use crate::auth::secrets::associated_data;
use crate::domain::{AgentId, JsonText, Name, Opaque};
use crate::store::{AgentSpec, DeleteGrant, SecretChange, TenantScope, VoiceAgent};

use super::tenants::field;
use super::{created, paged_view, require, tenant_scope, Change, PageQuery, State};

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

/// The body of POST and PUT (a full configuration).
#[derive(Deserialize)]
pub(super) struct Body {
    name: String,
    #[serde(default)]
    greeting: String,
    #[serde(default)]
    system_prompt: String,
    flow: Option<serde_json::Value>,
    #[serde(default = "default_language")]
    language: String,
    #[serde(default)]
    stt_provider: String,
    #[serde(default)]
    llm_provider: String,
    #[serde(default)]
    tts_provider: String,
    #[serde(default)]
    voice: String,
    #[serde(default = "default_barge_in")]
    barge_in_enabled: bool,
    #[serde(default = "default_barge_in_ms")]
    barge_in_min_ms: u32,
    #[serde(default = "default_endpointing_ms")]
    endpointing_ms: u32,
    /// Provider credentials (a JSON object); absent or null keeps them.
    credentials: Option<serde_json::Value>,
}

impl Body {
    fn spec(&self) -> Result<AgentSpec, ApiError> {
        let mut err = ApiError::validation();
        let name: Option<Name> = field(&mut err, "name", Some(&self.name));
        if matches!(&self.credentials, Some(c) if !c.is_object()) {
            err = err.with_field("credentials", "must be a JSON object");
        }
        let (Some(name), false) = (name, err.has_fields()) else {
            return Err(err);
        };
        Ok(AgentSpec {
            name,
            greeting: self.greeting.clone(),
            system_prompt: self.system_prompt.clone(),
            flow: self.flow.clone().map(JsonText),
            language: self.language.clone(),
            stt_provider: self.stt_provider.clone(),
            llm_provider: self.llm_provider.clone(),
            tts_provider: self.tts_provider.clone(),
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

/// The public view of an agent (no secrets).
fn view(a: &VoiceAgent) -> serde_json::Value {
    serde_json::json!({
        "id": a.id,
        "tenant_id": a.tenant_id,
        "name": a.name,
        "greeting": a.greeting,
        "system_prompt": a.system_prompt,
        "flow": a.flow.as_ref().map(|f| &f.0),
        "language": a.language,
        "stt_provider": a.stt_provider,
        "llm_provider": a.llm_provider,
        "tts_provider": a.tts_provider,
        "voice": a.voice,
        "barge_in_enabled": a.barge_in_enabled,
        "barge_in_min_ms": a.barge_in_min_ms,
        "endpointing_ms": a.endpointing_ms,
        "credentials_set": a.credentials_enc.is_some(),
        "created_at": a.created_at,
        "updated_at": a.updated_at,
    })
}

pub(super) async fn create(
    state: State,
    req: HttpRequest,
    who: Authenticated,
    path: web::Path<String>,
    body: web::Json<Body>,
) -> Result<HttpResponse, ApiError> {
    let scope = tenant_scope(&state, &who, &path).await?;
    require(who.principal.can_manage_agents_and_numbers())?;
    let spec = body.spec()?;
    let creds = body.encrypted_credentials(&state, &scope)?;
    let a = state
        .store
        .agents()
        .create(&scope, &spec, creds.as_ref())
        .await?;
    let after = view(&a);
    Change::created(
        "agent.create",
        Some(scope.tenant()),
        a.id,
        Some(after.clone()),
    )
    .record(&state, &req, &who)
    .await?;
    Ok(created(after))
}

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

pub(super) async fn get(
    state: State,
    who: Authenticated,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, a) = load(&state, &who, &path.0, &path.1).await?;
    Ok(HttpResponse::Ok().json(view(&a)))
}

pub(super) async fn update(
    state: State,
    req: HttpRequest,
    who: Authenticated,
    path: web::Path<(String, String)>,
    body: web::Json<Body>,
) -> Result<HttpResponse, ApiError> {
    let (scope, before) = load(&state, &who, &path.0, &path.1).await?;
    require(who.principal.can_manage_agents_and_numbers())?;
    let spec = body.spec()?;
    let change = match body.encrypted_credentials(&state, &scope)? {
        Some(enc) => SecretChange::Set(enc),
        None => SecretChange::Keep,
    };
    let a = state
        .store
        .agents()
        .update(&scope, before.id, &spec, &change)
        .await?;
    let after = view(&a);
    Change::updated(
        "agent.update",
        Some(scope.tenant()),
        a.id,
        Some(view(&before)),
        Some(after.clone()),
    )
    .record(&state, &req, &who)
    .await?;
    Ok(HttpResponse::Ok().json(after))
}

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
        Some(view(&before)),
    )
    .record_deletion(&state, &req, &who)
    .await
}
