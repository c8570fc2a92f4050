//! First start: the agents of `parla.toml` become voice agents of the
//! `default` tenant, with their numbers, so the offline demo keeps working.
//! Once that tenant exists nothing is imported again: edits made in the
//! panel or API win over the file.

use anyhow::Context as _;
use parla_admin_core::auth::secrets::associated_data;
use parla_admin_core::auth::SecretKey;
use parla_admin_core::domain::{JsonText, Name, NumberAddress, Opaque, Slug};
use parla_admin_core::store::{AgentSpec, NewNumber, NewTenant, Store, TenantScope};
use parla_engine::agent::{AgentConfig, ParlaConfig};
use parla_engine::providers::config::{section_into_parts, LlmProviderConfig};
use parla_spec::{AgentProviders, ProviderInput};

use crate::bootstrap::{audit_system, Actor};
use crate::routing::stored_address;

/// Slug of the tenant `parla.toml` agents are imported into.
pub const DEFAULT_TENANT_SLUG: &str = "default";
/// Its display name.
pub const DEFAULT_TENANT_NAME: &str = "Default";

/// What [`import_if_first_start`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum ImportOutcome {
    /// The default tenant already existed: nothing imported.
    AlreadyImported,
    /// Created the default tenant with this many agents.
    Imported { agents: usize, numbers: usize },
}

/// Imports `config` into a new `default` tenant unless that tenant exists.
pub async fn import_if_first_start(
    store: &Store,
    secrets: &SecretKey,
    config: &ParlaConfig,
) -> anyhow::Result<ImportOutcome> {
    let slug: Slug = DEFAULT_TENANT_SLUG.parse().expect("valid slug");
    if store.tenants().get_by_slug(&slug).await?.is_some() {
        return Ok(ImportOutcome::AlreadyImported);
    }
    // Validate everything before writing anything.
    let mut prepared = Vec::with_capacity(config.agents.len());
    let mut taken: Vec<NumberAddress> = Vec::new();
    for agent in &config.agents {
        let mut p = prepare(agent).with_context(|| format!("importing agent {:?}", agent.name))?;
        // parla.toml matches agents in file order: a number listed again by
        // a later agent never reached it, so it stays with the first.
        p.numbers.retain(|n| {
            let first = !taken.contains(n);
            if !first {
                tracing::warn!(agent = %agent.name, number = %n, "number already routed to an earlier agent: not imported for this one");
            }
            first
        });
        taken.extend(p.numbers.iter().cloned());
        prepared.push(p);
    }
    let tenant = store
        .tenants()
        .create(NewTenant {
            name: DEFAULT_TENANT_NAME.parse().expect("valid name"),
            slug,
            plan: None,
        })
        .await
        .context("creating the default tenant")?;
    let scope = TenantScope::new(tenant.id);
    audit_system(
        store,
        Actor::Server,
        Some(tenant.id),
        "tenant.create",
        tenant.id.to_string(),
        serde_json::json!({ "id": tenant.id, "name": tenant.name, "slug": tenant.slug }),
    )
    .await?;
    let ad = associated_data("voice_agents", &tenant.id.to_string(), "credentials_enc");
    let mut numbers = 0;
    for p in &prepared {
        let credentials = secrets
            .encrypt_str(&p.credentials.to_string(), &ad)
            .context("encrypting credentials")?;
        let agent = store
            .agents()
            .create(&scope, &p.spec, Some(&Opaque::new(credentials)))
            .await
            .with_context(|| format!("creating agent {}", p.spec.name))?;
        store
            .agents()
            .set_engine_options(&scope, agent.id, Some(&JsonText(p.options.clone())))
            .await?;
        for address in &p.numbers {
            store
                .numbers()
                .create(
                    &scope,
                    NewNumber {
                        address: address.clone(),
                        agent_id: Some(agent.id),
                    },
                )
                .await
                .with_context(|| format!("adding number {address} of agent {}", p.spec.name))?;
            numbers += 1;
        }
        audit_system(
            store,
            Actor::Server,
            Some(tenant.id),
            "agent.import",
            agent.id.to_string(),
            serde_json::json!({
                "id": agent.id,
                "name": agent.name,
                "numbers": p.numbers.iter().map(NumberAddress::as_str).collect::<Vec<_>>(),
            }),
        )
        .await?;
    }
    Ok(ImportOutcome::Imported {
        agents: prepared.len(),
        numbers,
    })
}

/// One agent of the file, in database form.
struct Prepared {
    spec: AgentSpec,
    credentials: serde_json::Value,
    options: serde_json::Value,
    numbers: Vec<NumberAddress>,
}

fn prepare(a: &AgentConfig) -> anyhow::Result<Prepared> {
    let name: Name = a.name.parse().context("agent name")?;
    // The conversation core's rules (a caller never waits more than 2 s in
    // silence, …): the stored agent would be refused at every call.
    a.conversation().validate()?;
    let (stt_kind, stt) = section_into_parts(&a.stt)?;
    let (tts_kind, tts) = section_into_parts(&a.tts)?;
    // An inline flow script goes to the agent's `flow` column (visible and
    // editable in the panel). A `script` file and `api_key_env` were already
    // resolved into content when parla.toml was loaded
    // (`ParlaConfig::from_toml`): no path or variable name reaches the database.
    let (flow, llm_config) = match &a.llm {
        LlmProviderConfig::Flow(f) if f.flow.is_some() => {
            let doc = serde_json::to_value(&f.flow).context("flow script")?;
            let mut rest = f.clone();
            rest.flow = None;
            (Some(JsonText(doc)), LlmProviderConfig::Flow(rest))
        }
        other => (None, other.clone()),
    };
    let (llm_kind, llm) = section_into_parts(&llm_config)?;
    let credentials = serde_json::json!({ "stt": stt, "llm": llm, "tts": tts });
    // The same allow-lists as the API and the panel, so the agent can run.
    AgentProviders::from_input(&ProviderInput {
        stt_provider: &stt_kind,
        llm_provider: &llm_kind,
        tts_provider: &tts_kind,
        credentials: Some(&credentials),
        flow: flow.as_ref().map(|f: &JsonText<serde_json::Value>| &f.0),
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut numbers = Vec::new();
    for n in &a.numbers {
        let address = stored_address(n)
            .with_context(|| format!("number {n:?} is not a phone number, SIP URI, user or *"))?;
        if !numbers.contains(&address) {
            numbers.push(address);
        }
    }
    Ok(Prepared {
        spec: AgentSpec {
            name,
            greeting: a.greeting.clone(),
            system_prompt: a.system_prompt.clone(),
            flow,
            language: a.language.clone(),
            stt_provider: stt_kind,
            llm_provider: llm_kind,
            tts_provider: tts_kind,
            voice: a.voice.clone(),
            barge_in_enabled: a.barge_in,
            barge_in_min_ms: a.barge_in_min_ms,
            endpointing_ms: a.endpointing_ms,
        },
        credentials,
        options: serde_json::to_value(crate::agents::engine_options_of(a))
            .context("engine options")?,
        numbers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped configurations pass the tenant allow-lists, so their
    /// import succeeds and the imported agents can run.
    #[test]
    fn shipped_configs_fit_the_allow_lists() {
        for text in [
            include_str!("../parla.toml"),
            include_str!("../docs/load-parla.toml"),
        ] {
            let config = ParlaConfig::from_toml(text).unwrap();
            for agent in &config.agents {
                let p = prepare(agent).unwrap_or_else(|e| panic!("{}: {e:#}", agent.name));
                assert!(
                    !p.credentials.to_string().contains("api_key_env"),
                    "no variable names are stored"
                );
            }
        }
    }

    #[test]
    fn settings_the_conversation_core_refuses_are_not_imported() {
        let mut config = ParlaConfig::from_toml(include_str!("../parla.toml")).unwrap();
        let agent = &mut config.agents[0];
        agent.response_timeout_ms = 5_000;
        let e = format!("{:#}", prepare(agent).err().expect("refused"));
        assert!(e.contains("response_timeout_ms must be in 1..=2000"), "{e}");
    }

    #[test]
    fn settings_outside_the_allow_lists_are_not_imported() {
        let mut config = ParlaConfig::from_toml(include_str!("../parla.toml")).unwrap();
        let agent = &mut config.agents[0];
        agent.tts = parla_engine::providers::config::TtsProviderConfig::Espeak(
            parla_engine::providers::espeak::EspeakConfig {
                rate_wpm: 5000,
                ..Default::default()
            },
        );
        let e = format!("{:#}", prepare(agent).err().expect("refused"));
        assert!(e.contains("credentials.tts.rate_wpm"), "{e}");
    }
}
