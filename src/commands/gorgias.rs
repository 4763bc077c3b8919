//! `tether gorgias install-widget [--card]` and `tether gorgias uninstall-widget`: put
//! tether's sidebar widgets (and, with `--card`, the HTTP integration calling the card
//! endpoint) in Gorgias, or take them out. Also called by `tether setup` when
//! `sidebar.install` is `widget` or `card`.
//!
//! Edge code: lists what Gorgias has, asks `crate::sidebar::install` what to change, applies
//! it. Must never touch an integration or widget that is not tether's, and never print the
//! card secret.

use super::{Global, UsageError};
use crate::config::SidebarSettings;
use crate::connectors::gorgias::{GorgiasClient, IntegrationSpec, WidgetSpec};
use crate::secret::Secret;
use crate::sidebar::{Step, find, plan_install, plan_uninstall, template};
use anyhow::Context;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct GorgiasArgs {
    #[command(subcommand)]
    pub command: GorgiasCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum GorgiasCommand {
    /// Install (or update) tether's sidebar widget; `--card` adds the live HubSpot card.
    InstallWidget {
        /// Also install the HTTP integration calling tether's card endpoint, and its widget
        /// (needs sidebar.public_url and sidebar.card_secret).
        #[arg(long)]
        card: bool,
    },
    /// Remove tether's widgets and integration from Gorgias (nothing else).
    UninstallWidget,
}

/// Ticket events that refresh the card.
pub const CARD_TRIGGERS: &[&str] = &["ticket-created", "ticket-updated", "ticket-message-created"];

/// The HTTP integration that calls the card endpoint under `public_url`.
pub fn card_integration(s: &SidebarSettings) -> IntegrationSpec {
    IntegrationSpec {
        name: s.name.clone(),
        description: "HubSpot contact, company and open deals, served by tether".into(),
        url: format!(
            "{}{}?email={{{{ticket.customer.email}}}}&customer_id={{{{ticket.customer.id}}}}",
            s.public_url.trim_end_matches('/'),
            crate::service::card::CARD_PATH
        ),
        headers: [(s.card_header.clone(), Secret::new(s.card_secret.expose()))].into(),
        triggers: CARD_TRIGGERS.iter().map(|t| (*t).to_owned()).collect(),
    }
}

/// Installs the widget (and the card with `card`), printing one line per change.
pub async fn install(
    gorgias: &GorgiasClient,
    s: &SidebarSettings,
    fields: &[(String, String)],
    card: bool,
) -> anyhow::Result<()> {
    if card && (s.public_url.is_empty() || s.card_secret.is_empty()) {
        return Err(UsageError(
            "--card needs sidebar.public_url and sidebar.card_secret (TETHER__SIDEBAR__PUBLIC_URL, TETHER__SIDEBAR__CARD_SECRET)".into(),
        )
        .into());
    }
    let integrations = gorgias
        .http_integrations()
        .await
        .context("listing Gorgias integrations")?;
    let widgets = gorgias.widgets().await.context("listing Gorgias widgets")?;
    let installed = find(&s.name, &integrations, &widgets);
    let mut integration_id = installed.integrations.first().copied();
    for step in plan_install(&installed, card) {
        match step {
            Step::PutCustomWidget(id) => {
                let spec = WidgetSpec {
                    kind: "custom".into(),
                    context: "ticket".into(),
                    integration_id: None,
                    order: 0,
                    template: template::custom_template(&s.name, fields),
                };
                let got = gorgias
                    .put_widget(id, &spec)
                    .await
                    .context("saving the custom widget")?;
                println!(
                    "{} the custom widget {got} ({} fields)",
                    verb(id),
                    fields.len()
                );
            }
            Step::PutIntegration(id) => {
                let got = gorgias
                    .put_integration(id, &card_integration(s))
                    .await
                    .context("saving the HTTP integration")?;
                integration_id = Some(got);
                println!("{} the HTTP integration {got} ({:?})", verb(id), s.name);
            }
            Step::PutCardWidget(id) => {
                let spec = WidgetSpec {
                    kind: "http".into(),
                    context: "ticket".into(),
                    integration_id,
                    order: 0,
                    template: template::card_template(&s.name),
                };
                let got = gorgias
                    .put_widget(id, &spec)
                    .await
                    .context("saving the card widget")?;
                println!("{} the card widget {got}", verb(id));
            }
            Step::DeleteWidget(_) | Step::DeleteIntegration(_) => {}
        }
    }
    Ok(())
}

fn verb(id: Option<i64>) -> &'static str {
    if id.is_some() { "updated" } else { "created" }
}

/// Removes every widget and integration of tether's, printing one line per removal.
pub async fn uninstall(gorgias: &GorgiasClient, s: &SidebarSettings) -> anyhow::Result<usize> {
    let integrations = gorgias
        .http_integrations()
        .await
        .context("listing Gorgias integrations")?;
    let widgets = gorgias.widgets().await.context("listing Gorgias widgets")?;
    let steps = plan_uninstall(&find(&s.name, &integrations, &widgets));
    for step in &steps {
        match step {
            Step::DeleteWidget(id) => {
                gorgias
                    .delete_widget(*id)
                    .await
                    .context("deleting a widget")?;
                println!("removed widget {id}");
            }
            Step::DeleteIntegration(id) => {
                gorgias
                    .delete_integration(*id)
                    .await
                    .context("deleting the integration")?;
                println!("removed HTTP integration {id}");
            }
            _ => {}
        }
    }
    if steps.is_empty() {
        println!("nothing of tether's is installed in Gorgias");
    }
    Ok(steps.len())
}

pub async fn run(global: &Global, args: GorgiasArgs) -> anyhow::Result<ExitCode> {
    let loaded = global.load_config()?;
    let settings = &loaded.settings;
    let (_, gorgias) = super::sync::clients(settings)?;
    match args.command {
        GorgiasCommand::InstallWidget { card } => {
            let mappings = super::sync::load_mappings(settings)?;
            let fields = template::tether_fields(&mappings);
            install(&gorgias, &settings.sidebar, &fields, card).await?;
        }
        GorgiasCommand::UninstallWidget => {
            uninstall(&gorgias, &settings.sidebar).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
