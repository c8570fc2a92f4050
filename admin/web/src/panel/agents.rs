//! Voice agents of a tenant: list, create, edit (read-only for the tenant
//! `agent` role), delete (super admin). Provider credentials are a JSON
//! object, encrypted at rest like the API does, and never shown again:
//! the form says "•••• set" with an empty field to replace them and a
//! checkbox to remove them.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use parla_spec::agent as rules;
use serde::Deserialize;

use crate::state::AdminState;
use parla_admin_core::domain::AgentId;
use parla_admin_core::service::agents::{self as service, AgentInput, Credentials, OptionsChange};
use parla_admin_core::store::VoiceAgent;

use super::audit_log::page_of;
use super::error::PanelError;
use super::fmt;
use super::login::CsrfOnly;
use super::outcome::{ctx, form_errors};
use super::ui::{
    html, Action, Cell, Field, FieldErrors, Form, FormPage, Link, ListPage, Nav, PageQuery, Pager,
    Row, Table,
};
use super::viewer::{redirect, Scoped, Viewer};

/// The form's fields, as named in the service's errors.
const FIELDS: &[&str] = &[
    "name",
    "language",
    "greeting",
    "system_prompt",
    "stt_provider",
    "llm_provider",
    "tts_provider",
    "voice",
    "barge_in_enabled",
    "barge_in_min_ms",
    "endpointing_ms",
    "record",
    "max_call_secs",
    "flow",
    "credentials",
];

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
    record: String,
    #[serde(default)]
    max_call_secs: String,
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
            record: match option(a, "record").and_then(|v| v.as_bool()) {
                Some(true) => "on".to_owned(),
                _ => String::new(),
            },
            max_call_secs: option(a, "max_call_secs")
                .map(|v| v.to_string())
                .unwrap_or_default(),
            flow: a
                .flow
                .as_ref()
                .map(|f| serde_json::to_string_pretty(&f.0).unwrap_or_default())
                .unwrap_or_default(),
            ..Default::default()
        }
    }

    /// The defaults of a new agent ([`parla_spec::agent`]).
    fn new_agent() -> AgentForm {
        AgentForm {
            language: rules::DEFAULT_LANGUAGE.to_owned(),
            barge_in_enabled: if rules::DEFAULT_BARGE_IN { "on" } else { "" }.to_owned(),
            barge_in_min_ms: rules::DEFAULT_BARGE_IN_MIN_MS.to_string(),
            endpointing_ms: rules::DEFAULT_ENDPOINTING_MS.to_string(),
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
            Field::checkbox("record", tr.s("agents.record"), self.record == "on"),
            Field::input(
                "number",
                "max_call_secs",
                tr.s("agents.max_call_secs"),
                &self.max_call_secs,
            )
            .help(tr.s("agents.max_call_secs_help")),
            Field::textarea("flow", tr.s("agents.flow"), &self.flow).help(tr.s("agents.flow_help")),
            Field::secret("credentials", tr.s("agents.credentials"), credentials_set)
                .help(tr.s("agents.credentials_help")),
        ]
    }

    /// The service's input, or the errors of fields that are not even
    /// well-formed (JSON that does not parse, a number that is not one).
    /// Form encoding is normalised: one-line fields are trimmed, CRLF line
    /// breaks become LF.
    fn input(&self, tr: super::i18n::Tr) -> (AgentInput, FieldErrors) {
        let mut errors = FieldErrors::default();
        let long = |value: &str| value.replace("\r\n", "\n");
        let ms = |errors: &mut FieldErrors, field: &'static str, value: &str| {
            value.trim().parse::<u32>().unwrap_or_else(|_| {
                errors.add(field, tr.s("err.milliseconds"));
                0
            })
        };
        let barge_in_min_ms = ms(&mut errors, "barge_in_min_ms", &self.barge_in_min_ms);
        let endpointing_ms = ms(&mut errors, "endpointing_ms", &self.endpointing_ms);
        let flow = match self.flow.trim() {
            "" => None,
            text => match serde_json::from_str::<serde_json::Value>(text) {
                Ok(j) => Some(j),
                Err(_) => {
                    errors.add("flow", tr.s("err.json"));
                    None
                }
            },
        };
        let creds = self.credentials.trim();
        let credentials = match serde_json::from_str::<serde_json::Value>(creds) {
            _ if creds.is_empty() && self.credentials_clear == "on" => Credentials::Clear,
            _ if creds.is_empty() => Credentials::Keep,
            Ok(c) if c.is_object() => Credentials::Set(c),
            _ => {
                errors.add("credentials", tr.s("err.json_object"));
                Credentials::Keep
            }
        };
        // Options the form shows; the others are kept as stored. A number
        // that does not parse goes as text, so the service names the error.
        let mut options = serde_json::Map::new();
        options.insert("record".into(), (self.record == "on").into());
        let secs = self.max_call_secs.trim();
        let secs = match secs.parse::<i64>() {
            _ if secs.is_empty() => serde_json::Value::Null,
            Ok(n) => n.into(),
            Err(_) => secs.into(),
        };
        options.insert("max_call_secs".into(), secs);
        let input = AgentInput {
            name: self.name.trim().to_owned(),
            greeting: long(&self.greeting),
            system_prompt: long(&self.system_prompt),
            flow,
            language: self.language.trim().to_owned(),
            stt_provider: self.stt_provider.trim().to_owned(),
            llm_provider: self.llm_provider.trim().to_owned(),
            tts_provider: self.tts_provider.trim().to_owned(),
            voice: self.voice.trim().to_owned(),
            barge_in_enabled: self.barge_in_enabled == "on",
            barge_in_min_ms,
            endpointing_ms,
            credentials,
            engine_options: OptionsChange::Merge(options),
        };
        (input, errors)
    }
}

/// A stored engine option of `a`, if set.
fn option<'a>(a: &'a VoiceAgent, key: &str) -> Option<&'a serde_json::Value> {
    a.engine_options.as_ref().and_then(|o| o.0.get(key))
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

/// Saves the form as a new agent (`id` = `None`) or over agent `id`
/// through [`parla_admin_core::service::agents`]; the field errors if refused.
async fn save(
    state: &AdminState,
    req: &HttpRequest,
    v: &Viewer,
    t: &Scoped,
    f: &AgentForm,
    id: Option<AgentId>,
) -> Result<Result<VoiceAgent, FieldErrors>, PanelError> {
    let (input, mut errors) = f.input(v.tr);
    if !errors.is_empty() {
        // Also show what the service refuses among the well-formed fields.
        if let Err(e) = service::check_input(&state.secrets, &input) {
            errors.merge(form_errors(v.tr, e, FIELDS)?);
        }
        return Ok(Err(errors));
    }
    let actor = v.actor(req);
    let saved = match id {
        None => service::create(ctx(state, &actor), &t.scope, &input).await,
        Some(id) => service::update(ctx(state, &actor), &t.scope, id, &input).await,
    };
    match saved {
        Ok(a) => Ok(Ok(a)),
        Err(e) => form_errors(v.tr, e, FIELDS).map(Err),
    }
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
    match save(&state, &req, &v, &t, &f, Some(before.id)).await? {
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
    service::delete(ctx(&state, &v.actor(&req)), &t.scope, before.id).await?;
    Ok(redirect(&format!("/panel/t/{}/agents", t.tenant.id)))
}
