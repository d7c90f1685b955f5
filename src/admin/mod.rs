//! Operator views: four-letter words rendered from a [`stats::StatsSnapshot`] that the
//! driver hands over. Nothing here reaches into the server's state directly; the `env`
//! module is the only part that reads the machine (clock, host, memory).

pub mod env;
pub mod four_letter;
pub(crate) mod java_fmt;
pub mod stats;
