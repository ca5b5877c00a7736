pub const REMITTANCE: &str = "005010X221A1";
