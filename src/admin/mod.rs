//! Operator views: four-letter words rendered from a [`stats::StatsSnapshot`] that the
//! driver hands over. Nothing here reaches into the server's state directly.

pub mod stats;
