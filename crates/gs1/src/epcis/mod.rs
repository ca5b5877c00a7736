//! EPCIS 2.0 documents and the CBV 2.0 event hash ID.
