//! The load generator: the instrument the recommendation rests on.
//!
//! One driver ([`driver`]) paced by a schedule ([`schedule`]): open loop at a fixed rate
//! with latency measured from each command's intended send time (so stalls are charged in
//! full, with no coordinated omission), or closed loop with a fixed number in flight. It
//! writes commands from [`workload`] and checks replies with [`reply`].
//! Scenarios ([`scenarios`]) are presets over it; the suite ([`suite`]) starts herds through
//! `herd-launcher`, samples the servers' CPU and memory from /proc ([`procfs`]), judges each
//! point's disturbance ([`disturbance`]), searches for the sustainable rate ([`search`])
//! and writes the records of `herd-records` plus HdrHistogram files ([`hist`]).
//! [`ceiling`] measures the load generator itself against a responder with no runtime at
//! all, beside a bare client ([`bare`]) that does nothing but send and count. [`placement`]
//! (the launcher's) keeps the load generator and the servers on disjoint CPUs.
//!
//! It judges nothing about the backends: the report crate reads what it wrote and draws the
//! conclusions. (Whether a point kept up, was disturbed, or failed is the instrument's own
//! business, decided here.)

pub mod bare;
pub mod ceiling;
pub mod disturbance;
pub mod driver;
pub mod hist;
pub mod meta;
pub mod procfs;
pub mod reply;
pub mod scenarios;
pub mod schedule;
pub mod search;
pub mod single;
pub mod suite;
pub mod workload;

pub use herd_launcher::placement;
