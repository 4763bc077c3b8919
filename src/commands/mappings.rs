//! `tether mappings check [DIR]`: validates the mapping files and prints a summary (exit 0),
//! or every problem with its file, line, key and what is expected (exit 2).
//!
//! Edge code only: reads the directory through [`crate::mappings::load_dir`] and prints.
//! Must never hold mapping rules itself.

use super::Global;
use crate::mappings::{self, Direction, GorgiasAccess, HubspotAccess, MappingSet};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct MappingsArgs {
    #[command(subcommand)]
    pub action: MappingsAction,
}

#[derive(Debug, clap::Subcommand)]
pub enum MappingsAction {
    /// Validate the mapping files (every *.toml directly in DIR) and summarise them.
    Check {
        /// Mapping directory (default: `mappings.dir` from the configuration, else `mappings`).
        dir: Option<PathBuf>,
    },
}

pub async fn run(global: &Global, args: MappingsArgs) -> anyhow::Result<ExitCode> {
    match args.action {
        MappingsAction::Check { dir } => {
            let dir = match dir {
                Some(d) => d,
                None => global.load_config()?.settings.mappings.dir,
            };
            match mappings::load_dir(&dir) {
                Ok(set) => {
                    print!("{}", summary(&set));
                    Ok(ExitCode::SUCCESS)
                }
                Err(errors) => {
                    eprint!("{errors}");
                    Ok(ExitCode::from(2))
                }
            }
        }
    }
}

fn hubspot_label(a: &HubspotAccess) -> String {
    match a {
        HubspotAccess::Id => "@id".into(),
        HubspotAccess::Property(p) => p.clone(),
        HubspotAccess::Join(a, b) => format!("{a}+{b}"),
    }
}

fn gorgias_label(a: &GorgiasAccess) -> String {
    match a {
        GorgiasAccess::Id => "@id".into(),
        GorgiasAccess::Top(t) => t.clone(),
        GorgiasAccess::JoinNames => "firstname+lastname".into(),
        GorgiasAccess::PhoneChannel => "channels.phone".into(),
        GorgiasAccess::Data(p) => format!("data.{}", p.join(".")),
        GorgiasAccess::Computed(c) => c.source.name().into(),
    }
}

/// The text printed on success.
pub fn summary(set: &MappingSet) -> String {
    let mut s = String::new();
    let files: Vec<String> = set
        .sources
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    s.push_str(&format!(
        "mappings OK: {} field{} from {}\n",
        set.fields.len() + set.rollups.len(),
        if set.fields.len() + set.rollups.len() == 1 {
            ""
        } else {
            "s"
        },
        files.join(", ")
    ));
    for f in set.fields.iter().chain(&set.rollups) {
        let arrow = match f.direction {
            Direction::Both => "<->",
            Direction::ToHubspot => "<- ",
            Direction::ToGorgias => " ->",
        };
        let policy = match f.direction {
            Direction::Both => format!(
                "  conflict: {}",
                serde_json::to_value(f.conflict)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ),
            _ => String::new(),
        };
        s.push_str(&format!(
            "  {:<20} hubspot {:<28} {arrow} gorgias {:<32} type: {}{policy}\n",
            f.name,
            hubspot_label(&f.hubspot),
            gorgias_label(&f.gorgias),
            serde_json::to_value(f.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
        ));
    }
    let r = &set.records;
    s.push_str(&format!(
        "records: require e-mail: {}; filters: {}; create in HubSpot: {}; create in Gorgias: {}; link by: {}\n",
        yes(r.require_email),
        r.filters.len(),
        yes(r.create_in_hubspot),
        yes(r.create_in_gorgias),
        ["recorded ids".to_owned()]
            .into_iter()
            .chain(r.email_field.iter().map(|f| format!("e-mail ({f})")))
            .chain(r.phone_field.iter().map(|f| format!("phone ({f})")))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let props = set.hubspot_properties();
    if !props.is_empty() {
        let names: Vec<String> = props
            .iter()
            .map(|p| format!("{} ({})", p.name, p.kind))
            .collect();
        s.push_str(&format!(
            "HubSpot custom properties (created by `tether setup` when missing): {}\n",
            names.join(", ")
        ));
    }
    s
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}
