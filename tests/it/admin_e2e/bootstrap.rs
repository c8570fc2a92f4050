//! The first super admin: bootstrapped on start, created from the CLI.

use super::*;

pub(super) async fn super_admin_is_bootstrapped_and_created_from_the_cli(
    db: std::sync::Arc<TestDb>,
) {
    let data = tempdir::Dir::new("admin-boot");
    let ports = rtp_range(1, 2); // one instance at a time
                                 // Processes: the generated password is printed on the binary's stderr.
    let start = || {
        Parla::spawn_process(Launch {
            config_toml: None,
            rtp_ports: ports.clone(),
            env: db.env(),
            data_dir: Some(data.0.clone()),
        })
    };
    let parla = start();
    // The generated password is printed once; wait for the log line.
    let deadline = Instant::now() + Duration::from_secs(10);
    let password = loop {
        let log = parla.log_text();
        if let Some(p) = log.lines().find_map(|l| {
            l.strip_prefix("parla: created super admin admin@parla.localhost with password ")
                .and_then(|rest| rest.split_whitespace().next())
                .map(str::to_owned)
        }) {
            break p;
        }
        assert!(
            Instant::now() < deadline,
            "no generated password in:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(password.len() >= 20, "a strong password: {password}");
    // Only the stderr line carries it, never a log record.
    std::thread::sleep(Duration::from_millis(200));
    let log = parla.log_text();
    assert_eq!(log.matches(password.as_str()).count(), 1, "{log}");
    let api = Api::of(&parla);
    let token = api.login("admin@parla.localhost", &password).await;
    let me = api.get("/me", &token).await;
    assert!(me.to_string().contains("super_admin"), "{me:#}");
    drop(parla);

    // The CLI: password on stdin; the policy applies.
    let cli = |password: &str| {
        use std::io::Write as _;
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_parla"));
        cmd.args(["admin", "create-super-admin", "--email", "ops@example.com"])
            .arg("--data-dir")
            .arg(&data.0)
            .env_remove("PARLA_ADMIN_PASSWORD")
            .env_remove("PARLA_DATABASE_URL")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (k, v) in db.env() {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("parla admin");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{password}\n").as_bytes())
            .unwrap();
        child.wait_with_output().expect("parla admin output")
    };
    let weak = cli("short");
    assert!(!weak.status.success());
    let err = String::from_utf8_lossy(&weak.stderr);
    assert!(err.contains("password does not meet the policy"), "{err}");
    let ok = cli("operations password 42");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let dup = cli("operations password 42");
    assert!(!dup.status.success(), "the e-mail is taken");

    // Restarted: no second bootstrap; both super admins log in.
    let parla = start();
    let api = Api::of(&parla);
    api.login("ops@example.com", "operations password 42").await;
    let token = api.login("admin@parla.localhost", &password).await;
    assert!(!parla.log_text().contains("with password"), "printed once");
    let _ = token;

    // Both creations are in the audit log, by the server and by the CLI.
    let store = parla_admin_core::store::Store::connect(&db.url(&data.0))
        .await
        .expect("open the store");
    let filter = parla_admin_core::store::AuditFilter {
        action: Some("super_admin.create".into()),
        ..Default::default()
    };
    let audit = store
        .audit()
        .list_all(&filter, Default::default())
        .await
        .unwrap();
    let mut actors: Vec<&str> = audit.items.iter().map(|e| e.actor_label.as_str()).collect();
    actors.sort_unstable();
    assert_eq!(actors, ["system:bootstrap", "system:cli"], "{audit:#?}");
    store.close().await;
}
