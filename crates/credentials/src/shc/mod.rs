//! SMART Health Cards (HL7 "SMART Health Cards and Links" IG, "SMART Health Cards
//! Framework" specification).
