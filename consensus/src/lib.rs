//! Multi-Paxos replica (sans-IO). See the crate README.
