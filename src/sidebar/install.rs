//! Which Gorgias integration and widgets are tether's, and what installing or uninstalling
//! must do to them. Integrations are found by name (type `http`); widgets have no name, so
//! tether's `custom` widget is the one whose card reads `data.tether`
//! ([`CUSTOM_CARD_PATH`]) and its `http` widget is the one bound to its integration.
//!
//! Pure: the command lists, this decides, the command applies. Must never pick anything
//! that is not tether's for an update or a deletion.

use super::template::CUSTOM_CARD_PATH;
use crate::connectors::gorgias::{Integration, Widget};
use serde_json::Value;

/// One change to make in Gorgias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Create the card's HTTP integration (`None`) or update it in place (`Some(id)`).
    PutIntegration(Option<i64>),
    /// Create or update the `http` widget of the integration.
    PutCardWidget(Option<i64>),
    /// Create or update the `custom` widget over `data.tether`.
    PutCustomWidget(Option<i64>),
    DeleteWidget(i64),
    DeleteIntegration(i64),
}

/// What of tether's is installed now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Installed {
    /// Tether's HTTP integrations (the first is the one kept; more only if someone copied it).
    pub integrations: Vec<i64>,
    /// `http` widgets bound to one of tether's integrations.
    pub card_widgets: Vec<i64>,
    /// `custom` widgets whose card reads `data.tether`.
    pub custom_widgets: Vec<i64>,
}

fn reads_tether_data(template: &Value) -> bool {
    template
        .get("widgets")
        .and_then(Value::as_array)
        .is_some_and(|ws| {
            ws.iter().any(|w| {
                w.get("type").and_then(Value::as_str) == Some("card")
                    && w.get("path").and_then(Value::as_str) == Some(CUSTOM_CARD_PATH)
            })
        })
}

/// Finds tether's integration (by `name`) and widgets among what Gorgias lists.
pub fn find(name: &str, integrations: &[Integration], widgets: &[Widget]) -> Installed {
    let mut ints: Vec<i64> = integrations
        .iter()
        .filter(|i| i.kind == "http" && i.name == name)
        .map(|i| i.id)
        .collect();
    ints.sort_unstable();
    let mut card_widgets: Vec<i64> = widgets
        .iter()
        .filter(|w| w.kind == "http" && w.integration_id.is_some_and(|id| ints.contains(&id)))
        .map(|w| w.id)
        .collect();
    card_widgets.sort_unstable();
    let mut custom_widgets: Vec<i64> = widgets
        .iter()
        .filter(|w| w.kind == "custom" && reads_tether_data(&w.template))
        .map(|w| w.id)
        .collect();
    custom_widgets.sort_unstable();
    Installed {
        integrations: ints,
        card_widgets,
        custom_widgets,
    }
}

/// The steps of an install: the `custom` widget always; with `card`, the integration and
/// its `http` widget. Existing ones are updated in place, so a second run creates nothing.
pub fn plan_install(installed: &Installed, card: bool) -> Vec<Step> {
    let mut steps = vec![Step::PutCustomWidget(
        installed.custom_widgets.first().copied(),
    )];
    if card {
        steps.push(Step::PutIntegration(
            installed.integrations.first().copied(),
        ));
        steps.push(Step::PutCardWidget(installed.card_widgets.first().copied()));
    }
    steps
}

/// The steps of an uninstall: every widget, then every integration, that is tether's.
pub fn plan_uninstall(installed: &Installed) -> Vec<Step> {
    installed
        .custom_widgets
        .iter()
        .chain(&installed.card_widgets)
        .map(|id| Step::DeleteWidget(*id))
        .chain(
            installed
                .integrations
                .iter()
                .map(|id| Step::DeleteIntegration(*id)),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn integ(id: i64, name: &str) -> Integration {
        Integration {
            id,
            name: name.into(),
            kind: "http".into(),
            url: None,
            method: None,
            header_names: vec![],
            triggers: vec![],
        }
    }

    fn widget(id: i64, kind: &str, integration: Option<i64>, path: &str) -> Widget {
        Widget {
            id,
            kind: kind.into(),
            context: Some("ticket".into()),
            integration_id: integration,
            order: Some(0),
            template: json!({"type": "wrapper", "widgets": [{"type": "card", "path": path}]}),
        }
    }

    #[test]
    fn finds_only_tethers_integration_and_widgets() {
        let ints = vec![integ(1, "Shop"), integ(2, "HubSpot (tether)")];
        let ws = vec![
            widget(10, "http", Some(1), ""),
            widget(11, "http", Some(2), ""),
            widget(12, "custom", None, "shop"),
            widget(13, "custom", None, "tether"),
            widget(14, "shopify", None, "tether"),
        ];
        let got = find("HubSpot (tether)", &ints, &ws);
        assert_eq!(got.integrations, vec![2]);
        assert_eq!(got.card_widgets, vec![11]);
        assert_eq!(got.custom_widgets, vec![13]);
        assert_eq!(
            plan_uninstall(&got),
            vec![
                Step::DeleteWidget(13),
                Step::DeleteWidget(11),
                Step::DeleteIntegration(2)
            ]
        );
    }

    #[test]
    fn install_updates_what_exists_and_creates_the_rest() {
        let empty = Installed::default();
        assert_eq!(
            plan_install(&empty, true),
            vec![
                Step::PutCustomWidget(None),
                Step::PutIntegration(None),
                Step::PutCardWidget(None)
            ]
        );
        let there = Installed {
            integrations: vec![2],
            card_widgets: vec![11],
            custom_widgets: vec![13],
        };
        assert_eq!(
            plan_install(&there, false),
            vec![Step::PutCustomWidget(Some(13))]
        );
        assert!(plan_uninstall(&empty).is_empty());
    }
}
