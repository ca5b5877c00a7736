//! GS1 identifiers.
