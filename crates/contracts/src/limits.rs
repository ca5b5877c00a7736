//! The resource limits of contract code and calls. They are consensus parameters: every
//! node must run a call under the same limits to reach the same outcome.

/// What a module and each call may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted module, in bytes.
    pub max_code_bytes: usize,
    /// Fuel given to each call (instantiation, the start function and the entry point).
    pub fuel_per_call: u64,
    /// Fuel charged for each host function call, on top of one unit per byte moved.
    pub host_call_fuel: u64,
    /// Most host function calls per call. Beyond metering, this bounds the native stack:
    /// wasmi's tail-call dispatch keeps it flat in optimised builds, but unoptimised builds
    /// grow it by a few hundred bytes per host call (ADR 015).
    pub max_host_calls: u32,
    /// Largest linear memory, in 64 KiB pages.
    pub max_memory_pages: u32,
    /// Largest input and output, in bytes.
    pub max_input_bytes: usize,
    pub max_output_bytes: usize,
    /// Largest state key and value, in bytes.
    pub max_key_bytes: usize,
    pub max_value_bytes: usize,
    /// Most `state_set`/`state_delete` calls, and most key plus value bytes they carry, per call.
    pub max_writes: usize,
    pub max_write_bytes: usize,
    /// Most events, and most topic plus data bytes, per call.
    pub max_events: usize,
    pub max_event_bytes: usize,
    /// Deepest wasm call recursion.
    pub max_recursion_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_code_bytes: 512 * 1024,
            fuel_per_call: 10_000_000,
            host_call_fuel: 200,
            max_host_calls: 1024,
            max_memory_pages: 16,
            max_input_bytes: 64 * 1024,
            max_output_bytes: 64 * 1024,
            max_key_bytes: 256,
            max_value_bytes: 16 * 1024,
            max_writes: 64,
            max_write_bytes: 64 * 1024,
            max_events: 32,
            max_event_bytes: 16 * 1024,
            max_recursion_depth: 256,
        }
    }
}

/// A limit set that cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LimitsError {
    #[error("limit {0} must be positive")]
    Zero(&'static str),
    #[error("max_memory_pages {0} exceeds 65536 (4 GiB)")]
    TooManyPages(u32),
}

impl Limits {
    pub fn validate(self) -> Result<Self, LimitsError> {
        let positive = [
            ("max_code_bytes", self.max_code_bytes as u64),
            ("fuel_per_call", self.fuel_per_call),
            ("max_memory_pages", u64::from(self.max_memory_pages)),
            ("max_key_bytes", self.max_key_bytes as u64),
            ("max_recursion_depth", self.max_recursion_depth as u64),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(LimitsError::Zero(name));
        }
        if self.max_memory_pages > 65_536 {
            return Err(LimitsError::TooManyPages(self.max_memory_pages));
        }
        Ok(self)
    }
}

/// Which limit a call ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LimitKind {
    Memory,
    HostCalls,
    Input,
    Output,
    KeySize,
    ValueSize,
    Writes,
    WriteBytes,
    Events,
    EventBytes,
}
