//! Voice agents of a tenant: list, create, edit (read-only for the tenant
//! `agent` role), delete (super admin). Provider credentials are a JSON
//! object, encrypted at rest like the API does, and never shown again:
//! the form says "•••• set" with an empty field to replace them and a
//! checkbox to remove them.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::api::AdminState;
use crate::domain::{AgentId, JsonText, Name};
use crate::store::{AgentSpec, DeleteGrant, SecretChange, TenantScope, VoiceAgent};
use parla_spec::{AgentProviders, ProviderInput};

use super::audit_log::{page_of, Change, Saved};
use super::error::PanelError;
use super::fmt;
use super::login::CsrfOnly;
use super::secret::{self, AGENT_CREDENTIALS};
use super::ui::{
    html, Action, Cell, Field, FieldErrors, Form, FormPage, Link, ListPage, Nav, PageQuery, Pager,
    Row, Table,
};
use super::viewer::{redirect, Scoped, Viewer};

/// Longest accepted greeting / system prompt / flow, in characters.
const MAX_LONG_TEXT: usize = 20_000;
/// Longest accepted provider name, voice or language tag.
const MAX_SHORT_TEXT: usize = 100;

/// What the audit log and the API show of an agent (no credentials).
fn view(a: &VoiceAgent) -> serde_json::Value {
    serde_json::json!({
        "id": a.id,
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
    })
}

/// The submitted form (every field as text, so nothing fails to decode).
#[derive(Deserialize, Default)]
pub(crate) struct AgentForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    greeting: String,
    #[serde(default)]
    system_prompt: String,
    #[serde(default)]
    stt_provider: String,
    #[serde(default)]
    llm_provider: String,
    #[serde(default)]
    tts_provider: String,
    #[serde(default)]
    voice: String,
    #[serde(default)]
    barge_in_enabled: String,
    #[serde(default)]
    barge_in_min_ms: String,
    #[serde(default)]
    endpointing_ms: String,
    #[serde(default)]
    flow: String,
    #[serde(default)]
    credentials: String,
    #[serde(default)]
    credentials_clear: String,
}

impl AgentForm {
    /// The form showing a stored agent.
    fn of(a: &VoiceAgent) -> AgentForm {
        AgentForm {
            name: a.name.to_string(),
            language: a.language.clone(),
            greeting: a.greeting.clone(),
            system_prompt: a.system_prompt.clone(),
            stt_provider: a.stt_provider.clone(),
            llm_provider: a.llm_provider.clone(),
            tts_provider: a.tts_provider.clone(),
            voice: a.voice.clone(),
            barge_in_enabled: if a.barge_in_enabled { "on" } else { "" }.to_owned(),
            barge_in_min_ms: a.barge_in_min_ms.to_string(),
            endpointing_ms: a.endpointing_ms.to_string(),
            flow: a
                .flow
                .as_ref()
                .map(|f| serde_json::to_string_pretty(&f.0).unwrap_or_default())
                .unwrap_or_default(),
            ..Default::default()
        }
    }

    /// The defaults of a new agent.
    fn new_agent() -> AgentForm {
        AgentForm {
            language: "en-US".to_owned(),
            barge_in_enabled: "on".to_owned(),
            barge_in_min_ms: "250".to_owned(),
            endpointing_ms: "600".to_owned(),
            ..Default::default()
        }
    }

    fn fields(&self, v: &Viewer, credentials_set: bool) -> Vec<Field> {
        let tr = v.tr;
        let text = |name, label: &str, value: &str| Field::input("text", name, tr.s(label), value);
        vec![
            text("name", "agents.name", &self.name).required(),
            text("language", "agents.language", &self.language).help(tr.s("agents.language_help")),
            Field::textarea("greeting", tr.s("agents.greeting"), &self.greeting),
            Field::textarea(
                "system_prompt",
                tr.s("agents.system_prompt"),
                &self.system_prompt,
            ),
            text("stt_provider", "agents.stt", &self.stt_provider),
            text("llm_provider", "agents.llm", &self.llm_provider),
            text("tts_provider", "agents.tts", &self.tts_provider),
            text("voice", "agents.voice", &self.voice),
            Field::checkbox(
                "barge_in_enabled",
                tr.s("agents.barge_in"),
                self.barge_in_enabled == "on",
            ),
            Field::input(
                "number",
                "barge_in_min_ms",
                tr.s("agents.barge_in_min_ms"),
                &self.barge_in_min_ms,
            ),
            Field::input(
                "number",
                "endpointing_ms",
                tr.s("agents.endpointing_ms"),
                &self.endpointing_ms,
            ),
            Field::textarea("flow", tr.s("agents.flow"), &self.flow).help(tr.s("agents.flow_help")),
            Field::secret("credentials", tr.s("agents.credentials"), credentials_set)
                .help(tr.s("agents.credentials_help")),
        ]
    }

    /// The spec and the credentials change, or the field errors.
    ///
    /// The providers are checked against the tenant allow-lists
    /// ([`parla_spec`], as the API does) with the submitted credentials, or
    /// the `stored` ones when the field is left empty.
    fn parse(
        &self,
        v: &Viewer,
        state: &AdminState,
        scope: &TenantScope,
        stored: Result<Option<serde_json::Value>, String>,
    ) -> Result<Result<(AgentSpec, SecretChange), FieldErrors>, PanelError> {
        let tr = v.tr;
        let mut errors = FieldErrors::default();
        let name: Option<Name> = errors.parse("name", &self.name, tr.s("err.name"));
        // The API's text checks (crate::domain::check_line / check_free_text).
        let short = |errors: &mut FieldErrors, field: &'static str, value: &str| {
            let value = value.trim();
            if let Err(e) = crate::domain::check_line(value, MAX_SHORT_TEXT) {
                errors.add(field, super::ui::text_error(tr, e));
            }
            value.to_owned()
        };
        let long = |errors: &mut FieldErrors, field: &'static str, value: &str| {
            if let Err(e) = crate::domain::check_free_text(value, MAX_LONG_TEXT) {
                errors.add(field, super::ui::text_error(tr, e));
            }
            value.replace("\r\n", "\n")
        };
        let language = short(&mut errors, "language", &self.language);
        if language.is_empty()
            || !language
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            errors.add("language", tr.s("err.language"));
        }
        let ms = |errors: &mut FieldErrors, field: &'static str, value: &str, min: u32| match value
            .trim()
            .parse::<u32>()
        {
            Ok(n) if (min..=60_000).contains(&n) => n,
            _ => {
                errors.add(field, tr.s("err.milliseconds"));
                0
            }
        };
        let barge_in_min_ms = ms(&mut errors, "barge_in_min_ms", &self.barge_in_min_ms, 0);
        let endpointing_ms = ms(&mut errors, "endpointing_ms", &self.endpointing_ms, 1);
        let flow = if self.flow.trim().is_empty() {
            None
        } else {
            match serde_json::from_str::<serde_json::Value>(&self.flow) {
                Ok(j) if self.flow.chars().count() <= MAX_LONG_TEXT => Some(JsonText(j)),
                _ => {
                    errors.add("flow", tr.s("err.json"));
                    None
                }
            }
        };
        let creds = self.credentials.trim();
        let (credentials, submitted) = match serde_json::from_str::<serde_json::Value>(creds) {
            _ if creds.is_empty() => (String::new(), None),
            Ok(c) if c.is_object() => (c.to_string(), Some(c)),
            _ => {
                errors.add("credentials", tr.s("err.json_object"));
                (String::new(), None)
            }
        };
        let clear = self.credentials_clear == "on";
        // The credentials the agent will have: the submitted ones, none
        // (cleared), or the stored ones, checked with the submitted kinds.
        let effective = match (&submitted, creds.is_empty(), clear, stored) {
            (Some(c), ..) => Some(c.clone()),
            (None, false, ..) | (None, true, true, _) => None,
            (None, true, false, Ok(stored)) => stored,
            (None, true, false, Err(message)) => {
                errors.add("credentials", message);
                None
            }
        };
        let kinds = match AgentProviders::from_input(&ProviderInput {
            stt_provider: self.stt_provider.trim(),
            llm_provider: self.llm_provider.trim(),
            tts_provider: self.tts_provider.trim(),
            credentials: effective.as_ref(),
            flow: flow.as_ref().map(|f| &f.0),
        }) {
            Ok(p) => Some(p.kinds()),
            Err(e) => {
                for f in e.fields {
                    let (field, message) = spec_field(&f.field, &f.message);
                    errors.add(field, message);
                }
                None
            }
        };
        let greeting = long(&mut errors, "greeting", &self.greeting);
        let system_prompt = long(&mut errors, "system_prompt", &self.system_prompt);
        let voice = short(&mut errors, "voice", &self.voice);
        let (Some(name), Some((stt, llm, tts)), true) = (name, kinds, errors.is_empty()) else {
            return Ok(Err(errors));
        };
        let (stt_provider, llm_provider, tts_provider) =
            (stt.to_owned(), llm.to_owned(), tts.to_owned());
        let credentials = secret::change(state, scope, AGENT_CREDENTIALS, &credentials, clear)?;
        let spec = AgentSpec {
            name,
            greeting,
            system_prompt,
            flow,
            language,
            stt_provider,
            llm_provider,
            tts_provider,
            voice,
            barge_in_enabled: self.barge_in_enabled == "on",
            barge_in_min_ms,
            endpointing_ms,
        };
        Ok(Ok((spec, credentials)))
    }
}

/// A refused setting ([`parla_spec::FieldError`]) as the form field that
/// holds it and its message (the full path, for settings inside the
/// credentials or the flow script).
fn spec_field(path: &str, message: &str) -> (&'static str, String) {
    for field in ["stt_provider", "llm_provider", "tts_provider"] {
        if path == field {
            return (field, message.to_owned());
        }
    }
    let field = if path.starts_with("flow") {
        "flow"
    } else {
        "credentials"
    };
    (field, format!("{path}: {message}"))
}

/// The create/edit page.
fn form_page(
    v: &Viewer,
    t: &Scoped,
    agent: Option<&VoiceAgent>,
    f: &AgentForm,
    errors: &FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, PanelError> {
    let tr = v.tr;
    let base = format!("/panel/t/{}/agents", t.tenant.id);
    let (heading, action, credentials_set) = match agent {
        Some(a) => (
            a.name.to_string(),
            format!("{base}/{}", a.id),
            a.credentials_enc.is_some(),
        ),
        None => (tr.s("agents.new").to_owned(), base.clone(), false),
    };
    let form = Form::post(action, tr.s("form.save"), f.fields(v, credentials_set))
        .with_errors(errors)
        .read_only(!v.can_manage());
    let mut actions = vec![];
    if let (Some(a), true) = (agent, v.can_delete()) {
        actions.push(Action::danger(
            tr.s("form.delete"),
            format!("{base}/{}/delete", a.id),
            tr.s("agents.confirm_delete"),
        ));
    }
    let page = FormPage {
        c: v.chrome(&heading, Nav::Agents, Some(&t.tenant)),
        heading: heading.clone(),
        form,
        actions,
        back: Link {
            href: base,
            label: tr.s("agents.title"),
        },
    };
    html(&page, status)
}

/// `GET /panel/t/{tid}/agents`.
pub(crate) async fn list(
    state: web::Data<AdminState>,
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load(&state, &req).await?;
    let t = v.tenant(&state, &path).await?;
    let tr = v.tr;
    let page = page_of(&q.page, 50);
    let agents = state.store.agents().list(&t.scope, page).await?;
    let base = format!("/panel/t/{}/agents", t.tenant.id);
    let rows = agents
        .items
        .iter()
        .map(|a| {
            let (creds, class) = if a.credentials_enc.is_some() {
                (tr.s("secret.set_short"), "badge ok")
            } else {
                (tr.s("secret.not_set"), "badge")
            };
            Row {
                cells: vec![
                    Cell::link(a.name.to_string(), format!("{base}/{}", a.id)),
                    Cell::text(&a.language),
                    Cell::text(format!(
                        "{} / {} / {}",
                        a.stt_provider, a.llm_provider, a.tts_provider
                    )),
                    Cell::text(creds).class(class),
                    Cell::text(fmt::datetime(a.updated_at)).class("nowrap"),
                ],
                actions: vec![],
            }
        })
        .collect();
    let links = if v.can_manage() {
        vec![Link {
            href: format!("{base}/new"),
            label: tr.s("agents.new"),
        }]
    } else {
        vec![]
    };
    let list = ListPage::new(
        v.chrome(tr.s("agents.title"), Nav::Agents, Some(&t.tenant)),
        Table::new(
            tr,
            &[
                "agents.name",
                "agents.language",
                "agents.providers",
                "agents.credentials",
                "list.updated",
            ],
            rows,
        ),
        Pager::new(tr, page, agents.total, |n| format!("{base}?page={n}")),
    )
    .links(links);
    html(&list, StatusCode::OK)
}

/// `GET /panel/t/{tid}/agents/new`.
pub(crate) async fn new_form(
    state: web::Data<AdminState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load(&state, &req).await?;
    let t = v.tenant(&state, &path).await?;
    v.require(v.can_manage())?;
    let f = AgentForm::new_agent();
    form_page(&v, &t, None, &f, &FieldErrors::default(), StatusCode::OK)
}

async fn load(
    state: &AdminState,
    v: &Viewer,
    path: &(String, String),
) -> Result<(Scoped, VoiceAgent), PanelError> {
    let t = v.tenant(state, &path.0).await?;
    let id: AgentId = path.1.parse().map_err(|_| PanelError::NotFound)?;
    let a = state
        .store
        .agents()
        .get(&t.scope, id)
        .await?
        .ok_or(PanelError::NotFound)?;
    Ok((t, a))
}

/// `GET /panel/t/{tid}/agents/{id}`.
pub(crate) async fn edit_form(
    state: web::Data<AdminState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, PanelError> {
    let mut v = Viewer::load(&state, &req).await?;
    let (t, a) = load(&state, &v, &path).await?;
    if q.saved == "1" {
        v.notice = Some(v.tr.s("form.saved").to_owned());
    }
    form_page(
        &v,
        &t,
        Some(&a),
        &AgentForm::of(&a),
        &FieldErrors::default(),
        StatusCode::OK,
    )
}

/// Saves the form as a new agent (`before` = `None`) or over `before`,
/// audited; the field errors if the input is invalid or the name taken.
async fn save(
    state: &AdminState,
    req: &HttpRequest,
    v: &Viewer,
    t: &Scoped,
    f: &AgentForm,
    before: Option<&VoiceAgent>,
) -> Result<Result<VoiceAgent, FieldErrors>, PanelError> {
    let stored = match before {
        Some(b) => b.decrypted_credentials(&state.secrets),
        None => Ok(None),
    };
    let (spec, creds) = match f.parse(v, state, &t.scope, stored)? {
        Ok(parsed) => parsed,
        Err(errors) => return Ok(Err(errors)),
    };
    let agents = state.store.agents();
    let saved = match before {
        None => {
            let creds = match creds {
                SecretChange::Set(c) => Some(c),
                SecretChange::Keep | SecretChange::Clear => None,
            };
            agents.create(&t.scope, &spec, creds.as_ref()).await
        }
        Some(b) => agents.update(&t.scope, b.id, &spec, &creds).await,
    };
    let audit = Saved {
        actions: ["agent.create", "agent.update"],
        before,
        view: |row| (row.id.to_string(), view(row)),
    };
    audit.finish(state, req, v, t.tenant.id, saved).await
}

/// `POST /panel/t/{tid}/agents`.
pub(crate) async fn create(
    state: web::Data<AdminState>,
    req: HttpRequest,
    path: web::Path<String>,
    f: web::Form<AgentForm>,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load_post(&state, &req, &f.csrf_token).await?;
    let t = v.tenant(&state, &path).await?;
    v.require(v.can_manage())?;
    match save(&state, &req, &v, &t, &f, None).await? {
        Ok(a) => Ok(redirect(&format!(
            "/panel/t/{}/agents/{}?saved=1",
            t.tenant.id, a.id
        ))),
        Err(errors) => form_page(&v, &t, None, &f, &errors, StatusCode::UNPROCESSABLE_ENTITY),
    }
}

/// `POST /panel/t/{tid}/agents/{id}`.
pub(crate) async fn update(
    state: web::Data<AdminState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    f: web::Form<AgentForm>,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load_post(&state, &req, &f.csrf_token).await?;
    let (t, before) = load(&state, &v, &path).await?;
    v.require(v.can_manage())?;
    match save(&state, &req, &v, &t, &f, Some(&before)).await? {
        Ok(a) => Ok(redirect(&format!(
            "/panel/t/{}/agents/{}?saved=1",
            t.tenant.id, a.id
        ))),
        Err(errors) => form_page(
            &v,
            &t,
            Some(&before),
            &f,
            &errors,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    }
}

/// `POST /panel/t/{tid}/agents/{id}/delete` (super admin).
pub(crate) async fn delete(
    state: web::Data<AdminState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    f: web::Form<CsrfOnly>,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load_post(&state, &req, &f.csrf_token).await?;
    let (t, before) = load(&state, &v, &path).await?;
    v.require(v.can_delete())?;
    state
        .store
        .agents()
        .delete(&t.scope, &DeleteGrant::super_admin(), before.id)
        .await?;
    Change::new("agent.delete", Some(t.tenant.id), before.id)
        .before(view(&before))
        .record(&state, &req, &v)
        .await?;
    Ok(redirect(&format!("/panel/t/{}/agents", t.tenant.id)))
}
