//! The web panel in a real headless Chromium, driven over WebDriver
//! (chromedriver on a free port, fantoccini as the client), on SQLite:
//! TOTP enrolment and a two-factor login, the dashboard, creating an agent
//! with masked credentials, a call's transcript and latency waterfall, form
//! errors, Spanish, and the masquerade banner. Every step is saved as a PNG
//! under `$PARLA_ARTIFACTS_DIR/panel/` (default `<workspace>/artifacts/panel/`).
//!
//! Without `/usr/bin/chromium` or `chromedriver` the test is skipped with a
//! notice, unless `PARLA_REQUIRE_BROWSER=1` (CI), where it fails.

use crate::panel_app;
use crate::support;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fantoccini::{Client, ClientBuilder, Locator};
use panel_app::{
    finished_call, five_seconds_ago, member, recordings_dir, spawn, ROOT_EMAIL, ROOT_PASSWORD,
    SECRET,
};
use parla_admin_core::domain::TenantRole;
use parla_admin_core::store::{Backend, Page};
use parla_admin_web::panel::PanelOptions;
use serde_json::json;
use support::{agent, tenant, Ctx};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER_CANDIDATES: [&str; 2] =
    ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"];

/// chromedriver, killed (by its own pid) when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts chromedriver and waits until it accepts connections.
fn start_driver(binary: &Path) -> Driver {
    let port = free_port();
    let child = Command::new(binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver { child, port };
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    driver
}

fn artifacts_dir() -> PathBuf {
    let base = std::env::var_os("PARLA_ARTIFACTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../artifacts"));
    let dir = base.join("panel");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A 0.5 s 8 kHz mono 16-bit WAV of a 440 Hz tone.
fn wav() -> Vec<u8> {
    let samples: Vec<i16> = (0..4000)
        .map(|i| ((i as f32 * 440.0 * std::f32::consts::TAU / 8000.0).sin() * 8000.0) as i16)
        .collect();
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&8000u32.to_le_bytes());
    out.extend_from_slice(&16000u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

/// The TOTP code of base32 `secret` at `unix_s`.
fn totp_code(secret: &str, unix_s: u64) -> String {
    let bytes = totp_rs::Secret::Encoded(secret.to_owned())
        .to_bytes()
        .unwrap();
    totp_rs::TOTP::new_unchecked(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        30,
        bytes,
        None,
        String::new(),
    )
    .generate(unix_s)
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn panel_in_chromium() {
    let required = std::env::var("PARLA_REQUIRE_BROWSER").as_deref() == Ok("1");
    let driver = CHROMEDRIVER_CANDIDATES
        .iter()
        .map(Path::new)
        .find(|p| p.exists());
    let (Some(driver), true) = (driver, Path::new(CHROMIUM).exists()) else {
        assert!(
            !required,
            "PARLA_REQUIRE_BROWSER=1 but {CHROMIUM} or chromedriver is missing"
        );
        println!("SKIPPED panel_in_chromium: chromium or chromedriver not installed");
        return;
    };
    let driver = driver.to_path_buf();
    support::run(Backend::Sqlite, "panel_browser", move |ctx| {
        scenario(ctx, driver)
    })
    .await;
}

/// The browser session and where its screenshots go.
struct Browser {
    c: Client,
    base: String,
    shots: PathBuf,
}

impl Browser {
    async fn goto(&self, path: &str) {
        self.c.goto(&format!("{}{path}", self.base)).await.unwrap();
    }

    async fn shot(&self, name: &str) {
        let png = self.c.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "screenshot is not a PNG");
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }

    async fn fill(&self, css: &str, text: &str) {
        let el = self
            .c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        el.clear().await.unwrap();
        el.send_keys(text).await.unwrap();
    }

    async fn click(&self, css: &str) {
        self.c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// Waits for `css` to appear (after a navigation).
    async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        self.c
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("waiting for {css}: {e}"))
    }

    async fn text(&self, css: &str) -> String {
        self.wait_for(css).await.text().await.unwrap()
    }

    async fn js(&self, script: &str) -> serde_json::Value {
        self.c.execute(script, vec![]).await.unwrap()
    }

    async fn source(&self) -> String {
        self.c.source().await.unwrap()
    }
}

async fn scenario(ctx: Ctx, driver_binary: PathBuf) {
    let s = &ctx.store;
    let rec = recordings_dir();
    std::fs::write(rec.join("call.wav"), wav()).unwrap();
    let app = spawn(
        &ctx,
        PanelOptions {
            recordings_dir: Some(rec.clone()),
            engine_stats: None,
        },
    )
    .await;
    let (acme, scope) = tenant(s, "Acme Dental").await;
    member(s, &scope, "admin@acme.example", TenantRole::Admin).await;
    let bot = agent(s, &scope, "Receptionist").await;
    let call = finished_call(
        s,
        &scope,
        Some(bot.id),
        five_seconds_ago(),
        Some("call.wav".to_owned()),
    )
    .await;
    let ta = acme.id.to_string();

    let driver = start_driver(&driver_binary);
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                "--disable-dev-shm-usage", "--window-size=1280,900", "--lang=en-US"
            ]
        }
    });
    let serde_json::Value::Object(caps) = caps else {
        unreachable!()
    };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let c = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("WebDriver session");
    let b = Browser {
        c,
        base: app.base.clone(),
        shots: artifacts_dir(),
    };

    // 1. Password login, then TOTP enrolment on the account page.
    b.goto("/panel/login").await;
    b.shot("01-login").await;
    b.fill("#f-email", ROOT_EMAIL).await;
    b.fill("#f-password", ROOT_PASSWORD).await;
    b.click("button[type=submit]").await;
    b.wait_for(".stats").await;
    // The stylesheet and htmx loaded under the CSP.
    let header_bg = b
        .js("return getComputedStyle(document.querySelector('header.top')).backgroundColor")
        .await;
    assert_eq!(header_bg, "rgb(29, 35, 48)");
    assert_eq!(b.js("return typeof htmx").await, "object");
    b.goto("/panel/account").await;
    b.click("#totp button[type=submit]").await;
    let secret = b.text("#totp-secret").await;
    assert_eq!(secret.len(), 32, "base32 secret: {secret}");
    assert!(b.source().await.contains("otpauth://totp/"));
    b.shot("02-totp-enrolment").await;
    let enrolled_at = now_s();
    b.fill("#f-code", &totp_code(&secret, enrolled_at)).await;
    b.click("#totp button.primary").await;
    let codes = b.text("pre.once").await;
    assert_eq!(codes.lines().count(), 10, "recovery codes: {codes}");
    b.shot("03-recovery-codes").await;
    b.click("form[action='/panel/logout'] button").await;
    b.wait_for("#f-email").await;

    // 2. Login with password + TOTP (the next time step's code: the
    // current one was just used, and replays are refused).
    b.fill("#f-email", ROOT_EMAIL).await;
    b.fill("#f-password", ROOT_PASSWORD).await;
    b.click("button[type=submit]").await;
    b.wait_for("#f-code").await;
    b.shot("04-login-second-factor").await;
    b.fill("#f-code", &totp_code(&secret, enrolled_at + 30))
        .await;
    b.click("button[type=submit]").await;
    b.wait_for(".stats").await;
    assert!(b.text("main").await.contains("Live calls (all tenants)"));
    b.shot("05-dashboard-super-admin").await;

    // 3. Tenants, then the tenant's dashboard.
    b.goto("/panel/tenants").await;
    b.wait_for("table").await;
    assert!(b.text("table").await.contains("Acme Dental"));
    b.shot("06-tenants").await;
    b.goto(&format!("/panel/t/{ta}/")).await;
    let stats = b.text(".stats").await;
    assert!(
        stats.contains("640 ms") && stats.contains("780 ms"),
        "{stats}"
    );
    b.shot("07-tenant-dashboard").await;

    // 4. A form with errors, then a new agent with credentials.
    b.goto(&format!("/panel/t/{ta}/agents/new")).await;
    b.fill("#f-name", "").await;
    b.fill("#f-endpointing_ms", "soon").await;
    b.fill("#f-credentials", "not json").await;
    b.click("form.form button.primary").await;
    b.wait_for(".has-error").await;
    let errors = b.text("main").await;
    assert!(
        errors.contains("Enter a name of 1 to 100 characters."),
        "{errors}"
    );
    assert!(errors.contains("Enter a JSON object"), "{errors}");
    b.shot("08-agent-form-errors").await;
    b.goto(&format!("/panel/t/{ta}/agents/new")).await;
    b.fill("#f-name", "Night shift").await;
    b.fill("#f-greeting", "Good evening, Acme Dental.").await;
    b.fill("#f-llm_provider", "openai").await;
    b.fill(
        "#f-credentials",
        &format!("{{\"llm\": {{\"api_key\": \"{SECRET}\"}}}}"),
    )
    .await;
    b.click("form.form button.primary").await;
    b.wait_for(".notice").await;
    let page = b.source().await;
    assert!(page.contains("•••• set"), "credentials not shown as set");
    assert!(!page.contains(SECRET), "credentials leaked into the page");
    let field = b.wait_for("#f-credentials").await;
    assert_eq!(field.prop("value").await.unwrap().unwrap_or_default(), "");
    b.shot("09-agent-saved-masked").await;
    let saved = s.agents().list(&scope, Page::default()).await.unwrap();
    assert!(saved
        .items
        .iter()
        .any(|a| a.name.to_string() == "Night shift" && a.credentials_enc.is_some()));

    // 5. The call: transcript, waterfall, audio player.
    b.goto(&format!("/panel/t/{ta}/calls")).await;
    b.wait_for("#results table").await;
    b.shot("10-calls").await;
    b.goto(&format!("/panel/t/{ta}/calls/{call}")).await;
    let transcript = b.text("#transcript").await;
    assert!(
        transcript.contains("I need to move my appointment to Friday."),
        "{transcript}"
    );
    assert!(transcript.contains("interrupted"));
    let bars = b
        .js("return document.querySelectorAll('svg.waterfall rect').length")
        .await;
    assert_eq!(bars, 8, "4 stages × 2 turns");
    let svg_width = b
        .js("return document.querySelector('svg.waterfall').getBoundingClientRect().width")
        .await;
    assert!(
        svg_width.as_f64().unwrap() > 300.0,
        "waterfall width {svg_width}"
    );
    assert!(b.text("#waterfall").await.contains("v2v 780 ms"));
    let duration = b
        .js("const a = document.querySelector('#recording'); return new Promise(r => { if (a.readyState > 0) r(a.duration); a.preload = 'metadata'; a.onloadedmetadata = () => r(a.duration); a.onerror = () => r(-1); a.load(); });")
        .await;
    assert!(
        (duration.as_f64().unwrap() - 0.5).abs() < 0.05,
        "recording duration {duration}"
    );
    b.shot("11-call-detail").await;
    b.js("document.querySelector('#waterfall').scrollIntoView()")
        .await;
    b.shot("11b-call-waterfall").await;

    // 6. Spanish.
    b.click("a.lang").await;
    b.wait_for("#transcript").await;
    assert!(b.text("main").await.contains("Transcripción"));
    b.shot("12-call-detail-es").await;
    b.click("a.lang").await;
    b.wait_for("#transcript").await;

    // 7. "Log in as" the tenant's admin: the banner, then back.
    b.goto("/panel/tenants").await;
    b.click(&format!(
        "form[action='/panel/tenants/{ta}/masquerade'] button"
    ))
    .await;
    let banner = b.text(".banner.masq").await;
    assert!(
        banner.contains("You are logged in as") && banner.contains("admin@acme.example"),
        "{banner}"
    );
    b.shot("13-masquerade-banner").await;
    b.click(".banner.masq button").await;
    b.wait_for("table").await;
    assert!(b.c.find(Locator::Css(".banner.masq")).await.is_err());

    // 8. A narrow screen: the navigation moves on top.
    b.c.set_window_size(420, 860).await.unwrap();
    b.goto(&format!("/panel/t/{ta}/calls/{call}")).await;
    b.wait_for("#transcript").await;
    b.shot("14-call-detail-narrow").await;

    b.c.clone().close().await.unwrap();
    drop(driver);
    app.stop().await;
    let _ = std::fs::remove_dir_all(&rec);
}
