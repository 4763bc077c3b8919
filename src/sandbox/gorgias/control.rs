//! The `/__sandbox/` test controls over HTTP (seed, edit/merge/delete as an agent, read a
//! customer, counters, faults, tickets and their actions, surveys), mirroring the in-process methods of
//! [`GorgiasSandbox`]. No auth, no limits; must never be mounted under `/api/`.

use super::GorgiasSandbox;
use super::TicketAction;
use super::faults::Fault;
use super::reply;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

fn items(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a,
        other => vec![other],
    }
}

pub async fn seed(State(sb): State<GorgiasSandbox>, Json(body): Json<Value>) -> Response {
    let ids = sb.seed_customers(items(body));
    reply::json(StatusCode::CREATED, json!({ "ids": ids }))
}

pub async fn get_customer(State(sb): State<GorgiasSandbox>, Path(id): Path<i64>) -> Response {
    match sb.customer(id) {
        Some(c) => reply::json(StatusCode::OK, c),
        None => reply::not_found(),
    }
}

pub async fn edit(
    State(sb): State<GorgiasSandbox>,
    Path(id): Path<i64>,
    Json(patch): Json<Value>,
) -> Response {
    if sb.edit_as_agent(id, patch) {
        get_customer(State(sb), Path(id)).await
    } else {
        reply::not_found()
    }
}

pub async fn delete(State(sb): State<GorgiasSandbox>, Path(id): Path<i64>) -> Response {
    if sb.delete_as_agent(id) {
        reply::empty(StatusCode::NO_CONTENT)
    } else {
        reply::not_found()
    }
}

#[derive(Deserialize)]
pub struct MergeBody {
    source_id: i64,
    target_id: i64,
}

pub async fn merge(State(sb): State<GorgiasSandbox>, Json(b): Json<MergeBody>) -> Response {
    if sb.merge_as_agent(b.source_id, b.target_id) {
        get_customer(State(sb), Path(b.target_id)).await
    } else {
        reply::not_found()
    }
}

pub async fn counters(State(sb): State<GorgiasSandbox>) -> Response {
    reply::json(
        StatusCode::OK,
        serde_json::to_value(sb.counters()).unwrap_or(Value::Null),
    )
}

pub async fn reset_counters(State(sb): State<GorgiasSandbox>) -> Response {
    sb.reset_counters();
    reply::empty(StatusCode::NO_CONTENT)
}

pub async fn add_fault(State(sb): State<GorgiasSandbox>, Json(f): Json<Fault>) -> Response {
    sb.inject_fault(f);
    reply::empty(StatusCode::NO_CONTENT)
}

pub async fn clear_faults(State(sb): State<GorgiasSandbox>) -> Response {
    sb.clear_faults();
    reply::empty(StatusCode::NO_CONTENT)
}

pub async fn seed_tickets(State(sb): State<GorgiasSandbox>, Json(body): Json<Value>) -> Response {
    let ids = sb.seed_tickets(items(body));
    reply::json(StatusCode::CREATED, json!({ "ids": ids }))
}

#[derive(Deserialize)]
pub struct FireBody {
    trigger: String,
    ticket: Value,
}

/// `POST /__sandbox/integrations/{id}/fire`: what the call answered and what was stored.
pub async fn fire(
    State(sb): State<GorgiasSandbox>,
    Path(id): Path<i64>,
    Json(b): Json<FireBody>,
) -> Response {
    match sb.fire_integration(id, &b.trigger, b.ticket).await {
        Ok(f) => reply::json(
            StatusCode::OK,
            json!({"url": f.url, "status": f.status, "stored": f.stored}),
        ),
        Err(e) => reply::error(StatusCode::BAD_REQUEST, &e),
    }
}

/// `POST /__sandbox/tickets/{id}/{action}`: the ticket after the action.
pub async fn ticket_action(
    State(sb): State<GorgiasSandbox>,
    Path((id, action)): Path<(i64, String)>,
) -> Response {
    let Some(action) = TicketAction::parse(&action) else {
        return reply::error(
            StatusCode::BAD_REQUEST,
            "Unknown action: reply, close, open, trash or spam.",
        );
    };
    match sb.ticket_action(id, action) {
        Some(t) => reply::json(StatusCode::OK, t),
        None => reply::not_found(),
    }
}

#[derive(Deserialize)]
pub struct SurveyBody {
    ticket_id: i64,
    #[serde(default)]
    score: Option<u8>,
}

/// `POST /__sandbox/satisfaction-surveys` `{"ticket_id","score"?}` → `{"id"}`.
pub async fn add_survey(State(sb): State<GorgiasSandbox>, Json(b): Json<SurveyBody>) -> Response {
    if b.score.is_some_and(|s| !(1..=5).contains(&s)) {
        return reply::error(StatusCode::BAD_REQUEST, "Scores range from 1 to 5.");
    }
    match sb.add_survey(b.ticket_id, b.score) {
        Some(id) => reply::json(StatusCode::CREATED, json!({ "id": id })),
        None => reply::error(
            StatusCode::BAD_REQUEST,
            "No such ticket, or the ticket already has its survey.",
        ),
    }
}

#[derive(Deserialize)]
pub struct ScoreBody {
    score: u8,
}

/// `POST /__sandbox/satisfaction-surveys/{id}/score` `{"score"}`.
pub async fn score_survey(
    State(sb): State<GorgiasSandbox>,
    Path(id): Path<i64>,
    Json(b): Json<ScoreBody>,
) -> Response {
    if !(1..=5).contains(&b.score) {
        return reply::error(StatusCode::BAD_REQUEST, "Scores range from 1 to 5.");
    }
    if sb.score_survey(id, b.score) {
        reply::empty(StatusCode::NO_CONTENT)
    } else {
        reply::not_found()
    }
}
