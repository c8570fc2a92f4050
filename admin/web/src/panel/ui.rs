//! The building blocks every page is made of: the frame ([`Chrome`]:
//! header, navigation, language toggle, masquerade banner), tables, forms
//! with per-field errors, pagers, and the three generic page templates
//! (list, form, message).

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use askama::Template;

use parla_admin_core::store::{Page, Tenant};

use super::error::PanelError;
use super::i18n::{Lang, Tr};
use super::viewer::Viewer;

/// Navigation entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Nav {
    Dashboard,
    Tenants,
    Users,
    ApiKeys,
    Agents,
    Numbers,
    Trunks,
    Calls,
    Audit,
    Account,
    None,
}

/// One link of the navigation bar.
pub(crate) struct NavLink {
    pub href: String,
    pub label: &'static str,
    pub active: bool,
}

/// A plain link (buttons styled as links too).
pub(crate) struct Link {
    pub href: String,
    pub label: &'static str,
}

/// Everything around a page's content.
pub(crate) struct Chrome {
    pub tr: Tr,
    pub title: String,
    pub csrf: String,
    pub user: String,
    pub signed_in: bool,
    pub masquerading: bool,
    /// The super admin behind a masquerade.
    pub masquerader: Option<String>,
    pub nav: Vec<NavLink>,
    pub tenant_name: Option<String>,
    /// Link switching to the other language, back to this page.
    pub other_lang_href: String,
    /// Label of that link ("Español" / "English").
    pub other_lang_label: &'static str,
    /// A one-off message shown above the content.
    pub notice: Option<String>,
}

/// `s` percent-encoded for a query parameter value.
pub(crate) fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn other_lang(tr: Tr, here: &str) -> (String, &'static str) {
    let (code, label) = match tr.0 {
        Lang::En => ("es", "Español"),
        Lang::Es => ("en", "English"),
    };
    (
        format!("/panel/lang/{code}?next={}", url_encode(here)),
        label,
    )
}

impl Chrome {
    /// The frame of a page seen by `v`.
    pub fn signed_in(v: &Viewer, title: &str, active: Nav, tenant: Option<&Tenant>) -> Chrome {
        let tr = v.tr;
        let mut nav = vec![];
        let mut item = |href: String, key: &str, n: Nav| {
            nav.push(NavLink {
                href,
                label: tr.s(key),
                active: n == active,
            })
        };
        if v.is_super() {
            item("/panel/".into(), "nav.dashboard", Nav::Dashboard);
            item("/panel/tenants".into(), "nav.tenants", Nav::Tenants);
            item("/panel/live".into(), "live.title", Nav::None);
            item("/panel/audit".into(), "nav.audit", Nav::Audit);
        }
        let tid = tenant
            .map(|t| t.id.to_string())
            .or_else(|| v.own_tenant().map(str::to_owned));
        if let Some(tid) = tid {
            let base = format!("/panel/t/{tid}");
            let in_tenant = tenant.is_some();
            let mark = |n: Nav| if in_tenant { n } else { Nav::None };
            if !v.is_super() {
                item(format!("{base}/"), "nav.dashboard", Nav::Dashboard);
            }
            item(format!("{base}/calls"), "nav.calls", mark(Nav::Calls));
            item(format!("{base}/agents"), "nav.agents", mark(Nav::Agents));
            item(format!("{base}/numbers"), "nav.numbers", mark(Nav::Numbers));
            item(format!("{base}/trunks"), "nav.trunks", mark(Nav::Trunks));
            item(format!("{base}/users"), "nav.users", mark(Nav::Users));
            item(
                format!("{base}/api-keys"),
                "nav.api_keys",
                mark(Nav::ApiKeys),
            );
            if !v.is_super() {
                item(format!("{base}/audit"), "nav.audit", Nav::Audit);
            }
        }
        item("/panel/account".into(), "nav.account", Nav::Account);
        let (other_lang_href, other_lang_label) = other_lang(tr, &v.here);
        Chrome {
            tr,
            title: title.to_owned(),
            csrf: v.csrf.clone(),
            user: v.who.email.clone().unwrap_or_else(|| v.who.label.clone()),
            signed_in: true,
            masquerading: v.who.principal.is_masquerading(),
            masquerader: v.who.masquerader_email.clone(),
            nav,
            tenant_name: tenant.map(|t| t.name.to_string()),
            other_lang_href,
            other_lang_label,
            notice: v.notice.clone(),
        }
    }

    /// The frame of a page without a session (login).
    pub fn anonymous(tr: Tr, title: &str, here: &str) -> Chrome {
        let (other_lang_href, other_lang_label) = other_lang(tr, here);
        Chrome {
            tr,
            title: title.to_owned(),
            csrf: String::new(),
            user: String::new(),
            signed_in: false,
            masquerading: false,
            masquerader: None,
            nav: vec![],
            tenant_name: None,
            other_lang_href,
            other_lang_label,
            notice: None,
        }
    }
}

/// One table cell, optionally a link.
pub(crate) struct Cell {
    pub text: String,
    pub href: Option<String>,
    /// CSS class (`mono`, `badge ok`, …).
    pub class: &'static str,
}

impl Cell {
    pub fn text(text: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            href: None,
            class: "",
        }
    }

    pub fn link(text: impl Into<String>, href: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            href: Some(href.into()),
            class: "",
        }
    }

    pub fn class(mut self, class: &'static str) -> Cell {
        self.class = class;
        self
    }
}

/// A POST button (a tiny form with the CSRF token).
pub(crate) struct Action {
    pub label: &'static str,
    pub url: String,
    /// Asked before submitting (htmx `hx-confirm`).
    pub confirm: Option<&'static str>,
    pub danger: bool,
    /// Extra hidden field.
    pub hidden: Option<Hidden>,
}

/// A hidden form field.
pub(crate) struct Hidden {
    pub name: &'static str,
    pub value: String,
}

impl Action {
    pub fn post(label: &'static str, url: impl Into<String>) -> Action {
        Action {
            label,
            url: url.into(),
            confirm: None,
            danger: false,
            hidden: None,
        }
    }

    /// A red button asking `confirm` first.
    pub fn danger(label: &'static str, url: impl Into<String>, confirm: &'static str) -> Action {
        Action {
            confirm: Some(confirm),
            danger: true,
            ..Self::post(label, url)
        }
    }

    pub fn hidden(mut self, name: &'static str, value: impl Into<String>) -> Action {
        self.hidden = Some(Hidden {
            name,
            value: value.into(),
        });
        self
    }
}

/// A table row.
pub(crate) struct Row {
    pub cells: Vec<Cell>,
    pub actions: Vec<Action>,
}

/// A table.
pub(crate) struct Table {
    pub headers: Vec<&'static str>,
    pub rows: Vec<Row>,
    /// Shown when there are no rows.
    pub empty: &'static str,
    /// Whether any row has actions (an extra column).
    pub has_actions: bool,
}

impl Table {
    pub fn new(tr: Tr, headers: &[&str], rows: Vec<Row>) -> Table {
        let has_actions = rows.iter().any(|r| !r.actions.is_empty());
        Table {
            headers: headers.iter().map(|h| tr.s(h)).collect(),
            rows,
            empty: tr.s("list.empty"),
            has_actions,
        }
    }
}

/// Previous/next links of a paged list.
pub(crate) struct Pager {
    pub prev: Option<String>,
    pub next: Option<String>,
    pub label: String,
}

impl Pager {
    /// The pager of page `page` of `total` items; `href(n)` links page `n`.
    pub fn new(tr: Tr, page: Page, total: u64, href: impl Fn(u32) -> String) -> Option<Pager> {
        let per = u64::from(page.per_page());
        let pages = total.div_ceil(per).max(1);
        let n = page.page();
        if pages <= 1 && n == 1 {
            return None;
        }
        Some(Pager {
            prev: (n > 1).then(|| href(n - 1)),
            next: (u64::from(n) < pages).then(|| href(n + 1)),
            label: format!("{} {n} / {pages} · {total}", tr.s("list.page")),
        })
    }
}

/// `?page=` of a list (and `?saved=1` after a save).
#[derive(serde::Deserialize, Default)]
pub(crate) struct PageQuery {
    #[serde(default)]
    pub page: String,
    #[serde(default)]
    pub saved: String,
}

/// A choice of a select.
pub(crate) struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// One form field (input, textarea, select, checkbox or secret).
pub(crate) struct Field {
    pub name: &'static str,
    pub label: &'static str,
    /// `text`, `email`, `password`, `number`, `date`, `textarea`, `select`,
    /// `checkbox`, `secret`.
    pub kind: &'static str,
    pub value: String,
    pub options: Vec<Opt>,
    pub checked: bool,
    /// For `secret`: whether a value is stored (shown as "•••• set").
    pub secret_set: bool,
    pub error: Option<String>,
    pub help: Option<&'static str>,
    pub required: bool,
}

impl Field {
    fn new(kind: &'static str, name: &'static str, label: &'static str) -> Field {
        Field {
            name,
            label,
            kind,
            value: String::new(),
            options: vec![],
            checked: false,
            secret_set: false,
            error: None,
            help: None,
            required: false,
        }
    }

    /// A text-like input (`kind`: text, email, password, number, date).
    pub fn input(
        kind: &'static str,
        name: &'static str,
        label: &'static str,
        value: &str,
    ) -> Field {
        Field {
            value: value.to_owned(),
            ..Self::new(kind, name, label)
        }
    }

    pub fn textarea(name: &'static str, label: &'static str, value: &str) -> Field {
        Self::input("textarea", name, label, value)
    }

    /// A select of `(value, label)` choices with `selected` chosen.
    pub fn select(
        name: &'static str,
        label: &'static str,
        choices: Vec<(String, String)>,
        selected: &str,
    ) -> Field {
        let options = choices
            .into_iter()
            .map(|(value, label)| Opt {
                selected: value == selected,
                value,
                label,
            })
            .collect();
        Field {
            options,
            ..Self::new("select", name, label)
        }
    }

    pub fn checkbox(name: &'static str, label: &'static str, checked: bool) -> Field {
        Field {
            checked,
            ..Self::new("checkbox", name, label)
        }
    }

    /// A write-only secret: "•••• set" when stored, an empty input to
    /// replace it and a checkbox `{name}_clear` to remove it.
    pub fn secret(name: &'static str, label: &'static str, is_set: bool) -> Field {
        Field {
            secret_set: is_set,
            ..Self::new("secret", name, label)
        }
    }

    pub fn required(mut self) -> Field {
        self.required = true;
        self
    }

    pub fn help(mut self, help: &'static str) -> Field {
        self.help = Some(help);
        self
    }
}

/// Per-field error messages of a submitted form.
#[derive(Default, Debug)]
pub(crate) struct FieldErrors(BTreeMap<&'static str, String>);

impl FieldErrors {
    /// Records `message` for `field` (the first message per field wins).
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.entry(field).or_insert_with(|| message.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds `other`'s messages for fields that have none yet.
    pub fn merge(&mut self, other: FieldErrors) {
        for (field, message) in other.0 {
            self.0.entry(field).or_insert(message);
        }
    }

    /// Parses `value` into `T`, recording `message` on failure.
    pub fn parse<T: std::str::FromStr>(
        &mut self,
        field: &'static str,
        value: &str,
        message: &str,
    ) -> Option<T> {
        match value.trim().parse() {
            Ok(v) => Some(v),
            Err(_) => {
                self.add(field, message);
                None
            }
        }
    }
}

/// A form.
pub(crate) struct Form {
    pub action: String,
    /// `post` or `get`.
    pub method: &'static str,
    pub submit: &'static str,
    pub fields: Vec<Field>,
    /// A message for the whole form.
    pub error: Option<String>,
    /// Shown but not editable (e.g. the tenant `agent` role).
    pub read_only: bool,
    /// Laid out in one row (filters).
    pub inline: bool,
    /// For GET forms driven by htmx: the element to update.
    pub hx_target: Option<&'static str>,
}

impl Form {
    pub fn post(action: impl Into<String>, submit: &'static str, fields: Vec<Field>) -> Form {
        Form {
            action: action.into(),
            method: "post",
            submit,
            fields,
            error: None,
            read_only: false,
            inline: false,
            hx_target: None,
        }
    }

    /// A one-line GET form of list filters; htmx replaces `#results` with
    /// the matching rows (the page also works without JavaScript).
    pub fn filters(action: impl Into<String>, submit: &'static str, fields: Vec<Field>) -> Form {
        Form {
            method: "get",
            inline: true,
            hx_target: Some("#results"),
            ..Self::post(action, submit, fields)
        }
    }

    /// Attaches the messages of `errors` to their fields.
    pub fn with_errors(mut self, errors: &FieldErrors) -> Form {
        for f in &mut self.fields {
            if let Some(m) = errors.0.get(f.name) {
                f.error = Some(m.clone());
            }
        }
        self
    }

    pub fn read_only(mut self, read_only: bool) -> Form {
        self.read_only = read_only;
        self
    }
}

/// A list page: optional filters, a table, a pager, an optional form.
#[derive(Template)]
#[template(path = "panel/list.html")]
pub(crate) struct ListPage {
    pub c: Chrome,
    pub heading: String,
    pub links: Vec<Link>,
    pub filters: Option<Form>,
    pub table: Table,
    pub pager: Option<Pager>,
    pub form: Option<Form>,
    pub form_title: &'static str,
}

impl ListPage {
    /// A list titled like the frame `c`, showing `table` and `pager`.
    pub fn new(c: Chrome, table: Table, pager: Option<Pager>) -> ListPage {
        ListPage {
            heading: c.title.clone(),
            c,
            links: vec![],
            filters: None,
            table,
            pager,
            form: None,
            form_title: "",
        }
    }

    /// Buttons next to the heading.
    pub fn links(mut self, links: Vec<Link>) -> ListPage {
        self.links = links;
        self
    }

    /// The filter form above the table.
    pub fn filters(mut self, filters: Form) -> ListPage {
        self.filters = Some(filters);
        self
    }

    /// A form below the table (creating an item), if any.
    pub fn form(mut self, title: &'static str, form: Option<Form>) -> ListPage {
        self.form_title = title;
        self.form = form;
        self
    }
}

/// A page with one form (create/edit), plus extra actions.
#[derive(Template)]
#[template(path = "panel/form.html")]
pub(crate) struct FormPage {
    pub c: Chrome,
    pub heading: String,
    pub form: Form,
    pub actions: Vec<Action>,
    pub back: Link,
}

/// A message (errors, a key shown once, recovery codes).
#[derive(Template)]
#[template(path = "panel/message.html")]
pub(crate) struct MessagePage {
    pub c: Chrome,
    pub heading: String,
    pub paragraphs: Vec<String>,
    /// Monospace lines (a secret shown once).
    pub code: Vec<String>,
    pub link: Option<Link>,
}

/// `t` rendered as an HTML page with `status`.
pub(crate) fn html<T: Template>(t: &T, status: StatusCode) -> Result<HttpResponse, PanelError> {
    let body = t.render()?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body))
}

/// `t` as a 200 page.
pub(crate) fn ok<T: Template>(t: &T) -> Result<HttpResponse, PanelError> {
    html(t, StatusCode::OK)
}
