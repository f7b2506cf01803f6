//! Empty host-side library: it lets `tracer` name this crate as a build
//! dependency so cargo rebuilds the BPF object when these sources change.
#![no_std]
