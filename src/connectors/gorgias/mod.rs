//! The Gorgias REST connector (contract: `shared/contracts/gorgias.md`).
//!
//! Owns every HTTP call to Gorgias: the change feed (list by `updated_datetime:desc`, events
//! for deletions and merges), the ticket and satisfaction-survey feeds, reads, partial writes, channels, the `data` subtree, create
//! with the "already used" recovery, merge, and the account check for `tether doctor`. Holds
//! itself under the account's leaky bucket (one budget, taken by priority: live sync, then
//! feeds, then backfills), honours `Retry-after`, retries only 5xx and
//! transport failures, and turns every answer into typed data or a [`GorgiasError`].
//! Must never make sync decisions and never persist cursors.

mod account;
mod config;
mod data;
mod dto;
mod error;
mod feed;
mod integrations;
mod limiter;
mod merge;
mod metrics;
mod support_feed;
mod surveys;
mod tickets;
mod transport;
mod whole_data;
pub mod wire;
mod writes;

pub use account::TicketSummary;
pub use config::GorgiasConfig;
pub use data::SubtreeWrite;
pub use dto::{
    Account, Channel, Customer, CustomerEvent, CustomerUpdate, EventKind, NewChannel, NewCustomer,
    format_version, parse_datetime,
};
pub use error::GorgiasError;
pub use feed::{Feed, Quarantined, watermark_of};
pub use integrations::{Integration, IntegrationSpec, Widget, WidgetSpec};
pub use limiter::Priority;
pub use metrics::ClientMetrics;
pub use support_feed::FactsFeed;
pub use surveys::{SurveyFeed, survey_watermark};
pub use tickets::{TicketFeed, TicketPage, ticket_watermark};
pub use transport::CALL_LIMIT_HEADER;
pub use writes::CreateOutcome;

use transport::{Answer, Transport};

/// A Gorgias client for one account. Cheap to share behind an `Arc`; calls from several
/// tasks share one leaky bucket.
#[derive(Debug)]
pub struct GorgiasClient {
    t: Transport,
}

/// Result alias for the connector.
pub type Result<T> = std::result::Result<T, GorgiasError>;

impl GorgiasClient {
    pub fn new(cfg: GorgiasConfig) -> Result<Self> {
        Ok(Self {
            t: Transport::new(cfg)?,
        })
    }

    /// Calls made, 429s received, retries: for metrics and tests.
    pub fn metrics(&self) -> ClientMetrics {
        self.t.metrics.snapshot()
    }

    /// The steady request rate the account allows, in requests per real second.
    pub fn allowed_rate(&self) -> f64 {
        self.t.allowed_rate()
    }

    /// The bucket capacity as last reported by the server (or configured).
    pub fn bucket_limit(&self) -> u32 {
        self.t.bucket_limit()
    }

    /// The configuration in use.
    pub fn config(&self) -> &GorgiasConfig {
        &self.t.cfg
    }
}

/// Turns a non-success answer into the matching error.
fn fail(op: &'static str, id: Option<i64>, ans: &Answer) -> GorgiasError {
    wire::error(
        op,
        id,
        ans.status.as_u16(),
        &ans.body,
        ans.location.as_deref(),
    )
}
