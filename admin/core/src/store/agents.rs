//! Voice agents: the per-tenant configuration the engine runs a call with.
//!
//! # How the engine reads an agent
//!
//! The `parla` binary turns a row into an engine agent (`parla.toml`'s
//! `[[agents]]` table) on the first call after each change (keyed by
//! `(id, updated_at)`):
//!
//! * `stt_provider` / `llm_provider` / `tts_provider` are the provider kinds,
//!   exactly the `provider` tags of `parla.toml` (`openai`, `deepgram` for
//!   STT; `openai`, `flow` for the LLM; `espeak`, `openai` for TTS).
//! * `credentials_enc` decrypts (with `PARLA_SECRET_KEY`, associated data
//!   `associated_data("voice_agents", <tenant id>, "credentials_enc")`) to
//!   the JSON object `{"stt": {…}, "llm": {…}, "tts": {…}}`: each section is
//!   that provider's settings table as in `parla.toml` without the
//!   `provider` key, e.g. `{"base_url": "https://api.groq.com/openai/v1",
//!   "api_key": "…", "model": "whisper-large-v3"}`. A missing section (or no
//!   credentials at all) means the provider's defaults. Which kinds and
//!   settings exist is the typed allow-list of the `parla-spec` crate, checked
//!   by the API, the panel and the import before a row is written, and again
//!   by the binary when it builds the agent; never an environment variable
//!   name (`api_key_env`) or a file path (`script`).
//! * `flow`, when set and the LLM kind is `flow`, is the flow script as
//!   content (the `[agents.llm.flow]` table as JSON, bounded by
//!   `parla_spec::MAX_FLOW_BYTES`), unless `credentials.llm.flow` gives one.
//! * `greeting`, `system_prompt`, `language`, `voice`, `barge_in_enabled`,
//!   `barge_in_min_ms`, `endpointing_ms` map to the fields of the same name.
//! * `engine_options` (JSON object or NULL) holds the remaining call
//!   settings: `min_utterance_ms`, `response_timeout_ms`, `fallback_line`,
//!   `answer_delay_ms`, `max_call_secs`, `record` (write a WAV recording);
//!   the shape and limits are [`parla_spec::EngineOptions`], checked by
//!   the service layer (API and panel) before a row is written.

use super::query::{self, Binds, Then};
use super::{Conn, DeleteGrant, Page, Paged, StoreResult, TenantScope};
use crate::domain::{AgentId, JsonText, Name, Opaque, TenantId, Timestamp};

/// A voice agent row. Not `Serialize`: it carries encrypted credentials.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct VoiceAgent {
    /// Identifier.
    pub id: AgentId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Name, unique within the tenant.
    pub name: Name,
    /// First sentence spoken when the call is answered.
    pub greeting: String,
    /// LLM system prompt.
    pub system_prompt: String,
    /// Optional conversation flow document (engine-defined JSON).
    pub flow: Option<JsonText<serde_json::Value>>,
    /// Language tag, e.g. `en-US`.
    pub language: String,
    /// Speech-to-text provider name.
    pub stt_provider: String,
    /// LLM provider name.
    pub llm_provider: String,
    /// Text-to-speech provider name.
    pub tts_provider: String,
    /// TTS voice identifier.
    pub voice: String,
    /// Whether the caller may interrupt the agent.
    pub barge_in_enabled: bool,
    /// Minimum caller speech, in milliseconds, that counts as barge-in.
    #[sqlx(try_from = "i64")]
    pub barge_in_min_ms: u32,
    /// Silence, in milliseconds, that ends the caller's turn.
    #[sqlx(try_from = "i64")]
    pub endpointing_ms: u32,
    /// Provider credentials: encrypted JSON blob from the auth layer.
    pub credentials_enc: Option<Opaque>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last update time.
    pub updated_at: Timestamp,
    /// Further engine call settings (JSON object, see the module docs);
    /// `None` for the defaults.
    pub engine_options: Option<JsonText<serde_json::Value>>,
}

impl VoiceAgent {
    /// The decrypted `credentials_enc` object (`None` when unset), to check
    /// kept credentials against changed provider kinds on update.
    ///
    /// Errors: a message (no secret in it) when they no longer decrypt with
    /// `secrets` or are not JSON.
    pub fn decrypted_credentials(
        &self,
        secrets: &crate::auth::SecretKey,
    ) -> Result<Option<serde_json::Value>, String> {
        let Some(enc) = &self.credentials_enc else {
            return Ok(None);
        };
        let ad = crate::auth::secrets::associated_data(
            "voice_agents",
            &self.tenant_id.to_string(),
            "credentials_enc",
        );
        let plain = secrets
            .decrypt_string(enc.expose(), &ad)
            .map_err(|_| "the stored credentials cannot be decrypted (was the secret key changed?); enter them again".to_owned())?;
        serde_json::from_str(&plain)
            .map(Some)
            .map_err(|_| "the stored credentials are not JSON; enter them again".to_owned())
    }
}

/// The editable configuration of an agent (everything but its id, tenant,
/// timestamps and credentials). Used for create and full update.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentSpec {
    /// Name, unique within the tenant.
    pub name: Name,
    /// First sentence spoken when the call is answered.
    pub greeting: String,
    /// LLM system prompt.
    pub system_prompt: String,
    /// Optional conversation flow document.
    pub flow: Option<JsonText<serde_json::Value>>,
    /// Language tag, e.g. `en-US`.
    pub language: String,
    /// Speech-to-text provider name.
    pub stt_provider: String,
    /// LLM provider name.
    pub llm_provider: String,
    /// Text-to-speech provider name.
    pub tts_provider: String,
    /// TTS voice identifier.
    pub voice: String,
    /// Whether the caller may interrupt the agent.
    pub barge_in_enabled: bool,
    /// Minimum caller speech, in milliseconds, that counts as barge-in.
    pub barge_in_min_ms: u32,
    /// Silence, in milliseconds, that ends the caller's turn.
    pub endpointing_ms: u32,
}

impl AgentSpec {
    /// The spec's columns, `name` to `endpointing_ms`, as bound by create
    /// and update.
    fn binds(&self) -> impl Binds + '_ {
        (
            &self.name,
            &self.greeting,
            &self.system_prompt,
            self.flow.as_ref(),
            &self.language,
            &self.stt_provider,
            &self.llm_provider,
            &self.tts_provider,
            &self.voice,
            self.barge_in_enabled,
            i64::from(self.barge_in_min_ms),
            i64::from(self.endpointing_ms),
        )
    }
}

/// What to do with a stored secret on update.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SecretChange {
    /// Leave it as it is.
    #[default]
    Keep,
    /// Remove it.
    Clear,
    /// Replace it with this (already encrypted) value.
    Set(Opaque),
}

impl SecretChange {
    /// (keep?, new value) as bound in SQL: `CASE WHEN keep THEN col ELSE new END`.
    pub(crate) fn binds(&self) -> (bool, Option<&Opaque>) {
        match self {
            SecretChange::Keep => (true, None),
            SecretChange::Clear => (false, None),
            SecretChange::Set(v) => (false, Some(v)),
        }
    }
}

/// Agent repository. Obtain with [`Store::agents`](super::Store::agents).
#[derive(Clone, Copy, Debug)]
pub struct Agents<'s> {
    db: Conn<'s>,
}

impl<'s> Agents<'s> {
    pub(crate) fn new(db: Conn<'s>) -> Self {
        Self { db }
    }

    /// Creates an agent in the scope's tenant.
    /// `Conflict { field: "agent.name" }` if the name is used in this tenant.
    pub async fn create(
        &self,
        scope: &TenantScope,
        spec: &AgentSpec,
        credentials_enc: Option<&Opaque>,
    ) -> StoreResult<VoiceAgent> {
        const SQL: &str = "INSERT INTO voice_agents (id, tenant_id, name, greeting, \
                           system_prompt, flow, language, stt_provider, llm_provider, \
                           tts_provider, voice, barge_in_enabled, barge_in_min_ms, \
                           endpointing_ms, credentials_enc, created_at, updated_at) \
                           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
                           $14, $15, $16, $16) RETURNING *";
        let row = (AgentId::generate(), scope.tenant());
        let rest = (credentials_enc, self.db.now());
        query::fetch_one(self.db, SQL, Then(row, Then(spec.binds(), rest))).await
    }

    /// The agent with this id in the scope's tenant.
    pub async fn get(&self, scope: &TenantScope, id: AgentId) -> StoreResult<Option<VoiceAgent>> {
        const SQL: &str = "SELECT * FROM voice_agents WHERE id = $1 AND tenant_id = $2";
        query::fetch_scoped(self.db, SQL, id, scope).await
    }

    /// The scope's agents, ordered by name.
    pub async fn list(&self, scope: &TenantScope, page: Page) -> StoreResult<Paged<VoiceAgent>> {
        const COUNT: &str = "SELECT COUNT(*) FROM voice_agents WHERE tenant_id = $1";
        const SQL: &str = "SELECT * FROM voice_agents WHERE tenant_id = $1 \
                           ORDER BY name, id LIMIT $2 OFFSET $3";
        query::paged_scoped(self.db, COUNT, SQL, scope, page).await
    }

    /// Replaces the whole configuration and applies `credentials`; bumps
    /// `updated_at`. `NotFound` if not in the scope,
    /// `Conflict { field: "agent.name" }` if renamed onto another agent.
    pub async fn update(
        &self,
        scope: &TenantScope,
        id: AgentId,
        spec: &AgentSpec,
        credentials: &SecretChange,
    ) -> StoreResult<VoiceAgent> {
        const SQL: &str = "UPDATE voice_agents SET name = $3, greeting = $4, \
                           system_prompt = $5, flow = $6, language = $7, stt_provider = $8, \
                           llm_provider = $9, tts_provider = $10, voice = $11, \
                           barge_in_enabled = $12, barge_in_min_ms = $13, endpointing_ms = $14, \
                           credentials_enc = CASE WHEN $15 THEN credentials_enc ELSE $16 END, \
                           updated_at = $17 \
                           WHERE id = $1 AND tenant_id = $2 RETURNING *";
        let (keep, new_credentials) = credentials.binds();
        let row = (id, scope.tenant());
        let rest = (keep, new_credentials, self.db.now());
        query::fetch_one(self.db, SQL, Then(row, Then(spec.binds(), rest))).await
    }

    /// Replaces the agent's engine options (see the module docs); bumps
    /// `updated_at`. `NotFound` if not in the scope.
    pub async fn set_engine_options(
        &self,
        scope: &TenantScope,
        id: AgentId,
        options: Option<&JsonText<serde_json::Value>>,
    ) -> StoreResult<VoiceAgent> {
        const SQL: &str = "UPDATE voice_agents SET engine_options = $3, updated_at = $4 \
                           WHERE id = $1 AND tenant_id = $2 RETURNING *";
        let binds = (id, scope.tenant(), options, self.db.now());
        query::fetch_one(self.db, SQL, binds).await
    }

    /// Deletes the agent. Numbers routed to it become unassigned and past
    /// call records keep their data with `agent_id = None`. `NotFound` if
    /// not in the scope.
    pub async fn delete(
        &self,
        scope: &TenantScope,
        _grant: &DeleteGrant,
        id: AgentId,
    ) -> StoreResult<()> {
        const UNASSIGN_NUMBERS: &str =
            "UPDATE phone_numbers SET agent_id = NULL WHERE tenant_id = $1 AND agent_id = $2";
        const DETACH_CALLS: &str =
            "UPDATE call_records SET agent_id = NULL WHERE tenant_id = $1 AND agent_id = $2";
        const DELETE: &str = "DELETE FROM voice_agents WHERE tenant_id = $1 AND id = $2";
        // Atomic on its own, or part of the caller's transaction.
        let own = match self.db.in_transaction() {
            true => None,
            false => Some(self.db.begin().await?),
        };
        let conn = own.as_ref().map_or(self.db, |tx| tx.conn());
        for sql in [UNASSIGN_NUMBERS, DETACH_CALLS] {
            query::execute(conn, sql, (scope.tenant(), id)).await?;
        }
        let affected = query::execute(conn, DELETE, (scope.tenant(), id)).await?;
        if let Some(tx) = own {
            tx.commit().await?;
        }
        query::found(affected)
    }
}
