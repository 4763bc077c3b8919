//! Declarative field mappings (`mappings/*.toml`): what each canonical field is on HubSpot
//! and on Gorgias, how values convert, which way they flow and who wins a conflict.
//!
//! Owns the mapping model, its parser/validator and the value transforms. Pure except for
//! [`load_dir`], which reads the files. Must never touch records or the network: applying a
//! mapping to a record is the engine's job.

pub mod computed;
pub mod model;
pub mod parse;
pub mod transform;
pub mod value_map;

pub use computed::{Computed, ComputedSource, Include};
pub use model::*;
pub use parse::{MappingError, MappingErrors, load_dir, parse_files, parse_str};
pub use transform::Transform;
pub use value_map::ValueMap;
