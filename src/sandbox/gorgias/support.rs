//! Tickets and satisfaction surveys of the in-memory account, and what agents and customers do
//! to them: open, reply, close, reopen, trash, survey, score. Every change bumps the ticket's
//! `updated_datetime` from the sandbox clock, as Gorgias does, so the ticket feed sees it. No
//! HTTP here: the routes (`tickets.rs`, `surveys.rs`) and the controls call these functions
//! under the sandbox lock. Must never block or sleep.

use super::state::State;
use super::time;
use serde_json::{Value, json};

/// What an agent or the customer does to an existing ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketAction {
    /// A new message (from the customer): one more message, and a closed ticket reopens.
    Reply,
    Close,
    /// Reopen a closed ticket.
    Open,
    /// Move to the trash (`trashed_datetime` set).
    Trash,
    /// Mark as spam.
    Spam,
}

impl TicketAction {
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "reply" => Self::Reply,
            "close" => Self::Close,
            "open" => Self::Open,
            "trash" => Self::Trash,
            "spam" => Self::Spam,
            _ => return None,
        })
    }
}

/// Stores one ticket, filling what Gorgias fills when absent: `id`, `uri`, `customer` (from
/// `customer_id`), `status` open, `channel` email, `via` helpdesk, `subject` empty, one
/// message, not spam, not trashed, and the datetimes (`created`, `updated`, `last_message`;
/// `closed` when created closed).
pub fn seed_ticket(st: &mut State, ticket: Value) -> i64 {
    let mut obj = ticket.as_object().cloned().unwrap_or_default();
    let id = match obj.get("id").and_then(Value::as_i64) {
        Some(id) => id,
        None => st.alloc_id(),
    };
    obj.insert("id".into(), json!(id));
    obj.insert("uri".into(), json!(format!("/api/tickets/{id}/")));
    if let Some(cid) = obj.remove("customer_id").and_then(|v| v.as_i64()) {
        obj.insert("customer".into(), json!({"id": cid}));
    }
    let now = time::format(st.clock.tick());
    for key in ["created_datetime", "updated_datetime"] {
        obj.entry(key).or_insert_with(|| json!(now));
    }
    let created = obj.get("created_datetime").cloned().unwrap_or(json!(now));
    obj.entry("last_message_datetime").or_insert(created);
    let status = obj
        .entry("status")
        .or_insert_with(|| json!("open"))
        .as_str()
        .unwrap_or("open")
        .to_owned();
    let closed = if status == "closed" {
        obj.get("updated_datetime").cloned().unwrap_or(json!(now))
    } else {
        Value::Null
    };
    obj.entry("closed_datetime").or_insert(closed);
    for (key, default) in [
        ("channel", json!("email")),
        ("via", json!("helpdesk")),
        ("subject", json!("")),
        ("priority", json!("normal")),
        ("messages_count", json!(1)),
        ("spam", json!(false)),
        ("is_unread", json!(true)),
        ("from_agent", json!(false)),
        ("external_id", Value::Null),
        ("trashed_datetime", Value::Null),
        ("snooze_datetime", Value::Null),
        ("opened_datetime", Value::Null),
    ] {
        obj.entry(key).or_insert(default);
    }
    st.tickets.push(Value::Object(obj));
    id
}

/// Applies `action` to ticket `id`; returns the ticket as listed, or `None` when it does not
/// exist.
pub fn act(st: &mut State, id: i64, action: TicketAction) -> Option<Value> {
    let now = json!(time::format(st.clock.tick()));
    st.tickets.update(id, |t| {
        match action {
            TicketAction::Reply => {
                let n = t.get("messages_count").and_then(Value::as_i64).unwrap_or(0);
                t.insert("messages_count".into(), json!(n + 1));
                t.insert("last_message_datetime".into(), now.clone());
                t.insert("last_received_message_datetime".into(), now.clone());
                t.insert("is_unread".into(), json!(true));
                t.insert("status".into(), json!("open"));
                t.insert("closed_datetime".into(), Value::Null);
            }
            TicketAction::Close => {
                t.insert("status".into(), json!("closed"));
                t.insert("closed_datetime".into(), now.clone());
            }
            TicketAction::Open => {
                t.insert("status".into(), json!("open"));
                t.insert("closed_datetime".into(), Value::Null);
            }
            TicketAction::Trash => {
                t.insert("trashed_datetime".into(), now.clone());
            }
            TicketAction::Spam => {
                t.insert("spam".into(), json!(true));
            }
        }
        t.insert("updated_datetime".into(), now);
        Value::Object(t.clone())
    })
}

/// The customer a ticket belongs to.
pub fn ticket_customer(st: &State, ticket_id: i64) -> Option<i64> {
    st.tickets
        .by_id(ticket_id)
        .and_then(|t| t.pointer("/customer/id").and_then(Value::as_i64))
}

/// Creates the satisfaction survey of a ticket (one per ticket, as Gorgias has it), sent now,
/// scored when `score` is given. `None` when the ticket does not exist or already has one.
pub fn add_survey(st: &mut State, ticket_id: i64, score: Option<u8>) -> Option<i64> {
    let customer = ticket_customer(st, ticket_id)?;
    let taken = st
        .surveys
        .iter()
        .any(|s| s.get("ticket_id").and_then(Value::as_i64) == Some(ticket_id));
    if taken {
        return None;
    }
    let id = st.alloc_id();
    let now = json!(time::format(st.clock.tick()));
    let scored = score.map(|_| now.clone()).unwrap_or(Value::Null);
    st.surveys.push(json!({
        "id": id,
        "uri": format!("/api/satisfaction-surveys/{id}/"),
        "ticket_id": ticket_id,
        "customer_id": customer,
        "score": score,
        "body_text": null,
        "meta": null,
        "created_datetime": now,
        "sent_datetime": now,
        "should_send_datetime": now,
        "scored_datetime": scored,
    }));
    Some(id)
}

/// The customer answers survey `id` with `score`; false when there is no such survey.
pub fn score_survey(st: &mut State, id: i64, score: u8) -> bool {
    let now = json!(time::format(st.clock.tick()));
    st.surveys
        .update(id, |s| {
            s.insert("score".into(), json!(score));
            s.insert("scored_datetime".into(), now);
        })
        .is_some()
}

/// A customer merge: the source's tickets and surveys now belong to the target (Gorgias
/// moves the source's tickets). Whether the move bumps the tickets' `updated_datetime` is
/// UNCONFIRMED: `touch` chooses.
pub fn move_to_survivor(st: &mut State, source: i64, target: i64, touch: bool) {
    let now = json!(time::format(st.clock.tick()));
    st.tickets.update_where(
        |t| t.pointer("/customer/id").and_then(Value::as_i64) == Some(source),
        |t| {
            t.insert("customer".into(), json!({"id": target}));
            if touch {
                t.insert("updated_datetime".into(), now.clone());
            }
        },
    );
    st.surveys.update_where(
        |s| s.get("customer_id").and_then(Value::as_i64) == Some(source),
        |s| {
            s.insert("customer_id".into(), json!(target));
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_bump_updated_and_keep_the_facts_straight() {
        let mut st = State::new();
        let id = seed_ticket(
            &mut st,
            json!({"customer_id": 7, "subject": "Where is my order?"}),
        );
        let t0 = st.tickets[0].clone();
        assert_eq!(t0["status"], "open");
        assert_eq!(t0["messages_count"], 1);
        assert!(t0["closed_datetime"].is_null() && t0["trashed_datetime"].is_null());
        let replied = act(&mut st, id, TicketAction::Reply).unwrap();
        assert_eq!(replied["messages_count"], 2);
        assert!(replied["updated_datetime"].as_str() > t0["updated_datetime"].as_str());
        let closed = act(&mut st, id, TicketAction::Close).unwrap();
        assert_eq!(closed["status"], "closed");
        assert!(closed["closed_datetime"].is_string());
        let reopened = act(&mut st, id, TicketAction::Reply).unwrap();
        assert_eq!(reopened["status"], "open");
        assert!(reopened["closed_datetime"].is_null());
        let trashed = act(&mut st, id, TicketAction::Trash).unwrap();
        assert!(trashed["trashed_datetime"].is_string());
        assert!(act(&mut st, 999_999, TicketAction::Close).is_none());
        let closed_seed = seed_ticket(&mut st, json!({"customer_id": 7, "status": "closed"}));
        assert_eq!(ticket_customer(&st, closed_seed), Some(7));
        assert!(st.tickets[1]["closed_datetime"].is_string());
    }

    #[test]
    fn one_survey_per_ticket_scored_later_and_moved_on_merge() {
        let mut st = State::new();
        let t = seed_ticket(&mut st, json!({"customer_id": 7}));
        let s = add_survey(&mut st, t, None).unwrap();
        assert!(add_survey(&mut st, t, Some(3)).is_none());
        assert!(add_survey(&mut st, 424_242, Some(3)).is_none());
        assert!(st.surveys[0]["score"].is_null());
        assert!(score_survey(&mut st, s, 4));
        assert_eq!(st.surveys[0]["score"], 4);
        assert!(st.surveys[0]["scored_datetime"].is_string());
        let before = st.tickets[0]["updated_datetime"].clone();
        move_to_survivor(&mut st, 7, 8, false);
        assert_eq!(st.tickets[0]["customer"]["id"], 8);
        assert_eq!(st.tickets[0]["updated_datetime"], before);
        assert_eq!(st.surveys[0]["customer_id"], 8);
        move_to_survivor(&mut st, 8, 9, true);
        assert_ne!(st.tickets[0]["updated_datetime"], before);
    }
}
