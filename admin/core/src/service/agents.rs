//! Voice agents: create, update, delete. Provider credentials are sealed
//! with the secret key ([`seal_credentials`]) and never returned; the view
//! says `credentials_set`. Defaults and limits are those of
//! [`parla_spec::agent`], shared with the engine.

use parla_spec::agent as rules;
use parla_spec::{AgentProviders, EngineOptions, ProviderInput};
use serde::Serialize;

use crate::auth::secrets::associated_data;
use crate::auth::SecretKey;
use crate::domain::{AgentId, JsonText, Name, Opaque, TenantId, Timestamp};
use crate::store::{AgentSpec, DeleteGrant, SecretChange, TenantScope, Tx, VoiceAgent};

use super::{json, Change, Ctx, FieldErrors, ServiceError, ServiceResult};

/// What to do with the stored provider credentials.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Credentials {
    /// Keep them (a new agent has none).
    #[default]
    Keep,
    /// Remove them.
    Clear,
    /// Replace them by this `{"stt": {…}, "llm": {…}, "tts": {…}}` object.
    Set(serde_json::Value),
}

/// What to do with the stored `engine_options` ([`EngineOptions`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub enum OptionsChange {
    /// Keep them (a new agent has none).
    #[default]
    Keep,
    /// Replace them by this object (null: none).
    Replace(serde_json::Value),
    /// Set these keys over the stored ones (a null value unsets the key).
    Merge(serde_json::Map<String, serde_json::Value>),
}

/// A full agent configuration as submitted (API body or panel form).
#[derive(Clone, Debug, PartialEq)]
pub struct AgentInput {
    pub name: String,
    pub greeting: String,
    pub system_prompt: String,
    /// The `flow` script as JSON content, or `None`.
    pub flow: Option<serde_json::Value>,
    pub language: String,
    pub stt_provider: String,
    pub llm_provider: String,
    pub tts_provider: String,
    pub voice: String,
    pub barge_in_enabled: bool,
    /// Milliseconds of caller speech that count as barge-in.
    pub barge_in_min_ms: u32,
    /// Milliseconds of silence that end the caller's turn.
    pub endpointing_ms: u32,
    pub credentials: Credentials,
    pub engine_options: OptionsChange,
}

impl Default for AgentInput {
    /// The defaults of a new agent ([`parla_spec::agent`]).
    fn default() -> Self {
        AgentInput {
            name: String::new(),
            greeting: String::new(),
            system_prompt: String::new(),
            flow: None,
            language: rules::DEFAULT_LANGUAGE.to_owned(),
            stt_provider: String::new(),
            llm_provider: String::new(),
            tts_provider: String::new(),
            voice: String::new(),
            barge_in_enabled: rules::DEFAULT_BARGE_IN,
            barge_in_min_ms: rules::DEFAULT_BARGE_IN_MIN_MS,
            endpointing_ms: rules::DEFAULT_ENDPOINTING_MS,
            credentials: Credentials::Keep,
            engine_options: OptionsChange::Keep,
        }
    }
}

/// An agent as clients (and the audit log) see it: its configuration
/// without the credentials (only whether they are set).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AgentView {
    pub id: AgentId,
    pub tenant_id: TenantId,
    pub name: Name,
    pub greeting: String,
    pub system_prompt: String,
    /// Conversation flow document, or null.
    pub flow: Option<serde_json::Value>,
    pub language: String,
    pub stt_provider: String,
    pub llm_provider: String,
    pub tts_provider: String,
    pub voice: String,
    pub barge_in_enabled: bool,
    /// Milliseconds of caller speech that count as barge-in.
    pub barge_in_min_ms: u32,
    /// Milliseconds of silence that end the caller's turn.
    pub endpointing_ms: u32,
    /// Call settings (`record`, `max_call_secs`, …), or null for the
    /// defaults.
    #[schema(value_type = Option<Object>)]
    pub engine_options: Option<serde_json::Value>,
    /// Whether provider credentials are stored.
    pub credentials_set: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The public view of an agent (no secrets).
pub fn view(a: &VoiceAgent) -> AgentView {
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
        engine_options: a.engine_options.as_ref().map(|o| o.0.clone()),
        credentials_set: a.credentials_enc.is_some(),
        created_at: a.created_at,
        updated_at: a.updated_at,
    }
}

/// The associated data sealing an agent's credentials to its tenant and
/// column (a sealed value copied elsewhere does not open).
fn credentials_ad(tenant: TenantId) -> Vec<u8> {
    associated_data("voice_agents", &tenant.to_string(), "credentials_enc")
}

/// Seals a credentials object for an agent of `tenant` (the one place it
/// is done; [`VoiceAgent::decrypted_credentials`] opens them).
pub fn seal_credentials(
    secrets: &SecretKey,
    tenant: TenantId,
    credentials: &serde_json::Value,
) -> ServiceResult<Opaque> {
    secrets
        .encrypt_str(&credentials.to_string(), &credentials_ad(tenant))
        .map(Opaque::new)
        .map_err(|e| ServiceError::Internal(e.to_string()))
}

/// Records a text check's error on `field`, with the panel's key for it
/// (too long, or characters that are not allowed).
fn text(errors: &mut FieldErrors, field: &str, check: Result<(), String>) {
    if let Err(m) = check {
        let key = if m.starts_with("must be at most") {
            "err.too_long"
        } else {
            "err.text_characters"
        };
        errors.add_keyed(field, m, key);
    }
}

/// What a valid input is stored as.
struct Checked {
    spec: AgentSpec,
    options: Option<Option<JsonText<serde_json::Value>>>,
}

/// Validates `input` against `before` (the stored agent on update).
fn check(
    secrets: &SecretKey,
    input: &AgentInput,
    before: Option<&VoiceAgent>,
) -> ServiceResult<Checked> {
    let mut errors = FieldErrors::default();
    let name = match input.name.parse::<Name>() {
        Ok(n) => Some(n),
        Err(e) => {
            errors.add_keyed("name", e.to_string(), "err.name");
            None
        }
    };
    // The credentials the agent will have, checked with the submitted kinds.
    let effective = match (&input.credentials, before) {
        (Credentials::Set(c), _) => Some(c.clone()),
        (Credentials::Clear, _) | (Credentials::Keep, None) => None,
        (Credentials::Keep, Some(b)) => match b.decrypted_credentials(secrets) {
            Ok(c) => c,
            Err(message) => {
                errors.add("credentials", message);
                None
            }
        },
    };
    let kinds = match AgentProviders::from_input(&ProviderInput {
        stt_provider: &input.stt_provider,
        llm_provider: &input.llm_provider,
        tts_provider: &input.tts_provider,
        credentials: effective.as_ref(),
        flow: input.flow.as_ref(),
    }) {
        Ok(p) => Some(p.kinds()),
        Err(e) => {
            for f in e.fields {
                errors.add(f.field, f.message);
            }
            None
        }
    };
    text(
        &mut errors,
        "greeting",
        rules::check_greeting(&input.greeting),
    );
    text(
        &mut errors,
        "system_prompt",
        rules::check_system_prompt(&input.system_prompt),
    );
    if let Err(m) = rules::check_language(&input.language) {
        errors.add_keyed("language", m, "err.language");
    }
    text(&mut errors, "voice", rules::check_voice(&input.voice));
    errors.check(
        "barge_in_min_ms",
        rules::check_barge_in_min_ms(input.barge_in_min_ms),
    );
    errors.check(
        "endpointing_ms",
        rules::check_endpointing_ms(input.endpointing_ms),
    );
    let stored = || {
        before
            .and_then(|b| b.engine_options.as_ref())
            .map(|o| o.0.clone())
    };
    let options = match &input.engine_options {
        OptionsChange::Keep => None,
        OptionsChange::Replace(v) => Some(v.clone()),
        OptionsChange::Merge(keys) => {
            let mut merged = match stored() {
                Some(serde_json::Value::Object(m)) => m,
                _ => serde_json::Map::new(),
            };
            for (k, v) in keys {
                if v.is_null() {
                    merged.remove(k);
                } else {
                    merged.insert(k.clone(), v.clone());
                }
            }
            Some(serde_json::Value::Object(merged))
        }
    };
    let options = match options.map(|v| EngineOptions::from_json(&v, "engine_options")) {
        None => None,
        Some(Ok(o)) if o.is_empty() => Some(None),
        Some(Ok(o)) => Some(Some(JsonText(
            serde_json::to_value(&o).map_err(|e| ServiceError::Internal(e.to_string()))?,
        ))),
        Some(Err(fields)) => {
            for f in fields {
                errors.add(f.field, f.message);
            }
            None
        }
    };
    let (Some(name), Some((stt, llm, tts)), true) = (name, kinds, errors.is_empty()) else {
        return Err(ServiceError::Invalid(errors));
    };
    Ok(Checked {
        spec: AgentSpec {
            name,
            greeting: input.greeting.clone(),
            system_prompt: input.system_prompt.clone(),
            flow: input.flow.clone().filter(|f| !f.is_null()).map(JsonText),
            language: input.language.clone(),
            stt_provider: stt.to_owned(),
            llm_provider: llm.to_owned(),
            tts_provider: tts.to_owned(),
            voice: input.voice.clone(),
            barge_in_enabled: input.barge_in_enabled,
            barge_in_min_ms: input.barge_in_min_ms,
            endpointing_ms: input.endpointing_ms,
        },
        options,
    })
}

/// Validates a new agent's `input` without storing it (for forms that
/// show every refused field at once).
pub fn check_input(secrets: &SecretKey, input: &AgentInput) -> ServiceResult<()> {
    check(secrets, input, None).map(|_| ())
}

/// The agent `id` of the scope, in the transaction; `NotFound` otherwise.
async fn load(tx: &Tx, scope: &TenantScope, id: AgentId) -> ServiceResult<VoiceAgent> {
    tx.agents()
        .get(scope, id)
        .await?
        .ok_or(ServiceError::NotFound)
}

/// Creates an agent in the scope (`agent.create`).
///
/// Errors: `Forbidden` for roles that may not manage agents, `Invalid`
/// naming each refused field, `Conflict { field: "agent.name" }`.
pub async fn create(
    ctx: Ctx<'_>,
    scope: &TenantScope,
    input: &AgentInput,
) -> ServiceResult<VoiceAgent> {
    ctx.require(ctx.actor.principal.can_manage_agents_and_numbers())?;
    let checked = check(ctx.secrets, input, None)?;
    let creds = match &input.credentials {
        Credentials::Set(c) => Some(seal_credentials(ctx.secrets, scope.tenant(), c)?),
        Credentials::Keep | Credentials::Clear => None,
    };
    let tx = ctx.store.transaction().await?;
    let mut a = tx
        .agents()
        .create(scope, &checked.spec, creds.as_ref())
        .await?;
    if let Some(Some(options)) = &checked.options {
        a = tx
            .agents()
            .set_engine_options(scope, a.id, Some(options))
            .await?;
    }
    let change = Change::new(
        "agent.create",
        Some(scope.tenant()),
        a.id,
        None,
        json(&view(&a)),
    );
    ctx.commit(tx, change).await?;
    Ok(a)
}

/// Replaces the configuration of agent `id` (`agent.update`). Kept
/// credentials are checked against the submitted provider kinds.
///
/// Errors: as [`create`], and `NotFound` outside the scope.
pub async fn update(
    ctx: Ctx<'_>,
    scope: &TenantScope,
    id: AgentId,
    input: &AgentInput,
) -> ServiceResult<VoiceAgent> {
    let tx = ctx.store.transaction().await?;
    let before = load(&tx, scope, id).await?;
    ctx.require(ctx.actor.principal.can_manage_agents_and_numbers())?;
    let checked = check(ctx.secrets, input, Some(&before))?;
    let creds = match &input.credentials {
        Credentials::Set(c) => SecretChange::Set(seal_credentials(ctx.secrets, scope.tenant(), c)?),
        Credentials::Clear => SecretChange::Clear,
        Credentials::Keep => SecretChange::Keep,
    };
    let mut a = tx.agents().update(scope, id, &checked.spec, &creds).await?;
    if let Some(options) = &checked.options {
        a = tx
            .agents()
            .set_engine_options(scope, id, options.as_ref())
            .await?;
    }
    let change = Change::new(
        "agent.update",
        Some(scope.tenant()),
        a.id,
        json(&view(&before)),
        json(&view(&a)),
    );
    ctx.commit(tx, change).await?;
    Ok(a)
}

/// Deletes agent `id` (`agent.delete`, super admin only); its numbers
/// become unassigned. Returns the deleted agent.
pub async fn delete(ctx: Ctx<'_>, scope: &TenantScope, id: AgentId) -> ServiceResult<VoiceAgent> {
    let tx = ctx.store.transaction().await?;
    let before = load(&tx, scope, id).await?;
    ctx.require(ctx.actor.principal.can_delete())?;
    tx.agents()
        .delete(scope, &DeleteGrant::super_admin(), id)
        .await?;
    let change = Change::new(
        "agent.delete",
        Some(scope.tenant()),
        id,
        json(&view(&before)),
        None,
    );
    ctx.commit(tx, change).await?;
    Ok(before)
}
